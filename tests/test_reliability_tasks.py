"""`--orders both`, accuracy by human margin and rank correlation with human scores (issue 16 items 1, 4, 5) for
the pairwise understanding, edit and video tasks: EditReward-Bench (TIGER-Lab's and EditScore's), VideoRewardBench,
ShareGPTVideo pairs and Multi-Crit.

Each task is run through `harness.runner.run(..., orders="both")` with a judge that always names the answer shown
first and one that names the gold (computed here from the rows, not read back from the task), one of its replies
made unreadable in one order; every expected number is worked out in the test's docstring. Data: the small
`--data-dir`s of tests/fixtures_conformance/data.py, and EditReward-Bench rows with human scores written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from harness.errors import UsageError
from harness.records import Judgment
from harness.reliability import split_record_id
from harness.rows import Row
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.editreward_bench import EditRewardBenchTiger
from tasks.editreward_human_scores import CandidateScores
from tasks.editscore_bench import EditRewardBenchEditScore
from tasks.embedded_rows import PART_FIELD
from tasks.multi_crit import MultiCrit
from tasks.pairwise import seeded_swap
from tasks.sharegptvideo import ShareGPTVideoPairs
from tasks.videorewardbench import VideoRewardBench
from tests.fixtures_conformance import data as builders
from tests.fixtures_editreward.build import image_struct, write_tiger

from .conftest import read_jsonl

RELIABILITY = ("swap_consistency", "first_position_rate", "accuracy/both_orders", "accuracy/either_order")
TIGER, EDITSCORE = "editreward_bench_tiger", "editreward_bench_editscore"


def judged_both(tmp_path: Path, task: str, data: Path, fn: Callable[[Any], str], protocol: str | None = None,
                split: str | None = None) -> tuple[dict, dict[str, dict]]:
    """One run with --orders both; (the task's results.json entry, its records by id)."""
    opts = RunOptions(tasks=[task], model="scripted", data_dir=data, output=tmp_path / "runs", protocol=protocol,
                      split=split, bootstrap_resamples=20, progress="none", orders="both", use_cache=False)
    outcome = run(opts, adapter=ScriptedAdapter(fn=fn, needs_media=False))
    records = read_jsonl(outcome.dir / f"{task}.samples.jsonl")
    return outcome.results["tasks"][task], {r["id"]: r for r in records}


def reliability(result: dict) -> tuple[float, ...]:
    return tuple(result["metrics"][name] for name in RELIABILITY)


def item_of(prepared) -> tuple[str, bool]:
    """(the item's id, whether this is its --orders both record)."""
    item, flipped, _ = split_record_id(prepared.request.sample_id)
    return item, flipped


# ---- TIGER-Lab's EditReward-Bench --------------------------------------------------------------------------
# The conformance rows: K=2 c0 A>B, c1 B>A, c2 A=B (a human tie); K=3 group t1 (AvsB B>A, AvsC A>C, BvsC B>C);
# K=4 group q4 ranked D>A>B>C (6 comparisons). 12 items, 24 judgments with both orders.

def tiger_rows() -> dict[str, dict]:
    """Fixture rows by sample id, with h: 1 candidate_1 better, -1 candidate_2, 0 a tie."""
    out = {}
    rows = {"2pair": [("c0", "AvsB", "A>B"), ("c1", "AvsB", "B>A"), ("c2", "AvsB", "A=B")],
            "3pair": [("t1", "AvsB", "B>A"), ("t1", "AvsC", "A>C"), ("t1", "BvsC", "B>C")],
            "4pair": [("q4", f"{a}vs{b}", f"{a}>{b}" if "DABC".index(a) < "DABC".index(b) else f"{b}>{a}")
                      for a, b in ("AB", "AC", "AD", "BC", "BD", "CD")]}
    for subset, entries in rows.items():
        for rid, comparison, ranking in entries:
            sid = f"k2/{rid}" if subset == "2pair" else f"k{subset[0]}/{rid}/{comparison}"
            h = 0 if "=" in ranking else 1 if ranking[0] == comparison[0] else -1
            out[sid] = {"k": int(subset[0]), "ranking": ranking, "h": h}
    return out


def test_tiger_official_a_first_answer_judge(tmp_path):
    """Every reply names the candidate shown first ([[A>B]], [[Left>Right]]). Each of the 11 untied items is right
    in exactly the order that shows its better candidate first, the tie c2 in neither: swap_consistency 0 (c2's two
    verdicts pick different candidates), first_position_rate 100, both orders 0, either 11/12. The task's own
    metrics over the 24 judgments: accuracy/k2 2/6 (c0 forward, c1 swapped), pairwise K=3 3/6, K=4 6/12; no group
    is right in either order."""
    result, records = judged_both(tmp_path, TIGER, builders.editreward_bench_tiger(tmp_path / "data"),
                                  lambda p: "[[A>B]]" if p.request.sample_id.startswith("k2/") else "[[Left>Right]]")
    assert reliability(result) == pytest.approx((0.0, 100.0, 0.0, 100 * 11 / 12))
    assert result["metrics"]["accuracy/k2"] == pytest.approx(100 * 2 / 6)
    assert (result["metrics"]["pairwise_accuracy/k3"], result["metrics"]["pairwise_accuracy/k4"]) == (50.0, 50.0)
    assert (result["metrics"]["group_accuracy/k3"], result["metrics"]["group_accuracy/k4"]) == (0.0, 0.0)
    assert result["counts"] == {"n": 24, "n_invalid": 0, "n_error": 0}
    # c1 (B>A) swapped shows candidate_2 as Model A: "[[A>B]]" there is the vote B>A, which is right.
    swapped = records["k2/c1::swapped"]["outcome"]
    assert (swapped["vote"], swapped["correct"], swapped["verdict"], swapped["gold"], swapped["swapped"]) == \
        ("B>A", True, 1, 1, True)


def test_tiger_official_a_gold_judge_with_a_tie_and_an_unreadable_reply(tmp_path):
    """The gold judge, except "I prefer neither of them." (the parser's Unknown: invalid) for c0 swapped; the tie
    c2 answered [[A=B]] in both orders counts as consistent and right. swap_consistency 11/12, both orders 11/12,
    either 12/12. Deciding verdicts: 10 untied items x 2 + c0's forward = 21 (c2's ties pick no position); each
    untied item picks the first shown in exactly one order (10), and c0 forward shows its better candidate_1
    first (1): 11/21. Task: accuracy/k2 5/6; every comparison of K=3/4 right, and each order's group is its own
    group, so group accuracy is 2/2 in both subsets."""
    rows, prompts = tiger_rows(), {}

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        row, swapped = rows[item], prepared.request.meta["swapped"]
        assert swapped == flipped  # `official` never swaps: the other order is the flipped record's
        prompts[prepared.request.sample_id] = prepared.request.parts
        if prepared.request.sample_id == "k2/c0::swapped":
            return "I prefer neither of them."
        position = 0 if row["h"] == 0 else 1 if (row["h"] == 1) != swapped else 2
        if row["k"] == 2:
            return {1: "[[A>B]]", 2: "[[B>A]]", 0: "[[A=B]]"}[position]
        return {1: "Final verdict: [[Left>Right]]", 2: "Final verdict: [[Right>Left]]"}[position]

    result, records = judged_both(tmp_path, TIGER, builders.editreward_bench_tiger(tmp_path / "data"), gold)
    assert reliability(result) == pytest.approx((100 * 11 / 12, 100 * 11 / 21, 100 * 11 / 12, 100.0))
    assert result["metrics"]["accuracy/k2"] == pytest.approx(100 * 5 / 6)
    for name in ("group_accuracy/k3", "group_accuracy/k4", "pairwise_accuracy/k3", "pairwise_accuracy/k4"):
        assert result["metrics"][name] == 100.0, name
    assert result["counts"] == {"n": 24, "n_invalid": 1, "n_error": 0}
    assert result["details"]["k3"]["groups"] == 2 and result["details"]["k3"]["complete_groups"] == 2
    assert records["k2/c2::swapped"]["outcome"]["verdict"] == 0 and records["k2/c2"]["outcome"]["gold"] == 0
    # The other order of a K=3 comparison names its letters the other way round and shows candidate_2 first.
    shown = prompts["k3/t1/AvsC::swapped"]
    assert "This is a CvsA comparison" in "".join(p for p in shown if isinstance(p, str))
    assert [p.label for p in shown if not isinstance(p, str)] == ["k3/t1/source", "k3/t1/C", "k3/t1/A"]
    assert records["k3/t1/AvsC::swapped"]["outcome"]["vote"] == "A>C"
    assert "This is a AvsC comparison" in "".join(p for p in prompts["k3/t1/AvsC"] if isinstance(p, str))


def test_tiger_unifiedreward_both_orders(tmp_path):
    """Seeded order per item, inverted for its other record. The gold judge ("equally good" on the tie c2), with
    "I cannot tell." on k3/t1/AvsB swapped: swap_consistency and both orders 11/12, either 12/12; deciding verdicts
    21, of which the 10 untied complete items give 10 first-shown picks and AvsB's forward verdict one more when its
    better candidate (B, candidate_1) is shown first, i.e. when its order is swapped. K=3: 5/6 comparisons, the
    swapped order's group wrong: 1/2. An always-"Image 1" judge: 0 / 100 / 0 / 11/12."""
    rows = tiger_rows()

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        swapped = prepared.request.meta["swapped"]
        assert swapped == (seeded_swap(0, item) != flipped)
        if prepared.request.sample_id == "k3/t1/AvsB::swapped":
            return "I cannot tell."
        h = rows[item]["h"]
        return "Both images are equally good." if h == 0 else f"Image {1 if (h == 1) != swapped else 2} is better."

    data = builders.editreward_bench_tiger(tmp_path / "data")
    result, _ = judged_both(tmp_path / "gold", TIGER, data, gold, protocol="unifiedreward")
    first = 10 + seeded_swap(0, "k3/t1/AvsB")
    assert reliability(result) == pytest.approx((100 * 11 / 12, 100 * first / 21, 100 * 11 / 12, 100.0))
    assert result["metrics"]["pairwise_accuracy/k3"] == pytest.approx(100 * 5 / 6)
    assert result["metrics"]["group_accuracy/k3"] == 50.0 and result["metrics"]["accuracy/k2"] == 100.0
    first_judge, _ = judged_both(tmp_path / "first", TIGER, data, lambda p: "Image 1 is better.",
                                 protocol="unifiedreward")
    assert reliability(first_judge) == pytest.approx((0.0, 100.0, 0.0, 100 * 11 / 12))


def test_tiger_both_orders_deviation():
    task = EditRewardBenchTiger()
    assert "never show" in task.both_orders_deviation(task.config("official", 0, None, None))
    assert task.both_orders_deviation(task.config("unifiedreward", 0, None, None)) is None


# ---- TIGER-Lab's EditReward-Bench: human scores ------------------------------------------------------------

def scored_rows(entries: list[tuple[str, str, Any, Any]]) -> dict[str, list[dict]]:
    """K=2 rows (id, ranking, score_1, score_2) in the hub's columns."""
    return {"2pair": [{"dataset": "2pair", "id": rid, "instruction": f"edit {rid}", "source_image": f"{rid}.png",
                       "candidate_1": f"{rid}_A.png", "candidate_2": f"{rid}_B.png", "ranking": ranking,
                       "comparison_type": "AvsB", "score_1": s1, "score_2": s2, "model_1": "m1", "model_2": "m2"}
                      for rid, ranking, s1, s2 in entries]}


def test_tiger_accuracy_by_human_score_gap(tmp_path):
    """K=2 rows with human scores (gap |s1 - s2|): e0 A>B (6, 2) gap 4, e1 B>A (3, 5) gap 2, e2 A=B (4, 4) gap 0,
    e3 A>B (5, 4) gap 1, e4 B>A (2, 5) gap 3, e5 A>B without scores, e6 A>B (3, 4) gap 1 (scores ordered against
    its ranking). The judge is right on e0, e2 (A=B), e4, e5, e6 and wrong on e1, e3. Buckets at 1, 2, 3: "<1" e2
    1/1; "[1,2)" e3 wrong, e6 right 1/2; "[2,3)" e1 0/1; ">=3" e0, e4 2/2. accuracy/k2 5/7."""
    replies = {"e0": "[[A>B]]", "e1": "[[A>B]]", "e2": "[[A=B]]", "e3": "[[B>A]]", "e4": "[[B>A]]", "e5": "[[A>B]]",
               "e6": "[[A>B]]"}
    rows = scored_rows([("e0", "A>B", 6, 2), ("e1", "B>A", 3, 5), ("e2", "A=B", 4, 4), ("e3", "A>B", 5, 4),
                        ("e4", "B>A", 2, 5), ("e5", "A>B", None, None), ("e6", "A>B", 3, 4)])
    outcome = run(RunOptions(tasks=[TIGER], model="scripted", data_dir=write_tiger(tmp_path / "data", rows),
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=20, progress="none"),
                  adapter=ScriptedAdapter(fn=lambda p: replies[p.request.sample_id.split("/")[1]], needs_media=False))
    result = outcome.results["tasks"][TIGER]
    gaps = {k: v for k, v in result["metrics"].items() if k.startswith("accuracy/human_score_gap/")}
    assert gaps == {"accuracy/human_score_gap/<1": 100.0, "accuracy/human_score_gap/[1,2)": 50.0,
                    "accuracy/human_score_gap/[2,3)": 0.0, "accuracy/human_score_gap/>=3": 100.0}
    assert result["metrics"]["accuracy/k2"] == pytest.approx(100 * 5 / 7)
    assert result["details"]["human_score_gap"] == {
        "buckets": ["<1", "[1,2)", "[2,3)", ">=3"], "edges": [1.0, 2.0, 3.0], "counted": [1, 2, 1, 2],
        "rows_with_human_scores": 6, "rows_without": 1, "max_gap": 4.0, "rows_ordered_against_ranking": 1}
    assert "accuracy/human_score_gap/<1" in result["ci95"]
    record = read_jsonl(outcome.dir / f"{TIGER}.samples.jsonl")[0]
    assert record["outcome"]["human_scores"] == [6.0, 2.0]


def test_tiger_scores_rank_correlation_with_human_scores(tmp_path):
    """A scalar scorer on three K=2 rows: d0 B>A human (2, 6), d1 A>B (5, 3), d2 A=B (4, 4); scorer (.1, .9),
    (.6, .4), (.5, .3). Six candidates, human [2, 6, 5, 3, 4, 4], scorer [.1, .9, .6, .4, .5, .3].
    Spearman: human average ranks [1, 6, 5, 2, 3.5, 3.5], scorer ranks [1, 6, 5, 3, 4, 2]; deviations from 3.5
    give sum(dh·dj) = 15.5, sum(dh²) = 17, sum(dj²) = 17.5: rho = 15.5 / sqrt(297.5).
    Kendall: of the 15 pairs, 13 concordant, 1 discordant (d1's B=3 against d2's B=4: human 3 < 4, scorer
    .4 > .3), 1 tied in the human scores (4, 4): tau-b = (13 - 1) / sqrt(15 · 14).
    Gap buckets (h·m > 0 over rows humans did not tie): d0 gap 4 right, d1 gap 2 right, d2 is a tie (not counted):
    ">=3" 100, "[2,3)" 100, "<1" and "[1,2)" count nothing (null)."""
    rows = scored_rows([("d0", "B>A", 2, 6), ("d1", "A>B", 5, 3), ("d2", "A=B", 4, 4)])
    scores = {"k2/d0/A": 0.1, "k2/d0/B": 0.9, "k2/d1/A": 0.6, "k2/d1/B": 0.4, "k2/d2/A": 0.5, "k2/d2/B": 0.3}
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps({"media": m, "score": s}) + "\n" for m, s in scores.items()), encoding="utf-8")
    outcome = run(RunOptions(tasks=[TIGER], model="scores", model_args={"path": str(path)},
                             data_dir=write_tiger(tmp_path / "data", rows), output=tmp_path / "runs", use_cache=False,
                             bootstrap_resamples=20, progress="none"))
    m = outcome.results["tasks"][TIGER]["metrics"]
    assert m["spearman/human_score"] == pytest.approx(15.5 / 297.5 ** 0.5)
    assert m["kendall_tau_b/human_score"] == pytest.approx(12 / 210 ** 0.5)
    assert (m["accuracy/human_score_gap/>=3"], m["accuracy/human_score_gap/[2,3)"]) == (100.0, 100.0)
    assert m["accuracy/human_score_gap/<1"] is None and m["accuracy/human_score_gap/[1,2)"] is None
    assert outcome.results["tasks"][TIGER]["details"]["human_score_correlation"]["candidates"] == 6


def test_a_k3_candidate_counts_once_in_the_correlation():
    """Group g (K=3) A>B>C with human scores A 6, B 4, C 2 in each of its rows; the scorer gives A .9 and .7 in its
    two rows (mean .8), B .5, C .6: three candidates, human [6, 4, 2], scorer [.8, .5, .6]. Spearman of ranks
    [3, 2, 1] and [3, 1, 2]: 1 - 6·(0 + 1 + 1) / (3·8) = 0.5; Kendall: pairs AB, AC concordant, BC discordant:
    1/3. A human score that differs between a candidate's rows is counted."""
    def row(pair: str, human: tuple[float, float], judge: tuple[float, float]) -> Judgment:
        return Judgment(f"k3/g/{pair[0]}vs{pair[1]}", "ok", outcome={
            "k": 3, "group": "k3/g", "pair": pair, "h": 1, "human_scores": list(human),
            "scores": {"A": judge[0], "B": judge[1]}, "margin": judge[0] - judge[1]})

    table = CandidateScores.of([row("AB", (6, 4), (0.9, 0.5)), row("AC", (6, 2), (0.7, 0.6)),
                                row("BC", (4, 2), (0.5, 0.6))])
    assert table.correlations(np.arange(3)) == pytest.approx({"spearman/human_score": 0.5,
                                                             "kendall_tau_b/human_score": 1 / 3})
    assert table.details()["candidates"] == 3 and table.details()["human_scores_differing_between_rows"] == 0
    odd = CandidateScores.of([row("AB", (6, 4), (0.9, 0.5)), row("AC", (5, 2), (0.7, 0.6))])
    assert odd.details()["human_scores_differing_between_rows"] == 1


def test_a_human_score_that_is_not_a_number_is_a_load_error():
    fields = {**scored_rows([("z", "A>B", "high", 3)])["2pair"][0], PART_FIELD: "2pair"}
    for column in ("source_image", "candidate_1", "candidate_2"):
        fields[column] = image_struct(fields[column])
    sample = EditRewardBenchTiger().sample(Row(0, "k2/z", fields, where="2pair/x.parquet row 0"))
    assert sample.problem == ("2pair/x.parquet row 0 (id k2/z): field 'score_1' must be a number (the candidate's "
                              "human score) or null, got 'high'")
    fields.update(score_1=float("nan"))  # Parquet's missing value: no human scores, not an error
    assert EditRewardBenchTiger().sample(Row(0, "k2/z", fields)).data["human_scores"] is None


# ---- EditScore's EditReward-Bench ----------------------------------------------------------------------------
# The conformance rows: three (pair, dimension) rows, the first output image always the preferred one.

def test_editscore_unifiedreward_both_orders(tmp_path):
    """Gold judge, "It is hard to say." on prompt_following/a1/a2 swapped: swap_consistency and both orders 2/3,
    either 3/3; 5 deciding verdicts, 2 first-shown from the two complete items, and one more when a1/a2's forward
    order shows the preferred image first (not swapped). Its subtask accuracy is 1/2. Always "Image 1": 0/100/0/100."""
    data = builders.editreward_bench_editscore(tmp_path / "data")
    unread = "prompt_following/a1/a2"

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        swapped = prepared.request.meta["swapped"]
        assert swapped == (seeded_swap(0, item) != flipped)
        return "It is hard to say." if prepared.request.sample_id == unread + "::swapped" else \
            f"Image {2 if swapped else 1} is better."

    result, _ = judged_both(tmp_path / "gold", EDITSCORE, data, gold, protocol="unifiedreward")
    first = 2 + (not seeded_swap(0, unread))
    assert reliability(result) == pytest.approx((100 * 2 / 3, 100 * first / 5, 100 * 2 / 3, 100.0))
    assert result["metrics"]["accuracy/prompt_following/background_change"] == 50.0
    assert result["metrics"]["accuracy/overall/text_change"] == 100.0
    first_judge, _ = judged_both(tmp_path / "first", EDITSCORE, data, lambda p: "Image 1 is better.",
                                 protocol="unifiedreward")
    assert reliability(first_judge) == (0.0, 100.0, 0.0, 100.0)
    assert first_judge["metrics"]["accuracy/consistency/subject-add"] == 50.0


def test_editscore_pointwise_protocol_has_no_order_to_swap(tmp_path):
    """`editscore` scores each candidate alone: both orders is refused with the reason, before any work (the
    runner asks `both_orders_refusal`)."""
    task = EditRewardBenchEditScore()
    cfg = task.config("editscore", 0, None, None)
    assert "scores each candidate alone" in task.both_orders_refusal(cfg)
    assert task.both_orders_refusal(task.config("unifiedreward", 0, None, None)) is None
    assert task.both_orders_deviation(task.config("unifiedreward", 0, None, None)) is None
    data = builders.editreward_bench_editscore(tmp_path / "data")
    calls = []
    with pytest.raises(UsageError, match="scores each candidate alone"):
        judged_both(tmp_path, EDITSCORE, data, lambda p: calls.append(p) or '{"score": [10, 10]}',
                    protocol="editscore")
    assert calls == []


# ---- VideoRewardBench --------------------------------------------------------------------------------------
# The conformance rows: one triplet per dimension, vrb-0 .. vrb-4.

def test_videorewardbench_both_orders(tmp_path):
    """Always "Response 1": 0 / 100 / 0 / 100, overall accuracy 5/10. Gold judge with "Both answers are plausible."
    on vrb-2 (knowledge) swapped: 80 / (4 + [vrb-2 forward shows the chosen first]) / 9 / 80 / 100; knowledge 1/2,
    overall 9/10."""
    data = builders.videorewardbench(tmp_path / "data")
    first, _ = judged_both(tmp_path / "first", "videorewardbench", data, lambda p: "Response 1 is better.")
    assert reliability(first) == (0.0, 100.0, 0.0, 100.0) and first["metrics"]["overall_accuracy"] == 50.0

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        swapped = prepared.request.meta["swapped"]
        assert swapped == (seeded_swap(0, item) != flipped)
        if prepared.request.sample_id == "vrb-2::swapped":
            return "Both answers are plausible."
        return f"Overall Judgment: Answer {2 if swapped else 1} is better."

    result, records = judged_both(tmp_path / "gold", "videorewardbench", data, gold)
    hits = 4 + (not seeded_swap(0, "vrb-2"))
    assert reliability(result) == pytest.approx((80.0, 100 * hits / 9, 80.0, 100.0))
    assert result["metrics"]["accuracy/knowledge"] == 50.0 and result["metrics"]["overall_accuracy"] == 90.0
    assert records["vrb-2::swapped"]["status"] == "invalid" and result["counts"]["n"] == 10
    assert VideoRewardBench().both_orders_deviation(VideoRewardBench().config(None, 0, None, None)) is None


# ---- ShareGPTVideo pairs -----------------------------------------------------------------------------------
# The conformance rows: p0 (a video, gold 0) and p1 (frames, gold 1).

def test_sharegptvideo_pairs_both_orders(tmp_path):
    """Always "Answer 1": 0 / 100 / 0 / 100, accuracy 50. Gold judge, "I cannot decide." on p0 swapped:
    50 / (1 + [p0 forward shows its better response first]) / 3 / 50 / 100, accuracy 3/4."""
    data = builders.sharegptvideo_pairs(tmp_path / "data")
    better = {"p0": 0, "p1": 1}
    first, _ = judged_both(tmp_path / "first", "sharegptvideo_pairs", data,
                           lambda p: "Overall Judgment: Answer 1 is better than Answer 2.")
    assert reliability(first) == (0.0, 100.0, 0.0, 100.0) and first["metrics"]["accuracy"] == 50.0

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        swapped = prepared.request.meta["swapped"]
        assert swapped == (seeded_swap(0, item) != flipped)
        if prepared.request.sample_id == "p0::swapped":
            return "I cannot decide."
        return f"Answer {1 if (better[item] == 0) != swapped else 2} is better."

    result, _ = judged_both(tmp_path / "gold", "sharegptvideo_pairs", data, gold)
    hits = 1 + (not seeded_swap(0, "p0"))
    assert reliability(result) == pytest.approx((50.0, 100 * hits / 3, 50.0, 100.0))
    assert result["metrics"]["accuracy"] == 75.0
    assert ShareGPTVideoPairs().both_orders_deviation(ShareGPTVideoPairs().config(None, 0, None, None)) is None


# ---- Multi-Crit ----------------------------------------------------------------------------------------------
# The conformance rows (split open_ended): prompts open_ended-p0 and -p1, five criteria each, the preference
# model_a where prompt + criterion index is even: p0 a b a b a, p1 b a b a b. 10 items, 20 judgments.

def test_multi_crit_official_fixed_order_a_first_answer_judge(tmp_path):
    """`official` always shows pred_a first; both orders adds pred_b first. Always "Response 1": 0 / 100 / 0 / 100.
    Each order's rows are their own table: 4 (prompt, order) units, no repeated question id; overall accuracy
    10/20; every unit has a wrong row (PAcc 0), one prediction throughout (TOS 0), and each conflicting pair has
    a wrong side (CMR 0)."""
    data = builders.multi_crit(tmp_path / "data")
    result, records = judged_both(tmp_path, "multi_crit", data, lambda p: "**Response 1** is better.")
    assert reliability(result) == (0.0, 100.0, 0.0, 100.0)
    m = result["metrics"]
    assert (m["overall_accuracy"], m["pluralistic_accuracy"], m["tradeoff_sensitivity"],
            m["conflict_matching_rate"]) == (50.0, 0.0, 0.0, 0.0)
    assert result["details"]["n_prompts"] == 4 and result["details"]["n_repeated_question_ids"] == 0
    assert records["open_ended-p0__clarity::swapped"]["outcome"]["prediction"] == "model_b"
    task = MultiCrit()
    assert "never shows" in task.both_orders_deviation(task.config("official", 0, None, None))
    assert task.both_orders_deviation(task.config("strict", 0, None, None)) is None


def test_multi_crit_strict_gold_judge_with_an_unreadable_reply(tmp_path):
    """`strict` (order per prompt, inverted for the other record). Gold judge, "Hard to say." on
    open_ended-p0__completeness swapped (preference model_a): 9/10 consistent and right in both orders, 10/10 in
    either; 19 deciding verdicts, 9 first-shown from the complete items, one more when p0's forward order shows
    model_a first (not swapped). Task: overall 19/20, completeness 3/4, PAcc 3/4 units (p0's swapped unit has the
    wrong row), TOS 4/4 (that unit still has conflicting pairs answered apart), CMR: 6 conflicting pairs per unit,
    24 in all, the 2 pairing the unread row (with p0's two model_b rows) missed: 22/24."""
    data = builders.multi_crit(tmp_path / "data")
    unread = "open_ended-p0__completeness"

    def gold(prepared) -> str:
        item, flipped = item_of(prepared)
        prompt, criterion = item.split("__")
        swapped = prepared.request.meta["swapped"]
        assert swapped == (seeded_swap(0, prompt) != flipped)
        if prepared.request.sample_id == unread + "::swapped":
            return "Hard to say."
        k = ("completeness", "visual-grounding", "hallucination", "expressiveness", "clarity").index(criterion)
        model_a = (int(prompt[-1]) + k) % 2 == 0
        return f"Both have merit.\n**Response {1 if model_a != swapped else 2}** is better."

    result, _ = judged_both(tmp_path, "multi_crit", data, gold, protocol="strict")
    hits = 9 + (not seeded_swap(0, "open_ended-p0"))
    assert reliability(result) == pytest.approx((90.0, 100 * hits / 19, 90.0, 100.0))
    m = result["metrics"]
    assert m["overall_accuracy"] == 95.0 and m["accuracy/completeness"] == 75.0
    assert (m["pluralistic_accuracy"], m["tradeoff_sensitivity"]) == (75.0, 100.0)
    assert m["conflict_matching_rate"] == pytest.approx(100 * 22 / 24)
    assert result["details"]["n_conflict_pairs"] == 24
