#!/usr/bin/env bash
# Tear down everything scripts/runtime/up.sh created, leaving nothing behind:
# pod sandboxes and containers (over CRI, so CNI releases addresses and hostPort
# rules), containerd, leftover shims of OUR containerd (matched by their
# `-address <our socket>` argument or a working directory in our state dir, never
# another containerd's), mounts under the private dir (deepest first), netns,
# the bridge and its veths, our iptables rules, the registry, CNI cache files of
# our pods, and the private dir. Restores net.ipv4.ip_forward if the bridge plugin
# turned it on. Idempotent: with nothing up it succeeds and does nothing.
#
# usage: scripts/runtime/down.sh [--keep-images] [--verbose|-v] [--quiet|-q]
#   --keep-images  keep $NODEAGENT_RUNTIME_DIR/registry (storage) and /images
#                  (OCI layouts) so the next up.sh needs no rebuild or push
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEEP_IMAGES=0
for arg in "$@"; do
  case $arg in
    --keep-images) KEEP_IMAGES=1 ;;
    -v | --verbose) NA_VERBOSE=1 ;;
    -q | --quiet) NA_QUIET=1 ;;
    -h | --help)
      sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[[ $EUID -eq 0 ]] || die "must run as root"

T0=$(date +%s%N)
HAD_DIR=0
[[ -d $NA_DIR ]] && HAD_DIR=1
if ((HAD_DIR)); then
  take_lock
  load_recorded_env
fi

# What the host looked like before the first up.sh (unknown -> leave it alone).
PRE_IP_FORWARD=1 PRE_RUN_CONTAINERD=1 PRE_VAR_LIB_CNI=1 PRE_CGROUP_K8SIO=1 PRE_CNI_HOSTPORT=1
if [[ -r $NA_PRE_FILE ]]; then
  while IFS='=' read -r k v; do
    if [[ $k =~ ^PRE_[A-Z_]+$ && $v =~ ^[01]$ ]]; then printf -v "$k" '%s' "$v"; fi
  done <"$NA_PRE_FILE"
fi

TASK_DIR=$NA_STATE/io.containerd.runtime.v2.task

# our_shims: containerd-shim processes of OUR containerd.
our_shims() {
  local p cwd
  {
    pids_matching " -address $NA_SOCK "
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [[ $(readlink "/proc/$p/exe" 2>/dev/null) == */containerd-shim* ]] || continue
      cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue
      if [[ $cwd == "$NA_DIR"/* ]]; then echo "$p"; fi
    done
  } | sort -un
}

# sandbox/container ids known to our containerd's state (for cache-file cleanup)
our_ids() {
  local d
  for d in "$TASK_DIR"/*/* "$NA_STATE"/io.containerd.grpc.v1.cri/sandboxes/* \
    "$NA_ROOT"/io.containerd.grpc.v1.cri/sandboxes/* "$NA_ROOT"/io.containerd.grpc.v1.cri/containers/*; do
    if [[ -d $d ]]; then basename "$d"; fi
  done | sort -u
}

# ------------------------------------------------------ pods and containers ---
cri_cleanup() {
  command -v node >/dev/null || return 1
  local out
  if out=$(node "$NA_SCRIPT_DIR/cri.mjs" --endpoint "unix://$NA_SOCK" --timeout 60000 teardown-all 2>&1); then
    vlog "CRI teardown: $out"
  else
    warn "CRI teardown failed (falling back to ctr): $out"
    return 1
  fi
}

ctr_cleanup() {
  local ns t c
  for ns in $(ctr_cmd namespaces ls -q 2>/dev/null); do
    for t in $(ctr_cmd -n "$ns" tasks ls -q 2>/dev/null); do
      ctr_cmd -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
    for t in $(ctr_cmd -n "$ns" tasks ls -q 2>/dev/null); do
      CTR_TIMEOUT=20 ctr_cmd -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
    done
    for c in $(ctr_cmd -n "$ns" containers ls -q 2>/dev/null); do
      ctr_cmd -n "$ns" containers delete "$c" >/dev/null 2>&1 || true
    done
  done
}

if ((HAD_DIR)); then
  IDS=$(our_ids)
  mapfile -t SHIMS < <(our_shims)
  if ! containerd_pid >/dev/null && ((${#SHIMS[@]})) && [[ -f $NA_CONF ]]; then
    # pods outlived containerd: bring it back briefly so CRI tears them down properly
    log "containerd is down but ${#SHIMS[@]} shim(s) run: starting it to remove the pods"
    (start_containerd) || warn "could not start containerd; killing the shims instead"
  fi
  if containerd_pid >/dev/null && containerd_answers; then
    log "removing pod sandboxes and containers"
    cri_cleanup || true
    ctr_cleanup
  fi
  stop_containerd

  # ------------------------------------------------------------------ shims ---
  mapfile -t SHIMS < <(our_shims)
  if ((${#SHIMS[@]})); then
    mapfile -t KIDS < <(descendants "${SHIMS[@]}")
    log "killing ${#SHIMS[@]} leftover shim(s) of our containerd and ${#KIDS[@]} process(es) under them"
    ((${#KIDS[@]})) && kill -KILL "${KIDS[@]}" 2>/dev/null || true
    kill -KILL "${SHIMS[@]}" 2>/dev/null || true
    wait_gone 10 "${SHIMS[@]}" ${KIDS[@]+"${KIDS[@]}"} || warn "some shim processes survived SIGKILL: ${SHIMS[*]}"
  fi
  # shim sockets live in /run/containerd/s/ whatever the config says (containerd 1.6);
  # each bundle's `address` file names its socket
  for a in "$TASK_DIR"/*/*/address; do
    [[ -f $a ]] || continue
    read -r addr <"$a" || true
    addr=${addr#unix://}
    if [[ $addr == /run/containerd/s/* && -S $addr ]]; then rm -f "$addr"; fi
  done

  # ----------------------------------------------------------------- mounts ---
  mounts_under_dir() {
    local mp
    while read -r _ _ _ _ mp _; do
      mp=$(printf '%b' "$mp")
      [[ $mp == "$NA_DIR"/* || $mp == "$NA_DIR" ]] && printf '%s %s\n' "${#mp}" "$mp"
    done </proc/self/mountinfo | sort -rn | cut -d' ' -f2-
  }
  for pass in 1 2 3 4 5; do
    mapfile -t MOUNTS < <(mounts_under_dir | grep -vx "$NA_DIR" || true)
    ((${#MOUNTS[@]})) || break
    ((pass > 1)) || log "unmounting ${#MOUNTS[@]} mount(s) under $NA_DIR"
    for m in "${MOUNTS[@]}"; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  mapfile -t MOUNTS < <(mounts_under_dir | grep -vx "$NA_DIR" || true)
  ((${#MOUNTS[@]} == 0)) || warn "still mounted under $NA_DIR: ${MOUNTS[*]}"
fi

# ---------------------------------------------------------------- network ---
if ip link show dev "$NA_BRIDGE" >/dev/null 2>&1; then
  for v in $(ip -o link show master "$NA_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null || true
  done
  log "deleting bridge $NA_BRIDGE"
  ip link del "$NA_BRIDGE" 2>/dev/null || warn "could not delete bridge $NA_BRIDGE"
fi

for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  rule=(FORWARD -i "$NA_BRIDGE" ! -o "$NA_BRIDGE" -m comment --comment "nodeagent-rt $NA_DIR" -j DROP)
  while "$ipt" -w 5 -C "${rule[@]}" 2>/dev/null; do "$ipt" -w 5 -D "${rule[@]}" || break; done
  # hostPort rules the portmap plugin left for pods of our network (pods not torn down by CNI)
  while read -r line; do
    [[ -n $line ]] || continue
    chain=${line##*-j }
    eval "$ipt -w 5 -t nat -D ${line#-A }" 2>/dev/null || true
    [[ $chain == CNI-DN-* ]] && { "$ipt" -w 5 -t nat -F "$chain" && "$ipt" -w 5 -t nat -X "$chain"; } 2>/dev/null || true
  done < <("$ipt" -w 5 -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -F "dnat name: \\\"$NA_CNI_NETWORK\\\"" || true)
  # the shared portmap chains, if up.sh's first run found none and nobody else uses them now
  if [[ $PRE_CNI_HOSTPORT == 0 ]] && "$ipt" -w 5 -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 &&
    ! "$ipt" -w 5 -t nat -S CNI-HOSTPORT-DNAT | grep -q '^-A'; then
    for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
      while read -r line; do
        [[ -n $line ]] && { eval "$ipt -w 5 -t nat -D ${line#-A }" 2>/dev/null || true; }
      done < <("$ipt" -w 5 -t nat -S | grep -E -- "-j $chain\$" | grep -v "^-A $chain " || true)
    done
    for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
      "$ipt" -w 5 -t nat -F "$chain" 2>/dev/null || true
      "$ipt" -w 5 -t nat -X "$chain" 2>/dev/null || true
    done
  fi
done

if ((HAD_DIR)); then
  # libcni caches results in /var/lib/cni/results/<network>-<id>-<ifname>
  for id in $IDS; do
    rm -f /var/lib/cni/results/"$NA_CNI_NETWORK-$id"-* /var/lib/cni/results/cni-loopback-"$id"-*
  done
fi

# --------------------------------------------------------------- registry ---
stop_registry

# ------------------------------------------------------- host-wide leftovers ---
if [[ $PRE_IP_FORWARD == 0 && $(cat /proc/sys/net/ipv4/ip_forward) == 1 ]]; then
  vlog "restoring net.ipv4.ip_forward=0 (the bridge plugin turned it on)"
  echo 0 >/proc/sys/net/ipv4/ip_forward || warn "could not reset net.ipv4.ip_forward"
fi
# cgroups: pods under $NA_CGROUP_ROOT (the harness's suggestion) and containerd's default
# /k8s.io parent (when it did not exist before); rmdir only removes empty ones.
for d in /sys/fs/cgroup/*"$NA_CGROUP_ROOT" /sys/fs/cgroup"$NA_CGROUP_ROOT"; do
  [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
done
if [[ $PRE_CGROUP_K8SIO == 0 ]]; then
  for d in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
fi
if [[ $PRE_RUN_CONTAINERD == 0 ]]; then
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true
fi
if [[ $PRE_VAR_LIB_CNI == 0 ]]; then
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
fi

# ------------------------------------------------------------ private dir ---
if ((HAD_DIR)); then
  if ((KEEP_IMAGES)); then
    log "removing $NA_DIR (keeping registry/ and images/)"
    for e in "$NA_DIR"/* "$NA_DIR"/.[!.]*; do
      [[ -e $e || -L $e ]] || continue
      case ${e##*/} in registry | images | .lock) continue ;; esac
      rm -rf --one-file-system "$e" || warn "could not remove $e"
    done
  else
    log "removing $NA_DIR"
    rm -rf --one-file-system "$NA_DIR" || warn "could not remove all of $NA_DIR"
  fi
fi
log "down in $((($(date +%s%N) - T0) / 1000000)) ms"
