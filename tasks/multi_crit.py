"""Multi-Crit (Xiong et al., CVPR 2026): can a multimodal judge follow one named criterion at a time? `multi_crit`.

Each row is one (prompt, criterion) pair: an image, a question, two responses `pred_a` / `pred_b` and the human
preference under that criterion (`model_a` / `model_b`). Rows of one `prompt_id` share the image and responses
and differ in the criterion, so a judge can be right on "logic" and wrong on "hallucination" of the same pair,
and the human labels of two criteria can conflict.

Data (split `open_ended`, 1,000 rows, criteria completeness / visual-grounding / hallucination / expressiveness /
clarity; split `reasoning`, 425 rows, criteria grounding / logic / hallucination / exploration / efficiency):
- `--data-dir DIR`: the official repository's `datasets/` layout (tyxiong23/Multi-Crit README: "After
  downloading, the dataset directory should look like ...") - `multi-crit-openEnded-flatten.jsonl` or
  `multi-crit-reasoning-flatten.jsonl` (the one of `--split`) and `images/`, one row per (prompt, criterion):
  {"question_id", "prompt_id", "split", "criterion", "preference", "question", "pred_a", "pred_b",
  "image_path"}, `image_path` relative to `images/`;
- the hub, HF `txiong23/Multi-Crit` (splits `open_ended`, `reasoning`; the image embedded in `image`). No
  commit of it could be verified from here (`HF_REVISION = None`): the hub path runs only with
  `--dataset-revision <commit>`.
Sample ids are `question_id` (e.g. `visualPuzzles__select-1__efficiency`); a repeated one gets `#2`, `#3` and is
dropped from the metrics, as the reference keeps the first record of each question id.

The prompt, parse and metrics are the official implementation's (tyxiong23/Multi-Crit @ c4b0c32) as lmms-eval
copies it (EvolvingLMMs-Lab/lmms-eval `lmms_eval/tasks/multi_crit/utils.py` @ 6c3e853, which says it copies them
verbatim; the official repository itself could not be read from here; docs/tasks/multi_crit.md lists where this
task differs from lmms-eval's). Prompt files: `prompts/multi_crit_judge.txt`
(`PROMPT_TEMPLATE`) and `prompts/multi_crit_criterion_<split>_<criterion>.txt` (`CRITERION_*`), byte for byte.
The image comes before the text (lmms-eval's `multi_crit_doc_to_messages`).

Protocols:
- `official` (default): Response 1 = `pred_a`; the reference's direct parse: the last three lines of the
  stripped reply, lowercased, first match of `[\\*]*response (\\d+)[\\*]* is better`, 1 -> model_a,
  2 -> model_b, any other number or no match -> no verdict. The reference then asks an LLM verifier
  (gpt-4o-mini) to read the last four lines; here there is no verifier: such a reply is `invalid`, counted in
  `n_invalid` and wrong (the reference's verifier failures count wrong too) - a named deviation.
- `strict`: the same prompt and metrics; the order of the two responses is swapped per prompt from
  (seed, prompt_id) (every criterion of a prompt sees the same order) and the verdict mapped back to
  model_a/model_b; a reply whose last three lines name both responses is invalid instead of taking the first.

Metrics (`CritTable`, as the reference's `_compute_metrics`), in % and unrounded except the macro:
- `accuracy/<criterion>`: share of the criterion's rows whose prediction matches the preference
  (`prediction.strip().lower() == preference.strip().lower()`);
- `overall_accuracy`: the same over all rows (micro);
- `macro_accuracy`: the mean of the criterion accuracies each rounded to 2 decimals, rounded to 2 decimals;
- `pluralistic_accuracy` (PAcc): share of prompts whose every criterion row is right;
- `tradeoff_sensitivity` (TOS): over prompts with at least one human conflict (two criteria preferring
  different responses), the share where some conflicting pair got two different valid predictions;
- `conflict_matching_rate` (CMR): over all conflicting criterion pairs (summed over prompts, not averaged
  per prompt), the share where both predictions equal their preferences.
Before all of them, rows are grouped by prompt then criterion with the last row of a (prompt, criterion)
winning, after the first-question-id rule. Errors (no reply) are left out, as everywhere in the harness.
Bootstrap replicates resample criterion rows; the prompt-level metrics of a replicate read the distinct rows
it drew (so their interval is approximate).

`--orders both` (docs/reliability.md, "Understanding, edit and video tasks"): each row is also judged in the other
order (`official`: pred_b as Response 1, which the reference never shows, a named deviation; `strict`: its
per-prompt order inverted). Each order's rows are a table of their own for the rules and metrics above (question
ids and prompts are (order, id)): the accuracies count every judgment, the prompt-level metrics every (prompt,
order). `order_verdict` (`crit_view`) reads `prediction` / `preference` / `swapped`. The rows carry a preference
per criterion and no agreement level or score, so there is no accuracy by margin and no calibration.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.reliability import INVALID, OrderVerdict, split_record_id
from harness.rows import RawRow, hub_rows, local_rows, path_media
from harness.task import (DataSpec, HubLayout, IdRule, LocalLayout, Parsed, ProtocolSpec, Row, RowSource, Scoring,
                          Task, TaskConfig)

from .pairwise import seeded_swap
from .templates import load_template

if TYPE_CHECKING:
    import numpy as np

HF_DATASET = "txiong23/Multi-Crit"
#: No commit of the hub dataset could be verified from here; the hub path needs --dataset-revision.
HF_REVISION: str | None = None
SPLITS = ("open_ended", "reasoning")
#: The official repository's file of each split under --data-dir (its README's datasets/ layout).
LOCAL_FILES = {"open_ended": "multi-crit-openEnded-flatten.jsonl", "reasoning": "multi-crit-reasoning-flatten.jsonl"}
IMAGES_DIR = "images"
#: The reference's criteria per split, in its order (OPEN_ENDED_CRITERIA / REASONING_CRITERIA).
CRITERIA: Mapping[str, tuple[str, ...]] = {
    "open_ended": ("completeness", "visual-grounding", "hallucination", "expressiveness", "clarity"),
    "reasoning": ("grounding", "logic", "hallucination", "exploration", "efficiency"),
}
VALID_PREFERENCES = ("model_a", "model_b")
#: The reference's direct parser (DIRECT_PREFERENCE_PATTERN), applied to the lowercased last three lines.
DIRECT_PREFERENCE = re.compile(r"[\*]*response (\d+)[\*]* is better")
# Greedy; 8,192 new tokens is lmms-eval's cap (it samples at temperature 0.6, top-p 0.95).
GENERATION = Generation(max_new_tokens=8192)

HUB = HubLayout(HF_DATASET, HF_REVISION, image_columns=("image",), needs_revision=True,
                ids=IdRule(("question_id",), fallback="row-{index}", repeated="count"))
LOCAL = LocalLayout(LOCAL_FILES["open_ended"], {"image_path": "image"}, IdRule(("question_id",), repeated="count"),
                    layout="the official datasets/ layout: multi-crit-openEnded-flatten.jsonl or "
                           "multi-crit-reasoning-flatten.jsonl + images/")

NO_VERIFIER = ("a reply the direct parser cannot read is invalid and wrong; the reference asks a gpt-4o-mini verifier "
               "to read its last four lines first")
PROTOCOLS = {
    "official": ProtocolSpec(
        "official", "1", "the reference prompt, Response 1 = pred_a, its last-three-lines parse and metrics",
        deviations=(NO_VERIFIER, "greedy decoding (lmms-eval samples at temperature 0.6, top-p 0.95)")),
    "strict": ProtocolSpec(
        "strict", "1", "the reference prompt and metrics, response order swapped per prompt from (seed, prompt_id); "
        "both responses named in the last three lines is invalid",
        deviations=(NO_VERIFIER, "answer order from (seed, prompt_id); the reference never swaps",
                    "greedy decoding (lmms-eval samples at temperature 0.6, top-p 0.95)")),
}


def normalise_split(value: Any) -> str | None:
    """A row's `split` label in our spelling (the reference accepts open-ended / open_ended / openended)."""
    text = str(value).strip().lower().replace("_", "-")
    return {"open-ended": "open_ended", "openended": "open_ended", "reasoning": "reasoning"}.get(text)


def criterion_text(split: str, criterion: str) -> str:
    return load_template(f"multi_crit_criterion_{split}_{criterion}.txt")


def judge_prompt(split: str, criterion: str, question: str, first: str, second: str) -> str:
    """The reference's PROMPT_TEMPLATE.format(...) for one criterion row (values are not re-parsed)."""
    return load_template("multi_crit_judge.txt").format(Question=question, Response1=first, Response2=second,
                                                        Criterion=criterion_text(split, criterion))


def direct_preference(text: str | None, strict: bool) -> tuple[int | None, str | None]:
    """(shown response 1 or 2, None) or (None, reason): the reference's `parse_direct_preference` (`strict`: a
    second different number in the last three lines makes the reply invalid instead of the first winning)."""
    if text is None or not text.strip():
        return None, "empty reply"
    tail = "\n".join(text.strip().split("\n")[-3:]).lower()
    if strict:
        if len(set(DIRECT_PREFERENCE.findall(tail))) > 1:
            return None, "the last three lines name more than one response"
    match = DIRECT_PREFERENCE.search(tail)
    if match is None:
        return None, "no 'Response N is better' in the last three lines (the reference would ask its verifier)"
    if match.group(1) not in ("1", "2"):
        return None, f"the last three lines name 'Response {match.group(1)}'"
    return int(match.group(1)), None


@task("multi_crit")
class MultiCrit(Task):
    version = "1"
    protocols = PROTOCOLS
    default_protocol = "official"
    splits = SPLITS
    generation = {"official": GENERATION, "strict": GENERATION}
    data = DataSpec(hub=HUB, local=LOCAL)
    both_orders = True

    #: The split being read (set by `rows`): a row labelled with another split is a load error.
    _split: str | None = None

    def rows(self, cfg: TaskConfig) -> RowSource:
        """The split's JSONL under --data-dir (images under images/), or the hub at --dataset-revision."""
        split = cfg.split or SPLITS[0]
        self._split = split
        if cfg.data_dir is not None:
            root = cfg.data_dir
            return local_rows(replace(LOCAL, file=LOCAL_FILES[split]), root, split, HUB,
                              media=lambda raw, uid: self.local_media(raw.fields or {}, root, raw.where))
        return hub_rows(HUB, split, cfg.revision, LOCAL.layout)  # refused unless a commit is named (needs_revision)

    def local_media(self, fields: Mapping[str, Any], root: Path, where: str) -> dict[str, MediaRef]:
        """`image_path` is relative to DIR/images/ (the official layout)."""
        return dict(path_media(root / IMAGES_DIR, {"image_path": "image"})(RawRow(0, where, dict(fields)), ""))

    # ---- rows -> samples ---------------------------------------------------------------------------
    def sample(self, row: Row) -> Sample:
        problem, data = _validate(row.fields, self._split)
        if problem is None and row.source == "local" and not isinstance(row.fields.get("image_path"), str):
            problem = "field 'image_path' must be a path relative to images/"
        if problem is None and not row.media:
            problem = "no image (hub column 'image')"
        if problem is not None:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (question_id {row.source_id}): {problem}")
        data.update(question_id=row.source_id)
        return Sample(row.id, row.index, data, tuple(row.media.values()))

    # ---- requests ----------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        # --orders both: the other order is every decision inverted (`official` then shows pred_b first).
        swapped = (cfg.protocol == "strict" and seeded_swap(cfg.seed, d["prompt_id"])) != cfg.flip_order
        first, second = (d["pred_b"], d["pred_a"]) if swapped else (d["pred_a"], d["pred_b"])
        text = judge_prompt(d["split"], d["criterion"], d["question"], first, second)
        return [Request(sample.id, sample.id, (*sample.media, text), GENERATION, meta={"swapped": swapped})]

    # ---- parse -------------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        request, reply = exchanges[0]
        d = sample.data
        swapped = bool(request.meta["swapped"])
        shown, reason = direct_preference(reply.text, strict=cfg.protocol == "strict")
        prediction = None if shown is None else VALID_PREFERENCES[(shown - 1) ^ int(swapped)]
        outcome = {"question_id": d["question_id"], "prompt_id": d["prompt_id"], "criterion": d["criterion"],
                   "preference": d["preference"], "prediction": prediction, "swapped": swapped,
                   "index": sample.index,
                   "correct": prediction is not None and prediction == d["preference"].strip().lower()}
        return Parsed("ok" if prediction is not None else "invalid", outcome, reason)

    # ---- score -------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        split = cfg.split or SPLITS[0]
        scored = [j for j in judgments if j.status != "error"]
        table = CritTable.from_outcomes([j.outcome for j in scored], CRITERIA[split],
                                        flipped=[split_record_id(j.sample_id)[1] for j in scored])
        return table.scoring([j.sample_id for j in scored])

    # ---- both orders -------------------------------------------------------------------------------
    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        return crit_view(outcome)

    def both_orders_deviation(self, cfg: TaskConfig) -> str | None:
        if cfg.protocol != "official":
            return None  # `strict` already swaps per (seed, prompt_id)
        return "--orders both: also judged with pred_b as Response 1, an order the reference never shows"


def crit_view(outcome: Mapping[str, Any]) -> OrderVerdict:
    """One criterion row as an underlying choice: response 0 is pred_a (model_a), response 1 pred_b; `swapped`:
    pred_b shown as Response 1; a row without a prediction is `INVALID`."""
    swapped, preference = outcome.get("swapped"), str(outcome.get("preference", "")).strip().lower()
    if not isinstance(swapped, bool):
        raise ValueError(f"outcome field 'swapped' must be true or false, not {swapped!r}")
    if preference not in VALID_PREFERENCES:
        raise ValueError(f"outcome field 'preference' {outcome.get('preference')!r} is not model_a or model_b")
    prediction = outcome.get("prediction")
    choice = VALID_PREFERENCES.index(prediction) if prediction in VALID_PREFERENCES else INVALID
    return OrderVerdict(choice, VALID_PREFERENCES.index(preference), int(swapped))


def _validate(fields: Mapping[str, Any], split: str | None) -> tuple[str | None, dict[str, Any]]:
    """(problem, data): the benchmark fields a criterion row of `split` needs (None: any split)."""
    for name in ("prompt_id", "criterion", "question", "pred_a", "pred_b", "preference"):
        if not isinstance(fields.get(name), str):
            return f"field {name!r} must be a string", {}
    preference = fields["preference"]
    if preference.strip().lower() not in VALID_PREFERENCES:
        return f"field 'preference' must be model_a or model_b, got {preference!r}", {}
    labelled = fields.get("split")
    row_split = normalise_split(labelled) if labelled is not None else split
    if row_split is None:
        return f"field 'split' must be open_ended or reasoning, got {labelled!r}", {}  # (or absent, split known)
    if split is not None and row_split != split:
        return f"field 'split' is {labelled!r}, but split {split!r} is being read", {}
    if fields["criterion"] not in CRITERIA[row_split]:
        return (f"field 'criterion' {fields['criterion']!r} is not one of split {row_split!r}: "
                f"{', '.join(CRITERIA[row_split])}"), {}
    return None, {"prompt_id": fields["prompt_id"], "criterion": fields["criterion"], "question": fields["question"],
                  "pred_a": fields["pred_a"], "pred_b": fields["pred_b"], "preference": preference,
                  "split": row_split}


# ---- the reference's metrics, as arrays ------------------------------------------------------------------

@dataclass(frozen=True)
class CritTable:
    """One row per scored criterion row (in dataset order), plus the conflicting pairs among the kept rows.

    `kept`: the row survives the reference's first-question-id rule and (prompt, criterion) last-wins grouping.
    `match`: `answer_match` (normalised comparison); `pred_equals_pref`: the raw `prediction == preference` the
    reference's CMR uses. Pairs: kept rows i < j of one prompt whose raw preferences differ.
    """

    criteria: tuple[str, ...]
    criterion: np.ndarray  # int index into `criteria`, -1 for a criterion of no split (never kept)
    prompt: np.ndarray  # int prompt index
    kept: np.ndarray
    match: np.ndarray
    valid: np.ndarray  # prediction is model_a or model_b
    pred_equals_pref: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    pair_detected: np.ndarray  # the two predictions are valid and different
    n_prompts: int
    details: Mapping[str, int]

    @classmethod
    def from_outcomes(cls, outcomes: Sequence[Mapping[str, Any]], criteria: tuple[str, ...],
                      flipped: Sequence[bool] | None = None) -> "CritTable":
        """`flipped[i]`: row i is a judgment in the other order (`--orders both`); each order's rows are a table
        of their own, their question ids and prompts keyed by (order, id)."""
        import numpy as np

        n = len(outcomes)
        order = sorted(range(n), key=lambda i: outcomes[i].get("index", i))  # dataset order
        flips = [False] * n if flipped is None else [bool(f) for f in flipped]

        def prompt_of(i: int) -> str:
            return str(outcomes[i]["prompt_id"]) + ("::swapped" if flips[i] else "")

        seen: set[tuple[bool, str]] = set()
        last: dict[tuple[str, str], int] = {}
        duplicates = 0
        for i in order:
            qid = (flips[i], str(outcomes[i]["question_id"]))
            if qid in seen:
                duplicates += 1
                continue
            seen.add(qid)
            last[(prompt_of(i), str(outcomes[i]["criterion"]))] = i
        kept = np.zeros(n, dtype=bool)
        kept[list(last.values())] = True
        prompts = {p: k for k, p in enumerate(dict.fromkeys(prompt_of(i) for i in order))}
        prediction = [o.get("prediction") for o in outcomes]
        preference = [str(o["preference"]) for o in outcomes]
        pairs: list[tuple[int, int]] = []
        by_prompt: dict[str, list[int]] = {}
        for (prompt_id, _), i in last.items():  # insertion order: the reference's grouped dict
            by_prompt.setdefault(prompt_id, []).append(i)
        for rows in by_prompt.values():
            pairs.extend((i, j) for i, j in itertools.combinations(rows, 2) if preference[i] != preference[j])
        pair_i = np.array([p[0] for p in pairs], dtype=np.intp)
        pair_j = np.array([p[1] for p in pairs], dtype=np.intp)
        valid = np.array([p in VALID_PREFERENCES for p in prediction], dtype=bool)
        detected = np.array([valid[i] and valid[j] and prediction[i] != prediction[j] for i, j in pairs], dtype=bool)
        index = {c: k for k, c in enumerate(criteria)}
        return cls(
            criteria=criteria,
            criterion=np.array([index.get(str(o["criterion"]), -1) for o in outcomes], dtype=np.intp),
            prompt=np.array([prompts[prompt_of(i)] for i in range(n)], dtype=np.intp),
            kept=kept & np.array([str(o["criterion"]) in index for o in outcomes], dtype=bool),
            match=np.array([p is not None and p.strip().lower() == q.strip().lower()
                            for p, q in zip(prediction, preference)], dtype=bool),
            valid=valid,
            pred_equals_pref=np.array([p == q for p, q in zip(prediction, preference)], dtype=bool),
            pair_i=pair_i, pair_j=pair_j, pair_detected=detected, n_prompts=len(prompts),
            details={"n_prompts": len(prompts), "n_conflict_pairs": len(pairs),
                     "n_repeated_question_ids": duplicates, "n_rows_replaced": n - duplicates - len(last)})

    def metrics(self, weight: np.ndarray) -> dict[str, float]:
        """Every metric with row multiplicities `weight` (the full table: `kept` as 0/1). Row accuracies count a
        row as often as it is drawn; prompt-level metrics read the distinct rows drawn."""
        import numpy as np

        w = weight.astype(float) * self.kept
        out: dict[str, float] = {}
        rounded = []
        for k, name in enumerate(self.criteria):
            total = float(w[self.criterion == k].sum())
            value = float(w[(self.criterion == k) & self.match].sum()) / total * 100 if total else float("nan")
            out[f"accuracy/{name}"] = value
            if total:
                rounded.append(np.round(np.float64(value), 2))  # the reference rounds each before the macro
        total = float(w.sum())
        out["overall_accuracy"] = float(w[self.match].sum()) / total * 100 if total else float("nan")
        out["macro_accuracy"] = float(np.round(np.mean(rounded), 2)) if rounded else float("nan")
        present = w > 0
        drawn = np.bincount(self.prompt[present], minlength=self.n_prompts) > 0
        wrong = np.bincount(self.prompt[present & ~self.match], minlength=self.n_prompts) > 0
        out["pluralistic_accuracy"] = float(np.mean(~wrong[drawn])) * 100 if drawn.any() else float("nan")
        live = present[self.pair_i] & present[self.pair_j]
        pair_prompt = self.prompt[self.pair_i[live]]
        conflicted = np.bincount(pair_prompt, minlength=self.n_prompts) > 0
        hit = np.bincount(pair_prompt[self.pair_detected[live]], minlength=self.n_prompts) > 0
        out["tradeoff_sensitivity"] = float(np.mean(hit[conflicted])) * 100 if conflicted.any() else float("nan")
        both = self.pred_equals_pref[self.pair_i[live]] & self.pred_equals_pref[self.pair_j[live]]
        out["conflict_matching_rate"] = float(np.mean(both)) * 100 if live.any() else float("nan")
        return out

    def scoring(self, ids: Sequence[str]) -> Scoring:
        import numpy as np

        def compute(idx: np.ndarray) -> dict[str, float]:
            return self.metrics(np.bincount(idx, minlength=len(ids)))

        rows = {"overall_accuracy": self.kept.copy()}
        rows.update({f"accuracy/{c}": self.kept & (self.criterion == k) for k, c in enumerate(self.criteria)})
        return Scoring(compute, list(ids), details=dict(self.details), correct=self.match & self.kept,
                       accuracy_rows=rows)
