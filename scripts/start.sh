#!/usr/bin/env bash
# nodeagent's main job on a fresh Debian/Ubuntu machine with Node.js 20, as root:
#   bash scripts/start.sh [--keep-runtime]
# Installs what it needs (npm packages; Debian's containerd, runc, CNI plugins,
# registry, image tools), brings up a private containerd with a local registry and
# test images, and runs the agent against it. At this stage of the project the
# "agent" is the cri-client demo (examples/cri-demo.ts); the full agent (apps/agent)
# takes over this command as it lands. The runtime is torn down afterwards unless
# --keep-runtime is given.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
keep=0
[ "${1:-}" = "--keep-runtime" ] && keep=1

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

env_lines=$(bash packages/testkit/scripts/runtime/up.sh)
eval "export $(printf '%s\n' "$env_lines" | grep -E '^NODEAGENT_[A-Z0-9_]+=' | tr '\n' ' ')"
cleanup() { [ "$keep" = 1 ] || bash packages/testkit/scripts/runtime/down.sh --keep-images >/dev/null; }
trap cleanup EXIT

npx tsx examples/cri-demo.ts
if [ "$keep" = 1 ]; then
  echo "runtime left running: export \$(cat $NODEAGENT_RUNTIME_DIR/env) to use it; stop with npm run runtime:down"
fi
