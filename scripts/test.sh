#!/usr/bin/env bash
# The whole test suite, on a fresh Debian/Ubuntu machine with Node.js 20, as root:
#   bash scripts/test.sh
# Installs what it needs (npm packages; Debian's containerd, runc, CNI plugins,
# registry, image tools), checks generated code, builds, typechecks, lints, brings
# up the real runtime in a private directory, runs unit and integration tests, tears
# the runtime down, and ends with one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 NEXT_TELEMETRY_DISABLED=1
log() { printf '\n[test] %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund
fi

log "generated CRI code is up to date"
npm run --silent proto:check
log "build"
npm run --silent build
log "typecheck"
npm run --silent typecheck
log "lint"
npm run --silent lint

log "real runtime up (installs Debian packages when missing)"
bash packages/testkit/scripts/runtime/up.sh >/dev/null

rm -rf .test-results
status=0
log "unit and integration tests"
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json || status=$?

# The integration project's teardown already stopped the runtime; make sure.
bash packages/testkit/scripts/runtime/down.sh --keep-images >/dev/null 2>&1 || true

node scripts/test-summary.mjs .test-results/vitest.json || status=$?
exit "$status"
