#!/usr/bin/env bash
# The project's test command: bootstrap, make sure a Chromium exists for the browser tests,
# then run pytest from the repository root with any arguments given. Without arguments (the whole
# suite, as CI runs it) it then also runs the agent-side tests at both ends of the agent side's
# declared version ranges (deploy/local/test_agent_versions.sh, cached venvs).
#
#   deploy/local/test.sh                  # everything, as CI
#   deploy/local/test.sh -q
#   deploy/local/test.sh tests/test_stack.py -x
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

bash "$repo/deploy/local/bootstrap.sh"

if [[ ! -x /usr/bin/chromium ]]; then
    echo "test.sh: installing Debian's chromium for the browser tests" >&2
    apt-get update
    apt-get install -y chromium
fi

cd "$repo"
if [[ $# -gt 0 ]]; then
    exec "$repo/.venv/bin/python" -m pytest "$@"
fi
status=0
"$repo/.venv/bin/python" -m pytest || status=$?
bash "$repo/deploy/local/test_agent_versions.sh" || status=1
exit $status
