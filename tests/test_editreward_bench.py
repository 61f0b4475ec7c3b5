"""The two EditReward-Bench tasks: TIGER-Lab's (`editreward_bench_tiger`) and EditScore's
(`editreward_bench_editscore`), end to end through `harness.runner.run` on fixture rows written in the hub's
file layout (tests/fixtures_editreward), with metrics checked by hand and against plain re-implementations of
the benchmarks' scoring code written here from its description."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from harness.api import describe_task
from harness.errors import UsageError
from harness.records import Judgment, Reply
from harness.runner import RunOptions, run
from harness.task import Row
from reports.spec import load_spec
from reward.scripted import ScriptedAdapter
from tasks.editreward_bench import EditRewardBenchTiger, official_vote
from tasks.editreward_metrics import accuracy_with_ties, ranking_from_pairs, script_ranking
from tasks.editscore_bench import EditRewardBenchEditScore, candidate_scores, score_list
from tasks.embedded_rows import PART_FIELD
from tasks.pairwise import seeded_swap
from tests.fixtures_editreward.build import png, tiger_rows, write_editscore, write_tiger

from .conftest import read_jsonl

TIGER, EDITSCORE = "editreward_bench_tiger", "editreward_bench_editscore"
ROOT = Path(__file__).resolve().parents[1]



def judged(out: Path, name: str, data: Path, model: str, protocol: str | None = None, model_args: dict | None = None,
           adapter: ScriptedAdapter | None = None) -> tuple[dict, dict[str, dict]]:
    outcome = run(RunOptions(tasks=[name], model=model, model_args=model_args or {}, protocol=protocol, data_dir=data,
                             output=out, use_cache=False, bootstrap_resamples=20), adapter=adapter)
    records = read_jsonl(outcome.dir / f"{name}.samples.jsonl")
    return outcome.results["tasks"][name], {r["id"]: r for r in records}


def rows_by_id() -> dict[str, dict]:
    """Fixture rows keyed by the task's sample ids."""
    out = {}
    for subset, rows in tiger_rows().items():
        for row in rows:
            k = subset[0]
            out[f"k2/{row['id']}" if k == "2" else f"k{k}/{row['id']}/{row['comparison_type']}"] = row
    return out


def left_wins(row: dict) -> bool:
    return row["ranking"].startswith(row["comparison_type"][0])


# ---- TIGER-Lab's EditReward-Bench ------------------------------------------------------------------------

def test_tiger_official_end_to_end_with_ties_invalid_replies_and_groups(tmp_path):
    """K=2: p1 right, p2 wrong, p3 a human tie answered [[A=B]] (right), p4 no verdict (invalid, wrong): 2/4.
    K=3: group g3-0001 all right; g3-0002 (ids g3-0002_1.._3, one group by the '_' rule) answers [[A>B]] on
    its AvsC comparison, a vote for another pair (wrong): 5/6 comparisons, 1/2 groups.
    K=4: g4-0001 all right; g4-0002 wrong on BvsC: 11/12 comparisons, 1/2 groups."""
    rows = rows_by_id()
    fixed = {"k2/p1": "Model A keeps the sky natural. [[A>B]]", "k2/p2": "[[A>B]]",
             "k2/p3": "Both look similar in quality. [[A=B]]", "k2/p4": "I prefer neither of them.",
             "k3/g3-0001/BvsC": "The right image is better overall.", "k3/g3-0002_2/AvsC": "[[A>B]]"}

    def answer(prepared) -> str:
        sid = prepared.request.sample_id
        if sid in fixed:
            return fixed[sid]
        right = left_wins(rows[sid]) != (sid == "k4/g4-0002/BvsC")
        return "Final verdict: [[Left>Right]]" if right else "Final verdict: [[Right>Left]]"

    result, records = judged(tmp_path / "runs", TIGER, write_tiger(tmp_path / "data"), "scripted",
                             adapter=ScriptedAdapter(fn=answer))
    assert result["protocol"] == "official"
    assert result["metrics"] == pytest.approx({"accuracy/k2": 50.0, "group_accuracy/k3": 50.0,
                                               "group_accuracy/k4": 50.0, "pairwise_accuracy/k3": 100 * 5 / 6,
                                               "pairwise_accuracy/k4": 100 * 11 / 12})
    assert result["counts"] == {"n": 22, "n_invalid": 1, "n_error": 0}
    assert records["k2/p4"]["outcome"]["vote"] == "Unknown" and records["k2/p4"]["status"] == "invalid"
    assert records["k3/g3-0002_2/AvsC"]["outcome"]["vote"] == "A>B"
    assert records["k3/g3-0001/BvsC"]["outcome"]["vote"] == "C>B"
    assert result["dataset"]["subsets"] == ["2pair", "3pair", "4pair"] and result["dataset"]["groups/k4"] == 2


def test_tiger_unifiedreward_replayed_both_orders_a_failed_comparison_and_ties(tmp_path):
    """Replayed UnifiedReward-Edit-style replies, right where not said: K=2 p3 (human tie) "equally good"
    (right), p4 names the other image (wrong): 3/4. K=3: g3-0001/BvsC has no reply (an error: its group has
    2 of 3 answered comparisons, counted and wrong), the 5 answered are right: 100 %, groups 1/2. K=4:
    g4-0002/AvsB unparseable (invalid, wrong): 11/12, groups 1/2."""
    rows = rows_by_id()
    swaps = {sid: seeded_swap(0, sid) for sid in rows}
    assert len(set(swaps.values())) == 2  # both answer orders occur
    replies = []
    for sid, row in rows.items():
        gold = 1 if left_wins(row) != swaps[sid] else 2
        text = {"k2/p3": "Both images are equally good.", "k2/p4": f"Image {3 - gold} is better.",
                "k4/g4-0002/AvsB": "I cannot tell."}.get(sid, f"Edited Image {gold} is better than the other.")
        if sid != "k3/g3-0001/BvsC":
            replies.append({"id": sid, "response": text})
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in replies), encoding="utf-8")
    result, records = judged(tmp_path / "runs", TIGER, write_tiger(tmp_path / "data"), "replay", "unifiedreward",
                             {"path": str(path)})
    assert result["metrics"] == pytest.approx({"accuracy/k2": 75.0, "group_accuracy/k3": 50.0,
                                               "group_accuracy/k4": 50.0, "pairwise_accuracy/k3": 100.0,
                                               "pairwise_accuracy/k4": 100 * 11 / 12})
    assert result["counts"] == {"n": 22, "n_invalid": 1, "n_error": 1}
    assert records["k3/g3-0001/BvsC"]["status"] == "error"
    assert all(records[sid]["outcome"]["swapped"] == swaps[sid] for sid in rows if sid != "k3/g3-0001/BvsC")


SCORES = {"k2/p1/A": 0.9, "k2/p1/B": 0.1, "k2/p2/A": 0.5, "k2/p2/B": 0.5, "k2/p3/A": 0.3, "k2/p3/B": 0.35,
          "k2/p4/A": 0.2, "k2/p4/B": 0.6, "k3/g3-0001/A": 0.5, "k3/g3-0001/B": 0.2, "k3/g3-0001/C": 0.7,
          **{f"k3/g3-0002_{i}/{c}": {"A": 0.4, "B": 0.4, "C": 0.1}[c] for i, pair in ((1, "AB"), (2, "AC"), (3, "BC"))
             for c in pair},
          **{f"k4/g4-0001/{c}": s for c, s in zip("ABCD", (0.6, 0.5, 0.1, 0.9))},
          **{f"k4/g4-0002/{c}": s for c, s in zip("ABCD", (0.8, 0.3, 0.5, 0.1))}}


def test_tiger_scores_protocol_is_eval_bench_by_hand(tmp_path):
    """Margins m = s(candidate_1) - s(candidate_2).
    K=2 (h, m): (1, .8) (-1, 0) (0, -.05) (1, -.4). With ties, thresholds 0, .05, .4, .8 give (C + Thm) / 4 =
    1/4, 2/4, 2/4, 1/4: 50 % at epsilon .05. Strict: p1 s1 > s2 right; p2 B>A with equal scores right (argsort
    puts index 1 first); p3 tie |m| = .05 <= .05 right; p4 wrong: 3/4.
    K=3: g3-0001 (C>A>B) scores .5 .2 .7 ranks C, A, B: right; g3-0002 (B>A>C) .4 .4 .1: argsort gives B
    before A on the tie: right (2/2). Pairs: all concordant but g3-0002 AvsB (m = 0, discordant): 5/6.
    K=4: g4-0001 (D>A>B>C) .6 .5 .1 .9 right; g4-0002 (A>B>C>D) .8 .3 .5 .1 ranks A, C, B, D: wrong (1/2);
    pairs 11/12 (g4-0002 BvsC discordant). Strict overall (3 + 2 + 1) / (4 + 2 + 2) = 75 %. Pairwise overall
    with ties over the 22 pairs: 17 concordant (|m| >= .1) + the human tie at epsilon .05: 18/22."""
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps({"media": m, "score": s}) + "\n" for m, s in SCORES.items()), encoding="utf-8")
    result, records = judged(tmp_path / "runs", TIGER, write_tiger(tmp_path / "data"), "scores",
                             model_args={"path": str(path)})
    assert result["protocol"] == "scores"
    metrics = dict(result["metrics"])
    # Accuracy per |margin| quartile and the ECE: every scalar scorer's (tasks.pairwise.MarginReliability, whose
    # numbers are checked by hand in tests/test_reliability_generation.py); here, that they are reported.
    reliability = {k: metrics.pop(k) for k in list(metrics) if k.startswith("accuracy/abs_margin/") or k == "ece"}
    assert "ece" in reliability and len(reliability) >= 2
    assert result["details"]["calibration"]["n"] == 22 - 1  # the human tie is left out
    assert metrics == pytest.approx({
        "strict_accuracy/k2": 75.0, "strict_accuracy/k3": 100.0, "strict_accuracy/k4": 50.0, "strict_accuracy": 75.0,
        "pairwise_accuracy/k2": 50.0, "pairwise_accuracy/k3": 100 * 5 / 6, "pairwise_accuracy/k4": 100 * 11 / 12,
        "pairwise_accuracy": 100 * 18 / 22})
    assert records["k2/p2"]["outcome"]["margin"] == 0.0


# ---- plain re-implementations from the benchmark's description, on generated tables ---------------------

def script_group_accuracy(results: list[dict], expected: int) -> float:
    """inference_<K>pair_hf.py: results of answered comparisons {id, is_correct}; group by the id prefix rule;
    a group is right when it has `expected` results and all are correct."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        gid = r["id"].split("_")[0] if "_" in r["id"] else r["id"][:10]
        groups.setdefault(gid, []).append(r)
    right = sum(1 for g in groups.values() if len(g) == expected and all(r["is_correct"] for r in g))
    return 100.0 * right / len(groups)


def test_group_accuracy_equals_the_scripts_rule_on_random_groups():
    """Generated 3- and 4-candidate groups (ids shared by the group or `<group>_<n>` per row), each comparison
    answered at random (right, wrong, unparseable) or failed; the rows go through the task's `sample`,
    `requests` and `parse`, and the scores equal the scripts' rule applied to what was answered."""
    task = EditRewardBenchTiger()
    cfg = task.config("official", 0, None, None)
    image = png("any")
    rng = random.Random(15)
    judgments, results = [], {3: [], 4: []}
    for k, n_groups in ((3, 60), (4, 45)):
        for g in range(n_groups):
            shared = rng.random() < 0.5
            order = rng.sample("ABCD"[:k], k)
            for n, (x, y) in enumerate(itertools.combinations("ABCD"[:k], 2)):
                source_id = f"G{k}x{g:03d}" if shared else f"G{k}x{g:03d}_{n}"
                winner, loser = (x, y) if order.index(x) < order.index(y) else (y, x)
                fields = {PART_FIELD: f"{k}pair", "id": source_id, "instruction": "add a hat",
                          "ranking": f"{winner}>{loser}", "comparison_type": f"{x}vs{y}", "source_image": image,
                          "candidate_1": {"bytes": image, "path": None}, "candidate_2": {"bytes": image}}
                sid = f"k{k}/{source_id}/{x}vs{y}"
                sample = task.sample(Row(len(judgments), sid, fields, where=f"generated row {len(judgments)}"))
                fate = rng.choices(["right", "wrong", "invalid", "error"], [0.7, 0.15, 0.08, 0.07])[0]
                if fate == "error":  # the judge call failed: the runner records an error, parse never runs
                    judgments.append(Judgment(sid, "error", reason="adapter failed"))
                    continue
                left = (winner == x) == (fate == "right")
                text = "I cannot tell." if fate == "invalid" else f"[[{'Left>Right' if left else 'Right>Left'}]]"
                (request,) = task.requests(sample, cfg)
                parsed = task.parse(sample, [(request, Reply(request.key, text=text))], cfg)
                judgments.append(Judgment(sid, parsed.status, outcome=parsed.outcome))
                results[k].append({"id": source_id, "is_correct": fate == "right"})
    rng.shuffle(judgments)
    point = task.score(judgments, cfg).point()
    for k, expected in ((3, 3), (4, 6)):
        assert point[f"group_accuracy/k{k}"] == pytest.approx(script_group_accuracy(results[k], expected), abs=1e-12)
        plain = 100.0 * sum(r["is_correct"] for r in results[k]) / len(results[k])
        assert point[f"pairwise_accuracy/k{k}"] == pytest.approx(plain, abs=1e-12)
    assert 0 < point["group_accuracy/k3"] < 100 and 0 < point["group_accuracy/k4"] < 100


def script_with_ties(h: list[int], m: list[float]) -> tuple[float, float]:
    """calc_accuracy_with_ties_for_edit_reward_bench: every threshold in [0] + sorted distinct |m|, the first best
    (C + Thm) / N, C/Thm as suff_stats counts them."""
    best, best_eps = -1.0, -1.0
    for eps in [0.0] + sorted({abs(v) for v in m}):
        c = thm = 0
        for hi, mi in zip(h, m):
            if hi == 0 and abs(mi) <= eps:
                thm += 1
            elif hi != 0 and abs(mi) > eps and hi * mi > 0:
                c += 1
        if (c + thm) / len(h) > best:
            best, best_eps = (c + thm) / len(h), eps
    return best, best_eps


def test_scalar_metrics_equal_eval_bench_on_random_scores_with_ties():
    """Random groups: a human ranking string per item (K=2 may tie), scores on a coarse grid (ties happen),
    as eval_bench.py reads `EditReward_Bench_<K>pair.json`: strict = `tuple(np.argsort(scores)[::-1])` equals
    the ranking (a K=2 tie: |s1 - s2| <= the K=2 optimal epsilon); pairs from combinations(range(K), 2)."""
    rng = random.Random(7)
    judgments, items = [], {2: [], 3: [], 4: []}
    for k, n_items in ((2, 80), (3, 50), (4, 40)):
        for i in range(n_items):
            order = rng.sample("ABCD"[:k], k)
            tie = k == 2 and rng.random() < 0.25
            scores = [rng.choice([0.1, 0.2, 0.3, 0.4, 0.5]) for _ in range(k)]
            items[k].append((order, tie, scores))
            for x, y in itertools.combinations("ABCD"[:k], 2):
                h = 0 if tie else (1 if order.index(x) < order.index(y) else -1)
                sx, sy = scores["ABCD".index(x)], scores["ABCD".index(y)]
                judgments.append(Judgment(f"k{k}/i{i}/{x}vs{y}", "ok", outcome={
                    "k": k, "group": f"k{k}/i{i}", "pair": x + y, "h": h, "scores": {"A": sx, "B": sy},
                    "margin": sx - sy}))
    point = EditRewardBenchTiger().score(judgments, EditRewardBenchTiger().config("scores", 0, None, None,
                                                                                   scorer=True)).point()
    pairs: dict[int, tuple[list[int], list[float]]] = {}
    strict: dict[int, list[bool]] = {}
    for k, entries in items.items():
        hs, ms, right = [], [], []
        for order, tie, scores in entries:
            for i, j in itertools.combinations(range(k), 2):
                hs.append(0 if tie else (1 if order.index("ABCD"[i]) < order.index("ABCD"[j]) else -1))
                ms.append(scores[i] - scores[j])
        eps = script_with_ties(hs, ms)[1] if k == 2 else 0.0
        for order, tie, scores in entries:
            if tie:
                right.append(abs(scores[0] - scores[1]) <= eps)
            else:
                right.append(tuple(np.argsort(scores)[::-1]) == tuple("ABCD".index(c) for c in order))
        pairs[k], strict[k] = (hs, ms), right
    assert point["pairwise_accuracy/k2"] == pytest.approx(100 * script_with_ties(*pairs[2])[0], abs=1e-9)
    for k in (3, 4):
        h, m = np.array(pairs[k][0]), np.array(pairs[k][1])
        assert point[f"pairwise_accuracy/k{k}"] == pytest.approx(100 * np.mean(h * m > 0), abs=1e-9)
    for k in (2, 3, 4):
        assert point[f"strict_accuracy/k{k}"] == pytest.approx(100 * np.mean(strict[k]), abs=1e-9)
    everything = [v for k in (2, 3, 4) for v in strict[k]]
    assert point["strict_accuracy"] == pytest.approx(100 * np.mean(everything), abs=1e-9)
    all_h = sum((pairs[k][0] for k in (2, 3, 4)), [])
    all_m = sum((pairs[k][1] for k in (2, 3, 4)), [])
    assert point["pairwise_accuracy"] == pytest.approx(100 * script_with_ties(all_h, all_m)[0], abs=1e-9)
    assert accuracy_with_ties(np.array(pairs[2][0], float), np.array(pairs[2][1])) == \
        pytest.approx(script_with_ties(*pairs[2]))


def test_metric_helpers():
    # Two thresholds reach the best (C + Thm) / N = 2/3 (epsilon .1 and .3): the first is the epsilon.
    h, m = np.array([0.0, 1.0, 0.0]), np.array([0.1, 0.2, 0.3])
    assert accuracy_with_ties(h, m) == pytest.approx((2 / 3, 0.1)) == script_with_ties([0, 1, 0], [0.1, 0.2, 0.3])
    assert script_ranking([0.4, 0.4, 0.1]) == (1, 0, 2) == tuple(np.argsort([0.4, 0.4, 0.1])[::-1])
    assert ranking_from_pairs(3, [("A", "B", -1), ("A", "C", 1), ("B", "C", 1)]) == (1, 0, 2)
    assert ranking_from_pairs(3, [("A", "B", 1), ("A", "C", -1), ("B", "C", 1)]) is None  # a cycle
    assert ranking_from_pairs(3, [("A", "B", 1), ("A", "C", 0), ("B", "C", 1)]) is None  # a tie


# ---- the benchmark's verdict parser, quirks included ------------------------------------------------------

@pytest.mark.parametrize("text,k,pair,vote", [
    ("After comparing... [[B>A]]", 2, "AB", "B>A"),
    ("\\boxed{A>B}", 2, "AB", "A>B"),
    ("Final verdict: A=B", 2, "AB", "A=B"),
    ("Model B is better.", 2, "AB", "B>A"),
    ("Both edits keep the original properties.", 2, "AB", "A=B"),  # 'properties' holds 'tie'
    ("[[A=B=Good]]", 2, "AB", "A=B"),
    ("[[Maybe]] Final verdict: B>A", 2, "AB", "Unknown"),  # the first match names nothing: the search ends
    ("[[Maybe]] A is better", 2, "AB", "A>B"),  # ... but "X is better" is still read
    ("I prefer neither of them.", 2, "AB", "Unknown"),
    ("[[Left>Right]]", 3, "BC", "B>C"),
    ("[[Right>Left]]", 4, "AD", "D>A"),
    ("[[A>B]]", 3, "AC", "A>B"),  # a vote for another pair is read as such (and is wrong)
    ("C is better", 3, "AC", "C>A"),
    ("the left image is better", 4, "CD", "C>D"),
    ("[[A=C]]", 3, "AC", "Unknown"),  # K=3/4 votes have no tie
])
def test_official_vote(text, k, pair, vote):
    assert official_vote(text, k, pair[0], pair[1]) == vote


# ---- EditScore's EditReward-Bench -------------------------------------------------------------------------

#: Each candidate's (SC reply, PQ reply), as a deterministic judge would answer it in every row.
EDITSCORE_REPLIES = {
    "bg_001_m1": ('{"reasoning": "sky changed", "score": [20, 10]}', '{"reasoning": "ok", "score": [20, 15]}'),
    "bg_001_m2": ('{"reasoning" : "...", "score" : [15, 15]}', '{"score": [25, 25]}'),
    "bg_002_m3": ("I cannot score this.", '{"score": [20, 20]}'),
    "bg_002_m1": ('{"score": [25, 25]}', '{"score": [25, 25]}'),
    "add_001_m2": ('{"score": [20, 20]}', '{"score": [10, 10]}'),
    "add_001_m4": ('{"score": [20, 5]}', '{"score": [20, 20]}'),
    "txt_001_m1": ('Reasoning first. {"reasoning": "the text is right", "score": [22, 18]}', "[21, 23]"),
    "txt_001_m5": ('{"score": [25, 10]}', '{"score": [25, 25]}'),
}


def test_editscore_protocol_end_to_end_by_hand(tmp_path):
    """Scores / 2.5: bg_001_m1 pf 8, cons 4, overall sqrt(4 x 6) = 4.90; bg_001_m2 6, 6, sqrt(6 x 10) = 7.75:
    right on prompt_following only. bg_002: the first candidate's SC reply has no scores (invalid, wrong).
    add_001: m2 8, 8, sqrt(8 x 4) = 5.66 vs m4 8, 2, sqrt(2 x 8) = 4: prompt_following tied (wrong),
    overall right. txt_001: m1 consistency 7.2 (JSON inside prose) vs m5 4: right.
    prompt_following: background_change 1/2, subject-add 0/1 -> average 25; consistency: background_change 0,
    text_change 100 -> 50; overall: background_change 0, subject-add 100 -> 50."""
    def answer(prepared) -> str:
        request = prepared.request
        label = request.media[-1].label  # the edited image is the last medium of both prompts
        return EDITSCORE_REPLIES[label][0 if request.meta["prompt"] == "sc" else 1]

    result, records = judged(tmp_path / "runs", EDITSCORE, write_editscore(tmp_path / "data"), "scripted",
                             adapter=ScriptedAdapter(fn=answer))
    m = result["metrics"]
    assert result["protocol"] == "editscore" and len(m) == 54
    assert {k: m[k] for k in ("accuracy/prompt_following", "accuracy/consistency", "accuracy/overall")} == \
        pytest.approx({"accuracy/prompt_following": 25.0, "accuracy/consistency": 50.0, "accuracy/overall": 50.0})
    assert m["accuracy/prompt_following/background_change"] == pytest.approx(50.0)
    assert m["accuracy/prompt_following/subject-add"] == 0.0 and m["accuracy/overall/subject-add"] == 100.0
    assert m["accuracy/consistency/text_change"] == 100.0 and m["accuracy/prompt_following/scene"] == 50.0
    assert m["accuracy/overall/object"] == 100.0 and m["accuracy/consistency/advanced"] == 100.0
    assert m["accuracy/prompt_following/appearance"] is None  # no subtask of the group in the data
    assert result["counts"] == {"n": 7, "n_invalid": 1, "n_error": 0}
    first = records["overall/bg_001_m1/bg_001_m2"]["outcome"]["scores"]["A"]
    assert first == pytest.approx({"prompt_following": 8.0, "consistency": 4.0, "perceptual_quality": 6.0,
                                   "overall": 24 ** 0.5})


def test_editscore_scores_protocol_from_a_score_file(tmp_path):
    """By (sample id, candidate): prompt_following right on bg_001 and add_001 (bg_002 has no score for B: an
    error, left out) -> 100; consistency bg_001 tie (wrong), txt_001 lower (wrong) -> 0; overall bg_001
    wrong, add_001 right -> 50."""
    margins = {"prompt_following/bg_001_m1/bg_001_m2": (0.9, 0.1), "consistency/bg_001_m1/bg_001_m2": (0.5, 0.5),
               "overall/bg_001_m1/bg_001_m2": (0.2, 0.7), "prompt_following/bg_002_m3/bg_002_m1": (0.4, None),
               "prompt_following/add_001_m2/add_001_m4": (0.6, 0.4), "overall/add_001_m2/add_001_m4": (0.3, 0.1),
               "consistency/txt_001_m1/txt_001_m5": (0.2, 0.8)}
    lines = [json.dumps({"id": sid, "candidate": c, "score": s}) for sid, pair in margins.items()
             for c, s in zip("AB", pair) if s is not None]
    path = tmp_path / "scores.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, _ = judged(tmp_path / "runs", EDITSCORE, write_editscore(tmp_path / "data"), "scores",
                       model_args={"path": str(path)})
    m = result["metrics"]
    assert (m["accuracy/prompt_following"], m["accuracy/consistency"], m["accuracy/overall"]) == \
        pytest.approx((100.0, 0.0, 50.0))
    assert result["counts"] == {"n": 7, "n_invalid": 0, "n_error": 1}


def test_editscore_score_reading_and_arithmetic():
    assert score_list('{"reasoning" : "...", "score" : [...]} then {"score": [7, 9.5]}') == [7.0, 9.5]
    assert score_list("  [6, 0] ") == [6.0, 0.0] and score_list("score: none") is None
    got = candidate_scores('{"score": [20, 15]}', '{"score": [25, 10]}')
    assert got == pytest.approx({"prompt_following": 8.0, "consistency": 6.0, "perceptual_quality": 4.0,
                                 "overall": 24 ** 0.5})  # sqrt(min(20, 15)/2.5 x min(25, 10)/2.5)
    assert isinstance(candidate_scores('{"score": [20]}', "[1, 2]"), str)
    assert isinstance(candidate_scores('{"score": [-5, 10]}', "[10, 10]"), str)


# ---- prompts, data, bad input ---------------------------------------------------------------------------------

#: sha256 of each prompt file, equal to the bytes assembled from the cited sources (see the task docstrings).
PROMPT_SHA256 = {
    "editreward_tiger_2pair.txt": "e74f348817fd86ad9a285f8b4f564a1ff89748a0c2ab507de5d00ac9f03b3917",
    "editreward_tiger_3pair.txt": "7e63a5e6eeaa4cf9b1a761c7bab51894081fc201db7473d3d82454e12468e1de",
    "editreward_tiger_4pair.txt": "847f0d4b8e934bd843a99027100842da8280c7a9d3fee0f9e7207d31b3a9e4ae",
    "editreward_editscore_sc.txt": "2fbb018b0e448b2d6066266556ad88019129b7842073fdae7e48c1ffd54abbf5",
    "editreward_editscore_pq.txt": "8249deba103d112dddd4c2e7fe1d5a1c40fe3143dc640a422a19aced0d260c78",
}


def test_prompts_are_the_sources_bytes_and_fill_as_the_scripts_do(tmp_path):
    for name, digest in PROMPT_SHA256.items():
        assert hashlib.sha256((ROOT / "tasks" / "prompts" / name).read_bytes()).hexdigest() == digest, name
    task = EditRewardBenchTiger()
    cfg = task.config("official", 0, None, write_tiger(tmp_path / "t"))
    samples = {s.id: s for s in task.load(cfg).samples}
    sample = samples["k3/g3-0001/AvsC"]
    (request,) = task.requests(sample, cfg)
    template = (ROOT / "tasks/prompts/editreward_tiger_3pair.txt").read_text(encoding="utf-8")
    filled = template.replace("<instruct_prompt>", sample.data["instruction"]).replace("<comparison_type>", "AvsC")
    for slot in ("<source_image>", "<left_output_image>", "<right_output_image>"):
        filled = filled.replace(slot, "")
    assert request.text == filled and request.media == sample.media
    assert [m.label for m in request.media] == ["k3/g3-0001/source", "k3/g3-0001/A", "k3/g3-0001/C"]
    assert sample.media[1].loader() == png("g3-0001_A.png")  # the embedded bytes, undecoded
    sc = (ROOT / "tasks/prompts/editreward_editscore_sc.txt").read_text(encoding="utf-8")
    assert "From scale 0 to 25" in sc and "score1 evaluates" not in sc and sc.count("<instruction>") == 1


def test_bad_rows_name_their_file_row_and_field(tmp_path):
    rows = tiger_rows()
    rows["2pair"][1]["ranking"] = "A>C"
    rows["3pair"][0]["comparison_type"] = "AvsE"
    rows["3pair"][1]["candidate_2"] = None
    rows["4pair"][0]["dataset"] = "3pair"
    task = EditRewardBenchTiger()
    problems = [s.problem for s in task.load(task.config(None, 0, None, write_tiger(tmp_path / "t", rows))).samples
                if s.problem]
    assert problems == [
        "2pair/train-00000-of-00001.parquet row 1 (id k2/p2): field 'ranking' must be one of A>B, B>A, A=B for "
        "this comparison, got 'A>C'",
        "3pair/train-00000-of-00001.parquet row 0 (id k3/g3-0001/AvsE): field 'comparison_type' must be one of "
        "AvsB, AvsC, BvsC for 3pair, got 'AvsE'",
        "3pair/train-00000-of-00001.parquet row 1 (id k3/g3-0001/AvsC): field 'candidate_2' holds no embedded "
        "image bytes",
        "4pair/train-00000-of-00001.parquet row 0 (id k4/g4-0001/AvsB): field 'dataset' is '3pair' in the 4pair/ "
        "files (expected '4pair')"]
    es_rows = json.loads((ROOT / "tests/fixtures_editreward/editscore_rows.json").read_text())
    es_rows[0]["task_type"], es_rows[1]["output_images"] = "sky_change", es_rows[1]["output_images"][:1]
    es = EditRewardBenchEditScore()
    bad = [s.problem for s in es.load(es.config(None, 0, None, write_editscore(tmp_path / "e", es_rows))).samples
           if s.problem]
    assert bad[0].startswith("data-00000-of-00001.arrow row 0 (id prompt_following/bg_001_m1/bg_001_m2): field "
                             "'task_type' 'sky_change' is none of the 13 subtasks")
    assert "row 1" in bad[1] and "field 'output_images' must hold two images" in bad[1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no 2pair/, 3pair/ or 4pair/ Parquet files there"):
        task.load(task.config(None, 0, None, tmp_path / "empty"))
    with pytest.raises(UsageError, match="no .arrow or .parquet data files there"):
        es.load(es.config(None, 0, None, tmp_path / "empty"))
    with pytest.raises(UsageError, match="needs a generative judge|is for scalar scorers"):
        task.config("scores", 0, None, None)


def test_hub_reads_each_subset_at_the_pinned_commit(stand_in_hub):
    from tasks.editreward_bench import HF_REVISION

    calls, tables = stand_in_hub
    for subset, rows in tiger_rows().items():
        tables[("TIGER-Lab/EditReward-Bench", subset)] = [
            {**r, **{c: {"bytes": png(r[c]), "path": r[c]} for c in ("source_image", "candidate_1", "candidate_2")}}
            for r in rows]
    task = EditRewardBenchTiger()
    loaded = task.load(task.config(None, 0, None, None))
    assert [c.data_files for c in calls] == [{"train": f"{s}/*.parquet"} for s in ("2pair", "3pair", "4pair")]
    assert {c.revision for c in calls} == {HF_REVISION} and loaded.info["revision"] == HF_REVISION
    assert len(loaded.samples) == 22 and not [s for s in loaded.samples if s.problem]
    assert loaded.samples[4].id == "k3/g3-0001/AvsB" and loaded.samples[4].media[0].loader() == png("g3-0001_src.png")


def test_editscore_hub_is_read_as_evaluation_py_reads_it(stand_in_hub):
    from tasks.editscore_bench import HF_REVISION

    calls, tables = stand_in_hub
    tables[("EditScore/EditReward-Bench", None)] = [
        {**r, "input_image": {"bytes": png(r["input_image"]), "path": None},
         "output_images": [{"bytes": png(o), "path": None} for o in r["output_images"]]}
        for r in json.loads((ROOT / "tests/fixtures_editreward/editscore_rows.json").read_text())]
    task = EditRewardBenchEditScore()
    loaded = task.load(task.config(None, 0, None, None))
    assert [(c.path, c.split, c.revision, c.data_files) for c in calls] == \
        [("EditScore/EditReward-Bench", "train", HF_REVISION, None)]
    assert len(loaded.samples) == 7 and not [s for s in loaded.samples if s.problem]
    first = loaded.samples[0]
    assert [m.label for m in first.media] == ["bg_001_m1_input", "bg_001_m1", "bg_001_m2"]
    assert first.media[2].loader() == png("bg_001_m2.png") and loaded.info["source"] == "hub"


def test_described_metrics_and_pins():
    tiger, es = describe_task(TIGER), describe_task(EDITSCORE)
    assert tiger["protocols"]["official"]["metrics"][:3] == ["accuracy/k2", "group_accuracy/k3", "group_accuracy/k4"]
    assert tiger["scorer_protocol"] == "scores" and tiger["data"]["hub"]["pinned"]
    assert len(es["protocols"]["editscore"]["metrics"]) == 54
    assert es["data"]["hub"]["id"] == "EditScore/EditReward-Bench" and es["data"]["hub"]["pinned"]
    spec = load_spec(ROOT / "reports/tables/editreward_bench.yaml")
    for column in spec.columns:  # every column is filled by metrics the task reports
        for source in column.sources:
            assert source.metric in tiger["protocols"][source.protocol]["metrics"], source
    assert spec.rows[0].paper == {"k2": "25.81", "k3": "11.33", "k4": "1.35"}
    doc = (ROOT / "docs/tasks/editreward_bench.md").read_text(encoding="utf-8")
    for fact in (TIGER, EDITSCORE, tiger["data"]["hub"]["revision"], es["data"]["hub"]["revision"]):
        assert fact in doc
