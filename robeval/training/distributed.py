"""Data-parallel training through torchrun, with the same results semantics as one process.

    torchrun --nproc-per-node 2 -m robeval train --dataset cifar10 --arch resnet18 --out runs/ddp

Every rank draws the same global batch (same seed, same permutation, same augmentation draws)
and trains on its slice ``batch[rank::world]``; DDP averages gradients, so a step equals the
single-process step on the whole global batch up to floating-point summation order. On CUDA batch
norm is synchronised (SyncBatchNorm), so that holds for batch-norm networks too; PyTorch's
SyncBatchNorm is GPU-only, so on CPU (gloo) each rank normalises over its own slice. ``--batch-size`` is the GLOBAL batch and must divide by the
number of processes. Rank 0 alone writes files. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: a single process)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def setup(info: DistInfo, device: str) -> str:
    """Join the process group; returns this rank's device."""
    if not info.enabled:
        return device
    if device.startswith("cuda"):
        torch.cuda.set_device(info.local_rank)
        device = f"cuda:{info.local_rank}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device


def wrap(model: torch.nn.Module, info: DistInfo, device: str) -> torch.nn.Module:
    """DistributedDataParallel (with SyncBatchNorm on CUDA) when distributed; else the model."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.startswith("cuda"):
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[torch.device(device).index])
    return DistributedDataParallel(model)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    """Leave the process group ``setup`` joined (stages.train calls it in a finally)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def on_main(info: DistInfo, fn, *args, **kwargs):
    """Run ``fn`` on rank 0 and hand its result (or its RobevalError) to every rank."""
    if not info.enabled:
        return fn(*args, **kwargs)
    from robeval.core.errors import RobevalError

    box: list = [None, None]
    if info.is_main:
        try:
            box = [fn(*args, **kwargs), None]
        except RobevalError as exc:
            box = [None, str(exc)]
    dist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        raise RobevalError(box[1])
    return box[0]


def all_sum(values: list[float], info: DistInfo, device: str) -> list[float]:
    """Sum numbers over ranks (epoch statistics); identity when not distributed."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def check_replicas(model: torch.nn.Module, info: DistInfo, device: str) -> None:
    """Every rank must hold the same parameters at the end; anything else is a bug worth stopping on.

    (Batch-norm running statistics may differ on CPU, where each rank normalises its own slice;
    DDP re-broadcasts rank 0's buffers before every forward, and rank 0's are the ones saved.)
    """
    if not info.enabled:
        return
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).to(device)
    gathered = [torch.zeros_like(checksum) for _ in range(info.world)]
    dist.all_gather(gathered, checksum)
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError("data-parallel replicas diverged: their weights differ")
