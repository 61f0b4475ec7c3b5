"""Preference construction (paper Sec. 3.3): generate N candidates -> pair ranking -> point sifting.

    python -m harness construct --policy hf --policy-args pretrained=... --reward hf --reward-args pretrained=...
                                --inputs inputs.jsonl --n 10 --out data/dpo

1. The policy writes N candidates per input (VLM answers, or images/videos into a content-addressed store).
2. Pair ranking: candidates (2j, 2j+1), j < N/2, are ranked by the reward model's pair prompt; the preferred
   one of each pair joins the chosen list C, the other the rejected list R.
3. Point sifting: every candidate in C and R gets a point score from the reward's point prompt;
   chosen = argmax_C score, rejected = argmin_R score (the first one in candidate order on equal scores).
   Scores are parsed and compared as numbers.

The released code adds two behaviours the paper does not describe; both are named options here:
- `on_unranked`: what a pair whose ranking cannot be read (or that the judge calls a tie) does.
  "reask" (default): ask once more with the two candidates in the other order (a greedy judge asked the
  same prompt answers the same), then drop the pair if that cannot be read either; "drop": drop the pair;
  "first": the first candidate wins, as the released code does silently.
- `require_margin`: drop the input when score(chosen) <= score(rejected) (released code; off by default).

`orders` ("one" by default, the paper's procedure) or "both" (issue 16, `alignment/pair_orders.py`): every
pair is also ranked with its candidates exchanged and stays ranked only when the two rankings pick the same
candidate; a disagreement or an unreadable ranking leaves it unranked for `on_unranked`, where "reask" has
nothing left to ask and drops the pair. The counts go to each audit record and to `construct.json`.

A candidate whose score cannot be read is left out of the argmax/argmin (counted in the audit record). An
input left without a scored chosen or rejected candidate is dropped with its reason.

A scalar scorer (`pickscore`, `scores`) can be the reward for generated media: the pair ranking then
compares the two candidates' scores (equal scores = unranked) and the point scores are the same scores.

Inputs: JSONL, one `{"id", "prompt", "images": [paths] | "video": path}` per line (media paths relative to
the file). Output directory: `construction.jsonl` (one audit record per input, appended as each input
finishes; a rerun resumes), `media/` (generated media), and the dataset: `dpo.jsonl` plus a Hugging Face
dataset in `hf_dataset/` for VLMs (TRL DPOTrainer's conversational format with an `images` column), or
`pairs.jsonl` (`{id, prompt, chosen, rejected}` media paths) for diffusion models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.jsonl import read_jsonl
from harness.judging import JudgeClient
from harness.records import Generation, MediaRef, Part, Request
from tasks.pairwise import three_way_choice
from tasks.templates import load_template, render
from tasks.verdicts import normalise, robust_pairwise_choice

from .pair_orders import ORDERS, OrderCounts, PairOrders
from .policies import Candidate, MediaStore, Policy, PolicyInput

ON_UNRANKED = ("reask", "drop", "first")
RANK_GENERATION = Generation(max_new_tokens=4096)  # greedy, as the released ranking and scoring calls
FRAMES = 8


# ---- the rule of Sec. 3.3, as a pure function -----------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    status: str  # "kept" or "dropped"
    chosen: int | None
    rejected: int | None
    chosen_list: tuple[int, ...]
    rejected_list: tuple[int, ...]
    reason: str | None = None


def select_pair(n: int, rankings: Sequence[int | None], scores: Sequence[float | None], on_unranked: str = "reask",
                require_margin: bool = False) -> Selection:
    """rankings[j] for the pair (2j, 2j+1): 1 (first better), 2 (second better), None (unranked after any
    re-ask). scores[i]: the point score of candidate i, None when it could not be read."""
    if on_unranked not in ON_UNRANKED:
        raise ValueError(f"on_unranked must be one of {ON_UNRANKED}")
    chosen_list: list[int] = []
    rejected_list: list[int] = []
    for j, verdict in enumerate(rankings):
        first, second = 2 * j, 2 * j + 1
        if verdict is None:
            if on_unranked != "first":
                continue
            verdict = 1  # the released code's silent default, only when asked for
        chosen_list.append(first if verdict == 1 else second)
        rejected_list.append(second if verdict == 1 else first)
    chosen_scored = [i for i in chosen_list if scores[i] is not None]
    rejected_scored = [i for i in rejected_list if scores[i] is not None]
    lists = (tuple(chosen_list), tuple(rejected_list))
    if not chosen_list:
        return Selection("dropped", None, None, *lists, reason="no pair could be ranked")
    if not chosen_scored or not rejected_scored:
        return Selection("dropped", None, None, *lists, reason="no scored candidate in the chosen or rejected list")
    chosen = max(chosen_scored, key=lambda i: (scores[i], -chosen_scored.index(i)))
    rejected = min(rejected_scored, key=lambda i: (scores[i], rejected_scored.index(i)))
    if require_margin and float(scores[chosen]) <= float(scores[rejected]):  # type: ignore[arg-type]
        return Selection("dropped", chosen, rejected, *lists,
                         reason=f"score(chosen)={scores[chosen]} <= score(rejected)={scores[rejected]}")
    return Selection("kept", chosen, rejected, *lists)


# ---- parsing the reward's replies ------------------------------------------------------------------------

_FIRST_SECOND = re.compile(
    r"\bthe\s+(first|second)\s+(?:response|answer)\s+is\s+(?:(?:clearly|slightly|much)\s+)?better", re.IGNORECASE)
_FINAL_SCORE = re.compile(r"final\s+score\s*[:：]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_ranking(text: str | None, task: str) -> int | None:
    """1 or 2 (which candidate is better), or None: no verdict, both named, or a tie."""
    if task.endswith("_gen"):
        choice, _ = three_way_choice(text, "image" if task == "image_gen" else "video")
        return choice if choice in (1, 2) else None
    choice, _ = robust_pairwise_choice(text)
    if choice is not None:
        return choice
    named = {m.lower() for m in _FIRST_SECOND.findall(normalise(text or ""))}
    return (1 if named == {"first"} else 2) if len(named) == 1 else None


def parse_score(text: str | None) -> float | None:
    """The number after the last "Final Score:", as a number; None when there is none."""
    found = _FINAL_SCORE.findall(normalise(text or ""))
    return float(found[-1]) if found else None


# ---- prompts ---------------------------------------------------------------------------------------------

TEMPLATES = {  # task -> (pair template, point template); files in tasks/prompts or alignment/prompts
    "image_und": ("image_und_pair_unifiedreward.txt", "image_und_point_unifiedreward.txt"),
    "video_und": ("video_und_pair_unifiedreward.txt", "alignment:video_und_point.txt"),
    "image_gen": ("genai_image_unifiedreward.txt", "alignment:image_gen_point.txt"),
    "video_gen": ("videogen_unifiedreward.txt", "alignment:video_gen_point.txt"),
}


def _template(name: str) -> str:
    if name.startswith("alignment:"):
        from importlib import resources

        text = resources.files("alignment").joinpath("prompts", name.split(":", 1)[1]).read_text(encoding="utf-8")
    else:
        text = load_template(name)
    return text.split("\n", 1)[1] if text.startswith("[") else text  # drop our note line


def _video(path: Path, label: str) -> MediaRef:
    return MediaRef("video", label, path=path, frames=FRAMES, sampling="linspace")


def input_media(item: PolicyInput, root: Path) -> tuple[MediaRef, ...]:
    if item.video:
        return (_video(root / item.video, item.video),)
    return tuple(MediaRef("image", p, path=root / p) for p in item.images)


def pair_request(task: str, item: PolicyInput, root: Path, a: Candidate, b: Candidate, key: str) -> Request:
    template = _template(TEMPLATES[task][0])
    parts: tuple[Part, ...]
    if task.endswith("_und"):
        media = input_media(item, root)
        values = {"Query": item.prompt, "R1": a.text or "", "R2": b.text or ""}
        parts = render(template, values, media) if "<image>" in template else (*media, template.format_map(values))
    else:
        refs = [_candidate_ref(task, c) for c in (a, b)]
        parts = render(template, {"prompt": item.prompt}, refs) if task == "image_gen" else \
            (*refs, template.format_map({"prompt": item.prompt}))
    return Request(key, item.id, tuple(parts), RANK_GENERATION)


def point_request(task: str, item: PolicyInput, root: Path, c: Candidate, key: str) -> Request:
    template = _template(TEMPLATES[task][1])
    parts: tuple[Part, ...]
    if task.endswith("_und"):
        media = input_media(item, root)
        values = {"Query": item.prompt, "Response": c.text or ""}
        parts = render(template, values, media) if "<image>" in template else (*media, template.format_map(values))
    elif task == "image_gen":
        parts = render(template, {"prompt": item.prompt}, [_candidate_ref(task, c)])
    else:
        parts = (_candidate_ref(task, c), template.format_map({"prompt": item.prompt}))
    return Request(key, item.id, parts, RANK_GENERATION)


def scorer_request(item: PolicyInput, task: str, c: Candidate, key: str) -> Request:
    ref = _candidate_ref(task, c)
    meta = {"candidate": str(c.index), "prompt": item.prompt, "media_label": ref.label, "item_id": item.id}
    return Request(key, item.id, (item.prompt, ref), Generation(), meta=meta)


def _candidate_ref(task: str, c: Candidate) -> MediaRef:
    if c.media is None:
        raise UsageError(f"task {task} needs media candidates; the policy returned text")
    path = Path(c.media)
    return _video(path, path.name) if task == "video_gen" else MediaRef("image", path.name, path=path)


# ---- the pipeline ----------------------------------------------------------------------------------------

@dataclass
class ConstructOptions:
    n: int = 10
    seed: int = 0
    on_unranked: str = "reask"
    require_margin: bool = False
    chunk: int = 16  # inputs generated, ranked and scored together (the resume granularity)
    limit: int | None = None
    orders: str = "one"  # "both": rank every pair as shown and swapped, keep it only when they agree


@dataclass
class ConstructReport:
    out: Path
    kept: int = 0
    dropped: int = 0
    resumed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    order_counts: OrderCounts | None = None  # with --orders both: summed over every input's audit record

    def summary(self) -> str:
        """What `harness construct` prints at the end."""
        line = (f"kept {self.kept}, dropped {self.dropped} {dict(self.reasons) or ''}, "
                f"already done (resume): {self.resumed}")
        return line if self.order_counts is None else f"{line}\n{self.order_counts.summary()}"


def read_inputs(path: Path) -> list[PolicyInput]:
    if not path.is_file():
        raise UsageError(f"--inputs {path} does not exist")
    items, seen = [], set()
    for lineno, row in read_jsonl(path):
        if not isinstance(row.get("prompt"), str):
            raise UsageError(f"{path} line {lineno}: needs a string 'prompt'")
        item_id = str(row.get("id") or f"line-{lineno}")
        if item_id in seen:
            raise UsageError(f"{path} line {lineno}: id {item_id!r} repeats")
        seen.add(item_id)
        items.append(PolicyInput(item_id, row["prompt"], tuple(row.get("images") or ()), row.get("video")))
    return items


def task_of(policy: Policy, items: Sequence[PolicyInput]) -> str:
    if policy.kind in ("image", "video"):
        return f"{policy.kind}_gen"
    return "video_und" if any(i.video for i in items) else "image_und"


def construct(policy: Policy, reward: Adapter, inputs: Path, out: Path, options: ConstructOptions,
              cache=None) -> ConstructReport:
    if options.n < 2 or options.n % 2:
        raise UsageError("--n must be an even number >= 2 (candidates are ranked in pairs)")
    if options.orders not in ORDERS:
        raise UsageError(f"--orders must be one of {', '.join(ORDERS)}, not {options.orders!r}")
    if reward.kind == "scorer" and options.orders == "both":
        raise UsageError("--orders both needs a generative judge: a scalar scorer scores each candidate on its "
                         "own, so there is no order to exchange")
    items = read_inputs(inputs)[: options.limit]
    task = task_of(policy, items)
    if reward.kind == "scorer" and task.endswith("_und"):
        raise UsageError("a scalar scorer ranks generated media only; use a generative judge for understanding")
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "construction.jsonl"
    done = _read_done(log_path)
    _check_same_orders(done, options.orders, log_path)
    report = ConstructReport(out, resumed=len(done))
    store = MediaStore(out / "media")
    client = JudgeClient(reward, cache)
    todo = [i for i in items if i.id not in done]
    with open(log_path, "a", encoding="utf-8") as log:
        for start in range(0, len(todo), options.chunk):
            chunk = todo[start:start + options.chunk]
            candidates = policy.candidates(chunk, options.n, options.seed, store)
            errors = getattr(policy, "errors", {})
            for record in _rank_and_sift(chunk, candidates, errors, task, reward, client, inputs.parent, options):
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
                log.flush()
    records = list(_read_done(log_path, retry_failed=False).values())
    if options.orders == "both":
        report.order_counts = OrderCounts()
    for r in records:
        if r["status"] == "kept":
            report.kept += 1
        else:
            report.dropped += 1
            report.reasons[r["reason"]] = report.reasons.get(r["reason"], 0) + 1
        if report.order_counts is not None and "order_counts" in r:  # generation failures ranked nothing
            report.order_counts.add(OrderCounts.from_record(r))
    export(records, task, out, inputs.parent)
    summary: dict[str, Any] = {"task": task, "policy": policy.identity(), "reward": reward.describe(),
                               "n": options.n, "seed": options.seed, "on_unranked": options.on_unranked,
                               "require_margin": options.require_margin, "orders": options.orders,
                               "kept": report.kept, "dropped": report.dropped, "reasons": report.reasons}
    if report.order_counts is not None:
        summary["pair_orders"] = report.order_counts.as_record()
    (out / "construct.json").write_text(json.dumps(summary, indent=2))
    return report


def _check_same_orders(done: dict[str, dict[str, Any]], orders: str, log_path: Path) -> None:
    """A resumed construction must rank as the finished inputs were: mixing orders would mix two rules in one
    dataset. Records written before `--orders` existed were ranked in one order."""
    earlier = {r.get("orders", "one") for r in done.values()}
    if earlier - {orders}:
        raise UsageError(f"{log_path}: its finished inputs were ranked with --orders {', '.join(sorted(earlier))};"
                         f" resume with that, or write --orders {orders} to a new --out")


def _rank_and_sift(chunk: Sequence[PolicyInput], candidates: Sequence[Sequence[Candidate]], errors: dict,
                   task: str, reward: Adapter, client: JudgeClient, root: Path,
                   options: ConstructOptions) -> Iterable[dict[str, Any]]:
    by_id = {item.id: (item, list(cands)) for item, cands in zip(chunk, candidates)}
    usable = {i: v for i, v in by_id.items() if len(v[1]) == options.n}
    replies: dict[str, Any] = {}
    if reward.kind == "scorer":
        requests = [scorer_request(item, task, c, f"{item.id}::score{c.index}")
                    for item, cands in usable.values() for c in cands]
        replies.update({e.request.key: e.reply for e in client.judge(requests)})
    else:
        both = options.orders == "both"
        pairs = [request for item, cands in usable.values() for j in range(options.n // 2)
                 for request in _pair_requests(task, item, root, cands, j, both)]
        replies.update({e.request.key: e.reply for e in client.judge(pairs)})
        if options.on_unranked == "reask" and not both:  # with both, the other order has been asked already
            again = [_swapped_request(task, item, root, cands, j)
                     for item, cands in usable.values() for j in range(options.n // 2)
                     if parse_ranking(replies[f"{item.id}::pair{j}"].text, task) is None]
            replies.update({e.request.key: e.reply for e in client.judge(again)})
    orders: dict[str, list[PairOrders]] = {}  # with --orders both: each pair's two rankings
    if options.orders == "both":
        orders = {item_id: _pair_orders(item_id, task, replies, options.n) for item_id in usable}
        rankings = {item_id: [pair.ranking for pair in pairs] for item_id, pairs in orders.items()}
    else:
        rankings = {item_id: _rankings(item_id, task, replies, reward.kind, options.n) for item_id in usable}
    if reward.kind != "scorer":
        points = [point_request(task, item, root, c, f"{item.id}::point{c.index}")
                  for item_id, (item, cands) in usable.items() for c in cands
                  if rankings[item_id][c.index // 2] is not None or options.on_unranked == "first"]
        replies.update({e.request.key: e.reply for e in client.judge(points)})
    for item_id, (item, cands) in by_id.items():
        if item_id not in usable:
            reason = errors.get(item_id) or f"the policy returned {len(cands)} of {options.n} candidates"
            yield {"id": item_id, "prompt": item.prompt, "status": "dropped", "reason": f"generation: {reason}"}
            continue
        scores = [_score(replies.get(f"{item_id}::{'score' if reward.kind == 'scorer' else 'point'}{i}"))
                  for i in range(options.n)]
        selection = select_pair(options.n, rankings[item_id], scores, options.on_unranked, options.require_margin)
        record = {"id": item_id, "prompt": item.prompt, "images": list(item.images), "video": item.video,
                  "status": selection.status, "reason": selection.reason,
                  "candidates": [{"index": c.index, "text": c.text, "media": c.media, "seed": c.seed}
                                 for c in cands],
                  "rankings": rankings[item_id], "scores": scores, "chosen_list": list(selection.chosen_list),
                  "rejected_list": list(selection.rejected_list), "chosen": selection.chosen,
                  "rejected": selection.rejected,
                  "replies": {k.split("::", 1)[1]: (r.text if r.ok else f"ERROR: {r.error}")
                              for k, r in replies.items() if k.split("::", 1)[0] == item_id and r.score is None}}
        if item_id in orders:
            record.update(_orders_record(orders[item_id]))
        yield record


def _pair_requests(task: str, item: PolicyInput, root: Path, cands: Sequence[Candidate], j: int,
                   both: bool) -> list[Request]:
    """Pair j as shown (candidate 2j first) and, with both orders, swapped. They are the one-order request and
    its re-ask, so whatever a run in one order asked is in the cache for a run in both."""
    shown = pair_request(task, item, root, cands[2 * j], cands[2 * j + 1], f"{item.id}::pair{j}")
    return [shown, _swapped_request(task, item, root, cands, j)] if both else [shown]


def _swapped_request(task: str, item: PolicyInput, root: Path, cands: Sequence[Candidate], j: int) -> Request:
    return pair_request(task, item, root, cands[2 * j + 1], cands[2 * j], f"{item.id}::pair{j}::swapped")


def _pair_orders(item_id: str, task: str, replies: dict[str, Any], n: int) -> list[PairOrders]:
    def ranking(key: str) -> int | None:
        reply = replies.get(key)
        return None if reply is None else parse_ranking(reply.text, task)

    return [PairOrders(ranking(f"{item_id}::pair{j}"), ranking(f"{item_id}::pair{j}::swapped"))
            for j in range(n // 2)]


def _orders_record(pairs: Sequence[PairOrders]) -> dict[str, Any]:
    """The audit fields of --orders both. `rankings_swapped` holds the position the judge named in the swapped
    prompt (1: candidate 2j+1, shown first there); `rankings` holds the agreed rankings only."""
    return {"orders": "both", "rankings_shown": [p.shown for p in pairs],
            "rankings_swapped": [p.swapped for p in pairs],
            "pair_outcomes": [p.outcome for p in pairs], "order_counts": OrderCounts.of(pairs).as_record()}


def _rankings(item_id: str, task: str, replies: dict[str, Any], kind: str, n: int) -> list[int | None]:
    out: list[int | None] = []
    for j in range(n // 2):
        if kind == "scorer":
            a, b = _score(replies.get(f"{item_id}::score{2 * j}")), _score(replies.get(f"{item_id}::score{2 * j + 1}"))
            out.append(None if a is None or b is None or a == b else (1 if a > b else 2))
            continue
        verdict = parse_ranking(replies[f"{item_id}::pair{j}"].text, task)
        swapped = replies.get(f"{item_id}::pair{j}::swapped")
        if verdict is None and swapped is not None:  # asked with the order exchanged: map back
            again = parse_ranking(swapped.text, task)
            verdict = None if again is None else 3 - again
        out.append(verdict)
    return out


def _score(reply: Any) -> float | None:
    if reply is None or not reply.ok:
        return None
    if reply.score is not None:
        return float(reply.score)
    return parse_score(reply.text)


def _read_done(path: Path, retry_failed: bool = True) -> dict[str, dict[str, Any]]:
    """Finished inputs of an earlier (possibly killed) construction. With `retry_failed` (when resuming) the
    file is rewritten without a torn last line and without inputs whose generation failed, which are then
    tried again; without it (the final read) every record is kept."""
    if not path.exists():
        return {}
    done: dict[str, dict[str, Any]] = {}
    good: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        failed = str(record.get("reason") or "").startswith("generation:")
        if record["id"] not in done and not (retry_failed and failed):
            done[record["id"]] = record
            good.append(line)
    if retry_failed and len(good) != len(lines):
        path.write_text("".join(line + "\n" for line in good), encoding="utf-8")
    return done


def export(records: Sequence[dict[str, Any]], task: str, out: Path, root: Path) -> Path:
    """The kept pairs as the training dataset of the policy kind."""
    kept = [r for r in records if r["status"] == "kept"]
    if task.endswith("_gen"):
        path = out / "pairs.jsonl"
        rows = [{"id": r["id"], "prompt": r["prompt"],
                 "chosen": _relative(r["candidates"][r["chosen"]]["media"], out),
                 "rejected": _relative(r["candidates"][r["rejected"]]["media"], out)} for r in kept]
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        return path
    rows = []
    for r in kept:
        images = [str((root / p).resolve()) for p in r["images"]]
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": r["prompt"]}]
        rows.append({"id": r["id"], "images": images,
                     "video": str((root / r["video"]).resolve()) if r["video"] else None,
                     "prompt": [{"role": "user", "content": content}],
                     "chosen": _assistant(r["candidates"][r["chosen"]]["text"]),
                     "rejected": _assistant(r["candidates"][r["rejected"]]["text"])})
    path = out / "dpo.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    if rows:
        from datasets import Dataset

        Dataset.from_list(rows).save_to_disk(str(out / "hf_dataset"))
    return path


def _assistant(text: str) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def _relative(path: str, out: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)
