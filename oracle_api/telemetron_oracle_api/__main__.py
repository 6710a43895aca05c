"""``python -m telemetron_oracle_api [--flags]``: run oracle_api (same as ``telemetron serve``)."""

import sys

from .server import serve
from .settings import load_settings

if __name__ == "__main__":
    serve(load_settings(sys.argv[1:]))
