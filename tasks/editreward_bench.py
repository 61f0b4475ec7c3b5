"""TIGER-Lab's EditReward-Bench (image editing, 2 to 4 candidates per instruction): `editreward_bench_tiger`.

Not the benchmark of the same name by EditScore (`editreward_bench_editscore`, tasks/editscore_bench.py): see
docs/tasks/editreward_bench.md for why both names carry their publisher.

Sources: the paper (arXiv 2509.26346); the evaluation code TIGER-AI-Lab/EditReward @ edb027e
(`EditReward/evaluate/inference_{2,3,4}pair_hf.py` for judges, `eval_bench.py` `evaluate_edit_reward_bench`
for scalar reward models; prompts `EditReward/evaluate/genaibench/templates/image_edition/pairwise_{2,3,4}pair.txt`).

Data: HF `TIGER-Lab/EditReward-Bench` at commit 837769c (files `2pair/train-*.parquet`, `3pair/...`,
`4pair/...`, images embedded), one row per pairwise comparison: `id`, `instruction`, `source_image`,
`candidate_1`, `candidate_2`, `ranking` (K=2: "A>B" | "B>A" | "A=B"; K=3/4: "A>C"-style over the
comparison's two letters), `comparison_type` (K=3/4: "AvsC": candidate_1 is A, candidate_2 is C), and
`dataset` ("2pair" ...), `model_1`, `model_2`, which are checked where present or ignored, and `score_1`,
`score_2`: read as the two candidates' human scores where a row has both as numbers (the scripts carry them
into their results unused; their scale could not be checked on real rows here), for the reliability metrics
below; a value that is not a number is a load error, a missing one leaves the row without human scores.
`--data-dir DIR` holds the same files in the same layout (`huggingface-cli download --repo-type dataset
TIGER-Lab/EditReward-Bench --local-dir DIR`); a subset directory that is absent is skipped and recorded.
Sample ids are `k2/<id>` and `k<K>/<id>/<comparison_type>`.

Protocols (greedy decoding):
- `official` (default): the benchmark's template for the row's K with the instruction, the source image and
  candidate_1 as Model A / the left image, candidate_2 as Model B / the right one (no swap, as the scripts);
  the scripts' verdict parser (`parse_pairwise_response`, reimplemented here); a reply it reads as "Unknown"
  is invalid and counts as wrong, as the scripts count it. Metrics: `accuracy/k2` (vote == human ranking;
  a human tie needs "A=B"), per K=3/4 `pairwise_accuracy/k<K>` (the scripts' individual accuracy) and
  `group_accuracy/k<K>` (tasks/editreward_metrics.py). The README's K=2/K=3/K=4 columns are `accuracy/k2`,
  `group_accuracy/k3`, `group_accuracy/k4`. With `--orders both` the other order is candidate_2 as Model A /
  the left image (K=3/4: the comparison named `<second>vs<first>`), which the scripts never show: a named
  deviation (`both_orders_deviation`).
- `unifiedreward`: UnifiedReward-Edit's pairwise-rank prompt (CodeGoat24/UnifiedReward @ ff6f520,
  `UnifiedReward-Edit/edit_pairwise_rank.py`: source image, edited image 1, edited image 2, then the text), the
  order swapped per (seed, id), the three-way parser of tasks.pairwise ("Image N is better", "equally good");
  the same metrics. Ours: the benchmark publishes no UnifiedReward evaluation.
- `scores` (scalar scorers): each candidate scored with the instruction; `eval_bench.py`'s numbers:
  `pairwise_accuracy/k2` and `pairwise_accuracy` (all pairs) with ties, `pairwise_accuracy/k3|k4` without,
  `strict_accuracy/k<K>` and `strict_accuracy` (the whole ranking right; a K=2 human tie right when the
  margin is within the K=2 optimal epsilon).

Reliability (docs/reliability.md, "Understanding, edit and video tasks"; tasks/editreward_metrics.py): where rows
carry human scores, accuracy per bucket of |score_1 - score_2| (`accuracy/human_score_gap/<bucket>`, every
protocol), and for the `scores` protocol Spearman's rho and Kendall's tau-b of the scorer's candidate scores
with the human ones (`spearman/human_score`, `kendall_tau_b/human_score`). `--orders both` (judge protocols):
each order's group is a group of its own for the group accuracy; `order_verdict` is
`harness.reliability.positional_view` with tie 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, MediaRef, Part, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict, positional_view
from harness.rows import DatasetInfo, IdRule, RowSource, load_hub_dataset, local_info
from harness.task import Parsed, ProtocolSpec, Row, Scoring, Tally, Task, TaskConfig

from .editreward_metrics import score_scalar, score_votes, script_group
from .embedded_rows import (PART_FIELD, Part as TablePart, chain, files_sha256, hub_records, image_bytes,
                            image_ref, table_files, table_reader)
from .pairwise import edit_rank_requests, margin_outcome, scorer_requests, three_way_choice
from .templates import load_template

HF_DATASET = "TIGER-Lab/EditReward-Bench"
# The hub repository's head when its file listing was read (tree page: "History: 3 commits", head 837769c,
# directories 2pair/ 3pair/ 4pair/); its data files are those added by 422a400 ("upload all dataset files").
HF_REVISION = "837769c456117bcea42f72ab1d7f5125fe589eb4"

SUBSETS = {"2pair": 2, "3pair": 3, "4pair": 4}
LAYOUT = ("the hub repository's layout: 2pair/*.parquet, 3pair/*.parquet, 4pair/*.parquet "
          "(huggingface-cli download --repo-type dataset TIGER-Lab/EditReward-Bench --local-dir DIR)")
TEMPLATES = {2: "editreward_tiger_2pair.txt", 3: "editreward_tiger_3pair.txt", 4: "editreward_tiger_4pair.txt"}
# The benchmark's Qwen2.5-VL wrapper (mllm_tools/qwen2_5vl_eval.py) and UnifiedReward-Edit's vLLM request
# both decode greedily with up to 4,096 new tokens.
GENERATION = Generation(max_new_tokens=4096)
UNKNOWN = "Unknown"

PROTOCOLS = {
    "official": ProtocolSpec(
        "official", "1",
        "the benchmark's pairwise_<K>pair template, candidate_1 left, its verdict parser; K=2 accuracy, K=3/4 "
        "comparison and group accuracy", deviations=(
            "greedy decoding (max 4,096 new tokens, as the benchmark's Qwen2.5-VL wrapper); API judges' own "
            "settings differ",
            "each K is read from the hub's <K>pair/ files at a pinned commit; the scripts load the default split "
            "and keep the rows whose `dataset` is '<K>pair'")),
    "unifiedreward": ProtocolSpec(
        "unifiedreward", "1",
        "UnifiedReward-Edit's pairwise-rank prompt (source, edited 1, edited 2, text), seeded per-sample order "
        "swap, three-way parser; the same metrics", deviations=(
            "our protocol: the benchmark publishes no UnifiedReward evaluation; the prompt is UnifiedReward-Edit's "
            "(which prints the reply unparsed), the verdict reading and the answer-order swap are ours",
            "the prompt offers no tie: a K=2 human tie is right only when the reply says the two are equally "
            "good")),
    "scores": ProtocolSpec(
        "scores", "1",
        "scalar scorer: each candidate scored with the instruction; eval_bench.py's pairwise accuracy (with ties "
        "for K=2 and overall, without for K=3/4) and strict ranking accuracy", deviations=(
            "a scorer sees the instruction and one edited image: the harness's scalar-scorer interface does not "
            "pass the source image, which EditReward's own reward model also reads",
            "a group's human ranking is rebuilt from its pairwise rows (the script reads EditReward_Bench_<K>pair."
            "json, which is not published); a group without every comparison scored is left out of the strict "
            "ranking accuracy, as a row without two finite scores is left out of everything",
            "a candidate scored differently in two rows of its group takes the mean of its scores for the ranking "
            "(a deterministic scorer gives equal ones)")),
}


@task("editreward_bench_tiger")
class EditRewardBenchTiger(Task):
    """TIGER-Lab/EditReward-Bench: pairwise and 3-/4-candidate group accuracy of image-editing judges."""

    version = "1"
    protocols = PROTOCOLS
    default_protocol = "official"
    scorer_protocol = "scores"
    splits = ("train",)
    generation = {"official": GENERATION, "unifiedreward": GENERATION}
    both_orders = True

    # ---- rows -> samples ----------------------------------------------------------------------------
    def rows(self, cfg: TaskConfig) -> RowSource:
        """The three subsets in order (2pair, 3pair, 4pair): local Parquet files or the hub's at the commit."""
        if cfg.data_dir is not None:
            return self._local_rows(cfg.data_dir, cfg.split)
        revision: str | None = cfg.revision or HF_REVISION
        parts = []
        for subset in SUBSETS:
            ds, revision = load_hub_dataset(HF_DATASET, revision, f"{HF_DATASET} {subset}",
                                            f"Use --data-dir with a local copy ({LAYOUT}).", split="train",
                                            data_files={"train": f"{subset}/*.parquet"})
            parts.append(TablePart(subset, hub_records(ds, f"{HF_DATASET} {subset}")))
        info = DatasetInfo(source="hub", id=HF_DATASET, revision=revision, split=cfg.split,
                           extra={"subsets": list(SUBSETS)})
        return RowSource(info, chain(parts), IDS, name=HF_DATASET)

    def _local_rows(self, root: Path, split: str | None) -> RowSource:
        found = {subset: table_files(root, f"{subset}/*.parquet") for subset in SUBSETS}
        present = {subset: files for subset, files in found.items() if files}
        if not present:
            raise UsageError(f"--data-dir {root}: no 2pair/, 3pair/ or 4pair/ Parquet files there (expected {LAYOUT})")
        files = [f for subset in present for f in present[subset]]
        info = replace(local_info(root, files_sha256(files), split, HF_DATASET), extra={"subsets": list(present)})
        parts = [TablePart(subset, table_reader(paths, root)) for subset, paths in present.items()]
        return RowSource(info, chain(parts), IDS, name=str(root))

    def sample(self, row: Row) -> Sample:
        fields, problem = _validate(row.fields)
        if fields is None:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (id {row.id}): {problem}")
        k, x, y = fields["k"], fields["x"], fields["y"]
        key = f"k{k}/{fields['source_id']}"
        media = (image_ref(fields.pop("source_bytes"), f"{key}/source"),
                 image_ref(fields.pop("first_bytes"), f"{key}/{x}"),
                 image_ref(fields.pop("second_bytes"), f"{key}/{y}"))
        return Sample(row.id, row.index, fields, media)

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        if sample.problem is None:
            tally.count(f"rows/k{sample.data['k']}")
            if sample.data["k"] > 2:
                tally.distinct(f"groups/k{sample.data['k']}", sample.data["group"])

    # ---- requests ---------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        source, first, second = sample.media
        if cfg.protocol == "scores":
            return scorer_requests(sample, d["instruction"], [("A", first), ("B", second)])
        if cfg.protocol == "official":
            # The scripts never swap; --orders both adds candidate_2 on the left, its letter named first.
            swapped = cfg.flip_order
            left, right = (second, first) if swapped else (first, second)
            texts = {"<source_prompt>": "", "<target_prompt>": "", "<instruct_prompt>": d["instruction"],
                     "<comparison_type>": f"{d['y']}vs{d['x']}" if swapped else d["comparison_type"]}
            parts = slot_parts(load_template(TEMPLATES[d["k"]]), texts,
                               {"<source_image>": source, "<left_output_image>": left,
                                "<right_output_image>": right})
            return [Request(sample.id, sample.id, parts, GENERATION, meta={"swapped": swapped})]
        return edit_rank_requests(sample, cfg, d["instruction"], source, first, second, shown_gold(d["h"], False))

    # ---- parse ------------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        d = sample.data
        outcome: dict[str, Any] = {"k": d["k"], "group": d["group"], "pair": d["x"] + d["y"], "h": d["h"]}
        if d["human_scores"] is not None:
            outcome["human_scores"] = list(d["human_scores"])
        if cfg.protocol == "scores":
            status, scored, reason = margin_outcome(exchanges, d["h"])
            return Parsed(status, {**outcome, **scored}, reason)  # type: ignore[arg-type]
        request, reply = exchanges[0]
        text = reply.text or ""
        if cfg.protocol == "official":
            swapped = bool(request.meta["swapped"])
            vote, position = shown_vote(text, d["k"], d["x"], d["y"], swapped)
            outcome.update(vote=vote, correct=vote == d["ranking"], swapped=swapped, verdict=position,
                           gold=shown_gold(d["h"], swapped))
            if vote == UNKNOWN:
                return Parsed("invalid", outcome, "the benchmark's parser reads no verdict ('Unknown'; counted "
                                                  "wrong, as its scripts count it)")
            return Parsed("ok", outcome)
        choice, reason = three_way_choice(text, "image")
        outcome.update(swapped=request.meta["swapped"], gold=request.meta["gold"], verdict=choice,
                       correct=choice is not None and choice == request.meta["gold"])
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    # ---- score ------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        return score_scalar(judgments) if cfg.protocol == "scores" else score_votes(judgments)

    # ---- both orders ------------------------------------------------------------------------------
    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        """`verdict` the position named (1, 2; 0 "equally good" / A=B), `gold` where the better candidate is
        shown (0 for a human tie), `swapped`: candidate_2 shown first."""
        return positional_view(outcome, tie=0)

    def both_orders_deviation(self, cfg: TaskConfig) -> str | None:
        if cfg.protocol != "official":
            return None  # `unifiedreward` already swaps per (seed, id)
        return ("--orders both: also judged with candidate_2 as Model A / the left image (K=3/4: the comparison "
                "named '<second>vs<first>'), an order the benchmark's scripts never show")


def shown_gold(h: int, swapped: bool) -> int:
    """The position (1, 2) the better candidate is shown at, 0 for a human tie (h: 1 candidate_1, -1 the other)."""
    return 0 if h == 0 else 1 if (h == 1) != swapped else 2


def shown_vote(text: str, k: int, x: str, y: str, swapped: bool) -> tuple[str, int | None]:
    """The `official` reading of a reply to candidates x (candidate_1) and y, shown y first when `swapped`: (the
    vote in the row's letters, as `ranking` spells it; the position it names: 1, 2, 0 for A=B, None otherwise).
    K=2's template names positions ("Model A" is whoever is shown first), so its vote is unswapped; K=3/4's names
    the candidates' letters in the comparison shown, so its vote is already the row's."""
    if k == 2:
        shown = official_vote(text, 2)
        position = {"A>B": 1, "B>A": 2, "A=B": 0}.get(shown)
        return ({"A>B": "B>A", "B>A": "A>B"}.get(shown, shown) if swapped else shown), position
    left, right = (y, x) if swapped else (x, y)
    vote = official_vote(text, k, left, right)
    return vote, {f"{left}>{right}": 1, f"{right}>{left}": 2}.get(vote)


def slot_parts(template: str, texts: Mapping[str, str], media: Mapping[str, MediaRef]) -> tuple[Part, ...]:
    """The scripts' `run_pairwise_comparison_embedded`: the template cut at its image slots in order, text
    placeholders filled in each piece (after the cut, so dataset text never makes a slot); empty pieces go."""
    slots = sorted((template.index(slot), slot) for slot in media)
    parts: list[Part] = []
    rest = template
    for _, slot in slots:
        before, rest = rest.split(slot, 1)
        parts.extend(p for p in (_fill(before, texts),) if p)
        parts.append(media[slot])
    parts.extend(p for p in (_fill(rest, texts),) if p)
    return tuple(parts)


def _fill(text: str, texts: Mapping[str, str]) -> str:
    for placeholder, value in texts.items():
        text = text.replace(placeholder, value)
    return text


# ---- the benchmark's verdict parser (inference_{2,3,4}pair_hf.py `parse_pairwise_response`) ----------------
# Its patterns are tried in order; the first that matches decides or, if its text names no known verdict,
# ends the search; then "X is better", then (K=2) tie phrases or (K=3/4) "left/right image is better".
_FLAGS = re.IGNORECASE | re.MULTILINE
_TWO = [re.compile(p, _FLAGS) for p in (
    r"\[\[([^\]]+)\]\]", r"\\boxed\{([^}]+)\}", r"\[([ABab][><=][ABab])\]",
    r"(?:Final verdict|verdict|answer):\s*([ABab][><=][ABab])(?:\s*$|\s*\.?\s*$)",
    r"\b([ABab]\s*[><=]\s*[ABab])\b(?=\s*(?:\.|$|,|\s))", r"(?:Model\s+)?([ABab])\s+is\s+better",
    r"both\s+(?:are\s+)?(?:equal|same|tie|tied)")]
_TWO_TIES = [re.compile(p, re.IGNORECASE) for p in (
    r"both\s+(?:are\s+)?(?:equal|same|tie|tied|equivalent)", r"(?:they\s+are\s+)?(?:equal|same|tie|tied|equivalent)",
    r"no\s+difference", r"can't\s+decide", r"both\s+(?:look|are)\s+good", r"both\s+(?:look|are)\s+bad")]
_LEFT = re.compile(r"left\s+(?:image\s+)?is\s+better", re.IGNORECASE)
_RIGHT = re.compile(r"right\s+(?:image\s+)?is\s+better", re.IGNORECASE)


def _many(letters: str) -> list[re.Pattern[str]]:
    c = letters + letters.lower()
    return [re.compile(p, _FLAGS) for p in (
        r"\[\[([^\]]+)\]\]", r"\\boxed\{([^}]+)\}", rf"\[([{c}][><][{c}])\]", r"\[(Left>Right|Right>Left)\]",
        rf"(?:Final verdict|verdict|answer):\s*([{c}][><][{c}])(?:\s*$|\s*\.?\s*$)",
        rf"\b([{c}]\s*[><]\s*[{c}])\b(?=\s*(?:\.|$|,|\s))", rf"(?:Model\s+)?([{c}])\s+is\s+better")]


_MANY = {3: _many("ABC"), 4: _many("ABCD")}
# The order the K=3/4 scripts test the votes in: A>B, B>A, A>C, C>A, (A>D, D>A,) B>C, ...
_VOTES = {k: [v for a, b in combinations("ABCD"[:k], 2) for v in (f"{a}>{b}", f"{b}>{a}")] for k in (3, 4)}


def _raw(match: re.Match[str]) -> str:
    text = match.group(1) if match.re.groups else match.group(0)
    return text.strip().upper().replace(" ", "")


def official_vote(text: str, k: int, x: str = "A", y: str = "B") -> str:
    """The scripts' reading of a reply to the comparison of candidates `x` (left) and `y` (right): "A>B",
    "B>A" or "A=B" for K=2, "<x>><y>"-style for K=3/4, else "Unknown"."""
    if k == 2:
        for pattern in _TWO:
            match = pattern.search(text)
            if match:
                raw = _raw(match)
                for vote in ("A>B", "B>A"):
                    if vote in raw:
                        return vote
                if "A=B" in raw or "A==B" in raw:
                    return "A=B"
                break
        better = re.search(r"\b([ABab])\s+is\s+better", text, re.IGNORECASE)
        if better:
            letter = better.group(1).upper()
            return f"{letter}>{'B' if letter == 'A' else 'A'}"
        return "A=B" if any(p.search(text) for p in _TWO_TIES) else UNKNOWN
    for pattern in _MANY[k]:
        match = pattern.search(text)
        if match:
            raw = _raw(match)
            if "LEFT>RIGHT" in raw:
                return f"{x}>{y}"
            if "RIGHT>LEFT" in raw:
                return f"{y}>{x}"
            for vote in _VOTES[k]:
                if vote in raw:
                    return vote
            break
    better = re.search(rf"\b([{'ABCD'[:k]}{'abcd'[:k]}])\s+is\s+better", text, re.IGNORECASE)
    if better:
        letter = better.group(1).upper()
        return f"{letter}>{y if letter == x else x}"
    if _LEFT.search(text):
        return f"{x}>{y}"
    if _RIGHT.search(text):
        return f"{y}>{x}"
    return UNKNOWN


# ---- row checks -------------------------------------------------------------------------------------------

def _sample_id(fields: Mapping[str, Any]) -> str | None:
    k, source_id = SUBSETS.get(str(fields.get(PART_FIELD))), fields.get("id")
    if k is None or source_id in (None, ""):
        return None
    return f"k{k}/{source_id}" if k == 2 else f"k{k}/{source_id}/{fields.get('comparison_type')}"


#: A repeated (K, id, comparison) is kept (`#2`, ...): its group then has more rows than the scripts expect,
#: which they count as a wrong group, and so does the group rule here.
IDS = IdRule(derive=_sample_id, fallback="row-{index}", repeated="count")
_COMPARISON = re.compile(r"^([A-D])vs([A-D])$")


def _pair(k: int, ranking: Any, comparison: Any) -> tuple[str, str, int] | str:
    """(left letter, right letter, h) of a row, h = 1 when the left candidate is better, -1 the right, 0 a tie;
    or why the row's labels cannot be read."""
    if not isinstance(ranking, str):
        return f"field 'ranking' must be a string, got {ranking!r}"
    if k == 2:
        x, y = "A", "B"
    else:
        match = _COMPARISON.match(comparison) if isinstance(comparison, str) else None
        if not match or not match.group(1) < match.group(2) <= "ABCD"[k - 1]:
            known = ", ".join(a + "vs" + b for a, b in combinations("ABCD"[:k], 2))
            return f"field 'comparison_type' must be one of {known} for {k}pair, got {comparison!r}"
        x, y = match.group(1), match.group(2)
    labels = {f"{x}>{y}": 1, f"{y}>{x}": -1, f"{x}={y}": 0}
    if ranking not in labels:
        return f"field 'ranking' must be one of {', '.join(labels)} for this comparison, got {ranking!r}"
    return x, y, labels[ranking]


def _validate(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    part = row.get(PART_FIELD)
    k = SUBSETS[str(part)]
    source_id, instruction = row.get("id"), row.get("instruction")
    if not isinstance(source_id, (str, int)) or isinstance(source_id, bool) or str(source_id) == "":
        return None, f"field 'id' must be a non-empty string, got {source_id!r}"
    if not isinstance(instruction, str):
        return None, "field 'instruction' must be a string"
    for column, want in (("dataset", part), ("num_candidates", k)):
        if column in row and row[column] is not None and row[column] != want:
            return None, f"field {column!r} is {row[column]!r} in the {part}/ files (expected {want!r})"
    pair = _pair(k, row.get("ranking"), row.get("comparison_type"))
    if isinstance(pair, str):
        return None, pair
    images = {}
    for column in ("source_image", "candidate_1", "candidate_2"):
        data = image_bytes(row.get(column))
        if data is None:
            return None, f"field {column!r} holds no embedded image bytes"
        images[column] = data
    x, y, h = pair
    scores = _human_scores(row)
    if isinstance(scores, str):
        return None, scores
    source_id = str(source_id)
    return {"k": k, "source_id": source_id, "group": f"k{k}/{script_group(source_id)}", "instruction": instruction,
            "ranking": row["ranking"], "comparison_type": f"{x}vs{y}", "x": x, "y": y, "h": h, "human_scores": scores,
            "source_bytes": images["source_image"], "first_bytes": images["candidate_1"],
            "second_bytes": images["candidate_2"]}, None


def _human_scores(row: Mapping[str, Any]) -> tuple[float, float] | None | str:
    """(score_1, score_2) when the row has both as finite numbers; None when either is missing (absent, null or
    NaN, which is how a Parquet float column stores a missing value); why, for a value that is not a number."""
    values = []
    for column in ("score_1", "score_2"):
        value = row.get(column)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"field {column!r} must be a number (the candidate's human score) or null, got {value!r}"
        values.append(float(value))
    if not all(math.isfinite(v) for v in values):
        return None
    return values[0], values[1]
