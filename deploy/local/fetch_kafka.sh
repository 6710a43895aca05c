#!/usr/bin/env bash
# Fetches the Kafka broker's jars (deploy/kafka/pom.xml's runtime dependencies) from Maven
# Central into a cache keyed by the POM's sha256, and prints the libs directory. A no-op
# when the jars are already there.
#
#   TELEMETRON_CACHE_DIR  cache root (default ~/.cache/telemetron)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${TELEMETRON_CACHE_DIR:-$HOME/.cache/telemetron}"
pom="$repo/deploy/kafka/pom.xml"

hash="$(sha256sum "$pom" | cut -d' ' -f1)"
out_dir="$cache/kafka/$hash"
libs="$out_dir/libs"

if [[ -f "$out_dir/complete" ]]; then
    echo "$libs"
    exit 0
fi

command -v mvn >/dev/null || { echo "fetch_kafka.sh: 'mvn' not found on PATH (apt-get install maven)" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch_kafka.sh: 'java' not found on PATH (Kafka 4 needs Java 17+)" >&2; exit 1; }

mkdir -p "$cache/kafka"
exec 9>"$cache/kafka/.lock"
flock 9
if [[ -f "$out_dir/complete" ]]; then
    echo "$libs"
    exit 0
fi
# Holding the lock, no other fetch runs: whatever temp dirs exist were left by a killed one.
rm -rf "$cache/kafka"/.tmp-*

# Copy into a temp dir and rename it into place: an interrupted fetch leaves nothing behind.
work="$(mktemp -d "$cache/kafka/.tmp-$hash-XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "fetch_kafka.sh: fetching Kafka jars from Maven Central" >&2
mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$work/libs" >&2
ls "$work/libs"/kafka_2.13-*.jar >/dev/null 2>&1 ||
    { echo "fetch_kafka.sh: no kafka_2.13 jar in $work/libs" >&2; exit 1; }
cp "$pom" "$work/pom.xml"
touch "$work/complete"
rm -rf "$out_dir"
mv -T "$work" "$out_dir"
echo "$libs"
