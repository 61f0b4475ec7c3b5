"""MMRB2 (tasks/mmrb2.py): real annotation rows (tests/fixtures_mmrb2, from facebookresearch/MMRB2 @ 7ff0552)
judged end to end in both answer orders, the metrics checked by hand and against a plain re-implementation of
evaluate/compute_scores/compute_accuracy.py, the README's example output reproduced from the real labels, the
hub rows converted as build_from_hf.py does, and the bad inputs that must fail naming the file, row and field."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import UsageError
from harness.records import Judgment, Reply
from harness.runner import RunOptions, run
from reports.spec import load_spec
from reward.scripted import ScriptedAdapter
from tasks.mmrb2 import (HF_DATASET, MMRB2, ORIGINAL_PROMPT, RESPONSE_A, RESPONSE_B, SUBSETS, read_verdict,
                         verdict_kind)
from tests.fixtures_mmrb2.build import labels, real_data_dir, real_pairs, release_pair, write_data_dir

from .conftest import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
# sha256 of each get_*_prompt() string of evaluate/generate_judgements/evaluator_apis/llm_judges/
# evaluation_prompts.py @ 7ff0552 (read with `ast`, written byte for byte, no trailing newline).
PROMPT_SHA256 = {
    "mmrb2_image.txt": "b6a963a818efbdb7743f1f1fe007471bfd8296bbfffad332792277143ffaf752",
    "mmrb2_edit.txt": "2f40aae8c2805d275d6ac46b22537d493d4c476411e6765c806e88044155052d",
    "mmrb2_interleaved.txt": "fc44d747c209d41040810082dc9bcfc0632fecd50d83891f1ceb73e7a5eb4ff6",
    "mmrb2_reasoning.txt": "08ddbf911cb78348c608dba99443006df0e4758110b9b5a9f270923ed4b35739",
}



def other(letter: str) -> str:
    return {"A": "B", "B": "A"}[letter]


def verdict_json(value) -> str:
    return json.dumps({"reasoning": "Compared both responses.", "better_response": value})


def judged(tmp_path: Path, data: Path, answer, protocol: str | None = None, name: str = "runs"):
    outcome = run(RunOptions(tasks=["mmrb2"], model="scripted", data_dir=data, protocol=protocol,
                             output=tmp_path / name, use_cache=False, bootstrap_resamples=20, progress="none"),
                  adapter=ScriptedAdapter(fn=answer, model_id="mmrb2-test"))
    records = {r["id"]: r for r in read_jsonl(outcome.dir / "mmrb2.samples.jsonl")}
    return outcome.results["tasks"]["mmrb2"], records


# ---- the prompt and what the judge is shown --------------------------------------------------------------

def test_prompt_files_are_the_benchmarks_strings_byte_for_byte():
    first_lines = {"t2i": "You are an expert in multimodal quality analysis and generative AI evaluation.",
                   "edit": "You are an expert in image editing quality analysis and AI evaluation.",
                   "interleaved": "You are an expert in multimodal interleaved generation quality analysis",
                   "reasoning": "Please act as an impartial judge and evaluate the quality of the responses"}
    for s in SUBSETS:
        data = (ROOT / "tasks" / "prompts" / s.prompt).read_bytes()
        assert hashlib.sha256(data).hexdigest() == PROMPT_SHA256[s.prompt], s.prompt
        text = data.decode("utf-8")
        assert text.startswith(first_lines[s.name]) and text.endswith("}") and '"better_response": "A" or "B"' in text
    # the reasoning prompt keeps the source's indentation and trailing spaces (a triple-quoted string in a function)
    assert "displayed below. \n    You should choose" in (ROOT / "tasks/prompts/mmrb2_reasoning.txt").read_text()


def test_both_orders_show_the_content_items_in_order_with_the_images_in_place(tmp_path):
    task = MMRB2()
    cfg = task.config(None, 0, None, real_data_dir(tmp_path / "data"))
    samples = {s.id: s for s in task.load(cfg).samples}
    pair = real_pairs()["reasoning"][1]  # vstar_147: response A is text, image, text; response B is text
    sample = samples[pair["id"]]
    forward, reverse = task.requests(sample, cfg)
    assert (forward.key, reverse.key) == (f"{pair['id']}::fwd", f"{pair['id']}::rev")
    assert forward.meta == {"order": "forward", "gold": "B", "task": "reasoning"}
    assert reverse.meta == {"order": "reverse", "gold": "A", "task": "reasoning"}  # chosen B is shown as A
    prompt_image, a_image = sample.media
    assert prompt_image.label == f"input_images/{pair['id']}_prompt_0.jpg"
    assert a_image.label == f"images/{pair['id']}_0.jpg" and a_image.path == cfg.data_dir / a_image.label
    a_text = [v for k, v in pair["response_a"]["response_content"] if k == "text"]
    (b_text,) = [v for k, v in pair["response_b"]["response_content"]]
    judge_prompt = (ROOT / "tasks/prompts/mmrb2_reasoning.txt").read_text()
    stand_in = "[stand-in prompt: vstar 147 relative_position]"
    a_parts = (a_text[0], a_image, a_text[1])
    assert forward.parts == (judge_prompt, ORIGINAL_PROMPT, prompt_image, stand_in, RESPONSE_A, *a_parts,
                             RESPONSE_B, b_text)
    assert reverse.parts == (judge_prompt, ORIGINAL_PROMPT, prompt_image, stand_in, RESPONSE_A, b_text,
                             RESPONSE_B, *a_parts)
    assert forward.generation.max_new_tokens == 2000 and forward.generation.temperature == 0.0
    edit = samples[real_pairs()["edit"][0]["id"]]
    assert task.requests(edit, cfg)[0].text.startswith("You are an expert in image editing quality analysis")


# ---- end to end, the small table by hand ----------------------------------------------------------------

def _reply(kind: str, gold: str) -> str:
    return {"right": verdict_json(gold), "wrong": verdict_json(other(gold)), "tie": verdict_json("tie"),
            "garbage": "I think the first one is nicer.",
            "fenced-right": "```json\n" + verdict_json(gold) + "\n```",
            "prose-right": "Here is my judgement:\n" + verdict_json(gold),
            "null": verdict_json(None), "empty": verdict_json(""), "lower": verdict_json(gold.lower())}[kind]


# (forward, reverse) reply per real pair, in real_pairs.json order; chosen in brackets.
PLAN = {
    ("t2i", 0): ("right", "right"),         # [A] 2 counted, 2 right
    ("t2i", 1): ("wrong", "right"),         # [B] 2, 1
    ("edit", 0): ("tie", "right"),          # [A] 2, 1: a tie is a verdict, and wrong
    ("edit", 1): ("garbage", "right"),      # [B] official 1, 1 (no verdict forward); strict 2, 1
    ("interleaved", 0): ("right", "right"),  # [B] 2, 2
    ("interleaved", 1): ("fenced-right", "wrong"),  # [A] 2, 1
    ("interleaved", 2): ("null", "empty"),  # [B] official 0, 0; strict 2, 0
    ("reasoning", 0): ("wrong", "wrong"),   # [B] 2, 0
    ("reasoning", 1): ("prose-right", "right"),  # [B] 2, 2
    ("reasoning", 2): ("lower", "right"),   # [A] 2, 1: "a" is not "A"
}


def _planned_answer():
    plan = {real_pairs()[task][i]["id"]: kinds for (task, i), kinds in PLAN.items()}

    def answer(prepared) -> str:
        request = prepared.request
        kinds = plan[request.sample_id]
        return _reply(kinds[0] if request.meta["order"] == "forward" else kinds[1], request.meta["gold"])

    return answer


def test_official_protocol_end_to_end_on_real_rows(tmp_path):
    """official: t2i (2 + 1) / (2 + 2) = 75.0; edit (1 + 1) / (2 + 1) = 66.67; interleaved (2 + 1 + 0) /
    (2 + 2 + 0) = 75.0; reasoning (0 + 2 + 1) / (2 + 2 + 2) = 50.0; overall 11 / 17 = 64.71 (pooled orders);
    macro (75 + 66.67 + 75 + 50) / 4 = 66.67. Invalid pairs: edit 1 (forward) and interleaved 2 (both)."""
    result, records = judged(tmp_path, real_data_dir(tmp_path / "data"), _planned_answer())
    metrics = result["metrics"]
    assert result["protocol"] == "official"
    assert metrics["accuracy/t2i"] == pytest.approx(75.0)
    assert metrics["accuracy/edit"] == pytest.approx(200 / 3)
    assert metrics["accuracy/interleaved"] == pytest.approx(75.0)
    assert metrics["accuracy/reasoning"] == pytest.approx(50.0)
    assert metrics["overall_accuracy"] == pytest.approx(1100 / 17)
    assert metrics["macro_accuracy"] == pytest.approx((75 + 200 / 3 + 75 + 50) / 4)
    assert result["counts"] == {"n": 10, "n_invalid": 2, "n_error": 0}
    assert result["dataset"]["source"] == "local" and result["dataset"]["subsets"] == [s.name for s in SUBSETS]

    pairs = real_pairs()
    tie = records[pairs["edit"][0]["id"]]
    assert tie["status"] == "ok" and tie["outcome"]["forward"] == {
        "gold": "A", "verdict": "tie", "kind": "tie", "counted": True, "correct": False, "read": "json"}
    garbage = records[pairs["edit"][1]["id"]]
    assert garbage["status"] == "invalid" and garbage["reason"].startswith("forward: no JSON better_response")
    assert garbage["outcome"]["forward"]["counted"] is False and garbage["outcome"]["reverse"]["correct"] is True
    assert [r["key"].rsplit("::", 1)[1] for r in garbage["replies"]] == ["fwd", "rev"]
    empty = records[pairs["interleaved"][2]["id"]]
    assert empty["status"] == "invalid" and "forward: better_response is null" in empty["reason"]
    assert "reverse: better_response is \"\"" in empty["reason"]
    assert records[pairs["interleaved"][1]["id"]]["outcome"]["forward"]["read"] == "json"  # fences removed
    assert records[pairs["reasoning"][1]["id"]]["outcome"]["forward"]["read"] == "json-object"
    lower = records[pairs["reasoning"][2]["id"]]["outcome"]["forward"]
    assert lower["kind"] == "other" and lower["counted"] and not lower["correct"]
    # consistency: the same response chosen in both orders (t2i 0: A then B), or not (t2i 1: A then A)
    assert records[pairs["t2i"][0]["id"]]["outcome"]["consistent"] is True
    assert records[pairs["t2i"][1]["id"]]["outcome"]["consistent"] is False
    assert records[pairs["edit"][0]["id"]]["outcome"]["consistent"] is None  # a tie forward
    assert result["details"]["edit"] == {"pairs": 2, "orders_counted": 3, "orders_right": 2,
                                         "orders_without_verdict": 1, "orders_tie": 1, "orders_other": 0,
                                         "pairs_consistent": 0}


def test_strict_protocol_counts_an_order_without_a_verdict_as_wrong(tmp_path):
    """strict: t2i 3 / 4 = 75; edit 2 / 4 = 50; interleaved 3 / 6 = 50; reasoning 3 / 6 = 50; overall 11 / 20."""
    result, _ = judged(tmp_path, real_data_dir(tmp_path / "data"), _planned_answer(), protocol="strict")
    metrics = result["metrics"]
    assert [metrics[f"accuracy/{s.name}"] for s in SUBSETS] == pytest.approx([75.0, 50.0, 50.0, 50.0])
    assert metrics["overall_accuracy"] == pytest.approx(55.0)
    assert metrics["macro_accuracy"] == pytest.approx(56.25)
    assert result["counts"]["n_invalid"] == 2


def test_a_failed_call_in_either_order_leaves_the_pair_out(tmp_path):
    """t2i pair 0's response image is missing: a media error for that pair (n_error), so t2i is pair 1's
    1 right of 2 = 50 (the script would keep the order it could judge: a named deviation)."""
    data = real_data_dir(tmp_path / "data")
    first = real_pairs()["t2i"][0]
    (data / "images" / first["response_b"]["response_content"][0][1]).unlink()
    result, records = judged(tmp_path, data, _planned_answer())
    assert records[first["id"]]["status"] == "error" and records[first["id"]]["stage"] == "media"
    assert result["counts"]["n_error"] == 1
    assert result["metrics"]["accuracy/t2i"] == pytest.approx(50.0)


# ---- the scoring script, re-implemented from its description ------------------------------------------

#: A reply kind -> its text, and what evaluate.py stores as the order's judgement (MISSING: the evaluator
#: raised, so the order's list is empty: a failed JSON read, no better_response key, a JSON list).
MISSING = object()
KINDS = {
    "A": (verdict_json("A"), "A"), "B": (verdict_json("B"), "B"), "tie": (verdict_json("tie"), "tie"),
    "lower-b": (verdict_json("b"), "b"), "null": (verdict_json(None), None), "empty": (verdict_json(""), ""),
    "fenced-B": ("```json\n" + verdict_json("B") + "\n```", "B"), "prose-A": ("Verdict:\n" + verdict_json("A"), "A"),
    "no-key": ('{"reasoning": "x"}', MISSING),
    "garbage": ("Both look fine to me.", MISSING), "list": (json.dumps([{"better_response": "A"}]), MISSING),
}


def script_scores(pairs_by_task, predictions, strict=False) -> dict[str, float]:
    """compute_accuracy.py's rule, written again: per order, a present truthy judgement counts and is right
    when it (forward) or its A/B flip (reverse) equals chosen; task accuracy = right / counted; Overall pools
    the counts over the tasks. `strict`: every order counts."""
    out, total_right, total_counted = {}, 0, 0
    for task, pairs in pairs_by_task.items():
        right = counted = 0
        for pair in pairs:
            for order, flip in (("forward", {}), ("reverse", {"A": "B", "B": "A"})):
                judgement = predictions[pair["id"]][order]
                if judgement is not MISSING and judgement:
                    counted += 1
                    right += flip.get(judgement, judgement) == pair["chosen"]
                elif strict:
                    counted += 1
        out[f"accuracy/{task}"] = 100.0 * right / counted
        total_right, total_counted = total_right + right, total_counted + counted
    out["overall_accuracy"] = 100.0 * total_right / total_counted
    return out


def _generated(n: int, seed: int) -> tuple[dict[str, list[dict]], dict[str, dict[str, str]]]:
    """`n` text-only pairs over the four tasks with random labels, and a random reply kind per order."""
    rng = random.Random(seed)
    pairs_by_task: dict[str, list[dict]] = {s.name: [] for s in SUBSETS}
    kinds = {}
    for i in range(n):
        task = SUBSETS[i % 4].name
        pid = f"gen-{task}-{i}"
        pairs_by_task[task].append({
            "id": pid, "prompt_source": "generated", "prompt_content": [["text", f"prompt {i}"]],
            "response_a": {"model_name": "m1", "response_content": [["text", f"answer a {i}"]]},
            "response_b": {"model_name": "m2", "response_content": [["text", f"answer b {i}"]]},
            "chosen": rng.choice("AB")})
        kinds[pid] = {order: rng.choice(list(KINDS)) for order in ("forward", "reverse")}
    return pairs_by_task, kinds


@pytest.mark.parametrize("protocol", ["official", "strict"])
def test_both_order_accuracy_equals_a_plain_reimplementation_of_compute_accuracy(tmp_path, protocol):
    pairs_by_task, kinds = _generated(200, seed=15)
    data = write_data_dir(tmp_path / "data", pairs_by_task, images=False)

    def answer(prepared) -> str:
        return KINDS[kinds[prepared.request.sample_id][prepared.request.meta["order"]]][0]

    result, _ = judged(tmp_path, data, answer, protocol=protocol)
    predictions = {pid: {order: KINDS[kind][1] for order, kind in per.items()} for pid, per in kinds.items()}
    expected = script_scores(pairs_by_task, predictions, strict=protocol == "strict")
    for name, value in expected.items():
        assert result["metrics"][name] == pytest.approx(value, rel=1e-12), name
    assert result["metrics"]["macro_accuracy"] == pytest.approx(
        np.mean([expected[f"accuracy/{s.name}"] for s in SUBSETS]), rel=1e-12)
    without = sum(KINDS[k][1] is MISSING or not KINDS[k][1] for per in kinds.values() for k in per.values())
    assert sum(d["orders_without_verdict"] for d in result["details"].values()) == without


def test_compute_many_equals_compute_row_by_row(tmp_path):
    """Each bootstrap replicate's numbers (`compute_many`, and `compute` on the same draw) are the script's rule
    recomputed on the pairs that replicate drew, duplicates included."""
    pairs_by_task, kinds = _generated(40, seed=3)
    task = MMRB2()
    cfg = task.config("official", 0, None, write_data_dir(tmp_path / "data", pairs_by_task, images=False))
    judgments = []
    for sample in task.load(cfg).samples:
        exchanges = [(r, Reply(r.key, text=KINDS[kinds[sample.id][r.meta["order"]]][0]))
                     for r in task.requests(sample, cfg)]
        parsed = task.parse(sample, exchanges, cfg)
        judgments.append(Judgment(sample.id, parsed.status, parsed.outcome, parsed.reason))
    scoring = task.score(judgments, cfg)
    idx2d = np.random.default_rng(0).integers(0, scoring.n, size=(7, scoring.n))
    many = scoring.compute_many(idx2d)
    pair_of = {p["id"]: (task, p) for task, pairs in pairs_by_task.items() for p in pairs}
    predictions = {pid: {order: KINDS[kind][1] for order, kind in per.items()} for pid, per in kinds.items()}
    for r in range(7):
        drawn: dict[str, list[dict]] = {s.name: [] for s in SUBSETS}
        for i in idx2d[r]:
            task_name, pair = pair_of[scoring.ids[i]]
            drawn[task_name].append(pair)
        expected = script_scores(drawn, predictions)
        for name, value in expected.items():
            assert many[name][r] == pytest.approx(value, rel=1e-12), (r, name)
        one = scoring.compute(idx2d[r])
        assert all((one[k] == many[k][r]) or (np.isnan(one[k]) and np.isnan(many[k][r])) for k in one)


def test_the_readme_example_output_from_the_real_labels(tmp_path):
    """The repository's sample judgements say "A" forward and "B" reverse for all 4,000 pairs; the README prints
    53.20 / 55.50 / 57.50 / 47.50 and Overall 53.42 for them: the shares of chosen == "A" (532, 555, 575, 475
    of 1,000), Overall 2,137 / 4,000 = 53.425. Run end to end on the real ids and labels (text stand-ins)."""
    rows = labels()
    assert len(rows) == 4000 and len({r["id"] for r in rows}) == 4000
    assert {r["chosen"] for r in rows} == {"A", "B"}  # no human ties in the benchmark
    pairs: dict[str, list[dict]] = {}
    for row in rows:
        pairs.setdefault(row["task"], []).append({
            "id": row["id"], "chosen": row["chosen"], "prompt_content": [["text", "stand-in prompt"]],
            "response_a": {"response_content": [["text", "a"]]}, "response_b": {"response_content": [["text", "b"]]}})
    data = write_data_dir(tmp_path / "data", pairs, images=False)
    result, _ = judged(tmp_path, data, lambda p: verdict_json("A" if p.request.meta["order"] == "forward" else "B"))
    metrics = dict(result["metrics"])
    # Both orders, as every MMRB2 pair is judged: the same response (response_a) each time, once shown first.
    reliability = {k: metrics.pop(k) for k in ("swap_consistency", "first_position_rate", "accuracy/both_orders",
                                                "accuracy/either_order")}
    assert reliability["swap_consistency"] == 100.0 and reliability["first_position_rate"] == 50.0
    assert reliability["accuracy/both_orders"] == reliability["accuracy/either_order"] == pytest.approx(53.425)
    printed = {name: f"{metrics[name]:.2f}" for name in metrics}
    assert printed == {"accuracy/t2i": "53.20", "accuracy/edit": "55.50", "accuracy/interleaved": "57.50",
                       "accuracy/reasoning": "47.50", "overall_accuracy": "53.42", "macro_accuracy": "53.42"}
    assert metrics["overall_accuracy"] == pytest.approx(53.425)
    assert result["counts"] == {"n": 4000, "n_invalid": 0, "n_error": 0}
    assert {task: d["pairs_consistent"] for task, d in result["details"].items()} == {s.name: 1000 for s in SUBSETS}


# ---- the verdict -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value, via", [
    ('{"better_response": "B"}', "B", "json"),
    ('```json\n{"reasoning": {"a": "x"}, "score": 2, "better_response": "B"}\n```', "B", "json"),
    ('```\n{"better_response": "A"}\n```', "A", "json"),
    ('Sure. My verdict:\n{"reasoning": "A is sharper {really}", "better_response": "A"}\nDone.', "A", "json-object"),
    ('{"reasoning": "truncated, "better_response": "A", "confidence": 0.', "A", "key"),
    ('{"better_response": null}', None, "json"),
])
def test_verdict_is_read_from_the_json_better_response(text, value, via):
    reading = read_verdict(text)
    assert (reading.found, reading.value, reading.via) == (True, value, via)


@pytest.mark.parametrize("text, why", [
    ("", "empty reply"), ("Response A is better.", "no JSON better_response"),
    ('{"reasoning": "x", "score": 5}', "has no better_response"),
    ('[{"better_response": "A"}]', "is not an object"),
])
def test_a_reply_without_a_verdict_says_why(text, why):
    reading = read_verdict(text)
    assert not reading.found and why in reading.reason and verdict_kind(reading) is None


def test_verdict_kinds_follow_the_scripts_truthiness():
    kinds = [verdict_kind(read_verdict(verdict_json(v))) for v in ("A", "B", "Tie", "C", "", None, 0, 1)]
    assert kinds == ["A", "B", "tie", "other", None, None, None, "other"]


# ---- the hub ------------------------------------------------------------------------------------------------

def _png(color: str):
    return Image.new("RGB", (4, 4), color)


def _hub_row(pid: str, **fields):
    row = {"pair_id": pid, "prompt_text": "a red cube", "prompt_images": [], "response_a_text": "",
           "response_a_images": [_png("red")], "response_b_text": "", "response_b_images": [_png("blue")],
           "chosen": "A", "prompt_source": "src", "response_a_model": "m1", "response_b_model": "m2",
           "human_annotations": "[1, 2, 3]", "prompt_metadata": "{}"}
    return {**row, **fields}


def test_hub_rows_become_release_pairs_at_the_given_revision(stand_in_hub):
    calls, tables = stand_in_hub
    tables.update({(HF_DATASET, s.name): [_hub_row(f"{s.name}-0")] for s in SUBSETS})
    tables[(HF_DATASET, "interleaved")] = [_hub_row(
        "inter-0", chosen="b", prompt_text="Tell a story about <image_3>.", prompt_images=[_png("green")],
        response_a_text="  Once <image_0> upon\n<image_1> a time <image_2>",
        response_a_images=[_png("red"), _png("white")],
        response_b_text="No placeholder here.", response_b_images=[_png("blue")])]
    task = MMRB2()
    with pytest.raises(UsageError, match="no commit of the hub dataset rl-research/multimodal-rewardbench-2 is pinned"):
        task.load(task.config(None, 0, None, None))
    assert calls == []  # refused before anything is fetched
    loaded = task.load(task.config(None, 0, None, None, revision="abc123"))
    assert [c.name for c in calls] == [s.name for s in SUBSETS] and {c.revision for c in calls} == {"abc123"}
    assert loaded.info["revision"] == "abc123" and loaded.info["source"] == "hub" and loaded.info["n_rows"] == 4
    inter = next(s for s in loaded.samples if s.id == "inter-0")
    assert inter.data["chosen"] == "B"  # upper-cased, as build_from_hf.py
    assert inter.data["prompt"] == [["text", "Tell a story about"], ["image", 0], ["text", "."]]
    # pieces stripped, empty ones dropped; a placeholder without an image left is dropped; numbers not read
    assert inter.data["response_a"] == [["text", "Once"], ["image", 1], ["text", "upon"], ["image", 2],
                                        ["text", "a time"]]
    assert inter.data["response_b"] == [["text", "No placeholder here."], ["image", 3]]  # images after the text
    assert inter.media[0].label == f"{HF_DATASET}:interleaved:inter-0:prompt_images[0]"
    assert Image.open(io.BytesIO(inter.media[3].loader())).getpixel((0, 0)) == (0, 0, 255)


# ---- bad input ------------------------------------------------------------------------------------------------

def test_a_directory_without_the_task_files_names_them_and_the_build_step(tmp_path):
    (tmp_path / "t2i_response_only.json").write_text('{"pairs": []}')
    task = MMRB2()
    with pytest.raises(UsageError, match=r"none of t2i.json, edit.json, interleaved.json, reasoning.json there.*"
                                         r"t2i_response_only.json holds no prompts"):
        task.load(task.config(None, 0, None, tmp_path))


@pytest.mark.parametrize("content, message", [
    (b"{not json", "malformed JSON"), (b'[{"id": "x"}]', 'expected a JSON object {"pairs": [...]}')])
def test_a_task_file_that_is_not_the_release_format_fails_before_the_work(tmp_path, content, message):
    (tmp_path / "edit.json").write_bytes(content)
    task = MMRB2()
    with pytest.raises(UsageError, match=re.escape(message)):
        task.load(task.config(None, 0, None, tmp_path))


def test_bad_pairs_are_row_errors_naming_the_file_pair_and_field(tmp_path):
    real = real_pairs()["t2i"]
    good = release_pair("t2i", real[0])
    no_prompt = dict(release_pair("t2i", real[1]))
    del no_prompt["prompt_content"]
    bad_label = {**release_pair("t2i", real[0]), "id": "bad-label", "chosen": "tie"}
    bad_item = {**release_pair("t2i", real[0]), "id": "bad-item", "prompt_content": [["video", "x.mp4"]]}
    write_data_dir(tmp_path, {"t2i": [good, no_prompt, bad_label, bad_item, "oops"]})
    task = MMRB2()
    samples = task.load(task.config(None, 0, None, tmp_path)).samples
    problems = [s.problem for s in samples]
    assert problems[0] is None
    assert problems[1].startswith(f"t2i.json pairs[1] (id {real[1]['id']}): no field 'prompt_content'")
    assert "build the benchmark first" in problems[1]
    assert problems[2] == "t2i.json pairs[2] (id bad-label): field 'chosen' must be 'A' or 'B', got 'tie'"
    assert "field 'prompt_content' item 0 must be" in problems[3]
    assert problems[4] == "t2i.json pairs[4]: not a JSON object"


def test_a_pair_id_repeated_across_task_files_is_refused(tmp_path):
    pair = release_pair("t2i", real_pairs()["t2i"][0])
    write_data_dir(tmp_path, {"t2i": [pair], "edit": [pair]})
    task = MMRB2()
    with pytest.raises(UsageError, match=r"repeats \(edit.json pairs\[0\]\)"):
        task.load(task.config(None, 0, None, tmp_path))


def test_a_partial_release_is_scored_over_the_tasks_present(tmp_path):
    pairs = {"reasoning": [release_pair("reasoning", p) for p in real_pairs()["reasoning"]]}
    result, _ = judged(tmp_path, write_data_dir(tmp_path / "data", pairs), _planned_answer())
    assert result["dataset"]["subsets"] == ["reasoning"]
    assert result["metrics"]["accuracy/reasoning"] == pytest.approx(50.0)
    assert result["metrics"]["overall_accuracy"] == pytest.approx(50.0)
    assert result["metrics"]["accuracy/t2i"] is None and result["metrics"]["macro_accuracy"] is None


# ---- the report spec ----------------------------------------------------------------------------------------

def test_report_spec_keeps_the_readme_numbers_and_names_reported_metrics():
    spec = load_spec(ROOT / "reports" / "tables" / "mmrb2.yaml")
    rows = {r.label: r.paper for r in spec.rows}
    assert rows["UnifiedReward (Qwen2.5-VL-7B)"] == {"t2i": "59.8", "reasoning": "55.1"}
    assert rows["Qwen2.5-VL-72B"]["reasoning"] == "50.0" and rows["Gemini 3 Pro"]["avg"] == "76.3"
    # Every full row's Avg. is the mean of its four columns as printed (a transcription check).
    for label, paper in rows.items():
        if "avg" in paper:
            mean = sum(float(paper[c]) for c in ("t2i", "edit", "interleaved", "reasoning")) / 4
            assert abs(mean - float(paper["avg"])) <= 0.05 + 1e-9, label
    reported = set(MMRB2().score([], MMRB2().config(None, 0, None, None)).point())
    assert {s.metric for c in spec.columns for s in c.sources} <= reported
    assert {s.task for c in spec.columns for s in c.sources} == {"mmrb2"}
    assert spec.rows[[r.label for r in spec.rows].index("UnifiedReward (Qwen2.5-VL-7B)")].matches(
        "CodeGoat24/UnifiedReward-qwen-7b")
    assert not [r for r in spec.rows if r.matches("gpt-4o-mini")]


def test_a_judge_that_always_answers_a_has_swap_consistency_0():
    """The reliability metrics of MMRB2's own two orders, by hand: always "A" picks response_a forward and
    response_b reverse (never the same response: consistency 0), always the one shown first (100), right in exactly
    one order of each pair (both 0, either 100); one pair with no verdict in reverse is inconsistent and is right
    in at most its forward order."""
    from tasks.mmrb2 import _both_orders

    def record(i, chosen, reverse_kind):
        return Judgment(f"p{i}", "ok", outcome={"task": "t2i", "chosen": chosen, "forward": {"kind": "A"},
                                                "reverse": {"kind": reverse_kind}})

    table = [record(0, "A", "A"), record(1, "B", "A"), record(2, "A", "A"), record(3, "B", None)]
    both = _both_orders(table)
    m = both.metrics(np.arange(4))
    # first_position_rate: 7 deciding verdicts (4 forward + 3 reverse), all "A" = shown first.
    assert (m["swap_consistency"], m["first_position_rate"]) == (0.0, 100.0)
    # p0 right forward; p1 right reverse (A = response_b, chosen B); p2 right forward; p3 right in neither.
    assert (m["accuracy/both_orders"], m["accuracy/either_order"]) == (0.0, 75.0)
