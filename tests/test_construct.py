"""Preference construction: the Sec. 3.3 rule on hand cases, then the pipeline with a scripted policy and a
scripted reward whose rankings and scores are known, including ties, unreadable rankings and failures."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from alignment.construct import ConstructOptions, construct, parse_ranking, parse_score, select_pair
from alignment.vlm_policies import ScriptedPolicy
from harness.cache import JudgmentCache
from harness.errors import UsageError
from reward.scripted import ScriptedAdapter

from .conftest import write_image


def test_pair_ranking_then_point_sifting_by_hand():
    # pairs (0,1): 1 wins -> C gets 0; (2,3): 2 wins -> C gets 3. C = [0, 3], R = [1, 2].
    selection = select_pair(4, [1, 2], [5.0, 3.0, 2.0, 8.0])
    assert (selection.chosen_list, selection.rejected_list) == ((0, 3), (1, 2))
    assert (selection.chosen, selection.rejected, selection.status) == (3, 2, "kept")


def test_scores_are_numbers_and_equal_scores_keep_candidate_order():
    # "10" > "9" as numbers (as strings "10" < "9")
    assert select_pair(4, [1, 1], [9.0, 1.0, 10.0, 2.0]).chosen == 2
    assert select_pair(4, [1, 1], [5.0, 1.0, 5.0, 1.0]).chosen == 0  # tie: the first in C
    assert select_pair(4, [1, 1], [5.0, 1.0, 5.0, 1.0]).rejected == 1


def test_unranked_pairs_and_unreadable_scores():
    assert select_pair(4, [None, 1], [1.0, 2.0, 3.0, 4.0], "drop").chosen_list == (2,)
    assert select_pair(4, [None, 1], [1.0, 2.0, 3.0, 4.0], "first").chosen_list == (0, 2)
    dropped = select_pair(4, [None, None], [1.0, 2.0, 3.0, 4.0], "drop")
    assert dropped.status == "dropped" and dropped.reason == "no pair could be ranked"
    # candidate 3 unscored: left out of argmin over R = [1, 3]
    assert select_pair(4, [1, 1], [5.0, 2.0, 4.0, None]).rejected == 1
    assert select_pair(4, [1, 1], [None, 2.0, None, 1.0]).status == "dropped"


def test_released_margin_rule_is_an_option():
    kept = select_pair(2, [1], [3.0, 3.0])
    assert kept.status == "kept"
    dropped = select_pair(2, [1], [3.0, 3.0], require_margin=True)
    assert dropped.status == "dropped" and "score(chosen)=3.0 <= score(rejected)=3.0" in dropped.reason


def test_parsers():
    assert parse_score("Reasoning...\nFinal Score: 87") == 87.0
    assert parse_score("**Final Score:** 4.5") == 4.5
    assert parse_score("Final Score: 2 ... revised. Final Score: 3") == 3.0
    assert parse_score("I rate it highly.") is None
    assert parse_ranking("Overall Judgment: Answer 2 is better.", "image_und") == 2
    assert parse_ranking("The first response is better.", "video_und") == 1
    assert parse_ranking("Image 2 is better than Image 1.", "image_gen") == 2
    assert parse_ranking("Both videos are equally good.", "video_gen") is None  # a tie ranks nothing
    assert parse_ranking("Answer 1 is better. Answer 2 is better.", "image_und") is None


def inputs_file(root, ids):
    root.mkdir(parents=True, exist_ok=True)
    for i, item in enumerate(ids):
        write_image(root / f"{item}.png", i)
    path = root / "inputs.jsonl"
    path.write_text("".join(json.dumps({"id": item, "prompt": f"What is in picture {item}?",
                                        "images": [f"{item}.png"]}) + "\n" for item in ids))
    return path


def scripted_reward():
    """Pair prompts: the candidate with the higher index wins, except that any pair holding candidate 2 is
    unreadable (so its re-ask is unreadable too and the pair is dropped). Point prompts: 10 x index, except
    candidate 5, whose score is unreadable."""

    def reply(prepared):
        text = prepared.request.text
        indices = [int(x) for x in re.findall(r"candidate (\d+) for", text)]
        if "The first response" in text:  # a pair prompt
            if 2 in indices:
                return "I cannot decide."
            return f"Overall Judgment: Answer {1 if indices[0] > indices[1] else 2} is better."
        return "no idea" if indices[0] == 5 else f"Explanation.\nFinal Score: {10 * indices[0]}"

    return ScriptedAdapter(fn=reply)


def test_construction_picks_exactly_the_rule_s_pair(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b", "c"])
    report = construct(ScriptedPolicy(fail_ids="c"), scripted_reward(), inputs, tmp_path / "out",
                       ConstructOptions(n=6, seed=3))
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out/construction.jsonl").open()}
    a = records["a"]
    # pairs (0,1) -> 1 wins; (2,3) unreadable twice -> dropped; (4,5) -> 5 wins.
    assert a["rankings"] == [2, None, 2]
    assert (a["chosen_list"], a["rejected_list"]) == ([1, 5], [0, 4])
    # scores: 1 -> 10, 5 unreadable, 0 -> 0, 4 -> 40: chosen = 1 (the only scored in C), rejected = 0.
    assert a["scores"][:2] == [0.0, 10.0] and a["scores"][5] is None
    assert (a["chosen"], a["rejected"], a["status"]) == (1, 0, "kept")
    assert "pair1::swapped" in a["replies"]  # the unreadable pair was asked again, order exchanged
    c = records["c"]
    assert c["status"] == "dropped" and c["reason"] == "generation: scripted generation failure"
    assert (report.kept, report.dropped) == (2, 1)
    rows = [json.loads(line) for line in (tmp_path / "out/dpo.jsonl").open()]
    assert rows[0]["chosen"][0]["content"][0]["text"] == "candidate 1 for a"
    assert rows[0]["rejected"][0]["content"][0]["text"] == "candidate 0 for a"
    assert rows[0]["prompt"][0]["content"][0] == {"type": "image"} and rows[0]["images"][0].endswith("a.png")
    from datasets import load_from_disk

    assert load_from_disk(str(tmp_path / "out/hf_dataset")).num_rows == 2


def test_first_option_reproduces_the_released_default(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a"])
    construct(ScriptedPolicy(), scripted_reward(), inputs, tmp_path / "out",
              ConstructOptions(n=6, on_unranked="first"))
    record = json.loads((tmp_path / "out/construction.jsonl").read_text().splitlines()[0])
    assert record["chosen_list"] == [1, 2, 5] and "pair1::swapped" not in record["replies"]


def test_resume_skips_finished_inputs_and_uses_the_cache(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    cache = JudgmentCache(tmp_path / "cache.sqlite")
    first = scripted_reward()
    construct(ScriptedPolicy(fail_ids="b"), first, inputs, tmp_path / "out", ConstructOptions(n=4), cache)
    again = scripted_reward()
    report = construct(ScriptedPolicy(), again, inputs, tmp_path / "out", ConstructOptions(n=4), cache)
    assert report.resumed == 1  # "a" was done; "b" failed at generation and is retried
    assert (report.kept, report.dropped) == (2, 0)
    assert again.calls == first.calls  # only "b"'s prompts were judged again (as many as "a"'s)


def test_bad_options_and_inputs(tmp_path):
    with pytest.raises(UsageError, match="even number"):
        construct(ScriptedPolicy(), scripted_reward(), inputs_file(tmp_path / "in", ["a"]), tmp_path / "o",
                  ConstructOptions(n=3))
    with pytest.raises(UsageError, match="does not exist"):
        construct(ScriptedPolicy(), scripted_reward(), tmp_path / "nope.jsonl", tmp_path / "o", ConstructOptions())


# ---- --orders both (issue 16): each pair ranked as shown and swapped, kept only when the two agree ----------

def shown_candidates(text):
    """The candidate indices of a prompt in the order it shows them (the policy's texts name them)."""
    return [int(x) for x in re.findall(r"candidate (\d+) for", text)]


def positional_reward():
    """Always prefers the response shown first; every point score is 5."""

    def reply(prepared):
        if "The first response" in prepared.request.text:
            return "Overall Judgment: Answer 1 is better."
        return "Final Score: 5"

    return ScriptedAdapter(fn=reply)


def test_a_judge_that_prefers_the_first_shown_keeps_no_pair_in_both_orders(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    # one order: the bias goes straight into the data (candidate 2j, shown first, always joins C)
    construct(ScriptedPolicy(), positional_reward(), inputs, tmp_path / "one", ConstructOptions(n=4))
    one = [json.loads(line) for line in (tmp_path / "one/construction.jsonl").open()]
    assert [r["chosen_list"] for r in one] == [[0, 2], [0, 2]] and {r["status"] for r in one} == {"kept"}

    judge = positional_reward()
    report = construct(ScriptedPolicy(), judge, inputs, tmp_path / "both", ConstructOptions(n=4, orders="both"))
    records = [json.loads(line) for line in (tmp_path / "both/construction.jsonl").open()]
    for r in records:
        assert r["orders"] == "both" and r["status"] == "dropped" and r["reason"] == "no pair could be ranked"
        assert r["rankings"] == [None, None] and r["chosen_list"] == []
        assert r["rankings_shown"] == [1, 1] and r["rankings_swapped"] == [1, 1]
        assert r["pair_outcomes"] == ["disagreed", "disagreed"]
        assert r["order_counts"] == {"pairs": 2, "agreed": 0, "disagreed": 2, "unreadable": 0,
                                     "readable_verdicts": 4, "first_shown": 4, "first_position_rate": 100.0}
        assert set(r["replies"]) == {"pair0", "pair0::swapped", "pair1", "pair1::swapped"}
    assert judge.calls == 8  # 4 pairs x 2 orders; nothing ranked, so no point prompt
    assert (report.kept, report.dropped) == (0, 2)
    counts = report.order_counts
    assert (counts.pairs, counts.agreed, counts.disagreed, counts.unreadable) == (4, 0, 4, 0)
    assert counts.first_position_rate == 100.0
    summary = json.loads((tmp_path / "both/construct.json").read_text())
    assert summary["orders"] == "both" and summary["pair_orders"]["disagreed"] == 4
    assert summary["pair_orders"]["first_position_rate"] == 100.0
    assert "agreed 0, disagreed 4, unreadable 0; first-shown rate 100.0% of 8" in report.summary()
    assert (tmp_path / "both/dpo.jsonl").read_text() == ""


class MarkedPolicy(ScriptedPolicy):
    """Candidates 1 and 2 (of 4) carry a marker, so the better one is first in one pair, second in the other."""

    def candidates(self, items, n, seed, store):
        return [[replace(c, text=f"{c.text} [good]") if c.index in (1, 2) else c for c in cands]
                for cands in super().candidates(items, n, seed, store)]


def marker_reward():
    """Prefers the response holding the marker, wherever it is shown; point score 10 x index (+100 marked)."""

    def reply(prepared):
        text = prepared.request.text
        if "The first response" in text:
            first = text.split("The first response:")[1].split("The second response:")[0]
            return f"Overall Judgment: Answer {1 if '[good]' in first else 2} is better."
        index = shown_candidates(text)[0]
        return f"Final Score: {10 * index + (100 if '[good]' in text else 0)}"

    return ScriptedAdapter(fn=reply)


def test_a_judge_that_reads_the_content_keeps_every_pair_with_the_right_winner(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    report = construct(MarkedPolicy(), marker_reward(), inputs, tmp_path / "out", ConstructOptions(n=4, orders="both"))
    for line in (tmp_path / "out/construction.jsonl").open():
        r = json.loads(line)
        # pair (0,1): 1 is marked -> "Answer 2" shown, "Answer 1" swapped; pair (2,3): 2 marked -> 1 then 2
        assert r["rankings_shown"] == [2, 1] and r["rankings_swapped"] == [1, 2]
        assert r["rankings"] == [2, 1] and r["pair_outcomes"] == ["agreed", "agreed"]
        assert (r["chosen_list"], r["rejected_list"]) == ([1, 2], [0, 3])
        # scores: 1 -> 110, 2 -> 120, 0 -> 0, 3 -> 30: chosen 2, rejected 0
        assert (r["status"], r["chosen"], r["rejected"]) == ("kept", 2, 0)
        assert r["order_counts"]["first_position_rate"] == 50.0
    counts = report.order_counts
    assert (report.kept, counts.pairs, counts.agreed, counts.disagreed, counts.unreadable) == (2, 4, 4, 0, 0)
    rows = [json.loads(line) for line in (tmp_path / "out/dpo.jsonl").open()]
    assert [row["chosen"][0]["content"][0]["text"] for row in rows] == ["candidate 2 for a [good]",
                                                                          "candidate 2 for b [good]"]


def mixed_reward():
    """One behaviour per pair of 10 candidates, whatever the order, so each pair's outcome is known:
    (0,1) the higher index wins (agreed); (2,3) the first shown wins (disagreed); (4,5) the second shown wins
    (disagreed); (6,7) the first shown wins as shown, unreadable swapped (unreadable); (8,9) a tie in both
    orders (unreadable). Point score: 10 x index."""

    def reply(prepared):
        text = prepared.request.text
        shown = shown_candidates(text)
        if "The first response" not in text:
            return f"Final Score: {10 * shown[0]}"
        pair = min(shown) // 2
        if pair == 0:
            return f"Overall Judgment: Answer {1 if shown[0] > shown[1] else 2} is better."
        if pair == 1 or (pair == 3 and shown[0] == 6):
            return "Overall Judgment: Answer 1 is better."
        if pair == 2:
            return "Overall Judgment: Answer 2 is better."
        if pair == 3:
            return "I cannot decide."
        return "Overall Judgment: Both answers are equally good."

    return ScriptedAdapter(fn=reply)


def test_mixed_table_hand_counted(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    judge = mixed_reward()
    report = construct(ScriptedPolicy(), judge, inputs, tmp_path / "out", ConstructOptions(n=10, orders="both"))
    for line in (tmp_path / "out/construction.jsonl").open():
        r = json.loads(line)
        assert r["rankings_shown"] == [2, 1, 2, 1, None] and r["rankings_swapped"] == [1, 1, 2, None, None]
        assert r["pair_outcomes"] == ["agreed", "disagreed", "disagreed", "unreadable", "unreadable"]
        assert r["rankings"] == [2, None, None, None, None]
        # readable verdicts 2+2+2+1+0 = 7; naming the first shown: 1 (pair 0 swapped) + 2 + 0 + 1 + 0 = 4
        assert r["order_counts"] == {"pairs": 5, "agreed": 1, "disagreed": 2, "unreadable": 2,
                                     "readable_verdicts": 7, "first_shown": 4,
                                     "first_position_rate": pytest.approx(400 / 7)}
        # only pair 0 is ranked ("reask" has nothing left to ask: the unranked pairs are dropped)
        assert (r["chosen_list"], r["rejected_list"], r["chosen"], r["rejected"]) == ([1], [0], 1, 0)
        assert r["status"] == "kept" and sorted(k for k in r["replies"] if "point" in k) == ["point0", "point1"]
    assert judge.calls == 2 * (10 + 2)  # per input: 5 pairs x 2 orders, then the point prompts of pair 0
    counts = report.order_counts
    assert (counts.pairs, counts.agreed, counts.disagreed, counts.unreadable) == (10, 2, 4, 4)
    assert (counts.readable_verdicts, counts.first_shown) == (14, 8)
    assert json.loads((tmp_path / "out/construct.json").read_text())["pair_orders"]["first_position_rate"] == \
        pytest.approx(800 / 14)


def test_first_option_with_both_orders_lets_the_first_candidate_win_unranked_pairs(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a"])
    construct(ScriptedPolicy(), mixed_reward(), inputs, tmp_path / "out",
              ConstructOptions(n=10, orders="both", on_unranked="first"))
    record = json.loads((tmp_path / "out/construction.jsonl").read_text().splitlines()[0])
    assert record["chosen_list"] == [1, 2, 4, 6, 8]  # agreed pair 0, then candidate 2j of each unranked pair
    assert record["order_counts"]["agreed"] == 1  # still counted as not agreeing


def test_both_orders_after_one_asks_only_the_swapped_prompts(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    cache = JudgmentCache(tmp_path / "cache.sqlite")
    first = marker_reward()
    construct(MarkedPolicy(), first, inputs, tmp_path / "one", ConstructOptions(n=4), cache)
    assert first.calls == 2 * (2 + 4)  # per input: 2 pairs (all readable: no re-ask) + 4 point prompts
    again = marker_reward()
    report = construct(MarkedPolicy(), again, inputs, tmp_path / "both", ConstructOptions(n=4, orders="both"), cache)
    assert again.calls == 4  # the 4 pairs' swapped prompts; shown pairs and point prompts came from the cache
    assert report.kept == 2 and report.order_counts.agreed == 4
    third = marker_reward()
    construct(MarkedPolicy(), third, inputs, tmp_path / "both2", ConstructOptions(n=4, orders="both"), cache)
    assert third.calls == 0


def test_resume_refuses_another_order_and_scorers_refuse_both(tmp_path):
    inputs = inputs_file(tmp_path / "in", ["a", "b"])
    construct(ScriptedPolicy(), positional_reward(), inputs, tmp_path / "out", ConstructOptions(n=4, limit=1))
    judge = positional_reward()
    with pytest.raises(UsageError, match=r"construction.jsonl: its finished inputs were ranked with --orders one"):
        construct(ScriptedPolicy(), judge, inputs, tmp_path / "out", ConstructOptions(n=4, orders="both"))
    assert judge.calls == 0  # refused before any work

    class ScriptedScorer(ScriptedAdapter):
        kind = "scorer"

    with pytest.raises(UsageError, match="--orders both needs a generative judge"):
        construct(ScriptedPolicy(), ScriptedScorer(), inputs, tmp_path / "o2", ConstructOptions(n=4, orders="both"))
    with pytest.raises(UsageError, match="--orders must be one of one, both"):
        construct(ScriptedPolicy(), judge, inputs, tmp_path / "o3", ConstructOptions(n=4, orders="three"))
