# The control plane shared by the test cluster (e2e/cluster/up) and the bench
# cluster (bench/cluster/up): certificates, etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, each started unless it runs.
# Sourced after lib.sh, never run.

control_plane_pki() {  # control_plane_pki EXTRA_SANS: CAs, serving and client certificates
  mkdir -p "$pki"
  ca server-ca kubernetes-server-ca
  ca client-ca kubernetes-client-ca
  cert apiserver server-ca "/CN=kube-apiserver" "DNS:localhost,IP:127.0.0.1,$1"
  cert admin client-ca "/O=system:masters/CN=system:admin"
  cert controller-manager client-ca "/CN=system:kube-controller-manager"
  cert scheduler client-ca "/CN=system:kube-scheduler"
  [ -f "$pki/sa.key" ] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
  [ -f "$KUBECONFIG_ADMIN" ] || kubeconfig "$KUBECONFIG_ADMIN" admin
  local c
  for c in controller-manager scheduler; do
    [ -f "$STATE/$c.kubeconfig" ] || kubeconfig "$STATE/$c.kubeconfig" "$c"
  done
}

start_etcd() {
  start etcd "$BIN/etcd" --name taskops --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "taskops=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 4294967296 \
    --unsafe-no-fsync
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {  # start_apiserver EXTRA_FLAGS...
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 0.0.0.0 --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/client-ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --max-requests-inflight 1000 --max-mutating-requests-inflight 500 \
    --enable-priority-and-fairness=false --profiling=false --v 1 "$@"
  wait_for kube-apiserver 120 kctl get --raw /readyz
}

# With --use-service-account-credentials every controller (job-controller,
# cronjob-controller, ...) has its own client, token bucket and audit user.
start_controller_manager() {  # start_controller_manager EXTRA_FLAGS...
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/server-ca.crt" \
    --cluster-signing-cert-file "$pki/client-ca.crt" --cluster-signing-key-file "$pki/client-ca.key" \
    --use-service-account-credentials --controllers '*' --leader-elect=false \
    --bind-address 127.0.0.1 --v 1 "$@"
}

start_scheduler() {  # start_scheduler QPS BURST [EXTRA_FLAGS...]
  local qps=$1 burst=$2; shift 2
  cat > "$STATE/scheduler.yaml" <<YAML
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$STATE/scheduler.kubeconfig", qps: $qps, burst: $burst}
leaderElection: {leaderElect: false}
YAML
  start kube-scheduler "$BIN/kube-scheduler" --config "$STATE/scheduler.yaml" --bind-address 127.0.0.1 --v 1 "$@"
}
