#!/usr/bin/env bash
# Prepares a clone for the demo and the tests, idempotently and fast when already done:
#   1. .venv with `pip install -c deploy/local/constraints.txt -e '.[server,dev]'`: the tested
#      versions (deploy/local/lock.sh writes that file); re-run when either file changes,
#   2. the Collector binary (deploy/local/build_collector.sh, cached outside the clone),
#   3. the Kafka broker's jars (deploy/local/fetch_kafka.sh, cached outside the clone),
#   4. the dashboard's front-end libraries from npm (frontend/vendor.sh, when its lock file changes),
#   5. Debian's PostgreSQL server binaries (the scaled deployment's store; its tests run a throwaway
#      cluster with initdb), installed with apt-get when no initdb is found.
#
#   TELEMETRON_PYTHON     interpreter for a new .venv (default: python3.11, else python3; 3.11+)
#   TELEMETRON_CACHE_DIR  cache root for the Collector and Kafka (default ~/.cache/telemetron)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.telemetron-install-stamp"

if [[ ! -x "$venv/bin/python" ]]; then
    python="${TELEMETRON_PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
    [[ -n "$python" ]] || { echo "bootstrap.sh: no python3 found (Python 3.11+ is needed)" >&2; exit 1; }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        { echo "bootstrap.sh: $python is older than 3.11" >&2; exit 1; }
    echo "bootstrap.sh: creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi

constraints="$repo/deploy/local/constraints.txt"
want="$(sha256sum "$repo/pyproject.toml" "$constraints" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "bootstrap.sh: installing the project into $venv (pyproject.toml or constraints.txt changed)" >&2
    (cd "$repo" && "$venv/bin/python" -m pip install --disable-pip-version-check -q -c "$constraints" -e '.[server,dev]')
    echo "$want" >"$stamp"
fi

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "bootstrap.sh: installing Debian's postgresql (initdb, postgres) for the PostgreSQL store" >&2
    apt-get update
    apt-get install -y postgresql
fi

vendor="$repo/oracle_api/telemetron_oracle_api/static/vendor"
want="$(sha256sum "$repo/frontend/package-lock.json" "$repo/frontend/vendor.sh" | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$vendor/.stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "bootstrap.sh: vendoring the dashboard's libraries from npm (frontend/vendor.sh)" >&2
    bash "$repo/frontend/vendor.sh"
    echo "$want" >"$vendor/.stamp"
fi

collector="$(bash "$repo/deploy/local/build_collector.sh")"
kafka_libs="$(bash "$repo/deploy/local/fetch_kafka.sh")"
echo "bootstrap.sh: ready (python $venv/bin/python, collector $collector, kafka $kafka_libs)" >&2
