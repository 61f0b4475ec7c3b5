"""EditScore's EditReward-Bench (image editing, 13 subtasks x 3 dimensions): `editreward_bench_editscore`.

Not TIGER-Lab's benchmark of the same name (`editreward_bench_tiger`, tasks/editreward_bench.py): see
docs/tasks/editreward_bench.md for why both names carry their publisher.

Sources: the paper (arXiv 2509.23909); VectorSpaceLab/EditScore @ 6e0f1b9: `evaluation.py` (data loading,
per-candidate scoring, the result files), `calculate_statistics.py` (the metric), `editscore/__init__.py`
(`EditScore.evaluate`: the prompts and the score arithmetic), `editscore/vie_prompts.py` (prompt text),
`editscore/mllm_tools/qwen25vl.py` (image layout and generation of the Qwen2.5-VL backend `evaluate.sh` uses).

Data: HF `EditScore/EditReward-Bench` (split `train`) at commit 7dc4a0f, one row per (pair, dimension): `key`
(the two candidates' keys), `instruction`, `input_image`, `output_images` (two images: the first is the one
humans preferred on the row's dimension), `task_type` (13 subtasks) and `dimension` (`prompt_following`,
`consistency`, `overall`). `--data-dir DIR` holds a local copy of the repository's data files (its `.arrow`
files, found anywhere under DIR and read in path order; `.parquet` files if there are none). Sample ids are
`<dimension>/<key1>/<key2>`; images are named `<key1>_input`, `<key1>`, `<key2>` (score files can key them).

Protocols (greedy decoding):
- `editscore` (default): EditScore's own judge protocol for a generative VLM (e.g. EditScore-7B, Qwen2.5-VL +
  LoRA): per candidate the semantic-consistency prompt (input image, edited image, then the text, each image
  labelled `<imgN>: ` as its Qwen2.5-VL chat template writes) and the perceptual-quality prompt (the edited
  image), score range 25 (prompts/editreward_editscore_{sc,pq}.txt). Scores: prompt_following = SC[0] / 2.5,
  consistency = SC[1] / 2.5, overall = sqrt(min(SC) / 2.5 * min(PQ) / 2.5). A row is right when the first
  candidate scores higher on the row's dimension (a tie is wrong, as `calculate_statistics.py` counts it).
- `unifiedreward`: UnifiedReward-Edit's pairwise-rank prompt (source, edited 1, edited 2, text), the order
  swapped per (seed, id), the three-way parser; right when the preferred image is named. Ours.
- `scores` (scalar scorers): each candidate scored with the instruction; right when score(first) > score(second).
Metrics (%, the script's fractions x 100): per dimension `accuracy/<dimension>` (the mean over the subtasks
present: the script's `average`), `accuracy/<dimension>/<group>` for its four groups, and
`accuracy/<dimension>/<subtask>`.

`--orders both` (docs/reliability.md, "Understanding, edit and video tasks"): the `unifiedreward` protocol, its
seeded order inverted (`order_verdict`: `harness.reliability.positional_view`, tie 0 for "equally good"; the
benchmark has no human ties). `editscore` scores each candidate alone, so it has no order to swap and refuses
(`both_orders_refusal`). The rows carry no human margin and no human scores, so there are no accuracy-by-margin
or calibration metrics.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict, positional_view
from harness.rows import DatasetInfo, IdRule, RowSource, load_hub_dataset, local_info
from harness.task import Parsed, ProtocolSpec, Row, Scoring, Tally, Task, TaskConfig

from .embedded_rows import files_sha256, hub_records, image_bytes, image_ref, table_files, table_reader
from .pairwise import edit_rank_requests, margin_outcome, scorer_requests, three_way_choice
from .templates import load_template

HF_DATASET = "EditScore/EditReward-Bench"
# A commit of the dataset's main branch ("Update README.md", 7dc4a0f, a verified commit whose page lists the
# data as Arrow image/text files); the file listing at it could not be read from here.
HF_REVISION = "7dc4a0ff83c143ea0476065b2bb5d35247af0fcf"

DIMENSIONS = ("prompt_following", "consistency", "overall")
#: calculate_statistics.py's subtasks, in its print order, and its groups.
TASK_TYPES = ("background_change", "color_alter", "style_change", "subject-add", "subject-remove",
              "subject-replace", "material_alter", "motion_change", "ps_human", "text_change", "tone_transfer",
              "extract", "compose")
GROUPS = {"object": ("subject-add", "subject-remove", "subject-replace"),
          "appearance": ("color_alter", "material_alter", "style_change", "tone_transfer"),
          "scene": ("background_change", "extract"),
          "advanced": ("ps_human", "text_change", "motion_change", "compose")}
SCORE_RANGE = 25  # evaluate.sh --score_range 25: the prompts' "0 to 10" becomes "0 to 25", scores / 2.5
LAYOUT = "the hub repository's data files (.arrow, or .parquet) anywhere under DIR"
# qwen25vl.py decodes up to 512 new tokens; UnifiedReward-Edit's vLLM request allows 4,096, greedily.
EDITSCORE_GENERATION = Generation(max_new_tokens=512)
UR_GENERATION = Generation(max_new_tokens=4096)

PROTOCOLS = {
    "editscore": ProtocolSpec(
        "editscore", "1",
        "EditScore's SC and PQ prompts per candidate (score range 25), its score arithmetic, first candidate "
        "higher on the row's dimension; per-subtask accuracy and its average", deviations=(
            "one greedy reply per prompt; EditScore samples (temperature 0.7, top-p 0.9, top-k 20, seed 42)",
            "a reply without a readable score list (`\"score\": [...]`, or a reply that is only a list) makes the "
            "row invalid and wrong; EditScore repairs the JSON, retries twice, then guesses a random score",
            "the edited image is not resized to the input image's size before scoring (evaluation.py resizes it)")),
    "unifiedreward": ProtocolSpec(
        "unifiedreward", "1",
        "UnifiedReward-Edit's pairwise-rank prompt, seeded per-sample order swap, three-way parser; the same "
        "metrics", deviations=(
            "our protocol: the benchmark evaluates per-candidate scores; the prompt is UnifiedReward-Edit's and "
            "does not name the row's dimension, the verdict reading and the order swap are ours",)),
    "scores": ProtocolSpec(
        "scores", "1",
        "scalar scorer: each candidate scored with the instruction; right when the first scores higher",
        deviations=("a scorer gives one number per candidate for every dimension and sees the instruction and the "
                    "edited image only (the harness's scalar-scorer interface passes no source image)",)),
}


@task("editreward_bench_editscore")
class EditRewardBenchEditScore(Task):
    """EditScore/EditReward-Bench: pairwise accuracy of image-editing reward models over 13 subtasks x 3 dimensions."""

    version = "1"
    protocols = PROTOCOLS
    default_protocol = "editscore"
    scorer_protocol = "scores"
    splits = ("train",)
    generation = {"editscore": EDITSCORE_GENERATION, "unifiedreward": UR_GENERATION}
    both_orders = True

    # ---- rows -> samples ----------------------------------------------------------------------------
    def rows(self, cfg: TaskConfig) -> RowSource:
        if cfg.data_dir is not None:
            root = cfg.data_dir
            files = [f for f in table_files(root, "**/*.arrow") if not f.name.startswith("cache-")] \
                or table_files(root, "**/*.parquet")
            if not files:
                raise UsageError(f"--data-dir {root}: no .arrow or .parquet data files there (expected {LAYOUT})")
            info = local_info(root, files_sha256(files), cfg.split, HF_DATASET)
            return RowSource(info, table_reader(files, root), IDS, name=str(root))
        ds, revision = load_hub_dataset(HF_DATASET, cfg.revision or HF_REVISION, f"{HF_DATASET} split 'train'",
                                        f"Use --data-dir with a local copy ({LAYOUT}).", split="train")
        info = DatasetInfo(source="hub", id=HF_DATASET, revision=revision, split=cfg.split)
        return RowSource(info, hub_records(ds, HF_DATASET), IDS, name=HF_DATASET)

    def sample(self, row: Row) -> Sample:
        fields, problem = _validate(row.fields)
        if fields is None:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (id {row.id}): {problem}")
        first, second = fields["keys"]
        media = (image_ref(fields.pop("input_bytes"), f"{first}_input"),
                 image_ref(fields.pop("first_bytes"), first), image_ref(fields.pop("second_bytes"), second))
        return Sample(row.id, row.index, fields, media)

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        if sample.problem is None:
            tally.count(f"rows/{sample.data['dimension']}")
            tally.distinct("task_types", sample.data["task_type"])

    # ---- requests ---------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        source, first, second = sample.media
        if cfg.protocol == "scores":
            return scorer_requests(sample, d["instruction"], [("A", first), ("B", second)])
        if cfg.protocol == "unifiedreward":
            return edit_rank_requests(sample, cfg, d["instruction"], source, first, second, 1)  # preferred first
        sc = load_template("editreward_editscore_sc.txt").replace("<instruction>", d["instruction"])
        pq = load_template("editreward_editscore_pq.txt")
        out = []
        for name, edited in (("A", first), ("B", second)):
            out.append(Request(f"{sample.id}::{name}::sc", sample.id, ("<img1>: ", source, "<img2>: ", edited, sc),
                               EDITSCORE_GENERATION, meta={"candidate": name, "prompt": "sc"}))
            out.append(Request(f"{sample.id}::{name}::pq", sample.id, ("<img1>: ", edited, pq),
                               EDITSCORE_GENERATION, meta={"candidate": name, "prompt": "pq"}))
        return out

    # ---- parse ------------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        d = sample.data
        outcome: dict[str, Any] = {"task_type": d["task_type"], "dimension": d["dimension"]}
        if cfg.protocol == "scores":
            status, scored, reason = margin_outcome(exchanges, 1)
            outcome.update(scored, correct=status == "ok" and scored["margin"] > 0)
            return Parsed(status, outcome, reason)  # type: ignore[arg-type]
        if cfg.protocol == "unifiedreward":
            request, reply = exchanges[0]
            choice, why = three_way_choice(reply.text, "image")
            outcome.update(swapped=request.meta["swapped"], gold=request.meta["gold"], verdict=choice,
                           correct=choice == request.meta["gold"])
            return Parsed("ok" if choice is not None else "invalid", outcome, why)
        replies = {(req.meta["candidate"], req.meta["prompt"]): reply.text or "" for req, reply in exchanges}
        scores: dict[str, dict[str, float]] = {}
        for name in ("A", "B"):
            got = candidate_scores(replies[(name, "sc")], replies[(name, "pq")])
            if isinstance(got, str):
                outcome.update(correct=False)
                return Parsed("invalid", outcome, f"candidate {name}: {got} (counted wrong)")
            scores[name] = got
        dimension = d["dimension"]
        outcome.update(scores=scores, correct=scores["A"][dimension] > scores["B"][dimension])
        return Parsed("ok", outcome)

    # ---- score ------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        return score_subtasks(judgments, scorer=cfg.protocol == "scores")

    # ---- both orders ------------------------------------------------------------------------------
    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        """`unifiedreward`: `verdict` the image named (1, 2; 0 "equally good"), `gold` where the preferred one is
        shown, `swapped`: the second output image shown first."""
        return positional_view(outcome, tie=0)

    def both_orders_refusal(self, cfg: TaskConfig) -> str | None:
        """Why `cfg.protocol` cannot be judged in both orders, None where it can."""
        if cfg.protocol == "editscore":
            return ("protocol 'editscore' scores each candidate alone (its own SC and PQ prompts): there is no answer "
                    "order to swap; use --protocol unifiedreward")
        return None



# ---- EditScore's score arithmetic ------------------------------------------------------------------------
_SCORE_KEY = re.compile(r"""["']?score["']?\s*[:\uff1a]\s*\[([^\[\]]*)\]""", re.IGNORECASE)
_ONLY_LIST = re.compile(r"^\s*\[([^\[\]]*)\]\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def score_list(text: str) -> list[float] | None:
    """The numbers of the reply's last `"score": [...]` list that holds any (or of a reply that is only a
    list); None when there is none. Our reading of the JSON EditScore's prompt asks for."""
    for inside in reversed(_SCORE_KEY.findall(text)):
        numbers = [float(n) for n in _NUMBER.findall(inside)]
        if numbers:
            return numbers
    only = _ONLY_LIST.match(text)
    numbers = [float(n) for n in _NUMBER.findall(only.group(1))] if only else []
    return numbers or None


def candidate_scores(sc_reply: str, pq_reply: str) -> dict[str, float] | str:
    """`EditScore.evaluate` for one pass: the candidate's dimension scores, or why they cannot be read."""
    sc, pq = score_list(sc_reply), score_list(pq_reply)
    if sc is None or len(sc) < 2:
        return "the semantic-consistency reply has no score list of two numbers"
    if pq is None:
        return "the perceptual-quality reply has no score list"
    scale = SCORE_RANGE / 10
    product = (min(sc) / scale) * (min(pq) / scale)
    if product < 0:  # EditScore's math.sqrt would raise on it
        return "negative scores: overall = sqrt(min(SC) x min(PQ)) is undefined"
    return {"prompt_following": sc[0] / scale, "consistency": sc[1] / scale, "perceptual_quality": min(pq) / scale,
            "overall": math.sqrt(product)}


# ---- metrics (calculate_statistics.py) ------------------------------------------------------------------

def score_subtasks(judgments: Sequence[Judgment], scorer: bool) -> Scoring:
    """Accuracy per (dimension, subtask), their mean per dimension and per group. A generative judge's invalid
    reply is a wrong row; a scalar scorer's row without two finite scores is left out (n_invalid)."""
    import numpy as np

    scored = [j for j in judgments if (j.status == "ok" if scorer else j.status != "error")]
    dim = np.array([DIMENSIONS.index(j.outcome["dimension"]) for j in scored], dtype=np.int64)
    kind = np.array([TASK_TYPES.index(j.outcome["task_type"]) for j in scored], dtype=np.int64)
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
    cell = dim * len(TASK_TYPES) + kind
    cells = len(DIMENSIONS) * len(TASK_TYPES)

    def compute(idx: np.ndarray) -> dict[str, float]:
        totals = np.bincount(cell[idx], minlength=cells).reshape(len(DIMENSIONS), -1)
        hits = np.bincount(cell[idx], weights=correct[idx].astype(float), minlength=cells).reshape(totals.shape)
        acc = np.divide(100.0 * hits, totals, out=np.full(totals.shape, np.nan), where=totals > 0)
        out: dict[str, float] = {}
        for d, dimension in enumerate(DIMENSIONS):
            out[f"accuracy/{dimension}"] = _mean(acc[d])
            for group, members in GROUPS.items():
                out[f"accuracy/{dimension}/{group}"] = _mean(acc[d, [TASK_TYPES.index(t) for t in members]])
            out.update({f"accuracy/{dimension}/{t}": float(acc[d, i]) for i, t in enumerate(TASK_TYPES)})
        return out

    rows = {f"accuracy/{dimension}/{t}": (dim == d) & (kind == i)
            for d, dimension in enumerate(DIMENSIONS) for i, t in enumerate(TASK_TYPES)}
    sizes = {dimension: int((dim == d).sum()) for d, dimension in enumerate(DIMENSIONS)}
    return Scoring(compute, [j.sample_id for j in scored], details={"rows_per_dimension": sizes},
                   correct=correct, accuracy_rows=rows)


def _mean(values: Any) -> float:
    import numpy as np

    present = values[~np.isnan(values)]
    return float(present.mean()) if present.size else float("nan")


# ---- row checks -------------------------------------------------------------------------------------------

def _keys(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    key = fields.get("key")
    if isinstance(key, (list, tuple)) and len(key) == 2 and all(isinstance(k, (str, int)) and str(k) for k in key):
        return str(key[0]), str(key[1])
    return None


def _sample_id(fields: Mapping[str, Any]) -> str | None:
    keys = _keys(fields)
    return f"{fields.get('dimension')}/{keys[0]}/{keys[1]}" if keys else None


IDS = IdRule(derive=_sample_id, fallback="row-{index}", repeated="count")


def _validate(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    keys, instruction = _keys(row), row.get("instruction")
    if keys is None:
        return None, f"field 'key' must be a list of two candidate keys, got {row.get('key')!r}"
    if not isinstance(instruction, str):
        return None, "field 'instruction' must be a string"
    task_type, dimension = row.get("task_type"), row.get("dimension")
    if task_type not in TASK_TYPES:
        return None, f"field 'task_type' {task_type!r} is none of the 13 subtasks ({', '.join(TASK_TYPES)})"
    if dimension not in DIMENSIONS:
        return None, f"field 'dimension' must be one of {', '.join(DIMENSIONS)}, got {dimension!r}"
    outputs = row.get("output_images")
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
        return None, "field 'output_images' must hold two images"
    images = [image_bytes(row.get("input_image")), *(image_bytes(o) for o in outputs)]
    for column, data in zip(("input_image", "output_images[0]", "output_images[1]"), images):
        if data is None:
            return None, f"field {column!r} holds no embedded image bytes"
    return {"keys": keys, "instruction": instruction, "task_type": task_type, "dimension": dimension, "h": 1,
            "input_bytes": images[0], "first_bytes": images[1], "second_bytes": images[2]}, None

