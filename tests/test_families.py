"""The UnifiedReward judge families (`reward.families`): parsers on replies in each family's format, the registry's
data, detection from checkpoint names and configs, `family=`, the tasks' use of family templates, and one end-to-end
run per family on a tiny hf judge built from its base model's real configuration and chat template."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from harness.adapters import check_family
from harness.errors import UsageError
from harness.records import Reply, Request
from harness.registry import TASKS
from reward import families as fam
from tasks.vlrewardbench import VLRewardBench

from .conftest import SHARED, make_data_dir, read_jsonl, row, write_image

THINK_RATIONALE = """<think>
1. Semantic consistency: Image 1 (7/10) - The red bicycle is there but the basket is missing; Image 2 (9/10) - both
the bicycle and the wicker basket appear, leaning on a brick wall as the caption says.
2. Aesthetics: Image 1 (6/10) - flat lighting, the composition is cramped; Image 2 (8/10) - warm evening light.
3. Authenticity: Image 1 (6/10) - the spokes melt into the frame; Image 2 (8/10) - fine detail on the chain.
[Additional dimensions if any]: Spatial layout: Image 1 (5/10) - the wall floats; Image 2 (8/10) - coherent depth.
One could argue Image 1 is better on colour saturation alone, but it loses on every other dimension.
Total score:
Image 1: 7+6+6+5=24
Image 2: 9+8+8+8=33
</think>
<answer>Image 2 is better</answer>"""


# ---- parsers on replies in each family's format --------------------------------------------------------------

def test_ur2_pointwise_scores_on_the_authors_example_outputs():
    image = fam.UR2_FAMILY.prompt(fam.IMAGE_GENERATION_POINT_SCORE)
    video = fam.UR2_FAMILY.prompt(fam.VIDEO_GENERATION_POINT_SCORE)
    # The "Example output" blocks of point_score_ACS_image_generation.py and point_score_APS_video_generation.py.
    got = image.parse("Alignment Score (1-5): 2.694700002670288\nCoherence Score (1-5): 2.371500015258789\n"
                      "Style Score (1-5): 2.802500009536743\n")
    assert got.ok and got.scores == {"alignment": 2.694700002670288, "coherence": 2.371500015258789,
                                     "style": 2.802500009536743}
    got = video.parse("**Alignment Score (1-5):** 2.4036\nPhysics Score (1-5): 3.0987\nStyle Score (1-5): 3.3889")
    assert got.ok and got.scores == {"alignment": 2.4036, "physics": 3.0987, "style": 3.3889}
    missing = image.parse("Alignment Score (1-5): 4\nStyle Score (1-5): 3")
    assert missing.status == "invalid" and "Coherence" in missing.reason and missing.scores == {}
    assert "outside [1, 5]" in image.parse("Alignment Score (1-5): 7\nCoherence Score (1-5): 3\n"
                                           "Style Score (1-5): 3").reason
    assert "2 different values" in image.parse("Alignment Score (1-5): 4\nAlignment Score (1-5): 2\n"
                                               "Coherence Score (1-5): 3\nStyle Score (1-5): 3").reason


def test_ur2_pairwise_score_and_pairwise_rank():
    image = fam.UR2_FAMILY.prompt(fam.IMAGE_GENERATION_PAIR_SCORE)
    # pair_score_image_generation.py's example output: Image 2 leads on all three dimensions.
    got = image.parse("Alignment Score:\n Image 1: 0.435699999332428\n Image 2: 0.564300000667572\n\n"
                      "Coherence Score:\n Image 1: 0.4180000126361847\n Image 2: 0.5820000171661377\n\n"
                      "Style Score:\n Image 1: 0.40790000557899475\n Image 2: 0.5921000242233276\n")
    assert got.ok and got.choice == 2 and got.pair_scores["coherence"] == (0.4180000126361847, 0.5820000171661377)
    video = fam.UR2_FAMILY.prompt(fam.VIDEO_GENERATION_PAIR_SCORE)
    got = video.parse("Alignment Score:\n Video 1: 0.4736\n Video 2: 0.5264\n\nCoherence Score:\n Video 1: 0.5981\n"
                      " Video 2: 0.4019\n\nStyle Score:\n Video 1: 0.3484\n Video 2: 0.6516\n")
    assert got.ok and got.choice == 2 and set(got.pair_scores) == {"alignment", "coherence", "style"}
    assert "Style" in video.parse("Alignment Score:\n Video 1: 0.5\n Video 2: 0.5\nCoherence Score:\n Video 1: 0.5\n"
                                  " Video 2: 0.5\n").reason
    rank = fam.UR2_FAMILY.prompt(fam.IMAGE_GENERATION_PAIR_RANK)
    assert rank.parse("Image 1 shows the red bicycle with its basket; Image 2 omits the basket.\n"
                      "Image 1 is better.").choice == 1
    assert rank.parse("Both images are equally good.").choice == 0
    both = rank.parse("Image 1 is better in colour, but overall Image 2 is better.")
    assert both.status == "invalid" and "more than one" in both.reason
    understanding = fam.QWEN.prompt(fam.IMAGE_UNDERSTANDING_PAIR_RANK)
    assert understanding.parse("Answer 2 correctly counts three dogs... **Answer 2 is better**").choice == 2


def test_think_cot_reads_the_answer_tag_after_a_long_rationale():
    think = fam.THINK.prompt(fam.IMAGE_GENERATION_PAIR_RANK)
    assert think.mode == "cot" and think.parse is not None
    got = think.parse(THINK_RATIONALE)
    # The rationale says "Image 1 is better on colour"; only the tag decides.
    assert got.ok and got.choice == 2 and got.pair_scores == {"total": (24.0, 33.0)}
    assert got.rationale.startswith("1. Semantic consistency") and "Total score" in got.rationale
    cut = think.parse(THINK_RATIONALE.split("Total score")[0])
    assert cut.status == "invalid" and "ends inside <think>" in cut.reason and cut.rationale
    chatty = think.parse(THINK_RATIONALE.replace("<answer>Image 2 is better</answer>",
                                                 "<answer>Image 2 is better because of the basket</answer>"))
    assert chatty.status == "invalid" and "<answer> holds" in chatty.reason
    no_tag = think.parse("<think>Both look fine.</think>\nImage 2 is better")
    assert no_tag.status == "invalid" and "no <answer>" in no_tag.reason
    assert think.parse("<answer>'Image 1 is better.'</answer>").choice == 1
    assert "disagree" in think.parse("<answer>Image 1 is better</answer> <answer>Image 2 is better</answer>").reason
    qwen3 = fam.THINK_QWEN3.prompt(fam.IMAGE_UNDERSTANDING_PAIR_RANK)
    reply = ("<think>\n1. Semantic accuracy: \n    Answer 1 (8/10) - names the bus correctly; \n    Answer 2 (4/10) - "
             "calls it a tram\nTotal score:\nAnswer 1: 8+9+8=25\nAnswer 2: 4+5+7=16\n</think>\n"
             "<answer>Answer 1 is better</answer>")
    assert qwen3.parse(reply).choice == 1 and qwen3.parse(reply).pair_scores == {"total": (25.0, 16.0)}


def test_think_answer_mode_uses_the_plain_prompts_and_parser():
    answer = fam.THINK.prompt(fam.IMAGE_UNDERSTANDING_PAIR_RANK, "answer")
    assert answer.file == "vlrewardbench_unifiedreward.txt" and not answer.overrides
    assert answer.parse("Answer 1 omits the second person. Answer 2 is better.").choice == 2
    assert answer.parse("<answer>Answer 2 is better</answer>").choice == 2  # a tag is text to the plain parser
    # GenAI-Bench image: the answer script resizes to 512x512, so its prompt replaces the qwen protocol's.
    image = fam.task_prompt("unifiedreward-think/answer", fam.IMAGE_GENERATION_PAIR_RANK)
    assert image is not None and image.resize == (512, 512) and image.file == "genai_image_unifiedreward_qwen.txt"
    assert fam.task_prompt("unifiedreward-think/answer", fam.IMAGE_UNDERSTANDING_PAIR_RANK) is None


def test_edit_replies():
    edit = fam.EDIT_FAMILY
    follow = edit.prompt(fam.IMAGE_EDIT_POINT_INSTRUCTION)
    reply = ('{\n\n"reasoning" : "The sheep now block the taxi as asked; the street and the taxi are unchanged.",\n'
             '"score" : [22, 19],\n}')
    assert follow.parse(reply).scores == {"editing_success": 22.0, "overediting": 19.0}
    quality = edit.prompt(fam.IMAGE_EDIT_POINT_QUALITY)
    assert quality.parse('{"reasoning": "Soft shadows, no artifacts.", "score": [18.5, 24]}').scores == {
        "naturalness": 18.5, "artifacts": 24.0}
    assert "3 number(s)" in quality.parse('{"score" : [18, 24, 3],}').reason
    assert "outside [0, 25]" in follow.parse('"score" : [30, 2]').reason
    rank = edit.prompt(fam.IMAGE_EDIT_PAIR_RANK)
    assert rank.parse("Edited image 1 keeps the street and adds the sheep. Edited image 1 is better.").choice == 1
    assert rank.parse("<think>...</think><answer>Edited image 2 is better</answer>").choice == 2
    assert "more than one" in rank.parse("Edited image 1 is better on fidelity; Edited image 2 is better on "
                                         "quality.").reason
    assert rank.parse("<answer>Both edited images are equally good</answer>").choice == 0
    score = edit.prompt(fam.IMAGE_EDIT_PAIR_SCORE)
    got = score.parse("Image 1: 6.75 (clean, faithful edit)\nImage 2: -2.50 (the taxi was removed)")
    assert got.choice == 1 and got.pair_scores == {"overall": (6.75, -2.5)}
    assert "two are needed" in score.parse("Image 1 scores 7, Image 2 scores 3").reason
    # Text-to-image prompts are 2.0's.
    assert edit.prompt(fam.IMAGE_GENERATION_POINT_SCORE).file == "ur2_point_score_image_generation.txt"


@pytest.mark.parametrize("family", list(fam.FAMILIES))
def test_an_unparseable_reply_is_invalid_with_a_reason_never_a_default(family):
    for prompt in fam.FAMILIES[family].prompts:
        for reply in ("I cannot tell which one is better without more context.", "", None):
            got = prompt.parse(reply)
            assert got.status == "invalid" and got.reason, (prompt.file, reply)
            assert got.choice is None and not got.scores and not got.pair_scores, (prompt.file, reply)


# ---- the registry's data ------------------------------------------------------------------------------------

#: (image-slot lines the file adds, sha256 of the rest): the rest is the authors' script string (f-string fields as
#: {name}) at CodeGoat24/UnifiedReward @ ff6f520, hashed when the files were written from the scripts; the slot lines
#: stand for the image items a Qwen or vLLM script sends before its text (tasks/prompts/SOURCES.md).
SCRIPT_TEXT_SHA256 = {
    "think_cot_image_understanding.txt": (1, "3db599f6bd5efb58"),
    "think_cot_image_generation.txt": (2, "342f6a4bd0efdae0"),
    "think_cot_image_generation_llava.txt": (0, "f925103328b923c6"),
    "think_cot_video_generation.txt": (0, "f45197425b810d08"),
    "think_cot_video_understanding.txt": (0, "3b7a396e77542f16"),
    "think_answer_image_generation_llava.txt": (0, "ff713be32573f438"),
    "think_qwen3vl_image_understanding.txt": (1, "5ed2be014a8844dd"),
    "think_qwen3vl_image_generation.txt": (2, "a8a0d80818246406"),
    "think_qwen3vl_video_generation.txt": (0, "e40c6e7f767f2cca"),
    "think_qwen3vl_video_understanding.txt": (0, "5eaaee95d98dabbf"),
    "ur2_pair_score_image_generation.txt": (2, "828e9ab2f81c3b6d"),
    "ur2_pair_score_video_generation.txt": (0, "2604f95ceb958851"),
    "ur2_point_score_image_generation.txt": (1, "75d52d3ae771f89b"),
    "ur2_point_score_video_generation.txt": (0, "707411fb9175547e"),
    "edit_pair_rank.txt": (3, "03ca2aaeeade8e88"), "edit_pair_score.txt": (3, "6c53b045ed55242c"),
    "edit_point_instruction_following.txt": (2, "401b9a17aec0a3c3"), "edit_point_quality.txt": (1, "ddb40baa511dbf2f"),
}
SOURCES = Path(__file__).resolve().parents[1] / "tasks" / "prompts" / "SOURCES.md"
SLOTS = {fam.IMAGE_UNDERSTANDING_PAIR_RANK: 1, fam.IMAGE_UNDERSTANDING_POINT_SCORE: 0,
         fam.IMAGE_GENERATION_PAIR_RANK: 2, fam.IMAGE_GENERATION_PAIR_SCORE: 2, fam.IMAGE_GENERATION_POINT_SCORE: 1,
         fam.IMAGE_EDIT_PAIR_RANK: 3, fam.IMAGE_EDIT_PAIR_SCORE: 3, fam.IMAGE_EDIT_POINT_INSTRUCTION: 2,
         fam.IMAGE_EDIT_POINT_QUALITY: 1}


def all_prompts():
    return [(f, p) for f in fam.FAMILIES.values() for p in f.prompts]


def test_templates_are_the_scripts_bytes_with_their_fields_and_slots():
    prompts = all_prompts()
    for name, (added, digest) in SCRIPT_TEXT_SHA256.items():
        text = next(p.text for _, p in prompts if p.file == name)
        assert text.startswith("<image>\n" * added), name
        assert hashlib.sha256(text[len("<image>\n") * added:].encode()).hexdigest()[:16] == digest, name
        assert name in SOURCES.read_text(), name
    for family, prompt in prompts:
        text = prompt.text
        assert set(re.findall(r"\{(\w+)\}", text)) >= set(prompt.fields), prompt.file
        if prompt.overrides:  # tasks fill these with str.format: no brace but the fields
            assert re.findall(r"[{}]", re.sub(r"\{\w+\}", "", text)) == [], prompt.file
            text.format(**{f: "x" for f in prompt.fields})
        if prompt.media == "slots" and prompt.kind in SLOTS:
            slots = text.count("<image>")
            assert slots == SLOTS[prompt.kind] or (family.script_family == "llava" and slots == 0), prompt.file
        if prompt.media == "first":
            assert "<image>" not in text, prompt.file
        assert prompt.source.commit == fam.UNIFIEDREWARD_COMMIT and prompt.source.path.endswith(".py")


def test_every_listed_checkpoint_is_detected_as_its_family():
    for family in fam.FAMILIES.values():
        for checkpoint in family.checkpoints:
            got = fam.detect(checkpoint.name, checkpoint.model_type)
            assert got.family == family.name and checkpoint.name.split("/")[1] in got.source
            assert checkpoint.model_type in family.model_types


def test_detection_from_names_paths_and_configs():
    cache = "/root/.cache/huggingface/hub/models--CodeGoat24--UnifiedReward-2.0-qwen3vl-8b/snapshots/0a1b2c"
    assert fam.detect(cache, "qwen3_vl").family == "unifiedreward-2.0"
    assert fam.detect("/ckpt/UnifiedReward-Think-qwen-7b/checkpoint-500", "qwen2_5_vl").family == "unifiedreward-think"
    converted = fam.detect("/ckpt/think-hf", "llava_onevision", {"converted_from": "CodeGoat24/UnifiedReward-Think-7b"})
    assert converted.family == "unifiedreward-think-llava" and converted.source.startswith("config converted_from")
    plain = fam.detect("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl")
    assert plain.family == "qwen" and plain.source.startswith("architecture 'qwen2_5_vl'")
    assert fam.detect("/ckpt/UnifiedReward-Flex-qwen3vl-8b", "qwen3_vl").family == "qwen"  # no Flex family: its base
    assert fam.detect("UnifiedReward", None) == fam.Detection(None, None)  # the authors' served name says nothing
    with pytest.raises(UsageError, match="UnifiedReward-Think-7b.*llava_onevision.*'qwen2_5_vl'; pass family="):
        fam.detect("/ckpt/UnifiedReward-Think-7b", "qwen2_5_vl")
    forced = fam.detect("/ckpt/UnifiedReward-Think-7b", "qwen2_5_vl", family="unifiedreward-think")
    assert forced == fam.Detection("unifiedreward-think", "family= argument")


def test_family_argument_names_aliases_and_modes():
    assert check_family("hf", "unifiedreward-qwen") == "qwen" and check_family("hf", "llava") == "llava"
    assert check_family("hf", "unifiedreward-1.0") == "llava"
    assert check_family("hf", "unifiedreward-think/answer") == "unifiedreward-think/answer"
    assert check_family("hf", "UnifiedReward-Think/cot") == "unifiedreward-think"  # the default mode is not written
    with pytest.raises(UsageError, match="family='unifiedreward-2.0/cot'.*no mode 'cot'"):
        check_family("openai", "unifiedreward-2.0/cot")
    with pytest.raises(UsageError, match="family='mistral'.*unknown judge family"):
        check_family("hf", "mistral")
    assert fam.protocol_keys("unifiedreward-think/answer") == ("unifiedreward-think/answer", "unifiedreward-think",
                                                               "qwen")
    assert fam.protocol_keys("custom-judge") == ("custom-judge",) and fam.protocol_keys(None) == ()


def test_family_protocols_follow_the_family_then_its_script_family():
    task = VLRewardBench()
    cfg = task.config("unifiedreward", 0, None, None)
    assert task.for_family(cfg, "unifiedreward-2.0").protocol == "unifiedreward-qwen"
    assert task.for_family(cfg, "unifiedreward-think-qwen3").requested_protocol == "unifiedreward"
    assert task.for_family(cfg, "unifiedreward-think-llava").protocol == "unifiedreward"
    assert task.for_family(cfg, None).protocol == "unifiedreward"

    class Specific(VLRewardBench):  # a family's own entry wins over its script family's
        family_protocols = {"qwen": {"unifiedreward": "unifiedreward-qwen"},
                            "unifiedreward-think": {"unifiedreward": "strict"}}

    assert Specific().for_family(cfg, "unifiedreward-think/answer").protocol == "strict"
    assert Specific().for_family(cfg, "unifiedreward-2.0").protocol == "unifiedreward-qwen"


# ---- the tasks' use of family templates ------------------------------------------------------------------------

@pytest.fixture
def vlrb(tmp_path) -> Path:
    return make_data_dir(tmp_path / "vlrb", [row("RLHF-V_1", "rlhf-v", responses=("A red {bus}.", "A tram.")),
                                             row("mmmu_2", "reasoning_tasks", ranking=(1, 0))])


def vlrb_request(data_dir: Path, protocol: str, family: str | None) -> tuple[VLRewardBench, object, object, Request]:
    task = VLRewardBench()
    cfg = task.for_family(task.config(protocol, 0, None, data_dir), family)
    sample = task.load(cfg).samples[0]
    return task, cfg, sample, task.requests(sample, cfg)[0]


def test_a_think_judge_is_sent_its_template_and_read_by_its_parser(vlrb):
    task, cfg, sample, request = vlrb_request(vlrb, "strict", "unifiedreward-think")
    text = "".join(p for p in request.parts if isinstance(p, str))
    assert text.startswith("Given a question and a reference image, please analyze in detail")
    assert "Answer 1: [" in text and "{bus}" in text and request.generation.max_new_tokens == 4096
    gold = request.meta["gold"]
    reply = THINK_RATIONALE.replace("Image", "Answer").replace("<answer>Answer 2", f"<answer>Answer {gold}")
    parsed = task.parse(sample, [(request, Reply(request.key, text=reply))], cfg)
    assert parsed.status == "ok" and parsed.outcome["correct"]
    assert parsed.outcome["template"] == "think_cot_image_understanding.txt"
    bad = task.parse(sample, [(request, Reply(request.key, text=f"Answer {gold} is better"))], cfg)
    assert bad.status == "invalid" and "no <answer>" in bad.reason and not bad.outcome["correct"]
    # Judges of the families that bring no template of this kind are sent the task's own prompt, as before.
    for family in ("qwen", "unifiedreward-2.0", "unifiedreward-think/answer", None):
        _, _, _, plain = vlrb_request(vlrb, "strict", family)
        assert "".join(p for p in plain.parts if isinstance(p, str)).startswith("You are given an image and a question")


def test_the_script_protocols_keep_their_order_rule_and_use_the_family_generation(tmp_path):
    gen = tmp_path / "genai"
    rows = [json.loads(line) for line in (SHARED / "fixtures/genai-bench/test_v1/image_generation.jsonl")
            .read_text().splitlines()[:3]]
    gen.mkdir()
    with open(gen / "image_generation.jsonl", "w") as f:
        for i, r in enumerate(rows):
            for side in ("left_image", "right_image"):
                write_image(gen / f"{i}_{side}.jpg", i)
                r[side] = f"{i}_{side}.jpg"
            f.write(json.dumps(r) + "\n")
    task = TASKS.get("genai_bench_image")()
    asked = [s for s in task.load(task.config("unifiedreward", 0, "test_v1", gen)).samples if s.data["h"] != 0][0]
    for family, file_start, size, tokens in (
            ("unifiedreward-think", "Given a caption and two images", (512, 512), 512),
            ("unifiedreward-think-qwen3", "You are an objective and precise evaluator", None, 4096),
            ("qwen", "You are given a text caption", None, 512)):
        cfg = task.for_family(task.config("unifiedreward", 0, "test_v1", gen), family)
        assert cfg.protocol == "unifiedreward-qwen"
        (request,) = task.requests(asked, cfg)
        text = request.parts[-1]
        assert text.startswith(file_start) and [p.resize for p in request.parts[:2]] == [size, size]
        assert request.generation.max_new_tokens == tokens


# ---- one end-to-end run per family on a tiny hf judge ----------------------------------------------------------

def judge_dir(tiny, tmp_path: Path, checkpoint: str) -> Path:
    """The tiny judge of `checkpoint`'s architecture under the checkpoint's own name, which is what detection reads."""
    from reward.testing.tiny_checkpoints import TINY_FOR_MODEL_TYPE

    model_type = next(c.model_type for f in fam.FAMILIES.values() for c in f.checkpoints if c.name == checkpoint)
    link = tmp_path / checkpoint.split("/")[1]
    link.symlink_to(tiny(TINY_FOR_MODEL_TYPE[model_type]), target_is_directory=True)
    return link


def edit_dir(root: Path) -> Path:
    """Two real GenAI-Bench editing rows with 8x8 JPEGs for the source and both edits."""
    root.mkdir()
    lines = (SHARED / "fixtures/genai-bench/test_v1/image_edition.jsonl").read_text().splitlines()[:2]
    with open(root / "image_edition.jsonl", "w") as f:
        for i, line in enumerate(lines):
            r = json.loads(line)
            for column in ("source_image", "left_output_image", "right_output_image"):
                write_image(root / f"{i}_{column}.jpg", i + len(column))
                r[column] = f"{i}_{column}.jpg"
            f.write(json.dumps(r) + "\n")
    return root


SCRIPT_RULE = "neither 'Answer 1 is better' nor 'Answer 2 is better'"
E2E = [  # family, tiny judge (a checkpoint name, or a tiny builder plus family=), task, protocol, protocol run,
    # template sent, what an unreadable reply's reason says (the parser that read it)
    ("llava", ("unifiedreward-7b", None), "vlrewardbench", "unifiedreward", "unifiedreward",
     "vlrewardbench_unifiedreward.txt", SCRIPT_RULE),
    ("qwen", ("CodeGoat24/UnifiedReward-qwen-7b", None), "vlrewardbench", "unifiedreward", "unifiedreward-qwen",
     "vlrewardbench_unifiedreward.txt", SCRIPT_RULE),
    ("unifiedreward-2.0", ("CodeGoat24/UnifiedReward-2.0-qwen-7b", None), "vlrewardbench", "strict", "strict",
     "vlrewardbench_unifiedreward.txt", "no verdict naming Answer 1 or Answer 2"),
    ("unifiedreward-think", ("CodeGoat24/UnifiedReward-Think-qwen-7b", None), "vlrewardbench", "unifiedreward",
     "unifiedreward-qwen", "think_cot_image_understanding.txt", SCRIPT_RULE),
    ("unifiedreward-think-llava", ("unifiedreward-7b", "unifiedreward-think-llava"), "vlrewardbench", "unifiedreward",
     "unifiedreward", "think_cot_image_understanding.txt", SCRIPT_RULE),
    ("unifiedreward-think-qwen3", ("CodeGoat24/UnifiedReward-Think-qwen3vl-4b", None), "vlrewardbench", "strict",
     "strict", "think_qwen3vl_image_understanding.txt", "<answer>"),
    ("unifiedreward-edit", ("CodeGoat24/UnifiedReward-Edit-qwen3vl-4b", None), "genai_bench_edit",
     "unifiedreward-edit", "unifiedreward-edit", "edit_pair_rank.txt", "Edited image"),
]


@pytest.mark.parametrize("family, judge, task_name, protocol, protocol_run, template, unread", E2E,
                         ids=[e[0] for e in E2E])
def test_end_to_end_on_a_tiny_judge(tiny, tmp_path, vlrb, family, judge, task_name, protocol, protocol_run, template,
                                    unread):
    pytest.importorskip("transformers")
    from harness.runner import RunOptions, run
    from reward.hf import HFAdapter

    name, forced = judge
    pretrained = tiny(name) if "/" not in name else judge_dir(tiny, tmp_path, name)
    adapter = HFAdapter(str(pretrained), batch_size=2, max_new_tokens=3, **({"family": forced} if forced else {}))
    data = vlrb if task_name == "vlrewardbench" else edit_dir(tmp_path / "edit")
    split = "test_v1" if task_name == "genai_bench_edit" else None
    # What the model is sent: the family's template through the checkpoint's own chat template.
    from harness.judging import JudgeClient

    task = TASKS.get(task_name)()
    cfg = task.for_family(task.config(protocol, 0, split, data), adapter.family())
    request = task.requests(task.load(cfg).samples[0], cfg)[0]
    rendered = adapter.inspect(JudgeClient(adapter, None).prepare(request))["prompt"]
    expected = next(p for _, p in all_prompts() if p.file == template).fill(
        {"Query": "What is shown?", "R1": "x", "R2": "y", "instruction": "x", "prompt": "x"})
    first_line = re.sub(r"^(<image>\n ?)+", "", expected).split("\n", 1)[0]
    assert first_line[:60] in rendered and "<|im_start|>user" in rendered and rendered.endswith("assistant\n")

    outcome = run(RunOptions(tasks=[task_name], model="hf", protocol=protocol, data_dir=data, limit=2, split=split,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=10), adapter=adapter)
    results = json.loads((outcome.dir / "results.json").read_text())
    model, record = results["model"], results["tasks"][task_name]
    assert model["family"] == family and record["protocol"] == protocol_run
    source = "family= argument" if forced else "checkpoint name" if "/" in name else "checkpoint name 'unifiedreward-7b"
    assert model["family_source"].startswith(source)
    assert record["counts"]["n"] == 2 and record["counts"]["n_error"] == 0
    samples = read_jsonl(outcome.dir / f"{task_name}.samples.jsonl")
    if template.startswith(("think", "edit")):
        assert all(s["outcome"].get("template") == template for s in samples)
    # Three random-weight tokens are never a verdict: each reply is invalid with the parser's reason, not a default.
    invalid = [s for s in samples if s["status"] == "invalid"]
    assert invalid and all(s["reason"] == "empty reply" or unread in s["reason"] for s in invalid), invalid


def test_a_served_judge_is_named_by_its_model_or_by_family():
    from reward.openai_api import OpenAIAdapter

    def served(**args):
        return OpenAIAdapter(base_url="http://127.0.0.1:9", check=False, **args)

    named = served(model="CodeGoat24/UnifiedReward-2.0-qwen-7b")
    assert named.family() == "unifiedreward-2.0"
    assert named.describe()["family_source"] == "checkpoint name 'UnifiedReward-2.0-qwen-7b'"
    assert served(model="UnifiedReward").describe()["family"] is None  # then no family protocol or template applies
    forced = served(model="UnifiedReward", family="unifiedreward-think/answer")
    assert forced.describe()["family"] == "unifiedreward-think/answer"


def test_a_name_that_does_not_fit_the_architecture_stops_before_loading(tiny, tmp_path):
    pytest.importorskip("transformers")
    from reward.hf import HFAdapter

    wrong = tmp_path / "UnifiedReward-Think-7b"  # a LLaVA-OneVision checkpoint's name on a Qwen2.5-VL directory
    wrong.symlink_to(tiny("qwen2.5-vl-7b"), target_is_directory=True)
    with pytest.raises(UsageError, match="'UnifiedReward-Think-7b' is a UnifiedReward-Think \\(LLaVA-OneVision"):
        HFAdapter(str(wrong))
    assert HFAdapter(str(wrong), family="unifiedreward-think", max_new_tokens=1).family() == "unifiedreward-think"


def test_prompts_in_a_mode_are_what_prompt_gives_for_each_kind():
    """`Family.prompts_in(mode)` (the reward service's list of a family's templates) holds, for every kind it
    names, exactly the template `Family.prompt(kind, mode)` picks, inherited ones included."""
    from reward.families import FAMILIES

    for family in FAMILIES.values():
        for mode in family.modes:
            listed = family.prompts_in(mode)
            assert len({p.kind for p in listed}) == len(listed)
            assert all(family.prompt(p.kind, mode) == p for p in listed)
    inheriting = [f for f in FAMILIES.values() if f.inherits]
    assert inheriting and any(len(f.prompts_in()) > len([p for p in f.prompts if p.mode == f.default_mode])
                              for f in inheriting)
