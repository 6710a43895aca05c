"""The code is formatted, lint-free and type-checked: ruff and mypy, configured in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECKED = ["oracle_api", "instrumentation", "deploy", "examples", "tests", "bench"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "argv",
    [
        ("ruff", "format", "--check", *CHECKED),
        ("ruff", "check", *CHECKED),
        ("mypy", *CHECKED),
    ],
    ids=["ruff-format", "ruff-check", "mypy"],
)
def test_tool_passes(argv: tuple[str, ...]) -> None:
    result = run(*argv)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}"
