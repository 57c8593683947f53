#!/usr/bin/env bash
# Start the harness's containerd again after stop-containerd.sh (needs up.sh's config).
exec "$(dirname "${BASH_SOURCE[0]}")/restart-containerd.sh" --start "$@"
