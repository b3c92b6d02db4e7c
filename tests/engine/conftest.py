"""The image tests need root, Debian's podman (e2e/engine/up installs and configures it)
and minutes of image builds: `make image-test` runs them (TASKOPS_ENGINE_TESTS=1), a
plain `pytest tests` (make unit) leaves this directory out rather than skip it."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("TASKOPS_ENGINE_TESTS") == "1" else ["test_*.py"]
