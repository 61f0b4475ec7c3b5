"""Data-parallel runs under `accelerate launch` or `torchrun`: one process per GPU, one run directory.

The launcher sets RANK / WORLD_SIZE / LOCAL_RANK. Each process judges the samples whose position in
the (limited) dataset is `rank` modulo `world`, appending to its own `<task>.samples.rank<r>.jsonl`;
after a barrier, rank 0 folds those files into `<task>.samples.jsonl`, scores, and writes
results.json. Nothing here imports torch unless the world has more than one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, position: int) -> bool:
        return position % self.world == self.rank


def current_shard() -> Shard:
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    return Shard(rank=rank, world=world) if world > 1 else Shard()


class Group:
    """Collectives among the launched processes (torch.distributed; gloo when there is no GPU)."""

    def __init__(self, shard: Shard):
        self.shard = shard
        self._dist = None
        if shard.world > 1:
            import torch
            import torch.distributed as dist

            if not dist.is_initialized():
                if torch.cuda.is_available():
                    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
                dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
            self._dist = dist

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if self._dist is None:
            return obj
        box = [obj if self.shard.is_main else None]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self._dist is not None:
            self._dist.barrier()
