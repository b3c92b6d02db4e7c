"""The report's PNG plots: the only part of bench/report that needs matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report_data import (
    DASH,
    MIB,
    PLOT_NAMES,
    Record,
    Value,
    field,
    group,
    side_name,
    spread,
)
from .report_schedules import lateness_curves, schedule_groups

# The lateness sources, told apart by the line (the side by its colour).
SOURCE_DASHES = {"creationTimestamp": "-", "harness watch": "--", "operator histogram": "-."}

# --- plots ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    n: float
    median: float
    low: float
    high: float


def series(records: Sequence[Record], value: Value) -> dict[tuple[str, str], list[Point]]:
    """(side, limits) -> points by n ascending; points with nothing measured left out."""
    out: dict[tuple[str, str], list[Point]] = {}
    for (side, limits, n), rs in group(records, ("side", "limits", "n")):
        s = spread(rs, value)
        if s.median is not None and isinstance(n, int | float):
            out.setdefault((str(side), str(limits)), []).append(
                Point(float(n), s.median, min(s.values), max(s.values)))
    return out


def plot(data: dict[str, list[Record]], out_dir: Path) -> list[tuple[str, Path]]:
    """Writes the PNGs the data support into out_dir; returns (title, path) of each in
    README order. Removes this report's own PNGs that the data no longer support, so
    the directory matches the README."""
    # Imported here: rendering the markdown needs no matplotlib. The Agg canvas is
    # attached per figure, so no global backend or pyplot state is involved.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colours = {"builtin": "tab:blue", "taskops": "tab:orange"}
    dashes = {"defaults": "-", "equal": "--"}
    written: list[tuple[str, Path]] = []

    def save(fig: Figure, name: str, title: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{name}.png"
        FigureCanvasAgg(fig)
        # No Software key: the PNG then does not change with the matplotlib version.
        fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
        written.append((title, path))

    def lines(ax: Any, lines_of: dict[tuple[str, str], list[Point]], ylabel: str) -> None:
        for (side, limits), points in lines_of.items():
            ax.errorbar([p.n for p in points], [p.median for p in points],
                        yerr=[[p.median - p.low for p in points],
                              [p.high - p.median for p in points]],
                        label=f"{side_name(side, 'burst')}, {limits} limits",
                        color=colours.get(side), linestyle=dashes.get(limits, ":"),
                        marker="o", capsize=3)
        ns = sorted({p.n for points in lines_of.values() for p in points})
        if ns[0] > 0 and ns[-1] / ns[0] >= 10:
            ax.set_xscale("log")
            ax.minorticks_off()
        # The n that were run, as numbers: 10^3 reads worse than 1,000.
        ax.set_xticks(ns, [f"{n:,.0f}" for n in ns])
        ax.set_xlabel("objects (n)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")

    def one_axes(lines_of: dict[tuple[str, str], list[Point]], ylabel: str, title: str,
                 name: str, caption: str) -> None:
        if lines_of:
            fig = Figure(figsize=(7, 4.5), layout="constrained")
            ax = fig.subplots()
            lines(ax, lines_of, ylabel)
            ax.set_title(f"{title} (median, min{DASH}max)")
            save(fig, name, caption)

    burst = data.get("burst", [])
    one_axes(series(burst, field("all_succeeded_seconds")), "seconds",
             "burst: time until every object succeeded", "burst_all_succeeded",
             "burst: time to all succeeded")

    latency = {q: series(burst, field(f"create_to_pod_{q}_seconds")) for q in ("p50", "p99")}
    if any(latency.values()):
        fig = Figure(figsize=(11, 4.5), layout="constrained")
        for ax, (q, lines_of) in zip(fig.subplots(1, 2), latency.items(), strict=True):
            if lines_of:
                lines(ax, lines_of, "seconds")
            ax.set_title(f"create-to-pod {q}")
        fig.suptitle(f"burst: create-to-pod latency (median, min{DASH}max)")
        save(fig, "burst_create_to_pod", "burst: create-to-pod latency p50 and p99")

    one_axes(series(burst, field("controller_peak_rss_bytes", 1 / MIB)), "MiB",
             "burst: controller peak RSS", "burst_peak_rss", "burst: controller peak RSS")

    groups = schedule_groups(data.get("schedules", []))
    curves = [(title, lateness_curves(rs)) for title, rs in groups]
    curves = [(title, c) for title, c in curves if c]
    if curves:
        fig = Figure(figsize=(6.5 * len(curves), 4.5), layout="constrained")
        axes = fig.subplots(1, len(curves), squeeze=False)[0]
        for ax, (title, of_group) in zip(axes, curves, strict=True):
            for label, (xs, ys) in of_group.items():
                side, _, source = label.partition(", ")
                ax.step(xs, ys, where="post", label=label,
                        color=colours["builtin" if side.startswith("CronJob") else "taskops"],
                        linestyle=SOURCE_DASHES.get(source, ":"))
            # Milliseconds (the operator) to a minute (a controller far behind).
            ax.set_xscale("symlog", linthresh=0.01)
            ax.set_xlim(left=0)
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("seconds late (creation minus scheduled instant)")
            ax.set_ylabel("share of runs at most that late")
            ax.set_title(title, fontsize="medium")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        fig.suptitle("schedules: lateness distribution of the runs")
        save(fig, "schedule_lateness", "schedules: lateness distribution")

    kept = {path.name for _, path in written}
    for name in PLOT_NAMES:
        stale = out_dir / f"{name}.png"
        if stale.name not in kept and stale.exists():
            stale.unlink()
    return written
