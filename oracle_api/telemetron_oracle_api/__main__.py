"""``python -m telemetron_oracle_api [--flags]``: run oracle_api (same as ``telemetron serve``)."""

import sys

from .server import serve
from .settings import load_settings

if __name__ == "__main__":  # not when a render helper (api/render_pool.py) is spawned and imports this
    serve(load_settings(sys.argv[1:]))
