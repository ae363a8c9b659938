"""The processes ``torchrun`` / ``accelerate launch`` started: join their group and share the
slow per-gene work (embedding, generation) between them through the on-disk caches."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .evaluate import _hidden_states, _model_id, _profiles

if TYPE_CHECKING:
    from .context import _Context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Processes:
    """This process's place among those ``torchrun`` / ``accelerate launch`` started."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def _processes(device: str | None) -> tuple[_Processes, str | None]:
    """Join the launcher's process group (a single process: nothing to do).

    Returns the process's place and its model device (``cuda:<LOCAL_RANK>`` on GPUs).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return _Processes(), device
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():  # the Trainer (accelerate) reuses this group
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Processes(dist.get_rank(), world), device


def _share_work(model, tokenizer, ctx: _Context, arm: str, procs: _Processes) -> None:
    """Under several processes, each one embeds and describes its share of the genes.

    Both results land in the shared on-disk caches, so the main process's evaluation that
    follows finds every gene cached: generation, the slow part, is split across the processes.
    """
    if procs.world == 1:
        return
    share = ctx.genes[procs.rank :: procs.world]
    mid = _model_id(model, arm)
    if share:
        _hidden_states(model, tokenizer, ctx, share, mid)
        _profiles(model, tokenizer, ctx, share, mid)
    logger.info("experiment: process %d of %d described %d genes of %s", procs.rank,
                procs.world, len(share), arm)  # fmt: skip
    procs.barrier()
