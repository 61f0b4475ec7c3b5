"""VideoRewardBench (`videorewardbench`) end to end: fixture triplets with tiny real videos, judged by a scripted
judge that decodes them, through harness.runner.run; the metrics checked by hand; the frames each protocol asks
for; bad input; and the published table's overall numbers against the dimension sizes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from harness.task import Parsed
from reports.spec import load_spec
from reward.scripted import ScriptedAdapter
from tasks.pairwise import seeded_swap
from tasks.videorewardbench import DIMENSION_SIZES, DIMENSIONS, VideoRewardBench, dimension_key

from .conftest import read_jsonl
from .test_media import write_video

FIXTURE = Path(__file__).parent / "fixtures_videorewardbench" / "videorewardbench.jsonl"
TABLE = Path(__file__).resolve().parents[1] / "reports" / "tables" / "videorewardbench.yaml"



@pytest.fixture
def data_dir(tmp_path) -> Path:
    """The fixture rows with a 12-frame MP4 per video path."""
    root = tmp_path / "vrb"
    root.mkdir()
    shutil.copy(FIXTURE, root / FIXTURE.name)
    for line in FIXTURE.read_text().splitlines():
        path = root / json.loads(line)["video"]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, 12)
    return root


def judged(tmp_path: Path, data: Path | None, answer, protocol: str | None = None, **kw) -> tuple[dict, dict]:
    outcome = run(RunOptions(tasks=["videorewardbench"], model="scripted", data_dir=data, protocol=protocol,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=20, **kw),
                  adapter=ScriptedAdapter(fn=answer))
    records = read_jsonl(outcome.dir / "videorewardbench.samples.jsonl")
    return outcome.results["tasks"]["videorewardbench"], {r["id"]: r for r in records}


def scripted(prepared) -> str:
    """Right on lp-0, sp-0, kn-0, sa-0; wrong on lp-1; both answers named on sp-1 and neither on re-0 (invalid)."""
    gold, sid = prepared.request.meta["gold"], prepared.request.sample_id
    frames = [p for p in prepared.parts() if not isinstance(p, str)]
    assert len(frames) == 64  # the 12-frame video, sampled at 64 evenly spaced indices (repeats kept)
    return {"lp-1": f"Response {3 - gold} is better.",
            "sp-1": "Response 1 is better. On reflection, Response 2 is better.",
            "re-0": "Both answers are plausible.",
            "sa-0": f"The first refuses... Overall Judgment: Answer {gold} is better."}.get(
        sid, f"Looking at the frames, Response {gold} is better.")


def test_strict_end_to_end_with_hand_checked_accuracies(tmp_path, data_dir):
    result, records = judged(tmp_path, data_dir, scripted)
    # long: lp-0 right, lp-1 wrong -> 1/2; short: sp-0 right, sp-1 invalid (wrong) -> 1/2; knowledge kn-0 1/1;
    # reasoning re-0 invalid -> 0/1; safety sa-0 1/1; perception (long + short) 2/4; overall 4/7 (bad-0 is a
    # load error, outside every denominator).
    assert result["metrics"] == pytest.approx({
        "accuracy/long_perception": 50.0, "accuracy/short_perception": 50.0, "accuracy/knowledge": 100.0,
        "accuracy/reasoning": 0.0, "accuracy/safety": 100.0, "accuracy/perception": 50.0,
        "overall_accuracy": 100.0 * 4 / 7})
    assert result["counts"] == {"n": 8, "n_invalid": 2, "n_error": 1}
    assert records["sp-1"]["status"] == "invalid" and "both" in records["sp-1"]["reason"]
    assert records["re-0"]["status"] == "invalid" and records["re-0"]["outcome"]["correct"] is False
    assert "field 'dimension' must be one of long_perception" in records["bad-0"]["reason"]
    assert "videorewardbench.jsonl line 8" in records["bad-0"]["reason"]
    for sid in ("lp-0", "sp-0", "kn-0", "sa-0"):
        assert records[sid]["outcome"]["swapped"] == seeded_swap(0, sid)
    assert records["lp-1"]["outcome"]["dimension"] == "long_perception"  # "Long-form Perception" in the file
    assert result["dataset"]["n_rows"] == 8 and "overall_accuracy" in result["ci95"]


def test_prompt_frames_and_order_per_protocol(data_dir):
    task = VideoRewardBench()
    for protocol, frames, resize in (("strict", 64, None), ("unifiedreward", 8, (512, 512))):
        cfg = task.config(protocol, 0, None, data_dir)
        samples = {s.id: s for s in task.load(cfg).samples}
        for sid in ("lp-0", "kn-0", "sa-0", "re-0"):
            sample = samples[sid]
            (request,) = task.requests(sample, cfg)
            video, text = request.parts
            assert (video.kind, video.frames, video.sampling, video.resize) == ("video", frames, "linspace", resize)
            assert video.path == data_dir / f"videos/{sid}.mp4"
            assert text.startswith("You are provided with a video and a question for this video.")
            first = text.split("Response 1: [", 1)[1].split("]\nResponse 2: [", 1)[0]
            shown_first = sample.data["rejected"] if seeded_swap(0, sid) else sample.data["chosen"]
            assert first == shown_first and f"Question: [{sample.data['prompt']}]" in text
            assert request.meta["gold"] == (2 if seeded_swap(0, sid) else 1)
    assert {seeded_swap(0, s) for s in ("lp-0", "lp-1", "sp-0", "sp-1", "kn-0", "re-0", "sa-0")} == {True, False}


def test_verdicts_read_by_the_robust_parser():
    task = VideoRewardBench()
    cfg = task.config(None, 0, None, None)
    from harness.records import Reply, Request, Sample

    sample = Sample("x", 0, {"dimension": "safety"})
    request = Request("x", "x", ("t",), meta={"gold": 2, "swapped": True})

    def parsed(text: str) -> Parsed:
        return task.parse(sample, [(request, Reply("x", text=text))], cfg)

    assert parsed("**Response 2** is clearly better.").outcome["correct"] is True
    assert parsed("Overall Judgment: Answer 1 is better.").outcome["correct"] is False
    for bad in ("", "Response 1 is better, and Response 2 is better.", "They are equally good."):
        got = parsed(bad)
        assert got.status == "invalid" and got.reason and got.outcome["correct"] is False


def test_dimension_labels_and_bad_rows(tmp_path):
    assert [dimension_key(x) for x in ("long_perception", "Long-form Perception", "short form perception",
                                       "SAFETY", "Knowledge")] == \
        ["long_perception", "long_perception", "short_perception", "safety", "knowledge"]
    assert dimension_key("perception") is None and dimension_key(3) is None
    root = tmp_path / "bad"
    root.mkdir()
    rows = [{"id": "a", "video": "v.mp4", "prompt": "q", "chosen": 1, "rejected": "r", "dimension": "safety"},
            {"id": "b", "prompt": "q", "chosen": "c", "rejected": "r", "dimension": "safety"}]
    (root / "videorewardbench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = VideoRewardBench()
    problems = [s.problem for s in task.load(task.config(None, 0, None, root)).samples]
    assert "line 1 (id a): field 'chosen' must be a string" in problems[0]
    assert "line 2 (id b): field 'video' must be a path" in problems[1]


def test_the_hub_needs_a_named_commit_and_the_data_dir_its_file(tmp_path):
    task = VideoRewardBench()
    with pytest.raises(UsageError, match="no commit of Dragonriser/VideoRewardBench is pinned here"):
        task.load(task.config(None, 0, None, None))
    with pytest.raises(UsageError, match="no videorewardbench.jsonl there"):
        task.load(task.config(None, 0, None, tmp_path))


def test_replay_needs_no_video_file(tmp_path, data_dir):
    """A replayed judge never opens media: the rows judge without their videos."""
    for path in (data_dir / "videos").iterdir():
        path.unlink()
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps({"id": s, "response": "Response 1 is better."}) + "\n"
                               for s in ("lp-0", "lp-1", "sp-0", "sp-1", "kn-0", "re-0", "sa-0")))
    outcome = run(RunOptions(tasks=["videorewardbench"], model="replay", model_args={"path": str(replies)},
                             data_dir=data_dir, output=tmp_path / "runs", use_cache=False, bootstrap_resamples=0))
    result = outcome.results["tasks"]["videorewardbench"]
    right = sum(not seeded_swap(0, s) for s in ("lp-0", "lp-1", "sp-0", "sp-1", "kn-0", "re-0", "sa-0"))
    assert result["metrics"]["overall_accuracy"] == pytest.approx(100.0 * right / 7)
    assert result["counts"]["n_error"] == 1


def test_published_overall_is_the_size_weighted_mean_of_the_dimensions():
    """The paper's overall column is micro: sum(size * accuracy) / 1,563, to its printed precision."""
    assert sum(DIMENSION_SIZES.values()) == 1563
    spec = load_spec(TABLE)
    assert {c.id for c in spec.columns} == {*DIMENSIONS, "overall"}
    assert len(spec.rows) >= 4
    for row in spec.rows:
        weighted = sum(DIMENSION_SIZES[d] * float(row.paper[d]) for d in DIMENSIONS) / 1563
        assert abs(weighted - float(row.paper["overall"])) <= 0.06, (row.label, weighted)
    assert any(row.matches("CodeGoat24/UnifiedReward-Think-qwen-7b") for row in spec.rows)
