# One entry point for every test: `make test` runs the unit tests, then the
# end-to-end suite on a real cluster ($KUBECONFIG if it answers, else the
# local one from e2e/cluster/up).
PY ?= .venv/bin/python
PYTEST_E2E_ARGS ?=

.PHONY: test unit lint helm promtool e2e chaos venv crds cluster-up cluster-down cluster-status e2e-kind demo \
	engine-up engine-down image image-test \
	bench bench-smoke bench-report

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

e2e: venv
	$(PY) -m pytest e2e -q -p no:cacheprovider $(PYTEST_E2E_ARGS)

# The chaos suite at full size (300 TaskJobs, 10 operator kills, ...; about
# half an hour). `make e2e` runs the same tests in their short form.
chaos: venv
	TASKOPS_CHAOS=full $(PY) -m pytest e2e/chaos -q -p no:cacheprovider $(PYTEST_E2E_ARGS)

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

# For users with Docker and kind: the same suite on a kind cluster.
e2e-kind:
	$(MAKE) -C e2e/kind e2e

# The quick start: cluster up, CRDs, operator in the background, examples.
demo:
	examples/demo
