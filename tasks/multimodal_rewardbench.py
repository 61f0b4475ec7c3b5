"""Multimodal RewardBench (Yasunaga, Zettlemoyer, Ghazvininejad 2025, arXiv 2502.14191): `multimodal_rewardbench`.

A judge sees one image, a prompt and two responses and says which is better; 5,000 expert-labelled triplets
in the public release (the paper's 5,211 include Hateful Memes, whose licence keeps it out of the release).

Sources (facebookresearch/multimodal_rewardbench @ b4b92cd, CC BY-NC 4.0; facts only, no code copied):
- `data/all_data_release.json` + `scripts/0_download_data.py`: a JSON list of rows {ID, Text, Image, Output1,
  Output2, Better, Category}. The script downloads the images of the underlying datasets to
  `data/images/<source>/<file>` (`Image` is that path, relative to `data/`), fills in the `Text` of the rows
  whose prompt comes from a downloaded source, and writes `data/all_data.json`.
- `scripts/1_run_model_as_judge_gpt4o.py`: the judge prompt (`tasks/prompts/multimodal_rewardbench_official.txt`,
  byte for byte), sent as a text item followed by the image; always `Output1` as assistant A and `Output2` as
  B (no shuffling); `Label = 'B' if Better == 'Output2' else 'A'`; GPT-4o, `max_tokens=1024`, API default
  sampling.
- `scripts/2_get_accuracy.py`: the verdict is "A" when "[[A]]" is anywhere in the reply, else "B" when "[[B]]"
  is, else A or B at random (`random.seed(123)` once); accuracy = right / rows per bucket and over all rows
  ("all": a mean over rows, not over categories). Buckets: the row's `Category`, except that `safety` splits
  into `safety/bias` (ID starting, case-insensitively, with "pairs") and `safety/toxicity` (the rest), and
  `reasoning` into `reasoning/math` (ID starting with "math") and `reasoning/coding` (the rest).
- The hub mirror `syhuggingface/multimodal_rewardbench` (split `test`) is `all_data.json` with `Image` turned
  into an image feature (lmms-eval PR #591, whose task reads it); it is not the authors' upload.

Protocols (greedy, at most 1,024 new tokens):
- `official` (default): the benchmark's prompt, order and parse, its buckets and its row-mean overall. The one
  change: a reply with neither "[[A]]" nor "[[B]]" is `invalid` (counted in n_invalid) and wrong, never picked
  at random. lmms-eval's copy (tasks/multimodal_rewardbench/utils.py) re-seeds 123 before every reply, so its
  "random" pick is always "A" (the first `random.random()` after `seed(123)` is 0.052).
- `strict`: the same prompt; the order swapped per sample from (seed, ID) (`tasks.pairwise.seeded_swap`);
  a reply must name exactly one of [[A]] / [[B]] (markdown marks removed first), else it is invalid and wrong
  (the official parse takes A from a reply that names both).

Metrics (%): `accuracy/<bucket>` for the script's eight buckets (names below), `accuracy/reasoning` and
`accuracy/safety` (the row mean over each domain's two buckets, the README's columns; the script prints only
the buckets), `overall_accuracy` (every scored row). A bucket with no rows is NaN (null): the public release has
no `safety/toxicity` rows. Judge errors and unreadable rows are not scored (n_error), as everywhere here.

IDs: 12 IDs occur twice (listed in snumprlab/lwe `data/scripts/download_mmrewardbench.py`); each member of such
a pair gets `#` + 8 hex digits of a hash of its text fields, whatever the row order. The buckets read the
benchmark's own ID.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, Reply, Request, Sample
from harness.registry import task
from harness.reliability import positional_view
from harness.rows import RowSource, file_sha256, local_info, path_media, read_json_list, records_reader
from harness.task import DataSpec, HubLayout, IdRule, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .pairwise import seeded_swap
from .templates import load_template, render
from .verdicts import normalise

HF_DATASET = "syhuggingface/multimodal_rewardbench"
#: No commit of the mirror could be read here (no dataset card or listing in reach). A hub run therefore needs
#: `--dataset-revision <commit>`: a third party's mirror is not run at a branch head that may move.
HF_REVISION: str | None = None
SOURCE_REPO = "facebookresearch/multimodal_rewardbench"
FILE_NAME = "all_data.json"
RELEASE_FILE = "all_data_release.json"
PROMPT_FILE = "multimodal_rewardbench_official.txt"
GENERATION = Generation(max_new_tokens=1024)

#: The dataset's `Category` values and the domain each belongs to.
CATEGORY_DOMAIN = {
    "open_generation/correctness_task": "general_correctness",
    "open_generation/preference_task": "general_preference",
    "knowledge": "knowledge", "reasoning": "reasoning", "safety": "safety", "vqa": "vqa",
}
#: 2_get_accuracy.py's buckets (its printed names: open_generation/correctness_task, ..., reasoning/math, ...).
BUCKETS = ("general_correctness", "general_preference", "knowledge", "reasoning_math", "reasoning_coding",
           "safety_bias", "safety_toxicity", "vqa")
DOMAINS = ("general_correctness", "general_preference", "knowledge", "reasoning", "safety", "vqa")
#: The README's combined columns: the domains that the script splits into two buckets.
SPLIT_DOMAINS = ("reasoning", "safety")

_VERDICT = re.compile(r"\[\[\s*([AB])\s*\]\]")


def script_bucket(category: str, source_id: str) -> str:
    """2_get_accuracy.py's bucket of a row: its category, with safety and reasoning split by ID prefix."""
    lowered = source_id.lower()
    if category == "safety":
        return "safety_bias" if lowered.startswith("pairs") else "safety_toxicity"
    if category == "reasoning":
        return "reasoning_math" if lowered.startswith("math") else "reasoning_coding"
    return CATEGORY_DOMAIN[category]


def bucket_domain(bucket: str) -> str:
    return next((d for d in SPLIT_DOMAINS if bucket.startswith(d + "_")), bucket)


def official_verdict(text: str | None) -> tuple[str | None, str | None]:
    """2_get_accuracy.py's `extract_judgment` without its random fallback: "A" when "[[A]]" occurs anywhere
    (even beside "[[B]]"), else "B" when "[[B]]" does, else no verdict, with the reason."""
    text = text or ""
    if "[[A]]" in text:
        return "A", None
    if "[[B]]" in text:
        return "B", None
    if not text.strip():
        return None, "empty reply"
    return None, ("neither '[[A]]' nor '[[B]]' in the reply: invalid, counted wrong (the benchmark's script picks "
                  "one at random)")


def strict_verdict(text: str | None) -> tuple[str | None, str | None]:
    """The `strict` parse: the [[A]] / [[B]] tokens after markdown marks are removed ("[[**B**]]" -> B,
    "[[ A ]]" -> A); exactly one of the two letters must be named, however often."""
    if text is None or not text.strip():
        return None, "empty reply"
    named = set(_VERDICT.findall(normalise(text)))
    if len(named) == 1:
        return named.pop(), None
    if named:
        return None, "the reply names both [[A]] and [[B]]"
    return None, "no [[A]] or [[B]] verdict in the reply"


def triplet_identity(fields: Mapping[str, Any]) -> list[Any]:
    """What tells two rows sharing an ID apart (never the image bytes of a hub row)."""
    return [fields.get(name) for name in ("Text", "Output1", "Output2", "Better")]


IDS = IdRule(fields=("ID",), fallback="row-{index}", repeated="hash", content=triplet_identity)

PROTOCOLS = {
    "official": ProtocolSpec(
        "official", "1",
        "the benchmark's judge prompt (text, then the image), Output1 always shown as A, 2_get_accuracy.py's "
        "parse ('[[A]]' anywhere, else '[[B]]'), buckets and row-mean overall",
        deviations=("a reply with neither '[[A]]' nor '[[B]]' is invalid and counts as wrong (n_invalid); "
                    "2_get_accuracy.py picks A or B at random (random.seed(123)), lmms-eval's copy always A",
                    "greedy decoding, at most 1,024 new tokens; the script samples GPT-4o at the API's default "
                    "temperature (max_tokens=1024)")),
    "strict": ProtocolSpec(
        "strict", "1",
        "the benchmark's prompt; the order swapped per sample from (seed, ID); exactly one of [[A]] / [[B]] "
        "(markdown removed), else invalid and wrong",
        deviations=("answer order swapped for about half the samples from (seed, ID); the benchmark always shows "
                    "Output1 as A",
                    "a reply naming both [[A]] and [[B]] is invalid (the benchmark's parse takes A)",
                    "a reply with no verdict is invalid and wrong, not picked at random",
                    "greedy decoding, at most 1,024 new tokens (the script samples GPT-4o)")),
}


@task("multimodal_rewardbench")
class MultimodalRewardBench(Task):
    """One image, a prompt and two responses; the judge ends with [[A]] or [[B]]; accuracy per bucket and overall."""

    version = "1"
    protocols = PROTOCOLS
    default_protocol = "official"
    generation = {"official": GENERATION, "strict": GENERATION}
    splits = ("test",)
    data = DataSpec(hub=HubLayout(HF_DATASET, HF_REVISION, image_columns=("Image",), ids=IDS, needs_revision=True),
                    facts={"source_repo": SOURCE_REPO})

    # ---- rows -> samples ----------------------------------------------------------------------
    def rows(self, cfg: TaskConfig) -> RowSource:
        """`--data-dir`: the benchmark's `data/` after its download script; else the hub mirror at
        `--dataset-revision` (refused before any network when neither a pin nor a revision is given: the hub
        layout's `needs_revision`)."""
        if cfg.data_dir is not None:
            return self._local_rows(cfg.data_dir, cfg.split)
        return super().rows(cfg)

    def _local_rows(self, root: Path, split: str | None) -> RowSource:
        path = root / FILE_NAME
        if not path.is_file():
            if (root / RELEASE_FILE).is_file():
                raise UsageError(f"--data-dir {root}: no {FILE_NAME}, only {RELEASE_FILE}, which lacks the prompts "
                                 f"of the downloaded sources: run the benchmark's scripts/0_download_data.py (it "
                                 f"writes {FILE_NAME} and images/)")
            raise UsageError(f"--data-dir {root}: no {FILE_NAME} there (the benchmark's data/ directory after its "
                             f"scripts/0_download_data.py: {FILE_NAME} + images/<source>/<file>)")
        records = read_json_list(path, "triplets")  # the format is one JSON list: read whole
        info = local_info(root, file_sha256(path), split)
        return RowSource(info, records_reader(records, FILE_NAME), IDS, path_media(root, {"Image": "image"}),
                         str(path)).with_facts(source_repo=SOURCE_REPO)

    def sample(self, row: Row) -> Sample:
        problem = _problem(row)
        if problem is not None:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (ID {row.source_id}): {problem}")
        f = row.fields
        data = {"text": f["Text"], "output1": f["Output1"], "output2": f["Output2"],
                "label": "B" if f["Better"] == "Output2" else "A", "category": f["Category"],
                "bucket": script_bucket(f["Category"], row.source_id), "source_id": row.source_id}
        return Sample(row.id, row.index, data, (row.media["Image"],))

    # ---- requests -----------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        # --orders both: the other order is the same item with this decision inverted.
        swapped = (cfg.protocol == "strict" and seeded_swap(cfg.seed, sample.id)) != cfg.flip_order
        answer_a, answer_b = (d["output2"], d["output1"]) if swapped else (d["output1"], d["output2"])
        gold = {"A": "B", "B": "A"}[d["label"]] if swapped else d["label"]  # the letter the better one is shown as
        # No image slot in the template: render puts the image after the text, as the script's messages do.
        parts = render(load_template(PROMPT_FILE), {"question": d["text"], "answer_a": answer_a,
                                                    "answer_b": answer_b}, sample.media)
        return [Request(sample.id, sample.id, parts, self.generation[cfg.protocol],
                        meta={"gold": gold, "swapped": swapped})]

    both_orders = True

    def order_verdict(self, outcome: Mapping[str, Any]) -> Any:
        """`verdict` and `gold` are the letters shown ("A" first), `swapped`: Output2 shown as A."""
        return positional_view(outcome, names=("A", "B"))

    # ---- parse --------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        request, reply = exchanges[0]
        read = official_verdict if cfg.protocol == "official" else strict_verdict
        verdict, reason = read(reply.text)
        gold = request.meta["gold"]
        outcome = {"gold": gold, "verdict": verdict, "correct": verdict == gold,
                   "swapped": request.meta["swapped"], "bucket": sample.data["bucket"],
                   "category": sample.data["category"]}
        return Parsed("ok" if verdict is not None else "invalid", outcome, reason)

    # ---- score --------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        from harness.metrics import grouped_accuracy, grouped_accuracy_many

        scored = [j for j in judgments if j.status != "error"]  # invalid rows stay: wrong, as the script counts
        bucket_of = {name: i for i, name in enumerate(BUCKETS)}
        domain_of = {name: i for i, name in enumerate(DOMAINS)}
        buckets = np.array([bucket_of[j.outcome["bucket"]] for j in scored], dtype=np.int64)
        domains = np.array([domain_of[bucket_domain(j.outcome["bucket"])] for j in scored], dtype=np.int64)
        correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
        counted = np.ones(correct.size, dtype=bool)  # every scored row is in its denominators
        split = [(name, DOMAINS.index(name)) for name in SPLIT_DOMAINS]

        def compute(idx: np.ndarray) -> dict[str, float]:
            per_bucket, overall = grouped_accuracy(correct, counted, buckets, idx, len(BUCKETS))
            per_domain, _ = grouped_accuracy(correct, counted, domains, idx, len(DOMAINS))
            out = {f"accuracy/{name}": float(per_bucket[i]) for i, name in enumerate(BUCKETS)}
            out.update({f"accuracy/{name}": float(per_domain[i]) for name, i in split})
            out["overall_accuracy"] = overall
            return out

        def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:  # `compute` for many replicates at once
            per_bucket, overall = grouped_accuracy_many(correct, counted, buckets, idx2d, len(BUCKETS))
            per_domain, _ = grouped_accuracy_many(correct, counted, domains, idx2d, len(DOMAINS))
            out = {f"accuracy/{name}": per_bucket[:, i] for i, name in enumerate(BUCKETS)}
            out.update({f"accuracy/{name}": per_domain[:, i] for name, i in split})
            out["overall_accuracy"] = overall
            return out

        rows = {f"accuracy/{name}": buckets == i for i, name in enumerate(BUCKETS)}
        rows.update({f"accuracy/{name}": domains == i for name, i in split})
        rows["overall_accuracy"] = counted
        details = {"bucket_sizes": {name: int(np.sum(buckets == i)) for i, name in enumerate(BUCKETS)},
                   "swapped": int(sum(bool(j.outcome.get("swapped")) for j in scored)),
                   "n_no_verdict": int(sum(j.status == "invalid" for j in scored))}
        return Scoring(compute, [j.sample_id for j in scored], details=details, correct=correct,
                       accuracy_rows=rows, compute_many=compute_many)


def _problem(row: Row) -> str | None:
    """Why a row cannot be judged (the field named), or None."""
    f = row.fields
    if not isinstance(f.get("ID"), str) or not f["ID"]:
        return "field 'ID' must be a non-empty string"
    if not isinstance(f.get("Text"), str) or not f["Text"].strip():
        return (f"field 'Text' is empty or missing ({FILE_NAME} gets the prompts of the downloaded sources from "
                f"the benchmark's scripts/0_download_data.py)")
    for name in ("Output1", "Output2"):
        if not isinstance(f.get(name), str):
            return f"field {name!r} must be a string"
    if f.get("Better") not in ("Output1", "Output2"):
        return f"field 'Better' must be 'Output1' or 'Output2', got {f.get('Better')!r}"
    if f.get("Category") not in CATEGORY_DOMAIN:
        return f"field 'Category' {f.get('Category')!r} is not one of {', '.join(CATEGORY_DOMAIN)}"
    if row.source == "local" and (not isinstance(f.get("Image"), str) or not f["Image"]):
        return "field 'Image' must be the image's path relative to the data directory"
    if "Image" not in row.media:
        return "no 'Image'"
    return None
