"""bench/report on hand-written results (tests/data/bench): the cells, ratios and
goal verdicts it prints, how it shows a run that did not finish, the plots it
writes, and that the same results always give the same README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench.scale import report, report_data, report_plots, report_schedules

DATA = Path(__file__).parent / "data" / "bench"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def typeset(text: str) -> str:
    """The README's en dash and multiplication sign from ASCII: "25.9-27.1, x3"."""
    text = re.sub(r"(?<=\d)-(?=\d)", "\u2013", text)
    return re.sub(r"(?<![\w])x(?=\d)", "\u00d7", text)


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict[str, object]]]:
    return report.load(DATA)


@pytest.fixture(scope="module")
def markdown(data: dict[str, list[dict[str, object]]]) -> str:
    return report.render(data)


def section(markdown: str, heading: str) -> str:
    """The text under one heading, up to the next heading of any level."""
    start = markdown.index(f"{heading}\n")
    rest = markdown[start + len(heading) + 1:]
    end = re.search(r"^#+ ", rest, re.MULTILINE)
    return rest[:end.start()] if end else rest


def row(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def goal_verdicts(markdown: str) -> dict[str, str]:
    lines = section(markdown, "## Goals").splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines
            if line.startswith("|")]
    return {cells[0]: cells[2] for cells in rows[2:]}


def test_cell_is_the_median_with_min_max_spread_and_repetition_count(markdown: str) -> None:
    table = section(markdown, "### equal limits, n = 1,000")
    assert row(table, "time to all pods") == [
        "time to all pods", typeset("30.2 s (29.8-31.0, x3)"), typeset("26.5 s (25.9-27.1, x3)"),
        "0.88"]
    # Peak RSS is shown in MiB, not the bytes the record holds.
    assert row(table, "controller peak RSS")[1] == typeset("151 MiB (150-152, x3)")


def test_cell_leaves_out_the_spread_when_every_repetition_agrees() -> None:
    assert report_data.cell(report_data.Spread((3.0, 3.0, 3.0), 0)) == typeset("3.00 (x3)")
    assert report_data.cell(report_data.Spread((), 0)) == "not run"


def test_ratio_is_taskops_median_over_the_job_controllers(markdown: str) -> None:
    table = section(markdown, "### equal limits, n = 100")
    # 2.60 s (taskops) over 3.25 s (Job controller).
    assert row(table, "time to all pods")[3] == "0.80"
    assert row(table, "writes per object")[3] == "1.07"


def test_null_renders_as_na_and_stays_out_of_the_median(markdown: str) -> None:
    table = section(markdown, "### equal limits, n = 100")
    # taskops rep 1 did not finish: the median is of 8.0 and 8.4 alone.
    assert row(table, "time to all succeeded")[2] == typeset("8.20 s (8.00-8.40, x2; n/a x1)")
    assert report_data.cell(report_data.Spread((), 3)) == typeset("n/a (x3)")


def test_goals_say_met_not_met_and_not_measured(markdown: str) -> None:
    verdicts = goal_verdicts(markdown)
    assert verdicts["equal limits, every n: taskops time to all pods ≤ Job controller's"] == "yes"
    assert verdicts["equal limits, every n: taskops writes per object ≤ Job controller's"] == "no"
    assert verdicts["largest schedules count: taskops lateness p99 < 0.5 s, 0 missed, "
                    "0 doubled"] == "yes"
    assert verdicts["steady RSS < 250 MiB at n=10,000"] == "not measured"
    assert verdicts["restart to Ready < 30 s at n=10,000"] == "not measured"


def test_goal_fails_when_taskops_did_not_finish() -> None:
    records = [{"side": "builtin", "n": 10, "limits": "equal", "all_pods_seconds": 5.0},
               {"side": "taskops", "n": 10, "limits": "equal", "all_pods_seconds": None}]
    goal = report.burst_goal(records, report.BURST_METRICS[0])
    assert goal.met is False
    assert goal.figure == "n=10: n/a vs 5.00 s"


def test_calibrate_table(markdown: str) -> None:
    assert row(section(markdown, "## calibrate"), "1,000")[1:] == [typeset("500 (x1)"),
                                                                  typeset("125 (x1)")]


def test_schedules_table_counts_runs_per_side_and_compares_lateness(markdown: str) -> None:
    table = section(markdown, "### defaults limits, n = 100 (taskops every 10 s, window 600 s)")
    # Each side at the period it fired at: CronJobs cannot go below a minute.
    assert row(table, "period")[1:3] == ["60 s", "10 s"]
    assert row(table, "runs created")[1:3] == ["998", "6,000"]
    assert row(table, "runs due")[1:3] == ["1,000", "6,000"]
    assert row(table, "missed")[1:3] == ["2", "0"]
    assert row(table, "doubled")[1:3] == ["0", "0"]
    assert row(table, "lateness p99 (creationTimestamp)")[1:] == [
        typeset("3.00 s (x1)"), typeset("1.00 s (x1)"), "0.33"]
    assert row(table, "lateness p50 (harness watch)")[3] == "0.25"
    # The operator's histogram has no CronJob counterpart: no ratio.
    assert row(table, "lateness p99 (operator histogram)")[1:] == [
        typeset("n/a (x1)"), typeset("0.20 s (x1)"), "n/a"]
    assert row(table, "controller CPU per run")[3] == "0.08"


def test_schedules_goal_needs_zero_missed_and_a_sub_second_p99() -> None:
    ok = {"side": "taskops", "n": 10, "missed": 0, "doubled": 0,
          "seen_lateness_p99_seconds": 0.3, "lateness_p99_seconds": 1.0}
    goal = report.schedules_goal([ok])
    assert goal.met is True
    assert goal.figure == "p99 0.30 s (harness watch), 0 missed, 0 doubled at n = 10"
    assert report.schedules_goal([{**ok, "missed": 1}]).met is False
    assert report.schedules_goal([{**ok, "operator_lateness_p99_seconds": 0.6}]).met is False
    assert report.schedules_goal([]).met is None


def test_lateness_curves_are_shares_of_runs_at_most_that_late(
        data: dict[str, list[dict[str, object]]]) -> None:
    curves = report_schedules.lateness_curves(data["schedules"])
    assert curves["CronJob controller, creationTimestamp"] == (
        [0.0, 1.0, 3.0, 5.0], [100 / 998, 900 / 998, 990 / 998, 1.0])
    assert curves["taskops, operator histogram"] == ([0.05, 0.1, 0.25], [0.5, 5 / 6, 1.0])
    assert curves["taskops, harness watch"] == ([0.1, 0.3, 0.6, 0.9], [0.25, 0.5, 0.75, 1.0])
    assert "CronJob controller, operator histogram" not in curves


QUEUE = [
    {"scenario": "queue", "side": "builtin", "n": 300, "cap": 20, "limits": "defaults",
     "absent": True},
    *({"scenario": "queue", "side": "taskops", "n": 300, "cap": 20, "limits": "defaults",
       "admissions_per_second": rate, "status_writes_per_admission": 2.0,
       "drain_seconds": 300 / rate, "peak_running": 20} for rate in (10.0, 12.0, 14.0)),
]


def test_queue_shows_the_job_controller_as_na_and_taskops_as_measured() -> None:
    table = section(report.render({"queue": QUEUE}), "### defaults limits, n = 300 (cap 20)")
    assert row(table, "admissions per second")[1:] == [
        typeset("n/a (x1)"), typeset("12.0 (10.0-14.0, x3)"), "n/a"]
    assert row(table, "most pods running at once")[2] == typeset("20.0 (x3)")
    only_taskops = report.render({"queue": QUEUE[1:]})
    assert row(only_taskops, "time to drain")[1] == "not run"


def test_verb_breakdown_is_per_object_at_the_largest_n(markdown: str) -> None:
    table = section(markdown, "### Writes per object by verb, equal limits, n = 1,000 (median)")
    assert row(table, "patch taskjobs/status")[1:] == ["0.000", "2.25"]
    assert row(table, "all writes")[1:] == ["3.00", "3.25"]


def test_machine_is_the_newest_records_and_dates_span_all_runs(markdown: str) -> None:
    machine = section(markdown, "## Machine and versions")
    assert row(machine, "8")[1:] == ["32.0 GiB", "v1.31.1", "v0.6.1", "3.5.16", "3.12.3",
                                     "def5678"]
    assert "Runs from 2025-06-01 to 2025-06-03, 15 records." in machine


def test_plots_are_png_files_linked_from_the_readme(tmp_path: Path) -> None:
    out = tmp_path / "README.md"
    assert report.main(["--results", str(DATA), "--out", str(out),
                        "--plots", str(tmp_path / "plots")]) == 0
    pngs = sorted((tmp_path / "plots").iterdir())
    assert [p.name for p in pngs] == sorted(f"{name}.png" for name in report_plots.PLOT_NAMES)
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"](plots/{png.name})" in out.read_text()


def test_a_plot_without_data_is_not_drawn_and_a_stale_one_goes(tmp_path: Path) -> None:
    stale = tmp_path / "burst_peak_rss.png"
    stale.write_bytes(PNG_MAGIC)
    only_calibrate = {"calibrate": [{"scenario": "calibrate", "n": 10}]}
    assert report.plot(only_calibrate, tmp_path) == []
    assert not stale.exists()
    assert "## Plots" not in report.render(only_calibrate)


def test_two_runs_give_byte_identical_markdown(tmp_path: Path) -> None:
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run / "README.md"
        assert report.main(["--results", str(DATA), "--out", str(out),
                            "--plots", str(tmp_path / run / "plots")]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_head_and_findings_are_copied_verbatim_around_the_tables(tmp_path: Path) -> None:
    head = "## How to run\n\n    bench/report\n"
    findings = "## Findings\n\ntaskops is faster at n=1,000 | by 12%.\n"
    (tmp_path / "README.head.md").write_text(head)
    (tmp_path / "findings.md").write_text(findings)
    out = tmp_path / "README.md"
    report.main(["--results", str(DATA), "--out", str(out), "--plots", str(tmp_path / "p")])
    text = out.read_text()
    assert text.startswith("# taskops benchmarks\n\n_Generated by bench/report from bench/results;")
    assert head in text and text.endswith(findings)
    assert text.index(head) < text.index("## Machine and versions") < text.index("## Goals")


def test_a_broken_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "burst.jsonl").write_text('{"scenario": "burst"}\n{"scenario": \n')
    with pytest.raises(ValueError, match=r"burst\.jsonl:2: not JSON"):
        report.load(tmp_path)


def test_writecost_table_is_per_write_cost_of_each_kind_and_the_taskjob_over_job_ratio(
        markdown: str) -> None:
    table = section(markdown, "## writecost")
    # Medians: TaskJob merge 6.5 ms (6, 7) over Job merge 3.0 ms.
    assert row(table, "status merge patch: API server CPU per write")[1:] == [
        typeset("3.00 ms (x2)"), typeset("6.50 ms (6.00-7.00, x2)"), "2.17"]
    assert row(table, "status update (PUT): writes per second")[1:] == [
        typeset("500 (x2)"), typeset("250 (x2)"), "0.50"]
    # The create variant is in the newer of the two runs only.
    assert row(table, "create: API server CPU per write")[1:] == [
        typeset("2.00 ms (x1; n/a x1)"), typeset("5.00 ms (x1; n/a x1)"), "2.50"]
