"""The UnifiedReward judge families as data: checkpoints, prompt templates per task kind, parsers, generation.

A family is one line of checkpoints the authors wrote one set of scripts for (CodeGoat24/UnifiedReward):

| family | checkpoints | script family |
|---|---|---|
| `llava` (alias `unifiedreward-1.0`) | UnifiedReward-0.5b/7b/7b-v1.5 (LLaVA-OneVision, converted) | llava |
| `qwen` (alias `unifiedreward-qwen`) | UnifiedReward-qwen-3b/7b/32b (Qwen2.5-VL) | qwen |
| `unifiedreward-2.0` | 2.0-qwen-* (Qwen2.5-VL), 2.0-qwen3vl-* (Qwen3-VL), 2.0-qwen35-9b | qwen |
| `unifiedreward-think` | Think-qwen-7b (Qwen2.5-VL); modes `cot` (default) and `answer` | qwen |
| `unifiedreward-think-llava` | Think-7b (LLaVA-OneVision); modes `cot`, `answer` | llava |
| `unifiedreward-think-qwen3` | Think-qwen3vl-*, Think-qwen35-9b (`UnifiedReward-Think-qwen3-inference`) | qwen |
| `unifiedreward-edit` | Edit-qwen-*, Edit-qwen3vl-*, Edit-qwen35-9b | qwen |

The *script family* ("llava" / "qwen") is which of the authors' per-architecture benchmark scripts a family's
runs follow: `Task.family_protocols` is keyed by family name first, then by script family, so every Qwen-based
family asked for `unifiedreward` runs the task's `unifiedreward-qwen` protocol. A family's `mode` is written after
a slash: `unifiedreward-think/answer`.

Templates live in `tasks/prompts/` (verbatim, sources in `tasks/prompts/SOURCES.md` and in each prompt's
`source`). A prompt marked `overrides` is sent *instead of* a task's own UnifiedReward 1.0 template wherever a
task protocol renders that kind (`task_prompt`): the Think families' chain-of-thought prompts replace the 1.0
prompt in VL-RewardBench, GenAI-Bench and VideoGen-RewardBench. The 1.0, -qwen and 2.0 pairwise-rank prompts are
the ones those tasks already send, so nothing is replaced for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from importlib import resources
from pathlib import PurePath
from typing import Any, Callable, Literal, Mapping, Sequence

from harness.errors import UsageError, did_you_mean
from harness.records import Generation, MediaRef, Part

from . import family_parsers as fp
from .family_parsers import Verdict

UNIFIEDREWARD = "CodeGoat24/UnifiedReward"
#: The snapshot every template and setting below was read from (2026-06-18).
UNIFIEDREWARD_COMMIT = "ff6f520247a2d36e2aff7b2ba53a935afd437f66"
IMAGE_SLOT = "<image>"

# Task kinds: what is judged, and how (pairwise rank, pairwise score, pointwise score).
IMAGE_UNDERSTANDING_PAIR_RANK = "image_understanding_pair_rank"  # an image, a question, two answers
VIDEO_UNDERSTANDING_PAIR_RANK = "video_understanding_pair_rank"
IMAGE_UNDERSTANDING_POINT_SCORE = "image_understanding_point_score"
IMAGE_GENERATION_PAIR_RANK = "image_generation_pair_rank"  # a caption, two generated images
VIDEO_GENERATION_PAIR_RANK = "video_generation_pair_rank"
IMAGE_GENERATION_PAIR_SCORE = "image_generation_pair_score"
VIDEO_GENERATION_PAIR_SCORE = "video_generation_pair_score"
IMAGE_GENERATION_POINT_SCORE = "image_generation_point_score"
VIDEO_GENERATION_POINT_SCORE = "video_generation_point_score"
IMAGE_EDIT_PAIR_RANK = "image_edit_pair_rank"  # a source image, two edits, the instruction
IMAGE_EDIT_PAIR_SCORE = "image_edit_pair_score"
IMAGE_EDIT_POINT_INSTRUCTION = "image_edit_point_instruction_following"  # source + one edit
IMAGE_EDIT_POINT_QUALITY = "image_edit_point_quality"  # one image

#: model_type -> script family, for a checkpoint whose name names no family.
ARCHITECTURE_FAMILY = {"llava_onevision": "llava", "qwen2_vl": "qwen", "qwen2_5_vl": "qwen", "qwen3_vl": "qwen",
                       "qwen3_5": "qwen"}


@dataclass(frozen=True)
class Source:
    """Where a template and its settings were read: repository, path, commit."""

    path: str
    repo: str = UNIFIEDREWARD
    commit: str = UNIFIEDREWARD_COMMIT

    def cite(self) -> str:
        return f"{self.repo} {self.path} @ {self.commit[:7]}"


@lru_cache(maxsize=None)
def _template_file(name: str) -> str:
    return resources.files("tasks").joinpath("prompts", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class FamilyPrompt:
    """One template of a family for one task kind, with how its reply is read and how its script generates.

    `media`: "slots" (each `<image>` line of the file is one medium, rendered by the judge's chat template: the
    LLaVA scripts' `<image>\\n`, the Qwen scripts' image items before the text) or "first" (every medium, e.g. a
    video's frames, precedes the text). `frames`: the script sends each video as this many evenly spaced frames
    (np.linspace), None where it sends native video (Qwen) or the protocol decides. `resize`: the script's resize
    of every image or frame. `note_line`: the file's first line is a note, not prompt text.
    """

    kind: str
    file: str
    fields: tuple[str, ...]
    parse: Callable[[str | None], Verdict]
    source: Source
    generation: Generation = Generation(max_new_tokens=4096)
    mode: str = ""
    media: Literal["slots", "first"] = "slots"
    resize: tuple[int, int] | None = None
    frames: int | None = None
    note_line: bool = False
    overrides: bool = False

    @property
    def text(self) -> str:
        raw = _template_file(self.file)
        return raw.split("\n", 1)[1] if self.note_line else raw

    def fill(self, values: Mapping[str, str]) -> str:
        """The template with its `{field}`s replaced by `values` in one pass (inserted text is never scanned again,
        and other braces, like the Edit prompts' JSON example, stay as they are)."""
        missing = [f for f in self.fields if f not in values]
        if missing:
            raise ValueError(f"template {self.file} needs {', '.join(missing)}")
        if not self.fields:
            return self.text
        pattern = re.compile("|".join(re.escape("{" + f + "}") for f in self.fields))
        return pattern.sub(lambda m: str(values[m.group()[1:-1]]), self.text)

    def media_as_sent(self, ref: MediaRef, native_frames: int) -> MediaRef:
        """`ref` as this prompt's script sends it: resized by `resize`; a video as `frames` evenly spaced frames, or,
        where the script sends native video (the Qwen scripts), at 2 frames a second up to `native_frames`."""
        if ref.kind != "video":
            return replace(ref, resize=self.resize)
        if self.frames:
            return replace(ref, resize=self.resize, frames=self.frames, sampling="linspace")
        return replace(ref, resize=self.resize, frames=native_frames, sampling="qwen-fps2")

    def render(self, values: Mapping[str, str], media: Sequence[MediaRef]) -> tuple[Part, ...]:
        """Ordered prompt parts, as `tasks.templates.render` places them: a slot's line break belongs to the slot."""
        text = self.fill(values)
        if self.media == "first":
            return (*media, text)
        pieces = text.split(IMAGE_SLOT)
        pieces = pieces[:1] + [p[1:] if p.startswith("\n") else p for p in pieces[1:]]
        if len(pieces) - 1 != len(media):
            raise ValueError(f"template {self.file} has {len(pieces) - 1} image slot(s) but {len(media)} media")
        parts: list[Part] = []
        for i, piece in enumerate(pieces):
            if i:
                parts.append(media[i - 1])
            if piece:
                parts.append(piece)
        return tuple(parts)


@dataclass(frozen=True)
class Checkpoint:
    name: str  # hub id
    architecture: str  # the base model family and size, as the authors name it
    model_type: str  # transformers config.model_type (after conversion, for LLaVA-NeXT checkpoints)


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    script_family: str
    #: A checkpoint name (one path component, or the hub repo name) that starts with this names the family.
    name_pattern: str | None
    model_types: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    prompts: tuple[FamilyPrompt, ...]
    modes: tuple[str, ...] = ("",)
    aliases: tuple[str, ...] = ()
    #: Kinds this family does not define are looked up here (the authors' "T2I inference is unchanged").
    inherits: str | None = None
    #: What the family's runs through the tasks' protocols do not reproduce of its scripts.
    notes: tuple[str, ...] = ()

    @property
    def default_mode(self) -> str:
        return self.modes[0]

    def own(self, kind: str, mode: str | None = None) -> FamilyPrompt | None:
        wanted = self.default_mode if mode is None else mode
        return next((p for p in self.prompts if p.kind == kind and p.mode == wanted), None)

    def prompts_in(self, mode: str | None = None) -> list[FamilyPrompt]:
        """Every template `prompt(kind, mode)` can give: this family's in `mode`, then the inherited family's for the
        kinds this one does not define."""
        found = [p for p in self.prompts if p.mode == (self.default_mode if mode is None else mode)]
        if self.inherits:
            parent, kinds = FAMILIES[self.inherits], {p.kind for p in found}
            found += [p for p in parent.prompts if p.kind not in kinds and p.mode == parent.default_mode]
        return found

    def prompt(self, kind: str, mode: str | None = None) -> FamilyPrompt:
        """This family's template for `kind` (its own, else the inherited family's)."""
        found = self.own(kind, mode)
        if found is None and self.inherits:
            found = FAMILIES[self.inherits].own(kind)
        if found is None:
            kinds = sorted({p.kind for p in self.prompts})
            raise UsageError(f"judge family {self.name!r} has no template for {kind!r}; it has: {', '.join(kinds)}")
        return found


@dataclass(frozen=True)
class FamilyRef:
    """A family with the mode its judge runs in (`family=unifiedreward-think/answer`)."""

    family: Family
    mode: str

    def __str__(self) -> str:
        return self.family.name if self.mode == self.family.default_mode else f"{self.family.name}/{self.mode}"


@dataclass(frozen=True)
class Detection:
    """Which family a judge was found to be, and from what (results.json records both)."""

    family: str | None
    source: str | None

    def record(self) -> dict[str, Any]:
        return {"family": self.family, "family_source": self.source}


# ---- the data ------------------------------------------------------------------------------------------------

G1024 = Generation(max_new_tokens=1024)
G512 = Generation(max_new_tokens=512)
LLAVA_EVAL = "benchmark_evaluation/LLaVA_evaluation/"
QWEN_EVAL = "benchmark_evaluation/Qwen_evaluation/"
VLLM_EVAL = "benchmark_evaluation/vLLM_evaluation/"
UR2 = "inference_qwen/UnifiedReward-2.0-inference/"
THINK_EVAL = "UnifiedReward-Think/benchmark_evaluation/"
THINK_QWEN3 = "UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/"
EDIT = "UnifiedReward-Edit/"
VLLM_NOTE = ("the scripts send do_sample=False and max_tokens=4096 to vLLM, which has no do_sample field: its "
             "sampling follows the checkpoint's generation_config; the harness decodes greedily")

answer_rank, image_rank, video_rank = (partial(fp.pair_rank, noun=n) for n in ("Answer", "Image", "Video"))
think_answer, think_image, think_video = (partial(fp.think_answer, noun=n) for n in ("Answer", "Image", "Video"))
UNDERSTANDING = ("Query", "R1", "R2")


def _prompt(kind: str, file: str, fields: tuple[str, ...], parse: Callable[[str | None], Verdict], path: str,
            **settings: Any) -> FamilyPrompt:
    return FamilyPrompt(kind, file, fields, parse, Source(path), **settings)


def _qwen(size: str, *, line: str, arch: str = "Qwen2.5-VL", model_type: str = "qwen2_5_vl") -> Checkpoint:
    return Checkpoint(f"CodeGoat24/UnifiedReward-{line}{size}", f"{arch}-{size.upper()}", model_type)


LLAVA = Family(
    "llava", "UnifiedReward 1.0 (LLaVA-OneVision, converted with harness convert-llava)", "llava",
    r"unifiedreward-\d+(\.\d+)?b", ("llava_onevision",),
    tuple(Checkpoint(f"CodeGoat24/UnifiedReward-{s}", f"LLaVA-OneVision-{b}", "llava_onevision")
          for s, b in (("0.5b", "0.5B"), ("7b", "7B"), ("7b-v1.5", "7B"))),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "vlrewardbench_unifiedreward.txt", UNDERSTANDING, answer_rank,
             LLAVA_EVAL + "test_llava_vlrewardbench.py"),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "genai_image_unifiedreward.txt", ("prompt",), image_rank,
             LLAVA_EVAL + "test_llava_genAI_bench_image.py", resize=(512, 512)),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "genai_video_unifiedreward.txt", ("prompt",), video_rank,
             LLAVA_EVAL + "test_llava_genAI_bench_video.py", media="first", frames=8, resize=(512, 512),
             note_line=True),
     _prompt(IMAGE_UNDERSTANDING_POINT_SCORE, "image_und_point_unifiedreward.txt", ("Query", "Response"),
             partial(fp.final_score, low=0, high=100),
             "inference_llava/image_understanding/point_score_image_understanding.py")),
    aliases=("unifiedreward-1.0", "unifiedreward"))

QWEN = Family(
    "qwen", "UnifiedReward-qwen (Qwen2.5-VL)", "qwen", r"unifiedreward-qwen-", ("qwen2_5_vl",),
    tuple(_qwen(s, line="qwen-") for s in ("3b", "7b", "32b")),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "vlrewardbench_unifiedreward.txt", UNDERSTANDING, answer_rank,
             QWEN_EVAL + "test_qwen_vlrewardbench.py"),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "genai_image_unifiedreward_qwen.txt", ("prompt",), image_rank,
             QWEN_EVAL + "test_qwen_genAI_bench_image.py", generation=G512),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "genai_video_unifiedreward.txt", ("prompt",), video_rank,
             QWEN_EVAL + "test_qwen_genAI_bench_video.py", generation=G1024, media="first", note_line=True)),
    aliases=("unifiedreward-qwen",),
    notes=("the Qwen scripts pass no sampling settings (the checkpoint's generation_config decides); the harness "
           "decodes greedily",))

UR2_FAMILY = Family(
    "unifiedreward-2.0", "UnifiedReward-2.0 (Qwen2.5-VL, Qwen3-VL, Qwen3.5)", "qwen", r"unifiedreward-2\.0-",
    ("qwen2_5_vl", "qwen3_vl", "qwen3_5"),
    tuple(_qwen(s, line="2.0-qwen-") for s in ("3b", "7b", "32b", "72b"))
    + tuple(_qwen(s, line="2.0-qwen3vl-", arch="Qwen3-VL", model_type="qwen3_vl") for s in ("2b", "4b", "8b", "32b"))
    + (_qwen("9b", line="2.0-qwen35-", arch="Qwen3.5", model_type="qwen3_5"),),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "vlrewardbench_unifiedreward.txt", UNDERSTANDING, answer_rank,
             VLLM_EVAL + "test_qwen_vlreward_bench.py"),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "genai_image_unifiedreward_qwen.txt", ("prompt",), image_rank,
             VLLM_EVAL + "test_qwen_genai_image.py"),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "genai_video_unifiedreward.txt", ("prompt",), video_rank,
             VLLM_EVAL + "test_qwen_genai_video.py", media="first", frames=8, note_line=True),
     _prompt(IMAGE_GENERATION_PAIR_SCORE, "ur2_pair_score_image_generation.txt", ("prompt",),
             partial(fp.dimension_pair_scores, dimensions=("Alignment", "Coherence", "Style"), noun="Image"),
             UR2 + "pair_score_image_generation.py"),
     _prompt(VIDEO_GENERATION_PAIR_SCORE, "ur2_pair_score_video_generation.txt", ("prompt",),
             partial(fp.dimension_pair_scores, dimensions=("Alignment", "Coherence", "Style"), noun="Video"),
             UR2 + "pair_score_video_generation.py", media="first", frames=8),
     _prompt(IMAGE_GENERATION_POINT_SCORE, "ur2_point_score_image_generation.txt", ("prompt",),
             partial(fp.dimension_scores, dimensions=("Alignment", "Coherence", "Style"), low=1, high=5),
             UR2 + "point_score_ACS_image_generation.py"),
     _prompt(VIDEO_GENERATION_POINT_SCORE, "ur2_point_score_video_generation.txt", ("prompt",),
             partial(fp.dimension_scores, dimensions=("Alignment", "Physics", "Style"), low=1, high=5),
             UR2 + "point_score_APS_video_generation.py", media="first", frames=16)),
    notes=(VLLM_NOTE,
           "its pairwise-rank prompts are UnifiedReward-qwen's, byte for byte, so a 2.0 judge runs the tasks' "
           "unifiedreward-qwen protocols; the vLLM scripts differ from those in sending videos as 8 JPEG frames, "
           "leaving human ties out of the denominators and allowing 4,096 new tokens",
           "2.0-qwen35-9b (Qwen3.5) is served with enable_thinking=false (vllm_server.sh); the hf adapter does "
           "not load qwen3_5 checkpoints"))

THINK = Family(
    "unifiedreward-think", "UnifiedReward-Think (Qwen2.5-VL)", "qwen", r"unifiedreward-think-qwen-", ("qwen2_5_vl",),
    (_qwen("7b", line="Think-qwen-"),),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "think_cot_image_understanding.txt", UNDERSTANDING, think_answer,
             THINK_EVAL + "VL-RewardBench/test_qwen25_cot_vl_rewardbench.py", mode="cot", overrides=True),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "think_cot_image_generation.txt", ("prompt",), think_image,
             THINK_EVAL + "GenAI-Bench-Image/test_qwen25_cot_genAI_bench_image.py", mode="cot", generation=G512,
             resize=(512, 512), overrides=True),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "think_cot_video_generation.txt", ("prompt",), think_video,
             THINK_EVAL + "GenAI-Bench-Video/test_qwen25_cot_genAI_bench_video.py", mode="cot", generation=G1024,
             media="first", overrides=True),
     _prompt(VIDEO_UNDERSTANDING_PAIR_RANK, "think_cot_video_understanding.txt", UNDERSTANDING, think_answer,
             "UnifiedReward-Think/inference_qwen/video_understanding/qwen_infer_cot_video_understanding.py",
             mode="cot", generation=G1024, media="first"),
     _prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "vlrewardbench_unifiedreward.txt", UNDERSTANDING, answer_rank,
             THINK_EVAL + "VL-RewardBench/test_qwen25_answer_vl_rewardbench.py", mode="answer"),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "genai_image_unifiedreward_qwen.txt", ("prompt",), image_rank,
             THINK_EVAL + "GenAI-Bench-Image/test_qwen25_answer_genAI_bench_image.py", mode="answer",
             generation=G512, resize=(512, 512), overrides=True),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "genai_video_unifiedreward.txt", ("prompt",), video_rank,
             THINK_EVAL + "GenAI-Bench-Video/test_qwen25_answer_genAI_bench_video.py", mode="answer",
             generation=G1024, media="first", note_line=True)),
    modes=("cot", "answer"),
    notes=("the scripts' verdict rule is kept by the tasks' script protocols: the gold phrase anywhere in the reply, "
           "<think> included; strict reads the <answer> tag only",))

THINK_LLAVA = Family(
    "unifiedreward-think-llava", "UnifiedReward-Think (LLaVA-OneVision, converted)", "llava",
    r"unifiedreward-think-\d+(\.\d+)?b", ("llava_onevision",),
    (Checkpoint("CodeGoat24/UnifiedReward-Think-7b", "LLaVA-OneVision-7B", "llava_onevision"),),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "think_cot_image_understanding.txt", UNDERSTANDING, think_answer,
             THINK_EVAL + "VL-RewardBench/test_llava_cot_vl_rewardbench.py", mode="cot", overrides=True),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "think_cot_image_generation_llava.txt", ("prompt",), think_image,
             THINK_EVAL + "GenAI-Bench-Image/test_llava_cot_genAI_bench_image.py", mode="cot", resize=(512, 512),
             overrides=True),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "think_cot_video_generation.txt", ("prompt",), think_video,
             THINK_EVAL + "GenAI-Bench-Video/test_llava_cot_genAI_bench_video.py", mode="cot", media="first",
             frames=8, resize=(512, 512), overrides=True),
     _prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "vlrewardbench_unifiedreward.txt", UNDERSTANDING, answer_rank,
             THINK_EVAL + "VL-RewardBench/test_llava_answer_vl_rewardbench.py", mode="answer"),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "think_answer_image_generation_llava.txt", ("prompt",), image_rank,
             THINK_EVAL + "GenAI-Bench-Image/test_llava_answer_genAI_bench_image.py", mode="answer",
             resize=(512, 512), overrides=True),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "genai_video_unifiedreward.txt", ("prompt",), video_rank,
             THINK_EVAL + "VideoGen-RewardBench/test_llava_answer_videogen_reward_bench.py", mode="answer",
             media="first", frames=8, resize=(512, 512), note_line=True, overrides=True)),
    modes=("cot", "answer"),
    notes=("the image-generation scripts (cot and answer) look for 'Image 1 is better than Image 2' although the "
           "prompts ask for 'Image 1 is better'; the unifiedreward protocol keeps that rule",
           "test_llava_cot_genAI_bench_video.py swaps the gold answer but sends the videos unswapped; the "
           "unifiedreward protocol swaps both"))

THINK_QWEN3 = Family(
    "unifiedreward-think-qwen3", "UnifiedReward-Think (Qwen3-VL, Qwen3.5)", "qwen", r"unifiedreward-think-qwen3(vl|5)",
    ("qwen3_vl", "qwen3_5"),
    tuple(_qwen(s, line="Think-qwen3vl-", arch="Qwen3-VL", model_type="qwen3_vl") for s in ("2b", "4b", "8b", "32b"))
    + (_qwen("9b", line="Think-qwen35-", arch="Qwen3.5", model_type="qwen3_5"),),
    (_prompt(IMAGE_UNDERSTANDING_PAIR_RANK, "think_qwen3vl_image_understanding.txt", UNDERSTANDING, think_answer,
             THINK_QWEN3 + "test_qwen3vl_vlreward_bench.py", overrides=True),
     _prompt(IMAGE_GENERATION_PAIR_RANK, "think_qwen3vl_image_generation.txt", ("prompt",), think_image,
             THINK_QWEN3 + "test_qwen3vl_genai_image.py", overrides=True),
     _prompt(VIDEO_GENERATION_PAIR_RANK, "think_qwen3vl_video_generation.txt", ("prompt",), think_video,
             THINK_QWEN3 + "test_qwen3vl_genai_video.py", media="first", frames=8, overrides=True),
     _prompt(VIDEO_UNDERSTANDING_PAIR_RANK, "think_qwen3vl_video_understanding.txt", UNDERSTANDING, think_answer,
             "UnifiedReward-Think/inference_qwen/UnifiedReward-Think-qwen3-inference/"
             "qwen3_infer_cot_video_understanding.py", media="first", frames=8)),
    notes=(VLLM_NOTE, "the vLLM scripts leave human ties out of their denominators (accuracy_without_ties is "
                      "their number)"))

EDIT_FAMILY = Family(
    "unifiedreward-edit", "UnifiedReward-Edit (Qwen2.5-VL, Qwen3-VL, Qwen3.5)", "qwen", r"unifiedreward-edit-",
    ("qwen2_5_vl", "qwen3_vl", "qwen3_5"),
    tuple(_qwen(s, line="Edit-qwen-") for s in ("3b", "7b", "32b", "72b"))
    + tuple(_qwen(s, line="Edit-qwen3vl-", arch="Qwen3-VL", model_type="qwen3_vl") for s in ("2b", "4b", "8b", "32b"))
    + (_qwen("9b", line="Edit-qwen35-", arch="Qwen3.5", model_type="qwen3_5"),),
    (_prompt(IMAGE_EDIT_PAIR_RANK, "edit_pair_rank.txt", ("instruction",), fp.edit_pair_rank,
             EDIT + "edit_pairwise_rank.py"),
     _prompt(IMAGE_EDIT_PAIR_SCORE, "edit_pair_score.txt", ("instruction",), fp.edit_pair_scores,
             EDIT + "edit_paiwise_score.py"),
     _prompt(IMAGE_EDIT_POINT_INSTRUCTION, "edit_point_instruction_following.txt", ("instruction",),
             partial(fp.score_list, dimensions=("editing_success", "overediting"), low=0, high=25),
             EDIT + "edit_pointwise_instruction_following.py"),
     _prompt(IMAGE_EDIT_POINT_QUALITY, "edit_point_quality.txt", (),
             partial(fp.score_list, dimensions=("naturalness", "artifacts"), low=0, high=25),
             EDIT + "edit_pointwise_quality.py")),
    inherits="unifiedreward-2.0",
    notes=(VLLM_NOTE, "text-to-image prompts are 2.0's ('T2I inference code is unchanged', README)",
           "the pairwise-rank prompt names no output format; replies are read as the authors' Pref-GRPO reward "
           "reads them ('Edited image N is better')"))

FAMILIES: dict[str, Family] = {f.name: f for f in (LLAVA, QWEN, UR2_FAMILY, THINK, THINK_LLAVA, THINK_QWEN3,
                                                   EDIT_FAMILY)}
ALIASES: dict[str, str] = {alias: f.name for f in FAMILIES.values() for alias in f.aliases}


# ---- lookups -------------------------------------------------------------------------------------------------

def resolve(text: str) -> FamilyRef:
    """`name[/mode]` (a name or an alias) -> the family and mode; an unknown one is a UsageError listing the valid."""
    name, _, mode = text.strip().partition("/")
    family = FAMILIES.get(ALIASES.get(name.lower(), name.lower()))
    if family is None:
        raise UsageError(f"unknown judge family {did_you_mean(name, sorted([*FAMILIES, *ALIASES]))}")
    if not mode:
        return FamilyRef(family, family.default_mode)
    if mode not in family.modes:
        modes = ", ".join(m for m in family.modes if m) or "none"
        raise UsageError(f"judge family {family.name!r} has no mode {mode!r}; its modes: {modes}")
    return FamilyRef(family, mode)


def canonical(text: str) -> str:
    """The recorded form of a `family=` value: aliases resolved, a default mode dropped."""
    return str(resolve(text))


def _ref(family: str | None) -> FamilyRef | None:
    if not family:
        return None
    try:
        return resolve(family)
    except UsageError:  # a judge of no registered family (a third-party adapter's own name)
        return None


def protocol_keys(family: str | None) -> tuple[str, ...]:
    """The `Task.family_protocols` keys a judge of `family` is looked up under, most specific first."""
    if not family:
        return ()
    ref = _ref(family)
    if ref is None:
        return (family,)
    keys = [family, ref.family.name, ref.family.script_family]
    return tuple(dict.fromkeys(keys))


def task_prompt(family: str | None, kind: str) -> FamilyPrompt | None:
    """The template a judge of `family` is sent instead of a task's own UnifiedReward template for `kind` (None: the
    task's own). A task protocol that renders a UnifiedReward prompt of `kind` asks this, and reads the reply with
    the returned prompt's `parse` where the protocol parses for itself (see docs/judges.md)."""
    ref = _ref(family)
    if ref is None:
        return None
    own = ref.family.own(kind, ref.mode)
    return own if own is not None and own.overrides else None


def _names(pretrained: str) -> list[str]:
    """Candidate checkpoint names in a `pretrained=` value, most specific first: path components from the end, a hub
    cache directory's `models--owner--name` read as owner/name."""
    names: list[str] = []
    for part in reversed(PurePath(pretrained.replace("\\", "/")).parts):
        names.extend(reversed(part.split("--")))
    return [n for n in names if n]


def family_from_name(pretrained: str) -> tuple[Family, str] | None:
    """(family, matched name) when a component of `pretrained` names a UnifiedReward checkpoint line."""
    for name in _names(pretrained):
        for family in FAMILIES.values():
            if family.name_pattern and re.match(family.name_pattern, name, re.IGNORECASE):
                return family, name
    return None


def detect(pretrained: str, model_type: str | None, config: Mapping[str, Any] | None = None,
           family: str | None = None) -> Detection:
    """The judge family of a checkpoint: `family=` when given; else the checkpoint's name (`pretrained`, or the hub id
    a converted checkpoint records as `converted_from` in its config.json); else, for a local model, its
    architecture's script family ("llava" / "qwen"). A name whose family cannot have this architecture is an error
    (pass family=). None for a served model whose name says nothing."""
    if family:
        return Detection(canonical(family), "family= argument")
    converted = (config or {}).get("converted_from")
    for where, value in (("checkpoint name", pretrained), ("config converted_from", converted)):
        found = family_from_name(value) if isinstance(value, str) and value else None
        if found is None:
            continue
        named, name = found
        if model_type is not None and model_type not in named.model_types:
            raise UsageError(f"pretrained={pretrained}: the name {name!r} is a {named.title} checkpoint, which is "
                             f"{'/'.join(named.model_types)}, but the checkpoint is {model_type!r}; pass family= to "
                             f"say which family it is ({', '.join(FAMILIES)})")
        return Detection(named.name, f"{where} {name!r}")
    if model_type is None:
        return Detection(None, None)
    script = ARCHITECTURE_FAMILY.get(model_type)
    return Detection(script, f"architecture {model_type!r} (the checkpoint's name names no UnifiedReward family)"
                     if script else None)
