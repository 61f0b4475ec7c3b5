"""`reports.ensemble`: three replayed judges on a hand-written table give the hand-computed majority (and weighted
vote, and mean score); the ensemble is a normal run that `report` and `compare` read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from harness.cli import build_parser
from reports.compare import GateOptions, compare_runs
from reports.ensemble import ensemble, main, parse_weights
from reports.render import markdown
from reports.report import make_report
from reports.runs import RunError, load_run
from reward.scores import ScoresAdapter
from tasks.pairwise import seeded_swap

from .conftest import make_data_dir, row, write_image
from .replayed_runs import (HUMANS, JUDGES, MMRB2_CHOSEN, MMRB2_PLANS, genai_image_data, mmrb2_data, mmrb2_run,
                            replay_run)

# Majority by hand, per item: (status, the vote recorded, right by the benchmark's rule)
#   0: first 2 - second 1              -> [[A>B]]      right (leftvote)
#   1: second 2 ([[B>A]], [[B>>A]])     -> [[B>A]] (j2) right
#   2: tie-good 2 - first 1            -> [[A=B=Good]] right (tievote)
#   3: tie-good 1, tie-bad 1, first 1  -> split: invalid
#   4: first 1 - second 1 (j2 none)    -> split: invalid
#   5: first 1 (j3 alone)              -> [[A>B]]      wrong (rightvote)
#   6: no verdict from anyone          -> invalid
#   7: second 2 - first 1              -> [[B>A]] (j1) right
MAJORITY = [("ok", "[[A>B]]", True), ("ok", "[[B>A]]", True), ("ok", "[[A=B=Good]]", True), ("invalid", None, False),
            ("invalid", None, False), ("ok", "[[A>B]]", False), ("invalid", None, False), ("ok", "[[B>A]]", True)]
# Weights 0.1, 0.2, 0.3 by hand (decimal sums: 0.1 + 0.2 ties 0.3):
#   0: first 0.3 - second 0.3 split; 1: second 0.5 -> j2's [[B>A]] right; 2: tie-good 0.3 - first 0.3 split;
#   3: first 0.3 > tie-bad 0.2 -> j3's [[A>B]] wrong; 4: second 0.3 -> wrong; 5: first -> wrong; 6: none;
#   7: second 0.4 -> j1's [[B>A]] right.
WEIGHTED = [("invalid", None, False), ("ok", "[[B>A]]", True), ("invalid", None, False), ("ok", "[[A>B]]", False),
            ("ok", "[[B>A]]", False), ("ok", "[[A>B]]", False), ("invalid", None, False), ("ok", "[[B>A]]", True)]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ensemble")
    data = genai_image_data(tmp / "data", HUMANS)
    return [replay_run(tmp, name, "genai_bench_image", data, "test_v1", "genai-arena", replies)
            for name, replies in JUDGES.items()]


def records(run_dir: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (run_dir / f"{task}.samples.jsonl").read_text().splitlines()]


def test_majority_reproduces_the_hand_computed_table(members, tmp_path):
    result = ensemble(members, "majority", tmp_path / "ens", resamples=50)
    got = [(r["status"], r["outcome"]["vote"], r["outcome"]["correct"]) for r in records(result.run.dir,
                                                                                         "genai_bench_image")]
    assert got == MAJORITY
    entry = result.run.tasks["genai_bench_image"]
    assert entry.metrics["accuracy"] == pytest.approx(100 * 4 / 8)
    assert entry.counts == {"n": 8, "n_invalid": 3, "n_error": 0}
    assert entry.errors == {"invalid/ensemble": 3}
    tally = entry.details["ensemble"]
    assert (tally["decided"], tally["split_votes"], tally["no_votes"]) == (5, 2, 1)
    third = records(result.run.dir, "genai_bench_image")[3]
    assert third["outcome"]["ensemble"]["votes"] == ["tie-good", "tie-bad", "first"]
    assert "split vote" in third["reason"] and third["stage"] == "ensemble"
    # The members' own accuracies, for contrast (hand-counted from the table): 4/8, 4/8, 2/8.
    assert [m.tasks["genai_bench_image"].metrics["accuracy"] for m in members] == pytest.approx([50.0, 50.0, 25.0])


def test_weighted_vote_ties_exactly_on_decimal_weights(members, tmp_path):
    result = ensemble(members, "weighted", tmp_path / "ens", parse_weights("0.1,0.2,0.3", 3), resamples=50)
    got = [(r["status"], r["outcome"]["vote"], r["outcome"]["correct"]) for r in records(result.run.dir,
                                                                                         "genai_bench_image")]
    assert got == WEIGHTED
    assert result.run.tasks["genai_bench_image"].metrics["accuracy"] == pytest.approx(25.0)
    assert result.run.record.model["weights"] == ["0.1", "0.2", "0.3"]


def test_the_ensemble_is_a_normal_run_that_names_its_members(members, tmp_path):
    run_dir = ensemble(members, "majority", tmp_path / "ens", resamples=50).run.dir
    header = json.loads((run_dir / "run.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    assert header["run_id"] == results["run_id"] == "ens" and header["config_hash"] == results["config_hash"]
    model = results["model"]
    assert model["adapter"] == "ensemble" and model["rule"] == "majority"
    assert model["model"] == "ensemble-majority(j1+j2+j3)"
    assert [m["run_id"] for m in model["members"]] == [m.run_id for m in members]
    assert [m["model"]["model"] for m in model["members"]] == ["j1", "j2", "j3"]
    entry = results["tasks"]["genai_bench_image"]
    assert entry["dataset"] == dict(members[0].tasks["genai_bench_image"].dataset)
    assert any("ensemble of 3 runs (majority)" in d for d in entry["protocol_deviations"])
    assert set(entry["ci95"]) == {"accuracy"}


def test_report_and_compare_take_the_ensemble(members, tmp_path):
    ens = ensemble(members, "majority", tmp_path / "ens", resamples=50).run
    report = make_report([ens.dir], "genai-leaderboard")
    (view,) = report.tables
    (ours,) = [r for r in view.rows if r.model == ens.model]
    image = next(c for c in ours.cells if c.column.id == "image")
    assert image.ours is not None and image.ours.value == pytest.approx(50.0)
    assert ens.model in markdown.render(report, {})

    # j3 (25%) against the ensemble (50%): paired on all 8 items; McNemar's b, c counted by hand from the
    # tables: j3 right where the ensemble is wrong: none; the ensemble right where j3 is wrong: items 0, 2.
    comparison = compare_runs(members[2], ens, GateOptions(resamples=200))
    (task,) = comparison.tasks
    (accuracy,) = [m for m in task.metrics if m.metric == "accuracy"]
    assert task.n_common == 8 and (accuracy.baseline, accuracy.candidate) == pytest.approx((25.0, 50.0))
    assert (accuracy.b, accuracy.c) == (0, 2) and accuracy.delta == pytest.approx(25.0)
    assert comparison.passed


def test_position_tasks_vote_on_the_response_not_the_position(tmp_path):
    """Three VL-RewardBench judges run with different seeds (so different answer orders): each picks the better
    (B) or the worse (W) response; replies name the position that response was shown at."""
    picks = {"v1": "BBWBWB", "v2": "BWWBBW", "v3": "WBWWBB"}  # majority by hand: B B W B B B -> 5 of 6 right
    ids = [f"RLAIF_{i}" for i in range(6)]
    data = make_data_dir(tmp_path / "vlrb", [row(i, "rlaif-v") for i in ids])  # response 0 is the better one
    members = []
    for seed, (name, pick) in enumerate(picks.items()):
        replies = {}
        for sid, p in zip(ids, pick):
            better_first = not seeded_swap(seed, sid)  # where the task shows the better response
            position = 1 if (p == "B") == better_first else 2
            replies[sid] = f"Overall Judgment: Answer {position} is better."
        members.append(replay_run(tmp_path, name, "vlrewardbench", data, "test", "strict", replies, seed=seed))
    assert sum(len({seeded_swap(s, sid) for s in range(3)}) == 2 for sid in ids) >= 3  # orders differ by seed
    result = ensemble(members, "majority", tmp_path / "ens", resamples=50)
    got = [r["outcome"]["correct"] for r in records(result.run.dir, "vlrewardbench")]
    assert got == [True, True, False, True, True, True]
    assert result.run.tasks["vlrewardbench"].metrics["overall_accuracy"] == pytest.approx(100 * 5 / 6)


def test_mmrb2_votes_each_order_apart(tmp_path):
    """Three MMRB2 judges (tests/replayed_runs.py MMRB2_PLANS), `official`. Per order, as responses (F = response_a):
    p0 fwd F F S -> F, rev F F S -> F; p1 fwd S F S -> S, rev S S S; p2 fwd F F F, rev S F F -> F (m2's record);
    p3 (m2 invalid, no vote) fwd tie F -> split, rev F F -> F, wrong (chosen B). Right orders 2 + 2 + 2 + 0 over
    counted 2 + 2 + 2 + 1 (the split order has no verdict: out of the official denominator) = 6 / 7."""
    data = mmrb2_data(tmp_path / "data", MMRB2_CHOSEN)
    members = [mmrb2_run(tmp_path, data, name, plan) for name, plan in MMRB2_PLANS.items()]
    result = ensemble(members, "majority", tmp_path / "ens", resamples=50)
    got = records(result.run.dir, "mmrb2")
    assert [r["status"] for r in got] == ["ok", "ok", "ok", "invalid"]
    assert [(r["outcome"]["forward"]["kind"], r["outcome"]["reverse"]["kind"]) for r in got] == [
        ("A", "B"), ("B", "A"), ("A", "B"), (None, "B")]
    assert [r["outcome"]["consistent"] for r in got] == [True, True, True, None]
    assert got[3]["outcome"]["forward"]["counted"] is False and "forward: split vote" in got[3]["reason"]
    assert got[3]["outcome"]["ensemble"]["votes"] == {"forward": ["tie", None, "first"],
                                                      "reverse": ["first", None, "first"]}
    entry = result.run.tasks["mmrb2"]
    assert entry.metrics["accuracy/t2i"] == pytest.approx(100 * 6 / 7)
    assert entry.metrics["overall_accuracy"] == pytest.approx(100 * 6 / 7)
    assert entry.details["ensemble"]["split_votes"] == 1


def scorer_run(tmp: Path, name: str, data: Path, scores: list[tuple[float, float]]) -> Path:
    path = tmp / f"{name}.scores.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for idx, (a, b) in enumerate(scores):
            f.write(json.dumps({"id": str(idx), "candidate": "A", "score": a}) + "\n")
            f.write(json.dumps({"id": str(idx), "candidate": "B", "score": b}) + "\n")
    out = run(RunOptions(tasks=["genai_bench_image"], model="scores", data_dir=data, split="test_v1",
                         output=tmp / "runs", bootstrap_resamples=20, progress="none", use_cache=False),
              adapter=ScoresAdapter(path=str(path), name=name))
    return out.dir


def test_mean_score_averages_the_scorers(tmp_path):
    votes = ["leftvote", "rightvote", "leftvote", "rightvote"]
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "image_generation.jsonl", "w", encoding="utf-8") as f:  # scorers need the images
        for idx, vote in enumerate(votes):
            for side in ("left", "right"):
                write_image(data / f"{idx}_{side}.png", 2 * idx + (side == "right"))
            f.write(json.dumps({"idx": idx, "prompt": f"p{idx}", "vote_type": vote, "left_image": f"{idx}_left.png",
                                "right_image": f"{idx}_right.png"}) + "\n")
    s1 = scorer_run(tmp_path, "s1", data, [(0.9, 0.1), (0.2, 0.6), (0.3, 0.5), (0.5, 0.5)])  # right: 0, 1 -> 50%
    s2 = scorer_run(tmp_path, "s2", data, [(0.4, 0.6), (0.1, 0.5), (0.2, 0.9), (0.3, 0.8)])  # right: 1, 3 -> 50%
    members = [load_run(s1), load_run(s2)]
    assert [m.tasks["genai_bench_image"].metrics["accuracy_without_ties"] for m in members] == [50.0, 50.0]
    result = ensemble(members, "mean-score", tmp_path / "ens", resamples=50)
    # Means by hand: margins +0.3, -0.4, -0.45, -0.25 against h = 1, -1, 1, -1: right on 0, 1, 3 -> 75%.
    margins = [r["outcome"]["margin"] for r in records(result.run.dir, "genai_bench_image")]
    assert margins == pytest.approx([0.3, -0.4, -0.45, -0.25])
    assert result.run.tasks["genai_bench_image"].metrics["accuracy_without_ties"] == pytest.approx(75.0)
    # A vote of the two scorers by the sign of their margins: +/- split, - -, - -, tie/- split; a decided item
    # records the winning side's margin (-1 twice): right on item 1 only of the two -> 50%.
    voted = ensemble(members, "majority", tmp_path / "vote", resamples=50)
    got = [(r["status"], r["outcome"]["margin"]) for r in records(voted.run.dir, "genai_bench_image")]
    assert got == [("invalid", None), ("ok", -1.0), ("ok", -1.0), ("invalid", None)]
    assert voted.run.tasks["genai_bench_image"].metrics["accuracy_without_ties"] == pytest.approx(50.0)
    weighted = ensemble(members, "mean-score", tmp_path / "w", [3.0, 1.0], resamples=50)
    # (3 s1 + s2) / 4: A .775 B .225; A .175 B .575; A .275 B .6; A .45 B .575
    margins = [r["outcome"]["margin"] for r in records(weighted.run.dir, "genai_bench_image")]
    assert margins == pytest.approx([0.55, -0.4, -0.325, -0.125])
    assert compare_runs(members[0], weighted.run, GateOptions(resamples=100)).tasks[0].n_common == 4


def test_bad_requests_fail_before_any_work(members, tmp_path):
    with pytest.raises(UsageError, match="at least two runs"):
        ensemble(members[:1], "majority", tmp_path / "a")
    with pytest.raises(UsageError, match="needs --weights"):
        ensemble(members, "weighted", tmp_path / "a")
    with pytest.raises(UsageError, match="3 run"):
        parse_weights("1,2", 3)
    with pytest.raises(UsageError, match="> 0"):
        parse_weights("1,0,2", 3)
    with pytest.raises(UsageError, match="mean-score needs scalar scorer runs"):
        ensemble(members, "mean-score", tmp_path / "a")
    with pytest.raises(UsageError, match="given twice"):
        ensemble([members[0], members[0]], "majority", tmp_path / "a")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UsageError, match="not an empty directory"):
        ensemble(members, "majority", tmp_path / "full")
    assert not (tmp_path / "a").exists()


def test_a_damaged_member_leaves_no_half_written_run(members, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(members[1].dir, damaged)
    with open(damaged / "genai_bench_image.samples.jsonl", "a", encoding="utf-8") as f:
        f.write("{not json\n")
    with pytest.raises(RunError, match="genai_bench_image.samples.jsonl: unreadable"):
        ensemble([members[0], load_run(damaged), members[2]], "majority", tmp_path / "ens")
    assert not (tmp_path / "ens").exists()


def test_cli_main_prints_the_run_directory_last(members, tmp_path, capsys):
    parser = build_parser()  # the CLI's own parser
    args = parser.parse_args(["ensemble", *map(str, (m.dir for m in members)), "--rule", "majority", "--out",
                              str(tmp_path / "cli"), "--resamples", "20"])
    assert args.command == "ensemble" and main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(tmp_path / "cli") and "accuracy 50.00" in lines[0]
