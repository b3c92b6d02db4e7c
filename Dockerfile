# syntax=docker/dockerfile:1
# The taskops operator image, for users with Docker (or any BuildKit builder):
#   docker build -t taskops.dev/taskops:0.1.0 .
#
# One of two recipes of the same image. e2e/image/build makes it without a
# Docker engine (debootstrap + chroot + e2e/image/pack.py) for the test
# cluster; both follow e2e/image/recipe.env and install the same locked
# e2e/image/requirements.txt, and tests/test_image.py fails when they differ.
#
# Debian's own python3 (3.11) rather than the python:3.11-slim image: the
# no-Docker recipe can only make a Debian root filesystem, so this way both
# images run the very same interpreter build.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY e2e/image/requirements.txt /src/e2e/image/requirements.txt
RUN python3 -m venv /opt/taskops \
 && /opt/taskops/bin/pip install --no-cache-dir --no-deps -r /src/e2e/image/requirements.txt
COPY pyproject.toml README.md /src/
COPY operator /src/operator
RUN /opt/taskops/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /dist /src \
 && /opt/taskops/bin/pip install --no-cache-dir --no-deps /dist/taskops-*.whl \
 && /opt/taskops/bin/python -m pip uninstall -y pip setuptools

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 taskops \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin taskops
COPY --from=build /opt/taskops /opt/taskops
# The root filesystem is read-only at run time (the chart sets it): no bytecode
# is written, the venv's was compiled at install time.
ENV PATH=/opt/taskops/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so the kubelet can check runAsNonRoot; named in /etc/passwd above
# because Python's getpass.getuser() (kopf calls it) needs an entry.
USER 65532:65532
# Exec form: no shell in the way of signals (SIGTERM reaches the operator).
ENTRYPOINT ["/opt/taskops/bin/python", "-m", "taskops"]
