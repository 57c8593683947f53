#!/usr/bin/env bash
# Bring up nodeagent's real-runtime test harness: a private containerd (CRI), a
# private CNI bridge network, and a loopback-only registry holding locally built
# test images. Idempotent: a second run finds everything healthy and returns fast.
#
# usage: scripts/runtime/up.sh [--no-install] [--verbose|-v] [--quiet|-q]
#        scripts/runtime/up.sh --restart-containerd | --stop-containerd | --start-containerd
#
# stdout: the KEY=VALUE lines of $NODEAGENT_RUNTIME_DIR/env (nothing else);
# stderr: progress. Settings: see lib.sh. Undo with scripts/runtime/down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

NO_INSTALL=0
MODE=up
for arg in "$@"; do
  case $arg in
    --no-install) NO_INSTALL=1 ;;
    -v | --verbose) NA_VERBOSE=1 ;;
    -q | --quiet) NA_QUIET=1 ;;
    --restart-containerd) MODE=restart ;;
    --stop-containerd) MODE=stop ;;
    --start-containerd) MODE=start ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage
      die "unknown argument: $arg"
      ;;
  esac
done

if [[ $MODE != up ]]; then
  exec "$NA_SCRIPT_DIR/restart-containerd.sh" "--$MODE" $([[ $NA_VERBOSE == 1 ]] && echo --verbose) $([[ $NA_QUIET == 1 ]] && echo --quiet)
fi

T0=$(date +%s%N)

# --------------------------------------------------------------- binaries ---

# "check|debian-package" pairs; a check is a command name or an absolute path.
REQUIRED=(
  "containerd|containerd"
  "ctr|containerd"
  "containerd-shim-runc-v2|containerd"
  "runc|runc"
  "$NA_CNI_BIN_DIR/bridge|containernetworking-plugins"
  "$NA_CNI_BIN_DIR/host-local|containernetworking-plugins"
  "$NA_CNI_BIN_DIR/portmap|containernetworking-plugins"
  "$NA_CNI_BIN_DIR/loopback|containernetworking-plugins"
  "@busybox-static|busybox-static"
  "umoci|umoci"
  "skopeo|skopeo"
  "docker-registry|docker-registry"
  "gcc|gcc"
  "@libc-static|libc6-dev"
  "ip|iproute2"
  "ss|iproute2"
  "iptables|iptables"
  "curl|curl"
  "flock|util-linux"
  "setsid|util-linux"
)

have() {
  case $1 in
    /*) [[ -x $1 ]] ;;
    @busybox-static)
      # the busybox package installs a dynamically linked /bin/busybox: not usable in an image
      local o
      [[ -x /bin/busybox ]] || return 1
      o=$(LC_ALL=C ldd /bin/busybox 2>&1) || true
      [[ $o == *'not a dynamic executable'* ]] ;;
    @libc-static)
      local f
      f=$(gcc -print-file-name=libc.a 2>/dev/null) && [[ $f == /* && -f $f ]] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing_packages() {
  local item pkgs=()
  for item in "${REQUIRED[@]}"; do
    have "${item%%|*}" || pkgs+=("${item#*|}")
  done
  ((${#pkgs[@]})) && printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' '
  return 0
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  local lock=(-o DPkg::Lock::Timeout=600)
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    log "apt-get update (no package lists yet)"
    run_logged apt apt-get -q "${lock[@]}" update || die "apt-get update failed; see $NA_LOG_DIR/apt.log"
  fi
  log "installing Debian packages: $*"
  if ! run_logged apt apt-get install -y -q "${lock[@]}" "$@"; then
    log "apt-get install failed; running apt-get update and retrying"
    run_logged apt apt-get -q "${lock[@]}" update || die "apt-get update failed; see $NA_LOG_DIR/apt.log"
    run_logged apt apt-get install -y -q "${lock[@]}" "$@" || die "apt-get install $* failed; see $NA_LOG_DIR/apt.log"
  fi
}

missing=$(missing_packages)
if [[ -n $missing ]]; then
  if [[ $NO_INSTALL == 1 ]]; then
    die "missing tools; install these Debian packages: apt-get install ${missing% } (--no-install was given)"
  elif [[ $EUID -ne 0 ]]; then
    die "missing tools and not root: as root run 'apt-get install ${missing% }' (or run this script as root)"
  fi
fi
[[ $EUID -eq 0 ]] || die "containerd with CRI needs root: run up.sh as root"

mkdir -p "$NA_DIR" "$NA_LOG_DIR"
take_lock

missing=$(missing_packages) # again: a concurrent up.sh may have installed them meanwhile
if [[ -n $missing ]]; then
  # shellcheck disable=SC2086
  apt_install $missing
  missing=$(missing_packages)
  [[ -z $missing ]] || die "still missing after apt-get install: $missing"
fi

# ---------------------------------------------- record host state we touch ---
# down.sh restores these; written once per private dir (the first up).
if [[ ! -f $NA_PRE_FILE ]]; then
  {
    echo "PRE_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 0)"
    echo "PRE_RUN_CONTAINERD=$([[ -e /run/containerd ]] && echo 1 || echo 0)"
    echo "PRE_VAR_LIB_CNI=$([[ -e /var/lib/cni ]] && echo 1 || echo 0)"
    echo "PRE_CGROUP_K8SIO=$(compgen -G '/sys/fs/cgroup/*/k8s.io' >/dev/null && echo 1 || echo 0)"
    echo "PRE_CNI_HOSTPORT=$(iptables -w 5 -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 && echo 1 || echo 0)"
  } >"$NA_PRE_FILE"
fi

mkdir -p "$NA_ROOT" "$NA_STATE" "$NA_DIR/tmp" "$NA_DIR/opt" "$NA_DIR/runc" \
  "$NA_CNI_CONF_DIR" "$NA_CNI_IPAM_DIR" "$NA_REG_DIR/data" "$NA_IMG_DIR" "$NA_POD_LOG_DIR"
chmod 0711 "$NA_DIR"

# install_file DEST: write stdin to DEST if different; returns 0 if it changed.
install_file() {
  local tmp=$1.new.$$
  cat >"$tmp"
  if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$1"
  return 0
}

# ---------------------------------------------------------------- registry ---

registry_answers() {
  curl -fsS --max-time 3 -o /dev/null "http://$NA_REGISTRY/v2/" 2>/dev/null
}

# port_owner PORT: "pid=N comm" of whatever listens on TCP PORT (any address), or nothing.
port_listeners() {
  ss -Hltnp "( sport = :$1 )" 2>/dev/null || true
}

REG_CHANGED=0
install_file "$NA_REG_CONF" <<EOF && REG_CHANGED=1 || true
# nodeagent test registry: loopback only, storage in the private dir.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $NA_REG_DIR/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$NA_REG_PORT
  secret: nodeagent-local-test-registry
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF

ensure_registry() {
  local pid
  if pid=$(registry_pid); then
    if [[ $REG_CHANGED == 0 ]] && registry_answers; then
      vlog "registry already running (pid $pid)"
      return 0
    fi
    stop_registry
  fi
  local l
  l=$(port_listeners "$NA_REG_PORT")
  if [[ -n $l ]]; then
    die "TCP port $NA_REG_PORT is already in use by something that is not this harness's registry:
$l
set NODEAGENT_REGISTRY_PORT to a free port (or stop that process)"
  fi
  log "starting registry on $NA_REGISTRY"
  printf '\n==== %s starting registry\n' "$(date -Is)" >>"$NA_REG_LOG"
  (cd / && exec setsid docker-registry serve "$NA_REG_CONF" </dev/null >>"$NA_REG_LOG" 2>&1 9>&-) &
  pid=$!
  pid_matches "$pid" "serve $NA_REG_CONF " || {
    sleep 0.05
    pid=$(pids_matching "docker-registry serve $NA_REG_CONF " first)
  }
  [[ -n $pid ]] && echo "$pid" >"$NA_REG_PIDFILE"
  local deadline=$((SECONDS + 15))
  until registry_answers; do
    if [[ -z $pid ]] || ! pid_matches "$pid" "serve $NA_REG_CONF "; then
      tail -n 20 "$NA_REG_LOG" >&2
      die "docker-registry exited; see $NA_REG_LOG"
    fi
    ((SECONDS < deadline)) || {
      tail -n 20 "$NA_REG_LOG" >&2
      die "registry did not answer on http://$NA_REGISTRY/v2/ within 15s; see $NA_REG_LOG"
    }
    sleep 0.05
  done
  # make sure the listener is really ours (not someone else who won a race)
  l=$(port_listeners "$NA_REG_PORT")
  [[ $l == *"pid=$pid,"* ]] || die "port $NA_REG_PORT is answered by another process: $l"
}
ensure_registry

# ------------------------------------------------------------------ images ---

OCI=$NA_IMG_DIR/oci
IMG_SRC=$NA_REPO_ROOT/images
BUILD_RECIPE_VERSION=1 # bump to force a rebuild of every image

images_hash() { # NAME -> hash of everything that goes into that image
  {
    echo "recipe $BUILD_RECIPE_VERSION"
    case $1 in
      pause) cat "$IMG_SRC/pause/pause.c"; gcc -dumpfullversion 2>/dev/null || true ;;
      busybox-1 | busybox-2)
        sha256sum /bin/busybox
        (cd "$IMG_SRC/busybox" && find rootfs -print0 | LC_ALL=C sort -z | xargs -0 sha256sum 2>/dev/null) || true
        if [[ $1 == busybox-2 ]]; then echo two; fi
        ;;
    esac
  } | sha256sum | cut -d' ' -f1
}

registry_has() { # REPO TAG
  curl -fsS --max-time 5 -o /dev/null -I \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$NA_REGISTRY/v2/$1/manifests/$2" 2>/dev/null
}

layout_has() { [[ -d $OCI ]] && umoci ls --layout "$OCI" 2>/dev/null | grep -qx "$1"; }

fresh_tag() { # TAG: drop an old tag and create an empty image under it
  [[ -d $OCI ]] || run_logged images umoci init --layout "$OCI"
  if layout_has "$1"; then run_logged images umoci rm --image "$OCI:$1"; fi
}

# unpack_tag SRC_TAG BUNDLE
unpack_tag() {
  rm -rf "$2"
  run_logged images umoci unpack --image "$OCI:$1" "$2"
}

build_pause() {
  local b=$NA_IMG_DIR/build/pause
  rm -rf "$b" && mkdir -p "$b"
  run_logged images gcc -static -O2 -s -Wall -o "$b/pause" "$IMG_SRC/pause/pause.c"
  fresh_tag pause-1
  run_logged images umoci new --image "$OCI:pause-1"
  unpack_tag pause-1 "$b/bundle"
  install -m 0755 "$b/pause" "$b/bundle/rootfs/pause"
  run_logged images umoci repack --image "$OCI:pause-1" "$b/bundle"
  run_logged images umoci config --image "$OCI:pause-1" --os linux --architecture amd64 \
    --config.entrypoint /pause --config.workingdir / \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label org.opencontainers.image.title=nodeagent-pause
  rm -rf "$b"
}

build_busybox1() {
  local b=$NA_IMG_DIR/build/busybox-1
  rm -rf "$b" && mkdir -p "$b"
  fresh_tag busybox-1
  run_logged images umoci new --image "$OCI:busybox-1"
  unpack_tag busybox-1 "$b/bundle"
  local r=$b/bundle/rootfs a
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,proc,sys,dev,var/www,tmp}
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/root"
  install -m 0755 /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [[ $a == busybox || -e $r/bin/$a || -L $r/bin/$a ]] || ln -s busybox "$r/bin/$a"
  done
  cp -a "$IMG_SRC/busybox/rootfs/." "$r/"
  chown -R 0:0 "$r"
  run_logged images umoci repack --image "$OCI:busybox-1" "$b/bundle"
  run_logged images umoci config --image "$OCI:busybox-1" --os linux --architecture amd64 \
    --config.cmd sh --config.workingdir / \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label org.opencontainers.image.title=nodeagent-busybox \
    --config.label org.opencontainers.image.version=1
  rm -rf "$b"
}

build_busybox2() {
  local b=$NA_IMG_DIR/build/busybox-2
  rm -rf "$b" && mkdir -p "$b"
  if layout_has busybox-2; then run_logged images umoci rm --image "$OCI:busybox-2"; fi
  unpack_tag busybox-1 "$b/bundle"
  echo 2 >"$b/bundle/rootfs/etc/nodeagent-busybox-2"
  # repack onto a new tag: busybox-2 = busybox-1's layer + one small layer
  run_logged images umoci repack --image "$OCI:busybox-2" "$b/bundle"
  run_logged images umoci config --image "$OCI:busybox-2" \
    --config.label org.opencontainers.image.version=2
  rm -rf "$b"
}

push_tag() { # LAYOUT_TAG REPO:TAG
  run_logged images skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
    "oci:$OCI:$1" "docker://$NA_REGISTRY/$2"
}

ensure_images() {
  mkdir -p "$NA_IMG_DIR/stamps"
  local spec name repo tag h built=0 stamp
  for spec in pause-1:nodeagent/pause:1 busybox-1:nodeagent/busybox:1 busybox-2:nodeagent/busybox:2; do
    name=${spec%%:*}
    repo=${spec#*:}
    tag=${repo##*:}
    repo=${repo%:*}
    h=$(images_hash "$name")
    stamp=$(cat "$NA_IMG_DIR/stamps/$name" 2>/dev/null || true)
    if [[ $stamp == "$h" ]] && registry_has "$repo" "$tag"; then
      vlog "image $NA_REGISTRY/$repo:$tag present"
      continue
    fi
    if [[ $stamp != "$h" ]] || ! layout_has "$name"; then
      log "building image $repo:$tag"
      case $name in
        pause-1) build_pause ;;
        busybox-1) build_busybox1 ;;
        busybox-2) build_busybox2 ;;
      esac
      built=1
    fi
    log "pushing $NA_REGISTRY/$repo:$tag"
    push_tag "$name" "$repo:$tag" || die "pushing $repo:$tag to $NA_REGISTRY failed; see $NA_LOG_DIR/images.log"
    echo "$h" >"$NA_IMG_DIR/stamps/$name"
  done
  if ((built)); then run_logged images umoci gc --layout "$OCI" || true; fi
  rm -rf "$NA_IMG_DIR/build"
}
ensure_images

# --------------------------------------------------------------------- CNI ---

install_file "$NA_CNI_CONF_DIR/10-$NA_CNI_NETWORK.conflist" <<EOF || true
{
  "cniVersion": "1.0.0",
  "name": "$NA_CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NA_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NA_CNI_IPAM_DIR",
        "ranges": [[{ "subnet": "$NA_SUBNET" }]]
      }
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": { "portMappings": true }
    }
  ]
}
EOF

# Pods get no default route (no "routes" in the IPAM config), so they reach only
# the bridge subnet. The bridge plugin turns on net.ipv4.ip_forward (isGateway), so
# also drop anything the host would forward from the bridge to another interface.
ensure_forward_drop() {
  local ipt rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    rule=(FORWARD -i "$NA_BRIDGE" ! -o "$NA_BRIDGE" -m comment --comment "nodeagent-rt $NA_DIR" -j DROP)
    "$ipt" -w 5 -C "${rule[@]}" 2>/dev/null && continue
    "$ipt" -w 5 -I "${rule[@]}" 2>>"$NA_LOG_DIR/iptables.log" ||
      warn "could not add the $ipt FORWARD drop rule for $NA_BRIDGE (see $NA_LOG_DIR/iptables.log)"
  done
}
ensure_forward_drop

# -------------------------------------------------------------- containerd ---

CD_CHANGED=0
RUNC_BIN=$(command -v runc)
install_file "$NA_CONF" <<EOF && CD_CHANGED=1 || true
# nodeagent private containerd: generated by scripts/runtime/up.sh; do not edit.
version = 2
root = "$NA_ROOT"
state = "$NA_STATE"
temp = "$NA_DIR/tmp"
oom_score = 0
required_plugins = ["io.containerd.grpc.v1.cri"]
# unneeded here; the snapshotters only log load errors, tracing wants an endpoint
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$NA_SOCK"
  tcp_address = ""
  uid = 0
  gid = 0

[ttrpc]
  address = "$NA_SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$NA_DIR/opt"

  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = "$NA_DIR/runc-v1"

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$NA_PAUSE_IMAGE"
    # without it every RunPodSandbox fails on this VM (oom_score_adj -998 refused)
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    systemd_cgroup = false

    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "$RUNC_BIN"
          Root = "$NA_DIR/runc"
          SystemdCgroup = false

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$NA_CNI_BIN_DIR"
      conf_dir = "$NA_CNI_CONF_DIR"
      max_conf_num = 1

    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""

      [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$NA_REGISTRY"]
        endpoint = ["http://$NA_REGISTRY"]
EOF

if pid=$(containerd_pid); then
  if [[ $CD_CHANGED == 1 ]]; then
    log "containerd config changed: restarting containerd"
    stop_containerd
    start_containerd
  elif ! containerd_answers || ! containerd_cri_ok; then
    log "containerd (pid $pid) is not answering: restarting it"
    stop_containerd
    start_containerd
  else
    vlog "containerd already running (pid $pid)"
  fi
else
  start_containerd
fi

write_env
log "up in $((($(date +%s%N) - T0) / 1000000)) ms (env: $NA_ENV_FILE)"
