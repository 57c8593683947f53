#!/usr/bin/env bash
# End-to-end check of a running harness (after up.sh), over CRI with cri.mjs:
#   pull busybox; a host-network pod running httpd on 127.0.0.1 (HTTP + ExecSync +
#   stats + events); a pod on the CNI bridge (IP in the subnet, no default route,
#   HTTP to the pod IP, hostPort through portmap on 127.0.0.1); tear both down.
# Traffic goes only to 127.0.0.1 and to the pod's own address on our bridge.
#
# usage: scripts/runtime/smoke.sh [--keep]   (--keep: leave the pods running)
# Needs node and the repo's node_modules (protobufjs). Exit 0 when all checks pass.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENV_FILE=${NODEAGENT_RUNTIME_DIR:-/tmp/nodeagent-rt}/env
[[ -r $ENV_FILE ]] || {
  echo "smoke: no $ENV_FILE: run scripts/runtime/up.sh first" >&2
  exit 2
}
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a
KEEP=0
[[ ${1:-} == --keep ]] && KEEP=1

HOST_PORT=${SMOKE_HOST_PORT:-18080}
MAPPED_PORT=${SMOKE_MAPPED_PORT:-18081}
cri() { node "$HERE/cri.mjs" "$@"; }
# jget JSON EXPR: evaluate a JS expression on the parsed JSON (bound to `r`)
jget() { node -e 'const r=JSON.parse(process.argv[1]); const v=eval(process.argv[2]); console.log(typeof v==="string"?v:JSON.stringify(v))' "$1" "$2"; }
ok() { printf 'smoke: ok   %s\n' "$*" >&2; }
bad() {
  printf 'smoke: FAIL %s\n' "$*" >&2
  FAILED=$((FAILED + 1))
}
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
FAILED=0
PASSED=0
check() { # NAME CMD...
  local name=$1
  shift
  if "$@"; then
    ok "$name"
    PASSED=$((PASSED + 1))
  else bad "$name"; fi
}

t=$(date +%s%N)
cri wait-ready >/dev/null
ok "runtime ready ($(ms "$t") ms)"

t=$(date +%s%N)
cri PullImage "{\"image\":{\"image\":\"$NODEAGENT_BUSYBOX_IMAGE\"}}" >/dev/null
check "PullImage $NODEAGENT_BUSYBOX_IMAGE ($(ms "$t") ms)" true

# NB: no hostname for host-network pods: containerd 1.6 then shares the host's UTS
# namespace and runc fails with "unable to set hostname without a private UTS namespace".
sandbox_config() { # NAME NETWORK(NODE|POD) EXTRA_JSON
  cat <<EOF
{"metadata":{"name":"$1","uid":"smoke-$1-uid","namespace":"nodeagent-smoke","attempt":0},
 $([[ $2 == NODE ]] || echo "\"hostname\":\"$1\",")"logDirectory":"$NODEAGENT_POD_LOG_DIR/smoke-$1",
 "linux":{"cgroupParent":"$NODEAGENT_CGROUP_ROOT/smoke-$1",
          "securityContext":{"namespaceOptions":{"network":"$2","pid":"CONTAINER","ipc":"POD"}}}
 $3}
EOF
}

run_pod() { # NAME NETWORK EXTRA -> sandbox id
  local cfg
  cfg=$(sandbox_config "$@")
  mkdir -p "$NODEAGENT_POD_LOG_DIR/smoke-$1"
  jget "$(cri RunPodSandbox "{\"config\":$cfg}")" r.podSandboxId
}

run_ctr() { # SANDBOX_ID POD_NAME POD_NET POD_EXTRA CTR_NAME CMD_JSON -> container id
  local cfg ctr id
  cfg=$(sandbox_config "$2" "$3" "$4")
  ctr="{\"metadata\":{\"name\":\"$5\",\"attempt\":0},\"image\":{\"image\":\"$NODEAGENT_BUSYBOX_IMAGE\"},
        \"command\":$6,\"logPath\":\"$5.log\",\"linux\":{}}"
  id=$(jget "$(cri CreateContainer "{\"podSandboxId\":\"$1\",\"config\":$ctr,\"sandboxConfig\":$cfg}")" r.containerId)
  cri StartContainer "{\"containerId\":\"$id\"}" >/dev/null
  echo "$id"
}

wait_http() { # URL EXPECT
  local i body
  for i in $(seq 1 50); do
    body=$(curl -fsS --max-time 2 "$1" 2>/dev/null) && [[ $body == *"$2"* ]] && return 0
    sleep 0.1
  done
  return 1
}

# --------------------------------------------------------- host-network pod ---
t=$(date +%s%N)
HOST_POD=$(run_pod host NODE "")
ok "RunPodSandbox host network ($(ms "$t") ms): ${HOST_POD:0:12}"
t=$(date +%s%N)
WEB=$(run_ctr "$HOST_POD" host NODE "" web "[\"httpd\",\"-f\",\"-p\",\"127.0.0.1:$HOST_PORT\",\"-h\",\"/var/www\"]")
ok "Create+StartContainer ($(ms "$t") ms): ${WEB:0:12}"
check "httpd on 127.0.0.1:$HOST_PORT answers" wait_http "http://127.0.0.1:$HOST_PORT/" "nodeagent busybox"
r=$(cri ExecSync "{\"containerId\":\"$WEB\",\"cmd\":[\"sh\",\"-c\",\"id -u; cat /etc/passwd | grep -c nobody; ls /etc/nodeagent-busybox-2 2>/dev/null; exit 3\"],\"timeout\":5}")
check "ExecSync output and exit code" test "$(jget "$r" 'r.exitCode+"|"+r.stdout.replace(/\n/g," ")')" = "3|0 1 "
r=$(cri ContainerStats "{\"containerId\":\"$WEB\"}")
check "ContainerStats has memory" test "$(jget "$r" 'r.stats.memory.workingSetBytes.value > 0')" = true
if r=$(cri ListPodSandboxStats '{}' 2>&1); then
  check "ListPodSandboxStats answers ($(jget "$r" 'r.stats.length') pods)" true
else
  echo "smoke: note ListPodSandboxStats: $r" >&2
fi
if r=$(cri --timeout 800 GetContainerEvents '{}' 2>&1); then
  echo "smoke: note GetContainerEvents streamed: ${r:-nothing in 0.8 s}" >&2
else
  echo "smoke: note GetContainerEvents: $r" >&2
fi

# ----------------------------------------------------------- pod-network pod ---
t=$(date +%s%N)
PORTS=",\"portMappings\":[{\"protocol\":\"TCP\",\"containerPort\":80,\"hostPort\":$MAPPED_PORT,\"hostIp\":\"127.0.0.1\"}]"
NET_POD=$(run_pod net POD "$PORTS")
ok "RunPodSandbox pod network ($(ms "$t") ms): ${NET_POD:0:12}"
r=$(cri PodSandboxStatus "{\"podSandboxId\":\"$NET_POD\"}")
POD_IP=$(jget "$r" 'r.status.network.ip')
GW=$NODEAGENT_CNI_GATEWAY
check "pod IP $POD_IP is in $NODEAGENT_CNI_SUBNET" test "${POD_IP%.*}" = "${GW%.*}"
NWEB=$(run_ctr "$NET_POD" net POD "$PORTS" web '["httpd","-f","-p","80","-h","/var/www"]')
check "httpd on pod IP $POD_IP:80 answers" wait_http "http://$POD_IP:80/" "nodeagent busybox"
check "hostPort 127.0.0.1:$MAPPED_PORT -> pod :80 (portmap)" wait_http "http://127.0.0.1:$MAPPED_PORT/" "nodeagent busybox"
r=$(cri ExecSync "{\"containerId\":\"$NWEB\",\"cmd\":[\"sh\",\"-c\",\"ip -4 route; ip -4 addr show lo | grep -c 127.0.0.1\"],\"timeout\":5}")
ROUTES=$(jget "$r" 'r.stdout')
check "pod has no default route" bash -c '! grep -q "^default" <<<"$1"' _ "$ROUTES"
check "pod loopback is up" test "$(tail -n1 <<<"$ROUTES")" = 1
check "bridge $NODEAGENT_CNI_BRIDGE has $GW" bash -c "ip -4 addr show dev $NODEAGENT_CNI_BRIDGE | grep -q 'inet $GW/'"

if [[ $KEEP == 1 ]]; then
  echo "smoke: pods left running (--keep): $HOST_POD $NET_POD" >&2
else
  t=$(date +%s%N)
  for p in "$HOST_POD" "$NET_POD"; do
    cri StopPodSandbox "{\"podSandboxId\":\"$p\"}" >/dev/null
    cri RemovePodSandbox "{\"podSandboxId\":\"$p\"}" >/dev/null
  done
  check "Stop+RemovePodSandbox x2 ($(ms "$t") ms)" test "$(jget "$(cri ListPodSandbox '{}')" 'r.items.length')" = 0
  check "no containers left" test "$(jget "$(cri ListContainers '{}')" 'r.containers.length')" = 0
fi

echo "smoke: $PASSED passed, $FAILED failed" >&2
((FAILED == 0))
