"""Policies: the models whose outputs preference construction ranks (paper Sec. 3.3, step 1).

A policy turns one input into N candidates. Text candidates (VLM answers) are kept in the records;
generated media (images, videos) go to a content-addressed store (`MediaStore`) and records hold their
paths, so a regenerated identical output is stored once and a resumed construction finds it again.

Implementations are named with `@policy("name")`, registered by a `harness.policies` entry point, and built
from `--policy NAME --policy-args k=v` exactly like judges (`harness.adapters.Adapter.from_args` conventions).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from harness.adapters import Adapter
from harness.registry import Registry, named

POLICIES: Registry[Any] = Registry("policy", "harness.policies")

#: `@policy("hf")`: names a policy class; its `harness.policies` entry point registers it (harness.registry).
policy = named


@dataclass(frozen=True)
class PolicyInput:
    """One prompt to answer or render: `images`/`video` are paths for understanding inputs."""

    id: str
    prompt: str
    images: tuple[str, ...] = ()
    video: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """One output of the policy: `text` for a VLM, `media` (a path in the store) for a generator."""

    index: int
    text: str | None = None
    media: str | None = None
    seed: int | None = None


class MediaStore:
    """Content-addressed files: `<root>/<sha256[:2]>/<sha256>.<ext>`, written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, data: bytes, ext: str) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest[:2] / f"{digest}.{ext.lstrip('.')}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return path


class Policy(ABC):
    """`kind` says what candidates are: "text" (understanding) or "image"/"video" (generation)."""

    name: ClassVar[str] = "policy"
    kind: ClassVar[str] = "text"

    # the same k=v checking and typing as judges
    from_args = classmethod(Adapter.from_args.__func__)  # type: ignore[attr-defined]
    check_args = classmethod(Adapter.check_args.__func__)  # type: ignore[attr-defined]

    def __init__(self, **args: Any):
        self.args = dict(args)

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What determines the outputs besides input and seed (model, revision, sampling settings)."""

    @abstractmethod
    def candidates(self, items: Sequence[PolicyInput], n: int, seed: int, store: MediaStore
                   ) -> list[list[Candidate]]:
        """N candidates per item, reproducible from `seed` (candidate j of an item uses seed + j where the
        backend allows per-sample seeds)."""

    def close(self) -> None:
        """Release models and sessions."""
