"""Start and stop Telemetron's local processes on loopback: Kafka, the Collector, oracle_api
and the mock LLM provider.

Each process has a small config dataclass whose defaults are the ports in ARCHITECTURE.md;
every port can be changed, so a test session can run a second stack on free ports beside a
running demo. Every process logs to its own file, and a process that fails to become healthy
raises :class:`StackError` with the tail of that log.

    with Stack(StackConfig(run_dir=Path("var/run"))) as stack:
        print(stack.urls())
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import httpx
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from telemetron_oracle_api.settings import Settings, settings_from_environment

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = REPO / "collector-config" / "otelcol.yaml"
KAFKA_LOG4J_CONFIG = REPO / "deploy" / "kafka" / "log4j2.xml"
LOOPBACK = "127.0.0.1"

SPANS_TOPIC = "agent-telemetry-spans"
METRICS_TOPIC = "agent-telemetry-metrics"
EVENTS_TOPIC = "agent-telemetry-events"
ERRORS_TOPIC = "agent-telemetry-errors"
HANDOFFS_TOPIC = "agent-telemetry-handoffs"
TOPICS = (SPANS_TOPIC, METRICS_TOPIC, EVENTS_TOPIC, ERRORS_TOPIC, HANDOFFS_TOPIC)

_log = logging.getLogger("telemetron.stack")


class StackError(RuntimeError):
    """A local process could not be built, started or made healthy."""


# --- builds and downloads, cached outside the clone ---------------------------------------


def build_collector() -> Path:
    """The cached Collector binary, built by deploy/local/build_collector.sh when missing."""
    return _path_from_script("build_collector.sh")


def fetch_kafka() -> Path:
    """The cached Kafka jars directory, fetched by deploy/local/fetch_kafka.sh when missing."""
    return _path_from_script("fetch_kafka.sh")


def _path_from_script(script: str) -> Path:
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "local" / script)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"{script} failed (exit {result.returncode}):\n{_tail_text(result.stderr)}")
    lines = result.stdout.strip().splitlines()
    path = Path(lines[-1]) if lines else None
    if path is None or not path.exists():
        raise StackError(f"{script} printed no existing path (stdout: {result.stdout.strip()!r})")
    return path


# --- ports ---------------------------------------------------------------------------------


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports that are free on ``host`` right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _ensure_free(host: str, port: int, what: str) -> None:
    # A health check against a port someone else holds would pass against the wrong process.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"{what}: {host}:{port} is already in use ({exc.strerror}); stop whatever holds it "
                "or choose another port"
            ) from None


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _http_ok(url: str, token: str = "") -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, headers=headers, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


# --- one managed child process -----------------------------------------------------------


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to send SIGTERM when the parent
    # dies, so a crashed test run or demo never leaves a broker holding its ports.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ManagedProcess:
    """A child process in its own session, logging to one file; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        try:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            self._close_log()
            raise StackError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        _log.info("%s started (pid %s), log %s", self.name, self._proc.pid, self.log_path)

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> float:
        """Polls ``check`` until it is true; returns the seconds waited, raises on exit or timeout."""
        start = time.monotonic()
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise StackError(f"{self.name} exited (code {code}) before {what}\n{self.log_tail()}")
            if check():
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise StackError(f"{self.name} not {what} after {timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, then SIGKILL after ``timeout`` seconds."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _log.warning("%s ignored SIGTERM for %.0fs: killing it", self.name, timeout)
                self._signal(signal.SIGKILL)
                self._proc.wait()
        self._close_log()

    def kill(self) -> None:
        """SIGKILL, no cleanup: what a crash looks like to the rest of the stack."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            self._proc.wait()
        self._close_log()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return f"--- last lines of {self.log_path} ---\n{_tail_text(text, lines)}"

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _tail_text(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


class LocalProcess:
    """One of the stack's processes: its ports must be free, its command runs as a
    :class:`ManagedProcess`, and ``start()`` returns once it is ready. ``kill()`` then ``start()``
    restarts it on the same files (Kafka's log, the Collector's queues, oracle_api's database)."""

    name = "process"
    stop_timeout = 15.0

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: ManagedProcess | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def ports(self) -> list[tuple[str, int, str]]:
        """(host, port, what) for every port the process listens on."""
        raise NotImplementedError

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        """The argv and environment (None: this process's) to run, after any preparation."""
        raise NotImplementedError

    def wait_ready(self, process: ManagedProcess) -> None:
        """Return once the process serves; raise StackError (``process.wait_until``) if it does not."""
        raise NotImplementedError

    def start(self) -> None:
        for host, port, what in self.ports():
            _ensure_free(host, port, what)
        argv, env = self.command()
        self.process = ManagedProcess(self.name, argv, self.log_path, env=env)
        self.process.start()
        try:
            self.wait_ready(self.process)
        except BaseException:
            self.process.stop(timeout=5)
            raise

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (default: the process's own)."""
        if self.process:
            self.process.stop(self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL, a crash; ``start()`` runs it again on the same files."""
        if self.process:
            self.process.kill()

    def restart(self) -> None:
        """Stop and start with the same config."""
        self.stop()
        self.start()


# --- Kafka -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaConfig:
    """A single-node KRaft broker (broker and controller in one process)."""

    data_dir: Path
    libs_dir: Path
    host: str = LOOPBACK
    port: int = 9092
    controller_port: int = 9093
    partitions: int = 3
    topics: tuple[str, ...] = TOPICS
    heap: str = "512m"
    java: str = "java"
    start_timeout: float = 90.0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class KafkaBroker(LocalProcess):
    """Formats storage once, runs ``kafka.Kafka`` and creates the topics."""

    name = "kafka"
    stop_timeout = 20.0

    def __init__(self, config: KafkaConfig, log_path: Path | None = None) -> None:
        super().__init__(log_path or config.data_dir / "kafka.out")
        self.config = config

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    @property
    def properties_path(self) -> Path:
        return self.config.data_dir / "server.properties"

    def ports(self) -> list[tuple[str, int, str]]:
        config = self.config
        return [(config.host, config.port, "kafka broker"), (config.host, config.controller_port, "kafka controller")]

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        config = self.config
        if not config.libs_dir.is_dir() or not any(config.libs_dir.glob("kafka_2.13-*.jar")):
            raise StackError(f"kafka: no kafka_2.13 jar in {config.libs_dir} (run deploy/local/fetch_kafka.sh)")
        java = shutil.which(config.java) or (
            str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if "JAVA_HOME" in os.environ else None
        )
        if not java:
            raise StackError("kafka: no 'java' on PATH and no JAVA_HOME (Kafka 4 needs Java 17+)")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text(self._properties())
        jvm = [
            java,
            "-Xms128m",
            f"-Xmx{config.heap}",
            # One small broker: the serial collector's short young-generation pauses cost a fraction
            # of the CPU that G1's background threads took (Kafka's share of the pipeline at 10k
            # spans/s: ~7% of a core instead of ~25%).
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={config.data_dir}",
            "-cp",
            f"{config.libs_dir}/*",
        ]
        if not (self._log_dir / "meta.properties").exists():
            self._format(jvm)
        return [*jvm, "kafka.Kafka", str(self.properties_path)], None

    def wait_ready(self, process: ManagedProcess) -> None:
        config = self.config
        process.wait_until(lambda: _port_open(config.host, config.port), config.start_timeout, "listening")
        admin = self.admin()
        process.wait_until(lambda: _broker_answers(admin), config.start_timeout, "answering metadata requests")
        self._create_topics(admin, process)

    def admin(self) -> AdminClient:
        settings: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": _log.getChild("kafka-client")}
        return AdminClient(settings)

    @property
    def _log_dir(self) -> Path:
        return self.config.data_dir / "kraft"

    def _properties(self) -> str:
        config = self.config
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{config.host}:{config.controller_port}",
            "listeners": f"PLAINTEXT://{config.host}:{config.port},CONTROLLER://{config.host}:{config.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{config.host}:{config.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._log_dir),
            "num.partitions": str(config.partitions),
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
        }
        return "# Written by deploy/local/stack.py on every start.\n" + "".join(f"{k}={v}\n" for k, v in props.items())

    def _format(self, jvm: list[str]) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # "--cluster-id=" form: a random id may start with "-", which argparse would take for a flag.
        argv = [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "--config",
            str(self.properties_path),
        ]
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise StackError(f"kafka: formatting {self._log_dir} failed:\n{_tail_text(result.stdout)}")

    def _create_topics(self, admin: AdminClient, process: ManagedProcess) -> None:
        config = self.config
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=config.partitions, replication_factor=1) for topic in config.topics],
            operation_timeout=30,
        )
        for topic, future in futures.items():
            try:
                future.result(timeout=30)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise StackError(f"kafka: cannot create topic {topic}: {exc}") from exc

        def all_led() -> bool:
            topics = admin.list_topics(timeout=5).topics
            return all(
                name in topics
                and topics[name].error is None
                and all(partition.leader >= 0 for partition in topics[name].partitions.values())
                for name in config.topics
            )

        process.wait_until(all_led, 30, "leading every topic partition")


def _broker_answers(admin: AdminClient) -> bool:
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except KafkaException:
        return False


# --- the Collector ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectorConfig:
    """Our OCB-built Collector running collector-config/otelcol.yaml."""

    binary: Path
    storage_dir: Path
    config_file: Path = COLLECTOR_CONFIG
    overlays: tuple[Path, ...] = ()  # further --config files, merged over config_file (collector-config/overlays)
    host: str = LOOPBACK
    grpc_port: int = 4317
    http_port: int = 4318
    health_port: int = 13133
    metrics_port: int = 8888
    kafka_brokers: str = "127.0.0.1:9092"
    oracle_endpoint: str = "127.0.0.1:4319"
    # oracle_api's TELEMETRON_API_TOKEN, sent on exports to it; None: whatever the environment says.
    api_token: str | None = None
    # Go's soft memory limit (GOMEMLIMIT) for the Collector; None: _go_memory_env's.
    go_memory_limit_mib: int | None = None
    log_level: str = "info"
    start_timeout: float = 30.0

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://{self.host}:{self.grpc_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.health_port}/"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def env(self) -> dict[str, str]:
        """The variables collector-config/otelcol.yaml reads."""
        token = {} if self.api_token is None else {"TELEMETRON_API_TOKEN": self.api_token}
        return token | {
            "TELEMETRON_COLLECTOR_HOST": self.host,
            "TELEMETRON_OTLP_GRPC_PORT": str(self.grpc_port),
            "TELEMETRON_OTLP_HTTP_PORT": str(self.http_port),
            "TELEMETRON_COLLECTOR_HEALTH_PORT": str(self.health_port),
            "TELEMETRON_COLLECTOR_METRICS_PORT": str(self.metrics_port),
            "TELEMETRON_KAFKA_BROKERS": self.kafka_brokers,
            "TELEMETRON_ORACLE_ENDPOINT": self.oracle_endpoint,
            "TELEMETRON_COLLECTOR_STORAGE_DIR": str(self.storage_dir),
            "TELEMETRON_COLLECTOR_LOG_LEVEL": self.log_level,
        }


def _go_memory_env(go_memory_limit_mib: int | None = None) -> dict[str, str]:
    """Go's garbage collector for the Collector, unless the config or the environment sets its own.

    Go's default (GOGC=100) collected so often that the Collector spent about a third of its CPU on it
    at 10k spans/s; GOGC=200 lets the heap grow further between collections, and GOMEMLIMIT at 60% of
    the memory_limiter's limit makes Go collect harder before that processor starts refusing data.
    """
    if go_memory_limit_mib is None:
        limit_mib = int(os.environ.get("TELEMETRON_COLLECTOR_MEMORY_LIMIT_MIB", "1024"))
        go_limit = os.environ.get("GOMEMLIMIT", f"{limit_mib * 6 // 10}MiB")
    else:
        go_limit = f"{go_memory_limit_mib}MiB"
    return {"GOGC": os.environ.get("GOGC", "200"), "GOMEMLIMIT": go_limit}


class Collector(LocalProcess):
    """Runs the Collector and waits for its health_check endpoint.

    ``restart()`` also resets gRPC's connect backoff towards oracle_api, which grows to 120s while
    nothing listens there: after a long outage, delivery resumes only at the next reconnect attempt.
    """

    name = "collector"

    def __init__(self, config: CollectorConfig, log_path: Path | None = None) -> None:
        super().__init__(log_path or config.storage_dir.parent / "collector.log")
        self.config = config

    def ports(self) -> list[tuple[str, int, str]]:
        config = self.config
        named = {
            "OTLP gRPC": config.grpc_port,
            "OTLP HTTP": config.http_port,
            "health": config.health_port,
            "metrics": config.metrics_port,
        }
        return [(config.host, port, f"collector {what}") for what, port in named.items()]

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        config = self.config
        if not os.access(config.binary, os.X_OK):
            raise StackError(f"collector: {config.binary} is not an executable (run deploy/local/build_collector.sh)")
        config.storage_dir.mkdir(parents=True, exist_ok=True)
        files = [str(config.config_file), *map(str, config.overlays)]
        return [str(config.binary), *(arg for f in files for arg in ("--config", f))], _child_env(
            config.env() | _go_memory_env(config.go_memory_limit_mib)
        )

    def wait_ready(self, process: ManagedProcess) -> None:
        process.wait_until(lambda: _http_ok(self.config.health_url), self.config.start_timeout, "healthy")


# --- oracle_api ------------------------------------------------------------------------------


class OracleApiConfig:
    """``python -m telemetron_oracle_api`` with ``settings``, named as oracle_api's Settings fields.

    The child runs with these over this process's TELEMETRON_* variables (read when it starts) over
    Settings' defaults: names, defaults and checks live in oracle_api's settings.py alone.
    """

    def __init__(self, python: str = sys.executable, start_timeout: float = 60.0, **settings: Any) -> None:
        self.python = python
        self.start_timeout = start_timeout
        self.given = settings
        self.settings()  # unknown names and bad values fail here, not in the child

    @classmethod
    def on_free_ports(cls, db_path: Path, **overrides: Any) -> OracleApiConfig:
        """A config on two loopback ports that are free now (benchmarks, a second oracle_api beside a stack)."""
        http_port, grpc_port = free_ports(2)
        ports = {"http_host": LOOPBACK, "http_port": http_port, "grpc_host": LOOPBACK, "grpc_port": grpc_port}
        return cls(**{"db_path": db_path, **ports, **overrides})

    def settings(self) -> Settings:
        """What the child will run with, given this process's environment now."""
        return settings_from_environment(**self.given)

    @property
    def db_path(self) -> Path:
        return self.settings().db_path

    @property
    def base_url(self) -> str:
        settings = self.settings()
        return f"http://{settings.http_host}:{settings.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        settings = self.settings()
        return f"{settings.grpc_host}:{settings.grpc_port}"

    def env(self) -> dict[str, str]:
        """Every TELEMETRON_* variable of oracle_api, set to what the child must run with."""
        return self.settings().environment()


class OracleApi(LocalProcess):
    """Runs oracle_api; ``kill()`` then ``start()`` restarts it with the same config and database."""

    name = "oracle_api"

    def __init__(self, config: OracleApiConfig, log_path: Path | None = None) -> None:
        super().__init__(log_path or config.db_path.parent / "oracle_api.log")
        self.config = config

    def ports(self) -> list[tuple[str, int, str]]:
        settings = self.config.settings()
        return [
            (settings.http_host, settings.http_port, "oracle_api HTTP"),
            (settings.grpc_host, settings.grpc_port, "oracle_api OTLP gRPC"),
        ]

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        self.config.db_path.parent.mkdir(parents=True, exist_ok=True)
        return [self.config.python, "-m", "telemetron_oracle_api"], _child_env(self.config.env())

    def wait_ready(self, process: ManagedProcess) -> None:
        token = self.config.settings().api_token  # /health needs it when one is set
        process.wait_until(
            lambda: _http_ok(self.config.base_url + "/health", token), self.config.start_timeout, "healthy"
        )


# --- PostgreSQL (the scaled deployment's shared store) ------------------------------------------


def postgres_bin_dir() -> Path:
    """Debian's PostgreSQL binaries (``apt-get install postgresql``; bootstrap.sh installs them)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise StackError("postgres: no initdb under /usr/lib/postgresql (run: apt-get install -y postgresql)")
    return found[-1].parent


@dataclass(frozen=True)
class PostgresConfig:
    """A throwaway cluster (initdb on first start, trust auth on loopback, no Unix socket)."""

    data_dir: Path
    host: str = LOOPBACK
    port: int = 5432
    user: str = "telemetron"
    database: str = "telemetron"
    start_timeout: float = 60.0

    def url(self, database: str | None = None) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database or self.database}"


class PostgresServer(LocalProcess):
    """Runs ``postgres`` on a data directory made by ``initdb``; as root, as the ``postgres`` user
    (PostgreSQL refuses to run as root)."""

    name = "postgres"

    def __init__(self, config: PostgresConfig, log_path: Path | None = None) -> None:
        super().__init__(log_path or config.data_dir.parent / "postgres.log")
        self.config = config

    @property
    def url(self) -> str:
        return self.config.url()

    def ports(self) -> list[tuple[str, int, str]]:
        return [(self.config.host, self.config.port, "postgres")]

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        config, bin_dir = self.config, postgres_bin_dir()
        if not (config.data_dir / "PG_VERSION").exists():
            config.data_dir.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(config.data_dir, "postgres", "postgres")
            argv = [str(bin_dir / "initdb"), "-D", str(config.data_dir), "-U", config.user, "--auth=trust"]
            result = subprocess.run(
                self._as_owner([*argv, "-E", "UTF8", "--no-sync"]),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if result.returncode != 0:
                raise StackError(f"postgres: initdb failed:\n{_tail_text(result.stdout)}")
        options = {
            "listen_addresses": config.host,
            "port": str(config.port),
            "unix_socket_directories": "",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "fsync": "on",
            "synchronous_commit": "on",
        }
        flags = [item for name, value in options.items() for item in ("-c", f"{name}={value}")]
        return self._as_owner([str(bin_dir / "postgres"), "-D", str(config.data_dir), *flags]), None

    def wait_ready(self, process: ManagedProcess) -> None:
        config = self.config
        process.wait_until(lambda: self._answers("postgres"), config.start_timeout, "accepting connections")
        self.create_database(config.database)

    def _answers(self, database: str) -> bool:
        import psycopg

        try:
            psycopg.connect(self.config.url(database), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; returns its URL."""
        import psycopg

        with psycopg.connect(self.config.url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.config.url(name)


class OracleWorker(LocalProcess):
    """oracle_api with ``ingest=kafka``: one member of the ingest consumer group, writing the shared store."""

    name = "oracle_worker"

    def __init__(self, config: OracleApiConfig, log_path: Path) -> None:
        super().__init__(log_path)
        self.config = config

    def ports(self) -> list[tuple[str, int, str]]:
        return []  # a worker listens on nothing

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        return [self.config.python, "-m", "telemetron_oracle_api"], _child_env(self.config.env())

    def wait_ready(self, process: ManagedProcess) -> None:
        def assigned() -> bool:
            return "assigned" in self.log_path.read_text(errors="replace").rsplit("=== ", 1)[-1]

        process.wait_until(assigned, self.config.start_timeout, "assigned partitions by the group")


# --- the mock LLM provider -------------------------------------------------------------------


@dataclass(frozen=True)
class MockProviderConfig:
    """examples/mock_llm_provider.py, an OpenAI-compatible endpoint at ``/v1``."""

    host: str = LOOPBACK
    port: int = 8089
    python: str = sys.executable
    start_timeout: float = 30.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + "/v1"


class MockProvider(LocalProcess):
    """Runs the mock LLM provider and waits for ``GET /health``."""

    name = "mock_provider"
    stop_timeout = 10.0

    def __init__(self, config: MockProviderConfig, log_path: Path) -> None:
        super().__init__(log_path)
        self.config = config

    def ports(self) -> list[tuple[str, int, str]]:
        return [(self.config.host, self.config.port, "mock LLM provider")]

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        config = self.config
        script = str(REPO / "examples" / "mock_llm_provider.py")
        return [config.python, script, "--host", config.host, "--port", str(config.port)], None

    def wait_ready(self, process: ManagedProcess) -> None:
        process.wait_until(lambda: _http_ok(self.config.base_url + "/health"), self.config.start_timeout, "healthy")


# --- everything together ---------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its files and which loopback ports it uses (ARCHITECTURE.md's defaults)."""

    run_dir: Path
    db_path: Path | None = None
    host: str = LOOPBACK
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    otlp_grpc_port: int = 4317
    otlp_http_port: int = 4318
    collector_health_port: int = 13133
    collector_metrics_port: int = 8888
    oracle_http_port: int = 8080
    oracle_grpc_port: int = 4319
    mock_provider_port: int = 8089
    with_oracle_api: bool = True
    with_mock_provider: bool = True
    collector_go_memory_limit_mib: int | None = None  # None: CollectorConfig's default
    python: str = sys.executable

    @classmethod
    def on_free_ports(cls, run_dir: Path, **overrides: object) -> StackConfig:
        """A config whose every port is free now: for a second stack beside a running one."""
        names = [
            "kafka_port",
            "kafka_controller_port",
            "otlp_grpc_port",
            "otlp_http_port",
            "collector_health_port",
            "collector_metrics_port",
            "oracle_http_port",
            "oracle_grpc_port",
            "mock_provider_port",
        ]
        ports = dict(zip(names, free_ports(len(names))))
        return replace(cls(run_dir=run_dir), **{**ports, **overrides})  # type: ignore[arg-type]

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"


class Stack:
    """Kafka, Collector, oracle_api and the mock provider; started in order, stopped in reverse."""

    def __init__(self, config: StackConfig, collector_binary: Path | None = None, kafka_libs: Path | None = None):
        self.config = config
        binary = collector_binary or build_collector()
        libs = kafka_libs or fetch_kafka()
        self.kafka = KafkaBroker(
            KafkaConfig(
                data_dir=config.run_dir / "kafka",
                libs_dir=libs,
                host=config.host,
                port=config.kafka_port,
                controller_port=config.kafka_controller_port,
            ),
            log_path=config.logs_dir / "kafka.log",
        )
        self.oracle_api = OracleApi(
            OracleApiConfig(
                db_path=config.db_path or config.run_dir / "telemetron.db",
                http_host=config.host,
                http_port=config.oracle_http_port,
                grpc_host=config.host,
                grpc_port=config.oracle_grpc_port,
                kafka_bootstrap=self.kafka.bootstrap,
                python=config.python,
                simulate_otlp_endpoint=f"{config.host}:{config.otlp_grpc_port}",
            ),
            log_path=config.logs_dir / "oracle_api.log",
        )
        self.collector = Collector(
            CollectorConfig(
                binary=binary,
                storage_dir=config.run_dir / "collector-storage",
                host=config.host,
                grpc_port=config.otlp_grpc_port,
                http_port=config.otlp_http_port,
                health_port=config.collector_health_port,
                metrics_port=config.collector_metrics_port,
                kafka_brokers=self.kafka.bootstrap,
                oracle_endpoint=self.oracle_api.config.grpc_endpoint,
                go_memory_limit_mib=config.collector_go_memory_limit_mib,
            ),
            log_path=config.logs_dir / "collector.log",
        )
        self.mock_provider = MockProvider(
            MockProviderConfig(host=config.host, port=config.mock_provider_port, python=config.python),
            log_path=config.logs_dir / "mock_provider.log",
        )
        self._started: list[LocalProcess] = []
        self.timings: dict[str, float] = {}

    def components(self) -> list[LocalProcess]:
        parts: list[LocalProcess] = [self.kafka, self.collector]
        if self.config.with_oracle_api:
            parts.append(self.oracle_api)
        if self.config.with_mock_provider:
            parts.append(self.mock_provider)
        return parts

    def start(self) -> None:
        # Every port first: fail before starting anything rather than halfway through.
        for part in self.components():
            for host, port, what in part.ports():
                _ensure_free(host, port, what)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            for part in self.components():
                started = time.monotonic()
                part.start()
                self._started.append(part)
                self.timings[part.name] = time.monotonic() - started
                _log.info("%s healthy in %.1fs", part.name, self.timings[part.name])
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        errors = []
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception as exc:  # stop the rest before reporting
                errors.append(exc)
        if errors:
            raise StackError(f"errors while stopping: {errors}")

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def urls(self) -> dict[str, str]:
        """Where everything listens, for people and scripts."""
        api = self.oracle_api.config.base_url
        return {
            "otlp_grpc": self.collector.config.otlp_grpc_endpoint,
            "otlp_http": self.collector.config.otlp_http_endpoint,
            "collector_health": self.collector.config.health_url,
            "kafka": self.kafka.bootstrap,
            "oracle_api": api,
            "oracle_api_otlp_grpc": self.oracle_api.config.grpc_endpoint,
            "oracle_state": api + "/api/v1/oracle/state",
            "jaeger_api": api + "/api/traces",
            "dashboard": api + "/",
            "mock_provider": self.mock_provider.config.api_base,
            "logs": str(self.config.logs_dir),
        }
