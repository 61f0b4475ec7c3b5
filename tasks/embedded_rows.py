"""Rows of datasets that embed their images (Parquet or Arrow files as `datasets` writes them, and the hub
datasets built from them), read without decoding a single pixel.

A shared piece of the image-editing reward benchmarks (`tasks/editreward_bench.py`, `tasks/editscore_bench.py`),
not a benchmark itself. `datasets` stores an image as a struct `{"bytes": ..., "path": ...}`; the readers here
yield each row as a plain dict with those structs untouched, a record batch at a time, and `image_ref` turns one
into a `MediaRef` whose loader hands the judge the embedded bytes.

- `table_reader(files, root)`: local copies laid out as the hub repository (`huggingface-cli download`), one
  or more `.parquet` or `.arrow` files read in order; each row is `<file> row <i>` in messages.
- `hub_records(ds, name)`: the rows of a hub dataset loaded with `harness.rows.load_hub_dataset`, raw.
- `chain(parts)`: several readers as one dataset (positions continue across them), each part's rows marked
  with its name under `PART_FIELD`.

pyarrow comes with `datasets` (a core dependency); both are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from harness.errors import UsageError
from harness.records import MediaRef
from harness.rows import RawRow

#: The key under which `chain` records which part (file group, hub subset) a row came from.
PART_FIELD = "__part__"
BATCH_ROWS = 64

Reader = Callable[[], Iterator[RawRow]]


@dataclass(frozen=True)
class Part:
    """One named piece of a chained dataset: its rows, read on demand."""

    name: str
    read: Reader


def table_files(root: Path, pattern: str) -> list[Path]:
    """The files under `root` matching `pattern` (a glob relative to it), in path order."""
    return sorted(p for p in root.glob(pattern) if p.is_file())


def table_reader(files: Sequence[Path], root: Path) -> Reader:
    """Every row of `files` in order, one record batch at a time: Parquet by suffix, anything else as an Arrow
    IPC stream (what `datasets` writes) or, failing that, an Arrow IPC file. A file that cannot be read as
    either is a usage error naming it."""

    def read() -> Iterator[RawRow]:
        index = 0
        for path in files:
            label = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            for i, record in enumerate(_file_records(path)):
                yield RawRow(index, f"{label} row {i}", record)
                index += 1

    return read


def _file_records(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                yield from batch.to_pylist()
            return
        with pa.memory_map(str(path)) as source:
            try:
                reader: Any = pa.ipc.open_stream(source)
                batches: Iterable[Any] = reader
            except pa.ArrowInvalid:
                source.seek(0)
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            for batch in batches:
                yield from batch.to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{path}: not a readable {'Parquet' if path.suffix == '.parquet' else 'Arrow'} "
                         f"file ({exc})") from None


def chain(parts: Sequence[Part]) -> Reader:
    """The parts' rows one after another; `index` counts across them, each row carries its part's name."""

    def read() -> Iterator[RawRow]:
        index = 0
        for part in parts:
            for raw in part.read():
                fields = None if raw.fields is None else {**raw.fields, PART_FIELD: part.name}
                yield RawRow(index, raw.where, fields, raw.problem, raw.lineno)
                index += 1

    return read


def hub_records(ds: Any, name: str) -> Reader:
    """The rows of a loaded hub dataset as raw records (image structs undecoded), `<name> row <i>` each."""

    def read() -> Iterator[RawRow]:
        index = 0
        for table in ds.with_format("arrow").iter(batch_size=BATCH_ROWS):
            for record in table.to_pylist():
                yield RawRow(index, f"{name} row {index}", record)
                index += 1

    return read


def image_bytes(value: Any) -> bytes | None:
    """The embedded bytes of one image value (`{"bytes": ..., "path": ...}` or raw bytes); None if absent."""
    if isinstance(value, Mapping):
        value = value.get("bytes")
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) and len(value) else None


def image_ref(data: bytes, label: str) -> MediaRef:
    """An image held in memory (the row's embedded bytes), named `label` in messages and score files."""
    return MediaRef("image", label, loader=lambda: data)


def files_sha256(files: Sequence[Path]) -> str:
    from harness.rows import file_sha256

    return file_sha256(*files)
