# Where the bench cluster lives: its own state directory and ports, so that it
# runs beside the test cluster. Sourced by up, down and the Python harness's
# shell calls, never run.
export TASKOPS_CLUSTER_DIR=${TASKOPS_BENCH_DIR:-${TASKOPS_CACHE:-$HOME/.cache/taskops}/bench-cluster}
export TASKOPS_API_PORT=${TASKOPS_BENCH_API_PORT:-16443}
export TASKOPS_ETCD_PORT=${TASKOPS_BENCH_ETCD_PORT:-12379}
export TASKOPS_ETCD_PEER_PORT=${TASKOPS_BENCH_ETCD_PEER_PORT:-12380}
# The controller-manager's and the scheduler's own HTTPS ports (health, metrics).
export TASKOPS_KCM_PORT=${TASKOPS_BENCH_KCM_PORT:-20257}
export TASKOPS_SCHEDULER_PORT=${TASKOPS_BENCH_SCHEDULER_PORT:-20259}
# kwok's own server (the fake kubelets' port); kwok exits when it is taken.
export TASKOPS_KWOK_PORT=${TASKOPS_BENCH_KWOK_PORT:-20247}
export TASKOPS_COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../e2e/cluster" && pwd)/lib.sh"

# Processes of this cluster that its PID files lost track of (an `up` killed
# half way): every component names the state directory on its command line.
# One left holding a port would make its successor exit at once.
reap_strays() {
  pkill -KILL -f -- "$STATE/" 2>/dev/null || true
  local _
  for _ in $(seq 20); do pgrep -f -- "$STATE/" >/dev/null || return 0; sleep 0.25; done
}
