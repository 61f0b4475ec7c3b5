"""Preference construction: the Sec. 3.3 rule on hand cases, then the pipeline with a scripted policy and a
scripted reward whose rankings and scores are known, including ties, unreadable rankings and failures."""

from __future__ import annotations

import json
import re

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
