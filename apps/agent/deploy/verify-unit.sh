#!/usr/bin/env bash
# Checks deploy/nodeagent.service with `systemd-analyze verify` (works without
# systemd running as init) and checks the sample config.yaml with the agent's own
# parser. Run from anywhere: bash apps/agent/deploy/verify-unit.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit="$here/nodeagent.service"

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "verify-unit: systemd-analyze is missing; installing Debian's systemd package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd >/dev/null
fi

# verify needs the ExecStart binary to exist; point a copy of the unit at a stand-in
# when nodeagent is not installed, so the check covers everything else.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$unit" "$work/nodeagent.service"
if [[ ! -x /usr/local/bin/nodeagent ]]; then
  printf '#!/bin/sh\nexit 0\n' >"$work/nodeagent"
  chmod +x "$work/nodeagent"
  sed -i "s#/usr/local/bin/nodeagent#$work/nodeagent#" "$work/nodeagent.service"
  echo "verify-unit: /usr/local/bin/nodeagent not installed; verifying with a stand-in binary"
fi

# Warnings about units this unit refers to (containerd.service is not installed
# everywhere) are printed but are not errors of this unit; anything about
# nodeagent.service itself is.
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$work/nodeagent.service" 2>&1 || true)
[[ -n "$out" ]] && echo "$out"
if grep -q 'nodeagent.service' <<<"$out"; then
  echo "verify-unit: FAILED — systemd-analyze reported problems in nodeagent.service" >&2
  exit 1
fi

# The properties that matter for pods surviving agent restarts and for journald.
for want in 'Type=exec' 'KillMode=process' 'Restart=always' 'RestartSec=10' \
  'ExecStart=/usr/local/bin/nodeagent --config /etc/nodeagent/config.yaml' \
  'After=containerd.service' 'StandardError=journal'; do
  grep -q "^${want}" "$unit" || { echo "verify-unit: FAILED — $want missing" >&2; exit 1; }
done

# The sample configuration must load with the agent's own parser.
if [[ -f "$here/../dist/config/kubelet-config.js" ]]; then
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    import { parseKubeletConfiguration } from '$here/../dist/config/kubelet-config.js';
    const { config } = parseKubeletConfiguration(readFileSync('$here/config.yaml', 'utf8'), 'config.yaml');
    console.log('verify-unit: config.yaml OK (staticPodPath=' + config.staticPodPath + ', runtime=' + config.containerRuntimeEndpoint + ')');
  "
else
  echo "verify-unit: FAILED — build the agent first (npx turbo run build --filter=@nodeagent/agent)" >&2
  exit 1
fi
echo "verify-unit: nodeagent.service OK"
