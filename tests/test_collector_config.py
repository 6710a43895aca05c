"""The Collector's build manifest and configs in collector-config/ are valid for our binary."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from stack import REPO

CONFIG_DIR = REPO / "collector-config"


def _collector_configs() -> list[Path]:
    # A Collector config has a top-level `service:` section; the OCB manifest does not.
    return sorted(p for p in CONFIG_DIR.glob("*.y*ml") if re.search(r"^service:", p.read_text(), re.M))


def test_the_folder_holds_the_main_config() -> None:
    assert CONFIG_DIR / "otelcol.yaml" in _collector_configs()


@pytest.mark.parametrize("config", _collector_configs(), ids=lambda p: p.name)
def test_config_passes_validate(config: Path, collector_binary: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(collector_binary), "validate", "--config", str(config)],
        env={"TELEMETRON_COLLECTOR_STORAGE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_pins_one_collector_release() -> None:
    versions = re.findall(r"gomod: \S+ (v\d+\.\d+\.\d+)", (CONFIG_DIR / "manifest.yaml").read_text())
    beta = {v for v in versions if v.startswith("v0.")}
    stable = {v for v in versions if v.startswith("v1.")}
    assert len(beta) == 1, beta
    assert len(stable) == 1, stable
    # Core stable v1.N ships with v0.(N+94): v1.64.0 with v0.158.0.
    assert int(beta.pop().split(".")[1]) == int(stable.pop().split(".")[1]) + 94
