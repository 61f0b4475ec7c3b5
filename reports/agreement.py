"""`harness agreement RUN1 RUN2 [...]`: how often judges agree with each other, and with the humans.

For every task two or more runs share, on the items both runs judged (status ok in both, a readable verdict
in both): raw agreement (%) and Cohen's kappa of the underlying choices (`reports.choices`: which of the
dataset's two responses, or a tie, whatever order each judge was shown), per pair of runs. Where the task has
human labels, each run's agreement and kappa with them too. Each kappa has a 95% percentile bootstrap interval
that resamples items (MMRB2's two orders of an item move together), seeded.

Cohen's kappa over a confusion table C of n compared items (rows: judge a, columns: judge b):

    kappa = (p_o - p_e) / (1 - p_e),  p_o = trace(C) / n,  p_e = sum_k (row_k / n) (col_k / n)

computed in integers as (n trace - sum_k row_k col_k) / (n^2 - sum_k row_k col_k). When p_e = 1 (both judges
gave one and the same answer to every item) kappa is undefined: null in JSON, "n/a" in Markdown, never NaN.

Records are read as columns (`JudgmentTable.read_all`: no Python object per record, the replies never
loaded); nothing runs a model.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from harness.errors import UsageError
from harness.store import atomic_write_json, json_safe

from .choices import COARSE, NONE, Family, family_for, supported_tasks
from .runs import Run, distinct_runs, judge_labels, load_run

if TYPE_CHECKING:
    import numpy as np

HUMANS = "humans"
K = len(COARSE)


# ---- Cohen's kappa ---------------------------------------------------------------------------------------------

def cohen_kappa(confusion: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa of a square table of counts (see the module docstring); None when n = 0 or p_e = 1."""
    n = sum(sum(row) for row in confusion)
    rows = [sum(row) for row in confusion]
    cols = [sum(column) for column in zip(*confusion)]
    trace = sum(confusion[i][i] for i in range(len(confusion)))
    chance = sum(r * c for r, c in zip(rows, cols))
    if n == 0 or chance == n * n:
        return None
    return (n * trace - chance) / (n * n - chance)


def raw_agreement(confusion: Sequence[Sequence[int]]) -> float | None:
    """Share of items on the diagonal, in % (None when the table is empty)."""
    n = sum(sum(row) for row in confusion)
    return 100.0 * sum(confusion[i][i] for i in range(len(confusion))) / n if n else None


def _kappa_many(cells: np.ndarray) -> np.ndarray:
    """kappa of each row of `cells` (R, K*K) (a flattened table per replicate), NaN where undefined."""
    import numpy as np

    tables = cells.reshape(-1, K, K)
    n = tables.sum(axis=(1, 2))
    trace = np.trace(tables, axis1=1, axis2=2)
    chance = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1)
    den = n * n - chance
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (n * trace - chance) / np.where(den > 0, den, 1), np.nan)


# ---- records -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judge:
    """One run in the comparison: its label (the judge's model, made unique with the run id when two runs
    share one), where it is, and the protocol it ran the task under."""

    label: str
    run_id: str
    dir: str
    protocol: str


@dataclass(frozen=True)
class PairAgreement:
    """Two judges (or a judge and the humans) on one task. `confusion[i][j]`: units a chose COARSE[i] and b
    chose COARSE[j]. `n_items`: items with a record in both; `n_both_ok`: records ok in both (one per item, unless
    a run judged items in both orders or K times: then records are matched by id, order and sample alike);
    `n_compared`: units (records, or MMRB2's orders) with a readable verdict from both."""

    a: str
    b: str
    n_items: int
    n_both_ok: int
    n_compared: int
    agreement: float | None
    kappa: float | None
    kappa_ci95: tuple[float, float] | None
    confusion: tuple[tuple[int, ...], ...]

    def as_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n_items": self.n_items, "n_both_ok": self.n_both_ok,
                "n_compared": self.n_compared, "agreement": self.agreement, "kappa": self.kappa,
                "kappa_ci95": list(self.kappa_ci95) if self.kappa_ci95 else None,
                "confusion": [list(row) for row in self.confusion]}


@dataclass(frozen=True)
class TaskAgreement:
    task: str
    family: str
    unit: str
    judges: tuple[Judge, ...]
    pairs: tuple[PairAgreement, ...]
    #: each judge against the human labels (empty: the task has none)
    humans: tuple[PairAgreement, ...]

    def pair(self, a: str, b: str) -> PairAgreement | None:
        """The comparison of `a` and `b` (either order; `HUMANS` for the labels)."""
        for p in (*self.pairs, *self.humans):
            if {p.a, p.b} == {a, b}:
                return p
        return None

    def as_json(self) -> dict[str, Any]:
        return {"family": self.family, "unit": self.unit, "categories": list(COARSE),
                "judges": [vars(j) for j in self.judges], "pairs": [p.as_json() for p in self.pairs],
                "humans": [p.as_json() for p in self.humans]}


@dataclass(frozen=True)
class AgreementReport:
    tasks: tuple[TaskAgreement, ...]
    #: tasks not compared, with why (in one run only, no verdict reader)
    skipped: tuple[str, ...] = ()
    resamples: int = 1000
    seed: int = 0
    notes: tuple[str, ...] = field(default=())

    def task(self, name: str) -> TaskAgreement:
        for t in self.tasks:
            if t.task == name:
                return t
        raise KeyError(name)

    def as_json(self) -> dict[str, Any]:
        """The schema scripts read; kappa undefined is null."""
        return json_safe({"tasks": {t.task: t.as_json() for t in self.tasks}, "skipped": list(self.skipped),
                          "resamples": self.resamples, "seed": self.seed, "notes": list(self.notes)})


# ---- computing --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Side:
    """One run's verdicts on one task: row by record id, `codes[slot]` COARSE codes and `ok` per record."""

    index: dict[str, int]
    codes: tuple[np.ndarray, ...]
    ok: np.ndarray
    human: tuple[np.ndarray, ...] | None


def _read_side(run: Run, task: str, family: Family) -> _Side:
    import numpy as np

    from harness.judgment_table import status_codes

    table, index = run.records(task)
    codes = tuple(family.coarse_choices(table, slot) for slot in family.slots)
    labels = [family.human_labels(table, slot) for slot in family.slots]
    human = None if any(h is None for h in labels) else tuple(h for h in labels if h is not None)
    return _Side(index, codes, np.asarray(status_codes(table) == 0), human)


def _pair(a: str, b: str, codes_a: Sequence[np.ndarray], codes_b: Sequence[np.ndarray], items: np.ndarray,
          n_both_ok: int, resamples: int, seed: int) -> PairAgreement:
    """Agreement of two record-aligned code sequences (one array per slot); `items[r]` is record r's item (an
    index), what the bootstrap resamples."""
    import numpy as np

    from harness.metrics import bootstrap_ci

    n_items = int(items.max()) + 1 if items.size else 0
    # Per item, the K*K cell counts of its units (its records' slots with a verdict from both).
    per_item = np.zeros((n_items, K * K), dtype=np.int64)
    for ca, cb in zip(codes_a, codes_b):
        rows = np.flatnonzero((ca != NONE) & (cb != NONE))
        np.add.at(per_item, (items[rows], ca[rows].astype(np.int64) * K + cb[rows]), 1)
    compared = np.flatnonzero(per_item.sum(axis=1) > 0)  # items with at least one compared unit
    cells = per_item[compared].astype(np.int32)  # the bootstrap gathers (replicates, items, K*K) of these
    confusion = cells.sum(axis=0, dtype=np.int64).reshape(K, K)
    table = tuple(tuple(int(v) for v in row) for row in confusion)

    def compute(idx: np.ndarray) -> dict[str, float]:
        return {"kappa": float(_kappa_many(cells[idx].sum(axis=0, dtype=np.int64)[None, :])[0])}

    def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:
        return {"kappa": _kappa_many(cells[idx2d].sum(axis=1, dtype=np.int64))}

    ci = bootstrap_ci(compute, compared.size, resamples=resamples, seed=seed, compute_many=compute_many) \
        if compared.size and resamples > 0 else {}
    return PairAgreement(a, b, n_items, n_both_ok, int(confusion.sum()), raw_agreement(table), cohen_kappa(table),
                         tuple(ci["kappa"]) if "kappa" in ci else None, table)  # type: ignore[arg-type]


def _item_index(record_ids: Sequence[str]) -> np.ndarray:
    """Each record's item as an index (0, 1, ... in first-seen order): a run that judged an item in both orders
    or K times has several records of it (`harness.reliability.record_id`), and they are resampled together."""
    import numpy as np

    from harness.reliability import split_record_id

    index: dict[str, int] = {}
    return np.array([index.setdefault(split_record_id(rid)[0], len(index)) for rid in record_ids], dtype=np.int64)


def task_agreement(task: str, runs: Sequence[Run], labels: Sequence[str], resamples: int = 1000,
                   seed: int = 0) -> TaskAgreement | str:
    """One task over `runs` (each has it): the agreement table, or why it cannot be compared."""
    import numpy as np

    families = {run.tasks[task].protocol: family_for(task, run.tasks[task].protocol) for run in runs}
    if any(f is None for f in families.values()):
        return (f"{task}: no verdict reader for this task (agreement reads {', '.join(supported_tasks())}; "
                f"add a Family in reports/choices.py)")
    kinds = {f.name: f for f in families.values() if f is not None}
    if len({f.slots for f in kinds.values()}) > 1:
        return f"{task}: the runs' protocols record different units ({', '.join(sorted(kinds))}); not compared"
    sides = [_read_side(run, task, families[run.tasks[task].protocol]) for run in runs]  # type: ignore[arg-type]
    judges = tuple(Judge(label, run.run_id, str(run.dir), run.tasks[task].protocol) for label, run in zip(labels, runs))
    family_name = "+".join(sorted(kinds))
    unit = next(iter(kinds.values())).unit

    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(sides), 2):
        common = [rid for rid in a.index if rid in b.index]  # records of the same judgment (order, sample): a's order
        ra = np.array([a.index[r] for r in common], dtype=np.int64)
        rb = np.array([b.index[r] for r in common], dtype=np.int64)
        both_ok = int(np.count_nonzero(a.ok[ra] & b.ok[rb])) if common else 0
        pairs.append(_pair(labels[i], labels[j], [c[ra] for c in a.codes], [c[rb] for c in b.codes],
                           _item_index(common), both_ok, resamples, seed))
    humans = []
    for label, side in zip(labels, sides):
        if side.human is not None:
            humans.append(_pair(label, HUMANS, side.codes, side.human, _item_index(list(side.index)),
                                int(side.ok.sum()), resamples, seed))
    return TaskAgreement(task, family_name, unit, judges, tuple(pairs), tuple(humans))


def agreement(runs: Sequence[Run], resamples: int = 1000, seed: int = 0) -> AgreementReport:
    """Agreement between every pair of `runs` (and with the humans) on every task two or more of them share."""
    distinct_runs(runs, "agreement")
    if resamples < 0:
        raise UsageError(f"--resamples must be >= 0, not {resamples}")
    tasks: list[TaskAgreement] = []
    skipped: list[str] = []
    names = list(dict.fromkeys(task for run in runs for task in run.tasks))
    for task in names:
        having = [i for i, run in enumerate(runs) if task in run.tasks]
        if len(having) < 2:
            skipped.append(f"{task}: only in run {runs[having[0]].run_id}")
            continue
        sharing = [runs[i] for i in having]
        result = task_agreement(task, sharing, judge_labels(sharing), resamples, seed)
        if isinstance(result, str):
            skipped.append(result)
        else:
            tasks.append(result)
    seeds = {run.record.seed for run in runs}
    notes = (f"the runs used different seeds ({', '.join(map(str, sorted(seeds)))}): answer orders may differ per "
             f"item; the choices compared are the underlying responses, not positions",) if len(seeds) > 1 else ()
    return AgreementReport(tuple(tasks), tuple(skipped), resamples, seed, notes)


# ---- output ---------------------------------------------------------------------------------------------------

def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _ci(p: PairAgreement) -> str:
    return "n/a" if p.kappa_ci95 is None else f"[{p.kappa_ci95[0]:.3f}, {p.kappa_ci95[1]:.3f}]"


def render_markdown(report: AgreementReport) -> str:
    """Per task: a kappa matrix (judges by judges, plus the humans), then one row per pair with its counts."""
    lines = ["### Judge agreement", "",
             (f"Cohen's kappa of the underlying choice ({' / '.join(COARSE)}) on the items both runs judged; "
              f"95% bootstrap CI over items ({report.resamples} resamples, seed {report.seed}). "
              f"n/a: undefined (both judges gave one and the same answer throughout, or nothing was compared)."), ""]
    for t in report.tasks:
        names = [j.label for j in t.judges]
        columns = names + ([HUMANS] if t.humans else [])
        lines += [f"#### {t.task} ({t.family}; unit: {t.unit})", "",
                  "| kappa | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        for name in names:
            cells = ["—" if other == name else _fmt(p.kappa if (p := t.pair(name, other)) else None, ".3f")
                     for other in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "| a | b | items in both | ok in both | compared | agreement % | kappa | 95% CI |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for p in (*t.pairs, *t.humans):
            lines.append(f"| {p.a} | {p.b} | {p.n_items} | {p.n_both_ok} | {p.n_compared} | "
                         f"{_fmt(p.agreement, '.2f')} | {_fmt(p.kappa, '.3f')} | {_ci(p)} |")
        lines += ["", "Runs: " + "; ".join(f"{j.label} = {j.run_id} [{j.protocol}]" for j in t.judges), ""]
    lines += [f"- skipped: {s}" for s in report.skipped]
    lines += [f"- note: {n}" for n in report.notes]
    if not report.tasks:
        lines.append("No task is shared by two runs with a verdict reader: nothing compared.")
    return "\n".join(lines) + "\n"


# ---- CLI ------------------------------------------------------------------------------------------------

def main(args: argparse.Namespace) -> int:
    """Markdown on stdout, JSON to --json; exit 0 (an unreadable run is a UsageError: exit 2)."""
    runs = [load_run(Path(d)) for d in args.runs]
    report = agreement(runs, resamples=int(args.resamples), seed=int(args.seed))
    if args.json is not None:
        atomic_write_json(Path(args.json), report.as_json())
    print(render_markdown(report), end="")
    sys.stdout.flush()
    return 0
