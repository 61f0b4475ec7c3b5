"""`--orders both` (issue 16 item 1): each VL-RewardBench item judged as shown and swapped, and the position bias
of a judge measured. The two judges of the issue's must-show: one that always answers "Answer 1 is better"
(swap_consistency 0, first_position_rate 100, accuracy/both_orders 0) and one that always names the gold
answer (100, 50, 100)."""

from __future__ import annotations

import json

import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter

from .conftest import make_data_dir, read_jsonl, row

FOLDERS = ("rlaif-v", "povid", "reasoning_tasks", "wildvision-battle")


def _data(tmp_path, n=12):
    rows = [row(f"r{i}", FOLDERS[i % 4], (0, 1) if i % 3 else (1, 0), query=f"What is in picture {i}?")
            for i in range(n)]
    return make_data_dir(tmp_path / "data", rows)


def _run(tmp_path, data, fn, **kw):
    opts = RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs",
                      bootstrap_resamples=50, progress="none", orders="both", use_cache=False, **kw)
    return run(opts, adapter=ScriptedAdapter(fn=fn, needs_media=False))


def _gold_position(prepared) -> int:
    return prepared.request.meta["gold"]


def test_a_judge_that_always_names_the_first_answer(tmp_path):
    data = _data(tmp_path)
    outcome = _run(tmp_path, data, lambda p: "Overall Judgment: Answer 1 is better.")
    task = outcome.results["tasks"]["vlrewardbench"]
    m = task["metrics"]
    assert (m["swap_consistency"], m["first_position_rate"], m["accuracy/both_orders"]) == (0.0, 100.0, 0.0)
    # Right in exactly one of the two orders of each item (the one where the better answer is shown first).
    assert m["accuracy/either_order"] == 100.0 and m["overall_accuracy"] == 50.0
    assert task["counts"]["n"] == 24 and outcome.adapter_calls == 24
    records = {r["id"]: r for r in read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")}
    assert set(records) == {f"r{i}" for i in range(12)} | {f"r{i}::swapped" for i in range(12)}
    for i in range(12):  # the swapped record shows the pair the other way round
        assert records[f"r{i}"]["outcome"]["swapped"] != records[f"r{i}::swapped"]["outcome"]["swapped"]
        assert records[f"r{i}"]["outcome"]["gold"] == 3 - records[f"r{i}::swapped"]["outcome"]["gold"]
    assert task["details"]["reliability"]["incomplete_items"] == 0


def test_a_judge_that_always_names_the_gold_answer(tmp_path):
    outcome = _run(tmp_path, _data(tmp_path), lambda p: f"Overall Judgment: Answer {_gold_position(p)} is better.")
    m = outcome.results["tasks"]["vlrewardbench"]["metrics"]
    # The better answer is shown first in exactly one of each item's two orders: 50, not ~50.
    assert (m["swap_consistency"], m["first_position_rate"], m["accuracy/both_orders"]) == (100.0, 50.0, 100.0)
    assert m["overall_accuracy"] == 100.0


def test_an_invalid_reply_in_one_order_is_inconsistent_and_wrong_in_both(tmp_path):
    """Items r0..r3; the judge names the gold answer, except that it cannot decide r0 and r1 in their swapped
    order: 2 of 4 items consistent (50), right in both orders 2/4 (50), in either order 4/4 (100); the 6 valid
    verdicts all name the gold, so first_position_rate is the share of them where the gold was shown first,
    counted from the records."""
    data = _data(tmp_path, 4)

    def judge(p):
        if p.request.sample_id in ("r0::swapped", "r1::swapped"):
            return "I cannot decide."
        return f"Answer {_gold_position(p)} is better."

    outcome = _run(tmp_path, data, judge)
    task = outcome.results["tasks"]["vlrewardbench"]
    m = task["metrics"]
    assert (m["swap_consistency"], m["accuracy/both_orders"], m["accuracy/either_order"]) == (50.0, 50.0, 100.0)
    records = read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")
    valid = [r for r in records if r["status"] == "ok"]
    first = sum(r["outcome"]["verdict"] == 1 for r in valid)  # a valid verdict naming the answer shown first
    assert len(valid) == 6 and m["first_position_rate"] == pytest.approx(100.0 * first / 6)
    assert task["counts"] == {"n": 8, "n_invalid": 2, "n_error": 0}


def test_both_orders_resume_and_config(tmp_path):
    data = _data(tmp_path, 6)
    first = _run(tmp_path, data, lambda p: "Answer 1 is better.")
    header = json.loads((first.dir / "run.json").read_text())
    assert header["config"]["orders"] == "both"
    again = _run(tmp_path, data, lambda p: "Answer 1 is better.", resume=True)
    assert again.dir == first.dir and again.adapter_calls == 0 and again.results == first.results


def test_tasks_without_an_order_refuse_before_any_work(tmp_path):
    with pytest.raises(UsageError, match="--orders both: mmhal_bench cannot be judged in both orders"):
        run(RunOptions(tasks=["mmhal_bench"], model="scripted", data_dir=tmp_path, orders="both",
                       output=tmp_path / "runs"), adapter=ScriptedAdapter())
    assert not (tmp_path / "runs").exists()


def test_multimodal_rewardbench_fixed_order_judged_both_ways(tmp_path):
    """The benchmark always shows Output1 as A (`official`); `--orders both` adds Output2 as A. A judge that
    always says [[A]] is then right exactly when the better output is shown as A: never in both orders."""
    from tests.fixtures_conformance.data import multimodal_rewardbench

    data = multimodal_rewardbench(tmp_path / "mmrb")
    opts = RunOptions(tasks=["multimodal_rewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs",
                      bootstrap_resamples=20, progress="none", orders="both", use_cache=False)
    outcome = run(opts, adapter=ScriptedAdapter(reply="Final verdict: [[A]]", needs_media=False))
    m = outcome.results["tasks"]["multimodal_rewardbench"]["metrics"]
    assert (m["swap_consistency"], m["first_position_rate"], m["accuracy/both_orders"]) == (0.0, 100.0, 0.0)
    assert m["accuracy/either_order"] == 100.0 and m["overall_accuracy"] == 50.0


def test_compare_gates_on_swap_consistency(tmp_path, capsys):
    """A candidate that always names the first answer against a gold judge, both in both orders: compare pairs the
    items and fails on swap_consistency (100 -> 0) like on any metric; a one-order run is not comparable."""
    from reports.compare import GateOptions, compare_runs
    from reports.runs import load_run

    data = _data(tmp_path, 12)
    gold = _run(tmp_path, data, lambda p: f"Answer {_gold_position(p)} is better.")
    biased = _run(tmp_path, data, lambda p: "Answer 1 is better.")
    result = compare_runs(load_run(gold.dir), load_run(biased.dir),
                          GateOptions(metrics=("swap_consistency",), resamples=200))
    [task] = result.tasks
    by_name = {m.metric: m for m in task.metrics}
    assert task.n_common == 12 and task.n_dropped == 0
    assert by_name["swap_consistency"].delta == -100.0 and by_name["swap_consistency"].failed
    assert by_name["first_position_rate"].delta == 50.0 and not by_name["first_position_rate"].gated
    assert by_name["overall_accuracy"].delta == -50.0
    assert not result.passed and [m.metric for m in result.failures] == ["swap_consistency"]
    assert compare_runs(load_run(gold.dir), load_run(gold.dir), GateOptions(resamples=50)).passed

    one = run(RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "one",
                         bootstrap_resamples=20, progress="none", use_cache=False),
              adapter=ScriptedAdapter(reply="Answer 1 is better.", needs_media=False))
    from reports.compare import IncomparableRuns
    with pytest.raises(IncomparableRuns, match="judged differently"):
        compare_runs(load_run(one.dir), load_run(biased.dir), GateOptions(resamples=20))


def test_an_ensemble_of_both_order_runs_keeps_the_reliability_metrics(tmp_path):
    """Three members judged in both orders, combined record by record: the ensemble is scored as a both-orders
    run. Members: gold, gold, always "Answer 1": the majority is the gold in every order."""
    from reports.ensemble import ensemble
    from reports.runs import load_run

    data = _data(tmp_path, 8)
    members = [_run(tmp_path, data, lambda p: f"Answer {_gold_position(p)} is better."),
               _run(tmp_path, data, lambda p: f"Overall Judgment: Answer {_gold_position(p)} is better."),
               _run(tmp_path, data, lambda p: "Answer 1 is better.")]
    result = ensemble([load_run(m.dir) for m in members], "majority", tmp_path / "ens", resamples=20)
    task = json.loads((result.run.dir / "results.json").read_text())["tasks"]["vlrewardbench"]
    assert task["judged"] == {"orders": 2, "samples": 1}
    m = task["metrics"]
    assert (m["swap_consistency"], m["first_position_rate"], m["accuracy/both_orders"]) == (100.0, 50.0, 100.0)
