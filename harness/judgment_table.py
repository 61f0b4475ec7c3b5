"""A task's records as columns, for scoring: what `score` reads of 100k records in a few MB, not 100 MB.

`JudgmentTable.read(path, ids)` reads `<task>.samples.jsonl` a line at a time into dataset order (`ids`)
and keeps, per sample, only what scoring and results.json use: the status, the outcome fields, the
prompt hash, and the stage and reason of a sample that is not ok. The replies stay in the file.

Outcome fields are `Column`s: a value table (each distinct value once) and one small integer code per
sample, so a boolean or a category costs a byte a sample. It is still a `Sequence[Judgment]`, so every
task's `score` takes it; a task that reads columns directly (`outcome_array`) never builds the
per-sample objects at all.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, overload

from .records import Judgment

if TYPE_CHECKING:
    import numpy as np

STATUSES = ("ok", "invalid", "error")
_CODE = {name: i for i, name in enumerate(STATUSES)}
_ABSENT = object()  # an outcome without this field (it stays absent in the Judgment built back)


class Column:
    """One outcome field over the rows: codes into a table of distinct values (hashable ones), widening
    the code type as values grow in number; a column that meets an unhashable value (a list, a dict)
    holds the values themselves."""

    def __init__(self, n: int):
        self.values: list[Any] = [_ABSENT]
        self._index: dict[Any, int] | None = {}
        self.codes: Any = array("b", bytes(n))  # every row starts absent (code 0)
        self._plain: list[Any] | None = None

    def set(self, row: int, value: Any) -> None:
        if self._plain is not None:
            self._plain[row] = value
            return
        try:
            key = (type(value), value)  # True and 1 are equal keys; kept apart by type
            assert self._index is not None
            code = self._index.get(key)
        except TypeError:  # unhashable: this column holds its values
            self._plain = [self.values[c] for c in self.codes]
            self._plain[row] = value
            self.codes, self._index = array("b"), None
            return
        if code is None:
            code = len(self.values)
            self.values.append(value)
            self._index[key] = code
            limit = {"b": 127, "h": 32767}.get(self.codes.typecode)
            if limit is not None and code > limit:
                self.codes = array("h" if self.codes.typecode == "b" else "l", self.codes)
        self.codes[row] = code

    def __getitem__(self, row: int) -> Any:
        return self._plain[row] if self._plain is not None else self.values[self.codes[row]]

    def to_list(self, default: Any = None) -> list[Any]:
        """Every row's value (`default` where the field is absent)."""
        values = [default if v is _ABSENT else v for v in self.values] if self._plain is None else None
        if values is not None:
            return [values[c] for c in self.codes]
        assert self._plain is not None
        return [default if v is _ABSENT else v for v in self._plain]


class IdList(Sequence[str]):
    """Sample ids in order, packed into one UTF-8 buffer with an end offset each: 100k ids cost ~1.3 MB, not the
    6.6 MB of as many string objects (the runner keeps every id of a task until it is scored)."""

    def __init__(self, ids: Iterable[str] = ()):
        self._data = bytearray()
        self._ends = array("q")
        for sample_id in ids:
            self.append(sample_id)

    def append(self, sample_id: str) -> None:
        self._data += sample_id.encode("utf-8")
        self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        start = self._ends[index - 1] if index > 0 else 0
        return self._data[start:self._ends[index]].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        start = 0
        for end in self._ends:
            yield self._data[start:end].decode("utf-8")
            start = end


class JudgmentTable(Sequence[Judgment]):
    """A task's records in dataset order, as columns (see the module docstring)."""

    def __init__(self, ids: Sequence[str]):
        self.ids: Sequence[str] = ids if isinstance(ids, (list, IdList)) else list(ids)
        n = len(self.ids)
        self.status = bytearray(n)
        self.columns: dict[str, Column] = {}
        self._digest = 0  # the sum of the rows' (id, prompt hash) digests, mod 2**256: see `prompts_digest`
        self.problems: dict[int, tuple[str | None, str | None]] = {}  # row -> (stage, reason), rows not ok

    @classmethod
    def read(cls, path: Path, ids: Sequence[str]) -> "JudgmentTable":
        """The records of `path` for `ids`, in that order; a missing record or a second one for an id is an
        error naming the file (the runner wrote it: this means the run directory was damaged)."""
        table = cls(ids)
        filled = bytearray(len(table.ids))
        place = _Placer(table.ids)
        # A task whose every sample failed before writing may have no log yet.
        with open(path, encoding="utf-8") if path.exists() else nullcontext(iter(())) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                row = place(str(record["id"]))
                if row is None:  # a sample outside this run's selection (e.g. an earlier --limit): not scored
                    continue
                if filled[row]:
                    raise RuntimeError(f"{path}: sample {record['id']!r} has two records")
                filled[row] = 1
                table._put(row, record)
        missing = [table.ids[i] for i, f in enumerate(filled) if not f]
        if missing:
            raise RuntimeError(f"{path}: {len(missing)} sample(s) have no record, e.g. {missing[:3]}")
        return table

    @classmethod
    def read_all(cls, path: Path) -> "JudgmentTable":
        """Every record of `path` in file order, repeated ids included (`harness compare` reports them); a line
        that is not a sample record is an error naming it."""
        with open(path, "rb") as f:
            n = sum(1 for line in f if not line.isspace())
        ids = [""] * n
        table = cls(ids)
        row = 0
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                try:
                    ids[row] = str(record["id"])
                    table._put(row, record)
                except (KeyError, TypeError) as exc:
                    raise ValueError(f"{path.name} line {number}: not a sample record (missing {exc})") from None
                row += 1
        return table

    @classmethod
    def of(cls, judgments: Iterable[Judgment]) -> "JudgmentTable":
        """The same columns from records in memory (tests, tools that hold a list)."""
        held = list(judgments)
        table = cls([j.sample_id for j in held])
        for row, j in enumerate(held):
            table._put(row, j.as_dict())
        return table

    def _put(self, row: int, record: Mapping[str, Any]) -> None:
        status = record["status"]
        self.status[row] = _CODE[status]
        for key, value in (record.get("outcome") or {}).items():
            column = self.columns.get(key)
            if column is None:
                column = self.columns[key] = Column(len(self.ids))
            column.set(row, value)
        line = f"{self.ids[row]}\t{record.get('prompt_hash') or '-'}".encode()
        self._digest = (self._digest + int.from_bytes(hashlib.sha256(line).digest(), "big")) % (1 << 256)
        if status != "ok":
            self.problems[row] = (record.get("stage"), record.get("reason"))

    # ---- Sequence[Judgment] ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Judgment: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Judgment]: ...

    def __getitem__(self, index: int | slice) -> Judgment | Sequence[Judgment]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        outcome = {}
        for key, column in self.columns.items():
            value = column[index]
            if value is not _ABSENT:
                outcome[key] = value
        stage, reason = self.problems.get(index, (None, None))
        return Judgment(self.ids[index], STATUSES[self.status[index]], outcome,  # type: ignore[arg-type]
                        reason=reason, stage=stage)

    def __iter__(self) -> Iterator[Judgment]:
        return (self[i] for i in range(len(self)))

    # ---- what results.json records -----------------------------------------------------------------
    def statuses(self) -> list[str]:
        return [STATUSES[c] for c in self.status]

    def counts(self) -> dict[str, int]:
        return {"n": len(self), "n_invalid": self.status.count(_CODE["invalid"]),
                "n_error": self.status.count(_CODE["error"])}

    def error_summary(self) -> dict[str, int]:
        """`status/stage` -> how many samples ended so (ok samples are not listed)."""
        out: dict[str, int] = {}
        for row in sorted(self.problems):
            key = f"{STATUSES[self.status[row]]}/{self.problems[row][0] or 'parse'}"
            out[key] = out.get(key, 0) + 1
        return out

    def error_examples(self) -> dict[str, str]:
        """One reason per `status/stage` (the first sample's in dataset order)."""
        out: dict[str, str] = {}
        for row in sorted(self.problems):
            stage, reason = self.problems[row]
            out.setdefault(f"{STATUSES[self.status[row]]}/{stage or 'parse'}",
                           f"{self.ids[row]}: {(reason or '')[:200]}")
        return out

    def prompts_digest(self) -> str:
        """One digest of every sample's prompt: sha256 of the sum (mod 2**256) of sha256(`id<TAB>prompt hash`)
        over the samples. Equal digests: the same prompts asked of the same samples (each sample's own hash
        is in samples.jsonl). A sum does not depend on the order the records were written in, so it is
        computed as they are read, with nothing kept per sample."""
        return hashlib.sha256(self._digest.to_bytes(32, "big")).hexdigest()


def record_ids(judgments: Sequence[Judgment], rows: "np.ndarray") -> Sequence[str]:
    """The sample ids of `rows` (increasing positions), without a copy when every row is there."""
    ids = judgments.ids if isinstance(judgments, JudgmentTable) else [j.sample_id for j in judgments]
    return ids if len(rows) == len(ids) else [ids[int(i)] for i in rows]


def status_codes(judgments: Sequence[Judgment]) -> "np.ndarray":
    """Each record's status as a code (`STATUSES` index: 0 ok, 1 invalid, 2 error), a byte each."""
    import numpy as np

    if isinstance(judgments, JudgmentTable):
        return np.frombuffer(bytes(judgments.status), dtype=np.uint8)
    return np.array([_CODE[j.status] for j in judgments], dtype=np.uint8)


def outcome_array(judgments: Sequence[Judgment], key: str, convert: Callable[[Any], Any], dtype: Any,
                  default: Any = None) -> "np.ndarray":
    """`convert(outcome[key])` for each record (`default` where absent) as a numpy array; from a table's column
    each distinct value is converted once and gathered by code, so no per-sample Python object is made."""
    import numpy as np

    column = judgments.columns.get(key) if isinstance(judgments, JudgmentTable) else None
    if isinstance(judgments, JudgmentTable) and column is None:
        return np.full(len(judgments), convert(default), dtype=dtype)
    if column is not None and column.codes.typecode in _NUMPY_CODES and len(column.codes) == len(judgments):
        codes = np.frombuffer(column.codes, dtype=_NUMPY_CODES[column.codes.typecode])
        absent = convert(default) if (codes == 0).any() else np.zeros(1, dtype=dtype)[0]  # code 0: no such field
        table = np.array([absent, *(convert(v) for v in column.values[1:])], dtype=dtype)
        return table[codes]
    values = column.to_list(default) if column is not None else [j.outcome.get(key, default) for j in judgments]
    return np.array([convert(v) for v in values], dtype=dtype)


_NUMPY_CODES = {"b": "int8", "h": "int16", "l": "int64" if array("l").itemsize == 8 else "int32"}


class _Placer:
    """id -> its row in `ids`. Records are written nearly in dataset order (a resumed run appends the rest
    in order too), so the next row is tried first; an id out of place builds the full index once."""

    def __init__(self, ids: Sequence[str]):
        self.ids, self.next = ids, 0
        self.index: dict[str, int] | None = None

    def __call__(self, sample_id: str) -> int | None:
        if self.index is None:
            if self.next < len(self.ids) and self.ids[self.next] == sample_id:
                self.next += 1
                return self.next - 1
            self.index = {sid: i for i, sid in enumerate(self.ids)}
        return self.index.get(sample_id)
