"""`--samples K` (issue 16 item 2): K judgments per item and order at the judge's temperature, each cached apart
(its index the request's seed), with majority-vote accuracy, vote agreement and the vote entropy reported."""

from __future__ import annotations

import math

import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter

from .conftest import make_data_dir, read_jsonl, row

FOLDERS = ("rlaif-v", "povid", "reasoning_tasks", "wildvision-battle")


def _data(tmp_path, n=6):
    rows = [row(f"r{i}", FOLDERS[i % 4], (0, 1) if i % 3 else (1, 0), query=f"What is in picture {i}?")
            for i in range(n)]
    return make_data_dir(tmp_path / "data", rows)


def _opts(tmp_path, data, **kw):
    base = dict(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs",
                bootstrap_resamples=50, progress="none", cache_path=tmp_path / "cache.sqlite")
    return RunOptions(**{**base, **kw})


def _two_of_three_right(prepared) -> str:
    """Right for samples 0 and 1 (seeds 0, 1), wrong for sample 2: every item's vote is 2 to 1 for the gold."""
    gold = prepared.request.meta["gold"]
    seed = prepared.request.generation.seed
    return f"Overall Judgment: Answer {gold if seed in (0, 1) else 3 - gold} is better."


def test_majority_vote_over_three_samples(tmp_path):
    data = _data(tmp_path)
    judge = ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7)
    outcome = run(_opts(tmp_path, data, samples=3), adapter=judge)
    task = outcome.results["tasks"]["vlrewardbench"]
    m = task["metrics"]
    assert task["judged"] == {"orders": 1, "samples": 3}
    assert outcome.adapter_calls == 18 and task["counts"]["n"] == 18
    # 12 of the 18 judgments right; every item's plurality (2 of 3) is the gold.
    assert m["overall_accuracy"] == pytest.approx(100 * 12 / 18)
    assert m["accuracy/majority_vote"] == 100.0 and m["vote_tie_rate"] == 0.0
    assert m["vote_agreement"] == pytest.approx(100 * 2 / 3)
    entropy = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))  # 0.918 bits, every item the same
    assert m["vote_entropy/mean"] == pytest.approx(entropy) and m["vote_entropy/p90"] == pytest.approx(entropy)
    ids = {r["id"] for r in read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")}
    assert ids == {f"r{i}{s}" for i in range(6) for s in ("", "::s1", "::s2")}
    # Each sample index is its own request seed (and cache entry): the records' replies differ by sample.
    assert "swap_consistency" not in m


def test_samples_are_cached_per_index(tmp_path):
    data = _data(tmp_path)
    first = ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7)
    run(_opts(tmp_path, data, samples=3), adapter=first)
    again = ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7)
    rerun = run(_opts(tmp_path, data, samples=3, output=tmp_path / "runs2"), adapter=again)
    assert (rerun.adapter_calls, rerun.cache_hits) == (0, 18)
    more = ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7)
    four = run(_opts(tmp_path, data, samples=4, output=tmp_path / "runs3"), adapter=more)
    assert (four.adapter_calls, four.cache_hits) == (6, 18)  # only sample index 3 is new
    # Another temperature is another judge: nothing reused.
    hotter = ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=1.0)
    other = run(_opts(tmp_path, data, samples=3, output=tmp_path / "runs4"), adapter=hotter)
    assert other.cache_hits == 0


def test_samples_combine_with_both_orders(tmp_path):
    data = _data(tmp_path)

    def first_shown(prepared) -> str:  # always position 1, whatever the sample
        return "Overall Judgment: Answer 1 is better."

    judge = ScriptedAdapter(fn=first_shown, needs_media=False, temperature=0.7)
    outcome = run(_opts(tmp_path, data, samples=2, orders="both"), adapter=judge)
    task = outcome.results["tasks"]["vlrewardbench"]
    m = task["metrics"]
    assert task["judged"] == {"orders": 2, "samples": 2} and outcome.adapter_calls == 24
    assert (m["swap_consistency"], m["first_position_rate"], m["accuracy/both_orders"]) == (0.0, 100.0, 0.0)
    # Four votes per item, two for each response: every vote is tied, so no item has a majority.
    assert m["vote_tie_rate"] == 100.0 and m["accuracy/majority_vote"] == 0.0 and m["vote_agreement"] == 50.0
    ids = {r["id"] for r in read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")}
    assert ids == {f"r{i}{s}" for i in range(6) for s in ("", "::s1", "::swapped", "::swapped::s1")}


def test_a_killed_sampled_run_resumes_to_the_same_numbers(tmp_path):
    data = _data(tmp_path)
    calls = {"n": 0}

    def dies_after_seven(prepared) -> str:
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt  # as a kill mid-run: seven records written
        return _two_of_three_right(prepared)

    with pytest.raises(KeyboardInterrupt):
        run(_opts(tmp_path, data, samples=3, use_cache=False),
            adapter=ScriptedAdapter(fn=dies_after_seven, needs_media=False, temperature=0.7))
    resumed = run(_opts(tmp_path, data, samples=3, use_cache=False, resume=True),
                  adapter=ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7))
    assert resumed.resumed_samples == 7 and resumed.adapter_calls == 11
    whole = run(_opts(tmp_path, data, samples=3, use_cache=False, output=tmp_path / "whole"),
                adapter=ScriptedAdapter(fn=_two_of_three_right, needs_media=False, temperature=0.7))
    assert resumed.results["tasks"]["vlrewardbench"]["metrics"] == whole.results["tasks"]["vlrewardbench"]["metrics"]


def test_a_greedy_judge_is_refused_before_the_work(tmp_path):
    data = _data(tmp_path)
    greedy = ScriptedAdapter(fn=_two_of_three_right, needs_media=False)
    with pytest.raises(UsageError, match="temperature"):
        run(_opts(tmp_path, data, samples=3), adapter=greedy)
    assert greedy.calls == 0 and not (tmp_path / "runs").exists()
    with pytest.raises(UsageError, match="temperature"):  # by name: from the model arguments, before building it
        run(_opts(tmp_path, data, samples=3, model="scripted", model_args={"reply": "x"}))


@pytest.mark.parametrize("samples", [0, -1, 65])
def test_a_bad_sample_count_is_refused(tmp_path, samples):
    with pytest.raises(UsageError, match="--samples"):
        run(_opts(tmp_path, _data(tmp_path), samples=samples),
            adapter=ScriptedAdapter(reply="x", needs_media=False, temperature=0.7))


def test_a_task_without_a_verdict_view_cannot_be_sampled(tmp_path):
    with pytest.raises(UsageError, match="cannot be judged in both orders or sampled"):
        run(_opts(tmp_path, _data(tmp_path), tasks=["mmhal_bench"], samples=2),
            adapter=ScriptedAdapter(reply="x", needs_media=False, temperature=0.7))
