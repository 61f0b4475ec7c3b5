"""VL-RewardBench on the real 1,250 annotations (images synthesised): categories, orders, prompts."""

from __future__ import annotations

import json
import random

import pytest

from harness.records import MediaRef
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.templates import load_template
from tasks.vlrewardbench import (VLRewardBench, id_prefix, seeded_swap, source_from_id,
                                 unifiedreward_keeps_order)

from .conftest import SHARED, make_data_dir, only_run_dir, read_jsonl, row


def load(vlrb_dir, protocol="strict", seed=0):
    task = VLRewardBench()
    cfg = task.config(protocol, seed, None, vlrb_dir)
    return task, cfg, task.load(cfg)


@pytest.mark.parametrize("protocol, sizes", [
    ("strict", {"general": 183, "hallucination": 749, "reasoning": 318}),
    ("official", {"general": 183, "hallucination": 749, "reasoning": 318}),
    ("unifiedreward", {"general": 631, "hallucination": 301, "reasoning": 318}),
])
def test_category_sizes_in_a_full_run(vlrb_dir, tmp_path, protocol, sizes):
    outcome = run(RunOptions(tasks=["vlrewardbench"], model="scripted", protocol=protocol, data_dir=vlrb_dir,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=10),
                  adapter=ScriptedAdapter())
    result = outcome.results["tasks"]["vlrewardbench"]
    assert result["details"]["category_sizes"] == sizes
    assert result["counts"] == {"n": 1250, "n_invalid": 0, "n_error": 0}
    records = read_jsonl(only_run_dir(tmp_path / "runs") / "vlrewardbench.samples.jsonl")
    assert len(records) == len({r["id"] for r in records}) == 1250


def test_id_prefix_rules_match_both_reference_scripts():
    assert id_prefix("hallucination_pair-1") == "hallucination"
    assert id_prefix("mmmu_pro_test_Art_24") == "mmmu"
    assert id_prefix("RLAIF-V-14") == "RLAIF"
    assert source_from_id("hallucination_pair-1", povid_fix=True) == "povid"  # cal.py since 2025
    assert source_from_id("hallucination_pair-1", povid_fix=False) == "vlfeedback"  # the paper script
    # On the real ids, the fixed prefix rule gives exactly the folder categories.
    rows = [json.loads(line) for line in (SHARED / "fixtures/vlrewardbench/data.jsonl").read_text().splitlines()]
    mismatches = [r["id"] for r in rows if source_from_id(r["id"], povid_fix=True) != r["image_path"].split("/")[1]]
    assert mismatches == []


def test_unifiedreward_order_keeps_629_of_1250(vlrb_dir):
    task, cfg, data = load(vlrb_dir, "unifiedreward")
    keeps = [unifiedreward_keeps_order(0, s.index) for s in data.samples]
    assert sum(keeps) == 629
    # Same stream as the script: random.seed(0), one random.choices([True, False])[0] per item.
    random.seed(0)
    assert keeps == [random.choices([True, False])[0] for _ in range(1250)]
    # And the requests show the dataset order exactly when the draw says "keep".
    for sample, keep in list(zip(data.samples, keeps))[:50]:
        request = task.requests(sample, cfg)[0]
        assert request.meta["swapped"] is (not keep)
        shown_first = request.text.split("Answer 1: ")[1].split("\nAnswer 2: ")[0]
        assert shown_first == sample.data["responses"][0 if keep else 1]


def test_strict_order_is_per_sample_and_about_half(vlrb_dir):
    task, cfg, data = load(vlrb_dir, "strict")
    swaps = {s.id: task.requests(s, cfg)[0].meta["swapped"] for s in data.samples}
    assert 575 <= sum(swaps.values()) <= 675  # binomial(1250, 1/2): mean 625, sd 17.7
    # A subset in another order gets the same decisions: they depend on (seed, id) only.
    subset = list(reversed(data.samples[100:200]))
    assert all(task.requests(s, cfg)[0].meta["swapped"] == swaps[s.id] for s in subset)
    # Another seed gives another assignment.
    other = sum(seeded_swap(1, sid) != swapped for sid, swapped in swaps.items())
    assert 500 <= other <= 750


def test_gold_position_follows_human_ranking_and_swap(tmp_path):
    data = make_data_dir(tmp_path / "d", [row("wildvision_a", "wildvision-battle", ranking=(1, 0),
                                              responses=("worse", "better"))])
    task = VLRewardBench()
    for seed in range(8):
        cfg = task.config("strict", seed, None, data)
        request = task.requests(task.load(cfg).samples[0], cfg)[0]
        first = request.text.split("Answer 1: ")[1].split("\n")[0]
        assert (first == "better") == (request.meta["gold"] == 1)


def test_prompts_are_the_verbatim_templates(vlrb_dir):
    ur = (SHARED / "notes/prompts/vlrewardbench_unifiedreward.txt").read_text()
    official = (SHARED / "notes/prompts/vlrewardbench_official.txt").read_text()
    assert load_template("vlrewardbench_unifiedreward.txt") == ur
    assert load_template("vlrewardbench_official.txt") == official

    task, cfg, data = load(vlrb_dir, "unifiedreward")
    sample = data.samples[0]
    request = task.requests(sample, cfg)[0]
    # The image slot ("<image>\n", its newline written by the judge's chat template) comes first and the text
    # after it is the template filled in, byte for byte.
    assert isinstance(request.parts[0], MediaRef)
    r1, r2 = (sample.data["responses"] if not request.meta["swapped"] else sample.data["responses"][::-1])
    assert "<image>\n" + request.text == ur.format(Query=sample.data["query"], R1=r1, R2=r2)

    task, cfg, _ = load(vlrb_dir, "official")
    request = task.requests(sample, cfg)[0]
    assert isinstance(request.parts[-1], MediaRef) and request.text.startswith(" You are a highly capable")


def test_duplicate_ids_become_distinct_samples(vlrb_dir):
    _, _, data = load(vlrb_dir)
    ids = [s.id for s in data.samples]
    assert len(ids) == len(set(ids)) == 1250
    suffixed = [i for i in ids if "#" in i]
    assert len(suffixed) == 36  # 18 ids used twice, each for a different pair of responses
    assert all(s.problem is None for s in data.samples)


def test_dataset_revision_reaches_the_hub_loader(monkeypatch, tmp_path, capsys):
    """The pinned commit (1,250 rows, a pull-request branch commit) is the default; --dataset-revision picks
    another (the dataset's main holds 1,247 rows). The hub is replaced by a stand-in that records the call."""
    import datasets

    from harness.cli import main
    from tasks.vlrewardbench import HF_REVISION

    seen = []

    def fake_load_dataset(name, split=None, revision=None, **kwargs):
        seen.append((name, split, revision))
        raise ConnectionError("offline stand-in")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("harness.hub.unreachable", lambda: None)  # as if the hub's name resolved
    for extra in ([], ["--dataset-revision", "0e6e627"]):
        code = main(["run", "--tasks", "vlrewardbench", "--model", "scripted", "--output", str(tmp_path), *extra])
        assert code == 2 and "from the hub" in capsys.readouterr().err
    assert seen == [("MMInstruction/VL-RewardBench", "test", HF_REVISION),
                    ("MMInstruction/VL-RewardBench", "test", "0e6e627")]
