"""Go programs that benchmarks run beside oracle_api (Jaeger v2, telemetrygen), built from the Go
module proxy once and cached outside the clone, never committed."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


def cached_binary(name: str, package: str, version: str) -> Path:
    """``package`` at module ``version`` built into ``~/.cache/telemetron/<name>-<version>/<name>``
    (``TELEMETRON_CACHE_DIR`` moves it) the first time: ``go get -tool`` in a throwaway module, then
    ``go build``."""
    cache = Path(os.environ.get("TELEMETRON_CACHE_DIR", Path.home() / ".cache" / "telemetron"))
    target = cache / f"{name}-{version}" / name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-build-") as tmp:
        run = {"cwd": tmp, "check": True}
        subprocess.run(["go", "mod", "init", f"{name}build"], **run)  # type: ignore[call-overload]
        subprocess.run(["go", "get", "-tool", f"{package}@{version}"], **run)  # type: ignore[call-overload]
        partial = target.with_suffix(".tmp")
        subprocess.run(["go", "build", "-o", str(partial), package], **run)  # type: ignore[call-overload]
        partial.rename(target)
    return target
