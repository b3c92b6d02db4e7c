# One entry point for every test: `make test` runs the unit tests, then the
# end-to-end suite on a real cluster ($KUBECONFIG if it answers, else the
# local one from e2e/cluster/up).
PY ?= .venv/bin/python
PYTEST_E2E_ARGS ?=

.PHONY: test unit lint helm promtool e2e chaos venv crds cluster-up cluster-down cluster-status e2e-kind demo \
	engine-up engine-down image image-test e2e-kind-down \
	bench bench-smoke bench-report krew

venv: .venv/.installed
.venv/.installed: pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	touch $@

test: unit e2e bench-smoke

lint: venv
	.venv/bin/ruff check operator tests e2e bench
	.venv/bin/mypy
	.venv/bin/mypy bench/scale

# The chart tests render with the pinned helm: built here on a fresh clone
# (a minute or two, once; cached under ~/.cache/taskops), nothing else.
helm:
	e2e/cluster/build helm
# The alert rules' tests (tests/test_monitoring.py) run the pinned promtool, built the same way.
promtool:
	e2e/cluster/build promtool

unit: venv lint helm promtool
	$(PY) -m pytest tests -q

# E2E_PATHS: a part of the suite, e.g. E2E_PATHS="e2e/test_cluster.py e2e/test_install.py",
# run in one process. The whole suite (the default) runs in two steps: every
# file but e2e/chaos in E2E_WORKERS pytest-xdist workers, a file per worker
# (each test has its own namespace and operator, so they share the cluster as
# they would a user's; mostly they wait on the cluster, not on the CPU), then
# e2e/chaos alone: it restarts the API server, cuts the network and stops the
# kubelet, which would fail whatever ran beside it.
E2E_PATHS ?= e2e
E2E_WORKERS ?= 3
e2e: venv
ifeq ($(E2E_PATHS),e2e)
	$(PY) -m pytest e2e --ignore=e2e/chaos -q -p no:cacheprovider \
		-n $(E2E_WORKERS) --dist loadfile $(PYTEST_E2E_ARGS)
	$(PY) -m pytest e2e/chaos -q -p no:cacheprovider $(PYTEST_E2E_ARGS)
else
	$(PY) -m pytest $(E2E_PATHS) -q -p no:cacheprovider $(PYTEST_E2E_ARGS)
endif

# The chaos suite at full size (300 TaskJobs, 10 operator kills, ...; about
# 90 minutes, the soak's hour included). `make e2e` runs the same tests in their short form.
# -rP: each test prints its figures (faults injected, jobs run, lost, doubled,
# the soak's RSS slope); without it pytest keeps a passing test's output to itself.
chaos: venv
	TASKOPS_CHAOS=full $(PY) -m pytest e2e/chaos -q -rP -p no:cacheprovider $(PYTEST_E2E_ARGS)

crds: venv
	$(PY) -m taskops.api.crdgen

cluster-up:
	e2e/cluster/up
cluster-down:
	e2e/cluster/down
cluster-status:
	e2e/cluster/status

# Benchmarks on their own cluster (bench/cluster: kwok fake nodes, audit
# log), beside the test cluster. bench-smoke is the short form in `make test`;
# bench runs every scenario at every size (hours) and regenerates the report.
bench-smoke: venv
	$(PY) -m pytest bench/test_smoke.py -q -p no:cacheprovider
bench: venv
	bench/run-all
bench-report: venv
	bench/report

# The container engine (podman, state under ~/.cache/taskops/engine) and the
# operator image from the Dockerfile, built with it (its base debootstrapped).
engine-up:
	e2e/engine/up
engine-down:
	e2e/engine/down
image: engine-up
	e2e/engine/build-image
# Both recipes of the image built and compared, each started read-only and
# probed against a throwaway API server (etcd + kube-apiserver of e2e/cluster/build).
# Root; about 4 minutes warm, cold adds the image builds (about 5 minutes).
image-test: venv engine-up
	e2e/cluster/build etcd kube-apiserver kubectl
	TASKOPS_ENGINE_TESTS=1 $(PY) -m pytest tests/engine -q -p no:cacheprovider

# The krew plugin (docs/cli.md, "Installing with krew"): one archive per platform (a
# pex zipapp with the binary wheels of every CPython it runs on: minutes each, from
# PyPI), the manifest rendered with their sha256s (dist/krew/taskops.yaml), then krew's
# own validate-krew-manifest, a `krew install` of every archive into a temporary
# KREW_ROOT, and this machine's kubectl-taskops run from there. Slow and networked, so
# not in make unit (tests/test_krew_manifest.py checks the template there, offline).
KREW_TAG ?= v$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Where the archives will be downloaded from, and the project's page: a releaser sets
# both; the defaults (.invalid never resolves) are for a local build and its test.
KREW_RELEASE_URL ?= https://example.invalid/taskops/releases/$(KREW_TAG)
KREW_HOMEPAGE ?= https://example.invalid/taskops
# pex in a venv of its own: a build tool, not a dependency of the project.
KREW_TOOLS ?= /tmp/taskops-krew-tools
PEX_VERSION = 2.105.2
krew: venv $(KREW_TOOLS)/.pex-$(PEX_VERSION)
	e2e/cluster/build krew validate-krew-manifest
	$(PY) -m taskops.cli.krew.release build --out dist/krew --tag $(KREW_TAG) \
	  --release-url $(KREW_RELEASE_URL) --homepage $(KREW_HOMEPAGE) --pex $(KREW_TOOLS)/bin/pex
	$(PY) -m taskops.cli.krew.release check dist/krew \
	  --krew "$$(e2e/cluster/build --print)/current/krew" \
	  --validator "$$(e2e/cluster/build --print)/current/validate-krew-manifest"
$(KREW_TOOLS)/.pex-$(PEX_VERSION):
	python3 -m venv $(KREW_TOOLS)
	$(KREW_TOOLS)/bin/pip install -q pex==$(PEX_VERSION)
	touch $@

# For users with Docker and kind: the same suite on a kind cluster.
# KIND_LOCAL=1, for a machine with no Docker engine and no registry (this
# project's CI): podman, kind built here, a node image built here (e2e/kind/local);
# `make e2e-kind-down KIND_LOCAL=1` deletes that cluster and stops the engine.
KIND_LOCAL ?=
e2e-kind:
ifeq ($(KIND_LOCAL),1)
	e2e/kind/local e2e $(PYTEST_E2E_ARGS)
else
	$(MAKE) -C e2e/kind e2e
endif
e2e-kind-down:
ifeq ($(KIND_LOCAL),1)
	e2e/kind/local down
else
	$(MAKE) -C e2e/kind delete
endif

# The quick start: cluster up, CRDs, operator in the background, examples.
demo:
	examples/demo
