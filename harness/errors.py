"""Error types. Each maps to one behaviour of the CLI:

- `UsageError`: the command cannot start (unknown name, bad argument, missing data). Exit 2.
- `SampleError`: one sample cannot be judged (bad row, unreadable media, adapter failure). Counted in
  the sample's record and the run goes on; fatal under `--strict`.
- `StrictFailure`: raised by the runner under `--strict` at the first failed sample. Exit 1.
- `Interrupted`: Ctrl-C (SIGINT) stopped the run after the record in progress. Exit 130.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of the errors the harness raises on purpose."""


class UsageError(HarnessError):
    """The command, its arguments or its inputs are wrong; nothing was run."""


class SampleError(HarnessError):
    """One sample failed at `stage` (load, requests, media, adapter, parse)."""

    def __init__(self, reason: str, stage: str = "requests"):
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


class MediaError(SampleError):
    def __init__(self, reason: str):
        super().__init__(reason, stage="media")


class StrictFailure(HarnessError):
    """A sample failed while `--strict` was on."""


class Interrupted(HarnessError):
    """The user pressed Ctrl-C: the run stopped after its current record; `run_dir` resumes it."""

    def __init__(self, run_dir: object):
        super().__init__(f"interrupted; the run directory {run_dir} holds every finished record")
        self.run_dir = run_dir


def did_you_mean(name: str, valid: list[str]) -> str:
    return f"{name!r}; valid names: {', '.join(sorted(valid)) or '(none)'}"
