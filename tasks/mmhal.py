"""MMHal-Bench (paper Table 7, last column): `mmhal_bench`.

Two stages. The run's `--model` is the policy (e.g. LLaVA-OneVision-7B or its DPO'd variant): it answers
each of the 96 questions about one image, greedy, up to 1,024 new tokens, the image before the bare
question (LLaVA-RLHF's `eval_mmhal.sh` passes `--test-prompt ''` and 1,024 tokens; lmms-eval-style MMHal
tasks add nothing either). A GPT judge then rates the answer 0-6 with the
benchmark's own template (`tasks/prompts/mmhal_judge.txt`, verbatim from LLaVA-RLHF's
`Eval/eval_gpt_mmhal.py`, the template MMHal-Bench's `eval_gpt4.py` ships), filled with the image's
content labels joined by ", ", the question, the human answer and the policy's answer. The judge defaults
to `openai` with `model=gpt-4-0613`: the benchmark's script defaults to `gpt-4-0314`, which OpenAI has
retired, and the paper does not name a snapshot; `--judge-args model=...` changes it and results.json
records the judge that ran (`tasks.mmhal_bench.judge`). Temperature 0, as the benchmark's script.

Rating rule (the benchmark's): the reply, lower-cased, must contain `rating: s` for exactly one s in 0-6;
otherwise (none, or two different ratings) the item scores 0. Such items are `invalid` (counted in
`n_invalid`, the reason in the record) and still count as 0 in every metric, as in the benchmark.

Metrics: `score` = mean rating (0-6), `hallucination_rate` = 100 * share of ratings below 3 (the
benchmark prints a fraction; we print %, like every rate here), and `score/<type>` for the 8 question
types. The type is the row's `question_type`; rows without one take the benchmark's rule, type = row
index mod 8, in the order below.

Data (`--data-dir DIR`, nothing is downloaded): HF `Shengcao1006/MMHal-Bench` as a local copy:
`DIR/response_template.json` (96 rows: `question_type`, `question_topic`, `image_id`, `image_src`,
`image_content`, `question`, `gt_answer`) and the images under `DIR/images/` named like the last part of
`image_src` (a row's `image_path`, relative to DIR, wins when present).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.rows import RawRow, RowSource, file_sha256, local_file, local_info, read_json_list, records_reader
from harness.task import IdRule, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .templates import load_template

JUDGE_MODEL = "gpt-4-0613"
QUESTION_TYPES = ("attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic",
                  "other")
RATINGS = range(7)
POLICY_GENERATION = Generation(max_new_tokens=1024)  # greedy, 1,024 new tokens as the benchmark's scripts
JUDGE_GENERATION = Generation(max_new_tokens=1024, temperature=0.0)
FILE_NAME = "response_template.json"


def parse_rating(text: str | None) -> tuple[int, str | None]:
    """(rating, None) when the reply names exactly one rating, else (0, why): the benchmark's rule, which
    looks for the substring `rating: s` for every s in 0-6 in the lower-cased reply."""
    lowered = (text or "").lower()
    found = [s for s in RATINGS if f"rating: {s}" in lowered]
    if len(found) == 1:
        return found[0], None
    if not found:
        return 0, "no 'rating: s' (s in 0-6) in the judge reply; scored 0"
    return 0, f"{len(found)} different ratings ({', '.join(map(str, found))}) in the judge reply; scored 0"


def judge_prompt(image_content: Sequence[str], question: str, gt_answer: str, response: str) -> str:
    """The template's four `{}` slots filled in order. Split and joined rather than `str.format`, so braces
    inside an answer are kept as text."""
    pieces = load_template("mmhal_judge.txt").split("{}")
    if len(pieces) != 5:
        raise RuntimeError("mmhal_judge.txt must have exactly four {} slots")
    values = (", ".join(image_content), question, gt_answer, response)
    return pieces[0] + "".join(v + p for v, p in zip(values, pieces[1:]))


@task("mmhal_bench")
class MMHalBench(Task):
    version = "1"
    splits = ("test",)
    default_protocol = "strict"
    protocols = {"strict": ProtocolSpec(
        "strict", "1", "the benchmark's judge template and rating rule; gpt-4-0613 judge by default",
        deviations=("judge gpt-4-0613 by default: the benchmark's gpt-4-0314 is retired and the paper names none",
                    "hallucination_rate in % (the benchmark prints a fraction)"))}
    needs_judge = True
    default_judge = ("openai", {"model": JUDGE_MODEL})

    def rows(self, cfg: TaskConfig) -> RowSource:
        """The questions of `response_template.json` (a JSON list, read whole), ids their positions."""
        if cfg.data_dir is None:
            raise UsageError(f"mmhal_bench needs --data-dir with {FILE_NAME} and images/ (a local copy of HF "
                             f"Shengcao1006/MMHal-Bench; docs/downstream.md)")
        root = cfg.data_dir
        path = local_file(root, FILE_NAME)

        def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:  # a row's image_path wins over image_src
            row = raw.fields or {}
            if isinstance(row.get("image_path"), str):
                label = row["image_path"]
            elif isinstance(row.get("image_src"), str):
                label = f"images/{row['image_src'].rstrip('/').rsplit('/', 1)[-1]}"
            else:
                return {}
            return {"image": MediaRef("image", label, path=root / label)}

        questions = records_reader(read_json_list(path, "96 questions"), FILE_NAME)
        return RowSource(local_info(root, file_sha256(path), cfg.split), questions, IdRule((), fallback="{index}"),
                         media, str(path)).with_facts(expected_rows=96)

    def sample(self, row: Row) -> Sample:
        where, content, fields = row.where, row.fields.get("image_content"), row.fields
        if not (isinstance(fields.get("question"), str) and isinstance(fields.get("gt_answer"), str)
                and isinstance(content, list) and all(isinstance(c, str) for c in content)):
            return Sample(row.id, row.index, {}, problem=f"{where}: needs 'question', 'gt_answer' (strings) and "
                                                        f"'image_content' (a list of strings)")
        if not row.media:
            return Sample(row.id, row.index, {}, problem=f"{where}: needs 'image_src' or 'image_path'")
        qtype = fields.get("question_type") if isinstance(fields.get("question_type"), str) else None
        data = {"question": fields["question"], "gt_answer": fields["gt_answer"], "image_content": content,
                "type": qtype or QUESTION_TYPES[row.index % 8]}
        return Sample(row.id, row.index, data, (row.media["image"],))

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        parts = (*sample.media, sample.data["question"])
        return [Request(sample.id, sample.id, parts, POLICY_GENERATION, meta={"stage": "policy"})]

    def judge_requests(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]],
                       cfg: TaskConfig) -> list[Request]:
        d = sample.data
        text = judge_prompt(d["image_content"], d["question"], d["gt_answer"], exchanges[0][1].text or "")
        return [Request(f"{sample.id}::judge", sample.id, (text,), JUDGE_GENERATION, meta={"stage": "judge"})]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        judge = [reply for req, reply in exchanges if req.meta.get("stage") == "judge"]
        rating, reason = parse_rating(judge[0].text if judge else None)
        outcome = {"rating": rating, "type": sample.data["type"], "hallucination": rating < 3}
        return Parsed("ok" if reason is None else "invalid", outcome, reason)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        rows = [j for j in judgments if j.status != "error"]  # invalid = rating 0, kept as the benchmark does
        ratings = np.array([j.outcome["rating"] for j in rows], dtype=float)
        types = np.array([j.outcome["type"] for j in rows], dtype=object)
        names = [t for t in QUESTION_TYPES if t in set(types)] + sorted(set(types) - set(QUESTION_TYPES))

        def compute(idx: np.ndarray) -> dict[str, float]:
            r = ratings[idx]
            out = {"score": float(r.mean()) if r.size else math.nan,
                   "hallucination_rate": 100.0 * float((r < 3).mean()) if r.size else math.nan}
            for name in names:
                chosen = r[types[idx] == name]
                out[f"score/{name}"] = float(chosen.mean()) if chosen.size else math.nan
            return out

        counts = Counter(types.tolist())
        details = {"n_per_type": {n: counts[n] for n in names},
                   "n_unrated": sum(j.status == "invalid" for j in rows), "default_judge": JUDGE_MODEL,
                   "rule": "exactly one 'rating: s' (0-6) else 0; hallucination = rating < 3"}
        return Scoring(compute, [j.sample_id for j in rows], details=details)
