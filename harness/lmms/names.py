"""lmms-eval 0.7.3's task and metric names -> the names paper Tables 6 and 7 read.

`reports/tables/table6.yaml` and `table7.yaml` key their cells by our task and metric names
(`longvideobench`/`accuracy`, `videomme`/`short`..`avg`, `llava_bench_wild`/`relative_score`, ...), in the
units the paper prints (percentages). lmms-eval names the same benchmarks its own way
(`longvideobench_val_v`/`lvb_acc` as a fraction, `videomme`/`videomme_perception_score` overall only, ...).
This module is the one place that joins the two: for each lmms-eval task a paper column uses, the name of
our task and a function that turns lmms-eval's aggregated metrics and logged samples into our metrics.

Rules (docs/lmms_eval.md has the table):

- where one of lmms-eval's aggregated numbers *is* the paper's number, it is taken as is (scaled to a
  percentage where lmms-eval reports a fraction); the logged samples, when present, recompute it and any
  disagreement is written to the entry's `details.checks` instead of being hidden;
- where the paper's number is not among lmms-eval's aggregates (Video-MME per duration), or lmms-eval only
  reports a rounded form of it (LLaVA-Bench), it is computed from the per-sample records;
- a number that cannot be formed (no samples of a duration under `--limit`, nothing logged) is None, so
  the report shows it as null rather than as a made-up value.

The per-sample field names are those lmms-eval 0.7.3's `process_results` functions return (tasks
`videomme`, `mlvu`, `longvideobench`, `llava-in-the-wild`, `llava_wilder`, `wild_vision_bench`,
`live_bench` in its `lmms_eval/tasks/`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

Metrics = Mapping[str, "float | None"]
Samples = Sequence[Mapping[str, Any]]

#: Video-MME's duration groups, as its samples' `duration` field spells them.
VIDEOMME_DURATIONS = ("short", "medium", "long")
#: MLVU dev's multiple-choice task types: lmms-eval's M-Avg is the mean of their accuracies, all seven
#: always in the denominator (a type without samples counts as 0, which only a `--limit` run meets).
MLVU_DEV_TYPES = ("anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning")
#: lmms-eval's marker for "this sample is not in this LLaVA-Bench category" (skipped by its aggregation).
LLAVA_NOT_IN_CATEGORY = -999
#: LiveBench's rating of a judge call that failed; lmms-eval leaves it out of the mean.
LIVEBENCH_FAILED = -1
#: How far a recomputation may differ from lmms-eval's aggregate before `details.checks` says so (the
#: aggregates are rounded: LongVideoBench's fraction to 5 decimals, LLaVA-Bench's ratio to 1 decimal).
TOLERANCE = {"longvideobench": 1e-3, "llava_bench": 0.05 + 1e-9}


@dataclass
class Converted:
    """Our metrics for one lmms-eval task, how each was formed, and what the samples added."""

    metrics: dict[str, float | None]
    derivation: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskMapping:
    """One lmms-eval task as a paper column reads it: our task name and the metric conversion."""

    task: str
    convert: Callable[[Metrics, Samples], Converted]
    lmms_metrics: tuple[str, ...]


# ---- small helpers --------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def sample_values(samples: Samples, metric: str) -> list[Mapping[str, Any]]:
    """The per-sample dicts lmms-eval logged under `metric` (what process_results returned for it)."""
    return [s[metric] for s in samples if isinstance(s.get(metric), Mapping)]


def percent(correct: int, total: int) -> float | None:
    """100·correct/total, None for no samples: an empty group has no accuracy (lmms-eval prints 0)."""
    return 100.0 * correct / total if total else None


def answered_right(value: Mapping[str, Any], predicted: str = "pred_answer") -> bool:
    """Exact match of the extracted letter and the gold letter, the comparison lmms-eval's multiple-choice
    aggregations use (not the case-folded `score` Video-MME also logs, so our numbers add up to theirs)."""
    return value.get(predicted) == value.get("answer")


def check(what: str, ours: float | None, theirs: float | None, tolerance: float = 1e-6) -> list[str]:
    """A disagreement between our recomputation and lmms-eval's aggregate, as a line for `details.checks`."""
    if ours is None or theirs is None or abs(ours - theirs) <= tolerance:
        return []
    return [f"{what}: the logged samples give {ours:.6g}, lmms-eval's aggregate is {theirs:.6g}"]


def _prefer(aggregate: float | None, recomputed: float | None, aggregate_how: str,
            recomputed_how: str) -> tuple[float | None, str]:
    """lmms-eval's aggregate when it has one, else our recomputation from the samples."""
    if aggregate is not None:
        return aggregate, aggregate_how
    return recomputed, recomputed_how if recomputed is not None else "not available (no aggregate, no samples)"


# ---- the conversions ------------------------------------------------------------------------------------

def longvideobench(metrics: Metrics, samples: Samples) -> Converted:
    """LongVideoBench accuracy %: lmms-eval's `lvb_acc` is the overall accuracy as a fraction (rounded to 5
    decimals; its per-subset instance weighting counts every sample twice, which cancels), so ×100."""
    values = sample_values(samples, "lvb_acc")
    recomputed = percent(sum(answered_right(v, "parsed_pred") for v in values), len(values))
    raw = _number(metrics.get("lvb_acc"))
    value, how = _prefer(None if raw is None else 100.0 * raw, recomputed, "100 × lvb_acc",
                         "100 × mean(parsed_pred == answer) over the logged samples")
    groups: dict[str, list[bool]] = {}
    for v in values:
        groups.setdefault(str(v.get("duration_group")), []).append(answered_right(v, "parsed_pred"))
    details = {"by_duration_group": {g: {"n": len(r), "accuracy": percent(sum(r), len(r))}
                                     for g, r in sorted(groups.items(), key=lambda kv: (len(kv[0]), kv[0]))}}
    checks = check("longvideobench accuracy", recomputed, None if raw is None else 100.0 * raw,
                   TOLERANCE["longvideobench"])
    return Converted({"accuracy": value}, {"accuracy": how}, details, checks)


def mlvu_m_avg(values: Iterable[Mapping[str, Any]]) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """MLVU dev M-Avg as lmms-eval's `mlvu_aggregate_results_dev` defines it: per task type accuracy %, then
    the plain mean over the seven dev types, a type without samples counting 0. None without samples."""
    tally: dict[str, list[bool]] = {}
    for v in values:
        tally.setdefault(str(v.get("task_type")), []).append(answered_right(v))
    if not tally:
        return None, {}
    per_type = {t: {"n": len(tally.get(t, [])), "accuracy": percent(sum(tally.get(t, [])), len(tally.get(t, [])))}
                for t in sorted(set(MLVU_DEV_TYPES) | set(tally))}
    m_avg = sum(per_type[t]["accuracy"] or 0.0 for t in MLVU_DEV_TYPES) / len(MLVU_DEV_TYPES)
    return m_avg, per_type


def mlvu(metrics: Metrics, samples: Samples) -> Converted:
    """MLVU M-Avg % (the spec's `accuracy`): lmms-eval's `mlvu_percetion_score` (sic) is already the M-Avg."""
    recomputed, per_type = mlvu_m_avg(sample_values(samples, "mlvu_percetion_score"))
    raw = _number(metrics.get("mlvu_percetion_score"))
    value, how = _prefer(raw, recomputed, "mlvu_percetion_score (lmms-eval's M-Avg over the 7 dev task types)",
                         "M-Avg over the 7 dev task types from the logged samples")
    details: dict[str, Any] = {"by_task_type": per_type}
    empty = [t for t in MLVU_DEV_TYPES if per_type and not per_type[t]["n"]]
    if empty:
        details["empty_task_types"] = empty  # counted as 0 in the M-Avg, as lmms-eval does
    return Converted({"accuracy": value}, {"accuracy": how}, details, check("mlvu M-Avg", recomputed, raw))


def videomme(metrics: Metrics, samples: Samples) -> Converted:
    """Video-MME short/medium/long/avg %: accuracy within each `duration` group from the logged samples
    (lmms-eval only logs these), avg = lmms-eval's `videomme_perception_score` (accuracy over all questions;
    with Video-MME's 900 questions per duration it is also the mean of the three)."""
    values = sample_values(samples, "videomme_perception_score")
    by_duration = {d: [answered_right(v) for v in values if v.get("duration") == d] for d in VIDEOMME_DURATIONS}
    ours: dict[str, float | None] = {d: percent(sum(r), len(r)) for d, r in by_duration.items()}
    derivation = {d: f"100 × correct/answered over the logged samples with duration {d!r}"
                  for d in VIDEOMME_DURATIONS}
    overall = percent(sum(answered_right(v) for v in values), len(values))
    raw = _number(metrics.get("videomme_perception_score"))
    ours["avg"], derivation["avg"] = _prefer(raw, overall, "videomme_perception_score",
                                             "100 × correct/answered over all logged samples")
    other = [v.get("duration") for v in values if v.get("duration") not in VIDEOMME_DURATIONS]
    details: dict[str, Any] = {"by_duration": {d: {"n": len(r), "correct": sum(r)} for d, r in by_duration.items()}}
    if other:
        details["unknown_durations"] = sorted({str(d) for d in other})
    return Converted(ours, derivation, details, check("videomme avg", overall, raw))


def relative_score(pairs: Iterable[Sequence[Any]]) -> float | None:
    """LLaVA-Bench relative score as protocols.md defines it: 100·mean(model)/mean(reference), each mean
    rounded to 3 decimals. A pair is lmms-eval's `scores` = [reference, model]; a parse failure or failed
    judge call is [-1, -1] and still counts, [-999, -999] (another category's sample) does not."""
    kept = [(float(p[0]), float(p[1])) for p in pairs
            if len(p) == 2 and LLAVA_NOT_IN_CATEGORY not in p and all(_number(x) is not None for x in p)]
    if not kept:
        return None
    reference = round(sum(r for r, _ in kept) / len(kept), 3)
    model = round(sum(m for _, m in kept) / len(kept), 3)
    return 100.0 * model / reference if reference else None


def llava_bench(metrics: Metrics, samples: Samples) -> Converted:
    """LLaVA-Bench (in the wild / Wilder) relative score %. lmms-eval's `gpt_eval_llava_all` is the same
    formula with the ratio rounded to 1 decimal (`round(…, 1)`), so the samples, when logged, give the
    unrounded number and the aggregate is the fallback (and the check)."""
    logged = (v.get("scores") for v in sample_values(samples, "gpt_eval_llava_all"))
    pairs: list[Sequence[Any]] = [p for p in logged if isinstance(p, (list, tuple))]
    recomputed = relative_score(pairs)
    raw = _number(metrics.get("gpt_eval_llava_all"))
    value: float | None
    if recomputed is not None:
        value, how = recomputed, "100 × mean(model)/mean(reference) of the logged gpt_eval_llava_all scores"
    else:
        value, how = raw, "gpt_eval_llava_all (lmms-eval's relative score, rounded to 1 decimal)"
    failed = sum(1 for p in pairs if len(p) == 2 and p[0] == -1 and p[1] == -1)
    details = {"n_judged": len(pairs), "n_judge_failed": failed}
    return Converted({"relative_score": value}, {"relative_score": how}, details,
                     check("relative_score", recomputed, raw, TOLERANCE["llava_bench"]))


def wildvision(metrics: Metrics, samples: Samples) -> Converted:
    """WildVision score %: lmms-eval's `elo_scores`, the win rate against the baseline answers
    (claude-3-sonnet) predicted from a Bradley-Terry/Elo fit in which a tie is half a win: WildVision-Bench's
    leaderboard "Score" (the baseline itself scores 50). Taken as is; the fit is lmms-eval's code."""
    raw = _number(metrics.get("elo_scores"))
    judged = sample_values(samples, "judgements_better")
    verdicts: dict[str, int] = {}
    for v in judged:
        verdicts[str(v.get("judgement"))] = verdicts.get(str(v.get("judgement")), 0) + 1
    return Converted({"score": raw}, {"score": "elo_scores (Elo-predicted win rate vs claude-3-sonnet, %)"},
                     {"verdicts": dict(sorted(verdicts.items()))})


def livebench(metrics: Metrics, samples: Samples) -> Converted:
    """LiveBench score %: 100·mean(rating/10) = lmms-eval's `gpt4_eval_score`, taken as is. Ratings of -1
    (the judge call failed) are left out, as lmms-eval leaves them out; their number is recorded."""
    ratings = [_number(v.get("rating")) for v in sample_values(samples, "gpt4_eval_score")]
    valid = [r for r in ratings if r is not None and r != LIVEBENCH_FAILED]
    recomputed = 100.0 * sum(r / 10 for r in valid) / len(valid) if valid else None
    raw = _number(metrics.get("gpt4_eval_score"))
    value, how = _prefer(raw, recomputed, "gpt4_eval_score", "100 × mean(rating/10) over the logged samples")
    details = {"n_rated": len(valid), "n_judge_failed": sum(r == LIVEBENCH_FAILED for r in ratings)}
    return Converted({"score": value}, {"score": how}, details, check("livebench score", recomputed, raw))


# ---- the table ------------------------------------------------------------------------------------------

#: lmms-eval task -> our task. Only the tasks a paper column reads; any other lmms-eval task keeps its name.
MAPPINGS: dict[str, TaskMapping] = {
    "longvideobench_val_v": TaskMapping("longvideobench", longvideobench, ("lvb_acc",)),
    "mlvu_dev": TaskMapping("mlvu", mlvu, ("mlvu_percetion_score",)),
    "videomme": TaskMapping("videomme", videomme, ("videomme_perception_score",)),
    "llava_in_the_wild": TaskMapping("llava_bench_wild", llava_bench, ("gpt_eval_llava_all",)),
    "llava_wilder_small": TaskMapping("llava_bench_wilder", llava_bench, ("gpt_eval_llava_all",)),
    "wildvision_0630": TaskMapping("wildvision_bench", wildvision, ("elo_scores",)),
}
#: LiveBench comes in monthly sets (`live_bench` runs 2406, 2407 and 2409); the paper does not say which
#: it used, so a set fills `livebench` only when it is the run's only LiveBench set.
LIVEBENCH_TASK = re.compile(r"^live_bench_\d{4}$")
LIVEBENCH = TaskMapping("livebench", livebench, ("gpt4_eval_score",))


def mapping_for(lmms_task: str) -> TaskMapping | None:
    """The mapping of one lmms-eval task, or None for a task no paper column reads."""
    if lmms_task in MAPPINGS:
        return MAPPINGS[lmms_task]
    return LIVEBENCH if LIVEBENCH_TASK.match(lmms_task) else None


def our_name(lmms_task: str) -> str:
    """Our name for an lmms-eval task: the mapped name, else lmms-eval's own."""
    mapping = mapping_for(lmms_task)
    return mapping.task if mapping else lmms_task


def our_task_names(lmms_tasks: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(lmms task -> the name its entry gets, lmms task -> why it kept lmms-eval's name) for one run.

    A task is renamed only when no other task of the run claims the same name: two LiveBench months would
    both be `livebench`, and picking one silently would put an arbitrary month beside the paper's number.
    """
    wanted = {t: our_name(t) for t in lmms_tasks}
    claims: dict[str, list[str]] = {}
    for task, name in wanted.items():
        claims.setdefault(name, []).append(task)
    names, kept = {}, {}
    for task, name in wanted.items():
        if name != task and len(claims[name]) > 1:
            others = ", ".join(t for t in claims[name] if t != task)
            names[task] = task
            kept[task] = (f"would be {name!r} together with {others}; run one of them alone to fill the "
                          f"paper column")
        else:
            names[task] = name
    return names, kept
