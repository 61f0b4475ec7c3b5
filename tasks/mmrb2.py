"""MMRB2 (Multimodal RewardBench 2, arXiv 2512.16899): four pairwise tasks, each pair judged in both orders.

`mmrb2` (Hu et al. 2025). Facts from facebookresearch/MMRB2 @ 7ff0552cf298441af5ebbabea634b682ef04afee
(CC BY-NC 4.0):

- Data: 1,000 expert-labelled pairs per task, `t2i` (text-to-image), `edit` (image editing), `interleaved`
  (interleaved text and images) and `reasoning` (multimodal reasoning). The built benchmark is one file per
  task, `{"pairs": [...]}`, each pair `{id, prompt_source, prompt_content, prompt_metadata, response_a:
  {model_name, response_content}, response_b: {...}, chosen: "A" | "B", human_annotations}`; a content is a
  list of `["text", str]` / `["image", path]` items in reading order, paths relative to the directory
  (`images/` for responses, `input_images/` for prompts): README.md "Data Format", benchmark/build_from_hf.py,
  benchmark/4_finalize_release.py. The repository ships the pairs without prompts
  (`benchmark/<task>_response_only.json`); its build scripts add them.
- Hub: `rl-research/multimodal-rewardbench-2`, configs t2i / edit / interleaved / reasoning, split `test`:
  `pair_id`, `prompt_text` / `response_a_text` / `response_b_text` with `<image_N>` placeholders,
  `prompt_images` / `response_a_images` / `response_b_images` (image lists), `chosen`, `prompt_source`,
  `response_{a,b}_model`, `human_annotations` and `prompt_metadata` as JSON strings. A hub row becomes the
  local form as build_from_hf.py converts it: the text is split at the placeholders, each piece stripped and
  dropped when empty, the placeholders filled with the images in list order (their numbers are not read),
  the images appended after the text when it has no placeholder; `chosen` upper-cased.
- Judge prompt: evaluate/generate_judgements/evaluator_apis/llm_judges/evaluation_prompts.py, one per task
  (`tasks/prompts/mmrb2_{image,edit,interleaved,reasoning}.txt`, verbatim). What the judge gets is the
  content list of api_pairwise_evaluator.py / local_pairwise_evaluator.py `pairwise_evaluate`: the prompt, the
  text "[ORIGINAL PROMPT TO MODEL:]", the pair's prompt content, "[RESPONSE A:]", the first response's
  content, "[RESPONSE B:]", the second's; one part per item, images where they occur. evaluate.py asks twice:
  forward (A = response_a) and reverse (A = response_b).
- Verdict: the reply with a leading ```json / trailing ``` fence removed, read by `json_repair.loads`; the
  judgement is its `better_response`. A failure to read it (or a missing key) raises, evaluate.py catches it
  and records no judgement for that order.
- Score: evaluate/compute_scores/compute_accuracy.py. Per order, a judgement that is present and truthy
  counts (`total_evaluated += 1`) and is right when it equals `chosen` (forward) or, flipped A <-> B, equals
  `chosen` (reverse); anything else ("tie", "a") counts and is wrong; no judgement, null or "" leaves the
  denominator. Task accuracy = right orders / counted orders; "Overall" = the same pooled over the tasks
  given (not the mean of the task accuracies). Human labels have no ties (`chosen` is A or B in all 4,000).

Protocols (requests `<id>::fwd` and `<id>::rev`, meta `order`, `gold` = the letter the preferred response is
shown as, `task`; greedy, at most 2,000 new tokens):
- `official` (default): the above, exactly, but for the named deviations.
- `strict`: the same prompts and reading; an order without a verdict counts as judged and wrong.
Outcome per pair: `forward` / `reverse` each with `gold`, `verdict` (the `better_response` value, None when
none was read), `kind` (A, B, tie, other or None), `counted`, `correct`, `read` (how it was read); `consistent`
(both orders chose the same response; None unless both are A or B). A pair is `invalid` when either order has
no verdict (both orders are kept in the outcome and scored as the protocol says). Metrics (%):
`accuracy/<task>`, `overall_accuracy` (the script's Overall) and `macro_accuracy` (the mean of the four).

Data: `--data-dir DIR` holding any of t2i.json, edit.json, interleaved.json, reasoning.json (read whole: the
format is one JSON document) with the images; or the hub at a pinned revision. No hub commit could be
verified from here, so `HF_REVISION` is None and the hub path needs `--dataset-revision <commit>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, MediaRef, Part, Reply, Request, Sample
from harness.registry import task
from harness.reliability import INVALID, RESPONSE_0, RESPONSE_1, BothOrders
from harness.rows import DatasetInfo, MediaRule, RawRow, RowSource, file_sha256, load_hub_dataset, local_info
from harness.task import IdRule, Parsed, ProtocolSpec, Row, Scoring, Tally, Task, TaskConfig

from .embedded_rows import image_ref
from .templates import load_template

if TYPE_CHECKING:
    import numpy as np

HF_DATASET = "rl-research/multimodal-rewardbench-2"
#: No commit of the hub dataset could be verified from this machine: the hub path refuses to run unpinned.
HF_REVISION: str | None = None


@dataclass(frozen=True)
class Subset:
    """One of the four tasks: its file / hub config name, the scripts' `--task_type` and its judge prompt."""

    name: str
    task_type: str
    prompt: str

    @property
    def file(self) -> str:
        return f"{self.name}.json"


SUBSETS = (Subset("t2i", "image", "mmrb2_image.txt"), Subset("edit", "edit", "mmrb2_edit.txt"),
           Subset("interleaved", "interleaved", "mmrb2_interleaved.txt"),
           Subset("reasoning", "reasoning", "mmrb2_reasoning.txt"))
BY_NAME = {s.name: s for s in SUBSETS}
LAYOUT = ("the built benchmark: t2i.json, edit.json, interleaved.json, reasoning.json (any of them) with "
          "images/ and input_images/ (facebookresearch/MMRB2 benchmark/build_from_hf.py)")
ORDERS = ("forward", "reverse")
KEY_SUFFIX = {"forward": "fwd", "reverse": "rev"}
ORIGINAL_PROMPT, RESPONSE_A, RESPONSE_B = "[ORIGINAL PROMPT TO MODEL:]", "[RESPONSE A:]", "[RESPONSE B:]"
GENERATION = Generation(max_new_tokens=2000)  # greedy; the benchmark's local judge's max_new_tokens
HUB_IMAGE_COLUMNS = ("prompt_images", "response_a_images", "response_b_images")

DEVIATIONS = (
    "greedy decoding, at most 2,000 new tokens: the benchmark's local judge (Qwen3-VL-8B, transformers' "
    "pipeline) samples at temperature 1.0 with max_new_tokens 2000; its API judges use the provider's defaults",
    "json_repair is approximated: the reply's JSON (fences removed), else the first JSON object in it that has "
    "better_response, else the first '\"better_response\": \"...\"' pair; a reply only json_repair can mend may "
    "read differently",
    "a pair whose judge call fails in either order (adapter error, unreadable media) is a sample error and "
    "neither order counts; evaluate.py keeps the order that was judged",
    "the openai adapter joins adjacent text items into one text part; the benchmark sends each item as its own "
    "part (local judges get one content item per text, as the benchmark's pipeline does)",
)
PROTOCOLS = {
    "official": ProtocolSpec(
        "official", "1", "the benchmark's judge prompt per task, both answer orders, better_response read from "
        "JSON; accuracy over judged orders as compute_accuracy.py (no verdict: out of the denominator; a tie or "
        "other verdict: wrong); Overall pooled over the tasks", deviations=DEVIATIONS),
    "strict": ProtocolSpec(
        "strict", "1", "as official, but an order without a verdict counts as judged and wrong",
        deviations=DEVIATIONS + ("an order without a verdict counts as wrong; compute_accuracy.py leaves it out "
                                 "of the denominator",)),
}


def flip(letter: str) -> str:
    """A <-> B (compute_accuracy.py's `flip_judgement`); anything else unchanged."""
    return {"A": "B", "B": "A"}.get(letter, letter)


# ---- the verdict ---------------------------------------------------------------------------------------

_OPEN_FENCE = re.compile(r"^```(?:json)?\s*\n?")
_CLOSE_FENCE = re.compile(r"\n?```\s*$")
_KEY_VALUE = re.compile(r'"better_response"\s*:\s*"([^"\\]*)"')


@dataclass(frozen=True)
class Reading:
    """What one reply says: `found` when a `better_response` was read (its `value` any JSON value, `via` how:
    "json", "json-object" or "key"), else the `reason`."""

    found: bool
    value: Any = None
    via: str | None = None
    reason: str | None = None


def read_verdict(text: str | None) -> Reading:
    """The benchmark's `parse_llm_json(reply)["better_response"]`, with json_repair approximated (see
    DEVIATIONS). Regexes and `json` only: nothing a judge writes is evaluated."""
    if text is None or not text.strip():
        return Reading(False, reason="empty reply")
    body = _CLOSE_FENCE.sub("", _OPEN_FENCE.sub("", text.strip()).strip())
    try:
        whole = json.loads(body)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        if "better_response" in whole:
            return Reading(True, whole["better_response"], "json")
        return Reading(False, reason="the reply's JSON has no better_response")
    if whole is not None:  # valid JSON but no object: the script's `parsed["better_response"]` fails too
        return Reading(False, reason="the reply's JSON is not an object")
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", body)):
        try:
            found, _ = decoder.raw_decode(body, start)
        except ValueError:
            continue
        if isinstance(found, dict) and "better_response" in found:
            return Reading(True, found["better_response"], "json-object")
    match = _KEY_VALUE.search(body)
    if match:
        return Reading(True, match.group(1), "key")
    return Reading(False, reason="no JSON better_response in the reply")


def verdict_kind(reading: Reading) -> str | None:
    """A, B, tie, other (a truthy value the script counts as wrong), or None (no verdict: not counted)."""
    if not reading.found or not reading.value:  # the script's `if judgement:`
        return None
    if reading.value in ("A", "B"):
        return str(reading.value)
    return "tie" if isinstance(reading.value, str) and reading.value.strip().lower() == "tie" else "other"


def order_outcome(reply: Reply, gold: str, protocol: str) -> dict[str, Any]:
    reading = read_verdict(reply.text)
    kind = verdict_kind(reading)
    out: dict[str, Any] = {"gold": gold, "verdict": reading.value if reading.found else None, "kind": kind,
                           "counted": kind is not None or protocol == "strict",
                           "correct": kind is not None and reading.value == gold, "read": reading.via}
    if kind is None:
        out["reason"] = reading.reason or f"better_response is {json.dumps(reading.value)}"
    return out


# ---- rows ---------------------------------------------------------------------------------------------

def _pair_id(fields: Mapping[str, Any]) -> str | None:
    pair = fields.get("pair")
    value = pair.get("id") if isinstance(pair, Mapping) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


#: Pair ids are unique over all four files in the release; a repeat is refused, naming the row.
IDS = IdRule(fields=(), fallback="pair-{index}", derive=_pair_id)


def _contents(pair: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(side, content) for the prompt and both responses, as the pair holds them (unchecked)."""
    yield "prompt", pair.get("prompt_content")
    for side in ("response_a", "response_b"):
        response = pair.get(side)
        yield side, response.get("response_content") if isinstance(response, Mapping) else None


def _images(pair: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(media key, image value) for every well-formed image item, in reading order."""
    for side, content in _contents(pair):
        for i, item in enumerate(content if isinstance(content, list) else ()):
            if isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == "image" and isinstance(item[1], str):
                yield f"{side}[{i}]", item[1]


def _local_media(root: Path) -> MediaRule:
    """Image paths relative to the directory (an absolute one stays as it is, as evaluate.py's fix_relative_path)."""

    def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
        pair = (raw.fields or {}).get("pair")
        return {key: MediaRef("image", value, path=root / value)
                for key, value in (_images(pair) if isinstance(pair, Mapping) else ())}

    return media


def _hub_media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
    fields = raw.fields or {}
    embedded: Mapping[str, bytes] = fields.get("hub_images") or {}
    out = {}
    for key, value in _images(fields.get("pair") or {}):
        out[key] = image_ref(embedded.get(value, b""), f"{HF_DATASET}:{fields.get('task')}:{uid}:{value}")
    return out


def local_source(root: Path, split: str | None) -> RowSource:
    """The task files present under `root`, in the benchmark's task order, each read whole."""
    present = [s for s in SUBSETS if (root / s.file).is_file()]
    if not present:
        stale = [s.name for s in SUBSETS if (root / f"{s.name}_response_only.json").is_file()]
        hint = (f"; {stale[0]}_response_only.json holds no prompts: build the benchmark first "
                f"(benchmark/build_from_hf.py)") if stale else ""
        raise UsageError(f"--data-dir {root}: none of {', '.join(s.file for s in SUBSETS)} there ({LAYOUT}){hint}")
    pairs = {s.name: _read_pairs(root / s.file) for s in present}
    info = local_info(root, file_sha256(*(root / s.file for s in present)), split, HF_DATASET)
    info = replace(info, extra={"subsets": [s.name for s in present]})

    def read() -> Iterator[RawRow]:
        index = 0
        for s in present:
            for i, pair in enumerate(pairs[s.name]):
                where = f"{s.file} pairs[{i}]"
                if isinstance(pair, Mapping):
                    yield RawRow(index, where, {"task": s.name, "pair": pair})
                else:
                    yield RawRow(index, where, None, f"{where}: not a JSON object")
                index += 1

    return RowSource(info, read, IDS, _local_media(root), str(root))


def _read_pairs(path: Path) -> list[Any]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one
        raise UsageError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("pairs"), list):
        raise UsageError(f"{path}: expected a JSON object {{\"pairs\": [...]}} (the MMRB2 release format)")
    return document["pairs"]


def hub_source(revision: str | None, split: str) -> RowSource:
    """The four hub configs at `revision`, images as undecoded bytes, each row in the local form."""
    if revision is None:
        raise UsageError(f"mmrb2: no commit of the hub dataset {HF_DATASET} is pinned (none could be verified); "
                         f"give --dataset-revision <commit>, or --data-dir with {LAYOUT}")

    def undecoded(ds: Any, datasets: Any) -> Any:  # image lists as their embedded bytes
        image_list = getattr(datasets, "List", datasets.Sequence)(datasets.Image(decode=False))
        for column in HUB_IMAGE_COLUMNS:
            if column in ds.column_names:
                ds = ds.cast_column(column, image_list)
        return ds

    tables = {s.name: load_hub_dataset(HF_DATASET, revision, f"{HF_DATASET} config {s.name} split {split!r}",
                                       f"Use --data-dir with {LAYOUT}", undecoded, name=s.name, split=split)[0]
              for s in SUBSETS}
    info = DatasetInfo(source="hub", id=HF_DATASET, revision=revision, split=split,
                       extra={"subsets": [s.name for s in SUBSETS]})

    def read() -> Iterator[RawRow]:
        index = 0
        for s in SUBSETS:
            for i, record in enumerate(tables[s.name]):
                pair, images = pair_from_hub(record)
                yield RawRow(index, f"{HF_DATASET}:{s.name} row {i}", {"task": s.name, "pair": pair,
                                                                       "hub_images": images})
                index += 1

    return RowSource(info, read, IDS, _hub_media, HF_DATASET)


def hub_content(text: str | None, images: Sequence[Any], side: str) -> tuple[list[list[str]], dict[str, bytes]]:
    """build_from_hf.py's `extract_images_and_text`: (content items, image label -> bytes)."""
    embedded: dict[str, bytes] = {}
    content: list[list[str]] = []

    def image(k: int) -> None:
        label = f"{side}_images[{k}]"
        value = images[k]
        embedded[label] = (value.get("bytes") if isinstance(value, Mapping) else None) or b""
        content.append(["image", label])

    if not text:
        for k in range(len(images)):
            image(k)
        return content, embedded
    pieces = re.split(r"<image_(\d+)>", text)
    used = 0
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece.strip():
                content.append(["text", piece.strip()])
        elif used < len(images):
            image(used)
            used += 1
    if len(pieces) == 1:  # no placeholder: the images follow the text
        for k in range(len(images)):
            image(k)
    return content, embedded


def pair_from_hub(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One hub row as a release pair (build_from_hf.py's `convert_hf_to_benchmark_format`) and its images."""
    embedded: dict[str, bytes] = {}
    sides = {}
    for side in ("prompt", "response_a", "response_b"):
        content, found = hub_content(record.get(f"{side}_text"), record.get(f"{side}_images") or [], side)
        sides[side] = content
        embedded.update(found)
    chosen = record.get("chosen")
    pair = {"id": record.get("pair_id"), "prompt_content": sides["prompt"],
            "prompt_source": record.get("prompt_source", ""),
            "response_a": {"model_name": record.get("response_a_model", ""), "response_content": sides["response_a"]},
            "response_b": {"model_name": record.get("response_b_model", ""), "response_content": sides["response_b"]},
            "chosen": chosen.upper() if isinstance(chosen, str) else chosen}
    return pair, embedded


def check_pair(pair: Mapping[str, Any]) -> str | None:
    """Why a pair cannot be judged (naming the field), or None."""
    if _pair_id({"pair": pair}) is None:
        return "field 'id' must be a string"
    if pair.get("chosen") not in ("A", "B"):
        return f"field 'chosen' must be 'A' or 'B', got {pair.get('chosen')!r}"
    if "prompt_content" not in pair:
        return ("no field 'prompt_content' (a *_response_only.json pair has no prompt: build the benchmark "
                "first, benchmark/build_from_hf.py)")
    for side, content in _contents(pair):
        name = "prompt_content" if side == "prompt" else f"{side}.response_content"
        if not isinstance(content, list):
            return f"field '{name}' must be a list of [\"text\" | \"image\", string] items"
        for i, item in enumerate(content):
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and item[0] in ("text", "image")
                    and isinstance(item[1], str) and (item[0] == "text" or item[1])):
                return f"field '{name}' item {i} must be [\"text\", string] or [\"image\", path], got {item!r}"
    return None


# ---- the task -----------------------------------------------------------------------------------------

@task("mmrb2")
class MMRB2(Task):
    """Multimodal RewardBench 2: t2i, edit, interleaved, reasoning; each pair judged in both orders."""

    version = "1"
    protocols = PROTOCOLS
    default_protocol = "official"
    splits = ("test",)
    generation = {name: GENERATION for name in PROTOCOLS}

    def rows(self, cfg: TaskConfig) -> RowSource:
        if cfg.data_dir is not None:
            return local_source(cfg.data_dir, cfg.split)
        return hub_source(cfg.revision or HF_REVISION, cfg.split or self.splits[0])

    def sample(self, row: Row) -> Sample:
        pair = row.fields["pair"]
        problem = check_pair(pair)
        if problem:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (id {row.id}): {problem}")
        media: list[MediaRef] = []
        shown: dict[str, list[list[Any]]] = {}
        for side, content in _contents(pair):
            shown[side] = []
            for i, (kind, value) in enumerate(content):
                if kind == "image":
                    media.append(row.media[f"{side}[{i}]"])
                    shown[side].append(["image", len(media) - 1])  # index into sample.media
                else:
                    shown[side].append(["text", value])
        models = [pair[side].get("model_name", pair[side].get("model")) for side in ("response_a", "response_b")]
        data = {"task": row.fields["task"], "chosen": pair["chosen"], "prompt_source": pair.get("prompt_source"),
                "models": models, **shown}
        return Sample(row.id, row.index, data, tuple(media))

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        if sample.problem is None:
            tally.count(f"pairs/{sample.data['task']}")

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        prompt = load_template(BY_NAME[d["task"]].prompt)

        def parts(side: str) -> list[Part]:
            return [sample.media[value] if kind == "image" else value for kind, value in d[side]]

        out = []
        for order, first, second in (("forward", "response_a", "response_b"), ("reverse", "response_b", "response_a")):
            gold = d["chosen"] if order == "forward" else flip(d["chosen"])  # the letter the preferred one has
            shown = (prompt, ORIGINAL_PROMPT, *parts("prompt"), RESPONSE_A, *parts(first), RESPONSE_B, *parts(second))
            out.append(Request(f"{sample.id}::{KEY_SUFFIX[order]}", sample.id, shown, self.generation[cfg.protocol],
                               meta={"order": order, "gold": gold, "task": d["task"]}))
        return out

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        by_order = {request.meta["order"]: (request, reply) for request, reply in exchanges}
        outcome: dict[str, Any] = {"task": sample.data["task"], "chosen": sample.data["chosen"]}
        for order in ORDERS:
            request, reply = by_order[order]
            outcome[order] = order_outcome(reply, request.meta["gold"], cfg.protocol)
        forward, reverse = outcome["forward"]["kind"], outcome["reverse"]["kind"]
        # The same response both times: "A" forward is response_a, "B" reverse is response_a too.
        outcome["consistent"] = forward == flip(reverse) if {forward, reverse} <= {"A", "B"} else None
        missing = [f"{order}: {outcome[order]['reason']}" for order in ORDERS if outcome[order]["kind"] is None]
        if missing:
            counted = "counted wrong" if cfg.protocol == "strict" else "not counted, as compute_accuracy.py"
            return Parsed("invalid", outcome, "; ".join(missing) + f" ({counted})")
        return Parsed("ok", outcome)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # only when scoring (`harness list` imports this module)

        scored = [j for j in judgments if j.status != "error"]
        index = {s.name: i for i, s in enumerate(SUBSETS)}
        groups = np.array([index[j.outcome["task"]] for j in scored], dtype=np.intp)
        hits = np.array([sum(bool(j.outcome[o]["correct"]) for o in ORDERS) for j in scored], dtype=float)
        counted = np.array([sum(bool(j.outcome[o]["counted"]) for o in ORDERS) for j in scored], dtype=float)
        both = _both_orders(scored)

        def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:
            return {**_accuracies(hits, counted, groups, idx2d), **both.metrics_many(idx2d)}

        def compute(idx: np.ndarray) -> dict[str, float]:  # compute_many on one replicate: the same floats
            return {name: float(values[0]) for name, values in compute_many(np.asarray(idx)[None, :]).items()}

        return Scoring(compute, [j.sample_id for j in scored], details=_details(scored), compute_many=compute_many)


def _both_orders(scored: Sequence[Judgment]) -> BothOrders:
    """The benchmark judges every pair in both orders, so its records carry what `--orders both` measures elsewhere:
    swap_consistency, first_position_rate, accuracy/both_orders and accuracy/either_order (docs/reliability.md)
    over its pairs. Forward shows response_a as A; reverse shows response_b as A. Any verdict but A or B picks no
    response (INVALID)."""
    import numpy as np

    as_choice = {"forward": {"A": RESPONSE_0, "B": RESPONSE_1}, "reverse": {"A": RESPONSE_1, "B": RESPONSE_0}}

    def choices(order: str) -> np.ndarray:
        return np.array([as_choice[order].get(j.outcome[order]["kind"], INVALID) for j in scored], dtype=np.int8)

    gold = np.array([as_choice["forward"][j.outcome["chosen"]] for j in scored], dtype=np.int8)
    return BothOrders.of(choices("forward"), choices("reverse"), gold)


def _accuracies(hits: np.ndarray, counted: np.ndarray, groups: np.ndarray, idx2d: np.ndarray) -> dict[str, np.ndarray]:
    """Per task: right orders / counted orders (%), overall pooled, macro the mean of the four (NaN when a task
    has no counted order), for each replicate row of `idx2d`. Sums of small integers: exact in floats."""
    import numpy as np

    from harness.metrics import ratio_pct_many

    reps, n_groups = idx2d.shape[0], len(SUBSETS)
    cells = (groups[idx2d] + n_groups * np.arange(reps, dtype=np.intp)[:, None]).ravel()

    def sums(values: np.ndarray) -> np.ndarray:
        return np.bincount(cells, weights=values[idx2d].ravel(), minlength=reps * n_groups).reshape(reps, n_groups)

    right, judged = sums(hits), sums(counted)
    per_task = ratio_pct_many(right, judged)
    out = {f"accuracy/{s.name}": per_task[:, i] for i, s in enumerate(SUBSETS)}
    out["overall_accuracy"] = ratio_pct_many(right.sum(axis=1), judged.sum(axis=1))
    out["macro_accuracy"] = per_task.mean(axis=1)
    return out


def _details(scored: Sequence[Judgment]) -> dict[str, Any]:
    """Counts per task for results.json: pairs, orders judged / right, orders by verdict kind, consistent pairs."""
    out: dict[str, Any] = {}
    for s in SUBSETS:
        mine = [j.outcome for j in scored if j.outcome["task"] == s.name]
        orders = [o[order] for o in mine for order in ORDERS]
        out[s.name] = {"pairs": len(mine), "orders_counted": sum(bool(o["counted"]) for o in orders),
                       "orders_right": sum(bool(o["correct"]) for o in orders),
                       "orders_without_verdict": sum(o["kind"] is None for o in orders),
                       "orders_tie": sum(o["kind"] == "tie" for o in orders),
                       "orders_other": sum(o["kind"] == "other" for o in orders),
                       "pairs_consistent": sum(o.get("consistent") is True for o in mine)}
    return out
