#!/usr/bin/env bash
# Stop only the harness's containerd (shims, containers, registry keep running).
exec "$(dirname "${BASH_SOURCE[0]}")/restart-containerd.sh" --stop "$@"
