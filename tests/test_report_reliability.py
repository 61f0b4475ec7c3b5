"""The "Judge reliability" section of `harness report` (issue 16, item 6): its table in every format, the bucket
tables, the three charts, and a report of runs without reliability numbers left byte for byte as it was.

The runs: VL-RewardBench judged in both orders through the runner by three scripted judges whose numbers are
worked out by hand below (always "Answer 1"; always the gold; the gold except in sample 1 of 3, which answers
"Answer 1"), a one-order run that must not make a row, and hand-written results.json files for the fields no
task reports yet in this checkout (accuracy per bucket, ECE with a reliability diagram, correlations, nulls)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from harness.cli import main as cli
from harness.run_record import TaskRecord
from harness.runner import RunOptions, run
from reports.build import build_report
from reports.render import csvout, html, latex, markdown
from reports.report import draw_charts, make_report, renderer, summary
from reports.reliability_table import headline_metric, reliability_section
from reports.runs import discover, load_run
from reward.scripted import ScriptedAdapter

from .conftest import make_data_dir, row
from .report_inputs import FIXTURES, golden_chart, golden_report, normalised, task_entry, write_run

FOLDERS = ("rlaif-v", "povid", "reasoning_tasks", "wildvision-battle")
PNG = b"\x89PNG\r\n\x1a\n"
DIAGRAM = {"edges": [0.0, 0.25, 0.5, 0.75, 1.0], "mean_predicted": [0.1, None, 0.6, 0.9],
           "observed": [0.2, None, 0.5, 1.0], "count": [3, 0, 4, 5]}


def _gold(prepared) -> int:
    return prepared.request.meta["gold"]


def _vlrb(output: Path, data: Path, judge: str, fn, **kw) -> None:
    sampled = kw.get("samples", 1) > 1
    run(RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=output, bootstrap_resamples=50,
                   progress="none", use_cache=False, **kw),
        adapter=ScriptedAdapter(fn=fn, model_id=judge, needs_media=False, temperature=0.7 if sampled else 0.0))


def _hand_written(output: Path) -> None:
    write_run(output, "calibrated", "scorer-x", {"toy_scores": task_entry(
        {"accuracy_without_ties": 70.0, "accuracy/abs_margin/q1": 50.0, "accuracy/abs_margin/q2": None,
         "accuracy/abs_margin/q3": 80.0, "ece": 12.5, "spearman": 0.4123, "kendall_tau": 0.3},
        {"ece": [8.0, 16.0], "accuracy_without_ties": [60.0, 80.0]}, protocol="scores",
        details={"calibration": {"scale": 1.0, "diagram": DIAGRAM}})})
    # Two runs of one judge, task, protocol and orders: only the newer is shown. Its first_position_rate is null
    # (no verdict picked a response) and its diagram is damaged.
    older = {"overall_accuracy": 11.0, "swap_consistency": 11.0, "first_position_rate": 11.0}
    write_run(output, "margins-old", "judge-m", {"toy_margin": task_entry(older, judged={"orders": 2, "samples": 1})},
              created="2026-01-01T00:00:00Z")
    newer = {"accuracy/general": 1.0, "overall_accuracy": 60.0, "swap_consistency": 40.0, "first_position_rate": None,
             "accuracy/margin/<2": 25.0, "accuracy/margin/[2,4)": 50.0, "accuracy/margin/>=4": 100.0}
    broken = {"edges": [0.0, 0.5, 1.0], "mean_predicted": [0.2], "observed": [0.3], "count": [4]}
    write_run(output, "margins-new", "judge-m", {"toy_margin": task_entry(
        newer, judged={"orders": 2, "samples": 1}, n=16, details={"calibration": {"by_dim": {"overall": broken}}})},
        created="2026-02-01T00:00:00Z")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reliability")
    rows = [row(f"r{i}", FOLDERS[i % 4], (0, 1) if i % 3 else (1, 0), query=f"What is in picture {i}?")
            for i in range(12)]
    data = make_data_dir(root / "data", rows)
    output = root / "runs"
    _vlrb(output, data, "always-first", lambda p: "Overall Judgment: Answer 1 is better.", orders="both")
    _vlrb(output, data, "gold", lambda p: f"Overall Judgment: Answer {_gold(p)} is better.", orders="both")
    _vlrb(output, data, "gold-one-order", lambda p: f"Overall Judgment: Answer {_gold(p)} is better.")
    _vlrb(output, data, "sampled",
          lambda p: f"Answer {1 if p.request.generation.seed == 1 else _gold(p)} is better.", orders="both", samples=3)
    _hand_written(output)
    return output


def _section_lines(text: str) -> list[str]:
    return text[text.index("## Judge reliability"):].splitlines()


def _md_table(lines: list[str], header_start: str) -> dict[tuple[str, ...], dict[str, str]]:
    """The Markdown table whose header starts with `header_start`: (judge, task, protocol, orders) -> cells."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    header, body = table[0], table[2:]  # table[1] is the alignment line
    return {tuple(cells[:4]): dict(zip(header, cells)) for cells in body}


def test_markdown_table_holds_the_hand_checked_numbers(runs):
    text = markdown.render(make_report([runs]), {})
    table = _md_table(_section_lines(text), "| Judge | Task |")
    # gold-one-order judged each item once: no reliability metric, no row; margins-old is older than margins-new.
    assert set(table) == {("always-first", "vlrewardbench", "strict", "2 × 1"), ("gold", "vlrewardbench", "strict",
                          "2 × 1"), ("sampled", "vlrewardbench", "strict", "2 × 3"),
                          ("judge-m", "toy_margin", "strict", "2 × 1"), ("scorer-x", "toy_scores", "scores", "1 × 1")}
    first = table[("always-first", "vlrewardbench", "strict", "2 × 1")]
    # right in exactly the order that shows the better answer first: 50 overall, 0 in both orders, 100 in either
    assert (first["Accuracy"], first["Swap consistency"], first["First position [95% CI]"]) == \
        ("50.0", "0.0", "100.0 [100.0, 100.0]")
    assert (first["Right in both orders"], first["Right in either order"], first["n items"]) == ("0.0", "100.0", "12")
    assert first["Majority vote"] == first["Vote agreement"] == first["ECE"] == first["Spearman rho"] == "—"
    assert (runs / first["Run"] / "results.json").is_file()
    gold = table[("gold", "vlrewardbench", "strict", "2 × 1")]
    assert (gold["Accuracy"], gold["Swap consistency"], gold["First position [95% CI]"], gold["Right in both orders"]) \
        == ("100.0", "100.0", "50.0 [50.0, 50.0]", "100.0")
    # Six verdicts per item, five of them the gold (sample 1 says "Answer 1", the gold in one order of the two):
    # the plurality of each order is the gold (consistent, right in both), the vote is the gold with 5/6 agreeing;
    # first position: 3 of 3 where the gold is shown first, 1 of 3 where it is second: 4/6.
    sampled = table[("sampled", "vlrewardbench", "strict", "2 × 3")]
    assert (sampled["Accuracy"], sampled["Swap consistency"], sampled["First position [95% CI]"][:4]) == \
        ("83.3", "100.0", "66.7")
    assert (sampled["Majority vote"], sampled["Vote agreement"], sampled["Vote ties"]) == ("100.0", "83.3", "0.0")
    scorer = table[("scorer-x", "toy_scores", "scores", "1 × 1")]
    assert (scorer["Accuracy"], scorer["ECE"], scorer["Spearman rho"], scorer["Kendall tau"], scorer["n items"]) == \
        ("70.0", "12.5", "0.412", "0.300", "20")
    assert scorer["Swap consistency"] == scorer["First position [95% CI]"] == scorer["Right in both orders"] == "—"
    margins = table[("judge-m", "toy_margin", "strict", "2 × 1")]
    assert (margins["Accuracy"], margins["Swap consistency"], margins["First position [95% CI]"]) == \
        ("60.0", "40.0", "—")  # a null rate is "—", never 0; 60.0 is overall_accuracy, not accuracy/general
    assert (margins["n items"], margins["Run"]) == ("8", "margins-new")  # 16 records, 2 per item
    assert ("Accuracy is each task's headline metric over all its judgments (vlrewardbench: overall_accuracy; "
            "toy_margin: overall_accuracy; toy_scores: accuracy_without_ties).") in text
    assert "- `calibrated`: scorer-x; toy_scores [scores, test]" in text  # listed though in no paper table


def test_markdown_bucket_tables_and_problems(runs):
    lines = _section_lines(markdown.render(make_report([runs]), {}))
    margin = lines.index("### Accuracy by human margin (%): accuracy/margin/<part>")
    assert _md_table(lines[margin:], "| Judge |") == {("judge-m", "toy_margin", "strict", "2 × 1"): {
        "Judge": "judge-m", "Task": "toy_margin", "Protocol": "strict", "Orders × samples": "2 × 1", "<2": "25.0",
        "[2,4)": "50.0", ">=4": "100.0"}}
    quantile = next(i for i, line in enumerate(lines) if line.startswith("### Accuracy by quantile"))
    assert [v for k, v in _md_table(lines[quantile:], "| Judge |")[("scorer-x", "toy_scores", "scores", "1 × 1")]
            .items() if k.startswith("q")] == ["50.0", "—", "80.0"]
    entropy = next(i for i, line in enumerate(lines) if line.startswith("### Vote entropy"))
    cells = _md_table(lines[entropy:], "| Judge |")[("sampled", "vlrewardbench", "strict", "2 × 3")]
    assert cells["mean"] == cells["p50"] == cells["p90"] == "0.65"  # every item: 5 of 6 alike, H(5/6, 1/6) bits
    problem = next(line for line in lines if "by_dim.overall" in line)
    assert problem.startswith("- judge-m / toy_margin [strict, 2 × 1]: details.calibration.by_dim.overall in run "
                              "margins-new is not a reliability diagram (3 edges, 1 mean_predicted")


def test_csv_rows_at_full_precision_with_missing_never_zero(runs):
    records = list(csv.DictReader(io.StringIO(csvout.render(make_report([runs]), {}))))
    main = {(r["model"], r["column"]): r for r in records if r["table"] == "reliability"}
    first = main[("always-first", "First position")]
    assert (first["row"], first["ours"], first["ci_lo"], first["ci_hi"], first["status"]) == \
        ("vlrewardbench [strict, 2 × 1]", "100.0", "100.0", "100.0", "ok")
    assert first["source"] == "vlrewardbench/strict/first_position_rate" and first["run"].startswith(str(runs))
    assert main[("always-first", "Accuracy")]["source"] == "vlrewardbench/strict/overall_accuracy"
    assert (main[("always-first", "Orders")]["ours"], main[("always-first", "Samples")]["ours"],
            main[("always-first", "n items")]["ours"]) == ("2", "1", "12")
    assert float(main[("sampled", "Vote agreement")]["ours"]) == pytest.approx(500 / 6, abs=1e-9)  # unrounded
    for model, column in (("always-first", "ECE"), ("scorer-x", "Swap consistency"), ("judge-m", "First position")):
        assert (main[(model, column)]["ours"], main[(model, column)]["status"]) == ("", "missing")
    ece = main[("scorer-x", "ECE")]
    assert (ece["ours"], ece["ci_lo"], ece["ci_hi"], ece["source"]) == ("12.5", "8.0", "16.0", "toy_scores/scores/ece")
    buckets = {(r["table"], r["column"]): r for r in records if r["table"].startswith("reliability ")}
    assert buckets[("reliability accuracy/margin", "[2,4)")]["ours"] == "50.0"
    assert buckets[("reliability accuracy/margin", "[2,4)")]["source"] == "toy_margin/strict/accuracy/margin/[2,4)"
    assert (buckets[("reliability accuracy/abs_margin", "q2")]["ours"],
            buckets[("reliability accuracy/abs_margin", "q2")]["status"]) == ("", "missing")


def test_html_and_latex_carry_the_same_section(runs):
    report = make_report([runs])
    page = html.render(report, {})
    assert "<h2>Judge reliability</h2>" in page and '<td class="missing">—</td>' in page
    assert "<th>&lt;2</th>" in page and '<td class="num">100.0 [100.0, 100.0]</td>' in page
    assert "<h3>Accuracy by human margin (%): accuracy/margin/&lt;part&gt;</h3>" in page
    tex = latex.render(report, {})
    section = tex[tex.index("% Judge reliability"):]
    assert section.count(r"\begin{table}") == section.count(r"\end{table}") == 4  # main, margin, quantile, entropy
    assert r"always-first & vlrewardbench & strict & 2 $\times$ 1 & 50.0 & 0.0 & 100.0 [100.0, 100.0]" in section
    assert r"\textless{}2 & [2,4) & \textgreater{}=4" in section
    assert "% PROBLEM judge-m / toy_margin [strict, 2 × 1]: details.calibration.by_dim.overall" in section
    body = "\n".join(line for line in section.splitlines() if not line.startswith("%"))
    assert "_" not in body.replace(r"\_", "") and "%" not in body.replace(r"\%", "") and "—" not in body


def test_cli_writes_the_three_charts_beside_the_report(runs, tmp_path, capsys):
    out = tmp_path / "out" / "report.html"
    assert cli(["report", "--runs", str(runs), "--table", "3", "--format", "html", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    charts = [out.with_name(f"report.reliability-{k}.png") for k in ("position", "consistency", "calibration")]
    assert printed.out.split() == [str(out), str(out.with_name("report.table3.png")), *map(str, charts)]
    assert "5 judge reliability row(s)" in printed.err
    for chart in charts:
        assert chart.read_bytes().startswith(PNG)
        with Image.open(chart) as image:
            assert image.size[0] > 400 and image.size[1] > 300
    assert out.read_text(encoding="utf-8").count("data:image/png;base64,") == 4  # table 3 and the three


def test_charts_without_their_numbers_are_not_drawn(tmp_path):
    """Runs with only both-order numbers: no reliability diagram to draw, so no calibration chart."""
    write_run(tmp_path / "runs", "one", "judge-q", {"toy": task_entry(
        {"overall_accuracy": 50.0, "swap_consistency": 0.0, "first_position_rate": 100.0},
        {"first_position_rate": [90.0, 100.0]}, judged={"orders": 2, "samples": 1})})
    report = make_report([tmp_path / "runs"], "3")
    charts = draw_charts(report, tmp_path / "r.md")
    assert set(charts) == {"reliability-position", "reliability-consistency"}
    text = markdown.render(report, charts)
    assert "](r.reliability-position.png)" in text and "reliability-calibration" not in text


@pytest.mark.parametrize("fmt, ext", [("md", "md"), ("latex", "tex"), ("csv", "csv"), ("html", "html")])
def test_a_report_without_reliability_numbers_is_byte_identical(tmp_path, fmt, ext):
    """The golden files were rendered by the renderers before the section existed (tests/report_inputs.py)."""
    report = golden_report(tmp_path)
    assert reliability_section(report.runs) is None
    rendered = normalised(renderer(fmt)(report, golden_chart(tmp_path)), tmp_path)
    assert rendered == (FIXTURES / f"no_reliability.{ext}").read_text(encoding="utf-8")


def test_no_reliability_means_no_chart_and_the_same_summary(tmp_path):
    report = golden_report(tmp_path)
    assert set(draw_charts(report, tmp_path / "out" / "r.md")) == {"98", "toy-board"}  # the tables' own charts
    assert not list((tmp_path / "out").glob("*reliability*"))
    assert summary(report).endswith(" 1 unreadable run(s)")  # nothing appended


def test_headline_is_the_overall_accuracy_else_the_first_other_metric():
    def entry(metrics: dict) -> TaskRecord:
        return TaskRecord.from_json(task_entry(metrics), "test")

    assert headline_metric(entry({"accuracy/general": 1.0, "overall_accuracy": 2.0, "accuracy": 3.0})) == \
        "overall_accuracy"
    assert headline_metric(entry({"tau": 1.0, "accuracy": 2.0})) == "accuracy"
    assert headline_metric(entry({"swap_consistency": 1.0, "accuracy/margin/<2": 2.0, "tau": 3.0})) == "tau"
    assert headline_metric(entry({"swap_consistency": 1.0})) is None


def test_diagrams_are_found_up_to_two_levels_down_and_drawn_once_each(tmp_path):
    calibration = {"diagram": DIAGRAM, "by_dim": {"quality": DIAGRAM, "deeper": {"x": {"y": DIAGRAM}}}, **DIAGRAM}
    write_run(tmp_path / "runs", "cal", "judge-c", {"toy": task_entry(
        {"ece": 5.0}, details={"calibration": calibration})})
    found, problems = discover([tmp_path / "runs"])
    section = reliability_section(found)
    assert section is not None and not problems and not section.problems
    # the calibration dict is itself a diagram: it is one, and what it holds is not searched further
    assert [d.where for d in section.diagrams] == ["details.calibration"]
    json_path = tmp_path / "runs" / "cal" / "results.json"
    results = json.loads(json_path.read_text(encoding="utf-8"))
    results["tasks"]["toy"]["details"]["calibration"] = {k: v for k, v in calibration.items() if k not in DIAGRAM}
    json_path.write_text(json.dumps(results), encoding="utf-8")
    section = reliability_section([load_run(tmp_path / "runs" / "cal")])
    assert section is not None
    assert [d.where for d in section.diagrams] == ["details.calibration.diagram", "details.calibration.by_dim.quality"]
    assert section.diagrams[0].mean_predicted == (0.1, None, 0.6, 0.9) and section.diagrams[0].count == (3, 0, 4, 5)
    charts = draw_charts(build_report([], [load_run(tmp_path / "runs" / "cal")], []), tmp_path / "r.md")
    assert set(charts) == {"reliability-calibration"}  # no both-order numbers: no bias or consistency chart


@pytest.mark.parametrize("change, message", [
    ({"count": [3, 0, 4]},
     "5 edges, 4 mean_predicted, 4 observed and 3 count values: a diagram has one more edge than bins"),
    ({"observed": [0.2, None, None, 1.0]}, "a bin with items has no mean_predicted or observed value"),
    ({"edges": [0.0, "half", 0.5, 0.75, 1.0]}, "edges holds a value that is not a finite number"),
    ({"count": [3, 0, -4, 5]}, "count is not a list of counts"),
    ({"edges": [0.0, 0.5, 0.25, 0.75, 1.0]}, "edges are not increasing"),
])
def test_a_malformed_diagram_is_a_problem_not_a_chart(tmp_path, change, message):
    write_run(tmp_path / "runs", "cal", "judge-c", {"toy": task_entry(
        {"ece": 5.0}, details={"calibration": {**DIAGRAM, **change}})})
    section = reliability_section([load_run(tmp_path / "runs" / "cal")])
    assert section is not None and not section.diagrams
    assert section.problems == (f"judge-c / toy [strict, 1 × 1]: details.calibration in run cal is not a reliability "
                                f"diagram ({message}); not drawn",)
