#!/usr/bin/env bash
# Builds Telemetron's Collector from collector-config/manifest.yaml with the OpenTelemetry
# Collector Builder and prints the binary's path. The binary is cached outside the clone,
# keyed by the manifest's sha256, so a second run is a no-op; a first build takes minutes.
#
#   TELEMETRON_CACHE_DIR  cache root (default ~/.cache/telemetron)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${TELEMETRON_CACHE_DIR:-$HOME/.cache/telemetron}"
manifest="$repo/collector-config/manifest.yaml"
name="otelcol-telemetron"

hash="$(sha256sum "$manifest" | cut -d' ' -f1)"
out_dir="$cache/otelcol/$hash"
binary="$out_dir/$name"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi

go_bin="$(command -v go)" || { echo "build_collector.sh: 'go' not found on PATH (Go 1.25+ is needed)" >&2; exit 1; }

# The builder's release is the core release the manifest pins (one source of truth).
builder_version="$(grep -m1 -oE 'go\.opentelemetry\.io/collector/receiver/otlpreceiver v[0-9][^ ]*' "$manifest" | cut -d' ' -f2)"
[[ -n "$builder_version" ]] || { echo "build_collector.sh: no core version found in $manifest" >&2; exit 1; }

mkdir -p "$cache/otelcol" "$cache/ocb"
# One build at a time (a demo and a test session may start together); the loser of the
# race finds the winner's binary after taking the lock.
exec 9>"$cache/otelcol/.lock"
flock 9
if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi
# Holding the lock, no other build runs: whatever temp dirs exist were left by a killed build.
rm -rf "$cache/otelcol"/.tmp-* "$cache/ocb"/.tmp-*

# Never download another Go toolchain: use the one installed.
export GOTOOLCHAIN=local

builder="$cache/ocb/$builder_version/builder"
if [[ ! -x "$builder" ]]; then
    echo "build_collector.sh: installing builder $builder_version" >&2
    gobin="$(mktemp -d "$cache/ocb/.tmp-XXXXXX")"
    GOBIN="$gobin" "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2
    rm -rf "$cache/ocb/$builder_version"
    mv -T "$gobin" "$cache/ocb/$builder_version"
fi

# Build in a temp dir beside the target and rename it into place, so an interrupted build
# never leaves a half-written binary under the cache key.
work="$(mktemp -d "$cache/otelcol/.tmp-$hash-XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The builder's module step ends in a bare `go mod download` of every module in go.mod,
# including Windows-only ones (e.g. pkg/winperfcounters) whose .info the proxy mirror
# answers 404 although their .mod and .zip are there. The builder runs the Go binary named
# in dist.go: give it a shim that skips only that command; the `go mod tidy` before it and
# the `go build` after it still fetch and verify every module the Linux binary needs.
printf '#!/usr/bin/env bash\nif [[ "$*" == "mod download" ]]; then exit 0; fi\nexec %q "$@"\n' \
    "$go_bin" >"$work/go"
chmod +x "$work/go"

# The builder takes the output path and the Go binary only from its config: write a copy.
sed "s|^dist:\$|dist:\n  output_path: $work/dist\n  go: $work/go|" "$manifest" >"$work/manifest.yaml"
grep -q "output_path: $work/dist" "$work/manifest.yaml" ||
    { echo "build_collector.sh: no top-level 'dist:' line in $manifest" >&2; exit 1; }

echo "build_collector.sh: building $name (manifest $hash); a first build takes minutes" >&2
start=$SECONDS
"$builder" --config "$work/manifest.yaml" >&2
[[ -x "$work/dist/$name" ]] || { echo "build_collector.sh: builder produced no $work/dist/$name" >&2; exit 1; }

mkdir -p "$work/final"
mv "$work/dist/$name" "$work/final/$name"
cp "$manifest" "$work/final/manifest.yaml"
rm -rf "$out_dir"
mv -T "$work/final" "$out_dir"
echo "build_collector.sh: built in $((SECONDS - start))s" >&2
echo "$binary"
