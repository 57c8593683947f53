#!/usr/bin/env bash
# nodeagent's main job on a fresh Debian/Ubuntu machine with Node.js 20, as root:
#   bash scripts/start.sh [--api] [--duration SECONDS] [--keep-runtime]
# Installs what it needs (npm packages; Debian's containerd, runc, CNI plugins,
# registry, image tools), brings up a private containerd with a local registry and
# test images, then runs the agent standalone on the example static pods in
# examples/manifests (a web server with startup/liveness/readiness probes, a
# sidecar, a crash-looping pod, an init container), showing their progress.
# With --api it also starts a local API server (testkit's nodeagent-dev-cluster on
# 127.0.0.1:6443) and runs the agent in API-server mode: the Node registers, static
# pods get mirror pods, and pods created with kubectl run on this node.
# Ctrl-C (or the end of --duration) stops the agent, which leaves pods running like
# a kubelet; then the runtime is torn down (pods included) unless --keep-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
keep=0
duration=0
api=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-runtime) keep=1 ;;
    --api) api=1 ;;
    --duration) duration="$2"; shift ;;
    *) echo "usage: $0 [--api] [--duration SECONDS] [--keep-runtime]" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

env_lines=$(bash packages/testkit/scripts/runtime/up.sh)
eval "export $(printf '%s\n' "$env_lines" | grep -E '^NODEAGENT_[A-Z0-9_]+=' | tr '\n' ' ')"
cleanup() {
  [ "$keep" = 1 ] || bash packages/testkit/scripts/runtime/down.sh --keep-images >/dev/null
}
trap cleanup EXIT

# The example manifests name images in the local registry (127.0.0.1:5000).
manifests="$NODEAGENT_RUNTIME_DIR/manifests"
mkdir -p "$manifests"
for f in examples/manifests/*.yaml; do
  sed "s#127.0.0.1:5000/#$NODEAGENT_REGISTRY/#g" "$f" > "$manifests/$(basename "$f")"
done
config="$NODEAGENT_RUNTIME_DIR/nodeagent.yaml"
cat > "$config" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $manifests
containerRuntimeEndpoint: $NODEAGENT_CRI_ENDPOINT
cgroupRoot: $NODEAGENT_CGROUP_ROOT
podLogsDir: $NODEAGENT_POD_LOG_DIR
# Demo: leave the host firewall alone (the kubelet default, true, adds iptables chains).
makeIPTablesUtilChains: false
# The node API (auth-server) on loopback only, for this demo.
address: 127.0.0.1
logging:
  format: text
YAML

# The demo leaves the host's kernel tunables alone: the agent checks and sets them in
# a stand-in for /proc/sys (on a real node it sets them, as the kubelet does).
sysctl_root="$NODEAGENT_RUNTIME_DIR/proc-sys"
for t in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  mkdir -p "$sysctl_root/$(dirname "$t")"
  cat "/proc/sys/$t" > "$sysctl_root/$t"
done
export NODEAGENT_SYSCTL_ROOT="$sysctl_root"

api_flags=()
if [ "$api" = 1 ]; then
  cluster_dir="$NODEAGENT_RUNTIME_DIR/dev-cluster"
  node packages/testkit/bin/nodeagent-dev-cluster.js --port 6443 --dir "$cluster_dir" --node demo-node &
  cluster=$!
  for _ in $(seq 1 50); do [ -f "$cluster_dir/node-demo-node.kubeconfig" ] && break; sleep 0.2; done
  api_flags=(--kubeconfig "$cluster_dir/node-demo-node.kubeconfig" --hostname-override demo-node --node-ip 127.0.0.1)
  cleanup_cluster() { kill -TERM "$cluster" 2>/dev/null || true; }
  trap 'cleanup_cluster; cleanup' EXIT
  cat <<INFO
nodeagent: API server https://127.0.0.1:6443; with kubectl:  kubectl --kubeconfig $cluster_dir/admin.kubeconfig get nodes,pods -A -o wide
nodeagent: create pods with spec.nodeName: demo-node (kubectl create -f … --validate=false)
INFO
fi

cat <<INFO
nodeagent: static pods from $manifests (edit, add or remove files there while it runs)
nodeagent: in another terminal:  node apps/agent/dist/cli.js pods --runtime-endpoint $NODEAGENT_CRI_ENDPOINT
INFO
# As the systemd unit does: a small young generation keeps RSS close to the live heap.
NODE_OPTIONS=--max-semi-space-size=4 node apps/agent/dist/cli.js --config "$config" --root-dir "$NODEAGENT_RUNTIME_DIR/agent" "${api_flags[@]}" &
agent=$!
trap 'kill -TERM $agent 2>/dev/null || true' INT TERM
if [ "$duration" -gt 0 ]; then
  ( sleep "$duration"; kill -TERM $agent 2>/dev/null || true ) &
fi
wait $agent || true
wait $agent 2>/dev/null || true
echo
node apps/agent/dist/cli.js pods --runtime-endpoint "$NODEAGENT_CRI_ENDPOINT" || true
if [ "$keep" = 1 ]; then
  echo "runtime and pods left running: set -a; . $NODEAGENT_RUNTIME_DIR/env; set +a — stop with npm run runtime:down"
fi
