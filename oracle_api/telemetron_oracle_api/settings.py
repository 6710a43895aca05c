"""The one settings object of the oracle_api process: defaults, TELEMETRON_* variables, then flags.

Each field's description is its help text in ``telemetron serve --help``; deploy/local/stack.py
builds oracle_api's environment from these fields too, so names and defaults live only here.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "TELEMETRON_"
PROG = "telemetron serve"


class Settings(BaseSettings):
    """Defaults follow the port contract in the README; every field has a TELEMETRON_<NAME> variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
    )

    http_host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    http_port: int = Field(8080, description="port of the HTTP API, the dashboard and the WebSocket stream")
    grpc_host: str = Field("127.0.0.1", description="address the OTLP gRPC receiver listens on")
    grpc_port: int = Field(4319, description="port of the OTLP gRPC receiver (the Collector exports here)")
    db_path: Path = Field(Path("var/telemetron.db"), description="the SQLite database file")
    api_token: str = Field(
        "",
        description="when set, every HTTP request, WebSocket handshake and OTLP export must carry it "
        "(Authorization: Bearer ...); required when a listener is beyond loopback",
    )
    allowed_hosts: str = Field(
        "",
        description="comma-separated host names (no port) the HTTP API answers besides loopback ones and "
        "http_host; others get 400, which stops DNS rebinding; * allows any (needs api_token)",
    )
    allowed_origins: str = Field(
        "",
        description="comma-separated browser origins (like https://grafana.example:3000) allowed to make "
        "state-changing requests and open the WebSocket, besides the page's own origin",
    )
    kafka_bootstrap: str = Field("localhost:9092", description="Kafka bootstrap servers (Oracle rebuild from Kafka)")
    kafka_spans_topic: str = Field("agent-telemetry-spans", description="the Kafka topic the Collector writes spans to")
    write_queue_spans: int = Field(
        200_000,
        description="spans waiting to be committed; past this the receiver answers UNAVAILABLE and the "
        "Collector retries, so memory stays bounded",
    )
    write_batch_spans: int = Field(20_000, description="the writer commits once per batch of at most this many spans")
    grpc_max_message_bytes: int = Field(64 * 1024 * 1024, description="largest OTLP gRPC request accepted")
    grpc_workers: int = Field(8, description="threads serving OTLP gRPC requests")
    decode_processes: int = Field(
        1,
        ge=0,
        description="processes decoding OTLP trace requests (receiver/decode_process.py), off the server's GIL; "
        "0: the request threads decode them",
    )
    completed_task_retention_s: float = Field(600.0, description="Oracle: how long completed tasks stay in activity")
    snapshot_interval_s: float = Field(10.0, description="Oracle: seconds between periodic state snapshots")
    snapshot_retention: int = Field(8640, description="Oracle: snapshots kept for history and diffs")
    snapshot_min_gap_s: float = Field(
        1.0, description="Oracle: a change of agent activity or open issues also takes a snapshot, at most this often"
    )
    oracle_rebuild_max_spans: int = Field(
        200_000, description="Oracle: at startup, rebuilt from at most this many of the store's newest spans"
    )
    oracle_rebuild_horizon_s: float = Field(
        6 * 3600.0, description="Oracle: at startup, rebuilt from the store's spans at most this old"
    )
    oracle_kafka_rebuild: str = Field(
        "off", description="Oracle: replay the Kafka spans topic at startup: off | if_store_missing | always"
    )
    state_max_agents: int = Field(500, description="Oracle state: at most this many agents")
    state_max_tasks_per_agent: int = Field(20, description="Oracle state: at most this many tasks per agent")
    state_max_queue_tasks: int = Field(100, description="Oracle state: at most this many tasks per queue")
    workload_stale_after_s: float = Field(
        300.0, description="Oracle: pods and processes silent this long leave the workload view"
    )
    llm_rate_limits: str = Field(
        "",
        description="Oracle: provider limits when responses carry no rate-limit headers, JSON like "
        '{"openai/gpt-4o": {"tpm": 30000, "rpm": 500}} (key "provider/model" or "model")',
    )
    issue_window_s: float = Field(300.0, description="issues: the window rates and counts are taken over")
    stuck_task_after_s: float = Field(
        120.0, description="issues: a running task without a heartbeat this long is stuck"
    )
    slow_task_factor: float = Field(
        3.0, description="issues: a task running this many times its agent's p95 duration is slow"
    )
    slow_task_min_samples: int = Field(5, description="issues: completed tasks needed before judging slowness")
    slow_task_min_s: float = Field(5.0, description="issues: tasks shorter than this are never slow")
    tool_failure_threshold: int = Field(3, description="issues: failures of one tool within the window")
    ratelimit_remaining_ratio: float = Field(0.1, description="issues: remaining share of a rate limit that warns")
    provider_server_errors: int = Field(3, description="issues: provider 5xx answers within the window")
    provider_error_rate: float = Field(0.5, description="issues: share of failed provider requests")
    provider_error_min_requests: int = Field(4, description="issues: provider requests needed before judging the rate")
    handoff_loop_threshold: int = Field(4, description="issues: a task handed back and forth this many times is a loop")
    queue_backlog_threshold: int = Field(50, description="issues: pending tasks in one queue")
    queue_wait_threshold_s: float = Field(300.0, description="issues: the oldest queued task's wait")
    pod_not_ready_after_s: float = Field(60.0, description="issues: a pod not ready this long")
    crashloop_restarts: int = Field(3, description="issues: container restarts within crashloop_window_s")
    crashloop_window_s: float = Field(600.0, description="issues: the window restarts are counted over")
    memory_near_limit_ratio: float = Field(
        0.9, description="issues: memory use, as a share of the limit, that makes a restart an OOM kill"
    )
    spike_window_s: float = Field(60.0, description="issues: the recent window compared against the usual rate")
    spike_factor: float = Field(3.0, description="issues: a recent rate this many times the usual one is a spike")
    error_rate_threshold: float = Field(0.25, description="issues: share of failed tasks of one agent")
    error_rate_min_count: int = Field(8, description="issues: tasks needed before judging the error rate")
    cost_spike_usd_per_min: float = Field(5.0, description="issues: LLM spend per minute that is a cost spike")
    system_id: str = Field("telemetron", description="the system's name in the Oracle state")
    simulate_otlp_endpoint: str = Field(
        "127.0.0.1:4317",
        description="where POST /api/v1/debug/simulate-trace sends its OTLP (the Collector, like real agents do)",
    )
    log_level: str = Field("info", description="debug | info | warning | error")
    # --- Oracle incidents ---
    hung_task_factor: float = Field(
        10.0, description="issues: an open task or tool span older than this many times its peers' p95 is hung"
    )
    hung_task_min_s: float = Field(60.0, description="issues: an open span younger than this is never hung")
    hung_task_ceiling_s: float = Field(
        900.0, description="issues: an open task with no peer history older than this is hung"
    )
    hung_no_progress_s: float = Field(
        120.0, description="issues: a hung task has had no child span start or finish for this long"
    )
    hung_min_samples: int = Field(5, description="issues: finished peer runs needed before their p95 is used")
    crash_silence_s: float = Field(
        15.0, description="issues: a process silent this long while a newer one runs the same agent is dead"
    )
    crash_incident_window_s: float = Field(
        600.0, description="issues: how long work lost with a dead process stays reported"
    )
    issues_budget_tokens: int = Field(
        2000, description="issues: default size of /issues and diagnose, in tokens counted as characters / 4"
    )
    symptoms_listed: int = Field(10, description="issues: symptoms listed under one incident (the rest counted)")

    # --- retention and ingest (store); PostgreSQL applies the same limits by dropping whole span partitions ---
    retention_max_age_hours: float = Field(
        168.0,
        description="store: delete telemetry this many hours after it arrived (0: keep forever); PostgreSQL drops "
        "a span partition once its whole time range is older",
    )
    retention_max_bytes: int = Field(
        10 * 1024**3,
        description="store: past this many bytes of data, delete the oldest first (0: no size limit)",
    )
    retention_interval_seconds: float = Field(30.0, description="store: seconds between retention passes")

    # --- scale-out: PostgreSQL and Kafka ingest ---

    store_url: str = Field(
        "", description="the store: empty or a file path keeps SQLite (at db_path); postgresql://... uses PostgreSQL"
    )
    ingest: str = Field(
        "grpc",
        description="where spans come in: grpc (the OTLP receiver) | kafka (a worker of the Kafka consumer group, "
        "writing to the store; no HTTP) | none (an API replica: reads the shared store)",
    )
    live_feed: str = Field(
        "store",
        description="what feeds the Oracle and the live stream: store (this process's own commits) | kafka (the whole "
        "stream from Kafka under this replica's own group id, from a minute before it started)",
    )
    kafka_group_id: str = Field("telemetron-ingest", description="the consumer group of the Kafka ingest workers")
    kafka_metrics_topic: str = Field("agent-telemetry-metrics", description="the Kafka topic of metrics")
    kafka_logs_topic: str = Field("agent-telemetry-events", description="the Kafka topic of logs (events)")
    postgres_partition_hours: float = Field(
        1.0, description="PostgreSQL: the time span of one spans partition (retention drops whole partitions)"
    )

    # --- memory and ingest speed (rendered traces, the SQLite writer) ---
    rendered_trace_cache_mb: int = Field(
        16,
        ge=0,
        description="Rendered traces kept in memory for the next view of the same trace, in MiB (a 1,000-span "
        "trace is about 1 MiB; 0 keeps none)",
    )
    sqlite_writer_cache_mb: int = Field(
        8,
        ge=2,
        description="SQLite: page cache of the writer connection in MiB; the index pages that spans insert into at "
        "random (trace ids, unique attribute values) stay in memory instead of being read back for each insert "
        "(more keeps up better under a sustained load, for as much more memory)",
    )
    sqlite_writer_process: bool = Field(
        True,
        description="SQLite: commit in a writer process of its own (store/writer_process.py), so the writer's Python "
        "work runs on another core than decoding and the Oracle; false: on a thread of the server's process",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) holds exactly what it is given, so tests and embedders are not steered by the
        # caller's shell; load_settings() adds the environment and the flags.
        return (init_settings,)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        self.validate()
        return self

    @property
    def exposed_listeners(self) -> list[str]:
        """The listeners bound beyond loopback, as "HTTP on 0.0.0.0"."""
        named = (("HTTP", self.http_host), ("OTLP gRPC", self.grpc_host))
        return [f"{what} on {host}" for what, host in named if not is_loopback(host)]

    @property
    def requires_token(self) -> bool:
        return bool(self.exposed_listeners)

    def validate(self) -> None:  # type: ignore[override]  # pydantic's deprecated classmethod of that name
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

    def environment(self) -> dict[str, str]:
        """The TELEMETRON_* variables that make ``load_settings`` in a child process return these settings."""
        values = self.model_dump(mode="json")
        return {ENV_PREFIX + name.upper(): str(values[name]) for name in type(self).model_fields}


def load_settings(argv: list[str] | None = None) -> Settings:
    """Defaults, overridden by TELEMETRON_* variables, overridden by flags; exits 2 with the reason."""
    parser = build_parser()
    from_flags = vars(parser.parse_args(argv or []))
    try:
        return settings_from_environment(**from_flags)
    except ValidationError as exc:
        parser.exit(2, f"{PROG}: error: {'; '.join(_reason(error) for error in exc.errors())}\n")


def settings_from_environment(**overrides: Any) -> Settings:
    """TELEMETRON_* variables (empty ones ignored: see model_config) over the defaults, ``overrides`` over both."""
    return Settings(**{**EnvSettingsSource(Settings)(), **overrides})


def build_parser() -> argparse.ArgumentParser:
    """``telemetron serve``'s flags, one per field, with the field's description, default and variable."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [--SETTING VALUE ...]",
        description="Run oracle_api. A flag overrides its TELEMETRON_* variable, which overrides the default.",
    )
    for name, field in Settings.model_fields.items():
        default = field.default if field.default != "" else "empty"
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=argparse.SUPPRESS,
            metavar=getattr(field.annotation, "__name__", "VALUE").upper(),
            help=f"{field.description} (default: {default}; ${ENV_PREFIX}{name.upper()})",
        )
    return parser


def _reason(error: Any) -> str:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    where = ".".join(str(part) for part in error["loc"])
    return f"{ENV_PREFIX}{where.upper()} / --{where.replace('_', '-')}: {error['msg']}"


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
