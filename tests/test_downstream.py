"""Downstream benchmarks of the DPO'd models (paper Tables 6-9): VBench totals, video QA and MMHal judged in
two stages, generated images scored, and `alignment.generate` writing benchmark file names."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

import av
import numpy as np
import pytest
from PIL import Image

from alignment.generate import PromptItem, generate, metadata_paths, read_prompts
from alignment.policies import Candidate, MediaStore, Policy, PolicyInput
from alignment.vlm_policies import ScriptedPolicy
from harness.errors import UsageError
from harness.records import Judgment
from harness.registry import MODELS
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.mmhal import MMHalBench, judge_prompt, parse_rating
from tasks.vbench import VBENCH_DIMENSIONS, VBENCH_QUALITY, VBENCH_SEMANTIC, VBenchResultsAdapter, vbench_scores
from tasks.video_qa import JudgeVerdict, Rejection, parse_judge_reply

from .conftest import SHARED, read_jsonl


def run_task(tmp_path: Path, task: str, adapter, data: Path | None = None, **kw) -> tuple[dict, dict[str, dict]]:
    outcome = run(RunOptions(tasks=[task], model=adapter.name, data_dir=data, output=tmp_path / "runs",
                             use_cache=False, bootstrap_resamples=20, **kw), adapter=adapter)
    records = read_jsonl(outcome.dir / f"{task}.samples.jsonl")
    return outcome.results["tasks"][task], {r["id"]: r for r in records}


# ---- VBench ------------------------------------------------------------------------------------------
def scores_at(quality: float, semantic: float) -> dict[str, float]:
    """Raw scores whose every normalised dimension is `quality` (first 7) or `semantic` (last 9) times its
    weight, so Quality and Semantic come out exactly as given."""
    out = {}
    for dim, (low, high, _) in VBENCH_DIMENSIONS.items():
        x = quality if dim in VBENCH_QUALITY else semantic
        out[dim] = low + x * (high - low)
    return out


@pytest.mark.parametrize("quality, semantic, total", [(82.71, 73.93, "80.95"), (83.80, 73.81, "81.80"),
                                                      (84.11, 74.06, "82.10")])
def test_vbench_totals_of_table_8(quality, semantic, total):
    got = vbench_scores(scores_at(quality / 100, semantic / 100))
    assert got["quality"] == pytest.approx(quality) and got["semantic"] == pytest.approx(semantic)
    assert f"{got['total']:.2f}" == total


def test_vbench_normalisation_by_hand():
    floor = {dim: low for dim, (low, _, _) in VBENCH_DIMENSIONS.items()}  # every dimension normalises to 0
    # motion smoothness: (0.98 - 0.706) / (0.9975 - 0.706) = 0.274 / 0.2915, weight 1, over the 6.5 weights
    got = vbench_scores({**floor, "motion_smoothness": 0.98})
    assert got["quality"] == pytest.approx(100 * (0.274 / 0.2915) / 6.5)
    assert got["semantic"] == pytest.approx(0.0) and got["total"] == pytest.approx(4 * got["quality"] / 5)
    # dynamic degree 0.6 has weight 0.5: n = 0.3; spaced names as in VBench's scripts are accepted
    got = vbench_scores({**{k.replace("_", " "): v for k, v in floor.items()}, "dynamic degree": 0.6})
    assert got["quality"] == pytest.approx(100 * 0.3 / 6.5)
    # no clipping: a score below the minimum goes negative; an absent dimension counts as raw 0
    assert vbench_scores({**floor, "temporal_flickering": 0.5})["quality"] < 0
    absent = {k: v for k, v in floor.items() if k != "temporal_flickering"}
    assert vbench_scores(absent)["quality"] == pytest.approx(100 * (0 - 0.6293) / (1 - 0.6293) / 6.5)
    with pytest.raises(ValueError, match="unknown VBench dimension"):
        vbench_scores({"subject_consistncy": 0.9})
    assert len(VBENCH_QUALITY) == 7 and len(VBENCH_SEMANTIC) == 9


def test_vbench_task_reads_results_and_names_the_missing_dimension(tmp_path):
    raw = scores_at(0.8271, 0.7393)
    results = tmp_path / "evaluation_results"
    results.mkdir()
    present = {d: [s, [{"video_path": "x-0.mp4", "video_results": s}]] for d, s in raw.items() if d != "scene"}
    quality = {d: v for d, v in present.items() if d in VBENCH_QUALITY}
    semantic = {d: v for d, v in present.items() if d not in VBENCH_QUALITY}
    (results / "quality_eval_results.json").write_text(json.dumps(quality, indent=4))
    (results / "semantic_eval_results.json").write_text(json.dumps(semantic, indent=4))
    (results / "quality_full_info.json").write_text(json.dumps([{"prompt_en": "a cat", "dimension": ["scene"]}]))
    adapter = VBenchResultsAdapter(str(results), name="t2v-turbo")
    result, records = run_task(tmp_path, "vbench", adapter)
    expected = vbench_scores({d: v for d, v in raw.items() if d != "scene"})
    assert result["metrics"]["total"] == pytest.approx(expected["total"])
    assert result["metrics"]["quality"] == pytest.approx(82.71)
    assert result["metrics"]["semantic"] == pytest.approx((73.93 * 9 - 73.93) / 9)  # scene counts as 0
    assert result["metrics"]["motion_smoothness"] == pytest.approx(raw["motion_smoothness"])
    assert result["metrics"]["scene"] is None
    assert result["details"]["missing_dimensions"] == ["scene"] and result["counts"]["n_error"] == 1
    assert "no VBench result for dimension scene" in records["scene"]["reason"]
    assert result["ci95"] == {}  # no bootstrap over dimensions
    assert json.loads((tmp_path / "runs").glob("*/results.json").__next__().read_text())["model"]["model"] == \
        "t2v-turbo"
    with pytest.raises(UsageError, match="vbench reads VBench's own results"):
        run(RunOptions(tasks=["vbench"], model="scripted", output=tmp_path / "r2"), adapter=ScriptedAdapter())


def test_vbench_results_that_disagree_are_a_usage_error(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"color": [0.8, []]}))
    (tmp_path / "b.json").write_text(json.dumps({"color": [0.7, []]}))
    with pytest.raises(UsageError, match="different results"):
        VBenchResultsAdapter(str(tmp_path))


# ---- video QA: the judge's replies ----------------------------------------------------------------------
def test_judge_reply_parser_accepts_and_rejects(tmp_path, monkeypatch):
    assert parse_judge_reply("{'pred': 'yes', 'score': 4}") == JudgeVerdict("yes", 4, "yes")
    # an integer in a string: the reference's int() accepts it, so do we (and say so in the outcome)
    assert parse_judge_reply("{'pred': 'no', 'score': '2'}") == JudgeVerdict("no", 2, "no", score_was_string=True)
    assert parse_judge_reply(" {'pred': 'Yes.', 'score': 4.8} ") == JudgeVerdict("yes", 4, "Yes.")  # int(4.8)
    assert parse_judge_reply("{'pred': 'maybe', 'score': 3}").verdict == "neither"
    # Python's int() as the reference calls it: underscores and surrounding spaces are part of an integer string
    assert parse_judge_reply("{'pred': 'yes', 'score': '0_3'}").score == 3
    assert parse_judge_reply("{'pred': 'yes', 'score': ' 4 '}").score == 4
    # the reply as it came, as the reference's literal_eval sees it: a leading newline, or spaces and tabs, parse;
    # a newline then a tab (an indented line) and other leading whitespace (a no-break space) do not
    assert parse_judge_reply("\n{'pred': 'yes', 'score': 1}").score == 1
    assert parse_judge_reply(" \t{'pred': 'yes', 'score': 1}").score == 1
    assert parse_judge_reply("\n\t{'pred': 'yes', 'score': 1}").kind == "not_a_literal"
    assert parse_judge_reply("\u00a0{'pred': 'yes', 'score': 1}").kind == "not_a_literal"
    rejected = {
        "not a dict": "not_a_literal",
        "['yes', 4]": "not_a_dict",
        "{'pred': 'yes'}": "missing_keys",
        "{'pred': 'yes', 'score': 9}": "score_out_of_range",
        "{'pred': 'yes', 'score': -1}": "score_out_of_range",
        "{'pred': 'yes', 'score': '4.8'}": "bad_score",
        "{'pred': 'yes', 'score': True}": "bad_score",
        "{'pred': 1, 'score': 3}": "bad_pred",
        "": "empty",
    }
    for text, kind in rejected.items():
        parsed = parse_judge_reply(text)
        assert isinstance(parsed, Rejection) and parsed.kind == kind, text
    marker = tmp_path / "executed"
    monkeypatch.chdir(tmp_path)
    for attack in ("__import__('os').system('echo hi')", f"__import__('os').system('touch {marker}')",
                   "{'pred': __import__('os').getcwd(), 'score': 1}"):
        assert isinstance(parse_judge_reply(attack), Rejection)
    assert not marker.exists()


def judged_rows(replies: Sequence[str]):
    """The video-QA task, its config, and one record per judge reply as `parse` would make it."""
    from tasks.video_qa import MSVDQA

    task = MSVDQA()
    cfg = task.config(None, 0, None, None)
    out = []
    for i, text in enumerate(replies):
        parsed = parse_judge_reply(text)
        if isinstance(parsed, Rejection):
            out.append(Judgment(str(i), "invalid", {"invalid_kind": parsed.kind}, reason=parsed.reason))
        else:
            out.append(Judgment(str(i), "ok", {"verdict": parsed.verdict, "score": parsed.score}))
    return task, cfg, out


def test_video_qa_metrics_drop_and_count_invalid_replies():
    replies = ["{'pred': 'yes', 'score': 4}", "{'pred': 'no', 'score': '2'}", "not a dict", "{'pred': 'yes'}",
               "{'pred': 'yes', 'score': 9}", "__import__('os').system('echo hi')", "{'pred': 'yes', 'score': 5}",
               "{'pred': 'unsure', 'score': 3}"]
    task, cfg, rows = judged_rows(replies)
    scoring = task.score(rows, cfg)
    # usable: yes 4, no 2, yes 5, neither 3 -> Acc = 2/3 (neither leaves Acc), Score = (4+2+5+3)/4
    assert scoring.point() == {"accuracy": pytest.approx(200 / 3), "score": 3.5}
    assert scoring.n == 4 and sum(j.status == "invalid" for j in rows) == 4
    assert scoring.details["invalid_by_kind"] == {"missing_keys": 1, "not_a_literal": 2, "score_out_of_range": 1}
    assert (scoring.details["n_yes"], scoring.details["n_no"], scoring.details["n_neither"]) == (2, 1, 1)


# ---- video QA: two stages end to end ---------------------------------------------------------------------
def write_clip(path: Path, frames: int, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            arr = np.full((24, 32, 3), (shade, 8 * i, 60), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")))
        out.mux(stream.encode())


@pytest.fixture()
def msvd_dir(tmp_path) -> Path:
    """Three MSVD-style questions with synthetic videos (found through youtube_mapping.txt, with and
    without the clip's leading dash, and by `vid<id>`) and a fourth whose video is missing."""
    root = tmp_path / "msvd"
    write_clip(root / "videos" / "abc_1_5.avi", 12, 200)
    write_clip(root / "videos" / "def_2_6.avi", 40, 120)
    write_clip(root / "videos" / "vid12.mp4", 5, 40)
    (root / "youtube_mapping.txt").write_text("-abc_1_5 vid10\ndef_2_6 vid11\n")
    rows = [{"answer": "cat", "id": 1, "question": "what is playing?", "video_id": 10},
            {"answer": "dog", "id": 2, "question": "what is running?", "video_id": 11},
            {"answer": "bird", "id": 3, "question": "what is flying?", "video_id": 12},
            {"answer": "fish", "id": 4, "question": "what is swimming?", "video_id": 13}]
    (root / "test_qa.json").write_text(json.dumps(rows))
    return root


POLICY_ANSWERS = {"1": "a cat", "2": "a wolf", "3": "a plane", "4": "a fish"}
JUDGE_BY_PREDICTION = {"a cat": "{'pred': 'yes', 'score': 5}", "a wolf": "{'pred': 'no', 'score': '2'}",
                       "a plane": "I think it is wrong."}


class PredictionJudge(ScriptedAdapter):
    """A scripted judge whose reply is a function of the prediction in the Fig. 6 prompt."""

    name = "prediction-judge"

    def __init__(self, model_id: str = "prediction-judge"):
        super().__init__(model_id=model_id, needs_media=False, fn=self.reply_for)
        self.prompts: list[str] = []

    def reply_for(self, prepared) -> str:
        self.prompts.append(prepared.request.text)
        prediction = re.search(r"Predicted Answer: (.*)\n", prepared.request.text).group(1)
        return JUDGE_BY_PREDICTION[prediction]


@pytest.fixture()
def registered(monkeypatch):
    """Register a test-only name for one test and remove it afterwards, so the registries other tests list
    (e.g. the valid model names in a usage error) stay as installed."""

    def register(registry, name: str, obj) -> None:
        monkeypatch.setitem(registry._objects, name, obj)
        monkeypatch.setitem(registry._sources, name, "tests/test_downstream.py")

    return register


def test_msvd_two_stages_end_to_end(tmp_path, msvd_dir, registered):
    registered(MODELS, "prediction-judge", PredictionJudge)
    policy = ScriptedAdapter(model_id="tiny-video-policy", fn=lambda p: POLICY_ANSWERS[p.request.sample_id])
    result, records = run_task(tmp_path, "msvd_qa", policy, msvd_dir, judge="prediction-judge")
    # 1: yes 5; 2: no 2 (string score accepted); 3: judge reply unparseable -> dropped; 4: no video -> error
    assert result["metrics"] == {"accuracy": 50.0, "score": 3.5}
    assert result["counts"] == {"n": 4, "n_invalid": 1, "n_error": 1}
    assert result["judge"]["model"] == "prediction-judge"
    assert result["details"]["invalid_by_kind"] == {"not_a_literal": 1}
    assert records["4"]["stage"] == "media" and "videos/vid13.avi" in records["4"]["reason"]
    assert [r["text"] for r in records["2"]["replies"]] == ["a wolf", "{'pred': 'no', 'score': '2'}"]
    assert records["2"]["outcome"]["score_was_string"] is True
    assert records["3"]["status"] == "invalid" and records["3"]["outcome"]["prediction"] == "a plane"
    assert result["dataset"]["n_questions_without_video"] == 1


def test_msvd_default_judge_is_pinned_and_scripted_judge_by_name(tmp_path, msvd_dir):
    from tasks.video_qa import MSVDQA

    assert MSVDQA.default_judge == ("openai", {"model": "gpt-3.5-turbo-1106"})
    policy = ScriptedAdapter(model_id="p", fn=lambda p: POLICY_ANSWERS[p.request.sample_id])
    replies = "{'pred': 'yes', 'score': 4}|{'pred': 'no', 'score': 1}"
    result, records = run_task(tmp_path, "msvd_qa", policy, msvd_dir, limit=3, judge="scripted",
                               judge_args={"replies": replies, "model_id": "judge-x", "needs_media": "false"})
    assert result["judge"]["model"] == "judge-x" and result["counts"]["n_invalid"] == 0
    verdicts = [records[i]["outcome"]["verdict"] for i in "123"]
    assert result["metrics"]["accuracy"] == pytest.approx(100 * verdicts.count("yes") / 3)
    assert [r["key"] for r in records["1"]["replies"]] == ["1", "1::judge"]


def test_judge_prompt_is_fig6_with_fields_filled_literally():
    from tasks.video_qa import judge_prompt as qa_prompt

    text = qa_prompt("who {answer}?", "man", "a {pred} man")
    assert text.startswith("You are an intelligent chatbot designed for evaluating the correctness")
    assert "Here's how you can accomplish the task:------##INSTRUCTIONS: - Focus" in text
    assert "\n\nPlease evaluate the following video-based question-answer pair:\n\n" in text
    assert "Question: who {answer}?\nCorrect Answer: man\nPredicted Answer: a {pred} man\n\n" in text
    assert text.endswith("{'pred': 'yes', 'score': 4.8}.")


# ---- MMHal ---------------------------------------------------------------------------------------------
def test_mmhal_rating_rule():
    assert parse_rating("The answer is fine.\nRating: 5, very informative, no hallucination") == (5, None)
    assert parse_rating("rating: 4 ... as said, Rating: 4") == (4, None)  # one distinct rating
    assert parse_rating("No rating given.")[0] == 0 and parse_rating("No rating given.")[1]
    rating, reason = parse_rating("Rating: 2 or maybe Rating: 6")
    assert rating == 0 and "2 different ratings" in reason
    assert parse_rating(None)[0] == 0


def test_mmhal_metrics_and_prompt():
    task = MMHalBench()
    cfg = task.config(None, 0, None, None)
    ratings = {0: 6, 1: 2, 2: 3, 3: 0}  # item 3 unrated (invalid, counts 0)
    types = ["attribute", "adversarial", "attribute", "counting"]
    rows = [Judgment(str(i), "invalid" if i == 3 else "ok", {"rating": r, "type": types[i]})
            for i, r in ratings.items()] + [Judgment("4", "error", reason="judge failed")]
    scoring = task.score(rows, cfg)
    point = scoring.point()
    assert point["score"] == pytest.approx(11 / 4) and point["hallucination_rate"] == pytest.approx(50.0)
    assert point["score/attribute"] == pytest.approx(4.5) and point["score/counting"] == 0.0
    assert scoring.details["n_unrated"] == 1 and scoring.n == 4
    text = judge_prompt(["Cat", "Sofa"], "What is {this}?", "A cat.", "A {cat} on a sofa.")
    assert text.endswith("### Image Contents\nCat, Sofa\n\n### Question\nWhat is {this}?\n\n### Standard "
                         "Human-Generated Answer\nA cat.\n\n### LMM Response to Evaluate\nA {cat} on a sofa.\n")


def test_mmhal_two_stages_on_local_copy(tmp_path):
    root = tmp_path / "mmhal"
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(root / "images" / f"img{i}.jpg")
        rows.append({"question_type": None, "question": f"q{i}?", "gt_answer": "a", "image_content": ["Cat"],
                     "image_src": f"https://example.org/x/img{i}.jpg"})
    (root / "response_template.json").write_text(json.dumps(rows))
    policy = ScriptedAdapter(model_id="p", reply="an answer")
    result, records = run_task(tmp_path, "mmhal_bench", policy, root, judge="scripted",
                               judge_args={"replies": "Rating: 5|Rating: 1|no idea", "needs_media": "false"})
    ratings = {"Rating: 5": 5, "Rating: 1": 1, "no idea": 0}
    got = [ratings[records[str(i)]["replies"][1]["text"]] for i in range(8)]
    assert result["metrics"]["score"] == pytest.approx(sum(got) / 8)
    assert result["metrics"]["hallucination_rate"] == pytest.approx(100 * sum(g < 3 for g in got) / 8)
    assert result["metrics"]["score/holistic"] == got[6]  # type = index mod 8 without a question_type
    assert result["counts"]["n_invalid"] == got.count(0)
    assert result["judge"]["model"] == "scripted-v1"


# ---- generation and image scoring ------------------------------------------------------------------------
class StubImagePolicy(Policy):
    """Solid-colour PNGs: candidate j of an item is coloured by (item, seed + j)."""

    kind = "image"

    def __init__(self, fail_ids: str = ""):
        super().__init__(fail_ids=fail_ids)
        self.fail_ids = set(filter(None, fail_ids.split("|")))
        self.errors: dict[str, str] = {}
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {"policy": "stub-image"}

    def candidates(self, items: Sequence[PolicyInput], n: int, seed: int, store: MediaStore):
        self.calls += 1
        out = []
        for item in items:
            if item.id in self.fail_ids:
                self.errors[item.id] = "stub failure"
                out.append([])
                continue
            made = []
            for j in range(n):
                image = Image.new("RGB", (20, 20), (len(item.prompt) * 9 % 256, (seed + j) * 40 % 256, 90))
                path = self.put(store, image)
                made.append(Candidate(j, media=str(path), seed=seed + j))
            out.append(made)
        return out

    @staticmethod
    def put(store: MediaStore, image: Image.Image) -> Path:
        import io

        buf = io.BytesIO()
        image.save(buf, "PNG")
        return store.put(buf.getvalue(), "png")


class StubVideoPolicy(StubImagePolicy):
    kind = "video"

    def candidates(self, items, n, seed, store):
        self.calls += 1
        return [[Candidate(j, media=str(store.put(f"{item.prompt}|{seed + j}".encode(), "mp4")), seed=seed + j)
                 for j in range(n)] for item in items]


def test_generate_writes_vbench_names_and_resumes(tmp_path):
    info = [{"prompt_en": "a cat, frozen in time", "dimension": ["temporal_flickering"]},
            {"prompt_en": "a dog running", "dimension": ["dynamic_degree", "subject_consistency"]},
            {"prompt_en": "a dog running", "dimension": ["human_action"]},
            {"prompt_en": "a/b slash", "dimension": ["scene"]}]
    prompts_file = tmp_path / "VBench_full_info.json"
    prompts_file.write_text(json.dumps(info))
    items = read_prompts(prompts_file)
    assert [(i.prompt, i.n) for i in items] == [("a cat, frozen in time", 25), ("a dog running", None),
                                              ("a/b slash", None)]
    out = tmp_path / "videos" / "t2v"
    policy = StubVideoPolicy()
    report = generate(policy, items, 5, out, naming="vbench", seed=3)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"a cat, frozen in time-{i}.mp4" for i in range(25)] +
                           [f"a dog running-{i}.mp4" for i in range(5)])  # nothing but the videos
    assert report.written == 30 and list(report.failed) == ["a/b slash"]
    manifest_path, info_path = metadata_paths(out, "vbench")
    rows = read_jsonl(manifest_path)
    assert rows[0] == {"id": "a cat, frozen in time", "prompt": "a cat, frozen in time",
                       "path": "a cat, frozen in time-0.mp4", "seed": 3, "index": 0}
    assert json.loads(info_path.read_text())["identity"] == {"policy": "stub-image"}
    assert not list(out.parent.glob(".*store*"))  # the temporary store is gone
    again = generate(policy, items, 5, out, naming="vbench", seed=3)
    assert (again.written, again.resumed) == (0, 2)
    with pytest.raises(UsageError, match="needs a video policy"):
        generate(StubImagePolicy(), items, 5, tmp_path / "x", naming="vbench")
    with pytest.raises(UsageError, match="writes text"):
        generate(ScriptedPolicy(), items, 1, tmp_path / "y")


def test_prompt_files_are_read_by_extension(tmp_path):
    parti = SHARED / "fixtures" / "parti" / "PartiPrompts.tsv"
    vbench = SHARED / "fixtures" / "vbench" / "VBench_full_info.json"
    if not parti.exists() or not vbench.exists():
        pytest.skip("../shared fixtures missing")
    items = read_prompts(parti)
    assert len(items) == 1632 and items[0] == PromptItem("PartiPrompts-0000", "bond")
    full = read_prompts(vbench)
    assert len(full) == 944 and sum(i.n == 25 for i in full) == 75  # two prompts are listed twice
    (tmp_path / "anime.json").write_text(json.dumps(["a fox", "a girl"]))
    (tmp_path / "photo.json").write_text(json.dumps(["a lake"]))
    assert [i.id for i in read_prompts(tmp_path)] == ["anime-0000", "anime-0001", "photo-0000"]
    (tmp_path / "p.txt").write_text("one\n\ntwo\n")
    assert [i.prompt for i in read_prompts(tmp_path / "p.txt")] == ["one", "two"]


@pytest.fixture()
def parti_images(tmp_path) -> Path:
    prompts = [PromptItem(f"PartiPrompts-{i:04d}", p) for i, p in enumerate(["a red cube", "a green ball"])]
    out = tmp_path / "sdxl-turbo-parti"
    report = generate(StubImagePolicy(), prompts, 2, out, naming="index", seed=0)
    assert report.written == 4
    return out


def test_partiprompts_gen_scored_by_a_tiny_pickscore(tmp_path, parti_images):
    pytest.importorskip("transformers")
    from reward.pickscore import PickScoreAdapter
    from reward.testing.tiny_models import save_tiny_clip

    model_dir, processor_dir = save_tiny_clip(tmp_path / "clip")
    adapter = PickScoreAdapter(str(model_dir), processor=str(processor_dir))
    result, records = run_task(tmp_path, "partiprompts_gen", adapter, parti_images, protocol="pickscore")
    raw = [r["outcome"]["raw"] for r in records.values()]
    assert sorted(records) == ["PartiPrompts-0000_0", "PartiPrompts-0000_1", "PartiPrompts-0001_0",
                               "PartiPrompts-0001_1"]
    assert result["metrics"] == {"pickscore": pytest.approx(float(np.mean(raw)))}
    assert "raw PickScore" in result["details"]["scale"]
    assert result["dataset"]["generation"]["identity"] == {"policy": "stub-image"}
    assert result["dataset"]["n_prompts"] == 2 and result["dataset"]["expected_prompts"] == 1632


def test_hpsv2_scale_from_a_score_file(tmp_path, parti_images):
    from reward.scores import ScoresAdapter

    rows = read_jsonl(parti_images / "manifest.jsonl")
    values = [0.27, 0.29, 0.31, 29.0]  # the last one was already multiplied by 100
    score_file = tmp_path / "hps.jsonl"
    score_file.write_text("".join(json.dumps({"media": r["path"], "score": v}) + "\n" for r, v in zip(rows, values)))
    adapter = ScoresAdapter(path=str(score_file), name="hpsv2.1")
    result, records = run_task(tmp_path, "hpsv2_prompts_gen", adapter, parti_images, protocol="hpsv2")
    assert result["metrics"] == {"hpsv2": pytest.approx(100 * (0.27 + 0.29 + 0.31) / 3)}
    assert result["counts"]["n_invalid"] == 1 and "already x100" in records["PartiPrompts-0001_1"]["reason"]
    with pytest.raises(UsageError, match="generative judge"):
        run(RunOptions(tasks=["partiprompts_gen"], model="scripted", data_dir=parti_images,
                       output=tmp_path / "r"), adapter=ScriptedAdapter())
    assert math.isfinite(result["metrics"]["hpsv2"])


def test_generate_command_line(tmp_path, capsys, registered):
    from alignment.generate import main
    from alignment.policies import POLICIES

    class RegisteredStubImagePolicy(StubImagePolicy):
        name = "stub-image-test"

    registered(POLICIES, "stub-image-test", RegisteredStubImagePolicy)

    (tmp_path / "p.txt").write_text("a red cube\na blue cone\n")
    out = tmp_path / "gen"
    code = main(["--policy", "stub-image-test", "--policy-args", "fail_ids=p-0001", "--prompts",
                 str(tmp_path / "p.txt"), "--out", str(out), "--seed", "7"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["generation.json", "manifest.jsonl", "p-0000_0.png"]
    assert "failed p-0001: stub failure" in capsys.readouterr().out
    info = json.loads((out / "generation.json").read_text())
    assert (info["policy"], info["n"], info["seed"], info["naming"]) == ("stub-image-test", 1, 7, "index")
    assert read_jsonl(out / "manifest.jsonl") == [{"id": "p-0000", "prompt": "a red cube", "path": "p-0000_0.png",
                                                   "seed": 7, "index": 0}]


def test_image_generation_scoring_config_checks_scorer_protocol_and_split():
    from tasks.image_gen_scoring import PartiPromptsGen

    task = PartiPromptsGen()
    assert task.config(None, 0, None, None, scorer=True).split == "test"
    with pytest.raises(UsageError, match="has no protocol 'clip'"):
        task.config("clip", 0, None, None, scorer=True)
    with pytest.raises(UsageError, match="has no split 'tset'; valid names: test"):
        task.config("pickscore", 0, "tset", None, scorer=True)
