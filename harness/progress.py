"""Progress of a run, on a terminal and off it.

`--progress auto` (default): a tqdm bar when stderr is a terminal, else `log`. `log`: one line to stderr every
`HARNESS_PROGRESS_INTERVAL` seconds (default 10) and at the end of each task, for CI logs, `nohup` and
notebooks:

    harness: vlrewardbench [strict] 300/1250 (24.0%) 12.3 samples/s ETA 1m17s errors 2 invalid 5

`bar`: the tqdm bar even off a terminal; `none`: nothing. `-q` is `--progress none`; `-v` also prints each
sample that ends as an error or invalid, with its stage and reason, as it is recorded.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from .records import Judgment

MODES = ("auto", "bar", "log", "none")


def resolve_mode(mode: str | bool | None, stream: TextIO | None = None) -> str:
    """`auto` (or None) -> bar on a terminal, log elsewhere; True/False are bar/none (the old flag)."""
    if mode is True:
        return "bar"
    if mode is False:
        return "none"
    if mode in (None, "auto"):
        stream = stream or sys.stderr
        return "bar" if getattr(stream, "isatty", lambda: False)() else "log"
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r}; valid: {', '.join(MODES)}")
    return str(mode)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, mode: str, total: int | None, label: str, verbose: bool = False,
                 stream: TextIO | None = None):
        """`total`: the samples to judge, None when unknown before the data has been read (no percentage then)."""
        self.mode, self.total, self.label, self.verbose = mode, total, label, verbose
        self.stream = stream or sys.stderr
        self.done = self.errors = self.invalid = 0
        self.start = self.last = time.monotonic()
        self.interval = float(os.environ.get("HARNESS_PROGRESS_INTERVAL", "10"))
        self.bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="sample", dynamic_ncols=True, file=self.stream)

    def update(self, judgment: Judgment) -> None:
        self.done += 1
        self.errors += judgment.status == "error"
        self.invalid += judgment.status == "invalid"
        if self.verbose and judgment.status != "ok":
            self._write(f"harness: {self.label} sample {judgment.sample_id}: {judgment.status} at "
                        f"{judgment.stage or 'parse'}: {judgment.reason}")
        if self.bar is not None:
            self.bar.update(1)
        elif self.mode == "log" and time.monotonic() - self.last >= self.interval:
            self.log_line()

    def log_line(self) -> None:
        now = time.monotonic()
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        if self.total is None:
            self._write(f"harness: {self.label} {self.done} {rate:.1f} samples/s errors {self.errors} "
                        f"invalid {self.invalid}")
            return
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        share = 100.0 * self.done / self.total if self.total else 100.0
        self._write(f"harness: {self.label} {self.done}/{self.total} ({share:.1f}%) {rate:.1f} samples/s "
                    f"ETA {_duration(eta) if eta != float('inf') else '?'} errors {self.errors} invalid {self.invalid}")

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.mode == "log" and (self.total or self.done):
            self.log_line()  # the task's final line
