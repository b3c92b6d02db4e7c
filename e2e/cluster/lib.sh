# Shared by up, down and status: where the local cluster keeps its state and
# how its processes are tracked. Sourced, never run.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/versions.env"
CACHE=${TASKOPS_CACHE:-$HOME/.cache/taskops}
STATE=${TASKOPS_CLUSTER_DIR:-$CACHE/cluster}
BIN=$CACHE/bin/current
NODE_NAME=${TASKOPS_NODE_NAME:-taskops-node}
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
BRIDGE=taskops0
CTR_SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
# Components in start order; down stops them in reverse.
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_of() {  # the recorded PID of a component if that process still runs
  local f=$STATE/pids/$1.pid
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

node_ip() {  # the host address the kubelet registers (it refuses loopback)
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}'
}
