"""What a converter is given (`SourceInput`, `Context`) and what it yields (`Draft`).

A converter turns the rows of one source, in that source's own schema, into drafts. A point draft is final
(prompt and answer). A pair draft keeps its chosen and rejected sides apart, so the build can show them in
either order: `realize(draft, chosen_first)` fills the template and writes the standard answer
"Image/Video/Response X is better than Image/Video/Response Y." (paper Sec. 3.2.1) for that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..media import Media, VideoFrames, frames_in, local_file, resolve
from ..records import KINDS, TASKS
from ..rows import Row, RowError, read_json_file
from ..templates import fill

MEDIA_FIELDS = ("images", "frames", "video")


@dataclass(frozen=True)
class Side:
    """One side of a pair: its media (an image, a video) or its text (a response)."""

    media: tuple[Media, ...] = ()
    text: str | None = None


@dataclass(frozen=True)
class PairSpec:
    noun: str  # "Image" | "Video" | "Response"
    template: str  # file name under prompts/
    values: Mapping[str, str]  # template values other than the sides' texts
    chosen: Side
    rejected: Side


@dataclass(frozen=True)
class Draft:
    id: str
    task: str
    kind: str
    media_field: str  # which record field the media go to
    media: tuple[Media, ...] = ()  # shared media, shown before the sides' media
    prompt: str = ""  # final prompt (point drafts and pairs whose order is fixed by the source text)
    answer: str = ""
    pair: PairSpec | None = None  # None: prompt and answer are final

    def __post_init__(self) -> None:
        if self.task not in TASKS or self.kind not in KINDS or self.media_field not in MEDIA_FIELDS:
            raise ValueError(f"draft {self.id!r}: bad task/kind/media_field {self.task}/{self.kind}/{self.media_field}")

    @property
    def swappable(self) -> bool:
        return self.pair is not None


@dataclass(frozen=True)
class Realized:
    prompt: str
    answer: str
    media: tuple[Media, ...]
    order: str | None


def pair_answer(noun: str, chosen_first: bool) -> str:
    winner, loser = (1, 2) if chosen_first else (2, 1)
    return f"{noun} {winner} is better than {noun} {loser}."


def realize(draft: Draft, chosen_first: bool) -> Realized:
    if draft.pair is None:
        return Realized(draft.prompt, draft.answer, draft.media, None)
    spec = draft.pair
    first, second = (spec.chosen, spec.rejected) if chosen_first else (spec.rejected, spec.chosen)
    values = dict(spec.values)
    if first.text is not None and second.text is not None:
        values["R1"], values["R2"] = first.text, second.text
    return Realized(fill(spec.template, values), pair_answer(spec.noun, chosen_first),
                    draft.media + first.media + second.media, "chosen_first" if chosen_first else "chosen_second")


def format_score(value: float, digits: int = 2) -> str:
    """A score as the answer states it: integers without a decimal point, others rounded to `digits`
    with trailing zeros dropped (4 -> "4", 3.5 -> "3.5", 10/3 -> "3.33")."""
    rounded = round(float(value), digits)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".")


class Context:
    """Per-source bookkeeping: bad rows (raised, or counted under skip_bad_rows) and deliberate drops
    (a vote tie, a prompt with one image), which are never errors but are always counted."""

    EXAMPLES = 20

    def __init__(self, source: str, skip_bad_rows: bool):
        self.source = source
        self.skip_bad_rows = skip_bad_rows
        self.rows = 0
        self.skipped = 0
        self.skipped_by_field: dict[str, int] = {}
        self.skipped_examples: list[str] = []
        self.dropped: dict[str, int] = {}

    def reject(self, err: RowError) -> None:
        if not self.skip_bad_rows:
            raise err
        self.skipped += 1
        self.skipped_by_field[err.field] = self.skipped_by_field.get(err.field, 0) + 1
        if len(self.skipped_examples) < self.EXAMPLES:
            self.skipped_examples.append(str(err))

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def counted(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            self.rows += 1
            yield row


@dataclass
class SourceInput:
    """A source's rows plus where its other files and its media live."""

    name: str
    row_stream: Callable[[], Iterator[Row]]
    root: Path | None  # directory of a local copy (for files beside the rows); None for hub data
    media_root: Path | None  # where relative media paths point
    frames_per_video: int = 8  # frames sampled per video when a record shows two videos
    ctx: Context = field(repr=False, default=None)  # type: ignore[assignment]

    def rows(self) -> Iterator[Row]:
        return self.ctx.counted(self.row_stream())

    def read_json(self, filename: str) -> Any:
        if self.root is None:
            raise RowError(self.name, "-", filename, "this source needs a local copy (`path:`), not `hub:`")
        return read_json_file(self.name, self.root / filename)

    def media_path(self, row: Row, name: str, relative: str) -> Path:
        return resolve(row, name, relative, self.media_root)

    def file(self, row: Row, name: str, relative: str) -> Media:
        return local_file(row, name, relative, self.media_root)

    def video_or_frames(self, row: Row, name: str) -> tuple[str, tuple[Media, ...]]:
        """A video given as a directory of frames ("frames") or as one file ("video")."""
        path = self.media_path(row, name, row.text(name))
        if path.is_dir():
            return "frames", frames_in(row, name, path)
        if path.is_file():
            return "video", (self.file(row, name, str(path)),)
        raise row.error(name, f"no video file or frame directory at {path}")

    def sampled_frames(self, row: Row, name: str, path: Path) -> VideoFrames:
        """A video shown beside another one: it becomes `frames_per_video` frames when written."""
        return VideoFrames(path, self.frames_per_video, row.source, row.label, name)


def guarded(inp: SourceInput, convert_row: Callable[[Row], Iterable[Draft]]) -> Iterator[Draft]:
    """Convert row by row; a bad row is raised or, under skip_bad_rows, counted and left out."""
    for row in inp.rows():
        try:
            drafts = list(convert_row(row))
        except RowError as err:
            inp.ctx.reject(err)
            continue
        yield from drafts


@dataclass(frozen=True)
class HubDefaults:
    """How `datasets.load_dataset` is called for this source when a manifest gives `hub:`."""

    configs: tuple[str | None, ...] = (None,)
    splits: tuple[str | None, ...] = ("train",)


@dataclass(frozen=True)
class SourceDef:
    name: str
    title: str  # the dataset's name in the paper's Table 2
    task: str
    kind: str
    convert: Callable[[SourceInput], Iterable[Draft]]
    files: tuple[str, ...]  # file names looked for when `path:` is a directory
    hub: HubDefaults | None  # None: the hub copy is not a `datasets` table; use a local copy
    hub_id: str  # the dataset's hub id or download page, for docs and messages
    paper_count: str  # the corrected Table 2 count
