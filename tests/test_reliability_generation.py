"""Judge reliability on the pairwise generation tasks (issue 16): `--orders both` on GenAI-Bench and VideoGen-
RewardBench through the runner with scripted judges, and a scalar scorer's accuracy by |margin| quartile and
calibration error. Every expected number is worked out by hand in the test's docstring or comments."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from harness.records import Judgment
from harness.reliability import INVALID, RESPONSE_0, RESPONSE_1, TIE, split_record_id
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.genai_bench import GenAIBenchImage, arena_view
from tasks.pairwise import NO_VERDICT, score_margins, three_way_view

from .conftest import read_jsonl
from .test_generation_tasks import TableScorer, genai_image_dir, videogen_dir

VOTES = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
H = {"leftvote": 1, "rightvote": -1, "tievote": 0, "bothbad_vote": 0, "A": 1, "B": -1, "same": 0}
RELIABILITY = ("swap_consistency", "first_position_rate", "accuracy/both_orders", "accuracy/either_order")


def both_orders(tmp_path, task, data, judge, protocol=None):
    opts = RunOptions(tasks=[task], model="scripted", protocol=protocol, data_dir=data, output=tmp_path / "runs",
                      bootstrap_resamples=20, progress="none", orders="both", use_cache=False)
    outcome = run(opts, adapter=ScriptedAdapter(fn=judge, needs_media=False))
    records = {r["id"]: r for r in read_jsonl(outcome.dir / f"{task}.samples.jsonl")}
    return outcome.results["tasks"][task], records, outcome.adapter_calls


def reliability(result):
    return tuple(result["metrics"][name] for name in RELIABILITY)


def shown_gold(labels, prepared) -> int:
    """The human label of the pair as this request shows it: +1 the first shown is better, -1 the second, 0 a tie."""
    item, _, _ = split_record_id(prepared.request.sample_id)
    h = H[labels[int(item)]]
    return -h if prepared.request.meta["swapped"] else h


def image_reply(h: int) -> str:
    return {1: "Image 1 is better than Image 2.", -1: "Image 2 is better than Image 1.",
            0: "Both images are equally good."}[h]


def video_reply(h: int) -> str:
    return {1: "Video 1 is better than Video 2.", -1: "Video 2 is better than Video 1.",
            0: "Both videos are equally good."}[h]


EIGHT = [VOTES[i % 4] for i in range(8)]  # two of each vote: 4 pairs humans decided, 4 human ties


# ---- GenAI-Bench image, strict ------------------------------------------------------------------------------

def test_strict_always_first_judge(tmp_path):
    """Always "Image 1 is better": every verdict picks the response shown first, so the two orders of an item never
    pick the same one (0), all 16 verdicts pick position one (100), never right in both orders (0). A decided pair is
    right in the order that shows its better image first: 4 of 8 items right in one order (50); a human tie never.
    The task's own numbers over the 16 judgments: 4 correct, tau 4/16 = 25, diff 4/8 (the 8 non-tie judgments) = 50."""
    data = genai_image_dir(tmp_path / "d", EIGHT)
    result, records, calls = both_orders(tmp_path, "genai_bench_image", data, lambda p: image_reply(1))
    assert reliability(result) == (0.0, 100.0, 0.0, 50.0)
    assert result["metrics"]["tau"] == 25.0 and result["metrics"]["diff"] == 50.0
    assert calls == 16 and result["counts"] == {"n": 16, "n_invalid": 0, "n_error": 0}
    for i in range(8):  # the second record of an item shows the pair the other way round
        assert records[str(i)]["outcome"]["swapped"] != records[f"{i}::swapped"]["outcome"]["swapped"]
    # strict already shows either order (seeded): nothing to name
    assert not any("--orders both" in d for d in result["protocol_deviations"])


def test_strict_always_gold_judge(tmp_path):
    """The judge names the better image, and a tie on a human tie: both orders agree (100) and are right (100); the
    8 verdicts that pick an image are on the 4 decided pairs, the better one shown first in exactly one of each
    pair's two orders: 4 of 8 pick position one (50, exactly)."""
    data = genai_image_dir(tmp_path / "d", EIGHT)
    result, _, _ = both_orders(tmp_path, "genai_bench_image", data, lambda p: image_reply(shown_gold(EIGHT, p)))
    assert reliability(result) == (100.0, 50.0, 100.0, 100.0)
    assert result["metrics"]["tau"] == 100.0
    counts = result["details"]["reliability"]["both_orders"]
    assert counts == {"items": 8, "consistent": 8, "right_both_orders": 8, "first_position_verdicts": 4,
                      "deciding_verdicts": 8}


# ---- GenAI-Bench image, genai-arena ------------------------------------------------------------------------

def test_arena_always_first_judge_and_the_swapped_prompt(tmp_path):
    """Always [[A>B]]: 0 / 100 / 0, and 4 of 8 items right in one order (50). The benchmark's own accuracy over the
    16 judgments: a left vote is right as shown ([[A>B]] names the left image), a right vote in the swapped record
    (the right image is model A there): 4/16 = 25. The arena never swaps, so `both` is a named deviation."""
    data = genai_image_dir(tmp_path / "d", EIGHT)
    result, records, _ = both_orders(tmp_path, "genai_bench_image", data, lambda p: "[[A>B]]", "genai-arena")
    assert reliability(result) == (0.0, 100.0, 0.0, 50.0)
    assert result["metrics"]["accuracy"] == 25.0
    assert [records[k]["outcome"]["correct"] for k in ("0", "0::swapped", "1", "1::swapped")] == \
        [True, False, False, True]
    assert "--orders both: also judged in the order the benchmark never shows (the right candidate as model A)" \
        in result["protocol_deviations"]

    task = GenAIBenchImage()
    cfg = task.config("genai-arena", 0, "test_v1", data)
    sample = task.load(cfg).samples[0]
    shown = task.requests(sample, cfg)[0]
    flipped = task.requests(sample, replace(cfg, flip_order=True))[0]
    assert [m.label for m in shown.media] == ["img/0_left.png", "img/0_right.png"]
    assert [m.label for m in flipped.media] == ["img/0_right.png", "img/0_left.png"]
    assert flipped.text == shown.text and (shown.meta["swapped"], flipped.meta["swapped"]) == (False, True)


def test_arena_gold_judge_with_its_kinds_of_tie(tmp_path):
    """The judge votes the better model as shown, [[A=B=Good]] on a tie vote and [[A=B=Bad]] on a both-bad vote:
    100 / 50 / 100 / 100, and the benchmark's 4-way accuracy 100 over all 16 judgments."""
    def judge(p):
        item, _, _ = split_record_id(p.request.sample_id)
        vote = EIGHT[int(item)]
        if vote in ("tievote", "bothbad_vote"):
            return "[[A=B=Good]]" if vote == "tievote" else "[[A=B=Bad]]"
        return "[[A>>B]]" if shown_gold(EIGHT, p) == 1 else "[[B>A]]"

    data = genai_image_dir(tmp_path / "d", EIGHT)
    result, _, _ = both_orders(tmp_path, "genai_bench_image", data, judge, "genai-arena")
    assert reliability(result) == (100.0, 50.0, 100.0, 100.0)
    assert result["metrics"]["accuracy"] == 100.0


def test_arena_view_reads_the_vote_as_the_response_picked():
    # as shown (A = left = response 0) and swapped (A = right = response 1)
    assert arena_view({"vote": "[[A>>B]]", "h": 1, "swapped": False}).choice == RESPONSE_0
    assert arena_view({"vote": "[[A>B]]", "h": 1, "swapped": True}).choice == RESPONSE_1
    assert arena_view({"vote": "[[B>A]]", "h": -1, "swapped": True}).choice == RESPONSE_0
    for tie in ("[[A=B]]", "[[A=B=Good]]", "[[A=B=Bad]]"):
        assert arena_view({"vote": tie, "h": 0, "swapped": True}).choice == TIE
    for other in ("[[A]]", "[[A>]]", None):
        assert arena_view({"vote": other, "h": 0, "swapped": False}).choice == INVALID
    seen = arena_view({"vote": "[[A>B]]", "h": -1, "swapped": True})
    assert (seen.gold, seen.first) == (RESPONSE_1, RESPONSE_1)


# ---- an invalid reply in one order, human ties --------------------------------------------------------------

def test_invalid_reply_in_one_order_and_human_ties(tmp_path):
    """`unifiedreward` (image) never swaps: record `i` shows the left image first, `i::swapped` the right one.
    Items: 0 left vote, 1 right vote, 2 tie vote, 3 both-bad vote. The judge gives the gold phrase, except

    - `0::swapped`: "I cannot tell." (no phrase: invalid);
    - `2::swapped`: "Image 1 is better than Image 2." (a human tie; it picks the right image, shown first).

    Per item: 0 right / invalid -> inconsistent, right in one order; 1 right twice; 2 tie (right) / a response
    (wrong) -> inconsistent, right in one order; 3 tie twice -> consistent, right in both (a tie verdict on a
    human tie is right). swap_consistency 2/4 = 50, both orders 2/4 = 50, either order 4/4 = 100.
    Verdicts picking a response: `0` (the left image, shown first), `1` (the right image, shown second),
    `1::swapped` (the right image, shown first), `2::swapped` (shown first): 3 of 4 pick position one = 75.
    The task's tau over the 8 judgments: all right but `0::swapped` and `2::swapped`: 6/8 = 75; diff over the 4
    non-tie judgments: 3/4 = 75."""
    data = genai_image_dir(tmp_path / "d", VOTES)

    def judge(p):
        if p.request.sample_id == "0::swapped":
            return "I cannot tell."
        if p.request.sample_id == "2::swapped":
            return image_reply(1)
        return image_reply(shown_gold(VOTES, p))

    result, records, _ = both_orders(tmp_path, "genai_bench_image", data, judge, "unifiedreward")
    assert reliability(result) == (50.0, 75.0, 50.0, 100.0)
    assert result["metrics"] == {"tau": 75.0, "diff": 75.0, **dict(zip(RELIABILITY, (50.0, 75.0, 50.0, 100.0)))}
    assert result["counts"] == {"n": 8, "n_invalid": 1, "n_error": 0}
    assert records["0::swapped"]["status"] == "invalid"
    assert "--orders both: also judged in the order the paper script never shows (the right image first)" \
        in result["protocol_deviations"]


def test_unasked_human_ties_have_no_verdict_in_either_order(tmp_path):
    """`unifiedreward-qwen` never asks about a human tie (the script skips it and counts it wrong): items 2 and 3
    have no verdict in either order, so they are inconsistent and wrong in both. Items 0 and 1 answered right in
    both orders: 50 / 50 (of the 4 verdicts, 2 pick the image shown first) / 50 / 50; 4 calls, not 8. The script's
    accuracy: 4 right of 8 = 50; without ties 4/4 = 100."""
    data = genai_image_dir(tmp_path / "d", VOTES)
    replies = {1: "Image 1 is better.", -1: "Image 2 is better."}
    result, records, calls = both_orders(tmp_path, "genai_bench_image", data,
                                         lambda p: replies[shown_gold(VOTES, p)], "unifiedreward-qwen")
    assert calls == 4 and reliability(result) == (50.0, 50.0, 50.0, 50.0)
    assert result["metrics"]["accuracy"] == 50.0 and result["metrics"]["accuracy_without_ties"] == 100.0
    assert records["2::swapped"]["outcome"]["asked"] is False
    # the qwen script's order is a seeded stream: already either order, nothing to name
    assert not any("--orders both" in d for d in result["protocol_deviations"])


# ---- VideoGen-RewardBench -----------------------------------------------------------------------------------

SIX = ["A", "B", "same", "A", "B", "same"]


def test_videogen_strict_always_first_and_gold_judges(tmp_path):
    """Always "Video 1 is better": 0 / 100 / 0; the 4 decided pairs are right in one order each, the 2 human ties
    never: either order 4/6. tau 4/12, diff 4/8 (the 8 non-tie judgments) = 50.
    The gold judge: 100 / 50 (the 8 verdicts picking a video, 4 of them the one shown first) / 100 / 100."""
    data = videogen_dir(tmp_path / "v", SIX)
    first, _, _ = both_orders(tmp_path / "first", "videogen_rewardbench", data, lambda p: video_reply(1))
    assert reliability(first) == (0.0, 100.0, 0.0, pytest.approx(400 / 6))
    assert first["metrics"]["tau"] == pytest.approx(400 / 12) and first["metrics"]["diff"] == 50.0
    gold, _, _ = both_orders(tmp_path / "gold", "videogen_rewardbench", data,
                             lambda p: video_reply(shown_gold(SIX, p)))
    assert reliability(gold) == (100.0, 50.0, 100.0, 100.0)
    assert not any("--orders both" in d for d in gold["protocol_deviations"])


def test_videogen_script_tie_reading_is_no_verdict_for_reliability(tmp_path):
    """`unifiedreward` (no swap: `i` shows A first, `i::swapped` B first), labels A, B, same, same; the judge gives
    the gold phrase except an empty reply for `2::swapped`. The script reads an empty reply as a tie, which is the
    human label of item 2, so the task's tau counts it right (8/8 = 100, diff 4/4 = 100) although the record is
    invalid. The reliability metrics read no verdict there: item 2 is inconsistent and right in one order only.
    swap_consistency 3/4 = 75, both orders 3/4 = 75, either 4/4 = 100; verdicts picking a video: `0` (A, first),
    `0::swapped` (A, second), `1` (B, second), `1::swapped` (B, first): 2 of 4 = 50."""
    labels = ["A", "B", "same", "same"]
    data = videogen_dir(tmp_path / "v", labels)

    def judge(p):
        return "" if p.request.sample_id == "2::swapped" else video_reply(shown_gold(labels, p))

    result, records, _ = both_orders(tmp_path, "videogen_rewardbench", data, judge, "unifiedreward")
    assert result["metrics"]["tau"] == 100.0 and result["metrics"]["diff"] == 100.0
    assert reliability(result) == (75.0, 50.0, 75.0, 100.0)
    bad = records["2::swapped"]
    assert bad["status"] == "invalid" and bad["outcome"]["verdict"] == 0 and bad["outcome"][NO_VERDICT] is True
    assert "--orders both: also judged in the order the authors' script never shows (video B first)" \
        in result["protocol_deviations"]


def test_three_way_view():
    assert three_way_view({"verdict": 1, "h": -1, "swapped": True}).choice == RESPONSE_1
    assert three_way_view({"verdict": -1, "h": -1, "swapped": False}).choice == RESPONSE_1
    assert three_way_view({"verdict": 0, "h": 0, "swapped": False}).choice == TIE
    assert three_way_view({"verdict": 0, "h": 0, "swapped": False, NO_VERDICT: True}).choice == INVALID
    assert three_way_view({"verdict": None, "h": 1, "swapped": False}).choice == INVALID


# ---- scalar scorers: accuracy by |margin| quartile, calibration ---------------------------------------------

# (h, m): 8 pairs humans decided, |m| 0.1 .. 0.8, and a human tie (m 0.05), which neither number counts.
PAIRS = [(1, 0.1), (-1, 0.2), (1, 0.3), (1, 0.4), (-1, -0.5), (1, -0.6), (-1, -0.7), (1, 0.8), (0, 0.05)]


def scorer_table(pairs):
    """Scores giving each pair exactly its margin: score(A) = m, score(B) = 0 (or A = 0, B = -m)."""
    table = {}
    for i, (_, m) in enumerate(pairs):
        table[f"img/{i}_left.png"], table[f"img/{i}_right.png"] = (m, 0.0) if m >= 0 else (0.0, -m)
    return table


def test_scores_accuracy_by_abs_margin_quartile_and_calibration(tmp_path):
    """Quartiles of |m| over the 8 decided pairs: np.quantile linear at positions 1.75, 3.5, 5.25 -> edges 0.275,
    0.45, 0.625: q1 {0.1 right, 0.2 wrong} 50, q2 {0.3, 0.4 right} 100, q3 {-0.5 right, -0.6 wrong} 50,
    q4 {-0.7, 0.8 right} 100; accuracy_without_ties 6/8 = 75.

    Calibration: scale = the median |m| of the decided pairs = (0.4 + 0.5) / 2 = 0.45; p = 1/(1+exp(-m/0.45)):
    0.1 -> .555 (bin 5, humans preferred A), 0.2 -> .609 (bin 6, B), 0.3 -> .661 (bin 6, A), 0.4 -> .709 (bin 7, A),
    -0.5 -> .248 (bin 2, B), -0.6 -> .209 (bin 2, A), -0.7 -> .174 (bin 1, B), 0.8 -> .856 (bin 8, A).
    ECE = sum over bins of count/8 * |mean p - share preferring A|."""
    labels = [{1: "leftvote", -1: "rightvote", 0: "tievote"}[h] for h, _ in PAIRS]
    data = genai_image_dir(tmp_path / "d", labels)
    opts = RunOptions(tasks=["genai_bench_image"], model="table-scorer", data_dir=data, output=tmp_path / "runs",
                      bootstrap_resamples=50, progress="none", use_cache=False)
    result = run(opts, adapter=TableScorer(scorer_table(PAIRS))).results["tasks"]["genai_bench_image"]
    m = result["metrics"]
    assert (m["accuracy/abs_margin/q1"], m["accuracy/abs_margin/q2"], m["accuracy/abs_margin/q3"],
            m["accuracy/abs_margin/q4"]) == (50.0, 100.0, 50.0, 100.0)
    assert m["accuracy_without_ties"] == 75.0
    buckets = result["details"]["abs_margin"]
    assert buckets["buckets"] == ["q1", "q2", "q3", "q4"] and buckets["counted"] == [2, 2, 2, 2]
    assert buckets["edges"] == pytest.approx([0.275, 0.45, 0.625])

    p = {mm: 1.0 / (1.0 + math.exp(-mm / 0.45)) for _, mm in PAIRS}
    bins = [([p[0.1]], [1]), ([p[0.2], p[0.3]], [0, 1]), ([p[0.4]], [1]), ([p[-0.5], p[-0.6]], [0, 1]),
            ([p[-0.7]], [0]), ([p[0.8]], [1])]
    expected = sum(len(ps) / 8 * abs(sum(ps) / len(ps) - sum(ys) / len(ys)) for ps, ys in bins)
    assert m["ece"] == pytest.approx(100 * expected, abs=1e-9)
    calibration = result["details"]["calibration"]
    assert calibration["scale"] == pytest.approx(0.45) and calibration["n"] == 8
    assert "median |m|" in calibration["scale_rule"]
    assert calibration["diagram"]["count"] == [0, 1, 2, 0, 0, 1, 2, 1, 1, 0]
    assert calibration["diagram"]["observed"][6] == 0.5 and calibration["diagram"]["mean_predicted"][0] is None
    assert {"ece", "accuracy/abs_margin/q1"} <= set(result["ci95"])  # bootstrapped like every metric


def test_scale_falls_back_to_one_when_the_median_margin_is_zero():
    """Three decided pairs, two with m = 0: the median |m| is 0, no scale; 1.0 is used and named. Margins 0, 0, 2:
    p = .5, .5, 1/(1+e^-2) = .881; bins 5, 5, 8; humans preferred A, B, A: ECE = 2/3 |.5 - .5| + 1/3 |.881 - 1|.
    The tied quartile edges merge: |m| 0, 0, 2 has quantiles 0, 0, 1 -> one edge above the minimum (1.0): q1 {0,
    0} (both wrong: a zero margin is wrong), q2 {2} right."""
    judgments = [Judgment(str(i), "ok", {"h": h, "margin": m}) for i, (h, m) in enumerate([(1, 0.0), (-1, 0.0),
                                                                                          (1, 2.0)])]
    scoring = score_margins(judgments)
    point = scoring.point()
    assert scoring.details["calibration"]["scale"] == 1.0
    assert scoring.details["calibration"]["scale_rule"].startswith("1.0, because the median |m|")
    assert point["ece"] == pytest.approx(100 / 3 * (1 - 1 / (1 + math.exp(-2.0))))
    assert (point["accuracy/abs_margin/q1"], point["accuracy/abs_margin/q2"]) == (0.0, 100.0)
    assert "accuracy/abs_margin/q3" not in point


def test_agreement_reads_a_both_orders_arena_vote_as_the_response_picked(tmp_path):
    """reports.choices un-swaps the arena's [[A>B]] like every other family: an always-[[A>B]] judge in both orders
    picks the left image as shown and the right one in the swapped record, and agrees with the humans exactly on
    the left votes of the forward order and the right votes of the swapped one."""
    from harness.judgment_table import JudgmentTable
    from reports.choices import COARSE, family_for

    data = genai_image_dir(tmp_path / "d", EIGHT)
    opts = RunOptions(tasks=["genai_bench_image"], model="scripted", protocol="genai-arena", data_dir=data,
                      output=tmp_path / "runs", bootstrap_resamples=20, progress="none", orders="both",
                      use_cache=False)
    outcome = run(opts, adapter=ScriptedAdapter(reply="[[A>B]]", needs_media=False))
    table = JudgmentTable.read_all(outcome.dir / "genai_bench_image.samples.jsonl")
    family = family_for("genai_bench_image", "genai-arena")
    picked = dict(zip(table.ids, (COARSE[c] for c in family.coarse_choices(table))))
    assert {picked[i] for i in table.ids if not i.endswith("::swapped")} == {"first"}
    assert {picked[i] for i in table.ids if i.endswith("::swapped")} == {"second"}
