"""`python -m taskops` / `taskops`: run the operator.

Every setting is a flag and an environment variable (`taskops --help`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from taskops.logs import configure_logging
from taskops.settings import parse_settings


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv, os.environ)
    configure_logging(settings.log_format, settings.log_level)
    # Imported late: `--help` and bad flags answer without loading kopf.
    from taskops.runtime import run_operator
    from taskops.startup import EXIT_STATUS, StartupError

    try:
        return asyncio.run(run_operator(settings))
    except StartupError as err:
        print(f"taskops: {err}", file=sys.stderr)
        return EXIT_STATUS


if __name__ == "__main__":
    sys.exit(main())
