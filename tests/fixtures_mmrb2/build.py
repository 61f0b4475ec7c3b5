"""MMRB2 `--data-dir`s for the tests, built from the real rows in this folder (SOURCES.md).

The repository ships its pairs without prompts (`benchmark/<task>_response_only.json`); its build adds each
pair's `prompt_content` from the source benchmarks and rewrites the response image paths to
`images/<file name>` (benchmark/4_finalize_release.py). `release_pair` does the same rewrite and adds a
stand-in prompt (ours, marked as such: the real prompts live in the source benchmarks, not in the repository).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from tests.conftest import write_image

HERE = Path(__file__).parent
TASKS = ("t2i", "edit", "interleaved", "reasoning")


def real_pairs() -> dict[str, list[dict[str, Any]]]:
    """task -> the real pairs copied from the repository (response-only form, as shipped)."""
    return json.loads((HERE / "real_pairs.json").read_text(encoding="utf-8"))["pairs"]


def labels() -> list[dict[str, str]]:
    """All 4,000 real pairs as {task, id, chosen}, in the release's order."""
    with gzip.open(HERE / "labels.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def stand_in_prompt(task: str, pair: Mapping[str, Any]) -> list[list[str]]:
    """A prompt of the task's shape: text for t2i and interleaved, an input image for edit and reasoning."""
    meta = pair.get("prompt_metadata") or {}
    text = f"[stand-in prompt: {pair.get('prompt_source')} {meta.get('id')} {meta.get('category')}]"
    image = ["image", f"input_images/{pair['id']}_prompt_0.jpg"]
    return {"edit": [["text", text], image], "reasoning": [image, ["text", text]]}.get(task, [["text", text]])


def release_pair(task: str, pair: Mapping[str, Any], prompt: list[list[str]] | None = None) -> dict[str, Any]:
    """A response-only pair as the built benchmark holds it: prompt added, response images under images/."""
    out = copy.deepcopy(dict(pair))
    for side in ("response_a", "response_b"):
        out[side]["response_content"] = [["image", f"images/{os.path.basename(v)}"] if k == "image" else [k, v]
                                         for k, v in out[side]["response_content"]]
    out["prompt_content"] = prompt if prompt is not None else stand_in_prompt(task, pair)
    return out


def image_paths(pair: Any) -> Iterable[str]:
    """The image paths of a pair (nothing for a malformed one: bad-input fixtures are written as they are)."""
    if not isinstance(pair, Mapping):
        return []
    contents = [pair.get("prompt_content") or []] + [pair[s]["response_content"] for s in ("response_a", "response_b")]
    return [item[1] for content in contents for item in content if item[0] == "image" and item[1].endswith(".jpg")]


def write_data_dir(root: Path, pairs_by_task: Mapping[str, list[dict[str, Any]]], images: bool = True) -> Path:
    """`<task>.json` ({"pairs": [...]}) per task given, and an 8x8 JPEG per image path."""
    root.mkdir(parents=True, exist_ok=True)
    seed = 0
    for task, pairs in pairs_by_task.items():
        (root / f"{task}.json").write_text(json.dumps({"pairs": pairs}, ensure_ascii=False), encoding="utf-8")
        for pair in pairs if images else ():
            for path in image_paths(pair):
                write_image(root / path, seed)
                seed += 1
    return root


def real_data_dir(root: Path) -> Path:
    """The real rows of real_pairs.json as a built benchmark directory, with images."""
    return write_data_dir(root, {task: [release_pair(task, p) for p in pairs] for task, pairs in real_pairs().items()})
