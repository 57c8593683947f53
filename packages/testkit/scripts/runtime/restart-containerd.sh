#!/usr/bin/env bash
# Stop and/or start only the harness's containerd process; pod shims, containers
# and the registry keep running (containerd re-attaches to its shims on start).
# Integration tests use it to prove that a CRI client survives a runtime restart.
#
# usage: scripts/runtime/restart-containerd.sh [--stop | --start | --restart] [--verbose] [--quiet]
#   --restart (default)  stop, then start
#   --stop               stop containerd only (SIGTERM, SIGKILL after 15 s)
#   --start              start it again (needs the config written by up.sh)
#
# stdout: the refreshed env lines (NODEAGENT_CONTAINERD_PID changes; empty after --stop).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=restart
for arg in "$@"; do
  case $arg in
    --stop | --stop-only | --stop-containerd) MODE=stop ;;
    --start | --start-only | --start-containerd) MODE=start ;;
    --restart | --restart-containerd) MODE=restart ;;
    -v | --verbose) NA_VERBOSE=1 ;;
    -q | --quiet) NA_QUIET=1 ;;
    -h | --help)
      sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *) die "unknown argument: $arg" ;;
  esac
done

[[ -f $NA_CONF ]] || die "no harness at $NA_DIR (no $NA_CONF): run scripts/runtime/up.sh first"
[[ $EUID -eq 0 ]] || die "must run as root"
take_lock
load_recorded_env

case $MODE in
  stop) stop_containerd ;;
  start) start_containerd ;;
  restart)
    stop_containerd
    start_containerd
    ;;
esac
write_env
