#!/usr/bin/env bash
# The local demo: bootstrap, then start Kafka, the Collector, oracle_api and the mock LLM
# provider, run examples/multi_agent_demo.py through them and print where everything is.
# Runs until Ctrl-C; `--once` exits after printing. `--help` lists the port flags.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

bash "$repo/deploy/local/bootstrap.sh"
cd "$repo"
exec "$repo/.venv/bin/python" "$repo/deploy/local/run_demo.py" "$@"
