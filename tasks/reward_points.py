"""Reward-data points (`reward_points`): a judge's pointwise scores against the reward-data builder's point records.

How well the scores follow the records' reference scores (issue 16 item 5: calibration of pointwise scores).

Data: `--data-dir DIR`, an output directory of `harness build-reward-data` (docs/reward_data.md): `records.jsonl`
(the one record format, `reward/training/dataset/records.py`) and the media under `media/`, paths relative to DIR.
Only `kind == "point"` records are judged; pair records, point records outside `--split` and point records whose
answer states no score this task can read are skipped before any judging and counted in results.json `dataset`
(`skipped`). `--split` is `all` (default), a point source (`evalmuse_point`, ...) or a record task (`image_gen`,
...). How each point source states its reference score(s) (read from its converter,
`reward/training/dataset/sources/<source>.py`):

- `evalmuse_point`: "element (type): 0|1" lines when the image has element labels, then "Final Score: 3.67" (the
  mean of the annotators' 1-5 totals): the overall score and the element labels;
- `videofeedback`: five "<aspect>: 1-4" lines, then "Final Score: N" (the builder's rounded mean of the five): the
  overall score and five dimensions;
- `sharegptvideo_point`: "Final Score: N": the overall score;
- `lift_hra`: the annotator's text, starting "Good." / "Normal." / "Bad.": overall 3 / 2 / 1, its dimension the
  aspect its question names ("Please identify the fidelity issues in this video, ...");
- `llava_critic_point`: the row's own critique (free text): read only where it states one of these forms, else the
  record is skipped.

`read_scores` is the ONE parser: it reads the record's answer (the form it finds there is the record's) and the
judge's reply in that same form, so the reference and the reply cannot be read differently. A reply without the
record's overall score, or without a dimension score the reference states, is `invalid` with a reason; invalid
replies are counted (`n_invalid`) and left out of every metric. A reply's element labels are compared with the
reference's by name; an element it does not label counts as disagreeing.

Protocol `strict` (the only one): the record's own prompt, its media in the order training shows them (images,
frames, then the video sampled to 8 evenly spaced frames, `reward/training/sft.py`), then the text; greedy.

Metrics (harness.calibration), over the records with a valid reply, per source (`<source>/...`), per dimension
(`<source>/<dimension>/...`: VideoFeedback's aspects, LiFT-HRA's question aspect) and overall:
`spearman` and `kendall_tau` (tau-b, ties corrected) as fractions in [-1, 1], `mae` in the reference's score points,
and `<source>/elements/agreement` (%, EvalMuse's element labels). The overall values are the unweighted mean of
the per-source values (sources score on different scales, so pooling them would reward a judge for telling sources
apart); undefined (NaN, reported null) when one source's is. The bootstrap resamples records (`Scoring(compute)`);
there is no `compute_many`: rank correlations do not vectorise across replicates cheaply. No calibration error: a
1-5 score is not a probability (docs/tasks/reward_points.md).

numpy and the builder's record module are imported inside the functions (`harness list` imports every task module).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.rows import IdRule, RawRow, RowSource, file_sha256, jsonl_reader, local_file, local_info
from harness.task import Parsed, ProtocolSpec, Row, Scoring, Tally, Task, TaskConfig

if TYPE_CHECKING:
    import numpy as np

RECORDS_FILE = "records.jsonl"
LAYOUT = "a `harness build-reward-data` output directory: records.jsonl + media/"
#: The builder's point sources (`reward.training.dataset.sources.SOURCES`, kind "point") and record tasks
#: (`records.TASKS`), the `--split` filters; the test suite checks they equal the builder's.
POINT_SOURCES = ("evalmuse_point", "llava_critic_point", "lift_hra", "videofeedback", "sharegptvideo_point")
RECORD_TASKS = ("image_gen", "image_und", "video_gen", "video_und")
ALL = "all"
#: Frames sampled from a record's `video`: the builder's and `harness train-reward`'s `frames_per_video` default.
FRAMES_PER_VIDEO = 8
GENERATION = Generation(max_new_tokens=4096)
IDS = IdRule(fields=("id",), repeated="error")  # the builder makes ids unique ("#2" suffixes)

FINAL_SCORE, RATING = "final-score", "rating"
#: LiFT-HRA's ratings on an ordinal scale (its answers start with one of them).
RATING_VALUES = {"bad": 1.0, "normal": 2.0, "good": 3.0}
METRICS = ("spearman", "kendall_tau", "mae")

_MARKS = re.compile(r"[*`#]+")  # markdown emphasis and heading marks: "**Final Score:** 3"
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_FINAL = re.compile(rf"final\s+score\s*:\s*\[?\s*({_NUMBER})", re.IGNORECASE)
_LEAD = r"^[ \t]*(?:[-\u2022][ \t]*|\(\d+\)[ \t]*|\d+[.)][ \t]*)*"  # a bullet or "(1)" / "1." before a line's name
_ELEMENT = re.compile(_LEAD + r"([^:\n]*?\([^()\n]+\))[ \t]*:[ \t]*([01])[ \t]*$", re.MULTILINE)
_DIMENSION = re.compile(_LEAD + rf"([A-Za-z][^:()\n]*?)[ \t]*:[ \t]*\[?({_NUMBER})\]?[ \t]*$", re.MULTILINE)
_RATING = re.compile(r"\s*(good|normal|bad)\b", re.IGNORECASE)
#: LiFT-HRA's questions: "Please identify the <aspect> issues in this video, ..."
_ASPECT = re.compile(r"\bidentify the ([a-z][a-z -]*?) issues in this video\b", re.IGNORECASE)


# ---- the one score parser -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreReading:
    """The scores one text states: its `form`, the overall score, "name: N" dimension scores and "element (type):
    0|1" labels (names lower-cased, spaces collapsed), in the order stated."""

    form: str
    overall: float
    dimensions: Mapping[str, float] = field(default_factory=dict)
    elements: Mapping[str, int] = field(default_factory=dict)


def read_scores(text: str | None, form: str | None = None) -> tuple[ScoreReading | None, str | None]:
    """(reading, None), or (None, why). `form` None: the first form the text states ("Final Score: N" anywhere,
    the last one counting; else a leading Good / Normal / Bad), as for a record's answer; a judge's reply is read
    in its record's form. Regexes only."""
    if form not in (None, FINAL_SCORE, RATING):
        raise ValueError(f"unknown score form {form!r}")
    if text is None or not text.strip():
        return None, "empty text"
    clean = _MARKS.sub("", text).replace("\r", "")
    if form in (None, FINAL_SCORE):
        found = _FINAL.findall(clean)
        if found:
            dims = {_name(n): float(v) for n, v in _DIMENSION.findall(clean) if _name(n) != "final score"}
            elements = {_name(n): int(v) for n, v in _ELEMENT.findall(clean)}
            return ScoreReading(FINAL_SCORE, float(found[-1]), dims, elements), None
        if form == FINAL_SCORE:
            return None, "no 'Final Score: N'"
    if form in (None, RATING):
        match = _RATING.match(clean)
        if match:
            return ScoreReading(RATING, RATING_VALUES[match.group(1).lower()]), None
        if form == RATING:
            return None, "does not start with Good, Normal or Bad"
    return None, "states no score in a form read here ('Final Score: N', or a leading Good / Normal / Bad)"


def _name(raw: str) -> str:
    """A dimension or element name as compared: lower case, single spaces, "word (type)" spacing."""
    spaced = re.sub(r"\s*\(\s*", " (", " ".join(raw.lower().split()))
    return re.sub(r"\s*\)", ")", spaced).strip()


def slug(name: str) -> str:
    """A dimension name inside a metric name: "text-to-video alignment" -> "text_to_video_alignment"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# ---- records.jsonl: which records are judged -------------------------------------------------------------

def _in_split(fields: Mapping[str, Any], split: str) -> bool:
    return split == ALL or fields.get("source") == split or fields.get("task") == split


def classify(fields: Mapping[str, Any] | None, split: str) -> str:
    """"judge", or why a record is skipped: "pair", "other_split", "no_reference_score". A malformed record is
    judged, so that it becomes an error record naming its line and field."""
    if fields is None:
        return "judge"
    if fields.get("kind") == "pair":
        return "pair"
    if fields.get("kind") == "point" and not _in_split(fields, split):
        return "other_split"
    answer = fields.get("answer")
    if fields.get("kind") == "point" and isinstance(answer, str) and read_scores(answer)[0] is None:
        return "no_reference_score"
    return "judge"


@dataclass
class Survey:
    """One pass over records.jsonl before any judging: what will be judged and what is skipped, and why."""

    judged: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)  # point records per source (any split)
    skipped: dict[str, int] = field(default_factory=dict)
    unscored: dict[str, int] = field(default_factory=dict)  # per source: answer with no score read here
    unscored_examples: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path, split: str) -> "Survey":
        survey = cls()
        for raw in jsonl_reader(path)():
            survey.add(raw.fields, classify(raw.fields, split))
        return survey

    def add(self, fields: Mapping[str, Any] | None, verdict: str) -> None:
        kind, source = (fields or {}).get("kind"), str((fields or {}).get("source"))
        if isinstance(kind, str):
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind == "point":
            self.points[source] = self.points.get(source, 0) + 1
        if verdict == "judge":
            self.judged += 1
            return
        self.skipped[verdict] = self.skipped.get(verdict, 0) + 1
        if verdict == "no_reference_score":
            self.unscored[source] = self.unscored.get(source, 0) + 1
            if len(self.unscored_examples) < 5:
                self.unscored_examples.append(str((fields or {}).get("id")))

    def check(self, path: Path, split: str) -> None:
        """Nothing to judge is known now, before a judge is built: a usage error saying what the file holds."""
        held = ", ".join(f"{s} {n}" for s, n in self.points.items()) or "none"
        if split != ALL and not self.judged and not self.skipped.get("no_reference_score"):
            raise UsageError(f"--split {split}: {path} holds no point records of {split} (point records: {held})")
        if not self.judged:
            raise UsageError(f"{path}: no point record to judge (records: {self.kinds or 'none'}; point records "
                             f"whose answer states no score read here: {self.unscored or 'none'})")

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {"records": dict(self.kinds), "point_records": dict(self.points)}
        if self.skipped:
            out["skipped"] = {**self.skipped, **({"no_reference_score_by_source": dict(self.unscored),
                                                  "no_reference_score_examples": list(self.unscored_examples)}
                                                 if self.unscored else {})}
            out["note"] = ("skipped records are never judged: pair records (this task scores points), point records "
                           "outside --split, and point records whose answer states no score read here")
        return out


def _media_rule(root: Path) -> Callable[[RawRow, str], dict[str, MediaRef]]:
    """A record's media in the order training shows them: its images, its frames, then its video."""

    def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
        fields = raw.fields or {}
        out: dict[str, MediaRef] = {}
        for column in ("images", "frames"):
            values = fields.get(column)
            for i, value in enumerate(values if isinstance(values, list) else []):
                if isinstance(value, str) and value:
                    out[f"{column}[{i}]"] = MediaRef("image", value, path=root / value)
        video = fields.get("video")
        if isinstance(video, str) and video:
            out["video"] = MediaRef("video", video, path=root / video, frames=FRAMES_PER_VIDEO, sampling="linspace")
        return out

    return media


def _problem(fields: Mapping[str, Any]) -> str | None:
    """What is wrong with a record's fields before `Record.from_json` reads them (it would take a string of
    images for a tuple of letters)."""
    for name in ("images", "frames"):
        values = fields.get(name)
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            return f"field '{name}' must be a list of paths"
    if fields.get("video") is not None and not (isinstance(fields.get("video"), str) and fields["video"]):
        return "field 'video' must be a path or null"
    for name in ("id", "source", "prompt", "answer"):
        if not isinstance(fields.get(name), str) or not fields[name].strip():
            return f"field '{name}' must be a non-empty string"
    if not (fields["images"] or fields["frames"] or fields.get("video")):
        return "no images, frames or video"
    return None


# ---- the task -----------------------------------------------------------------------------------------------

PROTOCOLS = {
    "strict": ProtocolSpec(
        "strict", "1",
        "the record's own prompt after its media (images, frames, then the video at 8 frames), greedy; the reply read "
        "in the form of the record's answer; Spearman, Kendall tau-b and MAE against the reference scores, invalid "
        "replies left out and counted",
        deviations=(
            "our protocol: the paper evaluates no judge on its training records; the prompt is the record's own, the "
            "parser and the metrics are ours",
            "llava_critic_point answers are free-text critiques: a record whose answer states no score in a form read "
            "here is skipped (counted in dataset.skipped)",
            "videofeedback's 'Final Score' is the builder's rounded mean of the five human aspect scores, not a human "
            "rating (its per-aspect metrics are against the human scores)")),
}


@task("reward_points")
class RewardPoints(Task):
    """Reward-data point records: a judge's scores against the records' reference scores (rank correlation, MAE)."""

    version = "1"
    protocols = PROTOCOLS
    default_protocol = "strict"
    splits = (ALL, *POINT_SOURCES, *RECORD_TASKS)
    generation = {"strict": GENERATION}

    # ---- rows -> samples ----------------------------------------------------------------------------
    def rows(self, cfg: TaskConfig) -> RowSource:
        if cfg.data_dir is None:
            raise UsageError(f"{self.name} needs --data-dir: {LAYOUT}")
        path = local_file(cfg.data_dir, RECORDS_FILE, LAYOUT)
        split = cfg.split or ALL
        survey = Survey.of(path, split)
        survey.check(path, split)

        def read() -> Iterator[RawRow]:
            for raw in jsonl_reader(path)():
                if classify(raw.fields, split) == "judge":
                    yield raw

        info = local_info(cfg.data_dir, file_sha256(path), cfg.split)
        return RowSource(info, read, IDS, _media_rule(cfg.data_dir), str(path),
                         quick_count=lambda: survey.judged).with_facts(**survey.facts())

    def sample(self, row: Row) -> Sample:
        from reward.training.dataset.records import Record  # the builder's own strict reader: keys, task, kind

        def bad(problem: str) -> Sample:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (id {row.id}): {problem}")

        problem = _problem(row.fields)
        if problem is not None:
            return bad(problem)
        try:
            record = Record.from_json(dict(row.fields))
        except (ValueError, TypeError) as exc:
            return bad(str(exc))
        if record.kind != "point":
            return bad(f"kind {record.kind!r} is not a point record")
        reference, reason = read_scores(record.answer)
        if reference is None:
            return bad(f"field 'answer': {reason}")
        missing = [ref.label for ref in row.media.values() if ref.path is None or not ref.path.is_file()]
        if missing:  # known before any judge call: the record's error, not a media failure mid-run
            return bad(f"media not found under the data directory: {', '.join(missing)}")
        aspect = _ASPECT.search(record.prompt)
        data = {"source": record.source, "task": record.task, "prompt": record.prompt, "reference": reference,
                "aspect": " ".join(aspect.group(1).lower().split()) if aspect else None}
        return Sample(row.id, row.index, data, tuple(row.media.values()))

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        if sample.problem is None:
            tally.count(f"judged/{sample.data['source']}")

    # ---- requests and parse -------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        parts = (*sample.media, sample.data["prompt"])  # media before the text, as the record format says
        return [Request(sample.id, sample.id, parts, GENERATION)]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        reference: ScoreReading = sample.data["reference"]
        outcome: dict[str, Any] = {"source": sample.data["source"], "task": sample.data["task"],
                                   "form": reference.form, "reference": reference.overall, "judge": None}
        if sample.data["aspect"]:
            outcome["aspect"] = sample.data["aspect"]
        if reference.dimensions:
            outcome["reference_dims"] = dict(reference.dimensions)
        reading, reason = read_scores(exchanges[0][1].text, reference.form)
        if reading is not None:
            absent = [d for d in reference.dimensions if d not in reading.dimensions]
            if absent:
                reading, reason = None, f"no '{absent[0]}: N' (the reference states it)"
        if reading is None:
            return Parsed("invalid", outcome, f"{reason} (left out of the metrics)")
        outcome["judge"] = reading.overall
        if reference.dimensions:
            outcome["judge_dims"] = {d: reading.dimensions[d] for d in reference.dimensions}
        if reference.elements:
            agreed = sum(reading.elements.get(name) == value for name, value in reference.elements.items())
            outcome.update(elements=len(reference.elements), elements_agreed=agreed,
                           elements_unlabelled=sum(name not in reading.elements for name in reference.elements))
        return Parsed("ok", outcome)

    # ---- score ----------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np

        from harness.judgment_table import STATUSES, record_ids, status_codes

        status = status_codes(judgments)
        keep = np.flatnonzero(status != STATUSES.index("error"))
        table = PointTable.of(judgments, keep, (status == STATUSES.index("ok"))[keep])
        return Scoring(table.compute, record_ids(judgments, keep), details=table.details())


# ---- metrics --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """One set of paired scores: `member` marks the scored rows in it with a valid reply."""

    name: str
    member: np.ndarray
    reference: np.ndarray
    judge: np.ndarray

    def metrics(self, idx: np.ndarray) -> dict[str, float]:
        import numpy as np

        from harness.calibration import kendall_tau_b, spearman

        rows = idx[self.member[idx]]
        h, j = self.reference[rows], self.judge[rows]
        mae = float(np.mean(np.abs(h - j))) if rows.size else math.nan
        return {f"{self.name}/spearman": spearman(h, j), f"{self.name}/kendall_tau": kendall_tau_b(h, j),
                f"{self.name}/mae": mae}


@dataclass(frozen=True)
class SourceSeries:
    """One source's series: its overall score, then its dimensions; its element counts (member, agreed, total)."""

    overall: Series
    dimensions: tuple[Series, ...]
    elements: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    counts: Mapping[str, Any]


@dataclass(frozen=True)
class PointTable:
    """The scored records as arrays, per source in the order the data first shows it."""

    sources: Mapping[str, SourceSeries]

    @classmethod
    def of(cls, judgments: Sequence[Judgment], keep: np.ndarray, valid: np.ndarray) -> "PointTable":
        import numpy as np

        from harness.judgment_table import outcome_array

        def column(key: str, convert: Callable[[Any], Any], dtype: Any) -> np.ndarray:
            return outcome_array(judgments, key, convert, dtype)[keep]

        source = column("source", lambda v: v or "", object)
        reference, judge = column("reference", _number, float), column("judge", _number, float)
        reference_dims, judge_dims = column("reference_dims", _mapping, object), column("judge_dims", _mapping, object)
        aspect = column("aspect", lambda v: v or "", object)
        total, agreed = column("elements", _count, np.int64), column("elements_agreed", _count, np.int64)
        unlabelled = column("elements_unlabelled", _count, np.int64)
        sources = {}
        for s in dict.fromkeys(source.tolist()):
            mine = source == s
            dims = []
            for dim in dict.fromkeys(d for named in reference_dims[mine] if named for d in named):
                h = np.array([named.get(dim, math.nan) if named else math.nan for named in reference_dims], dtype=float)
                j = np.array([named.get(dim, math.nan) if named else math.nan for named in judge_dims], dtype=float)
                dims.append(Series(f"{s}/{slug(dim)}", mine & valid & ~np.isnan(h) & ~np.isnan(j), h, j))
            for a in sorted(set(aspect[mine].tolist()) - {""}):  # LiFT-HRA: the aspect its question asks about
                dims.append(Series(f"{s}/{slug(a)}", mine & valid & (aspect == a), reference, judge))
            labelled = mine & valid & (total > 0)
            counts = _source_counts(mine, valid, reference, judge, int(unlabelled[mine & valid].sum()))
            sources[s] = SourceSeries(Series(s, mine & valid, reference, judge), tuple(dims),
                                      (labelled, agreed, total) if (mine & (total > 0)).any() else None, counts)
        return cls(sources)

    def compute(self, idx: np.ndarray) -> dict[str, float]:
        import numpy as np

        own = {s: series.overall.metrics(idx) for s, series in self.sources.items()}
        # Unweighted over the sources (each on its own scale); NaN where one source's value is.
        out = {m: float(np.mean([values[f"{s}/{m}"] for s, values in own.items()])) if own else math.nan
               for m in METRICS}
        for s, series in self.sources.items():
            out.update(own[s])
            for dim in series.dimensions:
                out.update(dim.metrics(idx))
            if series.elements is not None:
                member, agreed, total = series.elements
                rows = idx[member[idx]]
                den = float(total[rows].sum())
                out[f"{s}/elements/agreement"] = 100.0 * float(agreed[rows].sum()) / den if den else math.nan
        return out

    def details(self) -> dict[str, Any]:
        return {"per_source": {s: dict(series.counts) for s, series in self.sources.items()},
                "dimension_sizes": {d.name: int(d.member.sum()) for series in self.sources.values()
                                    for d in series.dimensions},
                "invalid_replies": "left out of every correlation, MAE and element agreement (counted in n_invalid)",
                "overall": "the unweighted mean over sources of each source's value (null when one is undefined)"}


def _source_counts(mine: np.ndarray, valid: np.ndarray, reference: np.ndarray, judge: np.ndarray,
                   unlabelled: int) -> dict[str, Any]:
    rows = mine & valid
    out: dict[str, Any] = {"n": int(mine.sum()), "valid": int(rows.sum()), "invalid": int((mine & ~valid).sum())}
    if rows.any():  # the scales seen: a judge answering off the reference's scale shows here
        out["reference_range"] = [float(reference[rows].min()), float(reference[rows].max())]
        out["judge_range"] = [float(judge[rows].min()), float(judge[rows].max())]
    if unlabelled:
        out["elements_unlabelled"] = unlabelled
    return out


def _number(value: Any) -> float:
    return math.nan if value is None or isinstance(value, bool) else float(value)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, float] | None:
    return value if isinstance(value, dict) else None
