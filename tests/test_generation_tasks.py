"""GenAI-Bench, VideoGen-RewardBench and ShareGPTVideo tasks: prompts, parsers and metrics by hand."""

from __future__ import annotations

import csv
import json
from typing import Any, Iterable, Iterator

import pytest

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.records import MediaRef, PreparedRequest, Reply
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.genai_bench import GenAIBenchEdit, GenAIBenchImage
from tasks.templates import load_template

from .conftest import read_jsonl, write_image

VOTES = ["leftvote", "rightvote", "tievote", "bothbad_vote"]


def genai_image_dir(root, votes=VOTES):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "image_generation.jsonl", "w") as f:
        for i, vote in enumerate(votes):
            for side in ("left", "right"):
                write_image(root / f"img/{i}_{side}.png", i * 2 + (side == "right"))
            f.write(json.dumps({"idx": i, "prompt": f"a cat number {i}", "vote_type": vote,
                                "left_image": f"img/{i}_left.png", "right_image": f"img/{i}_right.png"}) + "\n")
    return root


class TableScorer(Adapter):
    """A scalar scorer for tests: the score of a candidate is looked up by its media label."""

    name = "table-scorer"
    kind = "scorer"
    needs_media = False

    def __init__(self, table: dict[str, float]):
        super().__init__()
        self.table = table

    def identity(self) -> dict[str, Any]:
        return {"table": sorted(self.table.items())}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        for p in requests:
            label = p.request.meta["media_label"]
            yield Reply(p.key, score=self.table[label]) if label in self.table else Reply(p.key, error="no score")


def judged(tmp_path, task, data, adapter, protocol=None, **kw):
    outcome = run(RunOptions(tasks=[task], model=adapter.name, protocol=protocol, data_dir=data,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=20, **kw), adapter=adapter)
    return outcome.results["tasks"][task], {r["id"]: r for r in read_jsonl(outcome.dir / f"{task}.samples.jsonl")}


def test_unifiedreward_image_gold_phrases_tau_and_diff(tmp_path):
    data = genai_image_dir(tmp_path / "d")
    replies = {"0": "Image 1 is better than Image 2.",  # left vote: correct
               "1": "Image 1 is better than Image 2.",  # right vote: wrong
               "2": "Both images are equally good.",    # tie: correct
               "3": "I cannot tell."}                     # both bad: no phrase, invalid and wrong
    result, records = judged(tmp_path, "genai_bench_image", data,
                             ScriptedAdapter(fn=lambda p: replies[p.request.sample_id]), "unifiedreward")
    assert result["metrics"] == {"tau": 50.0, "diff": 50.0}
    assert result["counts"] == {"n": 4, "n_invalid": 1, "n_error": 0}
    assert records["3"]["status"] == "invalid" and not records["0"]["outcome"]["swapped"]


def test_unifiedreward_image_prompt_is_the_script_text_with_512px_images(tmp_path):
    data = genai_image_dir(tmp_path / "d", ["leftvote"])
    task = GenAIBenchImage()
    cfg = task.config("unifiedreward", 0, "test_v1", data)
    request = task.requests(task.load(cfg).samples[0], cfg)[0]
    first, gap, second, text = request.parts
    # A slot is "<image>\n" (the newline is rendered by the judge's chat template, not sent as text).
    assert isinstance(first, MediaRef) and isinstance(second, MediaRef) and gap == " "
    assert first.resize == second.resize == (512, 512) and first.label == "img/0_left.png"
    template = load_template("genai_image_unifiedreward.txt")
    assert "<image>\n" + gap + "<image>\n" + text == template.format(prompt="a cat number 0")


def test_strict_swaps_about_half_and_reads_three_way_verdicts(tmp_path):
    votes = [VOTES[i % 4] for i in range(40)]
    data = genai_image_dir(tmp_path / "d", votes)

    def right_answer(p):
        h = {"leftvote": 1, "rightvote": -1}.get(votes[int(p.request.sample_id)], 0)
        h = -h if p.request.meta["swapped"] else h
        replies = {1: "**Image 1** is better than Image 2.", -1: "Image 2 is better.",
                   0: "Both images are equally good."}
        return replies[h]

    result, records = judged(tmp_path, "genai_bench_image", data, ScriptedAdapter(fn=right_answer))
    assert result["protocol"] == "strict" and result["metrics"] == {"tau": 100.0, "diff": 100.0}
    swapped = sum(r["outcome"]["swapped"] for r in records.values())
    assert 10 <= swapped <= 30
    both, _ = judged(tmp_path / "b", "genai_bench_image", data,
                     ScriptedAdapter(reply="Image 1 is better, but both images are equally good."))
    assert both["counts"]["n_invalid"] == 40 and both["metrics"]["tau"] == 0.0


def test_genai_arena_vote_mapping(tmp_path):
    data = genai_image_dir(tmp_path / "d")
    replies = {"0": "Verdict: [[A>>B]]", "1": "[[A>B]]", "2": "Tie: [[A=B]]", "3": "[[A=B=Good]]"}
    result, records = judged(tmp_path, "genai_bench_image", data,
                             ScriptedAdapter(fn=lambda p: replies[p.request.sample_id]), "genai-arena")
    # left [[A>>B]] right; right [[A>B]] wrong; tie [[A=B]] right; both-bad [[A=B=Good]] wrong.
    assert result["metrics"] == {"accuracy": 50.0}
    assert [records[k]["outcome"]["vote"] for k in "0123"] == ["[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[A=B=Good]]"]


def test_genai_arena_edit_prompt_places_source_then_candidates(tmp_path):
    root = tmp_path / "edit"
    root.mkdir()
    for name in ("src", "a", "b"):
        write_image(root / f"{name}.png", len(name))
    (root / "image_edition.jsonl").write_text(json.dumps({
        "idx": 7, "source_prompt": "a taxi", "target_prompt": "a taxi and sheep", "instruct_prompt": "add sheep",
        "vote_type": "leftvote", "source_image": "src.png", "left_output_image": "a.png",
        "right_output_image": "b.png"}) + "\n")
    task = GenAIBenchEdit()
    cfg = task.config(None, 0, "test_v1", root)
    assert cfg.protocol == "genai-arena"
    request = task.requests(task.load(cfg).samples[0], cfg)[0]
    assert [p.label for p in request.media] == ["src.png", "a.png", "b.png"]
    assert "Editing instruction: add sheep\nSource Image: " in request.text
    with pytest.raises(UsageError, match="no protocol 'unifiedreward'"):
        task.config("unifiedreward", 0, "test_v1", root)


def test_scalar_scorer_margins_on_genai(tmp_path):
    data = genai_image_dir(tmp_path / "d")
    # margins: left vote +0.5 (right), right vote +0.2 (wrong), tie 0.0, both bad -0.1
    table = {"img/0_left.png": 1.0, "img/0_right.png": 0.5, "img/1_left.png": 0.7, "img/1_right.png": 0.5,
             "img/2_left.png": 0.3, "img/2_right.png": 0.3, "img/3_left.png": 0.2, "img/3_right.png": 0.3}
    result, records = judged(tmp_path, "genai_bench_image", data, TableScorer(table))
    assert result["protocol"] == "scores"
    assert records["0"]["outcome"]["margin"] == pytest.approx(0.5)
    # without ties: C/(C+D) over the two decided pairs = 1/2. With ties (VideoAlign): moves in |m| order
    # 0.0 (tie: Thm 1), 0.1 (tie), 0.2 (wrong pair), 0.5 -> best (C + Thm)/N = (1 + 2)/4 after 3 moves.
    assert result["metrics"]["accuracy_without_ties"] == 50.0
    assert result["metrics"]["accuracy_with_ties"] == 75.0
    with pytest.raises(UsageError, match="runs protocol 'scores', not 'strict'"):
        judged(tmp_path / "x", "genai_bench_image", data, TableScorer(table), "strict")


def test_scorer_nan_is_counted_and_named(tmp_path):
    data = genai_image_dir(tmp_path / "d", ["leftvote", "rightvote"])
    table = {"img/0_left.png": float("nan"), "img/0_right.png": 0.5, "img/1_left.png": 0.1, "img/1_right.png": 0.5}
    result, records = judged(tmp_path, "genai_bench_image", data, TableScorer(table))
    assert records["0"]["status"] == "invalid" and "no finite score for candidate A" in records["0"]["reason"]
    assert result["counts"]["n_invalid"] == 1 and result["metrics"]["accuracy_without_ties"] == 100.0


def test_unknown_vote_label_is_a_counted_row_error(tmp_path):
    data = genai_image_dir(tmp_path / "d", ["leftvote", "maybe"])
    result, records = judged(tmp_path, "genai_bench_image", data, ScriptedAdapter(reply="Image 1 is better."))
    assert records["1"]["status"] == "error" and "unknown vote label 'maybe'" in records["1"]["reason"]
    assert result["counts"]["n_error"] == 1


def videogen_dir(root, labels):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "videogen-rewardbench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["path_A", "path_B", "A_model", "B_model", "prompt", "VQ", "MQ", "TA", "Overall"])
        writer.writeheader()
        for i, label in enumerate(labels):
            writer.writerow({"path_A": f"videos/{i}_a.mp4", "path_B": f"videos/{i}_b.mp4", "A_model": "m1",
                             "B_model": "m2", "prompt": f"a dog {i}", "VQ": label, "MQ": label, "TA": label,
                             "Overall": label})
    return root


def test_videogen_scores_protocol_and_bad_labels(tmp_path):
    data = videogen_dir(tmp_path / "v", ["A", "B", "same", "C"])
    table = {"videos/0_a.mp4": 2.0, "videos/0_b.mp4": 1.0, "videos/1_a.mp4": 1.0, "videos/1_b.mp4": 3.0,
             "videos/2_a.mp4": 1.0, "videos/2_b.mp4": 1.0}
    result, records = judged(tmp_path, "videogen_rewardbench", data, TableScorer(table))
    assert result["metrics"]["accuracy_without_ties"] == 100.0
    assert result["metrics"]["accuracy_with_ties"] == 100.0  # the tie pair has m = 0 and moves first
    assert records["3"]["status"] == "error" and "unknown Overall label 'C'" in records["3"]["reason"]


def test_videogen_unifiedreward_reads_the_phrase_in_the_reply(tmp_path):
    data = videogen_dir(tmp_path / "v", ["A", "B", "same", "A"])
    replies = {"0": "Video 1 is better than Video 2.", "1": "Video 1 is better than Video 2.",
               "2": "Both videos are equally good.", "3": ""}
    result, records = judged(tmp_path, "videogen_rewardbench", data,
                             ScriptedAdapter(fn=lambda p: replies[p.request.sample_id], needs_media=False),
                             "unifiedreward")
    # The script's reversed test would read the empty reply as A (right here); the fixed rule reads a tie.
    assert records["3"]["outcome"]["verdict"] == 0 and records["3"]["status"] == "invalid"
    assert result["metrics"] == {"tau": 50.0, "diff": pytest.approx(100 / 3)}


def test_sharegptvideo_frames_pairs(tmp_path):
    root = tmp_path / "sgv"
    rows = []
    for i in range(4):
        frames = [f"frames/{i}_{k}.jpg" for k in range(3)]
        for k, f in enumerate(frames):
            write_image(root / f, i * 3 + k)
        rows.append({"id": f"v{i}", "frames": frames, "prompt": "What happens?", "responses": ["good", "bad"],
                     "gold": 0})
    rows.append({"id": "broken", "frames": [], "prompt": "?", "responses": ["a", "b"], "gold": 0})
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def answer(p):
        return f"Response {p.request.meta['gold']} is better."

    result, records = judged(tmp_path, "sharegptvideo_pairs", root, ScriptedAdapter(fn=answer))
    assert result["metrics"] == {"accuracy": 100.0} and result["counts"]["n_error"] == 1
    assert "needs 'video' (a path) or 'frames'" in records["broken"]["reason"]
    with pytest.raises(UsageError, match="never published"):
        judged(tmp_path / "x", "sharegptvideo_pairs", None, ScriptedAdapter(fn=answer))
