"""`harness report`: paper tables from real runs, beside the published numbers.

The runs are the published GenAI-Bench judge replies replayed through genai-arena (each judge a
"checkpoint"), so the leaderboard table must come out with every number in its cell and Δ = 0.00.
Around them: tables with no runs, unreadable runs, a conflict between two protocols, caveats, every
output format, the charts, and the strict spec loader.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from harness.cli import main as cli
from harness.runner import RunOptions, run
from reports import report as report_mod
from reports.build import TableView, build_report, build_table
from reports.render import common
from reports.runs import discover
from reports.spec import SpecError, load_spec, load_specs, parse_spec
from reward.replay import ReplayAdapter
from reward.scores import ScoresAdapter
from reward.scripted import ScriptedAdapter

from .conftest import SHARED, write_image

FIXTURES = SHARED / "fixtures" / "genai-bench"
TASKS = {"genai_bench_image": "image_generation", "genai_bench_edit": "image_edition",
         "genai_bench_video": "video_generation"}
COLUMNS = {"genai_bench_image": "image", "genai_bench_edit": "edit", "genai_bench_video": "video"}
JUDGES = ("gpt4o", "gemini-1.5-pro", "llava", "idefics2", "random")
PNG = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures/genai-bench missing")


def replay(output: Path, judge: str, task: str, **kw) -> Path:
    outcome = run(RunOptions(tasks=[task], model="replay", protocol="genai-arena", data_dir=FIXTURES / "test_v1",
                             split="test_v1", output=output, bootstrap_resamples=20, use_cache=False, **kw),
                  adapter=ReplayAdapter(str(FIXTURES / "responses" / f"{TASKS[task]}__{judge}.jsonl"), name=judge))
    return outcome.dir


@pytest.fixture(scope="module")
def judge_runs(tmp_path_factory) -> Path:
    """Five judges x three GenAI-Bench tasks, one run each."""
    output = tmp_path_factory.mktemp("judges") / "runs"
    for judge in JUDGES:
        for task in TASKS:
            replay(output, judge, task)
    return output


def leaderboard_view(runs: Path) -> TableView:
    found, problems = discover([runs])
    assert not problems
    return build_table(load_specs()["genai-leaderboard"], found)


def md_row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_leaderboard_every_number_in_its_cell_with_zero_delta(judge_runs):
    view = leaderboard_view(judge_runs)
    rows = {r.model: r for r in view.rows if r.model}
    assert set(rows) == set(JUDGES)
    published = {r.label: r.paper for r in load_specs()["genai-leaderboard"].rows}
    for judge in JUDGES:
        row = rows[judge]
        assert row.label == judge  # beside its own published row, not an extra one
        for cell in row.cells:
            assert cell.paper == published[judge][cell.column.id]
            assert cell.ours is not None and cell.ours.source.task in TASKS
            assert COLUMNS[cell.ours.source.task] == cell.column.id  # the right task in the right column
            assert str(round(cell.ours.value, 2)) == cell.paper  # leaderboard.md prints Python's round(x, 2)
            assert common.delta(cell) == "0.00"
            assert cell.ours.ci is not None and cell.ours.ci[0] <= cell.ours.value <= cell.ours.ci[1]
            assert not cell.conflict and not cell.ours.caveats
    assert not view.problems
    # the rows nobody ran are listed as missing, column by column, with the run that would fill them
    assert {m.column.id for m in view.missing} == {"image", "edit", "video"}
    assert all("kosmos2" in m.rows and not set(JUDGES) & set(m.rows) for m in view.missing)
    assert "harness run --tasks genai_bench_image --protocol genai-arena --split test_v1" in view.missing[0].fills[0][0]


def test_cli_markdown_prints_ours_paper_and_delta(judge_runs, capsys):
    assert cli(["report", "--runs", str(judge_runs), "--table", "genai-leaderboard"]) == 0
    out = capsys.readouterr().out
    gpt4o = md_row(out, "gpt4o")
    assert gpt4o[1] == "gpt4o"
    assert gpt4o[2].startswith("45.59 [") and gpt4o[3:5] == ["45.59", "0.00"]
    assert gpt4o[5].startswith("53.54 [") and gpt4o[6:8] == ["53.54", "0.00"]
    assert gpt4o[8].startswith("48.46 [") and gpt4o[9:11] == ["48.46", "0.00"]
    llava = md_row(out, "llava")
    assert llava[2].startswith("37.00 [") and llava[3:5] == ["37.0", "0.00"]  # paper as printed, ours at 2 dp
    assert md_row(out, "kosmos2")[2:5] == [common.MISSING, "0.0", ""]
    assert "**Missing**" in out and "[^genai-leaderboard-1]:" in out


@pytest.mark.parametrize("table", ["5", "3"])
def test_tables_without_runs_list_every_cell_as_missing(judge_runs, table):
    found, _ = discover([judge_runs])
    spec = load_specs()[table]
    view = build_table(spec, found)
    assert not view.has_ours
    missing = {(row, m.column.id) for m in view.missing for row in m.rows}
    assert missing == {(r.label, c) for r in spec.rows for c in r.paper}
    text = report_mod.renderer("md")(build_report([spec], found, []), {})
    assert text.count(common.MISSING) >= len(missing)


def test_table_notes_from_the_protocol_notes_are_attached():
    specs = load_specs()
    t3 = {n.row: n.text for n in specs["3"].notes if n.row}
    assert "71.2" in t3["UnifiedReward"] and "64.9" in t3["UnifiedReward"]
    t5 = [n for n in specs["5"].notes if n.column == "img_tau"]
    assert t5 and "tie-calibrated" in t5[0].text
    assert any("not a raw PickScore mean" in n.text for n in specs["9"].notes if n.column == "pick_parti")
    assert any("never published" in n.text for n in specs["4"].notes)
    # Tables 6-9 name the downstream tasks the later issues must provide
    tasks = {s.task + "/" + s.metric for t in "6789" for c in specs[t].columns for s in c.sources}
    assert {"msrvtt_qa/accuracy", "msvd_qa/score", "tgif_qa/score", "longvideobench/accuracy", "mlvu/accuracy",
            "videomme/short", "videomme/avg", "vbench/total", "vbench/semantic", "partiprompts_gen/pickscore",
            "hpsv2_prompts_gen/imagereward", "llava_bench_wild/relative_score"} <= tasks


def test_unreadable_runs_are_problems_and_the_rest_renders(judge_runs, tmp_path, capsys):
    runs = tmp_path / "runs"
    good = next(d for d in sorted(judge_runs.iterdir())
                if json.loads((d / "results.json").read_text())["model"]["model"] == "gpt4o")
    shutil.copytree(good, runs / good.name)
    unfinished = runs / "20990101T000000-unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_text("{}")
    newer = runs / "20990101T000001-newer"
    shutil.copytree(good, newer)
    results = json.loads((newer / "results.json").read_text())
    (newer / "results.json").write_text(json.dumps({**results, "schema_version": 99}))

    assert cli(["report", "--runs", str(runs), "--table", "genai-leaderboard"]) == 0
    out = capsys.readouterr().out
    section = out.split("## Runs that could not be read", 1)[1]
    assert f"{unfinished}: no results.json" in section and "--resume" in section
    assert "schema version 99 is newer" in section
    numbers = md_row(out, "gpt4o")
    assert [c for c in numbers[2:] if c != common.MISSING]  # the readable run still fills its cell


def test_nothing_readable_exits_2_and_says_why(tmp_path, capsys):
    assert cli(["report", "--runs", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no run could be read" in err and "no such directory" in err


def genai_image_dir(root: Path) -> Path:
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote", "leftvote", "rightvote"]
    root.mkdir(parents=True)
    with open(root / "image_generation.jsonl", "w") as f:
        for i, vote in enumerate(votes):
            for side in ("left", "right"):
                write_image(root / f"img/{i}_{side}.png", 2 * i + (side == "right"))
            f.write(json.dumps({"idx": i, "prompt": f"a cat number {i}", "vote_type": vote,
                                "left_image": f"img/{i}_left.png", "right_image": f"img/{i}_right.png"}) + "\n")
    return root


def conflicting_runs(tmp_path: Path) -> Path:
    """UnifiedReward-7b run under `unifiedreward` (a generative judge) and a `scores` run with the same label:
    both fill Table 5's GenAI-Bench image tau and diff."""
    data = genai_image_dir(tmp_path / "data")
    output = tmp_path / "runs"
    opts = dict(tasks=["genai_bench_image"], data_dir=data, split="test", output=output, use_cache=False,
                bootstrap_resamples=20)
    run(RunOptions(model="scripted", protocol="unifiedreward", **opts),
        adapter=ScriptedAdapter(model_id="UnifiedReward-7b", reply="Image 1 is better than Image 2."))
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"id": str(i), "candidate": c, "score": s}) + "\n" for i in range(6)
                              for c, s in (("A", 0.2 + 0.1 * i), ("B", 0.5))))
    run(RunOptions(model="scores", protocol="scores", **opts), adapter=ScoresAdapter(path=str(scores),
                                                                                   name="UnifiedReward-7b"))
    return output


def test_a_conflict_is_reported_not_resolved_silently(tmp_path, capsys):
    runs = conflicting_runs(tmp_path)
    found, _ = discover([runs])
    view = build_table(load_specs()["5"], found)
    row = next(r for r in view.rows if r.model == "UnifiedReward-7b")
    assert row.label == "UnifiedReward"
    tau = row.cells[0]
    assert tau.column.id == "img_tau" and tau.conflict
    assert tau.ours.origin == "genai_bench_image/unifiedreward/tau"  # the spec's first source is shown ...
    assert [v.origin for v in tau.alternatives] == ["genai_bench_image/scores/accuracy_with_ties"]  # ... not alone
    conflicts = [p for p in view.problems if p.startswith("CONFLICT")]
    assert len(conflicts) == 2  # tau and diff
    assert "genai_bench_image/unifiedreward/tau" in conflicts[0] and "scores/accuracy_with_ties" in conflicts[0]

    assert cli(["report", "--runs", str(runs), "--table", "5"]) == 0
    out = capsys.readouterr().out
    assert common.CONFLICT in md_row(out, "UnifiedReward")[2]
    assert "**Problems**" in out and "CONFLICT UnifiedReward (UnifiedReward-7b) / GenAI-Bench image tau" in out


def test_caveats_and_rows_of_ours_only(tmp_path):
    output = tmp_path / "runs"
    outcome = run(RunOptions(tasks=["genai_bench_image"], model="replay", protocol="genai-arena",
                             data_dir=FIXTURES / "test_v1", split="test_v1", output=output, limit=50,
                             bootstrap_resamples=20, use_cache=False),
                  adapter=ReplayAdapter(str(FIXTURES / "responses" / "image_generation__gpt4o.jsonl"), name="my-judge"))
    view = leaderboard_view(output)
    mine = [r for r in view.rows if r.model == "my-judge"]
    assert len(mine) == 1 and not mine[0].published and mine[0].cells[0].ours.caveats
    assert common.markers(mine[0].cells[0]) == common.CAVEAT
    assert any(p.startswith("CAVEAT my-judge") and "--limit 50" in p for p in view.problems)
    assert ("my-judge",) == tuple(m for m in view.missing if m.column.id == "edit")[0].rows[-1:]
    assert outcome.dir.name in " ".join(view.problems)


@pytest.mark.parametrize("fmt", ["md", "latex", "csv", "html"])
def test_every_format_with_out_writes_the_file_and_valid_pngs(judge_runs, tmp_path, fmt, capsys):
    out = tmp_path / f"report.{fmt}"
    assert cli(["report", "--runs", str(judge_runs), "--table", "all", "--format", fmt, "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    chart = tmp_path / "report.genai-leaderboard.png"
    assert printed == [str(out), str(chart)]  # only the table with our numbers gets a chart
    assert chart.read_bytes().startswith(PNG)
    with Image.open(chart) as image:
        assert image.size[0] > 600 and image.size[1] > 300
    text = out.read_text(encoding="utf-8")
    if fmt == "md":
        assert "![GenAI-Bench leaderboard" in text and "(report.genai-leaderboard.png)" in text
        assert "## Table 9: Image Generation DPO Comparison" in text
    elif fmt == "latex":
        for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){3-5}"):
            assert rule in text
        assert r"mantis-8b-idefics2\_8192" in text and r"$\Delta$" in text
        assert text.count(r"\begin{table}") == text.count(r"\end{table}") == len(load_specs())
        body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
        assert "_" not in body.replace(r"\_", "") and "%" not in body.replace(r"\%", "")
    elif fmt == "csv":
        records = list(csv.DictReader(io.StringIO(text)))
        gpt4o = {r["column"]: r for r in records if r["table"] == "genai-leaderboard" and r["model"] == "gpt4o"}
        assert set(gpt4o) == {"Image Generation", "Image Editing", "Video Generation"}
        cell = gpt4o["Image Generation"]
        assert cell["paper"] == "45.59" and round(float(cell["ours"]), 2) == 45.59 and cell["status"] == "ok"
        assert float(cell["ci_lo"]) < float(cell["ours"]) < float(cell["ci_hi"]) and abs(float(cell["delta"])) < 0.005
        assert cell["source"] == "genai_bench_image/genai-arena/accuracy"
        assert {r["status"] for r in records if r["table"] == "5"} == {"missing"}
        pick = next(r for r in records if r["table"] == "9" and r["column"] == "PickScore Parti")
        assert "not a raw PickScore mean" in pick["note"]
    else:
        assert text.startswith("<!DOCTYPE html>") and "<style>" in text
        assert text.count("data:image/png;base64,") == 1
        assert "<script" not in text and "http://" not in text and "https://" not in text  # self-contained


def test_stdout_draws_no_chart_and_html_has_no_image(judge_runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(["report", "--runs", str(judge_runs), "--table", "genai-leaderboard", "--format", "html"]) == 0
    assert "data:image/png" not in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))


def test_conflict_chart_is_drawn(tmp_path, capsys):
    runs = conflicting_runs(tmp_path)
    out = tmp_path / "out" / "r.md"
    assert cli(["report", "--runs", str(runs), "--table", "5", "--out", str(out)]) == 0
    assert (tmp_path / "out" / "r.table5.png").read_bytes().startswith(PNG)


def test_unknown_table_is_a_usage_error(judge_runs, capsys):
    assert cli(["report", "--runs", str(judge_runs), "--table", "10"]) == 2
    assert "unknown table '10'" in capsys.readouterr().err


def test_shipped_specs_load_and_keep_printed_numbers():
    specs = load_specs()
    # The paper's tables, then the leaderboards of the benchmarks after it (by id).
    assert list(specs) == ["3", "4", "5", "6", "7", "8", "9", "genai-leaderboard", "editreward-bench-tiger", "mmrb2",
                           "multimodal-rewardbench", "videorewardbench"]
    assert specs["6"].rows[0].paper["msvd_score"] == "3.90"  # trailing zero kept
    decimals = {c.id: c.decimals for c in specs["6"].columns}
    assert decimals["msrvtt_acc"] == 1 and decimals["msrvtt_score"] == 2
    assert {c.decimals for c in specs["genai-leaderboard"].columns} == {2}
    assert {c.decimals for c in specs["9"].columns} == {2}
    board = {r.label: r for r in specs["genai-leaderboard"].rows}
    assert {"random", "gpt4o", "gemini-1.5-pro", "llava", "idefics2"} <= set(board)
    assert board["gpt4o"].matches("gpt4o") and not board["gpt4o"].matches("gpt4o-mini")
    assert not board["llava"].matches("llavanext")


BASE = {"id": "x", "title": "T", "source": "S",
        "columns": [{"id": "a", "header": "A", "sources": [{"task": "t", "metric": "m"}]}],
        "rows": [{"label": "r", "paper": {"a": "1.0"}}]}


@pytest.mark.parametrize("change, message", [
    ({"columns": [{"id": "a", "header": "A", "sorces": []}]}, "columns[0]: unknown key 'sorces'"),
    ({"rows": [{"label": "r", "paper": {"a": 1.0}}]}, "rows[0].paper.a: quote published numbers"),
    ({"rows": [{"label": "r", "paper": {"b": "1.0"}}]}, "unknown column 'b'"),
    ({"rows": [{"label": "r", "match": ["("]}]}, "rows[0].match[0]: bad regular expression"),
    ({"notes": [{"text": "n", "row": "nobody"}]}, "no row labelled 'nobody'"),
    ({"colour": "red"}, "top level: unknown key 'colour'"),
])
def test_loader_rejects_bad_specs_naming_file_and_key(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    with pytest.raises(SpecError) as info:
        parse_spec({**BASE, **change}, path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_loader_reads_yaml_files(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("id: x\ntitle: T\nsource: S\ncolumns:\n  - {id: a, header: A, sources: [{task: t, metric: m}]}\n"
                    "rows:\n  - {label: r, paper: {a: '3.90'}}\nwrong: 1\n")
    with pytest.raises(SpecError, match=r"t\.yaml: top level: unknown key 'wrong'"):
        load_spec(path)


def test_missing_cells_name_the_command_that_fills_them():
    from reports.build import run_command
    from reports.spec import Source

    assert run_command(Source("msvd_qa", None, "accuracy")) == "harness run --tasks msvd_qa --model ..."
    assert run_command(Source("videomme", None, "short")).startswith("harness lmms-eval --tasks videomme ")
    assert run_command(Source("livebench", None, "score")).startswith("harness lmms-eval --tasks live_bench_YYMM")


def test_a_cell_from_a_judge_whose_replies_were_all_invalid_carries_a_caveat():
    from types import SimpleNamespace

    from reports.build import _caveats

    from harness.run_record import TaskRecord

    source, run = SimpleNamespace(split=None), SimpleNamespace(record=SimpleNamespace(limit=None))
    all_invalid = TaskRecord("strict", {}, {}, {"n": 20, "n_invalid": 20, "n_error": 0})
    assert any("every judged reply (20) was invalid" in c for c in _caveats(source, run, all_invalid))
    some_invalid = TaskRecord("strict", {}, {}, {"n": 20, "n_invalid": 3, "n_error": 0})
    assert not any("invalid" in c for c in _caveats(source, run, some_invalid))
