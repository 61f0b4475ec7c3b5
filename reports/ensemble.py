"""`harness ensemble RUN1 RUN2 [...] --rule R --out DIR`: a new run whose verdict per item combines its members'.

The result is a normal run directory (run.json, `<task>.samples.jsonl`, results.json), scored by each task's own
`score` and bootstrap exactly as `harness run` scores (`harness.runner.score_task`), so `harness report` and
`harness compare` take it like any run. No judge is called: the members' records are read and combined.

Rules, per item (and per order, for MMRB2's two orders), over the underlying choices (`reports.choices`: which
of the dataset's responses, whatever order each member saw):
- `majority`: one vote per member that gave a verdict; the verdict with the most votes wins. A tie in the vote
  (two verdicts with the most votes) or no vote at all makes the item `invalid` (stage `ensemble`, the reason
  names the votes), which the task counts as it counts an unreadable reply; never a silent pick.
- `weighted`: the same with each member's vote weighted (`--weights`, one positive number per member). Weights
  are summed exactly as decimals, so 0.1 + 0.2 ties 0.3.
- `mean-score`: for scalar scorers (the `scores` protocol): the mean of the members' scores per candidate
  (weighted when `--weights` is given), margin = mean(A) - mean(B); an item no member scored is invalid.

A decided item's record is the task's own record of a member that gave the winning verdict (the first in the
order given), so every field the task scores is one the task wrote; a scorer ensemble by vote records margin
+1 / -1 / 0 for the winning side. Every record carries `outcome.ensemble`: each member's vote (in the order
results.json `model.members` lists them) and the winner. Items are those every member has a record for (the
rest are counted in `details.ensemble.not_in_every_member`); an item every member failed on is an error.

Provenance: results.json `model` is `{"adapter": "ensemble", "model": <label>, "rule", "weights", "members":
[{run_id, dir, model, config_hash, seed}]}` (each member's model description as its results.json has it,
credentials masked again); each task's entry names the combination in `protocol_deviations` and counts split
votes in `details.ensemble`.
"""

from __future__ import annotations

import argparse
import copy
import math
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.judgment_table import JudgmentTable
from harness.records import Judgment, canonical_json, sha256_text
from harness.redaction import redact_deep
from harness.run_record import SCHEMA_VERSION, RunRecord, TaskRecord
from harness.store import RunStore, SampleLog, atomic_write_json

from .choices import MARGIN, NONE, Family, family_for, supported_tasks
from .runs import Run, distinct_runs, judge_labels, load_run

RULES = ("majority", "mean-score", "weighted")


@dataclass(frozen=True)
class Member:
    run: Run
    label: str
    weight: Fraction


@dataclass(frozen=True)
class TaskPlan:
    """One task to combine: its name, the members' common entry (protocol, split, dataset), its family."""

    task: str
    base: TaskRecord
    family: Family


@dataclass(frozen=True)
class EnsembleResult:
    """The new run, read back as a finished run, and notes on the tasks left out."""

    run: Run
    notes: list[str]


@dataclass
class Tally:
    """What results.json `details.ensemble` says about one task's combination."""

    rule: str
    n_items: int = 0
    decided: int = 0
    split_votes: int = 0
    no_votes: int = 0
    all_errors: int = 0
    #: items some member has and another lacks: left out
    not_in_every_member: int = 0

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


# ---- checks (all before any work) --------------------------------------------------------------------------

def parse_weights(text: str | None, n: int) -> list[Fraction] | None:
    """`--weights 1,0.5,2` -> exact decimals, one per run; None when not given."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        weights = [Fraction(p) for p in parts]
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--weights {text!r}: comma-separated numbers, one per run") from None
    if len(weights) != n:
        raise UsageError(f"--weights gives {len(weights)} weight(s) for {n} run(s)")
    if any(w <= 0 for w in weights):
        raise UsageError(f"--weights {text!r}: every weight must be > 0")
    return weights


def _members(runs: Sequence[Run], rule: str, weights: Sequence[float | Fraction] | None) -> list[Member]:
    if rule not in RULES:
        raise UsageError(f"--rule {rule!r}: one of {', '.join(RULES)}")
    distinct_runs(runs, "an ensemble")
    if rule == "weighted" and weights is None:
        raise UsageError("--rule weighted needs --weights (one per run)")
    if rule == "majority" and weights is not None:
        raise UsageError("--weights is for --rule weighted or mean-score; majority gives every run one vote")
    try:  # a float as the decimal it prints as (0.1 is 1/10), so decimal weights tie exactly
        exact = [Fraction(repr(float(w))) if isinstance(w, float) else Fraction(w) for w in weights] \
            if weights is not None else [Fraction(1)] * len(runs)
    except (ValueError, TypeError, OverflowError):
        raise UsageError(f"weights {list(weights or ())}: finite numbers, one per run") from None
    if len(exact) != len(runs) or any(w <= 0 for w in exact):
        raise UsageError(f"weights {list(map(float, exact))}: one positive weight per run ({len(runs)})")
    return [Member(run, label, w) for run, label, w in zip(runs, judge_labels(runs), exact)]


def _plans(members: Sequence[Member], rule: str) -> tuple[list[TaskPlan], list[str]]:
    """The tasks every member has and a reader covers (UsageError listing every mismatch), and notes on the rest."""
    from .compare import identity_problems

    first = members[0].run
    notes, problems, plans = [], [], []
    for task in first.tasks:
        missing = [m.run.run_id for m in members if task not in m.run.tasks]
        if missing:
            notes.append(f"{task}: not in run(s) {', '.join(missing)}; left out")
            continue
        base = first.tasks[task]
        for m in members[1:]:
            problems += [f"{p} ({m.run.run_id} vs {first.run_id})"
                         for p in identity_problems(task, base, m.run.tasks[task])]
        family = family_for(task, base.protocol)
        if family is None:
            notes.append(f"{task}: no verdict reader (ensembles read {', '.join(supported_tasks())}); left out")
            continue
        if rule == "mean-score" and family is not MARGIN:
            problems.append(f"{task} [{base.protocol}]: mean-score needs scalar scorer runs (the `scores` protocol, "
                            f"with margins); use --rule majority or weighted for verdicts")
        plans.append(TaskPlan(task, base, family))
    notes += [f"{t}: only in run(s) other than the first; left out" for t in
              dict.fromkeys(t for m in members[1:] for t in m.run.tasks if t not in first.tasks)]
    if problems:
        raise UsageError("cannot combine these runs:\n" + "\n".join(f"  - {p}" for p in problems))
    if not plans:
        raise UsageError("no task to combine: " + ("; ".join(notes) or "the runs have no task"))
    return plans, notes


def _fresh(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"--out {out_dir}: exists and is not an empty directory; the ensemble writes a new run")
    return out_dir


# ---- combining -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Read:
    """One member's records of a task: the table, row by id, and each slot's choice codes."""

    table: JudgmentTable
    row: dict[str, int]
    choices: tuple[Any, ...]


def _read(member: Member, plan: TaskPlan) -> _Read:
    table, row = member.run.records(plan.task)
    choices = tuple(plan.family.choices(table, slot) for slot in plan.family.slots)
    return _Read(table, row, choices)


def _vote(family: Family, codes: Sequence[int], weights: Sequence[Fraction]) -> tuple[int | None, str]:
    """(winning code, '') or (None, why not): the weighted plurality of the members' codes."""
    totals: dict[int, Fraction] = defaultdict(Fraction)
    for code, weight in zip(codes, weights):
        if code != NONE:
            totals[code] += weight
    if not totals:
        return None, "no member gave a verdict"
    best = max(totals.values())
    winners = [c for c, total in totals.items() if total == best]
    if len(winners) > 1:
        shown = ", ".join(f"{family.categories[c]} {_number(t)}" for c, t in sorted(totals.items()))
        return None, f"split vote ({shown}): no verdict"
    return winners[0], ""


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _mean_scores(records: Sequence[Judgment], members: Sequence[Member]) -> tuple[dict[str, float] | None, str]:
    """Weighted mean score per candidate over the members with two finite scores."""
    total = Fraction(0)
    sums = {"A": 0.0, "B": 0.0}
    for record, member in zip(records, members):
        scores = record.outcome.get("scores") if record.status == "ok" else None
        if not isinstance(scores, Mapping) or not all(_finite(scores.get(k)) for k in sums):
            continue
        for k in sums:
            sums[k] += float(member.weight) * float(scores[k])
        total += member.weight
    if not total:
        return None, "no member scored both candidates"
    return {k: v / float(total) for k, v in sums.items()}, ""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def combine_item(plan: TaskPlan, rule: str, members: Sequence[Member], records: Sequence[Judgment],
                 codes: Sequence[Sequence[int]], tally: Tally) -> Judgment:
    """The ensemble's record of one item from the members' records of it (`codes[slot][member]`: choice codes)."""
    family, protocol = plan.family, plan.base.protocol
    sample_id = records[0].sample_id
    judged = [r for r in records if r.status != "error"]
    if not judged:
        tally.all_errors += 1
        return Judgment(sample_id, "error", reason="every member's record of this item is an error, e.g. "
                        f"{records[0].stage or 'adapter'}: {(records[0].reason or '')[:200]}", stage="ensemble")
    template = judged[0].outcome
    names = [[family.categories[c] if c != NONE else None for c in slot_codes] for slot_codes in codes]
    info: dict[str, Any] = {}  # each member's vote in the order results.json `model.members` lists them
    if rule == "mean-score":
        means, why = _mean_scores(records, members)
        info["votes"] = names[0]
        if means is None:
            outcome, reasons = family.undecided(template, protocol), [why]
        else:
            outcome, reasons = copy.deepcopy(dict(template)), []
            outcome.update(scores=means, margin=means["A"] - means["B"])
    else:
        weights = [m.weight for m in members]
        outcome, reasons, winners = copy.deepcopy(dict(template)), [], []
        for slot, slot_codes in zip(family.slots, codes):
            winner, why = _vote(family, slot_codes, weights)
            winners.append(family.categories[winner] if winner is not None else None)
            if winner is None:
                reasons.append(why if slot is None else f"{slot}: {why}")
                outcome = family.undecided(outcome, protocol, slot)
                if slot is not None:
                    outcome[slot]["reason"] = why
            elif family is MARGIN:  # the winning side, as a generative verdict's margin
                outcome.update(margin={0: 1.0, 1: -1.0, 2: 0.0}[winner], scores=None)
            else:  # the task's own record of the first member that gave the winning verdict
                source = records[list(slot_codes).index(winner)].outcome
                if slot is None:
                    outcome = copy.deepcopy(dict(source))
                else:
                    outcome[slot] = copy.deepcopy(dict(source[slot]))
        info["votes"] = names[0] if family.slots == (None,) else dict(zip(family.slots, names))
        info["winner"] = winners[0] if family.slots == (None,) else dict(zip(family.slots, winners))
    if any("split vote" in r for r in reasons):
        tally.split_votes += 1
    elif reasons:
        tally.no_votes += 1
    if family.derive is not None:
        family.derive(outcome)
    outcome["ensemble"] = info
    if reasons:
        return Judgment(sample_id, "invalid", outcome, reason="; ".join(reasons), stage="ensemble")
    tally.decided += 1
    return Judgment(sample_id, "ok", outcome)


def combine_task(plan: TaskPlan, rule: str, members: Sequence[Member], log: SampleLog) -> tuple[list[str], Tally]:
    """Write the ensemble's records of one task to `log`; returns the item ids (the first member's order)."""
    reads = [_read(m, plan) for m in members]
    ids = [sid for sid in reads[0].table.ids if all(sid in r.row for r in reads[1:])]
    tally = Tally(rule, n_items=len(ids))
    tally.not_in_every_member = len(set().union(*(r.row.keys() for r in reads))) - len(ids)
    for sample_id in ids:
        rows = [r.row[sample_id] for r in reads]
        records = [r.table[row] for r, row in zip(reads, rows)]
        codes = [[int(r.choices[s][row]) for r, row in zip(reads, rows)] for s in range(len(plan.family.slots))]
        log.append(combine_item(plan, rule, members, records, codes, tally))
    return ids, tally


# ---- the run -------------------------------------------------------------------------------------------

def _model(members: Sequence[Member], rule: str, weights_given: bool) -> dict[str, Any]:
    return {"adapter": "ensemble", "model": f"ensemble-{rule}({'+'.join(m.label for m in members)})", "rule": rule,
            "weights": [_number(m.weight) for m in members] if weights_given else None,
            "members": [{"run_id": m.run.run_id, "dir": str(m.run.dir.resolve()),
                         "model": redact_deep(dict(m.run.record.model)), "config_hash": m.run.record.config_hash,
                         "seed": m.run.record.seed} for m in members]}


def _score(plan: TaskPlan, ids: Sequence[str], store: RunStore, seed: int, resamples: int, members: int,
           tally: Tally) -> TaskRecord:
    """The task's entry as the runner writes it, plus what names the combination."""
    from harness.judged import Judged
    from harness.registry import TASKS
    from harness.runner import RunOptions, score_task
    from harness.task import TaskConfig

    task = TASKS.get(plan.task)()
    base = plan.base
    cfg = TaskConfig(protocol=base.protocol, seed=seed, split=base.split, scorer=base.protocol == task.scorer_protocol)
    judged = Judged.from_json(base.judged)  # the members judged alike (checked): both orders, K samples
    opts = RunOptions(tasks=[plan.task], model="ensemble", seed=seed, bootstrap_resamples=resamples,
                      orders="both" if judged.orders == 2 else "one", samples=judged.samples)
    record = score_task(task, cfg, base.dataset, ids, store, opts)
    note = (f"ensemble of {members} runs ({tally.rule}): verdicts combined from the members' records, no judge "
            f"called; {tally.split_votes} split vote(s) and {tally.no_votes} item(s) without a vote are invalid")
    return replace(record, protocol_deviations=(*record.protocol_deviations, note),
                   details={**record.details, "ensemble": tally.as_json()},
                   protocol_requested=base.protocol_requested, protocol_chosen_for=base.protocol_chosen_for)


def ensemble(runs: Sequence[Run], rule: str, out_dir: Path, weights: Sequence[float | Fraction] | None = None, *,
             resamples: int = 1000, seed: int = 0) -> EnsembleResult:
    """Combine `runs` into a new run directory `out_dir` (see the module docstring). `weights`: one per run
    (`weighted`, or a weighted `mean-score`)."""
    members = _members(runs, rule, weights)
    plans, notes = _plans(members, rule)
    out_dir = _fresh(out_dir)
    if resamples < 1:
        raise UsageError(f"--resamples must be at least 1, not {resamples}")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    model = _model(members, rule, weights is not None)
    config = {"ensemble": {"rule": rule, "weights": model["weights"],
                           "members": [{"run_id": m.run.run_id, "config_hash": m.run.record.config_hash}
                                       for m in members]},
              "tasks": {p.task: {"protocol": p.base.protocol, "split": p.base.split} for p in plans}, "seed": seed}
    config_hash = sha256_text(canonical_json(config))
    run_id = out_dir.resolve().name  # the directory is the run, as `harness run`'s <output>/<run_id>
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write_json(out_dir / "run.json", {"schema_version": SCHEMA_VERSION, "config": config,
                                                 "config_hash": config_hash, "started": started,
                                                 "run_id": run_id})
        store = RunStore(out_dir)
        records: dict[str, TaskRecord] = {}
        for plan in plans:
            log = store.sample_log(plan.task)
            try:
                ids, tally = combine_task(plan, rule, members, log)
            finally:
                log.close()
            records[plan.task] = _score(plan, ids, store, seed, resamples, len(members), tally)
        limits = {m.run.record.limit for m in members}
        store.write_results(RunRecord.new(run_id=run_id, started=started, model=model, seed=seed,
                                          limit=limits.pop() if len(limits) == 1 else None, config_hash=config_hash,
                                          tasks=records))
    except BaseException:  # a damaged member file found part-way: no half-written run is left behind
        shutil.rmtree(out_dir, ignore_errors=True)  # it was new or empty (`_fresh`)
        raise
    return EnsembleResult(load_run(out_dir), notes)


# ---- CLI ------------------------------------------------------------------------------------------------

def main(args: argparse.Namespace) -> int:
    """Writes the run; prints notes on stderr and the run directory on the last line, as `harness run` does."""
    runs = [load_run(Path(d)) for d in args.runs]
    weights = parse_weights(args.weights, len(runs))
    result = ensemble(runs, args.rule, Path(args.out), weights, resamples=int(args.resamples), seed=int(args.seed))
    for note in result.notes:
        print(f"harness ensemble: {note}", file=sys.stderr)
    for task, entry in result.run.tasks.items():
        shown = ", ".join(f"{k} {v:.2f}" for k, v in entry.metrics.items() if isinstance(v, float))
        print(f"{task} [{entry.protocol}]: {shown} (n {entry.n}, invalid {entry.n_invalid})")
    print(result.run.dir)
    return 0
