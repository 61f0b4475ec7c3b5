"""`harness compare BASELINE CANDIDATE`: is the candidate judge significantly worse than the baseline?

A CI gate for reward-model checkpoints. Both runs must have judged the same samples of the same data
under the same protocols, otherwise the numbers are not like for like and the command refuses (exit 2)
with one line per problem. Each task's Scoring is rebuilt from its per-sample records, so the two runs
are compared *paired*, item by item: the sample ids scored in both runs are the common rows.

Memory follows the outcomes, not the records: each run's records are read one line at a time without their
replies, turned into the task's Scoring (numpy arrays) and dropped; the comparison keeps only the ids and
the arrays. Where both Scorings offer `compute_many`, the paired bootstrap evaluates replicates in chunks
(same draws, same numbers, see harness.metrics.bootstrap_ci).

Per metric:
- baseline and candidate value as results.json reports them, and the paired difference
  Δ = candidate − baseline on the common rows, in points;
- a paired percentile bootstrap CI of Δ (the same resampled ids drawn for both runs, seeded PCG64);
- for an accuracy (`Scoring.accuracy_rows` in both runs) an exact two-sided McNemar test on the items
  both runs count; other metrics are judged significant when the bootstrap CI excludes 0.

A gated metric FAILS when it dropped by more than `--max-drop` points AND the drop is significant at
`--alpha`. Exit 1 when any gated metric fails, else 0. Pairing matters: two judges that disagree on few
items give a narrow interval even when each run's own CI is wide, so small real regressions are caught
while noise within `--max-drop` never fails a build.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness.errors import UsageError
from harness.judged import Judged, judged_scorings
from harness.reliability import split_record_id
from harness.judgment_table import JudgmentTable
from harness.metrics import ComputeMany, bootstrap_ci
from harness.records import Judgment
from harness.registry import TASKS
from harness.store import atomic_write_json, json_safe
from harness.run_record import TaskRecord
from harness.task import DatasetInfo, Scoring, TaskConfig

from .runs import Run, RunError, load_run

#: Hub datasets that moved: an old name and its new one are the same dataset (same commits).
DATASET_ALIASES = {"KwaiVGI/VideoGen-RewardBench": "KlingTeam/VideoGen-RewardBench"}
#: Fields of a task's results that must agree for its numbers to be like for like.
TASK_IDENTITY = ("protocol", "protocol_version", "task_version", "split")
EXAMPLES = 3


class IncomparableRuns(UsageError):
    """The two runs cannot be compared; `problems` holds one line per reason (exit 2)."""

    def __init__(self, baseline: Path, candidate: Path, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"cannot compare {candidate} with baseline {baseline}:\n{lines}")


@dataclass(frozen=True)
class GateOptions:
    """The gate's thresholds: a drop of more than `max_drop` points that is significant at `alpha` fails;
    `metrics` limits the gated metrics (None: all). Bootstrap: `resamples` replicates seeded by `seed`."""

    max_drop: float = 1.0
    alpha: float = 0.05
    metrics: tuple[str, ...] | None = None
    resamples: int = 2000
    seed: int = 0

    def check(self) -> None:
        problems = []
        if not (math.isfinite(self.max_drop) and self.max_drop >= 0):
            problems.append(f"--max-drop must be a number of points >= 0, not {self.max_drop}")
        if not 0 < self.alpha < 1:
            problems.append(f"--alpha must lie strictly between 0 and 1, not {self.alpha}")
        if self.resamples < 1:
            problems.append(f"--resamples must be at least 1, not {self.resamples}")
        if self.metrics is not None and not self.metrics:
            problems.append("--metrics names no metric")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def level(self) -> float:
        return 1.0 - self.alpha

    def gates(self, task: str, metric: str) -> bool:
        """A name in --metrics gates that metric in every task (`accuracy`), or one task's (`task:metric`)."""
        return self.metrics is None or metric in self.metrics or f"{task}:{metric}" in self.metrics


@dataclass(frozen=True)
class MetricComparison:
    task: str
    metric: str
    baseline: float
    candidate: float
    delta: float
    ci: tuple[float, float]
    test: str  # "mcnemar" or "bootstrap"
    p_value: float | None
    b: int | None
    c: int | None
    gated: bool
    failed: bool

    @property
    def verdict(self) -> str:
        """FAIL: the gate fails on this metric; drop: Δ < 0 without failing (too small, not significant, or
        not gated); ok otherwise."""
        if self.failed:
            return "FAIL"
        return "drop" if self.delta < 0 else "ok"

    def as_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "candidate": self.candidate, "delta": self.delta,
                "ci": list(self.ci), "test": self.test, "p_value": self.p_value, "b": self.b, "c": self.c,
                "gated": self.gated, "failed": self.failed, "verdict": self.verdict}


@dataclass(frozen=True)
class TaskComparison:
    task: str
    protocol: str
    #: Sample ids scored in both runs (the paired rows).
    n_common: int
    #: Sample ids recorded in both runs but scored in only one or neither (an error or unscored record).
    n_dropped: int
    metrics: list[MetricComparison]


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    options: GateOptions
    tasks: list[TaskComparison]
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[MetricComparison]:
        return [m for t in self.tasks for m in t.metrics if m.failed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        """The schema CI scripts read; NaN becomes null."""
        return json_safe({
            "baseline": self.baseline, "candidate": self.candidate,
            "alpha": self.options.alpha, "max_drop": self.options.max_drop,
            "resamples": self.options.resamples, "seed": self.options.seed,
            "tasks": {t.task: {"protocol": t.protocol, "n_common": t.n_common, "n_dropped": t.n_dropped,
                               "metrics": {m.metric: m.as_json() for m in t.metrics}} for t in self.tasks},
            "notes": list(self.notes),
            "passed": self.passed,
        })


# ---- statistics -----------------------------------------------------------------------------------------

def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: min(1, 2·P[X <= min(b, c)]) with X ~ Binomial(b + c, 1/2).

    b and c are the discordant pairs (baseline right & candidate wrong, and the reverse). The tail is
    summed in exact integers (binomial coefficients over 2^n), so the p-value is correctly rounded even
    for thousands of discordant items, where a normal approximation or float sums lose the small tail.
    """
    if b < 0 or c < 0:
        raise ValueError("b and c are counts and cannot be negative")
    n = b + c
    if n == 0:
        return 1.0
    term = 1  # C(n, 0)
    tail = 0
    for k in range(min(b, c) + 1):
        if k:
            term = term * (n - k + 1) // k
        tail += term
    return min(1.0, (2 * tail) / (1 << n))


def paired_bootstrap(base: Scoring, cand: Scoring, base_rows: np.ndarray, cand_rows: np.ndarray, *,
                     resamples: int, seed: int, level: float) -> dict[str, tuple[float, float]]:
    """Percentile CI of compute(candidate) − compute(baseline) over resampled common samples.

    `base_rows[i]` and `cand_rows[i]` are the positions of the i-th common sample id in each Scoring. One
    index draw serves both runs, so each replicate compares the two judges on the same items; replicates
    where a metric is undefined (NaN) are skipped for that metric.
    """
    def difference(idx: np.ndarray) -> dict[str, float]:
        b_vals = base.compute(base_rows[idx])
        c_vals = cand.compute(cand_rows[idx])
        return {name: float(value) - float(b_vals[name]) for name, value in c_vals.items() if name in b_vals}

    b_many, c_many = _compute_many(base), _compute_many(cand)
    many: ComputeMany | None = None
    if b_many is not None and c_many is not None:
        # Runs of the same data usually list the samples in the same order: then no gather is needed.
        b_same = np.array_equal(base_rows, np.arange(base_rows.size))
        c_same = np.array_equal(cand_rows, np.arange(cand_rows.size))

        def many(idx: np.ndarray) -> dict[str, np.ndarray]:
            b_vals = b_many(idx if b_same else base_rows[idx])
            c_vals = c_many(idx if c_same else cand_rows[idx])
            # The same IEEE subtraction as `difference`, elementwise.
            return {name: np.asarray(value, dtype=float) - np.asarray(b_vals[name], dtype=float)
                    for name, value in c_vals.items() if name in b_vals}

    return bootstrap_ci(difference, base_rows.size, resamples=resamples, seed=seed, level=level,
                        compute_many=many)


def _compute_many(scoring: Scoring) -> ComputeMany | None:
    """The Scoring's vectorised compute, where its task provides one (an optional field)."""
    return getattr(scoring, "compute_many", None)


def discordant(base: Scoring, cand: Scoring, metric: str, base_rows: np.ndarray,
               cand_rows: np.ndarray) -> tuple[int, int] | None:
    """(b, c) for an accuracy over the common rows it averages in both runs; None if either run does not
    declare `metric` an accuracy."""
    if base.correct is None or cand.correct is None:
        return None
    if metric not in base.accuracy_rows or metric not in cand.accuracy_rows:
        return None
    both = base.accuracy_rows[metric][base_rows] & cand.accuracy_rows[metric][cand_rows]
    right_b = base.correct[base_rows][both]
    right_c = cand.correct[cand_rows][both]
    return int(np.sum(right_b & ~right_c)), int(np.sum(~right_b & right_c))


# ---- loading and checking -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _TaskRecords:
    """One task of one run: its results entry, its sample ids in file order and the Scoring rebuilt from
    its records (the records themselves are not kept)."""

    result: TaskRecord
    ids: Sequence[str]
    scoring: Scoring
    #: the reliability metrics over items (`harness.judged`), for a run with more than one judgment per item
    reliability: Scoring | None = None


def _short(value: Any) -> str:
    text = "missing" if value is None else str(value)
    return text[:12] + "…" if len(text) > 16 else text


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:EXAMPLES])
    return f" (e.g. {shown})" if ids else ""


def _repeated(ids: Sequence[str]) -> list[str]:
    """Ids that occur more than once, each listed once, in first-repeat order."""
    seen: set[str] = set()
    out: dict[str, None] = {}
    for sid in ids:
        if sid in seen:
            out[sid] = None
        seen.add(sid)
    return list(out)


def identity_problems(task: str, base: TaskRecord, cand: TaskRecord) -> list[str]:
    """Protocol, versions, split and dataset identity of one task in both runs."""
    problems = []
    for key in TASK_IDENTITY:
        if getattr(base, key) != getattr(cand, key):
            problems.append(f"{task}: {key} differs (baseline {_short(getattr(base, key))}, "
                            f"candidate {_short(getattr(cand, key))})")
    b_judged, c_judged = Judged.from_json(base.judged), Judged.from_json(cand.judged)
    if b_judged != c_judged:  # metrics over 2K judgments per item are not those over one
        problems.append(f"{task}: judged differently (baseline {b_judged.orders} order(s) x {b_judged.samples} "
                        f"sample(s), candidate {c_judged.orders} x {c_judged.samples})")
    b_data = DatasetInfo.from_dict(base.dataset)
    c_data = DatasetInfo.from_dict(cand.dataset)
    if b_data.source != c_data.source:
        problems.append(f"{task}: dataset.source differs (baseline {_short(b_data.source)}, candidate "
                        f"{_short(c_data.source)}): the data cannot be shown to be the same")
        return problems
    b_identity, c_identity = b_data.identity(), c_data.identity()
    for key in DatasetInfo.IDENTITY:
        b_value, c_value = b_identity[key], c_identity[key]
        if key == "id":
            b_value, c_value = DATASET_ALIASES.get(b_value, b_value), DATASET_ALIASES.get(c_value, c_value)
        if b_value != c_value:
            problems.append(f"{task}: dataset.{key} differs (baseline {_short(b_identity[key])}, "
                            f"candidate {_short(c_identity[key])})")
    return problems


def _sample_problems(task: str, base: _TaskRecords, cand: _TaskRecords) -> list[str]:
    """The two runs must hold records for exactly the same sample ids (one record each)."""
    problems = []
    for who, records in (("baseline", base), ("candidate", cand)):
        ids = records.ids
        repeated = _repeated(ids)
        if repeated:
            problems.append(f"{task}: the {who} run has {len(repeated)} repeated sample record(s)"
                            f"{_examples(repeated)}")
    b_ids, c_ids = set(base.ids), set(cand.ids)
    if b_ids != c_ids:
        only_b = [i for i in base.ids if i not in c_ids]
        only_c = [i for i in cand.ids if i not in b_ids]
        problems.append(f"{task}: the sample sets differ: {len(only_b)} id(s) only in the baseline"
                        f"{_examples(only_b)}, {len(only_c)} only in the candidate{_examples(only_c)}")
    return problems


def _load_task(run: Run, task: str, who: str) -> _TaskRecords:
    judgments = JudgmentTable.read_all(run.samples_path(task))  # columns: what scoring reads, a few bytes a record
    try:
        scoring, reliability = rebuild_scorings(task, run.tasks[task], judgments)
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{task}: the {who}'s records cannot be scored ({type(exc).__name__}: {exc})") from None
    return _TaskRecords(run.tasks[task], judgments.ids, scoring, reliability)


def check_comparable(base: Run, cand: Run) -> dict[str, tuple[_TaskRecords, _TaskRecords]]:
    """Every task's records from both runs, or IncomparableRuns listing every reason they differ."""
    problems: list[str] = []
    only_b = sorted(set(base.tasks) - set(cand.tasks))
    only_c = sorted(set(cand.tasks) - set(base.tasks))
    if only_b:
        problems.append(f"task(s) only in the baseline: {', '.join(only_b)}")
    if only_c:
        problems.append(f"task(s) only in the candidate: {', '.join(only_c)}")
    if not base.tasks and not cand.tasks:
        problems.append("neither run has a task")
    loaded: dict[str, tuple[_TaskRecords, _TaskRecords]] = {}
    for task in [t for t in base.tasks if t in cand.tasks]:
        identity = identity_problems(task, base.tasks[task], cand.tasks[task])
        problems += identity
        try:
            pair = (_load_task(base, task, "baseline"), _load_task(cand, task, "candidate"))
        except RunError as exc:
            problems.append(str(exc))
            continue
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{task}: a samples file is unreadable ({exc})")
            continue
        samples = _sample_problems(task, *pair)
        problems += samples
        if not identity and not samples:
            loaded[task] = pair
    if problems:
        raise IncomparableRuns(base.dir, cand.dir, problems)
    return loaded


def rebuild_scorings(task: str, result: TaskRecord, judgments: Sequence[Judgment]) -> tuple[Scoring, Scoring | None]:
    """The task's Scoring from stored records, and its reliability Scoring where an item was judged more than once,
    as the runner built them (`harness.judged`; a scalar scorer's protocol implies a scalar scorer)."""
    instance = TASKS.get(task)()
    protocol = result.protocol
    cfg = TaskConfig(protocol=protocol, split=result.split, scorer=(protocol == instance.scorer_protocol))
    return judged_scorings(instance, cfg, judgments, Judged.from_json(result.judged))


# ---- comparing ------------------------------------------------------------------------------------------

def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def compare_task(task: str, base: _TaskRecords, cand: _TaskRecords, options: GateOptions,
                 notes: list[str]) -> TaskComparison:
    """Every metric of the task paired over the items both runs have: the task's own, and where the runs judged each
    item more than once the reliability metrics (swap_consistency, ...) over the items complete in both, gated like
    any metric."""
    n_common, metrics = _compare_scorings(task, base, cand, base.scoring, cand.scoring, options, notes)
    if base.reliability is not None and cand.reliability is not None:
        metrics += _compare_scorings(task, base, cand, base.reliability, cand.reliability, options, notes)[1]
    return TaskComparison(task, base.result.protocol, n_common, _n_items(base) - n_common, metrics)


def _n_items(records: _TaskRecords) -> int:
    """The items recorded (a run of one judgment per item: its records)."""
    if Judged.from_json(records.result.judged).single:
        return len(records.ids)
    return len({split_record_id(i)[0] for i in records.ids})


def _compare_scorings(task: str, base: _TaskRecords, cand: _TaskRecords, b_scoring: Scoring, c_scoring: Scoring,
                      options: GateOptions, notes: list[str]) -> tuple[int, list[MetricComparison]]:
    """(the items paired, the comparison of every metric of one Scoring of the task)."""
    c_pos = {sid: i for i, sid in enumerate(c_scoring.ids)}
    common = [(i, c_pos[sid]) for i, sid in enumerate(b_scoring.ids) if sid in c_pos]
    base_rows = np.array([i for i, _ in common], dtype=np.int64)
    cand_rows = np.array([j for _, j in common], dtype=np.int64)

    b_point = b_scoring.compute(base_rows) if common else {}
    c_point = c_scoring.compute(cand_rows) if common else {}
    ci = paired_bootstrap(b_scoring, c_scoring, base_rows, cand_rows, resamples=options.resamples,
                          seed=options.seed, level=options.level)
    reported_b = base.result.metrics
    reported_c = cand.result.metrics
    _note_drift(task, "baseline", b_scoring, reported_b, notes)
    _note_drift(task, "candidate", c_scoring, reported_c, notes)

    rebuilt = b_scoring.point()
    names = [n for n in dict.fromkeys([*reported_b, *reported_c, *rebuilt]) if n in rebuilt]
    metrics = []
    for name in names:
        delta = _number(c_point.get(name)) - _number(b_point.get(name))
        lo, hi = ci.get(name, (math.nan, math.nan))
        counts = discordant(b_scoring, c_scoring, name, base_rows, cand_rows)
        if counts is not None:
            test, p_value = "mcnemar", mcnemar_exact(*counts)
            significant_drop = p_value < options.alpha
        else:
            test, p_value = "bootstrap", None
            significant_drop = hi < 0  # NaN compares False: an undefined interval never fails
        gated = options.gates(task, name)
        failed = gated and math.isfinite(delta) and -delta > options.max_drop and significant_drop
        metrics.append(MetricComparison(
            task=task, metric=name, baseline=_number(reported_b.get(name)), candidate=_number(reported_c.get(name)),
            delta=delta, ci=(lo, hi), test=test, p_value=p_value,
            b=counts[0] if counts else None, c=counts[1] if counts else None, gated=gated, failed=failed))
    return len(common), metrics


def _note_drift(task: str, who: str, scoring: Scoring, reported: Mapping[str, Any], notes: list[str]) -> None:
    """A rebuilt metric that differs from results.json means the scoring code changed since the run; the
    comparison still uses the records, but the reader should know."""
    for name, value in scoring.point().items():
        stored = _number(reported.get(name))
        if math.isnan(value) and math.isnan(stored):
            continue
        if not math.isclose(value, stored, rel_tol=1e-9, abs_tol=1e-9):
            notes.append(f"{task}: {name} rebuilt from the {who}'s records is {value:.4g}, results.json says "
                         f"{stored:.4g} (scoring code changed since that run?)")


def compare_runs(base: Run, cand: Run, options: GateOptions) -> Comparison:
    """Check the runs are comparable (IncomparableRuns otherwise), then compare every task paired."""
    options.check()
    loaded = check_comparable(base, cand)
    if options.metrics is not None:
        known = {m for task, (b, _) in loaded.items() for m in b.result.metrics}
        known |= {f"{task}:{m}" for task, (b, _) in loaded.items() for m in b.result.metrics}
        unknown = [m for m in options.metrics if m not in known]
        if unknown:
            raise UsageError(f"--metrics names {', '.join(map(repr, unknown))}, which no compared task reports; "
                             f"valid names: {', '.join(sorted(known))}")
    notes = []
    if base.record.seed != cand.record.seed:
        notes.append(f"the runs used different seeds ({base.record.seed} vs {cand.record.seed}): "
                     f"answer orders may differ per item")
    tasks = [compare_task(task, b, c, options, notes) for task, (b, c) in loaded.items()]
    return Comparison(_run_id(base), _run_id(cand), options, tasks, notes)


def _run_id(run: Run) -> str:
    return run.run_id


# ---- output ---------------------------------------------------------------------------------------------

def fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "bootstrap" if p is None else "n/a"
    return "<1e-300" if p == 0 else format(p, ".3g")


def render_markdown(comparison: Comparison) -> str:
    """The comparison as a PR comment: a header, one table row per (task, metric), and a last line that
    says PASS or FAIL and why."""
    opts = comparison.options
    level = f"{100 * opts.level:g}%"
    lines = [f"### Reward gate: candidate `{comparison.candidate}` vs baseline `{comparison.baseline}`", "",
             (f"Fails on a gated metric that drops by more than {opts.max_drop:g} point(s) with significance at "
              f"alpha = {opts.alpha:g} (exact McNemar for accuracies, else the paired bootstrap CI; "
              f"{opts.resamples} resamples, seed {opts.seed})."), "",
             f"| task | metric | baseline | candidate | Δ (points) | {level} CI of Δ | test | p | gated | verdict |",
             "|---|---|---:|---:|---:|---|---|---:|---|---|"]
    for task in comparison.tasks:
        for m in task.metrics:
            test = f"McNemar (b={m.b}, c={m.c})" if m.test == "mcnemar" else "bootstrap"
            lines.append(f"| {m.task} | {m.metric} | {fmt(m.baseline)} | {fmt(m.candidate)} | {fmt(m.delta, '+.2f')} "
                         f"| [{fmt(m.ci[0], '+.2f')}, {fmt(m.ci[1], '+.2f')}] | {test} | {fmt_p(m.p_value)} "
                         f"| {'yes' if m.gated else 'no'} | {m.verdict} |")
    lines.append("")
    for task in comparison.tasks:
        lines.append(f"- `{task.task}` ({task.protocol}): {task.n_common} paired samples, {task.n_dropped} dropped "
                     f"(an error or unscored in one run)")
    lines += [f"- note: {note}" for note in comparison.notes]
    lines.append("")
    lines.append(_verdict_line(comparison))
    return "\n".join(lines)


def _verdict_line(comparison: Comparison) -> str:
    opts = comparison.options
    if comparison.passed:
        return (f"**PASS**: no gated metric dropped by more than {opts.max_drop:g} point(s) with significance "
                f"at alpha = {opts.alpha:g}.")
    reasons = []
    for m in comparison.failures:
        evidence = (f"McNemar p = {fmt_p(m.p_value)}" if m.test == "mcnemar"
                    else f"{100 * opts.level:g}% CI [{fmt(m.ci[0], '+.2f')}, {fmt(m.ci[1], '+.2f')}]")
        reasons.append(f"{m.task} {m.metric} {fmt(m.delta, '+.2f')} points ({evidence})")
    return (f"**FAIL**: significant drop of more than {opts.max_drop:g} point(s) at alpha = {opts.alpha:g}: "
            + "; ".join(reasons) + ".")


def _options(args: argparse.Namespace) -> GateOptions:
    metrics = None
    if args.metrics is not None:
        metrics = tuple(m.strip() for m in str(args.metrics).split(",") if m.strip())
    return GateOptions(max_drop=float(args.max_drop), alpha=float(args.alpha), metrics=metrics,
                       resamples=int(args.resamples), seed=int(args.seed))


def main(args: argparse.Namespace) -> int:
    """The `compare` subcommand: Markdown on stdout, JSON to --json; 0 pass, 1 fail. Problems that make
    the runs incomparable raise UsageError, which the CLI turns into exit 2."""
    options = _options(args)
    options.check()
    runs: list[Run] = []
    problems: list[str] = []
    for directory in (args.baseline, args.candidate):
        try:
            runs.append(load_run(directory))
        except RunError as exc:
            problems.append(str(exc))
    if problems:
        raise IncomparableRuns(args.baseline, args.candidate, problems)
    comparison = compare_runs(runs[0], runs[1], options)
    if args.json is not None:
        atomic_write_json(Path(args.json), comparison.as_json())
    print(render_markdown(comparison))
    sys.stdout.flush()
    return 0 if comparison.passed else 1
