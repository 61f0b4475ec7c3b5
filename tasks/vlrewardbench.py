"""VL-RewardBench (image understanding, pairwise; paper Table 3).

Data: HF `MMInstruction/VL-RewardBench` (split `test`, 1,250 rows) at a pinned revision, or
`--data-dir` holding the GitHub layout (`data.jsonl` + `images/<folder>/<id>.jpg`).
`human_ranking[i] == 0` marks the better response.

Protocols (all greedy decoding):
- `strict` (default): the UnifiedReward prompt; categories from the image folder (hub: the fixed id
  prefix rule) -> general 183 / hallucination 749 / reasoning 318; the answer order is decided per
  sample from (seed, sample id), so a subset or `--limit` keeps each item's order and about half are
  swapped; a robust verdict parser; a reply naming both answers or neither is invalid and counts as
  wrong (reported in `n_invalid`). A POVID query's LLaVA-format `<image>` marker is removed (the image
  is already in the prompt; a named deviation).
- `official`: the benchmark's prompt (image after the text) and `cal.py` regex; items whose reply the
  regex cannot parse leave the denominators, as `cal.py` does. `"<image>\n"` is removed from the filled
  prompt as `inference_hf.py` does (a POVID query ending in `"\n<image>"` is followed by the template's
  newline, so both marker forms go).
- `unifiedreward`: the paper script `test_llava_vlrewardbench.py`, bugs included, for like-for-like
  comparison with Table 3: `random.seed(seed)` (the script's 0 by default) then one
  `random.choices([True, False])[0]` per item in dataset order (True keeps the dataset's order); correct
  iff the gold phrase is a substring of the reply; the script's id-prefix categories, which send the
  448 POVID items (`hallucination_pair-*`) to "general" (631 / 301 / 318); a POVID query's `<image>`
  marker stays where it is and becomes a second slot of the same image, which is what LLaVA-NeXT feeds
  for the script's second `<image>` token (the IndexError fallback of `prepare_inputs_labels_for_multimodal`).

- `unifiedreward-qwen` (chosen for a Qwen-family judge asked for `unifiedreward`): the authors' Qwen script
  `test_qwen_vlrewardbench.py`: the same prompt text after an image item, the query verbatim (its `<image>`
  is plain text to a Qwen tokenizer), `random.seed(seed)` then `random.random() < 0.5` per item keeps the
  order, the same gold-phrase rule and id-prefix categories.

Judge families (`reward.families`): a judge whose family has its own template for an image-understanding pair
(UnifiedReward-Think's chain-of-thought prompts, in its `cot` mode) is sent it in place of the UnifiedReward prompt
by `strict`, `unifiedreward` and `unifiedreward-qwen`; the two script protocols then use its script's generation
settings and keep their verdict rule (the Think scripts use the same one: the gold phrase in the reply), and
`strict` reads the reply with the family's parser (a Think reply's `<answer>` tag). Each sample's outcome names the
family template it was sent (`template`).

Dataset text is text everywhere else: a query or response containing a judge's special tokens never adds
or moves a media placeholder (`reward.hf_inputs` tokenizes dataset text with special tokens split).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.reliability import positional_view
from harness.task import DataSpec, HubLayout, IdRule, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .pairwise import choices_draw, half_draw, seeded_swap
from reward.families import IMAGE_UNDERSTANDING_PAIR_RANK, task_prompt

from .templates import IMAGE_SLOT, load_template, render
from .verdicts import robust_pairwise_choice, vlrewardbench_official_choice

HF_DATASET = "MMInstruction/VL-RewardBench"
# Commit of the hub repo whose test split is the 1,250 rows of the GitHub data.jsonl and of the paper (README of
# that commit lists `test: 1250` with the fields used here). It is not on the dataset's main history (most likely
# a pull-request branch commit); main now holds 1,247 rows (`0e6e627`). `--dataset-revision` picks another
# commit; `--data-dir` reads a local copy.
HF_REVISION = "60630ac36ca93c0ca30249bd1ab3706170836cea"

CATEGORIES = ("general", "hallucination", "reasoning")
FOLDER_CATEGORY = {
    "povid": "hallucination", "rlaif-v": "hallucination", "rlhf-v": "hallucination",
    "reasoning_tasks": "reasoning",
    "wildvision-battle": "general", "vlfeedback": "general",
}

STRICT_GENERATION = Generation(max_new_tokens=4096)
#: 429 of the 448 POVID queries start with this LLaVA-format media marker, 19 end with "\n<image>" (see `requests`).
POVID_MARKER = "<image>\n"


def without_media_markers(query: str) -> str:
    """A POVID query without its LLaVA-format `<image>` marker (leading "<image>\n" or trailing "\n<image>")."""
    return query.replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "")
OFFICIAL_GENERATION = Generation(max_new_tokens=2048)


def id_prefix(sample_id: str) -> str:
    """The reference scripts' prefix: text before the first '_' or '-'."""
    cut = [i for i in (sample_id.find("_"), sample_id.find("-")) if i != -1]
    return sample_id[: min(cut)] if cut else sample_id


def source_from_id(sample_id: str, povid_fix: bool) -> str:
    """Source folder from the id, as `cal.py` (povid_fix=True, since 2025) or the UnifiedReward script
    (povid_fix=False: `hallucination_pair-*` falls through to vlfeedback, i.e. general)."""
    prefix = id_prefix(sample_id)
    if prefix == "RLAIF":
        return "rlaif-v"
    if prefix == "RLHF":
        return "rlhf-v"
    if prefix in ("mathverse", "mmmu"):
        return "reasoning_tasks"
    if prefix == "wildvision":
        return "wildvision-battle"
    if prefix == "hallucination" and povid_fix:
        return "povid"
    return "vlfeedback"


def qwen_script_keeps_order(seed: int, index: int) -> bool:
    """test_qwen_vlrewardbench.py: `random.seed(0)`, then per item `random.random() < 0.5` keeps the dataset's
    order (a different call from the LLaVA script's `random.choices`, so a different pattern)."""
    return half_draw(seed, index)


def unifiedreward_keeps_order(seed: int, index: int) -> bool:
    """The script's draw for the item at dataset position `index` (True: dataset order shown).

    The script calls `random.choices` once per item from `random.seed(0)`, so item i's draw is the
    i-th of the sequence whatever subset is judged.
    """
    return choices_draw(seed, index)


def pair_identity(fields: Mapping[str, Any]) -> list[Any]:
    """What tells two rows with one id apart: the query and the sorted responses (the identity `cal.py` uses)."""
    return [fields.get("query"), sorted(map(str, fields.get("response") or []))]


#: VL-RewardBench reuses 18 reasoning ids for two different response pairs on the same image (36 rows):
#: every member of such a group gets `#` plus 8 hex digits of `pair_identity`, whatever the row order.
IDS = IdRule(repeated="hash", content=pair_identity)


PROTOCOLS = {
    "strict": ProtocolSpec(
        "strict", "1",
        "UnifiedReward prompt, correct categories, seeded per-sample order swap, robust verdict parser; "
        "invalid replies count as wrong",
        deviations=("answer order from (seed, id) instead of the paper script's global random stream",
                    "categories from the image folder (general 183 / hallucination 749 / reasoning 318), "
                    "not the paper script's id-prefix bug",
                    "the LLaVA-format <image> marker of the 448 POVID queries is removed (the paper script keeps "
                    "it: a second copy of the image)")),
    "official": ProtocolSpec(
        "official", "1",
        "VL-RewardBench prompt and cal.py regex; unparsed replies leave the denominators",
        deviations=("one greedy reply per item (k=1) instead of temperature 0.2 / top-p 0.2 samples with "
                    "majority of k", "answer order from (seed, id) instead of unseeded random.choice")),
    "unifiedreward": ProtocolSpec(
        "unifiedreward", "1",
        "the paper script's behaviour, known bugs included: random.seed(seed) order stream, gold phrase "
        "as substring, id-prefix categories 631/301/318",
        deviations=("reproduces a known bug: POVID items counted as general (see protocols.md)",)),
    "unifiedreward-qwen": ProtocolSpec(
        "unifiedreward-qwen", "1",
        "the authors' Qwen script (test_qwen_vlrewardbench.py): the same prompt with the image as its own item, "
        "the query verbatim, random.seed(seed) with random() < 0.5, gold phrase as substring, id-prefix categories",
        deviations=("reproduces a known bug: POVID items counted as general (see protocols.md)",
                    "greedy decoding; the script passes no sampling settings (the checkpoint's generation_config "
                    "decides)")),
}


@task("vlrewardbench")
class VLRewardBench(Task):
    version = "1"
    protocols = PROTOCOLS
    generation = {"strict": STRICT_GENERATION, "official": OFFICIAL_GENERATION, "unifiedreward": STRICT_GENERATION,
                  "unifiedreward-qwen": STRICT_GENERATION}
    #: A Qwen-family judge asked for `unifiedreward` gets the authors' Qwen script.
    family_protocols = {"qwen": {"unifiedreward": "unifiedreward-qwen"}}
    both_orders = True
    default_protocol = "strict"
    splits = ("test",)
    data = DataSpec(
        hub=HubLayout(HF_DATASET, HF_REVISION, image_columns=("image",), ids=replace(IDS, fallback="row-{index}")),
        local=LocalLayout("data.jsonl", {"image_path": "image"}, IDS,
                          layout="expected the GitHub layout: data.jsonl + images/<folder>/<id>.jpg"))

    # ---- rows -> samples ----------------------------------------------------------------------
    def sample(self, row: Row) -> Sample:
        """A local row's category is its image folder's; a hub row's comes from its id (the fixed prefix rule,
        which gives the same categories on the real ids)."""
        fields, problem = _validate(row.fields)
        category = None
        if fields is not None and row.source == "local":
            image_path = row.fields.get("image_path")
            parts = Path(image_path).parts if isinstance(image_path, str) else ()
            folder = parts[1] if len(parts) > 2 and parts[0] == "images" else None
            if folder not in FOLDER_CATEGORY:
                fields, problem = None, f"field 'image_path' {image_path!r} is not images/<known folder>/<file>"
            else:
                category = FOLDER_CATEGORY[folder]
        elif fields is not None:
            category = FOLDER_CATEGORY[source_from_id(row.source_id, povid_fix=True)]
        if problem:
            problem = f"{row.where} (id {row.id}): {problem}"
        return _build(row.id, row.index, fields, problem, category, tuple(row.media.values()), row.source_id)

    # ---- requests -----------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        if cfg.protocol == "unifiedreward":
            swapped = not unifiedreward_keeps_order(cfg.seed, sample.index)
        elif cfg.protocol == "unifiedreward-qwen":
            swapped = not qwen_script_keeps_order(cfg.seed, sample.index)
        else:
            swapped = seeded_swap(cfg.seed, sample.id)
        swapped = swapped != cfg.flip_order  # --orders both: the same item in the other order
        first, second = (d["responses"][1], d["responses"][0]) if swapped else tuple(d["responses"])
        # Position (1 or 2) at which the better response is shown.
        gold = 1 if (d["better"] == 0) != swapped else 2
        own = task_prompt(cfg.family, IMAGE_UNDERSTANDING_PAIR_RANK) if cfg.protocol != "official" else None
        ur_template = own.text if own else load_template("vlrewardbench_unifiedreward.txt")
        generation = own.generation if own and cfg.protocol != "strict" else self.generation[cfg.protocol]
        if cfg.protocol == "official":
            # inference_hf.py: `question = question.replace("<image>\n", "")` on the filled prompt, image after it.
            text = load_template("vlrewardbench_official.txt").format(query=d["query"], answer1=first, answer2=second)
            parts = (text.replace(POVID_MARKER, ""), *sample.media)
        elif cfg.protocol == "unifiedreward":
            # The paper's LLaVA script keeps a POVID query's "<image>\n": LLaVA-NeXT gets two image tokens for one
            # image and feeds that image's features again for the second (llava_arch.py's IndexError fallback).
            # Reproduced as a second slot of the same image where the query has it.
            template = ur_template.replace("{Query}", d["query"].replace("{", "{{").replace("}", "}}"))
            slots = template.count(IMAGE_SLOT)
            parts = render(template, {"R1": first, "R2": second}, sample.media * slots)
        elif cfg.protocol == "unifiedreward-qwen":  # the query as it is: "<image>" is text to a Qwen judge
            parts = render(ur_template, {"Query": d["query"], "R1": first, "R2": second}, sample.media)
        else:  # strict: the query's LLaVA-format marker is not question text; the image is in the prompt already
            parts = render(ur_template, {"Query": without_media_markers(d["query"]), "R1": first, "R2": second},
                           sample.media)
        return [Request(key=sample.id, sample_id=sample.id, parts=parts, generation=generation,
                        meta={"gold": gold, "swapped": swapped})]

    def order_verdict(self, outcome: Mapping[str, Any]) -> Any:
        """`verdict` is the position named (1 or 2), `gold` where the better response is shown, `swapped` the order."""
        return positional_view(outcome)

    # ---- parse --------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        request, reply = exchanges[0]
        gold = request.meta["gold"]
        text = reply.text or ""
        outcome: dict[str, Any] = {"gold": gold, "swapped": request.meta["swapped"]}
        own = task_prompt(cfg.family, IMAGE_UNDERSTANDING_PAIR_RANK) if cfg.protocol != "official" else None
        if own is not None:
            outcome["template"] = own.file
        if cfg.protocol in ("unifiedreward", "unifiedreward-qwen"):
            outcome["category"] = sample.data["script_category"]
            named = [n for n in (1, 2) if f"Answer {n} is better" in text]
            correct = f"Answer {gold} is better" in text
            outcome.update(verdict=named[0] if len(named) == 1 else None, correct=correct, counted=True)
            if not named:
                return Parsed("invalid", outcome, "neither 'Answer 1 is better' nor 'Answer 2 is better' "
                                                  "in the reply (counted wrong, as the script does)")
            return Parsed("ok", outcome)

        outcome["category"] = sample.data["category"]
        if cfg.protocol == "official":
            choice, reason = vlrewardbench_official_choice(text)
            rejected = 3 - gold
            # cal.py: any parsed number other than the rejected answer's counts as agreement.
            outcome.update(verdict=choice, correct=choice is not None and choice != rejected,
                           counted=choice is not None)
        else:
            if own is not None:  # the family's reply format (a Think reply: its <answer> tag only)
                verdict = own.parse(text)
                choice, reason = verdict.choice, verdict.reason
            else:
                choice, reason = robust_pairwise_choice(text)
            outcome.update(verdict=choice, correct=choice == gold, counted=True)
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    # ---- score --------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        from harness.judgment_table import STATUSES, outcome_array, record_ids, status_codes
        from harness.metrics import grouped_accuracy, grouped_accuracy_many

        # Arrays straight from the records' columns: 100k judgments cost a few bytes each, no object each.
        keep = np.flatnonzero(status_codes(judgments) != STATUSES.index("error"))
        group_of = {name: i for i, name in enumerate(CATEGORIES)}
        groups = outcome_array(judgments, "category", lambda c: group_of.get(c, -1), np.int64)[keep]
        if (groups < 0).any():
            raise ValueError(f"a scored record has no category of {CATEGORIES}")
        correct = outcome_array(judgments, "correct", bool, bool, False)[keep]
        counted = outcome_array(judgments, "counted", bool, bool, False)[keep]
        swapped = outcome_array(judgments, "swapped", bool, bool, False)[keep]

        def compute(idx: np.ndarray) -> dict[str, float]:
            per_group, overall = grouped_accuracy(correct, counted, groups, idx, len(CATEGORIES))
            out = {f"accuracy/{name}": float(per_group[i]) for i, name in enumerate(CATEGORIES)}
            out["overall_accuracy"] = overall
            out["macro_accuracy"] = float(np.mean(per_group))  # NaN if a category is empty
            return out

        def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:  # `compute` for many replicates at once
            per_group, overall = grouped_accuracy_many(correct, counted, groups, idx2d, len(CATEGORIES))
            out = {f"accuracy/{name}": per_group[:, i] for i, name in enumerate(CATEGORIES)}
            out["overall_accuracy"] = overall
            out["macro_accuracy"] = np.mean(per_group, axis=1)
            return out

        sizes = {name: int(np.sum(groups == i)) for i, name in enumerate(CATEGORIES)}
        counted_sizes = {name: int(np.sum(counted & (groups == i))) for i, name in enumerate(CATEGORIES)}
        rows = {"overall_accuracy": counted}
        rows.update({f"accuracy/{name}": counted & (groups == i) for i, name in enumerate(CATEGORIES)})
        return Scoring(compute, record_ids(judgments, keep), details={
            "category_sizes": sizes, "counted_per_category": counted_sizes, "swapped": int(swapped.sum()),
        }, correct=correct & counted, accuracy_rows=rows, compute_many=compute_many)


# ---- row helpers ----------------------------------------------------------------------------------

def _validate(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Check one row's benchmark fields; return (fields, None) or (None, reason)."""
    responses = row.get("response")
    if not isinstance(responses, list) or len(responses) != 2 or not all(isinstance(r, str) for r in responses):
        return None, "field 'response' must be a list of 2 strings"
    ranking = row.get("human_ranking")
    if not isinstance(ranking, list) or sorted(ranking) != [0, 1]:
        return None, f"field 'human_ranking' must be [0, 1] or [1, 0], got {ranking!r}"
    query = row.get("query")
    if not isinstance(query, str):
        return None, "field 'query' must be a string"
    return {"query": query, "responses": responses, "better": ranking.index(0)}, None


def _build(row_id: str, index: int, fields: dict[str, Any] | None, problem: str | None, category: str | None,
           media: tuple[MediaRef, ...], source_id: str) -> Sample:
    if fields is None:
        return Sample(row_id, index, {}, (), problem=problem)
    fields["category"] = category
    fields["source_id"] = source_id  # the benchmark's id: the scripts' categories read it
    fields["script_category"] = FOLDER_CATEGORY[source_from_id(source_id, povid_fix=False)]
    return Sample(row_id, index, fields, media)
