"""The one settings object of the oracle_api process, read from TELEMETRON_* variables and flags."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, fields
from pathlib import Path

_ENV_PREFIX = "TELEMETRON_"


@dataclass(frozen=True)
class Settings:
    """Defaults follow the port contract in the README; every field has a TELEMETRON_<NAME> variable."""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 4319
    db_path: Path = Path("var/telemetron.db")
    # When set, every HTTP request, WebSocket handshake and OTLP gRPC export must carry it
    # (`Authorization: Bearer ...`); required when either listener is beyond loopback.
    api_token: str = ""
    # Host names (comma-separated, no port) the HTTP API answers besides loopback ones and
    # http_host; anything else gets 400, which stops DNS rebinding. "*" allows any (needs api_token).
    allowed_hosts: str = ""
    # Browser origins (comma-separated, like https://grafana.example:3000) allowed to make
    # state-changing requests and open the WebSocket, besides the page's own origin.
    allowed_origins: str = ""
    kafka_bootstrap: str = "localhost:9092"
    kafka_spans_topic: str = "agent-telemetry-spans"
    # Spans waiting to be committed; past this the receiver answers UNAVAILABLE and the
    # Collector retries, so memory stays bounded.
    write_queue_spans: int = 200_000
    # The writer commits once per batch of at most this many spans.
    write_batch_spans: int = 20_000
    grpc_max_message_bytes: int = 64 * 1024 * 1024
    grpc_workers: int = 8
    # Processes that help render large traces (api/render_pool.py); -1: one fewer than the CPUs
    # this process may use, at most 3; 0: none.
    render_helpers: int = -1
    # Oracle: how long completed tasks stay in an agent's activity, and snapshot history.
    completed_task_retention_s: float = 600.0
    snapshot_interval_s: float = 10.0
    snapshot_retention: int = 8640
    # Oracle: a snapshot is also taken on a change of agent activity or open issues, at most this often.
    snapshot_min_gap_s: float = 1.0
    # Oracle: rebuilt at startup from the store's newest spans (at most this many, this recent).
    oracle_rebuild_max_spans: int = 200_000
    oracle_rebuild_horizon_s: float = 6 * 3600.0
    # Oracle: replay the Kafka spans topic at startup: off | if_store_missing | always.
    oracle_kafka_rebuild: str = "off"
    # Oracle: bounded outputs of GET /api/v1/oracle/state.
    state_max_agents: int = 500
    state_max_tasks_per_agent: int = 20
    state_max_queue_tasks: int = 100
    # Oracle: pods and processes that stopped reporting this long ago leave the workload view.
    workload_stale_after_s: float = 300.0
    # Oracle: provider limits when responses carry no rate-limit headers,
    # JSON like {"openai/gpt-4o": {"tpm": 30000, "rpm": 500}} (key "provider/model" or "model").
    llm_rate_limits: str = ""
    # Oracle issue thresholds (see oracle/issues.py for what each detects).
    issue_window_s: float = 300.0
    stuck_task_after_s: float = 120.0
    slow_task_factor: float = 3.0
    slow_task_min_samples: int = 5
    slow_task_min_s: float = 5.0
    tool_failure_threshold: int = 3
    ratelimit_remaining_ratio: float = 0.1
    provider_server_errors: int = 3
    provider_error_rate: float = 0.5
    provider_error_min_requests: int = 4
    handoff_loop_threshold: int = 4
    queue_backlog_threshold: int = 50
    queue_wait_threshold_s: float = 300.0
    pod_not_ready_after_s: float = 60.0
    crashloop_restarts: int = 3
    crashloop_window_s: float = 600.0
    memory_near_limit_ratio: float = 0.9
    spike_window_s: float = 60.0
    spike_factor: float = 3.0
    error_rate_threshold: float = 0.25
    error_rate_min_count: int = 8
    cost_spike_usd_per_min: float = 5.0
    system_id: str = "telemetron"
    # Where POST /api/v1/debug/simulate-trace sends its OTLP (the Collector, like real agents do).
    simulate_otlp_endpoint: str = "127.0.0.1:4317"
    log_level: str = "info"

    @property
    def render_helper_count(self) -> int:
        """``render_helpers``, with -1 resolved against the CPUs this process may run on."""
        if self.render_helpers >= 0:
            return self.render_helpers
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0, min(3, cpus - 1))

    @property
    def exposed_listeners(self) -> list[str]:
        """The listeners bound beyond loopback, as "HTTP on 0.0.0.0"."""
        named = (("HTTP", self.http_host), ("OTLP gRPC", self.grpc_host))
        return [f"{what} on {host}" for what, host in named if not is_loopback(host)]

    @property
    def requires_token(self) -> bool:
        return bool(self.exposed_listeners)

    def validate(self) -> None:
        """Raise ValueError, saying what to set, for settings oracle_api must not run with."""
        if self.requires_token and not self.api_token:
            raise ValueError(
                f"oracle_api would listen beyond loopback ({', '.join(self.exposed_listeners)}) without a "
                "token: set TELEMETRON_API_TOKEN (every HTTP request, WebSocket handshake and OTLP export "
                "must then carry it), or listen on 127.0.0.1"
            )
        if self.api_token and not _printable_ascii(self.api_token):
            raise ValueError(
                "TELEMETRON_API_TOKEN must be printable ASCII without spaces: it travels in HTTP headers "
                "and gRPC metadata"
            )
        if "*" in split_list(self.allowed_hosts) and not self.api_token:
            raise ValueError(
                "TELEMETRON_ALLOWED_HOSTS=* lets any web page reach oracle_api: it needs TELEMETRON_API_TOKEN"
            )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); 0.0.0.0 and names are not."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_list(raw: str) -> list[str]:
    """A comma-separated setting as its non-empty, stripped, lower-cased items."""
    return [item.strip().lower() for item in raw.split(",") if item.strip()]


def _printable_ascii(text: str) -> bool:
    return all("!" <= ch <= "~" for ch in text)


def _convert(raw: str, to: type) -> object:
    if to is Path:
        return Path(raw)
    if to is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return to(raw)


def load_settings(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults, overridden by TELEMETRON_* variables, overridden by command-line flags."""
    env = os.environ if env is None else env
    types = {"str": str, "int": int, "float": float, "Path": Path, "bool": bool}
    values: dict[str, object] = {}
    parser = argparse.ArgumentParser(prog="telemetron serve", description="Run oracle_api.")
    for f in fields(Settings):
        to = types[str(f.type).split(" ")[0]]
        env_value = env.get(_ENV_PREFIX + f.name.upper())
        if env_value is not None and env_value != "":
            values[f.name] = _convert(env_value, to)
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=to, default=None)
    args = parser.parse_args(argv or [])
    for name, value in vars(args).items():
        if value is not None:
            values[name] = value
    settings = Settings(**values)
    try:
        settings.validate()
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")  # the message alone: no traceback, no usage
    return settings
