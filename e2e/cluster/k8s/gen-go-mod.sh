#!/usr/bin/env bash
# Writes go.mod for the wrapper module that builds Kubernetes' binaries.
# k8s.io/kubernetes lists its staging modules at v0.0.0 (they live in its own
# tree); outside that tree each must be replaced by its published release.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../versions.env"
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
cloud-provider cluster-bootstrap code-generator component-base component-helpers
controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
sample-apiserver sample-cli-plugin sample-controller"
{
  echo "module taskops.dev/e2e/k8sbuild"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  for m in $staging; do echo "	k8s.io/$m => k8s.io/$m $KUBE_STAGING_VERSION"; done
  echo ")"
} > "$here/go.mod"
