#!/usr/bin/env bash
# Writes deploy/local/constraints.txt: the exact version of every package in .venv, which
# bootstrap.sh then installs with `pip install -c`, so CI and the demo get the tested versions.
# Run it after changing pyproject.toml's dependencies, once the test suite passes in .venv:
#
#   bash deploy/local/lock.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
{
    echo "# Exact versions for 'pip install -e .[server,dev]' (deploy/local/bootstrap.sh installs with -c)."
    echo "# Written by deploy/local/lock.sh from a venv where the suite passed; do not edit by hand."
    echo "# The agent side ('pip install .', for users) is not constrained: it declares version ranges."
    "$repo/.venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | LC_ALL=C sort -f
} >"$repo/deploy/local/constraints.txt.new"
mv "$repo/deploy/local/constraints.txt.new" "$repo/deploy/local/constraints.txt"
echo "lock.sh: wrote $(grep -vc '^#' "$repo/deploy/local/constraints.txt") pins to deploy/local/constraints.txt" >&2
