"""deploy/k8s/, checked offline: rendered by kustomize (built by deploy/local/build_kustomize.sh),
every object valid against the Kubernetes OpenAPI schemas (kubernetes-validate ships them), every
name an object refers to present, the ports of the contract, and the Collector configs validated by
our Collector build for every component it has.

Not checked offline: the settings of the Kubernetes components our Collector build lacks
(kubeletstats, k8s_cluster, k8sattributes), which only the contrib image reads when it starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from stack import REPO

K8S = REPO / "deploy" / "k8s"
OVERLAY = "overlays/kind"
TOKEN_FILE = "api-token.env"
# Oldest and newest Kubernetes releases whose schemas the validator ships that kind runs today.
KUBERNETES_VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]
# The components the agent and gateway configs use that our Collector build lacks: the contrib image has them.
K8S_ONLY_COMPONENTS = {"kubeletstats", "k8s_cluster", "k8sattributes"}
TOPICS = {f"agent-telemetry-{s}" for s in ("spans", "metrics", "events", "errors", "handoffs")}
# What the Oracle's workload view reads (oracle_api/telemetron_oracle_api/oracle/workload.py).
WORKLOAD_METRICS = {
    "kubeletstats": {"k8s.pod.cpu.usage", "k8s.pod.memory.working_set"},
    "k8s_cluster": {"k8s.deployment.desired", "k8s.deployment.available", "k8s.pod.phase", "k8s.container.restarts"},
}
# ARCHITECTURE.md's port contract.
SERVICE_PORTS = {
    "otel-agent": {4317, 4318},
    "otel-gateway": {4317, 4318, 13133},
    "oracle-api": {8080, 4319},
    "kafka": {9092},
    "mock-provider": {8089},
}


@pytest.fixture(scope="session")
def kustomize() -> Path:
    result = subprocess.run(
        ["bash", str(REPO / "deploy" / "local" / "build_kustomize.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, f"build_kustomize.sh failed:\n{result.stderr[-3000:]}"
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/k8s/ with a token file, as a user's clone has after following the README."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns(TOKEN_FILE))
    (copy / OVERLAY / TOKEN_FILE).write_text("TELEMETRON_API_TOKEN=test-token-of-this-run\n")
    return copy


@pytest.fixture(scope="session")
def rendered(kustomize: Path, k8s_copy: Path) -> list[dict]:
    result = subprocess.run([str(kustomize), "build", str(k8s_copy / OVERLAY)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _objects(rendered: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered if o["kind"] == kind}


def _workloads(rendered: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(object, pod spec) for every object that runs pods."""
    for o in rendered:
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
            yield o, o["spec"]["template"]["spec"]


def _containers(rendered: list[dict]) -> Iterator[tuple[dict, dict]]:
    for o, pod in _workloads(rendered):
        for c in pod.get("initContainers", []) + pod["containers"]:
            yield o, c


def _collector_configs(rendered: list[dict]) -> dict[str, dict]:
    return {name: yaml.safe_load(cm["data"]["config.yaml"]) for name, cm in _objects(rendered, "ConfigMap").items()}


def _config_of(rendered: list[dict], prefix: str) -> dict:
    (config,) = [c for name, c in _collector_configs(rendered).items() if name.startswith(prefix)]
    return config


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


# --- rendering and schemas ------------------------------------------------------------------------


def test_overlay_renders_every_part_of_the_deployment(rendered: list[dict]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for expected in [
        ("StatefulSet", "kafka"),
        ("Job", "kafka-topics"),
        ("DaemonSet", "otel-agent"),
        ("Deployment", "otel-gateway"),
        ("Deployment", "oracle-api"),
        ("Deployment", "mock-provider"),
        ("Deployment", "demo-agents"),
        ("PersistentVolumeClaim", "oracle-api-data"),
        ("ClusterRole", "telemetron-otel-agent"),
        ("ClusterRole", "telemetron-otel-gateway"),
    ]:
        assert expected in kinds
    cluster_wide = ("Namespace", "ClusterRole", "ClusterRoleBinding")
    assert {o["metadata"].get("namespace") for o in rendered if o["kind"] not in cluster_wide} == {"telemetron"}


def test_overlay_does_not_render_without_a_token_file(kustomize: Path, k8s_copy: Path, tmp_path: Path) -> None:
    """The token is never committed: each clone writes its own before deploying."""
    bare = tmp_path / "k8s"
    shutil.copytree(k8s_copy, bare, ignore=shutil.ignore_patterns(TOKEN_FILE))
    result = subprocess.run([str(kustomize), "build", str(bare / OVERLAY)], capture_output=True, text=True)
    assert result.returncode != 0 and TOKEN_FILE in result.stderr
    assert TOKEN_FILE in (K8S / OVERLAY / ".gitignore").read_text().split()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(rendered: list[dict], version: str) -> None:
    errors = []
    for o in rendered:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {e.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_rejects_a_misspelt_field(rendered: list[dict]) -> None:
    deployment = yaml.safe_load(yaml.safe_dump(_objects(rendered, "Deployment")["oracle-api"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_kind_cluster_config_declares_a_cluster() -> None:
    config = yaml.safe_load((K8S / "kind-cluster.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == ("kind.x-k8s.io/v1alpha4", "Cluster")
    assert {n["role"] for n in config["nodes"]} == {"control-plane", "worker"}


# --- names an object refers to ----------------------------------------------------------------------


def test_every_secret_configmap_volume_and_account_a_pod_names_exists(rendered: list[dict]) -> None:
    secrets, config_maps = _objects(rendered, "Secret"), _objects(rendered, "ConfigMap")
    claims, accounts = _objects(rendered, "PersistentVolumeClaim"), _objects(rendered, "ServiceAccount")
    for o, pod in _workloads(rendered):
        where = f"{o['kind']}/{o['metadata']['name']}"
        if "serviceAccountName" in pod:
            assert pod["serviceAccountName"] in accounts, where
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, where
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, where
        for c in pod["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["data"], f"{where} {env['name']}"


def test_the_api_token_reaches_oracle_api_and_the_gateway_from_one_secret(rendered: list[dict]) -> None:
    users = {
        o["metadata"]["name"]: env["valueFrom"]["secretKeyRef"]["name"]
        for o, c in _containers(rendered)
        for env in c.get("env", [])
        if env["name"] == "TELEMETRON_API_TOKEN"
    }
    assert set(users) == {"oracle-api", "otel-gateway"}
    assert len(set(users.values())) == 1
    token_envs = [e for _, c in _containers(rendered) for e in c.get("env", []) if e["name"] == "TELEMETRON_API_TOKEN"]
    assert not [e for e in token_envs if "value" in e], "the token is written in a manifest"


def test_every_role_binding_names_a_role_and_accounts_that_exist(rendered: list[dict]) -> None:
    roles, accounts = _objects(rendered, "ClusterRole"), _objects(rendered, "ServiceAccount")
    bindings = _objects(rendered, "ClusterRoleBinding").values()
    assert {s["name"] for b in bindings for s in b["subjects"]} == {"otel-agent", "otel-gateway"}
    for binding in bindings:
        assert binding["roleRef"]["name"] in roles
        for subject in binding["subjects"]:
            assert subject["name"] in accounts and subject["namespace"] == "telemetron"


def test_receivers_may_read_what_they_watch(rendered: list[dict]) -> None:
    def grants(role: str) -> set[str]:
        return {r for rule in _objects(rendered, "ClusterRole")[role]["rules"] for r in rule["resources"]}

    assert {"nodes/stats", "nodes/proxy", "pods", "namespaces", "replicasets"} <= grants("telemetron-otel-agent")
    watched = {"deployments", "replicasets", "pods", "nodes", "namespaces", "statefulsets", "daemonsets", "jobs"}
    assert watched <= grants("telemetron-otel-gateway")
    for role in _objects(rendered, "ClusterRole").values():
        assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in role["rules"])


def test_every_service_selects_pods_that_serve_its_ports(rendered: list[dict]) -> None:
    for name, service in _objects(rendered, "Service").items():
        selector = service["spec"]["selector"]
        pods = [
            pod
            for o, pod in _workloads(rendered)
            if selector.items() <= o["spec"]["template"].get("metadata", {}).get("labels", {}).items()
        ]
        assert pods, f"Service {name} selects no pod"
        ports = {p["name"] for pod in pods for c in pod["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name} targets {port['targetPort']}"


def _addresses(text: str) -> set[tuple[str, int]]:
    return {(host, int(port)) for host, port in re.findall(r"(?<![\w.-])([a-z][a-z0-9-]*):(\d{2,5})\b", text)}


def test_every_address_a_pod_or_collector_uses_is_a_service_port(rendered: list[dict]) -> None:
    services = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in _objects(rendered, "Service").items()}
    texts = [
        yaml.safe_dump(c.get("env", [])) + " ".join(c.get("args", []) + c.get("command", []))
        for _, c in _containers(rendered)
    ]
    texts += [yaml.safe_dump(config["exporters"]) for config in _collector_configs(rendered).values()]
    used = set().union(*map(_addresses, texts)) - {("localhost", 9093)}  # the broker's own controller
    expected = {
        ("kafka", 9092),
        ("oracle-api", 4319),
        ("otel-gateway", 4317),
        ("otel-agent", 4317),
        ("mock-provider", 8089),
    }
    assert expected <= used
    for host, port in used:
        assert port in services.get(host, set()), f"{host}:{port} is no Service port"


def test_every_env_variable_a_collector_config_reads_is_set_in_its_pod(rendered: list[dict]) -> None:
    for o, pod in _workloads(rendered):
        for volume in pod.get("volumes", []):
            config_map = _objects(rendered, "ConfigMap").get(volume.get("configMap", {}).get("name"))
            if config_map is None:
                continue
            wanted = set(re.findall(r"\$\{env:([A-Z0-9_]+)", config_map["data"]["config.yaml"]))
            have = {e["name"] for c in pod["containers"] for e in c.get("env", [])}
            assert wanted <= have, f"{o['metadata']['name']} lacks {wanted - have}"


# --- ports, probes, resources ---------------------------------------------------------------------------


def test_services_publish_the_ports_of_the_contract(rendered: list[dict]) -> None:
    services = {name: {p["port"] for p in s["spec"]["ports"]} for name, s in _objects(rendered, "Service").items()}
    assert services == SERVICE_PORTS
    kafka_ports = {p["containerPort"] for _, c in _containers(rendered) if c["name"] == "kafka" for p in c["ports"]}
    assert kafka_ports == {9092, 9093}


def test_collectors_listen_on_the_ports_of_the_contract(rendered: list[dict]) -> None:
    for config in _collector_configs(rendered).values():
        protocols = config["receivers"]["otlp"]["protocols"]
        assert (_port(protocols["grpc"]["endpoint"]), _port(protocols["http"]["endpoint"])) == (4317, 4318)
        assert _port(config["extensions"]["health_check"]["endpoint"]) == 13133


def test_every_long_running_container_has_probes_and_resource_limits(rendered: list[dict]) -> None:
    for o, c in _containers(rendered):
        where = f"{o['metadata']['name']}/{c['name']}"
        assert {"cpu", "memory"} <= c["resources"]["requests"].keys(), where
        assert {"cpu", "memory"} <= c["resources"]["limits"].keys(), where
        if o["kind"] != "Job" and o["metadata"]["name"] != "demo-agents":  # the demo has no server to probe
            assert "readinessProbe" in c and "livenessProbe" in c, where


def test_every_image_is_pinned_and_matches_the_compose_file(rendered: list[dict]) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    # Services of a compose profile (the scaled deployment) are the scaled overlay's (test_deploy_k8s_scaled.py).
    services = [s for s in compose["services"].values() if not s.get("profiles")]
    compose_images = {s["image"] for s in services if "image" in s} | {compose["x-telemetron-image"]["image"]}
    images = {c["image"] for _, c in _containers(rendered)}
    for image in images:
        assert ":" in image and not image.endswith(":latest"), f"{image} is not pinned to a tag"
    assert images == compose_images, "Kubernetes and compose run different images"


def test_oracle_api_probes_call_health_with_the_token(rendered: list[dict]) -> None:
    (container,) = _objects(rendered, "Deployment")["oracle-api"]["spec"]["template"]["spec"]["containers"]
    http_port = next(e["value"] for e in container["env"] if e["name"] == "TELEMETRON_HTTP_PORT")
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        script = " ".join(probe["exec"]["command"])
        assert f"127.0.0.1:{http_port}/health" in script
        assert "os.environ['TELEMETRON_API_TOKEN']" in script and "Bearer" in script


def test_collector_probes_call_the_health_check_extension(rendered: list[dict]) -> None:
    for name in ("otel-agent", "otel-gateway"):
        pod = next(pod for o, pod in _workloads(rendered) if o["metadata"]["name"] == name)
        (container,) = pod["containers"]
        config_map = next(v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v)
        health = _collector_configs(rendered)[config_map]["extensions"]["health_check"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in (container["readinessProbe"], container["livenessProbe"]):
            assert ports[probe["httpGet"]["port"]] == _port(health["endpoint"])
            assert probe["httpGet"]["path"] == health.get("path", "/")


def test_sqlite_store_and_gateway_queue_live_on_volumes(rendered: list[dict]) -> None:
    deployments = _objects(rendered, "Deployment")
    oracle = deployments["oracle-api"]["spec"]["template"]["spec"]
    (container,) = oracle["containers"]
    db_path = next(e["value"] for e in container["env"] if e["name"] == "TELEMETRON_DB_PATH")
    mount = next(m for m in container["volumeMounts"] if db_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in oracle["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == "oracle-api-data"
    for name in ("oracle-api", "otel-gateway"):
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate"  # one writer on a ReadWriteOnce volume


# --- the Collector configs ---------------------------------------------------------------------------


def _components(collector_binary: Path) -> set[str]:
    result = subprocess.run([str(collector_binary), "components"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"^\s*-?\s*name:\s*(\S+)", result.stdout, re.M))


def _without(config: dict, names: set[str]) -> dict:
    """The config minus the named components and their places in pipelines."""
    config = yaml.safe_load(yaml.safe_dump(config))
    for section in ("receivers", "processors", "exporters", "connectors", "extensions"):
        for key in list(config.get(section) or {}):
            if key.split("/")[0] in names:
                del config[section][key]
                for pipeline in config["service"]["pipelines"].values():
                    if key in pipeline.get(section, []):
                        pipeline[section].remove(key)
    return config


@pytest.mark.parametrize("role", ["otelcol-agent", "otelcol-gateway"])
def test_collector_config_passes_our_collectors_validate(
    role: str, rendered: list[dict], collector_binary: Path, tmp_path: Path
) -> None:
    config = _config_of(rendered, role)
    sections = ("receivers", "processors", "exporters", "connectors", "extensions")
    used = {key.split("/")[0] for section in sections for key in config.get(section) or {}}
    missing = used - _components(collector_binary)
    assert missing <= K8S_ONLY_COMPONENTS, f"{role} uses {missing - K8S_ONLY_COMPONENTS}, which no Collector here has"
    assert missing, f"{role} needs no contrib-only component: validate it whole"
    checked = _without(config, missing)
    storage = checked["extensions"]["file_storage"]
    storage["directory"] = str(tmp_path)
    if "compaction" in storage:
        storage["compaction"]["directory"] = str(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(checked))
    result = subprocess.run(
        [str(collector_binary), "validate", "--config", str(path)],
        env={"PATH": "/usr/bin:/bin", "K8S_NODE_IP": "10.0.0.1", "K8S_NODE_NAME": "node", "TELEMETRON_API_TOKEN": "t"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_collectors_batch_in_persistent_queues_not_in_a_batch_processor(rendered: list[dict]) -> None:
    for config in _collector_configs(rendered).values():
        assert not any(p.split("/")[0] == "batch" for p in config["processors"])
        for name, exporter in config["exporters"].items():
            queue = exporter["sending_queue"]
            assert queue["enabled"] and queue["storage"] == "file_storage" and queue["batch"], name
            assert exporter["retry_on_failure"]["enabled"], name


def test_agents_send_to_the_gateway_with_kubernetes_names_attached(rendered: list[dict]) -> None:
    agent = _config_of(rendered, "otelcol-agent")
    assert set(agent["exporters"]) == {"otlp_grpc/gateway"}
    for signal in ("traces", "metrics", "logs"):
        assert "k8sattributes" in agent["service"]["pipelines"][signal]["processors"]
    assert "kubeletstats" in agent["service"]["pipelines"]["metrics"]["receivers"]
    assert "k8s.deployment.name" in agent["processors"]["k8sattributes"]["extract"]["metadata"]


def test_gateway_fans_out_to_every_topic_and_to_oracle_api(rendered: list[dict]) -> None:
    gateway = _config_of(rendered, "otelcol-gateway")
    kafka = {n: e for n, e in gateway["exporters"].items() if n.split("/")[0] == "kafka"}
    topics = {signal["topic"] for e in kafka.values() for s, signal in e.items() if s in ("traces", "metrics", "logs")}
    assert topics == TOPICS
    for name, exporter in kafka.items():
        assert all(exporter[s]["encoding"] == "otlp_proto" for s in ("traces", "metrics", "logs") if s in exporter)
        assert exporter["partition_traces_by_id"] is True, name
    exported = {e for p in gateway["service"]["pipelines"].values() for e in p["exporters"]}
    assert set(kafka) | {"otlp_grpc/oracle_api"} <= exported
    assert "k8s_cluster" in gateway["service"]["pipelines"]["metrics"]["receivers"]
    oracle = gateway["exporters"]["otlp_grpc/oracle_api"]
    assert oracle["headers"]["authorization"] == "Bearer ${env:TELEMETRON_API_TOKEN}"


def test_topics_job_creates_every_topic_the_gateway_writes(rendered: list[dict]) -> None:
    (container,) = _objects(rendered, "Job")["kafka-topics"]["spec"]["template"]["spec"]["containers"]
    assert set(re.findall(r"agent-telemetry-[a-z]+", " ".join(container["args"]))) == TOPICS


def test_kubernetes_receivers_emit_the_metrics_the_oracle_reads(rendered: list[dict]) -> None:
    workload = (REPO / "oracle_api" / "telemetron_oracle_api" / "oracle" / "workload.py").read_text()
    receivers = {
        **_config_of(rendered, "otelcol-agent")["receivers"],
        **_config_of(rendered, "otelcol-gateway")["receivers"],
    }
    for receiver, names in WORKLOAD_METRICS.items():
        enabled = {m for m, s in receivers[receiver]["metrics"].items() if s["enabled"]}
        assert names <= enabled, f"{receiver} lacks {names - enabled}"
        for name in names:
            assert f'"{name}"' in workload, f"the workload view does not read {name}"
