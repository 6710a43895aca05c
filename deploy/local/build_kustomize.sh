#!/usr/bin/env bash
# Builds kustomize from the Go module proxy and prints the binary's path. The binary is cached
# outside the clone, keyed by its version, so a second run is a no-op; a first build takes about
# a minute. tests/test_deploy_k8s.py renders deploy/k8s/ with it.
#
#   TELEMETRON_CACHE_DIR  cache root (default ~/.cache/telemetron)
set -euo pipefail

# v5.8.2 pairs with sigs.k8s.io/kustomize/api v0.21.2, which builds with Go 1.26 (v5.8.3's does not).
version="v5.8.2"
cache="${TELEMETRON_CACHE_DIR:-$HOME/.cache/telemetron}"
out_dir="$cache/kustomize/$version"
binary="$out_dir/kustomize"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

go_bin="$(command -v go)" || { echo "build_kustomize.sh: 'go' not found on PATH (Go 1.25+ is needed)" >&2; exit 1; }

mkdir -p "$cache/kustomize"
# One build at a time; the loser of the race finds the winner's binary after taking the lock.
exec 9>"$cache/kustomize/.lock"
flock 9
if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi
rm -rf "$cache/kustomize"/.tmp-*

# Install into a temp dir beside the target and rename it into place, so an interrupted build
# never leaves a half-written binary under the cache key.
work="$(mktemp -d "$cache/kustomize/.tmp-$version-XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "build_kustomize.sh: installing kustomize $version from the Go module proxy" >&2
GOTOOLCHAIN=local GOBIN="$work" "$go_bin" install "sigs.k8s.io/kustomize/kustomize/v5@$version" >&2
[[ -x "$work/kustomize" ]] || { echo "build_kustomize.sh: go install produced no $work/kustomize" >&2; exit 1; }
rm -rf "$out_dir"
mv -T "$work" "$out_dir"
trap - EXIT
echo "$binary"
