"""Reading a source's rows, as its own files or hub dataset define them, and checking their fields.

A row is a plain mapping in the source's real schema. Converters read fields through `Row`'s helpers so
that every problem (a missing image, a missing score, an unknown label) becomes one `RowError` naming the
source, the row and the field, which the build either raises or, under `skip_bad_rows`, counts.

Local copies: `.jsonl` (one object per line), `.json` (a list of objects) or `.parquet` (read with
`datasets`, so embedded HF images arrive as bytes). Hub datasets: `datasets.load_dataset(id, name=config,
revision=..., split=...)`, imported only when a manifest names a hub source.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from harness.errors import UsageError

MEDIA_TOKENS = re.compile(r"<image>|<video>")


class RowError(UsageError):
    """One source row cannot be converted. Names source, row and field so the user can find it."""

    def __init__(self, source: str, row: str, field: str, reason: str):
        super().__init__(f"{source}: row {row}: field {field!r}: {reason}")
        self.source = source
        self.row = row
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Lazy:
    """A media value fetched only when the record is written (hub images stay on disk until sampled)."""

    fetch: Callable[[], Any] = field(compare=False)


@dataclass(frozen=True)
class Row:
    source: str
    index: int  # position in the source's row stream, 0-based
    where: str  # file and line, or hub config/split and position
    data: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.index} ({self.where})"

    def error(self, field_name: str, reason: str) -> RowError:
        return RowError(self.source, self.label, field_name, reason)

    def value(self, name: str) -> Any:
        """The field's value; absent or null is an error (every field a converter asks for is needed)."""
        if name not in self.data:
            raise self.error(name, "missing")
        value = self.data[name]
        if value is None:
            raise self.error(name, "is null")
        return value

    def text(self, name: str) -> str:
        value = self.value(name)
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"expected a non-empty string, got {value!r}")
        return value

    def number(self, name: str) -> float:
        return as_number(self, name, self.value(name))

    def items(self, name: str) -> list[Any]:
        value = self.value(name)
        if not isinstance(value, (list, tuple)) or not value:
            raise self.error(name, f"expected a non-empty list, got {value!r}")
        return list(value)

    def mapping(self, name: str) -> Mapping[str, Any]:
        value = self.value(name)
        if not isinstance(value, Mapping):
            raise self.error(name, f"expected an object, got {type(value).__name__}")
        return value

    def ident(self, name: str) -> str:
        """A source id field (str or int) as text."""
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
            raise self.error(name, f"expected an id (string or integer), got {value!r}")
        return str(value)


def as_number(row: Row, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise row.error(name, f"expected a number, got {value!r}")
    return float(value)


def strip_media_tokens(text: str) -> str:
    """Drop `<image>`/`<video>` tokens: media are listed in the record and go before the text."""
    return MEDIA_TOKENS.sub("", text).strip()


def conversation(row: Row, name: str = "conversations") -> tuple[str, str]:
    """(human turn, gpt turn) of a LLaVA-format single-turn conversation."""
    turns = row.items(name)
    if len(turns) != 2 or not all(isinstance(t, Mapping) for t in turns):
        raise row.error(name, f"expected one human turn and one gpt turn, got {len(turns)} turn(s)")
    roles = [t.get("from") for t in turns]
    if roles != ["human", "gpt"]:
        raise row.error(name, f"expected turns from ['human', 'gpt'], got {roles}")
    texts = [t.get("value") for t in turns]
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise row.error(f"{name}[{i}].value", "empty turn")
    return texts[0], texts[1]


# -- local files ----------------------------------------------------------------------------------------


def file_rows(source: str, path: Path, scratch: Path) -> Iterator[Row]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_rows(source, path)
    elif suffix == ".json":
        yield from _json_rows(source, path)
    elif suffix == ".parquet":
        yield from parquet_rows(source, path, scratch)
    else:
        raise UsageError(f"{source}: {path}: unsupported file type {suffix!r} (use .jsonl, .json or .parquet)")


def _jsonl_rows(source: str, path: Path) -> Iterator[Row]:
    index = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            row = Row(source, index, f"{path.name} line {lineno}", {})
            index += 1
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise row.error("(line)", f"malformed JSON: {exc}") from exc
            yield _checked(row, data)


def _json_rows(source: str, path: Path) -> Iterator[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{source}: {path}: malformed JSON: {exc}") from exc
    if not isinstance(data, list):
        raise UsageError(f"{source}: {path}: expected a JSON list of rows, got {type(data).__name__}")
    for index, item in enumerate(data):
        yield _checked(Row(source, index, f"{path.name} [{index}]", {}), item)


def _checked(row: Row, data: Any) -> Row:
    if not isinstance(data, dict):
        raise row.error("(row)", f"expected a JSON object, got {type(data).__name__}")
    return Row(row.source, row.index, row.where, data)


def read_json_file(source: str, path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"{source}: {path} not found (the source needs it beside its rows)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{source}: {path}: malformed JSON: {exc}") from exc


# -- datasets (local parquet, hub) -----------------------------------------------------------------------


def parquet_rows(source: str, path: Path, scratch: Path) -> Iterator[Row]:
    """A local parquet copy (e.g. one shard of a hub dataset), read through `datasets` so HF image columns
    are recognised; its Arrow cache goes to the build's scratch directory, not the user's HF cache."""
    datasets = _datasets(source)
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(scratch))
    yield from dataset_rows(source, ds, path.name, start=0)


def hub_rows(source: str, hub: str, revision: str | None, configs: Sequence[str | None],
             splits: Sequence[str | None]) -> Iterator[Row]:
    """Rows of every (config, split), in that order; split None means every split, sorted by name (HPD's
    25.6K rows are spread over splits train_0001 ... train_0026)."""
    datasets = _datasets(source)
    start = 0
    for config in configs:
        for split in splits:
            loaded = datasets.load_dataset(hub, name=config, revision=revision, split=split)
            parts = sorted(loaded.items()) if split is None else [(split, loaded)]
            for split_name, ds in parts:
                where = f"{hub}:{config}/{split_name}" if config else f"{hub}:{split_name}"
                for row in dataset_rows(source, ds, where, start):
                    yield row
                start += len(ds)


def dataset_rows(source: str, ds: Any, where: str, start: int) -> Iterator[Row]:
    """Plain columns are read row by row; image columns become `Lazy` values that fetch the stored bytes
    (not a decoded image) by index when the record is written."""
    from datasets import Image

    image_columns = [name for name, feature in ds.features.items() if isinstance(feature, Image)]
    plain = ds.remove_columns(image_columns) if image_columns else ds
    media = ds.select_columns(image_columns) if image_columns else None
    if media is not None:
        for name in image_columns:
            media = media.cast_column(name, Image(decode=False))
    for i, data in enumerate(plain):
        row_data = dict(data)
        for name in image_columns:
            row_data[name] = Lazy(_fetcher(media, i, name))
        yield Row(source, start + i, f"{where}[{i}]", row_data)


def _fetcher(media: Any, i: int, name: str) -> Callable[[], Any]:
    return lambda: media[i][name]


def _datasets(source: str) -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise UsageError(f"{source}: reading parquet or hub data needs the `datasets` package") from exc
    return datasets
