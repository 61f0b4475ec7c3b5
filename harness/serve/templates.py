"""The prompt templates the service sends: one per endpoint kind (pointwise / pairwise) and modality (image /
video), taken from the judge family's own templates (`reward.families`) by name.

By default each slot gets the family's template for its task kind:

| slot | task kind |
|---|---|
| pointwise, image | `image_generation_point_score` |
| pointwise, video | `video_generation_point_score` |
| pairwise, image | `image_generation_pair_rank` |
| pairwise, video | `video_generation_pair_rank` |

`--template NAME` (repeatable, or comma-separated) puts another of the family's templates into the slot its
kind belongs to; NAME is the template's file stem (`ur2_pair_score_image_generation`) or its kind
(`image_generation_pair_score`). A slot the family has no template for is answered 400 naming the slot (the
LLaVA family has no pointwise image-generation prompt, for instance). Only templates that score generations
from a caption are usable: understanding templates need a question and answers, edit templates a source image.

A template's value is read with the family's own parser: a pointwise score is the mean of the dimensions the
template asks for (UnifiedReward-2.0: Alignment, Coherence, Style), each also returned by name; a pairwise
verdict is the parser's choice (1, 2 or a tie). Nothing is filled in for a reply the parser cannot read.

`reward.families` is imported when templates are resolved, not with this module (the core never imports the
project's other packages at module level).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal, Sequence

from ..errors import UsageError
from ..records import Generation, MediaRef, Part, sha256_text
from .schema import BadRequest, GenerationOverride, Modality

if TYPE_CHECKING:
    from reward.family_parsers import Verdict
    from reward.families import FamilyPrompt

Endpoint = Literal["pointwise", "pairwise"]
Slot = tuple[Endpoint, Modality]
DEFAULT_KINDS: dict[Slot, str] = {
    ("pointwise", "image"): "image_generation_point_score",
    ("pointwise", "video"): "video_generation_point_score",
    ("pairwise", "image"): "image_generation_pair_rank",
    ("pairwise", "video"): "video_generation_pair_rank",
}
#: The family used when neither `--family` nor the judge says which one it is.
DEFAULT_FAMILY = "unifiedreward-2.0"
#: What fills a template's text field: the item's prompt.
PROMPT_FIELDS = ((), ("prompt",))


@dataclass(frozen=True)
class Template:
    """One family template as the service uses it."""

    slot: Slot
    family: str
    prompt: "FamilyPrompt"

    @property
    def name(self) -> str:
        return PurePath(self.prompt.file).stem

    def identity(self) -> dict[str, Any]:
        """What the response echoes: the template's name and version (a hash of its text, so an edited
        template is a new version), its family, task kind and source."""
        return {"name": self.name, "version": sha256_text(self.prompt.text)[:12], "family": self.family,
                "kind": self.prompt.kind, "source": self.prompt.source.cite()}

    def render(self, prompt: str, media: Sequence[MediaRef], where: str) -> tuple[Part, ...]:
        values = {"prompt": prompt} if "prompt" in self.prompt.fields else {}
        try:
            return self.prompt.render(values, [self.as_sent(m) for m in media])
        except ValueError as exc:  # e.g. a two-slot pair template given frames: the body does not fit it
            raise BadRequest(where, f"does not fit template {self.name}: {exc}") from None

    def as_sent(self, ref: MediaRef) -> MediaRef:
        """An image (or a video's frame given as an image) resized as the family's script resizes; a video file
        keeps the frame count and size its request gave."""
        if ref.kind == "image" and self.prompt.resize is not None:
            return replace(ref, resize=self.prompt.resize)
        return ref

    def generation(self, override: GenerationOverride) -> Generation:
        """The template's settings (greedy decoding) with what the request asked for instead."""
        base = self.prompt.generation
        asked = {k: v for k, v in vars(override).items() if v is not None}
        return replace(base, **asked) if asked else base

    def read(self, text: str | None) -> "Verdict":
        return self.prompt.parse(text)


@dataclass(frozen=True)
class TemplateSet:
    """The template of every slot the family has one for."""

    family: str
    templates: dict[Slot, Template]

    def get(self, endpoint: Endpoint, modality: Modality) -> Template:
        found = self.templates.get((endpoint, modality))
        if found is None:
            raise BadRequest("", f"judge family {self.family!r} has no {endpoint} {modality} template; start the "
                                 f"service with --template naming one, or another --family")
        return found

    def describe(self) -> dict[str, dict[str, Any]]:
        """`pointwise/image` -> template identity, for /health and the start-up line."""
        return {f"{e}/{m}": t.identity() for (e, m), t in sorted(self.templates.items())}


def resolve_templates(family: str, names: Sequence[str] = ()) -> TemplateSet:
    """The templates of `family` (`name[/mode]`), with `names` replacing the defaults of their slots; a name the
    family does not have, or one the service cannot fill, is a UsageError listing the usable ones."""
    from reward.families import resolve

    ref = resolve(family)
    available = _usable(ref.family, ref.mode)
    chosen: dict[Slot, Template] = {}
    for slot, kind in DEFAULT_KINDS.items():
        prompt = next((p for p in available.values() if p.kind == kind), None)
        if prompt is not None:
            chosen[slot] = Template(slot, str(ref), prompt)
    picked: dict[Slot, str] = {}
    for name in names:
        prompt = available.get(name) or next((p for p in available.values() if p.kind == name), None)
        if prompt is None:
            raise UsageError(f"--template {name!r}: judge family {str(ref)!r} has no usable template of that name; "
                             f"usable: {', '.join(sorted(available)) or '(none)'}")
        slot = slot_of(prompt.kind)
        if slot in picked:
            raise UsageError(f"--template {name!r} and {picked[slot]!r} both fill the {slot[0]} {slot[1]} slot")
        picked[slot] = name
        chosen[slot] = Template(slot, str(ref), prompt)
    return TemplateSet(str(ref), chosen)


def slot_of(kind: str) -> Slot:
    """The slot of a generation-scoring task kind (`image_generation_point_score` -> pointwise, image)."""
    modality, _, rest = kind.partition("_generation_")
    if modality not in ("image", "video") or not rest:
        raise ValueError(f"{kind!r} is not a generation-scoring kind")
    return ("pointwise" if rest.startswith("point") else "pairwise", modality)  # type: ignore[return-value]


def _usable(family: Any, mode: str) -> dict[str, "FamilyPrompt"]:
    """file stem -> template, for the family's generation-scoring templates in `mode` (inherited ones too) whose
    only text field is the caption."""
    usable = {}
    for prompt in family.prompts_in(mode):
        try:
            slot_of(prompt.kind)
        except ValueError:
            continue
        if prompt.fields in PROMPT_FIELDS:
            usable[PurePath(prompt.file).stem] = prompt
    return usable
