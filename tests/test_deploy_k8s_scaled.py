"""deploy/k8s/overlays/scaled, checked offline like the kind overlay: rendered by kustomize, valid
against the Kubernetes schemas, and shaped as the scaled deployment (README, "Beyond one machine"):
a PostgreSQL StatefulSet, a group of ingest workers, stateless API replicas, a Kafka-only gateway."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from stack import REPO

K8S = REPO / "deploy" / "k8s"
OVERLAY = "overlays/scaled"
SECRET_FILES = {
    "api-token.env": "TELEMETRON_API_TOKEN=test-token-of-this-run\n",
    "postgres.env": "POSTGRES_PASSWORD=pw\nTELEMETRON_STORE_URL=postgresql://telemetron:pw@postgres:5432/telemetron\n",
}
KUBERNETES_VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    built = subprocess.run(["bash", str(REPO / "deploy/local/build_kustomize.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    copy = tmp_path_factory.mktemp("k8s-scaled") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns(*SECRET_FILES))
    for name, text in SECRET_FILES.items():
        (copy / OVERLAY / name).write_text(text)
    kustomize = Path(built.stdout.strip().splitlines()[-1])
    result = subprocess.run([str(kustomize), "build", str(copy / OVERLAY)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(rendered: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered if o["kind"] == kind}


def env_of(deployment: dict) -> dict[str, object]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_the_images_are_pinned_and_those_of_the_compose_file(rendered: list[dict]) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    compose_images = {s["image"] for s in compose["services"].values()} | {compose["x-telemetron-image"]["image"]}
    images = {
        c["image"]
        for o in rendered
        if "template" in o.get("spec", {})
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert all(":" in image and not image.endswith(":latest") for image in images)
    assert images == compose_images


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(rendered: list[dict], version: str) -> None:
    errors = []
    for o in rendered:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {e.message}")
    assert not errors, "\n".join(errors)


def test_every_secret_key_a_pod_reads_exists(rendered: list[dict]) -> None:
    secrets = objects(rendered, "Secret")
    for o in rendered:
        if o["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        for c in o["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["data"], f"{o['metadata']['name']} {env['name']}"


def test_workers_form_one_group_writing_the_shared_store(rendered: list[dict]) -> None:
    workers = objects(rendered, "Deployment")["ingest-worker"]
    env = env_of(workers)
    assert workers["spec"]["replicas"] >= 2 and env["TELEMETRON_INGEST"] == "kafka"
    ref = env["TELEMETRON_STORE_URL"]["secretKeyRef"]  # type: ignore[index]
    assert ref["name"].startswith("telemetron-postgres-") and ref["key"] == "TELEMETRON_STORE_URL"


def test_api_replicas_are_stateless_and_fed_by_the_whole_stream(rendered: list[dict]) -> None:
    api = objects(rendered, "Deployment")["oracle-api"]
    env = env_of(api)
    assert api["spec"]["replicas"] >= 2 and api["spec"]["strategy"]["type"] == "RollingUpdate"
    assert (env["TELEMETRON_INGEST"], env["TELEMETRON_LIVE_FEED"]) == ("none", "kafka")
    assert not api["spec"]["template"]["spec"].get("volumes")
    assert "oracle-api-data" not in objects(rendered, "PersistentVolumeClaim")
    postgres = objects(rendered, "StatefulSet")["postgres"]
    assert postgres["spec"]["volumeClaimTemplates"] and "postgres" in objects(rendered, "Service")


def test_the_gateway_writes_only_to_kafka(rendered: list[dict]) -> None:
    gateway = objects(rendered, "Deployment")["otel-gateway"]
    assert "--config=/etc/otelcol/kafka-only.yaml" in gateway["spec"]["template"]["spec"]["containers"][0]["args"]
    (config_map,) = [cm for name, cm in objects(rendered, "ConfigMap").items() if name.startswith("otelcol-gateway")]
    base = yaml.safe_load(config_map["data"]["config.yaml"])["service"]["pipelines"]
    overlay = yaml.safe_load(config_map["data"]["kafka-only.yaml"])["service"]["pipelines"]
    sends_to_oracle = {name for name, p in base.items() if "otlp_grpc/oracle_api" in p["exporters"]}
    assert sends_to_oracle and sends_to_oracle <= set(overlay)
    assert all("otlp_grpc/oracle_api" not in p["exporters"] for p in overlay.values())
    local = yaml.safe_load((REPO / "collector-config/overlays/kafka-only.yaml").read_text())["service"]["pipelines"]
    assert overlay == local  # the copy kustomize can read stays the same as the local overlay
