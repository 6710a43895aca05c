#!/usr/bin/env bash
# Proves both ends of the agent side's declared version ranges ([project].dependencies in
# pyproject.toml): for "lowest" (uv's --resolution lowest-direct) and "highest" it builds a
# virtualenv outside the clone, installs the agent side alone (no server extra) plus the tests'
# own needs, and runs the agent-side tests in it. Venvs are cached, keyed by the dependency
# ranges and the test requirements; a fresh resolve takes a minute or two.
#
#   deploy/local/test_agent_versions.sh            # both ends
#   deploy/local/test_agent_versions.sh lowest     # one end
#
#   TELEMETRON_CACHE_DIR   cache root (default ~/.cache/telemetron)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${TELEMETRON_CACHE_DIR:-$HOME/.cache/telemetron}/agent-versions"
python="$repo/.venv/bin/python"
[[ -x "$python" ]] || { echo "test_agent_versions.sh: run deploy/local/bootstrap.sh first" >&2; exit 1; }
ends=("${@:-lowest}")
[[ $# -gt 0 ]] || ends=(lowest highest)

tests=(
    tests/test_instrumentation_litellm.py
    tests/test_instrumentation_agents.py
    tests/test_instrumentation_configure.py
    tests/test_instrumentation_metrics.py
    tests/test_instrumentation_otlp_encoder.py
    tests/test_instrumentation_pending.py
    tests/test_instrumentation_zero_code.py
    tests/test_instrumentation_semconv.py
    tests/test_instrumentation_shutdown.py
    tests/test_instrumentation_span_attributes.py
)

uv_venv="$cache/uv-0.13.8"
if [[ ! -x "$uv_venv/bin/uv" ]]; then
    echo "test_agent_versions.sh: installing uv into $uv_venv" >&2
    "$python" -m venv "$uv_venv"
    "$uv_venv/bin/python" -m pip install --disable-pip-version-check -q uv==0.13.8
fi
uv="$uv_venv/bin/uv"

requirements="$cache/agent-requirements.txt"
mkdir -p "$cache"
"$python" - "$repo/pyproject.toml" >"$requirements" <<'PY'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))
PY
# Bump the recipe when the install steps below change; the test list does not need new venvs.
recipe="uv-0.13.8 compile-then-install 1"
key="$( (cat "$requirements" "$repo/deploy/local/agent-versions/test-requirements.txt"; echo "$recipe") |
    sha256sum | cut -c1-16)"

status=0
for end in "${ends[@]}"; do
    case "$end" in
        lowest) resolution=lowest-direct ;;
        highest) resolution=highest ;;
        *) echo "test_agent_versions.sh: unknown end '$end' (lowest or highest)" >&2; exit 2 ;;
    esac
    venv="$cache/venv-$end-$key"
    if [[ ! -f "$venv/.ready" ]]; then
        echo "test_agent_versions.sh: resolving the $end allowed versions into $venv" >&2
        rm -rf "$venv"
        "$uv" venv -q --python "$(readlink -f "$python")" "$venv"
        # The agent side is resolved alone, so the tests' own needs cannot move its versions.
        "$uv" pip compile -q --python "$venv/bin/python" --resolution "$resolution" "$requirements" \
            -o "$venv/agent-constraints.txt"
        VIRTUAL_ENV="$venv" "$uv" pip install -q -c "$venv/agent-constraints.txt" \
            -r "$requirements" -r "$repo/deploy/local/agent-versions/test-requirements.txt"
        touch "$venv/.ready"
    fi
    # The project itself from this checkout, on every run: the cached venv outlives the clone that
    # made it, and an editable install left pointing at another (or a deleted) clone tests old code.
    VIRTUAL_ENV="$venv" "$uv" pip install -q --no-deps -e "$repo"
    echo "test_agent_versions.sh: $end end:" \
        "$(VIRTUAL_ENV="$venv" "$uv" pip freeze 2>/dev/null |
            grep -Ei '^(litellm|mcp|httpx|opentelemetry-(api|sdk|instrumentation|instrumentation-httpx|instrumentation-aiohttp-client|semantic-conventions))==' |
            tr '\n' ' ')" >&2
    # The agent side alone: no server extra, so neither the repository's conftest (Collector, Kafka)
    # nor the oracle fixtures plugin are loaded.
    (cd "$repo" && "$venv/bin/python" -m pytest --noconftest -o addopts="" -p no:cacheprovider -q "${tests[@]}") ||
        status=1
done
exit $status
