"""Shared fixtures: real VL-RewardBench annotations with synthetic images, a private cache, helpers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
VLRB_ANNOTATIONS = SHARED / "fixtures" / "vlrewardbench" / "data.jsonl"


def write_image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (seed % 251, (seed * 7) % 251, (seed * 13) % 251)).save(path, "JPEG")


def make_data_dir(root: Path, rows: list[dict], images: bool = True) -> Path:
    """A VL-RewardBench GitHub-layout directory with the given rows and a tiny JPEG per row."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "data.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    if images:
        for i, row in enumerate(rows):
            if isinstance(row.get("image_path"), str):
                write_image(root / row["image_path"], i)
    return root


def row(rid: str, folder: str, ranking=(0, 1), query="What is shown?", responses=("A cat.", "A dog.")) -> dict:
    return {"id": rid, "image_path": f"images/{folder}/{rid}.jpg", "query": query,
            "response": list(responses), "human_ranking": list(ranking)}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own judgment cache, never the user's."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "judgments.sqlite"


@pytest.fixture(scope="session")
def vlrb_dir(tmp_path_factory) -> Path:
    """All 1,250 real annotations with a synthesised 8x8 JPEG per image path."""
    if not VLRB_ANNOTATIONS.exists():
        pytest.skip(f"fixture {VLRB_ANNOTATIONS} not found (../shared missing)")
    root = tmp_path_factory.mktemp("vlrewardbench")
    shutil.copy(VLRB_ANNOTATIONS, root / "data.jsonl")
    for i, line in enumerate(VLRB_ANNOTATIONS.read_text(encoding="utf-8").splitlines()):
        write_image(root / json.loads(line)["image_path"], i)
    return root


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """name -> directory of a tiny checkpoint with a real configuration (`reward.testing.tiny_checkpoints`), built
    once per session."""
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            from reward.testing.tiny_checkpoints import save

            built[name] = save(name, tmp_path_factory.mktemp(name.replace(".", "_")) / "ckpt")
        return built[name]

    return get


def install_entry_point(monkeypatch, registry, name: str, target: str) -> None:
    """Declare `name = "target"` in `registry`'s entry-point group for one test, as an installed package
    would (the registry reads entry points afresh and forgets what it loaded once the test ends)."""
    from importlib import metadata

    point = metadata.EntryPoint(name, target, registry.group)
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda group: [*real(group=group), *([point] if group == registry.group else [])])
    for attr, value in (("_entry_points", None), ("_objects", dict(registry._objects)),
                        ("_sources", dict(registry._sources))):
        monkeypatch.setattr(registry, attr, value)


class HubCall(NamedTuple):
    """One `datasets.load_dataset` call the stand-in hub answered."""

    path: str
    name: str | None
    split: str | None
    revision: str | None
    data_files: dict | None


@pytest.fixture
def stand_in_hub(monkeypatch):
    """`datasets.load_dataset` answers from in-memory rows, `tables[(dataset, config)]` (`config`: the subset
    folder of `data_files` where a task reads files by folder); every call is recorded as a `HubCall`. The hub
    counts as reachable, and a branch head resolves to commit "f" * 40."""
    datasets = pytest.importorskip("datasets")
    calls: list[HubCall] = []
    tables: dict[tuple[str, str | None], list] = {}

    def load_dataset(path, name=None, split=None, revision=None, data_files=None):
        calls.append(HubCall(path, name, split, revision, data_files))
        key = data_files["train"].split("/")[0] if data_files else name
        return datasets.Dataset.from_list(tables[(path, key)])

    class Info:
        sha = "f" * 40

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr("huggingface_hub.HfApi.dataset_info", lambda self, repo: Info())
    monkeypatch.setattr("harness.hub.unreachable", lambda: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return calls, tables


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def only_run_dir(output: Path) -> Path:
    dirs = [d for d in output.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


os.environ.setdefault("TQDM_DISABLE", "1")
