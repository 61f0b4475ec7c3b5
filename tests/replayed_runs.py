"""Test helper: finished runs from hand-written judge replies (the `replay` adapter), for agreement and ensembles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from harness.runner import RunOptions, run
from reports.runs import Run, load_run
from reward.replay import ReplayAdapter

# A hand-written GenAI-Bench table: the human vote and three judges' replies (genai-arena: the first [[...]]).
HUMANS = ["leftvote", "rightvote", "tievote", "bothbad_vote", "leftvote", "rightvote", "leftvote", "rightvote"]
JUDGES = {
    "j1": ["[[A>B]]", "[[A>B]]", "[[A=B=Good]]", "[[A=B=Good]]", "[[A>B]]", "no verdict", "none", "[[B>A]]"],
    "j2": ["[[A>B]]", "[[B>A]]", "[[A=B=Good]]", "[[A=B=Bad]]", "I cannot decide", "none", "none", "[[A>B]]"],
    "j3": ["[[B>A]]", "[[B>>A]]", "[[A>B]]", "[[A>B]]", "[[B>A]]", "[[A>B]]", "nothing", "[[B>A]]"],
}


def genai_image_data(root: Path, votes: Sequence[str]) -> Path:
    """A GenAI-Bench image_generation directory of len(votes) items (idx 0, 1, ...) with those human votes; no
    media (replay never opens them)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "image_generation.jsonl", "w", encoding="utf-8") as f:
        for idx, vote in enumerate(votes):
            f.write(json.dumps({"idx": idx, "prompt": f"prompt {idx}", "vote_type": vote}) + "\n")
    return root


def replay_run(tmp: Path, name: str, task: str, data_dir: Path, split: str, protocol: str,
               replies: Mapping[str, str] | Sequence[str], seed: int = 0) -> Run:
    """Replay `replies` (by sample id, or in idx order) as judge `name` into a run under `tmp`; the run, read back."""
    items = replies.items() if isinstance(replies, Mapping) else enumerate(replies)
    path = tmp / f"{name}.{task}.{protocol}.{seed}.replies.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for key, text in items:
            f.write(json.dumps({"id": str(key), "response": text}) + "\n")
    outcome = run(RunOptions(tasks=[task], model="replay", protocol=protocol, data_dir=data_dir, split=split,
                             seed=seed, output=tmp / "runs", bootstrap_resamples=20, progress="none",
                             use_cache=False),
                  adapter=ReplayAdapter(str(path), name=name))
    return load_run(outcome.dir)


# A hand-written MMRB2 table: `chosen` per pair, and per judge the (forward, reverse) letter each order's reply names
# (the reverse order shows response_b as A); None: a reply without a verdict.
MMRB2_CHOSEN = ["A", "B", "A", "B"]
MMRB2_PLANS = {"m1": [("A", "B"), ("B", "A"), ("A", "A"), ("tie", "B")],
               "m2": [("A", "B"), ("A", "A"), ("A", "B"), ("B", None)],
               "m3": [("B", "A"), ("B", "A"), ("A", "B"), ("A", "B")]}


def mmrb2_data(root: Path, chosen: Sequence[str]) -> Path:
    """Text-only MMRB2 t2i pairs p0, p1, ... with the given `chosen` letters."""
    from tests.fixtures_mmrb2.build import write_data_dir

    pairs = [{"id": f"p{i}", "prompt_source": "hand", "prompt_content": [["text", f"prompt {i}"]],
              "response_a": {"model_name": "x", "response_content": [["text", f"a {i}"]]},
              "response_b": {"model_name": "y", "response_content": [["text", f"b {i}"]]}, "chosen": letter}
             for i, letter in enumerate(chosen)]
    return write_data_dir(root, {"t2i": pairs}, images=False)


def mmrb2_run(tmp: Path, data: Path, name: str, plan: Sequence[tuple[str | None, str | None]]) -> Run:
    """A scripted MMRB2 judge answering `plan[i]` (forward, reverse) for pair p<i>."""
    from reward.scripted import ScriptedAdapter

    by_id = {f"p{i}": letters for i, letters in enumerate(plan)}

    def answer(prepared) -> str:
        letter = by_id[prepared.request.sample_id][0 if prepared.request.meta["order"] == "forward" else 1]
        return "no idea" if letter is None else json.dumps({"better_response": letter})

    out = run(RunOptions(tasks=["mmrb2"], model="scripted", data_dir=data, output=tmp / name, use_cache=False,
                         bootstrap_resamples=10, progress="none"),
              adapter=ScriptedAdapter(fn=answer, model_id=name, needs_media=False))
    return load_run(out.dir)
