#!/bin/sh
# Imports the images of /kind/images into containerd's k8s.io namespace once
# (kind's `build node-image` imports them at build time, with a running
# containerd; a `podman build` step has none). A marker keeps restarts cheap.
set -eu
[ -f /var/lib/containerd/.kind-images-imported ] && exit 0
for image in /kind/images/*.tar; do
  ctr -n k8s.io images import "$image"
done
touch /var/lib/containerd/.kind-images-imported
