"""Judge reliability metrics (harness.reliability, harness.calibration) hand-checked on small tables.

Choice codes: 0 / 1 the dataset's first / second response, T a tie verdict, X an invalid reply. "forward"
shows response 0 first, "reverse" shows response 1 first. Every expected number is worked out in the comment
above it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.calibration import (average_ranks, bucket_accuracy, bucket_accuracy_many, expected_calibration_error,
                                 kendall_tau_b, margin_buckets, margin_correct, preference_probability,
                                 quantile_buckets, reliability_diagram, spearman)
from harness.metrics import bootstrap_ci
from harness.records import Judgment, Reply, Request
from harness.reliability import (INVALID, TIE, BothOrders, ItemRows, ItemSet, OrderedVerdicts, OrderVerdict,
                                 Votes, both_orders_metrics, both_orders_metrics_many, first_position_rate,
                                 item_resampled, items_from_records, pair_from_outcomes, plurality, position_choice,
                                 positional_view, record_id, reliability_scoring, signed_view, split_record_id)
from harness.task import Scoring, TaskConfig
from tasks.vlrewardbench import VLRewardBench

from .conftest import make_data_dir, row

T, X = TIE, INVALID


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def check(metrics, expected):
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        if math.isnan(value):
            assert math.isnan(metrics[name]), name
        else:
            assert metrics[name] == pytest.approx(value, abs=1e-12), name


# ---- one outcome -> the underlying choice -------------------------------------------------------------------

def test_position_choice_maps_shown_positions_to_responses():
    assert position_choice(1, False) == 0 and position_choice(2, False) == 1  # shown as in the dataset
    assert position_choice(1, True) == 1 and position_choice(2, True) == 0  # response 1 shown first
    assert position_choice(None, True) == X and position_choice(3, False) == X  # cal.py may capture "Answer 3"
    assert position_choice(True, False) == X  # a boolean is not position 1
    assert position_choice(0, False) == X and position_choice(0, False, tie=0) == T
    assert position_choice("B", True, names=("A", "B")) == 0


def test_views_of_the_task_outcome_forms():
    # VL-RewardBench: the better response (1) shown second when not swapped -> gold position 2; named "Answer 2".
    assert positional_view({"verdict": 2, "gold": 2, "swapped": False}) == OrderVerdict(1, 1, 0)
    # Swapped: response 1 first; gold position 1 is response 1; "Answer 2" is response 0.
    assert positional_view({"verdict": 2, "gold": 1, "swapped": True}) == OrderVerdict(0, 1, 1)
    assert positional_view({"verdict": None, "gold": 1, "swapped": True}).choice == X
    # EditReward-Bench: 0 is the tie (verdict and human label).
    assert positional_view({"verdict": 0, "gold": 0, "swapped": True}, tie=0) == OrderVerdict(T, T, 1)
    # GenAI-Bench: h = -1 (B better), swapped (B first); verdict +1 = the first shown = B = response 1.
    assert signed_view({"h": -1, "swapped": True, "verdict": 1}) == OrderVerdict(1, 1, 1)
    assert signed_view({"h": 0, "swapped": False, "verdict": 0}) == OrderVerdict(T, T, 0)
    assert signed_view({"h": 1, "swapped": False, "verdict": None}).choice == X
    with pytest.raises(ValueError, match="'swapped'"):
        positional_view({"verdict": 1, "gold": 1})
    with pytest.raises(ValueError, match="'gold'"):
        positional_view({"verdict": 1, "gold": None, "swapped": False})
    with pytest.raises(ValueError, match="'h'"):
        signed_view({"h": 2, "swapped": False, "verdict": 1})


def test_pair_from_outcomes_checks_the_two_orders():
    pair = pair_from_outcomes("i", {"verdict": 1, "gold": 1, "swapped": False},
                              {"verdict": 1, "gold": 2, "swapped": True})
    assert pair == OrderedVerdicts("i", 0, forward=(0,), reverse=(1,))
    with pytest.raises(ValueError, match="both outcomes show response 0 first"):
        pair_from_outcomes("i", {"verdict": 1, "gold": 1, "swapped": False},
                           {"verdict": 2, "gold": 1, "swapped": False})
    with pytest.raises(ValueError, match="disagree on the gold"):
        pair_from_outcomes("i", {"verdict": 1, "gold": 1, "swapped": False},
                           {"verdict": 1, "gold": 1, "swapped": True})


# ---- the must-show tables, through VL-RewardBench's own parse -----------------------------------------

def vlrb_outcomes(tmp_path, reply_for):
    """Each item of a six-row VL-RewardBench table parsed by the task (strict) as the task shows it and
    swapped: the swapped request carries what the flipped order would (the other gold position, `swapped`
    negated); `reply_for(gold_position)` is the judge's reply text."""
    rows = [row("wildvision_g1", "wildvision-battle"), row("svit_g2", "vlfeedback", ranking=(1, 0)),
            row("hallucination_pair-h1", "povid"), row("RLAIF-h2", "rlaif-v"),
            row("mathverse_r1", "reasoning_tasks"), row("mmmu_pro_r2", "reasoning_tasks", ranking=(1, 0))]
    task = VLRewardBench()
    cfg = TaskConfig(protocol="strict", data_dir=make_data_dir(tmp_path / "data", rows))
    out = []
    for sample in task.load(cfg).samples:
        shown = task.requests(sample, cfg)[0]
        flipped = Request(record_id(sample.id, True, 0), sample.id, (), shown.generation,
                          meta={"gold": 3 - shown.meta["gold"], "swapped": not shown.meta["swapped"]})
        parsed = [task.parse(sample, [(r, Reply(r.key, text=reply_for(r.meta["gold"])))], cfg)
                  for r in (shown, flipped)]
        out.append((sample.id, parsed[0], parsed[1]))
    return out


def both_orders_of(outcomes):
    items = [pair_from_outcomes(sid, a.outcome, b.outcome) for sid, a, b in outcomes]
    forward = np.array([i.forward[0] for i in items])
    reverse = np.array([i.reverse[0] for i in items])
    return forward, reverse, np.array([i.gold for i in items])


def test_always_answer_1_is_fully_position_biased(tmp_path):
    outcomes = vlrb_outcomes(tmp_path, lambda gold: "Answer 1 is better")
    forward, reverse, gold = both_orders_of(outcomes)
    # "Answer 1" is the response shown first: response 0 forward, response 1 reverse -> never the same response.
    assert (forward == 0).all() and (reverse == 1).all()
    # Consistent 0/6; all 12 verdicts pick the first shown: 12/12; right in both orders 0/6 (one order always names
    # the worse one); right in one order 6/6.
    check(both_orders_metrics(forward, reverse, gold, np.arange(6)),
          {"swap_consistency": 0.0, "first_position_rate": 100.0, "accuracy/both_orders": 0.0,
           "accuracy/either_order": 100.0})


def test_always_naming_the_gold_is_consistent_and_unbiased(tmp_path):
    outcomes = vlrb_outcomes(tmp_path, lambda gold: f"Answer {gold} is better")
    assert all(a.outcome["correct"] and b.outcome["correct"] for _, a, b in outcomes)
    forward, reverse, gold = both_orders_of(outcomes)
    # The gold response both times: 6/6 consistent and right; the gold is shown first in exactly one of each
    # item's two orders, so 6 of the 12 verdicts pick the first shown: exactly 50.
    check(both_orders_metrics(forward, reverse, gold, np.arange(6)),
          {"swap_consistency": 100.0, "first_position_rate": 50.0, "accuracy/both_orders": 100.0,
           "accuracy/either_order": 100.0})
    # One order only (today's run): the gold judge picks the first shown whenever the task showed gold first.
    shown = [positional_view(a.outcome) for _, a, _ in outcomes]
    gold_first = sum(v.gold == v.first for v in shown)
    assert first_position_rate([v.choice for v in shown], [v.first for v in shown]) == 100.0 * gold_first / 6


def test_invalid_reply_in_one_order_through_the_task(tmp_path):
    # The judge names the gold when the gold is shown second, and writes no verdict when it is shown first.
    outcomes = vlrb_outcomes(tmp_path, lambda gold: "Answer 2 is better" if gold == 2 else "I cannot tell.")
    assert all({a.status, b.status} == {"ok", "invalid"} for _, a, b in outcomes)
    forward, reverse, gold = both_orders_of(outcomes)
    # Every item: one order right, one invalid -> consistent 0/6 (invalid is inconsistent), right in both 0/6,
    # in either 6/6; the 6 valid verdicts all pick the second shown -> first position 0/6.
    check(both_orders_metrics(forward, reverse, gold, np.arange(6)),
          {"swap_consistency": 0.0, "first_position_rate": 0.0, "accuracy/both_orders": 0.0,
           "accuracy/either_order": 100.0})


# ---- both orders: a hand table -------------------------------------------------------------------------------

#          item:   1  2  3  4  5  6
FORWARD = np.array([0, 0, X, T, 1, 0])
REVERSE = np.array([0, X, X, T, 0, 1])
GOLD = np.array([0, 0, 1, 1, 1, 0])


def test_both_orders_hand_table():
    # consistent: item 1 (0, 0) and item 4 (tie, tie) -> 2/6; items 2 and 3 have an invalid verdict: inconsistent.
    # first shown (forward: 0, reverse: 1), over verdicts picking a response (ties and invalid left out):
    #   1: fwd 0 hit, rev 0 miss (1/2)   2: fwd 0 hit (1/1)   3: none   4: ties, none
    #   5: fwd 1 miss, rev 0 miss (0/2)  6: fwd 0 hit, rev 1 hit (2/2)  -> 4/7
    # right in both: item 1 only -> 1/6; right in either: items 1, 2, 5 (forward), 6 (forward) -> 4/6.
    # item 4's ties are wrong: gold is response 1, not a tie.
    check(both_orders_metrics(FORWARD, REVERSE, GOLD, np.arange(6)),
          {"swap_consistency": 100 * 2 / 6, "first_position_rate": 100 * 4 / 7,
           "accuracy/both_orders": 100 * 1 / 6, "accuracy/either_order": 100 * 4 / 6})
    # A resample of items: [2, 2, 5] (0-based) = items 3, 3, 6: consistent 0/3; first hits 2/2 (item 6 once);
    # both right 0/3; either 1/3.
    check(both_orders_metrics(FORWARD, REVERSE, GOLD, np.array([2, 2, 5])),
          {"swap_consistency": 0.0, "first_position_rate": 100.0, "accuracy/both_orders": 0.0,
           "accuracy/either_order": 100 / 3})
    # Items 3 and 4 alone: no verdict picks a response -> first_position_rate undefined (NaN, reported null).
    assert math.isnan(both_orders_metrics(FORWARD, REVERSE, GOLD, np.array([2, 3]))["first_position_rate"])
    assert BothOrders.of(FORWARD, REVERSE, GOLD).details() == {
        "items": 6, "consistent": 2, "right_both_orders": 1, "first_position_verdicts": 4, "deciding_verdicts": 7}


def test_a_human_tie_is_right_only_when_both_orders_tie():
    # gold tie; item a ties both times (right, consistent), item b picks response 0 both times (wrong, consistent).
    check(both_orders_metrics([T, 0], [T, 0], [T, T], np.arange(2)),
          {"swap_consistency": 100.0, "first_position_rate": 50.0, "accuracy/both_orders": 50.0,
           "accuracy/either_order": 50.0})


def test_several_samples_per_order_use_each_orders_plurality():
    # K = 3. item a: forward 0,0,1 -> 0; reverse 0,X,0 -> 0: consistent, right (gold 0).
    # item b: forward 1,0,X -> no plurality (1 vs 1) -> invalid: inconsistent, wrong in that order; reverse 1,1,1.
    forward = [[0, 0, 1], [1, 0, X]]
    reverse = [[0, X, 0], [1, 1, 1]]
    # first shown: a fwd 0,0 hit, 1 miss; rev 0,0 miss -> 2 of 5; b fwd 0 hit, 1 miss; rev 1,1,1 hits -> 4 of 5.
    check(both_orders_metrics(forward, reverse, [0, 1], np.arange(2)),
          {"swap_consistency": 50.0, "first_position_rate": 100 * 6 / 10, "accuracy/both_orders": 50.0,
           "accuracy/either_order": 100.0})


def test_both_orders_many_equals_the_one_replicate_form_bit_for_bit():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n, k = int(rng.integers(0, 30)), int(rng.integers(1, 4))
        forward, reverse = rng.choice([0, 1, 2, -1], (n, k)), rng.choice([0, 1, 2, -1], (n, k))
        gold = rng.choice([0, 1, 2], n)
        idx = rng.integers(0, n, (6, n)) if n else np.zeros((6, 0), dtype=np.int64)
        many = both_orders_metrics_many(forward, reverse, gold, idx)
        for r in range(6):
            one = both_orders_metrics(forward, reverse, gold, idx[r])
            assert all(same(many[name][r], value) for name, value in one.items())


def test_both_orders_rejects_bad_arrays():
    with pytest.raises(ValueError, match="forward holds values other than"):
        BothOrders.of([0, 5], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="gold holds values other than"):
        BothOrders.of([0, 1], [0, 1], [0, X])
    with pytest.raises(ValueError, match="do not match"):
        BothOrders.of([0, 1], [0], [0, 1])


# ---- repeated sampling -------------------------------------------------------------------------------------

VOTES = np.array([[0, 0, 0], [0, 1, X], [1, 1, T], [X, X, X]])
VOTE_GOLD = np.array([0, 1, 1, 0])


def test_plurality_and_its_ties():
    # a: 0 x3 -> 0; b: 0 and 1 once each -> no plurality; c: 1 twice -> 1; d: nothing valid -> none.
    assert plurality(VOTES).tolist() == [0, X, 1, X]


def test_votes_hand_table():
    # majority right: a (0 = gold 0), c (1 = gold 1); b has a vote tie, d no valid verdict: both wrong -> 2/4.
    # vote ties: b only -> 1/4 (d is counted under no_valid_verdict, not as a tie).
    # share of the plurality verdict: a 3/3, b 1/3 (the most any valid verdict has), c 2/3, d 0/3 -> mean 1/2.
    # entropy (bits, X an outcome): a 0; b three outcomes of 1/3 -> log2 3; c (2/3, 1/3) -> H = log2 3 - 2/3;
    # d one outcome -> 0. Mean (2·log2 3 - 2/3)/4; sorted [0, 0, log2 3 - 2/3, log2 3]: median = (log2 3 - 2/3)/2,
    # p90 at position 2.7 = (log2 3 - 2/3) + 0.7·(2/3).
    h_b, h_c = math.log2(3), math.log2(3) - 2 / 3
    check(Votes.of(VOTES, VOTE_GOLD).metrics(np.arange(4)),
          {"accuracy/majority_vote": 50.0, "vote_tie_rate": 25.0, "vote_agreement": 50.0,
           "vote_entropy/mean": (h_b + h_c) / 4, "vote_entropy/p50": h_c / 2, "vote_entropy/p90": h_c + 0.7 * 2 / 3})
    assert Votes.of(VOTES, VOTE_GOLD).details() == {"items": 4, "vote_ties": 1, "no_valid_verdict": 1}
    assert Votes.of([[0, 0]], [0]).entropy.tolist() == [0.0]  # not -0.0
    assert all(math.isnan(v) for v in Votes.of(VOTES, VOTE_GOLD).metrics(np.zeros(0, dtype=np.int64)).values())


def test_votes_many_equals_the_one_replicate_form_bit_for_bit():
    rng = np.random.default_rng(11)
    for _ in range(100):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 7))
        votes = Votes.of(rng.choice([0, 1, 2, -1], (n, k), p=[0.4, 0.3, 0.1, 0.2]), rng.choice([0, 1, 2], n))
        idx = rng.integers(0, n, (5, n))
        many = votes.metrics_many(idx)
        for r in range(5):
            assert all(same(many[name][r], value) for name, value in votes.metrics(idx[r]).items())
    empty = votes.metrics_many(np.zeros((2, 0), dtype=np.int64))
    assert all(np.isnan(v).all() for v in empty.values())


# ---- records -> items -> the scoring a runner adds ---------------------------------------------------------------

def test_record_ids_round_trip_and_refuse_ambiguous_item_ids():
    assert [record_id("x", s, k) for s, k in ((False, 0), (True, 0), (False, 2), (True, 3))] == [
        "x", "x::swapped", "x::s2", "x::swapped::s3"]
    for rid in ("x", "x::swapped", "x::s2", "x::swapped::s3", "a::b::swapped::s12", "x::s0", "x::s"):
        item, swapped, k = split_record_id(rid)
        assert record_id(item, swapped, k) == rid
    assert split_record_id("x::s0") == ("x::s0", False, 0)  # sample 0 has no suffix, so this is an item id
    with pytest.raises(ValueError, match="ends like a repeated judgment"):
        record_id("x::swapped", False, 0)


def judgment(rid, status, verdict, gold, swapped):
    return Judgment(rid, status, outcome={} if status == "error" else {"verdict": verdict, "gold": gold,
                                                                       "swapped": swapped})


def records_table():
    """Four items judged in both orders, two samples each (verdict positions; gold position as shown):
    a: gold response 0 shown first forward. forward names 1, 1 (response 0); reverse names 2, 2 (response 0).
    b: gold response 1. forward names 1, 1 (response 0); reverse names 1, 1 (response 1): position-following.
    c: forward 2, invalid (response 1 and X); reverse 1, 1 (response 1); gold response 1.
    d: one reverse sample failed (error): left out."""
    out = []
    for item, fwd, rev, gold_fwd in (("a", (1, 1), (2, 2), 1), ("b", (1, 1), (1, 1), 2), ("c", (2, None), (1, 1), 2),
                                     ("d", (1, 1), (1, 1), 1)):
        for k in range(2):
            out.append(judgment(record_id(item, False, k), "ok" if fwd[k] else "invalid", fwd[k], gold_fwd, False))
            status = "error" if item == "d" and k == 1 else "ok"
            out.append(judgment(record_id(item, True, k), status, rev[k], 3 - gold_fwd, True))
    return out


def test_items_from_records_and_the_reliability_scoring():
    found = items_from_records(records_table(), positional_view, orders=2, samples=2)
    assert found.incomplete == 1 and (found.orders, found.samples) == (2, 2)
    assert found.items == [OrderedVerdicts("a", 0, (0, 0), (0, 0)), OrderedVerdicts("b", 1, (0, 0), (1, 1)),
                           OrderedVerdicts("c", 1, (1, X), (1, 1))]
    scoring = reliability_scoring(found)
    assert scoring.ids == ["a", "b", "c"]
    # per-order plurality: a 0/0, b 0/1, c 1 (one valid vote of two: still the unique plurality)/1.
    # consistent a, c -> 2/3; both right a, c -> 2/3; either right a, b, c -> 3/3.
    # first shown: a fwd 0,0 hits, rev 0,0 misses (2/4); b 0,0 and 1,1 all hits (4/4); c fwd 1 miss, X;
    # rev 1,1 hits (2/3) -> 8/11.
    # votes over the 4 verdicts: a 0000 -> 0 right, share 1, H 0; b 0011 -> vote tie, share 1/2, H 1;
    # c 1X11 -> 1 right, share 3/4, H(3/4, 1/4) = 2 - 3/4·log2 3. majority 2/3, ties 1/3, agreement 3/4.
    h_c = 2 - 0.75 * math.log2(3)
    check(scoring.point(), {
        "swap_consistency": 200 / 3, "first_position_rate": 800 / 11, "accuracy/both_orders": 200 / 3,
        "accuracy/either_order": 100.0, "accuracy/majority_vote": 200 / 3, "vote_tie_rate": 100 / 3,
        "vote_agreement": 75.0, "vote_entropy/mean": (1 + h_c) / 3, "vote_entropy/p50": h_c,
        "vote_entropy/p90": h_c + 0.8 * (1 - h_c)})
    assert scoring.details["incomplete_items"] == 1 and scoring.details["votes"]["vote_ties"] == 1
    # The bootstrap resamples the three items; the vectorised path gives the same interval.
    assert bootstrap_ci(scoring.compute, scoring.n, resamples=200, seed=4) == bootstrap_ci(
        scoring.compute, scoring.n, resamples=200, seed=4, compute_many=scoring.compute_many)


def test_one_order_one_sample_adds_no_reliability_metric_and_one_order_votes_work():
    shown_only = [j for j in records_table() if split_record_id(j.sample_id)[1] is False]
    assert reliability_scoring(items_from_records(shown_only, positional_view, 1, 1)).point() == {}
    votes = reliability_scoring(items_from_records(shown_only, positional_view, 1, 2)).point()
    # forward samples only: a 00 right; b 00 wrong (gold 1); c 1X right; d 00 right (no error in forward).
    assert votes["accuracy/majority_vote"] == 75.0 and "swap_consistency" not in votes
    with pytest.raises(ValueError, match="orders must be 1 or 2"):
        items_from_records(shown_only, positional_view, 3, 1)
    broken = [Judgment("z", "ok", outcome={"verdict": 1, "gold": 1})]
    with pytest.raises(ValueError, match="record 'z': outcome field 'swapped'"):
        items_from_records(broken, positional_view, 1, 1)


def test_item_resampled_keeps_an_item_s_judgments_together():
    # Row-level accuracy over judgments of three items: p has rows [T, F], q [T, T], r [F, F].
    ids = ["p", "p::swapped", "q", "r", "q::swapped", "r::swapped"]
    correct = np.array([True, False, True, False, True, False])

    def compute(idx):
        return {"accuracy": 100.0 * float(correct[idx].mean()) if idx.size else math.nan}

    def compute_many(idx2d):
        return {"accuracy": 100.0 * correct[idx2d].mean(axis=1)}

    by_item = item_resampled(Scoring(compute, ids, compute_many=compute_many))
    assert by_item.ids == ["p", "q", "r"]
    rows = ItemRows.of(ids)
    assert rows.expand(np.array([1, 1, 0])).tolist() == [2, 4, 2, 4, 0, 1]
    assert rows.expand(np.zeros(0, dtype=np.intp)).tolist() == []
    # Items q, q, p: rows T T T T T F -> 5/6.
    assert by_item.compute(np.array([1, 1, 0]))["accuracy"] == pytest.approx(500 / 6)
    assert by_item.point()["accuracy"] == 50.0
    idx = np.random.default_rng(0).integers(0, 3, (20, 3))
    many = by_item.compute_many(idx)["accuracy"]
    assert all(many[r] == by_item.compute(idx[r])["accuracy"] for r in range(20))
    # An item with a different number of rows (a failed judgment dropped): no rectangular replicates.
    ragged = item_resampled(Scoring(compute, ids[:5], compute_many=compute_many))
    assert ragged.compute_many is None and ragged.point()["accuracy"] == 60.0


def test_an_empty_item_set_scores_nothing():
    scoring = reliability_scoring(ItemSet([], 2, orders=2, samples=1))
    assert scoring.n == 0 and scoring.details["incomplete_items"] == 2


# ---- accuracy by difficulty --------------------------------------------------------------------------------

def test_accuracy_per_human_margin_bucket():
    margin = np.array([0, 1, 1, 3, 5, 2])
    correct = np.array([True, False, True, True, True, False])
    buckets = margin_buckets(margin, (1, 3))
    # <1: item 0 right (1/1); [1,3): margins 1, 1, 2 -> right, wrong... items 1 F, 2 T, 5 F (1/3); >=3: 2/2.
    assert buckets.names == ("<1", "[1,3)", ">=3") and buckets.codes.tolist() == [0, 1, 1, 2, 2, 1]
    check(bucket_accuracy(correct, np.ones(6, bool), buckets, np.arange(6)),
          {"accuracy/margin/<1": 100.0, "accuracy/margin/[1,3)": 100 / 3, "accuracy/margin/>=3": 100.0})
    # Item 0 not counted: its bucket is undefined (NaN).
    counted = np.array([False, True, True, True, True, True])
    assert math.isnan(bucket_accuracy(correct, counted, buckets, np.arange(6))["accuracy/margin/<1"])
    with pytest.raises(ValueError, match="strictly increasing"):
        margin_buckets(margin, (3, 1))


def test_quantile_buckets_of_score_margins():
    # 8 values, 4 buckets: edges at the quartiles 0.275, 0.45, 0.625 -> two values per bucket.
    values = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    buckets = quantile_buckets(values, 4)
    assert buckets.names == ("q1", "q2", "q3", "q4") and buckets.codes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert buckets.edges == pytest.approx((0.275, 0.45, 0.625))
    # Heavy ties: [0, 0, 0, 0, 1, 2] in 3 buckets: quantiles 0 and 0.667 -> the edge at the minimum goes,
    # leaving "< 0.667" (the four zeros) and ">= 0.667".
    tied = quantile_buckets([0, 0, 0, 0, 1, 2], 3)
    assert tied.names == ("q1", "q2") and tied.codes.tolist() == [0, 0, 0, 0, 1, 1]


def test_margin_correct_and_bucket_many_bit_for_bit():
    correct, counted = margin_correct([1, -1, 0, 1], [0.5, 0.2, 3.0, 0.0])
    # h·m > 0 only for the first; the human tie is not counted; a zero margin is wrong.
    assert correct.tolist() == [True, False, False, False] and counted.tolist() == [True, True, False, True]
    rng = np.random.default_rng(5)
    m = rng.normal(size=50)
    buckets = quantile_buckets(np.abs(m), 4)
    correct, counted = rng.random(50) < 0.7, rng.random(50) < 0.9
    idx = rng.integers(0, 50, (10, 50))
    many = bucket_accuracy_many(correct, counted, buckets, idx, "accuracy/abs_margin")
    for r in range(10):
        one = bucket_accuracy(correct, counted, buckets, idx[r], "accuracy/abs_margin")
        assert all(same(many[name][r], value) for name, value in one.items())


# ---- rank correlation --------------------------------------------------------------------------------------

def brute_kendall_tau_b(x, y):
    """The definition, pair by pair."""
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        tx += sx == 0
        ty += sy == 0
        c += sx * sy > 0
        d += sx * sy < 0
    n0 = len(x) * (len(x) - 1) / 2
    return (c - d) / math.sqrt((n0 - tx) * (n0 - ty))


def brute_spearman(x, y):
    def ranks(v):  # average rank: 1 + (number smaller) + (number of others equal) / 2
        return [1 + sum(w < a for w in v) + (sum(w == a for w in v) - 1) / 2 for a in v]

    rx, ry = np.array(ranks(list(x))), np.array(ranks(list(y)))
    return float(np.corrcoef(rx, ry)[0, 1])


def test_rank_correlations_on_a_hand_table():
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    # ranks of y: 1, 2, 3.5, 5, 3.5. Deviations: x -2 -1 0 1 2, y -2 -1 0.5 2 0.5: Σdxdy = 4+1+0+2+1 = 8,
    # Σdx² = 10, Σdy² = 9.5 -> rho = 8 / sqrt(95).
    assert average_ranks(y).tolist() == [1, 2, 3.5, 5, 3.5]
    assert spearman(x, y) == pytest.approx(8 / math.sqrt(95), abs=1e-15)
    # 10 pairs: 8 concordant, 1 discordant (8 then 7), 1 tied in y (7, 7) -> (8 - 1) / sqrt(10 · 9).
    assert kendall_tau_b(x, y) == pytest.approx(7 / math.sqrt(90), abs=1e-15)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0 and spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2])) and math.isnan(kendall_tau_b([], []))


def test_rank_correlations_match_their_definitions_with_ties():
    rng = np.random.default_rng(2)
    for _ in range(60):
        n = int(rng.integers(2, 40))
        x = rng.integers(0, 5, n).astype(float)  # Likert-like scores: many ties
        y = np.where(rng.random(n) < 0.5, x, rng.integers(0, 7, n)) + 0.0
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        assert kendall_tau_b(x, y) == pytest.approx(brute_kendall_tau_b(x, y), abs=1e-12)
        assert spearman(x, y) == pytest.approx(brute_spearman(x, y), abs=1e-12)
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1])
    with pytest.raises(ValueError, match="finite"):
        kendall_tau_b([1, math.nan], [1, 2])


# ---- calibration -------------------------------------------------------------------------------------------

def test_reliability_diagram_and_ece_by_hand():
    p, y = [0.1, 0.15, 0.8, 0.9, 0.95], [0, 1, 1, 1, 0]
    diagram = reliability_diagram(p, y, bins=2)
    # bin [0, .5): 0.1, 0.15 -> mean .125, observed 1/2, 2 items; bin [.5, 1]: .8, .9, .95 -> mean 2.65/3, 2/3, 3.
    assert diagram.edges == (0.0, 0.5, 1.0) and diagram.count == (2, 3)
    assert diagram.mean_predicted == pytest.approx((0.125, 2.65 / 3))
    assert diagram.observed == pytest.approx((0.5, 2 / 3))
    # ECE = 2/5·|.125 - .5| + 3/5·|.88333 - .66667| = .15 + .13 = .28
    assert expected_calibration_error(p, y, bins=2) == pytest.approx(0.28)
    # p = 1 falls in the last bin; an empty bin is NaN in the diagram (null in JSON) and outside the ECE.
    three = reliability_diagram([1.0, 1.0], [1, 1], bins=3)
    assert three.count == (0, 0, 2) and three.ece == 0.0 and three.as_dict()["observed"] == [None, None, 1.0]
    assert math.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_diagram([1.2], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        reliability_diagram([0.2], [0.5])


def test_preference_probability_is_the_bradley_terry_sigmoid():
    # margin 0 -> 1/2; margin ln 3 -> 3/4; scale 2 halves the margin.
    probs = preference_probability([0.0, math.log(3), -math.log(3)])
    assert probs.tolist() == pytest.approx([0.5, 0.75, 0.25])
    assert preference_probability([2 * math.log(3)], scale=2.0)[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="positive"):
        preference_probability([1.0], scale=0)
