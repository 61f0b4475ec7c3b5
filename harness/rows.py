"""Where a task's rows come from: a benchmark's local copy (`--data-dir`) or its hub dataset at a pinned
revision, read lazily into `Row`s that carry a unique id and media references, plus the typed record of
what identifies the data (`DatasetInfo`, results.json `tasks.<name>.dataset`).

A task declares its data as a `DataSpec` (the hub dataset and/or the local layout, and how ids are read);
`Task.rows` builds a `RowSource` from it. A task with another layout (a JSON list, a CSV) builds its
`RowSource` from the readers here. Nothing here holds all rows: JSONL and CSV files are read line by line
and hub datasets iterated. What is remembered is the ids (a repeated id is only known once every row has
been seen) and, for the `hash` rule, which ids repeat.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Literal, Mapping

from . import hub
from .errors import UsageError
from .records import MediaKind, MediaRef

Repeats = Literal["hash", "count", "error"]


@dataclass(frozen=True)
class DatasetInfo:
    """What results.json records about a task's data.

    `source` and the `IDENTITY` fields say which data was judged: `harness compare` refuses two runs whose
    values differ. The local `path` differs between machines, `n_rows` follows from the rest, and `split`
    is compared as part of the task's own identity. `extra` holds a task's own facts (counts, notes).
    """

    IDENTITY: ClassVar[tuple[str, ...]] = ("id", "config", "revision", "data_sha256")

    #: "local", "hub", or what else the data is (e.g. results another tool wrote).
    source: str | None = None
    #: The hub dataset the data is, or is a local copy of.
    id: str | None = None
    config: str | None = None
    #: The hub commit read.
    revision: str | None = None
    #: The local directory read.
    path: str | None = None
    split: str | None = None
    #: sha256 of the local data file(s).
    data_sha256: str | None = None
    n_rows: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.IDENTITY}

    def as_dict(self) -> dict[str, Any]:
        """The results.json form: the fields that are set, then `extra`."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**{k: v for k, v in out.items() if v is not None}, **self.extra}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DatasetInfo":
        """Read back `as_dict` (or any results.json `dataset`, e.g. one the lmms-eval importer wrote)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class RawRow:
    """A row as a reader found it, before it has an id."""

    index: int  # position in the full dataset, from 0, unreadable rows included
    where: str  # "data.jsonl line 3", "MMInstruction/VL-RewardBench row 3": the prefix of messages about it
    fields: Mapping[str, Any] | None  # None when the row could not be read
    problem: str | None = None  # why `fields` is None
    lineno: int | None = None  # the file line, for line-based files


@dataclass(frozen=True)
class Row:
    """One row on its way to becoming a `Sample`: what `Task.sample` receives.

    `id` is unique within the dataset: the benchmark's own id (`source_id`) or, where the benchmark repeats
    one, that id with a `#` suffix (see `IdRule`). `media` maps a column (or another name the task chose)
    to a reference; nothing has been read yet. `problem` is set when the row could not be read at all (the
    task never sees such a row: it becomes a sample with that problem).
    """

    index: int
    id: str
    fields: Mapping[str, Any]
    media: Mapping[str, MediaRef] = field(default_factory=dict)
    where: str = ""
    #: "local" or "hub": some benchmarks read a row differently by source (a path vs. embedded bytes).
    source: str = "local"
    source_id: str = ""
    problem: str | None = None

    def __post_init__(self) -> None:
        if not self.source_id:
            object.__setattr__(self, "source_id", self.id.split("#")[0])


@dataclass(frozen=True)
class IdRule:
    """How a row's sample id is read and kept unique.

    - `fields`: the columns that may hold the benchmark's id; the first one present wins (empty: none).
    - `derive`: computes the id from the row instead (None from it: no id).
    - `fallback`: the id of a row without one, formatted with `index` (its position) and `lineno`; an
      unreadable line of a file is always `line-<n>`.
    - `repeated`: what rows sharing an id become. `hash`: every member of the group gets `#` + 8 hex digits
      of a hash of its `content` (default: the whole row), so the ids do not depend on row order (this
      needs one pass over the ids first); `count`: the 2nd, 3rd ... get `#2`, `#3` in dataset order;
      `error`: a usage error naming the row.
    """

    fields: tuple[str, ...] = ("id",)
    fallback: str = "line-{lineno}"
    repeated: Repeats = "error"
    content: Callable[[Mapping[str, Any]], Any] | None = field(default=None, compare=False)
    derive: Callable[[Mapping[str, Any]], str | None] | None = field(default=None, compare=False)

    def source_id(self, raw: RawRow) -> str:
        value: Any = None
        if raw.fields is not None:
            if self.derive is not None:
                value = self.derive(raw.fields)
            else:
                value = next((raw.fields[name] for name in self.fields if name in raw.fields), None)
        if value is not None and value != "":
            return str(value)
        if raw.fields is None and raw.lineno is not None:
            return f"line-{raw.lineno}"
        return self.fallback.format(index=raw.index, lineno=raw.lineno)

    def suffix(self, fields_: Mapping[str, Any]) -> str:
        content = self.content(fields_) if self.content else fields_
        text = json.dumps(content, ensure_ascii=False, default=repr)
        return "#" + hashlib.sha256(text.encode()).hexdigest()[:8]


class UniqueIds:
    """Assigns each row of one pass its unique id under `rule`; `repeated` is the set of ids that occur more
    than once (needed by the `hash` rule only). Remembers the ids it has given, not the rows."""

    def __init__(self, rule: IdRule, name: str, repeated: frozenset[str] = frozenset()):
        self.rule, self.name, self.repeated = rule, name, repeated
        self.seen: Counter[str] = Counter()

    def assign(self, raw: RawRow) -> tuple[str, str]:
        """(source id, unique id) of the next row."""
        sid = self.rule.source_id(raw)
        if self.rule.repeated == "hash":
            if sid not in self.repeated or raw.fields is None:
                return sid, sid
            uid = sid + self.rule.suffix(raw.fields)
            if self.seen[uid]:
                raise UsageError(f"{self.name}: rows repeat both an id and its content ({sid!r}, {raw.where}); "
                                 f"cannot tell them apart")
            self.seen[uid] += 1
            return sid, uid
        self.seen[sid] += 1
        if self.seen[sid] == 1:
            return sid, sid
        if self.rule.repeated == "count":
            return sid, f"{sid}#{self.seen[sid]}"
        raise UsageError(f"{self.name}: id {sid!r} repeats ({raw.where}); each row needs its own id")


def repeated_ids(rule: IdRule, read: Callable[[], Iterable[RawRow]]) -> frozenset[str]:
    """The source ids that occur more than once. Two passes over the ids instead of a counter of every id (10 MB
    at 100k rows): the first keeps an 8-byte hash per row and finds the hashes that repeat, the second counts
    exactly the few ids with such a hash (a collision of two different ids costs nothing but a count)."""
    import numpy as np

    hashes = np.fromiter((hash(rule.source_id(raw)) for raw in read()), dtype=np.int64)
    values, counts = np.unique(hashes, return_counts=True)
    suspects = set(values[counts > 1].tolist())
    del hashes, values, counts
    if not suspects:
        return frozenset()
    exact = Counter(sid for sid in (rule.source_id(raw) for raw in read()) if hash(sid) in suspects)
    return frozenset(sid for sid, n in exact.items() if n > 1)


#: (raw row, its unique id) -> the row's media references.
MediaRule = Callable[[RawRow, str], Mapping[str, MediaRef]]


class RowSource:
    """The rows of one dataset, iterable any number of times (each pass reads from the start, lazily), and
    the identity of the data in `info` (known before the first row is read).

    `read` yields the raw rows; `read_ids`, when given, yields them with only the id columns (a cheaper
    first pass for the `hash` rule). `media` turns a raw row into its media references.
    """

    def __init__(self, info: DatasetInfo, read: Callable[[], Iterator[RawRow]], ids: IdRule,
                 media: MediaRule | None = None, name: str = "the data",
                 read_ids: Callable[[], Iterator[RawRow]] | None = None,
                 quick_count: Callable[[], int] | None = None):
        self.info, self._read, self.ids, self.media, self.name = info, read, ids, media, name
        self._read_ids = read_ids if ids.derive is None else None
        self._quick_count = quick_count

    def with_facts(self, **facts: Any) -> "RowSource":
        """The same rows with more facts recorded in `info.extra`."""
        return RowSource(replace(self.info, extra={**self.info.extra, **facts}), self._read, self.ids, self.media,
                         self.name, self._read_ids, self._quick_count)

    def count_hint(self) -> int | None:
        """The number of rows when it is known without decoding them (a JSONL file's lines), else None."""
        return self._quick_count() if self._quick_count is not None else None

    def count(self) -> int:
        """The number of rows (a pass over them unless `count_hint` knows)."""
        hint = self.count_hint()
        return hint if hint is not None else sum(1 for _ in (self._read_ids or self._read)())

    def __iter__(self) -> Iterator[Row]:
        repeated = repeated_ids(self.ids, self._read_ids or self._read) if self.ids.repeated == "hash" \
            else frozenset()
        unique = UniqueIds(self.ids, self.name, repeated)
        source = self.info.source or "local"
        n = 0
        for raw in self._read():
            n += 1
            sid, uid = unique.assign(raw)
            if raw.fields is None:
                yield Row(raw.index, uid, {}, {}, raw.where, source, sid, raw.problem or f"{raw.where}: unreadable")
            else:
                media = self.media(raw, uid) if self.media else {}
                yield Row(raw.index, uid, raw.fields, media, raw.where, source, sid)
        if n == 0:
            raise UsageError(f"{self.name} holds no rows")


# ---- readers ---------------------------------------------------------------------------------------

def jsonl_reader(path: Path) -> Callable[[], Iterator[RawRow]]:
    """Every non-blank line of a JSONL file, read one at a time; a line that is not a JSON object (or not
    UTF-8) comes back with a problem naming the file and line, so a task counts it and goes on."""

    def read() -> Iterator[RawRow]:
        for index, lineno, data in _lines(path):
            yield _decoded(path, data, index, lineno)

    return read


def jsonl_first_key_reader(path: Path, key: str) -> Callable[[], Iterator[RawRow]]:
    """The rows of `jsonl_reader(path)` with only `key` read, for the first pass of the `hash` id rule: when a
    line starts with `{"<key>": <string or integer>` and ends with `}` (what `json.dumps` writes, key first),
    that value is taken without decoding the rest of the line (8 µs -> 1 µs a row); any other line is decoded
    whole, as `jsonl_reader` does. The full pass still decodes and checks every line."""
    pattern = re.compile(rb'\s*\{\s*"' + re.escape(key.encode()) + rb'"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)\s*[,}]')

    def read() -> Iterator[RawRow]:
        for index, lineno, data in _lines(path):
            match = pattern.match(data)
            if match is not None and data.rstrip().endswith(b"}"):
                try:
                    value = json.loads(match.group(1).decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    pass
                else:
                    yield RawRow(index, f"{path.name} line {lineno}", {key: value}, None, lineno)
                    continue
            yield _decoded(path, data, index, lineno)

    return read


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(row index, line number, bytes) of every non-blank line of a JSONL file."""
    index = 0
    with open(path, "rb") as f:
        for lineno, data in enumerate(f, start=1):
            if data.strip():
                yield index, lineno, data
                index += 1


def _decoded(path: Path, data: bytes, index: int, lineno: int) -> RawRow:
    """One JSONL line as `jsonl_reader` reads it."""
    where = f"{path.name} line {lineno}"
    row: Any = None
    try:
        row = json.loads(data.decode("utf-8"))
        problem = None if isinstance(row, dict) else f"{where}: expected a JSON object"
    except UnicodeDecodeError as exc:
        problem = f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})"
    except ValueError as exc:
        problem = f"{where}: malformed JSON ({exc})"
    return RawRow(index, where, row if problem is None else None, problem, lineno)


def jsonl_lines(path: Path) -> int:
    """The non-blank lines of a JSONL file (its rows, readable or not), counted without decoding them."""
    with open(path, "rb") as f:
        return sum(1 for line in f if not line.isspace())


def records_reader(records: Iterable[Any], name: str) -> Callable[[], Iterator[RawRow]]:
    """Rows held elsewhere (a JSON list, lmms-eval's copy of a hub dataset): `<name> row <i>` each; an
    item that is not a mapping is an unreadable row. `records` must be iterable more than once."""

    def read() -> Iterator[RawRow]:
        for index, item in enumerate(records):
            where = f"{name} row {index}"
            if isinstance(item, Mapping):
                yield RawRow(index, where, item)
            else:
                yield RawRow(index, where, None, f"{where}: not a JSON object")

    return read


def read_json_list(path: Path, what: str = "rows") -> list[Any]:
    """A JSON file holding a list (the format itself needs the whole file: MMHal-Bench, video QA)."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one
        raise UsageError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(value, list):
        raise UsageError(f"{path}: expected a JSON list of {what}")
    return value


def csv_reader(path: Path, name: str) -> Callable[[], Iterator[RawRow]]:
    """A CSV file with a header, one row at a time (`<name> row <i>`, from 0); a leading BOM is dropped."""

    def read() -> Iterator[RawRow]:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for index, record in enumerate(csv.DictReader(f)):
                yield RawRow(index, f"{name} row {index}", record)

    return read


def file_sha256(*paths: Path) -> str:
    """sha256 of the files' bytes (joined by a NUL byte), read in chunks."""
    digest = hashlib.sha256()
    for i, path in enumerate(paths):
        if i:
            digest.update(b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def local_file(data_dir: Path, name: str, layout: str = "") -> Path:
    """`data_dir/name`, or the usage error saying what the directory must hold."""
    path = data_dir / name
    if not path.is_file():
        raise UsageError(f"--data-dir {data_dir}: no {name} there" + (f" ({layout})" if layout else ""))
    return path


def local_info(data_dir: Path, sha256: str, split: str | None, dataset: str | None = None,
               config: str | None = None) -> DatasetInfo:
    return DatasetInfo(source="local", id=dataset, config=config, path=str(data_dir.resolve()), split=split,
                       data_sha256=sha256)


def path_media(root: Path | None, columns: Mapping[str, MediaKind]) -> MediaRule:
    """Media columns holding paths relative to `root` (None: the media are not there, e.g. a hub CSV whose
    videos the user never downloaded). A missing or non-text value still gets a reference, labelled by
    row and column, so a judge that opens it records a media error while replay still works."""

    def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
        out = {}
        for column, kind in columns.items():
            value = (raw.fields or {}).get(column)
            if isinstance(value, str) and value:
                out[column] = MediaRef(kind, value, path=(root / value) if root is not None else None)
            else:
                out[column] = MediaRef(kind, f"{raw.where}: {column}")
        return out

    return media


# ---- declared data -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalLayout:
    """A benchmark's copy under `--data-dir`: one JSONL file, media as paths relative to the directory."""

    file: str
    #: column -> kind of the medium whose path it holds, in the order the sample shows them.
    media: Mapping[str, MediaKind] = field(default_factory=dict)
    ids: IdRule = IdRule()
    #: What the directory must hold, said when the file is missing.
    layout: str = ""


@dataclass(frozen=True)
class HubLayout:
    """A dataset on the Hugging Face hub, read with `datasets` at a pinned revision."""

    dataset: str
    #: The commit read unless `--dataset-revision` names another (None: the branch head, resolved and recorded).
    revision: str | None = None
    config: str | None = None
    #: Image columns, read as undecoded bytes (`Image(decode=False)`) and decoded only when a judge needs them.
    image_columns: tuple[str, ...] = ()
    #: Columns holding media URLs, fetched when a judge opens them.
    url_columns: tuple[str, ...] = ()
    url_kind: MediaKind = "video"
    ids: IdRule = IdRule(fallback="row-{index}")
    #: The hub path needs a commit (`revision` or --dataset-revision): no commit of the dataset could be
    #: verified, so the branch head, whatever it holds now, is never judged as if it were the benchmark.
    needs_revision: bool = False

    def label(self, uid: str, column: str) -> str:
        return ":".join(p for p in (self.dataset, self.config, uid, column) if p)


@dataclass(frozen=True)
class DataSpec:
    """Where a task's rows come from: its hub dataset, its local layout, or both (`--data-dir` picks local)."""

    hub: HubLayout | None = None
    local: LocalLayout | None = None
    #: Said after "<task> needs --data-dir" when there is no hub dataset to fall back on.
    needs_data_dir: str = ""
    #: Facts recorded with the data whatever its source (results.json `dataset`).
    facts: Mapping[str, Any] = field(default_factory=dict)


def local_rows(layout: LocalLayout, data_dir: Path, split: str | None, dataset: HubLayout | None = None,
               media: MediaRule | None = None) -> RowSource:
    """The rows of a local JSONL copy; `dataset` names the hub dataset it is a copy of."""
    path = local_file(data_dir, layout.file, layout.layout)
    info = local_info(data_dir, file_sha256(path), split, dataset.dataset if dataset else None,
                      dataset.config if dataset else None)
    full = jsonl_reader(path)
    ids = jsonl_first_key_reader(path, layout.ids.fields[0]) if len(layout.ids.fields) == 1 else None
    return RowSource(info, full, layout.ids, media or path_media(data_dir, layout.media), str(path),
                     read_ids=ids, quick_count=lambda: jsonl_lines(path))


def load_hub_dataset(dataset: str, revision: str | None, what: str, hint: str,
                     prepare: Callable[[Any, Any], Any] | None = None, **kwargs: Any) -> tuple[Any, str | None]:
    """(`datasets.load_dataset(dataset, revision=..., **kwargs)`, the commit read): an unpinned load resolves the
    branch head first so the commit is recorded; `prepare(ds, datasets)` (e.g. image columns cast undecoded) runs
    inside the same guard. Any failure is a one-line usage error saying what could not be loaded and `hint`."""
    try:
        import datasets
        from huggingface_hub import HfApi
    except ImportError as exc:  # pragma: no cover - core dependencies
        raise UsageError("loading from the hub needs `datasets` and `huggingface_hub` (pip install datasets)") \
            from exc
    hub.require(f"cannot load {what}")
    try:
        revision = revision or HfApi().dataset_info(dataset).sha
        ds = datasets.load_dataset(dataset, revision=revision, **kwargs)
        if prepare is not None:
            ds = prepare(ds, datasets)
    except Exception as exc:
        at = f" at {revision[:12]}" if revision else ""
        raise UsageError(f"cannot load {what}{at} from the hub: {exc}. {hint}") from None
    return ds, revision


def hub_rows(layout: HubLayout, split: str, revision: str | None = None, local_hint: str = "") -> RowSource:
    """The rows of a hub dataset at `revision` (else the pinned one, else the branch head, recorded)."""
    what = layout.dataset + (f" {layout.config}" if layout.config else "") + f" split {split!r}"
    hint = f"Use --data-dir with a local copy ({local_hint})." if local_hint else "Use --data-dir with a local copy."
    revision = revision or layout.revision
    if revision is None and layout.needs_revision:
        raise UsageError(f"no commit of {layout.dataset} is pinned here (none could be verified); give "
                         f"--dataset-revision <commit> to read {what} from the hub. {hint}")

    def undecoded(ds: Any, datasets: Any) -> Any:
        for column in layout.image_columns:
            ds = ds.cast_column(column, datasets.Image(decode=False))
        return ds

    config = {"name": layout.config} if layout.config else {}
    ds, revision = load_hub_dataset(layout.dataset, revision, what, hint, undecoded, **config, split=split)
    info = DatasetInfo(source="hub", id=layout.dataset, config=layout.config, revision=revision, split=split)
    id_columns = [c for c in layout.ids.fields if c in ds.column_names]

    def read_ids() -> Iterator[RawRow]:  # the id columns only: no image bytes for the first pass
        return records_reader(ds.select_columns(id_columns), layout.dataset)()

    return RowSource(info, records_reader(ds, layout.dataset), layout.ids, hub_media(layout), layout.dataset,
                     read_ids=read_ids if id_columns else None)


def hub_media(layout: HubLayout) -> MediaRule:
    """Image columns as their embedded bytes, URL columns as a fetch, labelled `<dataset>[:<config>]:<id>:<column>`."""

    def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
        row = raw.fields or {}
        out = {}
        for column in layout.image_columns:
            value = row.get(column)
            data = (value.get("bytes") if isinstance(value, Mapping) else None) or b""
            out[column] = MediaRef("image", layout.label(uid, column), loader=_constant(data))
        for column in layout.url_columns:
            out[column] = MediaRef(layout.url_kind, layout.label(uid, column), loader=_fetcher(row.get(column)))
        return out

    return media


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _fetcher(url: str | None) -> Callable[[], bytes]:
    return lambda: fetch_url(url)  # looked up when called, so a test can stand in for the network


def fetch_url(url: str | None) -> bytes:
    """A medium's bytes from its URL (files of hub repositories through the hub cache)."""
    if not url:
        raise ValueError("no media URL in this row")
    if "huggingface.co/datasets/" in url:
        from huggingface_hub import hf_hub_download

        repo_id, rest = url.split("datasets/", 1)[1].split("/blob/", 1)
        revision, filename = rest.split("/", 1)
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset",
                                    revision=revision)).read_bytes()
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()
