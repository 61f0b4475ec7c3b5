"""The `hf` adapter on tiny LLaVA-OneVision and Qwen2-VL checkpoints built from configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from harness.errors import UsageError  # noqa: E402
from harness.judging import JudgeClient  # noqa: E402
from harness.runner import RunOptions, run  # noqa: E402
from reward.hf import HFAdapter  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402
from tasks.vlrewardbench import VLRewardBench  # noqa: E402

from .conftest import only_run_dir, read_jsonl  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {kind: save_tiny(kind, root / kind) for kind in ("llava_onevision", "qwen2_vl")}


def vlrb_requests(vlrb_dir, n):
    task = VLRewardBench()
    cfg = task.config("strict", 0, None, vlrb_dir)
    return [r for s in task.load(cfg).samples[:n] for r in task.requests(s, cfg)]


@pytest.mark.parametrize("kind", ["llava_onevision", "qwen2_vl"])
def test_batched_generation_matches_one_at_a_time(tiny_dirs, vlrb_dir, kind):
    requests = vlrb_requests(vlrb_dir, 12)
    texts = {}
    for batch_size in (1, 5):
        adapter = HFAdapter(str(tiny_dirs[kind]), batch_size=batch_size, max_new_tokens=6)
        texts[batch_size] = {e.request.key: e.reply for e in JudgeClient(adapter, None).judge(requests)}
    assert texts[1].keys() == texts[5].keys() == {r.key for r in requests}
    assert all(texts[1][k].text == texts[5][k].text for k in texts[1])
    reply = next(iter(texts[5].values()))
    assert reply.usage["prompt_tokens"] > 100 and 0 < reply.usage["completion_tokens"] <= 6


def test_failed_batches_are_split_down_to_the_bad_request(tiny_dirs, vlrb_dir):
    adapter = HFAdapter(str(tiny_dirs["llava_onevision"]), batch_size=8, max_new_tokens=4)
    requests = vlrb_requests(vlrb_dir, 8)
    bad = requests[3].key
    real = adapter.generate_batch

    def fragile(batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(p.key == bad for p in batch):
            raise ValueError("this input breaks the model")
        return real(batch)

    adapter.generate_batch = fragile
    replies = {e.request.key: e.reply for e in JudgeClient(adapter, None).judge(requests)}
    assert len(replies) == 8
    assert [k for k, r in replies.items() if not r.ok] == [bad]
    assert replies[bad].error == "generation failed: ValueError: this input breaks the model"
    assert adapter.batches_split >= 3


def test_cap_on_new_tokens_is_part_of_the_cache_identity(tiny_dirs, vlrb_dir, tmp_path):
    data_opts = dict(tasks=["vlrewardbench"], model="hf", data_dir=vlrb_dir, output=tmp_path / "runs", limit=4,
                     bootstrap_resamples=10)
    first = run(RunOptions(**data_opts), adapter=HFAdapter(str(tiny_dirs["qwen2_vl"]), max_new_tokens=4))
    same = run(RunOptions(**data_opts), adapter=HFAdapter(str(tiny_dirs["qwen2_vl"]), max_new_tokens=4))
    longer = run(RunOptions(**data_opts), adapter=HFAdapter(str(tiny_dirs["qwen2_vl"]), max_new_tokens=5))
    assert (first.adapter_calls, same.adapter_calls, same.cache_hits, longer.adapter_calls) == (4, 0, 4, 4)


def test_sampled_judgments_are_seeded_per_sample(tiny, vlrb_dir, tmp_path):
    """`temperature=` with `--samples 3`: a tiny Qwen2.5-VL with the real checkpoint's tokenizer, chat template and
    processor samples (do_sample), each sample index its own seed, so the run is reproducible (a second run,
    uncached, writes the same replies) and the samples of an item differ."""
    def replies(out: str) -> dict[str, str]:
        opts = RunOptions(tasks=["vlrewardbench"], model="hf", data_dir=vlrb_dir, output=tmp_path / out, limit=3,
                          bootstrap_resamples=10, samples=3, use_cache=False, progress="none")
        outcome = run(opts, adapter=HFAdapter(str(tiny("qwen2.5-vl-7b")), max_new_tokens=6, temperature=1.0))
        assert outcome.adapter_calls == 9
        return {r["id"]: r["replies"][0]["text"] for r in read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")}

    first, second = replies("a"), replies("b")
    assert first == second and len(first) == 9
    items = {rid.split("::")[0] for rid in first}
    assert any(len({first[i], first[f"{i}::s1"], first[f"{i}::s2"]}) > 1 for i in items)


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(UsageError, match="no such directory"):
        HFAdapter(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no config.json there"):
        HFAdapter(str(empty))
    text_only = tmp_path / "text"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(UsageError, match="'qwen2' checkpoint, not a supported vision-language judge"):
        HFAdapter(str(text_only))
    original = tmp_path / "orig"
    original.mkdir()
    (original / "config.json").write_text(json.dumps({"model_type": "llava_qwen"}))
    with pytest.raises(UsageError, match="convert-llava"):
        HFAdapter(str(original))


def test_cli_end_to_end_on_real_annotations(tiny_dirs, vlrb_dir, tmp_path, capsys):
    from harness.cli import main

    code = main(["run", "--tasks", "vlrewardbench", "--model", "hf", "--model-args",
                 f"pretrained={tiny_dirs['llava_onevision']},batch_size=8,max_new_tokens=4",
                 "--data-dir", str(vlrb_dir), "--limit", "40", "--output", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    run_dir = only_run_dir(tmp_path / "runs")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["model"]["adapter"] == "hf" and results["model"]["model_type"] == "llava_onevision"
    assert results["model"]["revision"].startswith("local:")
    task = results["tasks"]["vlrewardbench"]
    assert task["counts"]["n"] == 40 and task["counts"]["n_error"] == 0
    records = read_jsonl(run_dir / "vlrewardbench.samples.jsonl")
    assert len(records) == 40 and all(r["replies"][0]["usage"]["completion_tokens"] <= 4 for r in records)
    assert out.strip().splitlines()[-1] == str(run_dir)


def test_same_judge_direct_and_behind_the_openai_server(tiny_dirs, vlrb_dir, tmp_path):
    """The whole HTTP path is real: the local server answers with the tiny model itself, so the
    `openai` run and the `hf` run must read exactly the same replies."""
    from reward.hf import openai_responder
    from reward.openai_api import OpenAIAdapter
    from reward.testing.testserver import FakeOpenAIServer

    opts = dict(tasks=["vlrewardbench"], data_dir=vlrb_dir, limit=12, use_cache=False, bootstrap_resamples=10)
    direct = run(RunOptions(model="hf", output=tmp_path / "hf", **opts),
                 adapter=HFAdapter(str(tiny_dirs["qwen2_vl"]), batch_size=4, max_new_tokens=6))
    served_model = HFAdapter(str(tiny_dirs["qwen2_vl"]), batch_size=1)
    with FakeOpenAIServer(responder=openai_responder(served_model), model="tiny-qwen2-vl") as server:
        served = run(RunOptions(model="openai", output=tmp_path / "openai", **opts),
                     adapter=OpenAIAdapter(base_url=server.base_url, concurrency=4, max_new_tokens=6))

    def texts(outcome):
        return {r["id"]: r["replies"][0]["text"] for r in read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")}

    assert texts(direct) == texts(served)
    assert direct.results["tasks"]["vlrewardbench"]["metrics"] == served.results["tasks"]["vlrewardbench"]["metrics"]
