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
pki=$STATE/pki
# The bench cluster (bench/cluster) runs beside this one on its own ports.
API_PORT=${TASKOPS_API_PORT:-6443}
ETCD_PORT=${TASKOPS_ETCD_PORT:-2379}
ETCD_PEER_PORT=${TASKOPS_ETCD_PEER_PORT:-2380}
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
# Components in start order; down stops them in reverse.
COMPONENTS=${TASKOPS_COMPONENTS:-"etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"}

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_of() {  # the recorded PID of a component if that process still runs
  local f=$STATE/pids/$1.pid
  [ -f "$f" ] || return 1
  local pid; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed component whose parent has not reaped it yet is a zombie: gone.
  case $(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null | cut -c2) in Z|"") return 1 ;; esac
  echo "$pid"
}

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

node_ip() {  # the host address the kubelet registers (it refuses loopback)
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}'
}

# ---------------------------------------------------------------- certificates
ca() {  # ca NAME CN
  [ -f "$pki/$1.crt" ] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" \
    -keyout "$pki/$1.key" -out "$pki/$1.crt" 2>/dev/null
}
cert() {  # cert NAME CA SUBJECT [SANS]: a key pair signed by CA
  [ -f "$pki/$1.crt" ] && return
  openssl req -newkey rsa:2048 -nodes -subj "$3" -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  local ext=$pki/$1.ext
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n' > "$ext"
  if [ -n "${4:-}" ]; then
    printf 'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$4" >> "$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >> "$ext"
  fi
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.crt" -CAkey "$pki/$2.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.csr" "$ext"
}
kubeconfig() {  # kubeconfig FILE CERT
  "$BIN/kubectl" config set-cluster local --kubeconfig "$1" --server "https://127.0.0.1:$API_PORT" \
    --certificate-authority "$pki/server-ca.crt" --embed-certs >/dev/null
  "$BIN/kubectl" config set-credentials user --kubeconfig "$1" --client-certificate "$pki/$2.crt" \
    --client-key "$pki/$2.key" --embed-certs >/dev/null
  "$BIN/kubectl" config set-context local --kubeconfig "$1" --cluster local --user user >/dev/null
  "$BIN/kubectl" config use-context local --kubeconfig "$1" >/dev/null
}

# ---------------------------------------------------------------- processes
start() {  # start NAME COMMAND...: run in the background unless already running
  local name=$1; shift
  if pid_of "$name" >/dev/null; then log "$name already running"; return; fi
  log "starting $name"
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$STATE/pids/$name.pid"
}
wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 limit=$2; shift 2
  local t=0
  until "$@" >/dev/null 2>&1; do
    t=$((t + 1))
    if [ $t -ge $((limit * 2)) ]; then
      log "timed out waiting for $what; last log lines:"
      tail -n 20 "$STATE/logs/"*.log >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "$what: ok"
}


stop() {  # stop NAME [SIGNAL]: SIGNAL (TERM), wait up to 15 s, then KILL
  local pid; pid=$(pid_of "$1") || { rm -f "$STATE/pids/$1.pid"; return 0; }
  log "stopping $1 ($pid)"
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/pids/$1.pid"
}
