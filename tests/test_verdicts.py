"""The verdict parsers on the phrasings judges really produce."""

from __future__ import annotations

import pytest

from tasks.verdicts import robust_pairwise_choice, vlrewardbench_official_choice


@pytest.mark.parametrize("text, choice", [
    ("Answer 2 is better", 2),
    ("Answer 1 is better.", 1),
    ("Overall Judgment: Answer 2 is better", 2),
    ("**Overall Judgment:** **Answer 1** is better.", 1),
    ("### Overall Judgment\nAnswer 2 is slightly better because it mentions the sign.", 2),
    ("Both are detailed. However, Answer 1 is clearly better than Answer 2.", 1),
    ("Response 2 is better.", 2),
    ("Final verdict: Answer 1", 1),
    ("Answer (2) is the better answer.", 2),
    # A final declaration decides even when the reasoning praised the other answer on one point.
    ("Answer 1 is better at describing colours.\n\nOverall Judgment: Answer 2 is better.", 2),
    ("answer 2 IS BETTER", 2),
])
def test_strict_reads_real_phrasings(text, choice):
    assert robust_pairwise_choice(text) == (choice, None)


@pytest.mark.parametrize("text, reason", [
    ("", "empty reply"),
    ("   \n", "empty reply"),
    (None, "empty reply"),
    ("Answer 1 is better. Answer 2 is better.", "the reply calls both answers better"),
    ("Both answers are equally good.", "no verdict naming Answer 1 or Answer 2"),
    ("Answer 1 is not better than Answer 2 in any way.", "no verdict naming Answer 1 or Answer 2"),
    ("Overall Judgment: Answer 1. Final verdict: Answer 2.", "the final judgment names both answers"),
    ("Answer 12 is better", "no verdict naming Answer 1 or Answer 2"),
])
def test_strict_calls_both_or_neither_invalid(text, reason):
    assert robust_pairwise_choice(text) == (None, reason)


@pytest.mark.parametrize("text, choice", [
    ("Overall Judgment: Answer 2 is better.", 2),
    ("**Overall Judgment**: **Answer 1** is slightly better", 1),
    ("Overall Judgment:\nAnswer 1 is the better", 1),
    ("Therefore, Answer 2 is better.", 2),
    ("Overall Judgment: Answer 3 is better", 3),  # cal.py captures any number
])
def test_official_regex_as_cal_py(text, choice):
    assert vlrewardbench_official_choice(text) == (choice, None)


@pytest.mark.parametrize("text", ["Answer 2 is better.", "I prefer the second answer.", ""])
def test_official_regex_needs_its_lead_in(text):
    choice, reason = vlrewardbench_official_choice(text)
    assert choice is None and reason
