# shellcheck shell=bash
# Shared by up.sh, down.sh and restart-containerd.sh: settings, logging, process
# helpers, and containerd start/stop. Source it; it does not run anything itself.
#
# Settings (environment):
#   NODEAGENT_RUNTIME_DIR    private directory (default /tmp/nodeagent-rt)
#   NODEAGENT_REGISTRY_PORT  local registry port on 127.0.0.1 (default 5000)
#   NODEAGENT_CNI_BRIDGE     bridge name (default nodeagent0)
#   NODEAGENT_CNI_SUBNET     pod subnet, a /8../30 IPv4 CIDR (default 10.209.0.0/24)
#   NODEAGENT_RUNTIME_VERBOSE=1  show the output of every tool (same as --verbose)
#   NODEAGENT_CONTAINERD_TIMEOUT seconds to wait for containerd to answer (default 30)

set -euo pipefail

NA_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The testkit package root (scripts/runtime/ → ../..): images/ lives there.
NA_REPO_ROOT=$(cd "$NA_SCRIPT_DIR/../.." && pwd)

# containerd, runc, iptables... live in sbin on Debian; callers' PATH may lack it.
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

NA_VERBOSE=${NODEAGENT_RUNTIME_VERBOSE:-0}
NA_QUIET=0

log() { [[ $NA_QUIET == 1 ]] || printf 'nodeagent-rt: %s\n' "$*" >&2; }
vlog() { [[ $NA_VERBOSE != 1 ]] || printf 'nodeagent-rt: %s\n' "$*" >&2; }
warn() { printf 'nodeagent-rt: warning: %s\n' "$*" >&2; }
die() {
  printf 'nodeagent-rt: error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------- settings ---

NA_DIR=${NODEAGENT_RUNTIME_DIR:-/tmp/nodeagent-rt}
while [[ $NA_DIR == */ && $NA_DIR != / ]]; do NA_DIR=${NA_DIR%/}; done
[[ $NA_DIR == /* ]] || NA_DIR=$PWD/$NA_DIR
[[ $NA_DIR =~ ^/[A-Za-z0-9/._-]+$ && $NA_DIR != *//* && $NA_DIR != */./* && $NA_DIR != */../* ]] ||
  die "NODEAGENT_RUNTIME_DIR='$NA_DIR' must be an absolute path of [A-Za-z0-9/._-] characters"
case $NA_DIR in
  / | /tmp | /var | /var/tmp | /var/lib | /run | /usr | /etc | /root | /home | /opt | /srv | /work | /dev | /proc | /sys | /boot)
    die "NODEAGENT_RUNTIME_DIR='$NA_DIR' is a system directory; down.sh deletes it, pick a private one" ;;
esac

NA_SOCK=$NA_DIR/containerd.sock
# sun_path is 108 bytes including the NUL; containerd also creates $SOCK.ttrpc.
((${#NA_SOCK} + 6 <= 107)) ||
  die "socket path $NA_SOCK.ttrpc is longer than 107 bytes: use a shorter NODEAGENT_RUNTIME_DIR"

NA_REG_PORT=${NODEAGENT_REGISTRY_PORT:-5000}
[[ $NA_REG_PORT =~ ^[0-9]+$ ]] && ((NA_REG_PORT > 0 && NA_REG_PORT < 65536)) ||
  die "NODEAGENT_REGISTRY_PORT='$NA_REG_PORT' is not a port number"
NA_BRIDGE=${NODEAGENT_CNI_BRIDGE:-nodeagent0}
[[ $NA_BRIDGE =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "NODEAGENT_CNI_BRIDGE='$NA_BRIDGE' is not a valid interface name"
NA_SUBNET=${NODEAGENT_CNI_SUBNET:-10.209.0.0/24}
NA_CNI_NETWORK=nodeagent
NA_CNI_BIN_DIR=/usr/lib/cni
NA_CGROUP_ROOT=/nodeagent
NA_NAMESPACE=k8s.io

NA_CONF=$NA_DIR/containerd.toml
NA_CD_PIDFILE=$NA_DIR/containerd.pid
NA_CD_LOG=$NA_DIR/containerd.log
NA_ROOT=$NA_DIR/root
NA_STATE=$NA_DIR/state
NA_CNI_CONF_DIR=$NA_DIR/cni/net.d
NA_CNI_IPAM_DIR=$NA_DIR/cni/ipam
NA_REG_DIR=$NA_DIR/registry
NA_REG_CONF=$NA_REG_DIR/config.yml
NA_REG_PIDFILE=$NA_REG_DIR/registry.pid
NA_REG_LOG=$NA_REG_DIR/registry.log
NA_IMG_DIR=$NA_DIR/images
NA_LOG_DIR=$NA_DIR/logs
NA_POD_LOG_DIR=$NA_DIR/pod-logs
NA_ENV_FILE=$NA_DIR/env
NA_PRE_FILE=$NA_DIR/preexisting
NA_LOCK_FILE=$NA_DIR/.lock

derive_vars() {
  NA_REGISTRY=127.0.0.1:$NA_REG_PORT
  NA_PAUSE_IMAGE=$NA_REGISTRY/nodeagent/pause:1
  NA_BUSYBOX_IMAGE=$NA_REGISTRY/nodeagent/busybox:1
  NA_BUSYBOX2_IMAGE=$NA_REGISTRY/nodeagent/busybox:2
}
derive_vars

# Values recorded by up.sh win over the caller's environment for teardown, so
# down.sh removes what was actually created.
load_recorded_env() {
  [[ -r $NA_ENV_FILE ]] || return 0
  local k v
  while IFS='=' read -r k v; do
    case $k in
      NODEAGENT_CNI_BRIDGE) [[ $v =~ ^[A-Za-z0-9_.-]{1,15}$ ]] && NA_BRIDGE=$v ;;
      NODEAGENT_CNI_SUBNET) NA_SUBNET=$v ;;
      NODEAGENT_REGISTRY) [[ $v =~ ^127\.0\.0\.1:([0-9]+)$ ]] && NA_REG_PORT=${BASH_REMATCH[1]} ;;
    esac
  done <"$NA_ENV_FILE"
  derive_vars
}

# ------------------------------------------------------------------ running ---

# run_logged NAME CMD...: run quietly, output appended to $NA_LOG_DIR/NAME.log;
# on failure show the tail of that log.
run_logged() {
  local name=$1
  shift
  mkdir -p "$NA_LOG_DIR"
  local lf=$NA_LOG_DIR/$name.log
  printf '+ %s\n' "$*" >>"$lf"
  if [[ $NA_VERBOSE == 1 ]]; then
    "$@" 2>&1 | tee -a "$lf" >&2
    return "${PIPESTATUS[0]}"
  fi
  if ! "$@" >>"$lf" 2>&1 </dev/null; then
    printf 'nodeagent-rt: command failed: %s\n--- last lines of %s:\n' "$*" "$lf" >&2
    tail -n 25 "$lf" >&2
    return 1
  fi
}

take_lock() {
  mkdir -p "$NA_DIR"
  exec 9>>"$NA_LOCK_FILE"
  flock -w "${NODEAGENT_LOCK_TIMEOUT:-600}" 9 || die "another up/down is holding $NA_LOCK_FILE"
}

# ---------------------------------------------------------------- processes ---

# proc_cmdline PID: sets REPLY to the command line, arguments joined by spaces
# and followed by one space; fails for a vanished process or a zombie.
proc_cmdline() {
  REPLY=
  local -a a
  [[ -r /proc/$1/cmdline ]] || return 1
  { mapfile -d '' a <"/proc/$1/cmdline"; } 2>/dev/null || return 1
  ((${#a[@]})) || return 1
  printf -v REPLY '%s ' "${a[@]}"
}

# pid_matches PID SUBSTRING: the process is alive and its command line contains SUBSTRING.
pid_matches() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  proc_cmdline "$1" || return 1
  [[ $REPLY == *"$2"* ]]
}

# pids_matching SUBSTRING [first]: every live process whose command line contains
# SUBSTRING (only the first one with a second argument).
pids_matching() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    proc_cmdline "$p" || continue
    if [[ $REPLY == *"$1"* ]]; then
      echo "$p"
      [[ -z ${2:-} ]] || return 0
    fi
  done
  return 0
}

# descendants PID...: every descendant of the given processes (not themselves).
descendants() {
  local -A kids=()
  local p line rest ppid
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    read -r line <"/proc/$p/stat" 2>/dev/null || continue
    rest=${line##*) }
    read -r _ ppid _ <<<"$rest"
    kids[$ppid]+=" $p"
  done
  local -a queue=("$@")
  while ((${#queue[@]})); do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    for c in ${kids[$p]:-}; do
      echo "$c"
      queue+=("$c")
    done
  done
}

# wait_gone SECONDS PID...: wait until none of the processes is alive.
wait_gone() {
  local deadline=$((SECONDS + $1)) p alive
  shift
  while :; do
    alive=0
    for p in "$@"; do
      if [[ -e /proc/$p ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null; then alive=1; fi
    done
    ((alive)) || return 0
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# ---------------------------------------------------------------- containerd ---

# containerd_pid: prints the pid of OUR containerd (the one using our config).
# managed_pid PIDFILE COMMAND ARGS: the pid of our process running "COMMAND ARGS…",
# from its pid file when that pid still runs it, else found by command line (and
# written back to the pid file). Fails when none runs.
managed_pid() {
  local pidfile=$1 command=$2 args=$3 pid=
  [[ -r $pidfile ]] && read -r pid <"$pidfile" || true
  if [[ -n $pid ]] && pid_matches "$pid" "$args"; then
    echo "$pid"
    return 0
  fi
  pid=$(pids_matching "$command $args" first)
  [[ -n $pid ]] || return 1
  echo "$pid" >"$pidfile"
  echo "$pid"
}

containerd_pid() { managed_pid "$NA_CD_PIDFILE" containerd "--config $NA_CONF "; }

ctr_cmd() { timeout "${CTR_TIMEOUT:-10}" ctr --address "$NA_SOCK" "$@"; }

containerd_answers() {
  [[ -S $NA_SOCK ]] && CTR_TIMEOUT=5 ctr_cmd version >/dev/null 2>&1
}

containerd_cri_ok() {
  local out
  out=$(CTR_TIMEOUT=5 ctr_cmd plugins ls 2>/dev/null) || return 1
  grep -Eq '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]].*[[:space:]]ok[[:space:]]*$' <<<"$out"
}

start_containerd() {
  [[ -f $NA_CONF ]] || die "no containerd config at $NA_CONF: run scripts/runtime/up.sh first"
  local pid
  if pid=$(containerd_pid); then
    log "containerd already running (pid $pid)"
    return 0
  fi
  command -v containerd >/dev/null || die "containerd is not installed"
  mkdir -p "$NA_ROOT" "$NA_STATE" "$NA_DIR/tmp" "$NA_DIR/opt" "$NA_DIR/runc"
  rm -f "$NA_SOCK" "$NA_SOCK.ttrpc"
  log "starting containerd (log: $NA_CD_LOG)"
  printf '\n==== %s starting containerd\n' "$(date -Is)" >>"$NA_CD_LOG"
  local log_off
  log_off=$(stat -c %s "$NA_CD_LOG")
  # setsid: own session, so a caller's Ctrl-C or process-group kill does not take
  # it down; fd 9 (our lock) and the caller's stdout must not leak into it.
  (cd / && exec setsid containerd --config "$NA_CONF" </dev/null >>"$NA_CD_LOG" 2>&1 9>&-) &
  pid=$!
  if ! pid_matches "$pid" "containerd --config $NA_CONF "; then
    sleep 0.05
    pid_matches "$pid" "containerd --config $NA_CONF " || pid=$(pids_matching "containerd --config $NA_CONF " first)
  fi
  [[ -n $pid ]] || {
    tail -n 20 "$NA_CD_LOG" >&2
    die "containerd did not start; see $NA_CD_LOG"
  }
  echo "$pid" >"$NA_CD_PIDFILE"
  local timeout=${NODEAGENT_CONTAINERD_TIMEOUT:-30} deadline
  deadline=$((SECONDS + timeout))
  until containerd_answers; do
    if ! pid_matches "$pid" "containerd --config $NA_CONF "; then
      rm -f "$NA_CD_PIDFILE"
      tail -n 20 "$NA_CD_LOG" >&2
      die "containerd exited during startup; see $NA_CD_LOG"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$NA_CD_LOG" >&2
      die "containerd (pid $pid) did not answer on $NA_SOCK within ${timeout}s; see $NA_CD_LOG"
    fi
    sleep 0.05
  done
  containerd_cri_ok || {
    tail -n 20 "$NA_CD_LOG" >&2
    die "containerd is up but its CRI plugin is not ('ctr plugins ls' does not show cri ok); see $NA_CD_LOG"
  }
  # The CRI service answers "server is not initialized yet" until it has recovered
  # its pods; it logs "Start streaming server" right before it starts serving.
  until tail -c +$((log_off + 1)) "$NA_CD_LOG" | grep -q 'msg="Start streaming server"'; do
    if ((SECONDS >= deadline)); then
      tail -n 20 "$NA_CD_LOG" >&2
      die "containerd's CRI plugin did not finish initializing within ${timeout}s; see $NA_CD_LOG"
    fi
    sleep 0.05
  done
  log "containerd ready (pid $pid, socket $NA_SOCK)"
}

stop_containerd() {
  local pid
  if ! pid=$(containerd_pid); then
    rm -f "$NA_CD_PIDFILE"
    vlog "containerd not running"
    return 0
  fi
  log "stopping containerd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "${NODEAGENT_CONTAINERD_STOP_TIMEOUT:-15}" "$pid"; then
    warn "containerd (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 5 "$pid" || die "containerd (pid $pid) does not die"
  fi
  rm -f "$NA_CD_PIDFILE" "$NA_SOCK" "$NA_SOCK.ttrpc"
}

# ----------------------------------------------------------------- env file ---

subnet_gateway() { # a.b.c.d/n -> first host address
  local ip=${1%/*} a b c d
  IFS=. read -r a b c d <<<"$ip"
  local n=$(((a << 24 | b << 16 | c << 8 | d) + 1))
  echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"
}

env_lines() {
  local cpid rpid
  cpid=$(containerd_pid 2>/dev/null) || cpid=
  rpid=$(registry_pid 2>/dev/null) || rpid=
  cat <<EOF
NODEAGENT_RUNTIME_DIR=$NA_DIR
NODEAGENT_CRI_ENDPOINT=unix://$NA_SOCK
NODEAGENT_CRI_SOCKET=$NA_SOCK
NODEAGENT_CONTAINERD_NAMESPACE=$NA_NAMESPACE
NODEAGENT_CONTAINERD_CONFIG=$NA_CONF
NODEAGENT_CONTAINERD_LOG=$NA_CD_LOG
NODEAGENT_CONTAINERD_PID=$cpid
NODEAGENT_REGISTRY=$NA_REGISTRY
NODEAGENT_REGISTRY_PID=$rpid
NODEAGENT_PAUSE_IMAGE=$NA_PAUSE_IMAGE
NODEAGENT_BUSYBOX_IMAGE=$NA_BUSYBOX_IMAGE
NODEAGENT_BUSYBOX2_IMAGE=$NA_BUSYBOX2_IMAGE
NODEAGENT_CNI_NETWORK=$NA_CNI_NETWORK
NODEAGENT_CNI_BRIDGE=$NA_BRIDGE
NODEAGENT_CNI_SUBNET=$NA_SUBNET
NODEAGENT_CNI_GATEWAY=$(subnet_gateway "$NA_SUBNET")
NODEAGENT_CNI_CONF_DIR=$NA_CNI_CONF_DIR
NODEAGENT_CNI_BIN_DIR=$NA_CNI_BIN_DIR
NODEAGENT_CGROUP_ROOT=$NA_CGROUP_ROOT
NODEAGENT_POD_LOG_DIR=$NA_POD_LOG_DIR
EOF
}

# write_env: refresh $NA_DIR/env atomically and print it on stdout.
write_env() {
  local tmp=$NA_ENV_FILE.tmp.$$
  env_lines >"$tmp"
  mv -f "$tmp" "$NA_ENV_FILE"
  cat "$NA_ENV_FILE"
}

# ---------------------------------------------------------------- registry ---

registry_pid() { managed_pid "$NA_REG_PIDFILE" docker-registry "serve $NA_REG_CONF "; }

stop_registry() {
  local pid
  pid=$(registry_pid) || {
    rm -f "$NA_REG_PIDFILE"
    return 0
  }
  log "stopping registry (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone 10 "$pid" || {
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 5 "$pid" || true
  }
  rm -f "$NA_REG_PIDFILE"
}
