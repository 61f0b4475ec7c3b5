"""GenAI-Bench (paper Table 5): `genai_bench_image`, `genai_bench_video`, `genai_bench_edit`.

Data: HF `TIGER-Lab/GenAI-Bench`, configs image_generation / video_generation / image_edition, split
`test_v1` (the benchmark's leaderboard split: 1,735 / 1,069 / 919 rows; default) or `test` (what the
UnifiedReward scripts load). Or `--data-dir DIR` holding `<config>.jsonl`, one row per item with `idx`,
the text fields (`prompt`, or `source_prompt`/`target_prompt`/`instruct_prompt`), `vote_type`, and the
media as paths relative to DIR: `left_image`/`right_image`, `left_video`/`right_video`, or
`source_image`/`left_output_image`/`right_output_image`. Rows without media paths still replay
(replay never opens media); any other judge counts each such row as a media error. `--split` names
which split the directory holds. Sample ids are `idx` (the row position on the hub).

Protocols:
- `genai-arena`: the benchmark's own pairwise template (`[[A>B]]` verdicts), media in the template's
  slots (videos as 16 frames, `np.arange(0, n, n/16)`), model A = left; the first `\\[\\[.*\\]\\]` is the
  vote; 4-way accuracy as the leaderboard computes it (no vote = wrong).
- `unifiedreward` (image, video): the paper scripts' prompts; images resized to 512x512; videos as 8
  frames (evenly spaced, both ends included) at 512x512. Image: no swap, correct iff the gold phrase is
  in the reply. Video: the answer order is swapped by a `random.Random(seed)` stream, one draw per item
  in dataset order (the script draws from an unseeded stream); the reply is read as the script reads
  it: "Video 1 is better" -> A, else "Video 2 is better" -> B, else a tie. Metrics tau and diff.
- `unifiedreward-qwen` (image, video; chosen for a Qwen-family judge asked for `unifiedreward`): the
  authors' Qwen scripts `test_qwen_genAI_bench_{image,video}.py`: image 1, image 2 (native size; the
  image prompt's wording is "Image 1 is better." where the LLaVA script has "... than Image 2.") or the two
  videos as native video input (2 frames a second, qwen_vl_utils), then the text; a human tie is not asked
  and counts as wrong; the order is swapped by the seeded stream; "<Noun> 1 is better" -> A, else
  "<Noun> 2 is better" -> B; max_new_tokens 512 (image) / 1,024 (video); metrics accuracy and
  accuracy_without_ties, the two numbers the scripts print.
- `strict` (default for image and video): the paper's prompt, answer order from (seed, id) so about
  half are swapped, the three-way parser of tasks.pairwise (a reply naming several verdicts or none is
  invalid and wrong). A human tie (tievote or bothbad_vote) is right only when the judge says the two
  are equally good. Metrics tau and diff.
- `unifiedreward-edit` (edit): UnifiedReward-Edit's pairwise-rank prompt (`reward.families`, CodeGoat24/UnifiedReward
  `UnifiedReward-Edit/edit_pairwise_rank.py`): the source image, edited image 1, edited image 2, then the text with
  the instruction; the order from (seed, id); the reply read as the authors' reward code reads it ("Edited image N
  is better"; a stated "Both images are equally good" is a tie; none or several: invalid). Metrics tau and diff,
  as `strict`. Ours: the authors publish no GenAI-Bench editing run of their Edit models.
- `scores`: for scalar scorers (PickScore, HPSv2, ...): each candidate scored alone with the caption
  (editing: the target prompt; videos as 8 evenly spaced frames), m = score(left) - score(right);
  metrics accuracy_with_ties (VideoAlign's algorithm; also the calibrated variant) and
  accuracy_without_ties.

Judge families (`reward.families`): a judge whose family has its own template for the kind (UnifiedReward-Think's
chain-of-thought prompts) is sent it in place of the UnifiedReward prompt by `strict`, `unifiedreward` and
`unifiedreward-qwen`; `unifiedreward-qwen` then sends the media and generates as that family's script does (e.g.
Think-qwen3's 8 frames a video), the script protocols keep their verdict rules, and `strict` reads the reply with
the family's parser. Each sample's outcome names the family template (`template`).

`--orders both` (every protocol but `scores`): each item is also judged with its order decision inverted (the
runner's `TaskConfig.flip_order`), `genai-arena` with the right candidate as model A (its vote then names the shown
order; `correct` reads it against the shown order's label) and the image `unifiedreward` with the right image first:
both protocols only ever show the dataset's order, a named deviation (`both_orders_deviation`). Verdicts are read
back as the response picked by `arena_view` (the vote) or `tasks.pairwise.three_way_view`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

from harness.records import Generation, Judgment, MediaKind, MediaRef, Part, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict, signed_view
from harness.task import DataSpec, HubLayout, IdRule, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .pairwise import (ARENA_CORRECT, NO_VERDICT, QWEN_IMAGE_GENERATION, QWEN_MAX_FRAMES, QWEN_VIDEO_GENERATION,
                       VOTE_TO_H, arena_vote, choices_draw, family_three_way, margin_outcome, qwen_script_verdict,
                       score_accuracy,
                       score_margins, score_script_accuracy, score_three_way, scorer_requests, seeded_swap, shown_h,
                       three_way_choice, three_way_view)
from reward.families import (FAMILIES, IMAGE_EDIT_PAIR_RANK, IMAGE_GENERATION_PAIR_RANK, VIDEO_GENERATION_PAIR_RANK,
                              FamilyPrompt, task_prompt)

from .templates import load_template, render

HF_DATASET = "TIGER-Lab/GenAI-Bench"
# No commit of the hub repo could be verified from this machine; the loader records the commit it
# resolved (results.json `dataset.revision`) so every run can be repeated exactly.
HF_REVISION: str | None = None

GENERATION = Generation(max_new_tokens=4096)  # greedy; the paper scripts allow 4,096 new tokens


@dataclass(frozen=True)
class Spec:
    """What differs between the three GenAI-Bench configs."""

    config: str
    kind: MediaKind
    text_fields: tuple[str, ...]
    left: str
    right: str
    context_media: tuple[str, ...]  # shown before the candidates (the source image of an edit)
    caption_field: str  # what a scalar scorer pairs with each candidate
    arena_template: str
    ur_template: str | None
    noun: str


def _protocols(spec: Spec) -> dict[str, ProtocolSpec]:
    protocols = {"genai-arena": ProtocolSpec("genai-arena", "1", "GenAI-Bench's pairwise template and [[A>B]] "
                                             "parser; 4-way accuracy", deviations=("greedy decoding",))}
    if spec.ur_template is not None:
        ur_deviations = ("video: the order stream is seeded (random.Random(seed)); the script's is unseeded",) \
            if spec.kind == "video" else ()
        protocols["unifiedreward"] = ProtocolSpec(
            "unifiedreward", "1", "the paper scripts' prompt and gold-phrase rule; tau and diff",
            deviations=ur_deviations)
        protocols["unifiedreward-qwen"] = ProtocolSpec(
            "unifiedreward-qwen", "1", "the authors' Qwen script (test_qwen_genAI_bench_%s.py): its prompt, native "
            "size, human ties not asked and counted wrong; accuracy and accuracy_without_ties" % spec.kind,
            deviations=("the order stream is seeded (random.Random(seed), one draw per item); the script's is "
                        "unseeded and draws for non-tie items only",
                        "greedy decoding; the script passes no sampling settings (the checkpoint's "
                        "generation_config decides)") + (
                ("videos sampled 2 frames a second as qwen_vl_utils 0.0.10, resized with PIL's bicubic "
                 "instead of torchvision's",) if spec.kind == "video" else ()))
        protocols["strict"] = ProtocolSpec(
            "strict", "1", "the paper's prompt, seeded per-sample order swap, three-way parser; invalid = wrong",
            deviations=("answer order from (seed, id)",))
    protocols["scores"] = ProtocolSpec("scores", "1", "scalar scorer: m = score(left) - score(right); accuracy "
                                       "with ties (VideoAlign) and without ties")
    return protocols


class GenAIBench(Task):
    """Base of the three GenAI-Bench tasks (registered below)."""

    generation = {"strict": GENERATION}

    #: A Qwen-family judge asked for `unifiedreward` gets the authors' Qwen script.
    family_protocols = {"qwen": {"unifiedreward": "unifiedreward-qwen"}}

    spec: ClassVar[Spec]
    version = "1"
    splits = ("test_v1", "test")
    scorer_protocol = "scores"
    both_orders = True

    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        """The response a record picks: the arena's vote, or a three-way verdict."""
        return arena_view(outcome) if "vote" in outcome else three_way_view(outcome)

    def both_orders_deviation(self, cfg: TaskConfig) -> str | None:
        if cfg.protocol == "genai-arena":
            return "--orders both: also judged in the order the benchmark never shows (the right candidate as model A)"
        if cfg.protocol == "unifiedreward" and self.spec.kind == "image":
            return "--orders both: also judged in the order the paper script never shows (the right image first)"
        return None  # the other protocols already show either order (seeded)

    # ---- rows -> samples -----------------------------------------------------------------------------
    def sample(self, row: Row) -> Sample:
        vote = row.fields.get("vote_type")
        missing = [f for f in self.spec.text_fields if not isinstance(row.fields.get(f), str)]
        if vote not in VOTE_TO_H:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: unknown vote label {vote!r} (expected one "
                                                         f"of {', '.join(VOTE_TO_H)})")
        if missing:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: missing text field(s) {', '.join(missing)}")
        data = {f: row.fields[f] for f in self.spec.text_fields}
        data.update(vote_type=vote, h=VOTE_TO_H[vote], media=dict(row.media))
        return Sample(row.id, row.index, data, tuple(row.media.values()))

    # ---- requests ---------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        media: dict[str, MediaRef] = d["media"]
        if cfg.protocol == "scores":
            prepared = {f: dataclasses.replace(m, **_frames(m, 8, "linspace")) for f, m in media.items()}
            return scorer_requests(sample, d[self.spec.caption_field],
                                   [("A", prepared[self.spec.left]), ("B", prepared[self.spec.right])])
        if cfg.protocol == "genai-arena":
            prepared = {f: dataclasses.replace(m, **_frames(m, 16, "arange")) for f, m in media.items()}
            if cfg.flip_order:  # --orders both: the right candidate in model A's slot
                left, right = self.spec.left, self.spec.right
                prepared[left], prepared[right] = prepared[right], prepared[left]
            parts = render_slots(load_template(self.spec.arena_template), {f: d[f] for f in self.spec.text_fields},
                                 prepared)
            return [Request(sample.id, sample.id, parts, GENERATION, meta={"swapped": cfg.flip_order})]
        swapped = self._swapped(sample, cfg)
        first, second = (self.spec.right, self.spec.left) if swapped else (self.spec.left, self.spec.right)
        if cfg.protocol == "unifiedreward-edit":
            prompt = _edit_prompt(cfg)
            parts = prompt.render({"instruction": d["instruct_prompt"]},
                                  (media["source_image"], media[first], media[second]))
            return [Request(sample.id, sample.id, parts, prompt.generation, meta={"swapped": swapped})]
        own = self._family_prompt(cfg)
        if cfg.protocol == "unifiedreward-qwen":
            if own is not None:
                return self._family_requests(sample, own, media[first], media[second], swapped)
            return self._qwen_requests(sample, media[first], media[second], swapped)
        shown = [dataclasses.replace(media[f], resize=(512, 512), **_frames(media[f], 8, "linspace"))
                 for f in (first, second)]
        template = load_template(self.spec.ur_template)  # type: ignore[arg-type]
        if own is not None:  # the family's template; strict keeps its own media and generation settings
            parts: tuple[Part, ...] = own.render({"prompt": d["prompt"]}, shown)
        elif self.spec.kind == "video":  # the note line is ours; every frame precedes the text
            parts = (*shown, template.split("\n", 1)[1].format(prompt=d["prompt"]))
        else:
            parts = render(template, {"prompt": d["prompt"]}, shown)
        generation = own.generation if own is not None and cfg.protocol == "unifiedreward" else GENERATION
        return [Request(sample.id, sample.id, parts, generation, meta={"swapped": swapped})]

    def _family_prompt(self, cfg: TaskConfig) -> FamilyPrompt | None:
        """The judge family's own template for this task's kind, if it has one (`reward.families.task_prompt`)."""
        return task_prompt(cfg.family, FAMILY_KIND[self.spec.kind]) if self.spec.ur_template else None

    def _family_requests(self, sample: Sample, prompt: FamilyPrompt, first: MediaRef, second: MediaRef,
                         swapped: bool) -> list[Request]:
        """`unifiedreward-qwen`'s procedure (a human tie is not asked) with a judge family's own template, the media
        and generation settings as that family's script sends them."""
        if sample.data["h"] == 0:
            return []
        shown = [prompt.media_as_sent(m, QWEN_MAX_FRAMES) for m in (first, second)]
        return [Request(sample.id, sample.id, prompt.render({"prompt": sample.data["prompt"]}, shown),
                        prompt.generation, meta={"swapped": swapped})]

    def _qwen_requests(self, sample: Sample, first: MediaRef, second: MediaRef, swapped: bool) -> list[Request]:
        """test_qwen_genAI_bench_{image,video}.py: a human tie is not asked; images at native size, videos as
        native video input at 2 frames a second; image first, image second, then the text."""
        if sample.data["h"] == 0:
            return []
        if self.spec.kind == "video":
            shown = [dataclasses.replace(m, frames=QWEN_MAX_FRAMES, sampling="qwen-fps2") for m in (first, second)]
            text = load_template(self.spec.ur_template).split("\n", 1)[1]  # type: ignore[arg-type]
            parts: tuple[Part, ...] = (*shown, text.format(prompt=sample.data["prompt"]))
            generation = QWEN_VIDEO_GENERATION
        else:
            parts = render(load_template("genai_image_unifiedreward_qwen.txt"), {"prompt": sample.data["prompt"]},
                           (first, second))
            generation = QWEN_IMAGE_GENERATION
        return [Request(sample.id, sample.id, parts, generation, meta={"swapped": swapped})]

    def _swapped(self, sample: Sample, cfg: TaskConfig) -> bool:
        """True: the pair is shown right (B) first; the protocol's decision, inverted for the other order."""
        if cfg.protocol in ("strict", "unifiedreward-edit"):
            decision = seeded_swap(cfg.seed, sample.id)
        elif self.spec.kind == "video" or cfg.protocol == "unifiedreward-qwen":  # the scripts' stream, seeded
            decision = choices_draw(cfg.seed, sample.index)
        else:
            decision = False
        return decision != cfg.flip_order

    # ---- parse ------------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        h = sample.data["h"]
        if cfg.protocol == "scores":
            status, outcome, reason = margin_outcome(exchanges, h)
            return Parsed(status, outcome, reason)
        vote_type = sample.data["vote_type"]
        if not exchanges:  # unifiedreward-qwen: the script skips a human tie and counts it wrong
            return Parsed("ok", {"vote_type": vote_type, "h": h, "asked": False, "correct": False, "verdict": None,
                                 "swapped": self._swapped(sample, cfg)})
        request, reply = exchanges[0]
        text = reply.text or ""
        swapped = request.meta["swapped"]
        if cfg.protocol == "genai-arena":
            vote = arena_vote(text)
            shown_vote_type = SHOWN_VOTE[vote_type] if swapped else vote_type  # the vote names shown positions
            outcome = {"vote_type": vote_type, "h": h, "vote": vote, "correct": vote in ARENA_CORRECT[shown_vote_type],
                       "swapped": swapped}
            return Parsed("ok" if vote else "invalid", outcome, None if vote else "no [[...]] verdict in the reply")
        gold = shown_h(h, swapped)
        outcome = {"vote_type": vote_type, "h": h, "swapped": swapped}
        own = _edit_prompt(cfg) if cfg.protocol == "unifiedreward-edit" else self._family_prompt(cfg)
        if own is not None:
            outcome["template"] = own.file
        if cfg.protocol == "unifiedreward-edit" or (own is not None and cfg.protocol == "strict"):
            return family_three_way(own, text, gold, outcome)
        if cfg.protocol == "unifiedreward":
            return self._parse_unifiedreward(text, gold, outcome)
        if cfg.protocol == "unifiedreward-qwen":
            predicted = qwen_script_verdict(text, self.spec.noun.title())
            outcome.update(asked=True, verdict=predicted, correct=predicted == gold)
            if predicted == 0:
                outcome[NO_VERDICT] = True
                return Parsed("invalid", outcome, f"no '{self.spec.noun.title()} N is better' in the reply (wrong, "
                                                  f"as the script counts it)")
            return Parsed("ok", outcome)
        choice, reason = three_way_choice(text, self.spec.noun)
        signed = {1: 1, 2: -1, 0: 0}.get(choice)  # type: ignore[arg-type]
        outcome.update(verdict=signed, correct=signed == gold)
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    def _parse_unifiedreward(self, text: str, gold: int, outcome: dict[str, Any]) -> Parsed:
        noun = self.spec.noun.title()
        if self.spec.kind == "image":  # correct iff the gold phrase is a substring
            phrases = {1: f"{noun} 1 is better than {noun} 2", -1: f"{noun} 2 is better than {noun} 1",
                       0: "Both images are equally good"}
            named = [v for v, p in phrases.items() if p in text]
            outcome.update(verdict=named[0] if len(named) == 1 else None, correct=phrases[gold] in text)
            if not named:
                return Parsed("invalid", outcome, "none of the three conclusion phrases in the reply")
            return Parsed("ok", outcome)
        # The video script: "Video 1 is better" -> A, else "Video 2 is better" -> B, else a tie.
        predicted = 1 if "Video 1 is better" in text else -1 if "Video 2 is better" in text else 0
        outcome.update(verdict=predicted, correct=predicted == gold)
        if predicted == 0 and "equally good" not in text:
            outcome[NO_VERDICT] = True
            return Parsed("invalid", outcome, "no 'Video N is better': read as a tie, as the paper script does")
        return Parsed("ok", outcome)

    # ---- score ------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        if cfg.protocol == "genai-arena":
            return score_accuracy(judgments)
        if cfg.protocol == "scores":
            return score_margins(judgments)
        if cfg.protocol == "unifiedreward-qwen":
            return score_script_accuracy(judgments)
        return score_three_way(judgments)


#: The judge-family template kind each GenAI-Bench config's UnifiedReward prompt is (`reward.families`).
FAMILY_KIND = {"image": IMAGE_GENERATION_PAIR_RANK, "video": VIDEO_GENERATION_PAIR_RANK}

#: A human vote as seen with the pair shown swapped (right as model A).
SHOWN_VOTE = {"leftvote": "rightvote", "rightvote": "leftvote", "tievote": "tievote", "bothbad_vote": "bothbad_vote"}
#: The arena vote as a three-way verdict of the shown order: model A better (+1), model B (-1), a tie (0). The three
#: kinds of tie are one tie here (which response, as `harness agreement` compares); the task's own accuracy keeps
#: them apart. Any other vote (`[[A]]`, `[[A>]]`) is no verdict.
ARENA_SIGNED = {"[[A>B]]": 1, "[[A>>B]]": 1, "[[B>A]]": -1, "[[B>>A]]": -1, "[[A=B]]": 0, "[[A=B=Good]]": 0,
                "[[A=B=Bad]]": 0}


def arena_view(outcome: Mapping[str, Any]) -> OrderVerdict:
    """A `genai-arena` outcome (`vote` as shown, `h`, `swapped`) as the response it picks."""
    vote = outcome.get("vote")
    verdict = ARENA_SIGNED.get(vote) if isinstance(vote, str) else None
    return signed_view({"verdict": verdict, "h": outcome.get("h"), "swapped": outcome.get("swapped")})

EDIT_PROTOCOL = ProtocolSpec(
    "unifiedreward-edit", "1",
    "UnifiedReward-Edit's pairwise-rank prompt (source, edited 1, edited 2, then the instruction), seeded per-sample "
    "order, its reply read as the authors' reward code reads it; tau and diff",
    deviations=("ours: the authors publish no GenAI-Bench editing evaluation of UnifiedReward-Edit",
                "the prompt names no tie answer: a human tie is right only when the judge says both are equally "
                "good"))


def _edit_prompt(cfg: TaskConfig) -> FamilyPrompt:
    """UnifiedReward-Edit's pairwise-rank template, or the judge family's own for that kind."""
    return task_prompt(cfg.family, IMAGE_EDIT_PAIR_RANK) or FAMILIES["unifiedreward-edit"].prompt(IMAGE_EDIT_PAIR_RANK)


def _frames(ref: MediaRef, n: int, rule: str) -> dict[str, Any]:
    return {"frames": n, "sampling": rule} if ref.kind == "video" else {}


def render_slots(template: str, texts: Mapping[str, str], media: Mapping[str, MediaRef]) -> tuple[Part, ...]:
    """Fill a GenAI-Bench template: `<field>` text slots are replaced, then the text is cut at each
    `<field>` media slot in the order they appear (as the benchmark's `run_pairwise_example` does)."""
    for field, value in texts.items():
        template = template.replace(f"<{field}>", value)
    slots = sorted((template.find(f"<{f}>"), f) for f in media if f"<{f}>" in template)
    parts: list[Part] = []
    rest = template
    for _, field in slots:
        before, rest = rest.split(f"<{field}>", 1)
        if before:
            parts.append(before)
        parts.append(media[field])
    if rest:
        parts.append(rest)
    return tuple(parts)


def _data(spec: Spec) -> DataSpec:
    """The hub configs embed images and link videos; a local copy holds paths relative to --data-dir."""
    kinds: dict[str, MediaKind] = {f: spec.kind if f != "source_image" else "image"
                                   for f in (*spec.context_media, spec.left, spec.right)}
    images = tuple(f for f, kind in kinds.items() if kind == "image")
    return DataSpec(
        hub=HubLayout(HF_DATASET, HF_REVISION, spec.config, image_columns=images,
                      url_columns=tuple(f for f in kinds if f not in images), ids=IdRule((), fallback="{index}")),
        local=LocalLayout(f"{spec.config}.jsonl", kinds, IdRule(("idx",), fallback="{index}"),
                          layout=f"one row per item: idx, {', '.join(spec.text_fields)}, vote_type, media paths"))


IMAGE = Spec("image_generation", "image", ("prompt",), "left_image", "right_image", (), "prompt",
             "genai_arena_image_generation.txt", "genai_image_unifiedreward.txt", "image")
VIDEO = Spec("video_generation", "video", ("prompt",), "left_video", "right_video", (), "prompt",
             "genai_arena_video_generation.txt", "genai_video_unifiedreward.txt", "video")
EDIT = Spec("image_edition", "image", ("source_prompt", "target_prompt", "instruct_prompt"), "left_output_image",
            "right_output_image", ("source_image",), "target_prompt", "genai_arena_image_edition.txt", None, "image")


@task("genai_bench_image")
class GenAIBenchImage(GenAIBench):
    spec = IMAGE
    data = _data(IMAGE)
    protocols = _protocols(IMAGE)
    default_protocol = "strict"


@task("genai_bench_video")
class GenAIBenchVideo(GenAIBench):
    spec = VIDEO
    data = _data(VIDEO)
    protocols = _protocols(VIDEO)
    default_protocol = "strict"


@task("genai_bench_edit")
class GenAIBenchEdit(GenAIBench):
    """Image editing has no UnifiedReward prompt: the benchmark's own protocol is the default."""

    spec = EDIT
    data = _data(EDIT)
    protocols = {**_protocols(EDIT), "unifiedreward-edit": EDIT_PROTOCOL}
    default_protocol = "genai-arena"
