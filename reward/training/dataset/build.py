"""Build a training set from a manifest, and summarise one.

`build(manifest, out)` reads each source, converts its rows (sources/), samples, decides the order each
pair is shown in, writes the media under `<out>/media/<source>/`, and writes `<out>/records.jsonl` and
`<out>/build.json` (per-source counts, skipped rows, drops, the manifest hash). `stats(out)` renders the
mixture like the paper's Table 2 / Fig. 3.

Order of a pair (data that always shows the chosen item first lets a judge learn position instead of
preference):
- `swap` (default): chosen second when the first bit of sha256(f"{seed}\\0{record id}") is 1, the same
  rule the benchmark tasks use, so it depends on nothing but the seed and the id (not on sampling or
  on which other sources are built): about half of the pairs, independently per pair;
- `both`: every pair twice, once in each order (ids suffixed `:chosen_first` / `:chosen_second`);
- `chosen_first`: as released.
Sampling happens before order expansion: `random:N` picks N pairs, `both` then writes 2N records.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.errors import UsageError
from harness.store import atomic_write_json
from tasks.pairwise import seeded_swap as chosen_second  # the benchmarks' per-pair order decision

from .manifest import Manifest, SourceSpec, load_manifest
from .media import MediaWriter
from .records import KINDS, TASKS, Record, read_records
from .rows import Row, RowError, file_rows, hub_rows
from .sources import SOURCES
from .sources.base import Context, Draft, SourceDef, SourceInput, realize

SCHEMA_VERSION = 1
RECORDS_FILE = "records.jsonl"
BUILD_FILE = "build.json"


@dataclass(frozen=True)
class SourceReport:
    name: str
    title: str
    task: str
    kind: str
    origin: str  # the path or hub id (+ revision) read
    sampling: str
    rows: int  # source rows read
    converted: int  # drafts (pairs or points) made from them
    sampled: int  # drafts kept by sampling
    records: int  # records written (2 per pair under order "both")
    chosen_second: int  # pair records showing the chosen item second
    skipped: int  # bad rows (and bad media found when writing) left out under skip_bad_rows
    skipped_by_field: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # deliberate drops: vote ties, one-image prompts
    renamed_ids: int = 0  # records whose source id repeated and got a "#k" suffix


@dataclass(frozen=True)
class BuildReport:
    out_dir: Path
    manifest: Path
    manifest_sha256: str
    seed: int
    order: str
    skip_bad_rows: bool
    frames_per_video: int
    sources: tuple[SourceReport, ...]

    @property
    def total(self) -> int:
        return sum(s.records for s in self.sources)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "manifest": str(self.manifest),
                "manifest_sha256": self.manifest_sha256, "seed": self.seed, "order": self.order,
                "skip_bad_rows": self.skip_bad_rows, "frames_per_video": self.frames_per_video,
                "total_records": self.total,
                "sources": {s.name: asdict(s) for s in self.sources}}

    def summary(self) -> str:
        lines = [f"{self.total} records -> {self.out_dir / RECORDS_FILE}"]
        for s in self.sources:
            extra = [f"{s.skipped} bad rows skipped"] if s.skipped else []
            extra += [f"{n} dropped ({why})" for why, n in sorted(s.dropped.items())]
            lines.append(f"  {s.name}: {s.rows} rows -> {s.converted} {s.kind}s -> {s.sampled} sampled -> "
                         f"{s.records} records" + (f" [{'; '.join(extra)}]" if extra else ""))
        return "\n".join(lines)


def build(manifest_path: Path, out_dir: Path, *, overwrite: bool = False) -> BuildReport:
    manifest = load_manifest(Path(manifest_path))
    out_dir = Path(out_dir)
    if (out_dir / RECORDS_FILE).exists() and not overwrite:
        raise UsageError(f"{out_dir} already holds a built dataset ({RECORDS_FILE}); choose another directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = MediaWriter(out_dir)
    reports = []
    fd, tmp = tempfile.mkstemp(prefix=f".{RECORDS_FILE}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out, tempfile.TemporaryDirectory() as scratch:
            seen: set[str] = set()
            for spec in manifest.sources:
                report = _build_source(manifest, spec, writer, Path(scratch), seen, out)
                reports.append(report)
        os.replace(tmp, out_dir / RECORDS_FILE)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    result = BuildReport(out_dir, manifest.path, manifest.sha256, manifest.seed, manifest.order,
                         manifest.skip_bad_rows, manifest.frames_per_video, tuple(reports))
    atomic_write_json(out_dir / BUILD_FILE, result.to_json())
    return result


def _build_source(manifest: Manifest, spec: SourceSpec, writer: MediaWriter, scratch: Path, seen: set[str],
                  out: Any) -> SourceReport:
    sdef = SOURCES[spec.name]
    ctx = Context(spec.name, manifest.skip_bad_rows)
    inp, origin = open_input(spec, sdef, scratch, manifest.frames_per_video)
    inp.ctx = ctx
    drafts = list(sdef.convert(inp))
    kept = [drafts[i] for i in spec.sampling.pick(len(drafts), f"{manifest.seed}:{spec.name}")]
    written = swapped = renamed = 0
    for draft in kept:
        draft_id = _unique(draft.id, seen)
        renamed += draft_id != draft.id
        try:
            records = [_record(spec.name, draft, draft_id, chosen_first, suffix, writer)
                       for chosen_first, suffix in orientations(draft, draft_id, manifest)]
        except RowError as err:
            ctx.reject(err)
            continue
        for record in records:
            out.write(_line(record))
            written += 1
            swapped += record.order == "chosen_second"
    return SourceReport(spec.name, sdef.title, sdef.task, sdef.kind, origin, str(spec.sampling), ctx.rows,
                        len(drafts), len(kept), written, swapped, ctx.skipped, dict(ctx.skipped_by_field),
                        list(ctx.skipped_examples), dict(ctx.dropped), renamed)


def orientations(draft: Draft, draft_id: str, manifest: Manifest) -> list[tuple[bool, str]]:
    """(chosen_first, id suffix) for each record the draft becomes."""
    if not draft.swappable or manifest.order == "chosen_first":
        return [(True, "")]
    if manifest.order == "both":
        return [(True, ":chosen_first"), (False, ":chosen_second")]
    return [(not chosen_second(manifest.seed, draft_id), "")]


def _record(source: str, draft: Draft, draft_id: str, chosen_first: bool, suffix: str, writer: MediaWriter) -> Record:
    shown = realize(draft, chosen_first)
    paths = tuple(path for m in shown.media for path in writer.put(source, m))
    if draft.media_field == "video":
        if len(paths) != 1:
            raise ValueError(f"draft {draft.id!r}: a 'video' record needs exactly one video, got {len(paths)}")
        return Record(id=draft_id + suffix, source=source, task=draft.task, kind=draft.kind, prompt=shown.prompt,
                      answer=shown.answer, order=shown.order, video=paths[0])
    return Record(id=draft_id + suffix, source=source, task=draft.task, kind=draft.kind, prompt=shown.prompt,
                  answer=shown.answer, order=shown.order, **{draft.media_field: paths})


def _unique(draft_id: str, seen: set[str]) -> str:
    """Ids must be unique in the output; a repeated source id gets "#2", "#3", ... in file order."""
    candidate, k = draft_id, 1
    while candidate in seen:
        k += 1
        candidate = f"{draft_id}#{k}"
    seen.add(candidate)
    return candidate


def _line(record: Record) -> str:
    return json.dumps(record.to_json(), ensure_ascii=False) + "\n"


def open_input(spec: SourceSpec, sdef: SourceDef, scratch: Path,
               frames_per_video: int = 8) -> tuple[SourceInput, str]:
    """Where the rows come from: a local file, a local directory (the converter's file names, else every
    parquet shard in it), or a hub dataset."""
    if spec.hub is not None:
        defaults = sdef.hub
        assert defaults is not None  # refused by the manifest loader
        configs = (spec.config,) if spec.config else defaults.configs
        splits = (spec.split,) if spec.split else defaults.splits

        def stream() -> Iterator[Row]:
            return hub_rows(spec.name, spec.hub, spec.revision, configs, splits)

        origin = spec.hub + (f"@{spec.revision}" if spec.revision else "")
        return SourceInput(spec.name, stream, None, spec.media_root, frames_per_video), origin
    path = spec.path
    assert path is not None
    if not path.exists():
        raise UsageError(f"{spec.name}: path {path} does not exist")
    files = [path] if path.is_file() else _files_in(spec.name, path, sdef)
    root = path if path.is_dir() else path.parent

    def local_stream() -> Iterator[Row]:
        offset = 0
        for f in files:
            count = 0
            for row in file_rows(spec.name, f, scratch):
                count += 1
                yield Row(row.source, offset + row.index, row.where, row.data)
            offset += count

    return SourceInput(spec.name, local_stream, root, spec.media_root or root, frames_per_video), str(path)


def _files_in(name: str, directory: Path, sdef: SourceDef) -> list[Path]:
    """The converter's own file in `directory`, else the parquet shards of a downloaded hub snapshot:
    under each default config's folder when there is one (llava-critic's `pairwise/`), and only the
    default splits' shards (`train-*`, HPD's `train_0001-*`), so a snapshot root can be given as is."""
    for filename in sdef.files:
        if (directory / filename).is_file():
            return [directory / filename]
    hub = sdef.hub
    folders = [directory / c for c in (hub.configs if hub else ()) if c and (directory / c).is_dir()] or [directory]
    prefixes = tuple(s for s in (hub.splits if hub else ()) if s)
    shards = sorted(p for folder in folders for p in folder.rglob("*.parquet") if p.name.startswith(prefixes or ""))
    if shards:
        return shards
    raise UsageError(f"{name}: {directory} has none of {', '.join(sdef.files)} and no .parquet shards; "
                     f"give the file itself as 'path'")


# -- statistics -----------------------------------------------------------------------------------------

TASK_TITLES = {"image_gen": "Image Generation", "image_und": "Image Understanding",
               "video_gen": "Video Generation", "video_und": "Video Understanding"}


def stats(out_dir: Path) -> str:
    """The built mixture as Markdown: per task x pair/point x source, count and share (paper Table 2), then
    the per-task pair/point split (Fig. 3)."""
    path = Path(out_dir) / RECORDS_FILE
    if not path.is_file():
        raise UsageError(f"{out_dir}: no {RECORDS_FILE} (build the dataset first)")
    counts: dict[tuple[str, str, str], int] = {}
    for record in read_records(path):
        key = (record.task, record.kind, record.source)
        counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    if not total:
        return "No records.\n"
    lines = ["| Task | Method | Dataset | Source | Size | Share |", "|---|---|---|---|---:|---:|"]
    for task in TASKS:
        for kind in KINDS:
            for (t, k, source), n in sorted(counts.items()):
                if (t, k) == (task, kind):
                    title = SOURCES[source].title if source in SOURCES else source
                    lines.append(f"| {TASK_TITLES[task]} | {kind.capitalize()} | {title} | `{source}` | "
                                 f"{n:,} | {_share(n, total)} |")
    lines.append(f"| **Total** | | | | **{total:,}** | 100.0% |")
    lines += ["", "| Task | Pair | Point | Total | Share |", "|---|---:|---:|---:|---:|"]
    for task in TASKS:
        pair = sum(n for (t, k, _), n in counts.items() if t == task and k == "pair")
        point = sum(n for (t, k, _), n in counts.items() if t == task and k == "point")
        if pair or point:
            lines.append(f"| {TASK_TITLES[task]} | {pair:,} | {point:,} | {pair + point:,} | "
                         f"{_share(pair + point, total)} |")
    return "\n".join(lines) + "\n"


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%"
