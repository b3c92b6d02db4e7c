"""Generate the TaskSchedule CustomResourceDefinition with crdgen's machinery.

    python -m taskops.api.crdgen_schedule          # write crds/ and charts/taskops/crds/
    python -m taskops.api.crdgen_schedule --check  # exit 1 if a committed file is stale

Why a module of its own: crdgen registers kinds in its module-level
`DESCRIPTORS`, and a descriptor is built from crdgen's own dataclasses, so a
descriptor defined outside crdgen and imported by it would be an import cycle.
Until the `TASKSCHEDULE` definition below moves into crdgen (next to
`TASKJOB`, added to `DESCRIPTORS`; nothing else changes), this module renders
it with crdgen's `render`, into crdgen's output directories.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from taskops.api.crdgen import (
    HEADER,
    OUTPUT_DIRS,
    REPO_ROOT,
    CrdDescriptor,
    PrinterColumn,
    ResourceNames,
    render,
)
from taskops.api.taskschedule import (
    KIND,
    PLURAL,
    SHORT_NAME,
    TaskScheduleSpec,
    TaskScheduleStatus,
)

TASKSCHEDULE: Final = CrdDescriptor(
    names=ResourceNames(
        kind=KIND, plural=PLURAL, singular="taskschedule", short_names=(SHORT_NAME,)
    ),
    spec_model=TaskScheduleSpec,
    status_model=TaskScheduleStatus,
    description="TaskSchedule creates TaskJobs on a schedule: cron with seconds, time zones, "
    "jitter, concurrency policies, missed runs, history and manual triggers.",
    printer_columns=(
        PrinterColumn("Schedule", "string", ".spec.schedule", "When runs start."),
        PrinterColumn("TimeZone", "string", ".spec.timeZone", "Time zone of the schedule."),
        PrinterColumn("Suspend", "boolean", ".spec.suspend", "No new runs while true."),
        PrinterColumn("Active", "integer", ".status.activeCount", "Runs not yet finished."),
        PrinterColumn("Last", "date", ".status.lastScheduleTime", "Latest run's scheduled time."),
        PrinterColumn("Next", "date", ".status.nextScheduleTime", "Next run's scheduled time."),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation."),
    ),
)


MODULE: Final = "taskops.api.crdgen_schedule"
COMMAND: Final = f"python -m {MODULE}"


def render_schedule() -> str:
    """The YAML text of the TaskSchedule CRD, exactly as committed."""
    # crdgen's header names crdgen; this file comes from here until it moves there.
    return render(TASKSCHEDULE).replace(HEADER, HEADER.replace("taskops.api.crdgen", MODULE), 1)


def outputs(root: Path = REPO_ROOT) -> dict[Path, str]:
    """The TaskSchedule CRD files (absolute paths) and their expected content."""
    text = render_schedule()
    return {root / directory / TASKSCHEDULE.filename: text for directory in OUTPUT_DIRS}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the TaskSchedule CRDs, or with --check report the stale ones (exit status 1)."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs(args.root).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        verb = "stale" if args.check else "wrote"
        print(f"{verb}: {path.relative_to(args.root)}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
