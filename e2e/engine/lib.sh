# Shared by e2e/engine/up, down and env: where the container engine (podman)
# keeps its state, and the environment that points podman at it. Sourced, never run.
#
# Podman rather than Docker: Debian's docker.io starts in this VM but cannot
# run --privileged containers (it asks for every capability, and the VM's
# bounding set lacks CAP_SYS_RESOURCE), and kind's nodes are privileged.
# Podman has no daemon of its own: "the engine" is its configuration and
# storage under one state directory, plus an optional Docker-compatible API
# service (for the docker CLI), started and stopped by PID like the local
# cluster's processes.
ENGINE_CACHE=${TASKOPS_CACHE:-$HOME/.cache/taskops}
ENGINE_STATE=${TASKOPS_ENGINE_DIR:-$ENGINE_CACHE/engine}
ENGINE_SOCK=$ENGINE_STATE/podman.sock
# podman reads these instead of /etc/containers/*.conf and /var/lib/containers:
# nothing outside the state directory is changed, and another podman user on
# the machine is not disturbed (nor are we by theirs).
export CONTAINERS_CONF=$ENGINE_STATE/containers.conf
export CONTAINERS_STORAGE_CONF=$ENGINE_STATE/storage.conf
# kind picks podman over docker with this (its provider is still "experimental").
export KIND_EXPERIMENTAL_PROVIDER=podman

engine_log() { printf '[engine %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
engine_die() { engine_log "ERROR: $*"; exit 1; }

engine_service_pid() {  # the recorded PID of our API service if it still runs
  local f=$ENGINE_STATE/service.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  # A recycled PID is someone else's process: check it is still ours.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "system service.*$ENGINE_SOCK" || return 1
  echo "$pid"
}
