"""The run directory:

    <output>/<run_id>/run.json              header written at start: the run's config and provenance
    <output>/<run_id>/<task>.samples.jsonl  one line per judged sample, appended and flushed as it ends
    <output>/<run_id>/results.json          written atomically (temp file + rename) at the end

Resume: a run is identified by the hash of its config (tasks, protocols, model and args, data, split,
limit, seed). `--resume` continues the newest run in `<output>` with the same hash. Samples with a
record are skipped, except records with status `error` (an endpoint that was down, a file that was
missing): those are dropped and judged again, so every sample still ends with exactly one record.
A line cut short by a kill mid-write is discarded.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TextIO, TypeVar

from .errors import UsageError
from .records import Judgment

if TYPE_CHECKING:
    from .run_record import RunRecord

T = TypeVar("T")


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_safe(obj: Any) -> Any:
    """NaN and infinities become null: results.json must be strict JSON for every consumer (a CI gate in
    another language), and a NaN anywhere (an adapter's identity, a detail) must not lose the run."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


class SampleLog:
    """Append-only JSONL of Judgment records for one task."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file: TextIO | None = None  # opened by the first append

    def finished(self, retry_errors: bool = True, repair: bool = True) -> set[str]:
        """The ids of the finished records, read a line at a time (first record per id wins). When
        `retry_errors`, error records do not count as finished. With `repair` (the file's owner only) the
        file is rewritten without torn lines, duplicates and those error records."""
        return set(self._kept(retry_errors, repair, lambda record: None))

    def load(self, retry_errors: bool = True, repair: bool = True) -> dict[str, Judgment]:
        """`finished`, with each id's record."""
        return self._kept(retry_errors, repair, Judgment.from_dict)

    def _kept(self, retry_errors: bool, repair: bool, build: Callable[[dict[str, Any]], T]) -> dict[str, T]:
        if not self.path.exists():
            return {}
        done: dict[str, T] = {}
        changed = False
        tmp = self.path.with_suffix(".jsonl.tmp")
        kept = open(tmp, "wb") if repair else None
        try:
            with open(self.path, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        changed = True  # a torn last line from a kill; the sample will be judged again
                        continue
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                        sample_id, status = str(record["id"]), record["status"]
                        value = build(record)
                    except (ValueError, KeyError, TypeError):
                        changed = True  # torn write from a kill; the sample will be judged again
                        continue
                    if sample_id in done or (retry_errors and status == "error"):
                        changed = True
                        continue
                    done[sample_id] = value
                    if kept is not None:
                        kept.write(line)
        finally:
            if kept is not None:
                kept.close()
                if changed:
                    os.replace(tmp, self.path)
                else:
                    tmp.unlink()
        return done

    def append(self, judgment: Judgment) -> None:
        record = judgment.as_dict()
        try:  # records the code built hold finite numbers: no recursive walk on the normal path
            line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        except ValueError:  # a NaN or infinity somewhere (a judge's score): written as null
            line = json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_samples(path: Path) -> Iterator[Judgment]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Judgment.from_dict(json.loads(line))


class RunStore:
    def __init__(self, directory: Path):
        self.dir = directory
        self.run_id = directory.name
        self._lock_file: TextIO | None = None  # held open by lock() while this process writes the run

    @classmethod
    def create(cls, output: Path, header: Mapping[str, Any], model_name: str) -> "RunStore":
        output.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        base = f"{stamp}-{_slug(model_name)}-{header['config_hash'][:8]}"
        directory = output / base
        n = 1
        while True:
            try:
                directory.mkdir()
                break
            except FileExistsError:
                n += 1
                directory = output / f"{base}-{n}"
        store = cls(directory)
        atomic_write_json(directory / "run.json", {**header, "run_id": store.run_id})
        return store

    @classmethod
    def find_resumable(cls, output: Path, config_hash: str) -> "RunStore | None":
        if not output.is_dir():
            return None
        candidates = []
        for header_path in output.glob("*/run.json"):
            try:
                header = json.loads(header_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if header.get("config_hash") == config_hash:
                candidates.append((header.get("started", ""), header_path.parent.name, header_path.parent))
        if not candidates:
            return None
        return cls(max(candidates)[2])

    @staticmethod
    def closest(output: Path, config: Mapping[str, Any]) -> tuple[Path, list[str]] | None:
        """The run in `output` whose configuration differs from `config` in the fewest fields (newest on a tie),
        with those fields as `name: theirs -> ours` lines; None when `output` holds no run."""
        best: tuple[int, str, Path, list[str]] | None = None
        for header_path in output.glob("*/run.json") if output.is_dir() else ():
            try:
                header = json.loads(header_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            theirs, ours = _flatten(header.get("config") or {}), _flatten(config)
            diffs = [f"{key}: {theirs.get(key, '(absent)')!r} -> {ours.get(key, '(absent)')!r}"
                     for key in sorted(set(theirs) | set(ours)) if theirs.get(key) != ours.get(key)]
            rank = (-len(diffs), str(header.get("started", "")), header_path.parent, diffs)
            if best is None or rank[:2] > best[:2]:
                best = rank
        return (best[2], best[3]) if best is not None else None

    def lock(self) -> None:
        """Hold an exclusive lock on the run for this process's lifetime (released by the OS even on
        SIGKILL), so two processes resuming one run cannot interleave records."""
        if sys.platform == "win32":  # pragma: no cover - no flock; resume still works, unguarded
            return
        import fcntl

        lock_file = open(self.dir / ".lock", "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise UsageError(f"run {self.dir} is being written by another process") from None
        self._lock_file = lock_file

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def header(self) -> dict[str, Any]:
        return json.loads((self.dir / "run.json").read_text(encoding="utf-8"))

    def sample_log(self, task: str, rank: int = 0) -> SampleLog:
        """The task's log; a data-parallel process other than rank 0 writes its own shard file."""
        name = f"{task}.samples.jsonl" if rank == 0 else f"{task}.samples.rank{rank}.jsonl"
        return SampleLog(self.dir / name)

    def shard_logs(self, task: str) -> list[SampleLog]:
        return [SampleLog(p) for p in sorted(self.dir.glob(f"{task}.samples.rank*.jsonl"))]

    def merge_shards(self, task: str) -> int:
        """Fold every shard file of `task` into the main log (rank 0, after a barrier); returns the
        number of records moved. Records already in the main log win. Lines are copied, not re-encoded."""
        shards = self.shard_logs(task)
        if not shards:  # one process wrote the run
            return 0
        main = self.sample_log(task)
        have = main.finished(retry_errors=False)
        moved = 0
        with open(main.path, "ab") as out:
            for shard in shards:
                shard.finished(retry_errors=False)  # drops its torn lines and duplicates
                with open(shard.path, "rb") as f:
                    for line in f:
                        sample_id = str(json.loads(line)["id"])
                        if sample_id not in have:
                            out.write(line)
                            have.add(sample_id)
                            moved += 1
                shard.path.unlink()
        return moved

    def write_results(self, record: "RunRecord") -> dict[str, Any]:
        """results.json, atomically; returns the JSON written (NaN as null)."""
        results = json_safe(record.to_json())
        atomic_write_json(self.dir / "results.json", results)
        return results


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (`model.args.max_new_tokens`), for naming what differs."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:40]
