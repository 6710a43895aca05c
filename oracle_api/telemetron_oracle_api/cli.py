"""The ``telemetron`` command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from .server import serve
        from .settings import load_settings

        serve(load_settings(argv[1:]))
        return 0
    print("usage: telemetron serve [--http-port N] [--grpc-port N] [--db-path PATH] ...", file=sys.stderr)
    return 2
