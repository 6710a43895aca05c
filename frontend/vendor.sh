#!/usr/bin/env bash
# Copy the dashboard's front-end libraries from npm into the package's static folder.
# The dashboard loads them from there (never from a CDN): users' browsers may have no internet.
# deploy/local/bootstrap.sh runs it whenever package-lock.json changes; static/vendor/ is not
# committed (only our own sources are), so commit package.json and package-lock.json only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../oracle_api/telemetron_oracle_api/static/vendor"
cd "$here"
if [ -f package-lock.json ]; then npm ci --ignore-scripts --no-audit --no-fund >&2; else npm install --ignore-scripts --no-audit --no-fund >&2; fi
mkdir -p "$out"
cp node_modules/preact/dist/preact.mjs "$out/preact.mjs"
cp node_modules/preact/hooks/dist/hooks.mjs "$out/preact-hooks.mjs"
cp node_modules/htm/dist/htm.mjs "$out/htm.mjs"
cp node_modules/uplot/dist/uPlot.esm.js "$out/uplot.mjs"
cp node_modules/uplot/dist/uPlot.min.css "$out/uplot.css"
cp node_modules/preact/LICENSE "$out/LICENSE.preact"
cp node_modules/htm/LICENSE "$out/LICENSE.htm"
cp node_modules/uplot/LICENSE "$out/LICENSE.uplot"
{
  echo "Vendored by frontend/vendor.sh from npm; do not edit."
  for p in preact htm uplot; do node -e "const p=require('./node_modules/$p/package.json');console.log(p.name+'@'+p.version)"; done
} > "$out/VERSIONS"
echo "vendored into $out:" >&2; cat "$out/VERSIONS" >&2
