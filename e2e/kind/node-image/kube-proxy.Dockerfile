# kube-proxy's image for the local kind node image (e2e/kind/node-image/build):
# the built kube-proxy binary on Debian's iptables, nftables and conntrack
# (upstream's is distroless-iptables; its userland cannot be pulled here).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables conntrack ipset kmod \
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
