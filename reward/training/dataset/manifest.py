"""The build manifest: which sources, how many of each, in what order the pairs are shown.

Modelled on the authors' `dataset/train_data.yaml` (a list of `json_path` + `sampling_strategy`), but
naming our converters and validated strictly, because a typo in a key would otherwise silently build a
different mixture:

    seed: 0                      # order swaps and random sampling derive from it
    order: swap                  # swap (default) | both | chosen_first
    skip_bad_rows: false         # true: count and report bad rows instead of stopping
    frames_per_video: 8          # frames sampled from each video of a video-generation pair
    sources:
      - name: hpd                # a converter name (see reward.training.dataset.SOURCES)
        hub: Rapidata/...        # or  path: <local file or directory> (relative to this file)
        revision: <commit>       # hub only; also config:, split: to override the converter's defaults
        media_root: <dir>        # where relative media paths in the rows point (default: beside the rows)
        sampling: all            # all | random:N | first:N | end:N  (N may be a percentage, "random:10%")
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from harness.errors import UsageError, did_you_mean

from .sources import SOURCES

TOP_KEYS = ("seed", "order", "skip_bad_rows", "frames_per_video", "sources")
SOURCE_KEYS = ("name", "path", "hub", "revision", "config", "split", "media_root", "sampling")
ORDER_MODES = ("swap", "both", "chosen_first")
SAMPLING_MODES = ("random", "first", "end")


@dataclass(frozen=True)
class Sampling:
    mode: str  # "all" | "random" | "first" | "end"
    count: int | None = None
    percent: bool = False

    @classmethod
    def parse(cls, text: Any, where: str) -> "Sampling":
        if text == "all":
            return cls("all")
        if isinstance(text, str) and ":" in text:
            mode, _, amount = text.partition(":")
            percent = amount.endswith("%")
            digits = amount[:-1] if percent else amount
            if mode in SAMPLING_MODES and digits.isdigit() and int(digits) > 0 and (not percent or int(digits) <= 100):
                return cls(mode, int(digits), percent)
        raise UsageError(f"{where}: sampling {text!r}: expected all, random:N, first:N or end:N "
                         "(N a positive integer, or a percentage such as random:10%)")

    def pick(self, total: int, seed: str) -> list[int]:
        """Indices kept, in source order. random:N draws N without replacement with a generator seeded from
        (manifest seed, source name), so a build is reproducible and sources do not share draws. N larger
        than the source keeps everything (as the authors' loader does)."""
        if self.mode == "all":
            return list(range(total))
        n = math.ceil(self.count * total / 100) if self.percent else self.count
        n = min(n, total)
        if self.mode == "first":
            return list(range(n))
        if self.mode == "end":
            return list(range(total - n, total))
        return sorted(random.Random(seed).sample(range(total), n))

    def __str__(self) -> str:
        return "all" if self.mode == "all" else f"{self.mode}:{self.count}{'%' if self.percent else ''}"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    path: Path | None
    hub: str | None
    revision: str | None
    config: str | None
    split: str | None
    media_root: Path | None
    sampling: Sampling


@dataclass(frozen=True)
class Manifest:
    path: Path
    sha256: str
    seed: int
    order: str
    skip_bad_rows: bool
    frames_per_video: int
    sources: tuple[SourceSpec, ...]


def load_manifest(path: Path) -> Manifest:
    """Parse and validate; every problem is a UsageError naming the file and the key. Whether local paths
    exist is checked when the build opens them."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"manifest {path} not found")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    _known_keys(data, TOP_KEYS, str(path))
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"{path}: seed must be an integer, got {seed!r}")
    order = data.get("order", "swap")
    if order not in ORDER_MODES:
        raise UsageError(f"{path}: order {order!r} is not one of {', '.join(ORDER_MODES)}")
    skip = data.get("skip_bad_rows", False)
    if not isinstance(skip, bool):
        raise UsageError(f"{path}: skip_bad_rows must be true or false, got {skip!r}")
    frames = data.get("frames_per_video", 8)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise UsageError(f"{path}: frames_per_video must be a positive integer, got {frames!r}")
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: 'sources' must be a non-empty list of sources")
    specs = tuple(_source(entry, i, path) for i, entry in enumerate(entries))
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{path}: source {name!r} is listed {names.count(name)} times; list each once")
    return Manifest(path, hashlib.sha256(raw).hexdigest(), seed, order, skip, frames, specs)


def _source(entry: Any, i: int, path: Path) -> SourceSpec:
    where = f"{path}: sources[{i}]"
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a mapping with keys {', '.join(SOURCE_KEYS)}")
    name = entry.get("name")
    if isinstance(name, str):
        where = f"{path}: sources[{i}] ({name})"
    _known_keys(entry, SOURCE_KEYS, where)
    if name not in SOURCES:
        raise UsageError(f"{where}: name: unknown source {did_you_mean(str(name), list(SOURCES))}")
    strings = {key: entry.get(key) for key in ("path", "hub", "revision", "config", "split", "media_root")}
    for key, value in strings.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UsageError(f"{where}: {key} must be a non-empty string, got {value!r}")
    if (strings["path"] is None) == (strings["hub"] is None):
        raise UsageError(f"{where}: give exactly one of 'path' (a local copy) or 'hub' (a hub dataset id)")
    if strings["path"] is not None:
        for key in ("revision", "config", "split"):
            if strings[key] is not None:
                raise UsageError(f"{where}: '{key}' only applies to 'hub' sources")
    if strings["hub"] is not None and SOURCES[name].hub is None:
        raise UsageError(f"{where}: hub: {name} cannot be loaded with datasets.load_dataset (its hub copy "
                         f"{SOURCES[name].hub_id} is raw files); download it and give 'path'")
    base = path.parent
    return SourceSpec(name=name, path=_under(base, strings["path"]), hub=strings["hub"],
                      revision=strings["revision"], config=strings["config"], split=strings["split"],
                      media_root=_under(base, strings["media_root"]),
                      sampling=Sampling.parse(entry.get("sampling", "all"), where))


def _known_keys(data: dict, valid: Sequence[str], where: str) -> None:
    for key in data:
        if key not in valid:
            raise UsageError(f"{where}: unknown key {key!r}; valid keys: {', '.join(valid)}")


def _under(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p
