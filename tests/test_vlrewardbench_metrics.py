"""VL-RewardBench metrics hand-checked on a six-item table, for all three protocols.

Items (category by image folder; the unifiedreward protocol's id-prefix rule moves h1 to general):
    g1 wildvision-battle   g2 vlfeedback (second response better)
    h1 povid (id hallucination_pair-1)   h2 rlaif-v
    r1 reasoning_tasks      r2 reasoning_tasks
The scripted judge writes each reply from the gold position the request carries, so the expected
outcome of every item is fixed whatever order the protocol shows the answers in.
"""

from __future__ import annotations

import math

import pytest

from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter

from .conftest import make_data_dir, row

ROWS = [
    row("wildvision_g1", "wildvision-battle"),
    row("svit_g2", "vlfeedback", ranking=(1, 0)),
    row("hallucination_pair-h1", "povid"),
    row("RLAIF-h2", "rlaif-v"),
    row("mathverse_r1", "reasoning_tasks"),
    row("mmmu_pro_r2", "reasoning_tasks"),
]


def run_with(tmp_path, protocol, replies):
    data = make_data_dir(tmp_path / "data", ROWS)

    def fn(prepared):
        gold = prepared.request.meta["gold"]
        return replies[prepared.request.sample_id](gold, 3 - gold)

    outcome = run(RunOptions(tasks=["vlrewardbench"], model="scripted", protocol=protocol, data_dir=data,
                             output=tmp_path / "runs", use_cache=False),
                  adapter=ScriptedAdapter(fn=fn))
    return outcome.results["tasks"]["vlrewardbench"]


def check(metrics, expected):
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-9), name


def test_strict_invalid_counts_as_wrong(tmp_path):
    replies = {
        "wildvision_g1": lambda g, w: f"**Answer {g}** is better.",              # correct (markdown)
        "svit_g2": lambda g, w: f"Answer {w} is better than Answer {g}.",         # wrong
        "hallucination_pair-h1": lambda g, w: "Answer 1 is better. Answer 2 is better.",  # invalid: both
        "RLAIF-h2": lambda g, w: f"Overall Judgment: Answer {g} is clearly better",  # correct
        "mathverse_r1": lambda g, w: f"I think Answer {w} is better",            # wrong
        "mmmu_pro_r2": lambda g, w: "Both answers have merits.",                 # invalid: neither
    }
    result = run_with(tmp_path, "strict", replies)
    assert result["counts"] == {"n": 6, "n_invalid": 2, "n_error": 0}
    # general 1/2, hallucination 1/2 (invalid h1 counts wrong), reasoning 0/2; overall 2/6.
    check(result["metrics"], {"accuracy/general": 50.0, "accuracy/hallucination": 50.0,
                              "accuracy/reasoning": 0.0, "overall_accuracy": 100 * 2 / 6,
                              "macro_accuracy": (50 + 50 + 0) / 3})


def test_official_unparsed_leave_denominator(tmp_path):
    replies = {
        "wildvision_g1": lambda g, w: f"Overall Judgment: Answer {g} is better",   # agree
        "svit_g2": lambda g, w: f"Therefore, Answer {w} is better.",                # reject
        "hallucination_pair-h1": lambda g, w: f"Answer {g} is better",             # no prefix: doesntMatch
        "RLAIF-h2": lambda g, w: f"Overall Judgment:\n**Answer {g}** is slightly better",  # agree
        "mathverse_r1": lambda g, w: "Overall Judgment: Answer 3 is better",       # cal.py quirk: agree
        "mmmu_pro_r2": lambda g, w: "",                                            # empty: doesntMatch
    }
    result = run_with(tmp_path, "official", replies)
    assert result["counts"] == {"n": 6, "n_invalid": 2, "n_error": 0}
    # general 1 agree / 1 reject = 50; hallucination only h2 counted = 100; reasoning only r1 = 100.
    check(result["metrics"], {"accuracy/general": 50.0, "accuracy/hallucination": 100.0,
                              "accuracy/reasoning": 100.0, "overall_accuracy": 75.0,
                              "macro_accuracy": (50 + 100 + 100) / 3})
    assert result["details"]["counted_per_category"] == {"general": 2, "hallucination": 1, "reasoning": 1}


def test_unifiedreward_substring_and_buggy_categories(tmp_path):
    replies = {
        "wildvision_g1": lambda g, w: f"Answer {g} is better",                    # correct
        "svit_g2": lambda g, w: f"answer {g} is better",                          # case differs: wrong, invalid
        "hallucination_pair-h1": lambda g, w: "Answer 1 is better. Answer 2 is better.",  # substring: correct
        "RLAIF-h2": lambda g, w: f"Answer {w} is better",                         # wrong
        "mathverse_r1": lambda g, w: f"So Answer {g} is better overall.",         # correct
        "mmmu_pro_r2": lambda g, w: "I cannot decide.",                          # wrong, invalid
    }
    result = run_with(tmp_path, "unifiedreward", replies)
    assert result["counts"] == {"n": 6, "n_invalid": 2, "n_error": 0}
    # The script's id-prefix rule puts hallucination_pair-h1 in general: general {g1, g2, h1} = 2/3,
    # hallucination {h2} = 0/1, reasoning {r1, r2} = 1/2; overall 3/6.
    assert result["details"]["category_sizes"] == {"general": 3, "hallucination": 1, "reasoning": 2}
    check(result["metrics"], {"accuracy/general": 200 / 3, "accuracy/hallucination": 0.0,
                              "accuracy/reasoning": 50.0, "overall_accuracy": 50.0,
                              "macro_accuracy": (200 / 3 + 0 + 50) / 3})


def test_empty_category_is_null_not_zero(tmp_path):
    data = make_data_dir(tmp_path / "data", ROWS[:2])  # general only
    outcome = run(RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs",
                             use_cache=False), adapter=ScriptedAdapter(reply="Answer 1 is better"))
    metrics = outcome.results["tasks"]["vlrewardbench"]["metrics"]
    assert metrics["accuracy/hallucination"] is None and metrics["macro_accuracy"] is None
    assert not math.isnan(metrics["overall_accuracy"])
