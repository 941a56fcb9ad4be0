"""Distributed helpers: the torchrun environment, rank checks, and collectives that are no-ops alone.

Every rank-dependent decision in the code base goes through this module, so single-process runs and
``torchrun`` runs share one code path.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """Rank and world size from the environment torchrun sets (single process when absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
    )


def is_main() -> bool:
    """True on rank 0 (or when not distributed)."""
    return get_rank() == 0


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else env_info().rank


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def backend_for(device_type: str) -> str:
    """gloo on CPU. On GPUs NCCL reduces the CUDA gradients, while the few CPU scalars the trainer
    agrees on (token counts, losses, stop flags) go through gloo, which NCCL alone would reject."""
    return "cpu:gloo,cuda:nccl" if device_type == "cuda" else "gloo"


def init_distributed(device_type: str, timeout_min: float = 30.0) -> DistInfo:
    """Join the process group when launched by torchrun: NCCL on CUDA, gloo on CPU. A collective
    that waits longer than ``timeout_min`` for the other ranks fails."""
    info = env_info()
    if info.distributed and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend_for(device_type),
                                timeout=datetime.timedelta(minutes=timeout_min))
    return info


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a few scalars over ranks (one collective)."""
    if get_world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_sum_async(values: list[float]) -> Callable[[], list[float]]:
    """Start summing a few host scalars over ranks (gloo, in the background); the returned function
    waits for the sums. Lets the trainer count the tokens of an update while backward runs."""
    if get_world_size() == 1:
        return lambda: list(values)
    t = torch.tensor(values, dtype=torch.float64)
    work = dist.all_reduce(t, async_op=True)

    def wait() -> list[float]:
        work.wait()
        return t.tolist()

    return wait


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank when ``flag`` is true on at least one: all ranks agree on when to stop."""
    return all_reduce_sum([float(flag)], device)[0] > 0


def broadcast_object(obj, src: int = 0):
    """Send a picklable object from rank ``src`` to all ranks."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_tensors(tensors, src: int = 0) -> None:
    """Overwrite ``tensors`` on every rank with rank ``src``'s values, in place (e.g. model weights
    that only rank ``src`` has loaded: other ranks may not see its files)."""
    if get_world_size() > 1:
        for t in tensors:
            dist.broadcast(t, src=src)


def all_gather_object(obj) -> list:
    """Every rank's ``obj``, in rank order (a one-element list when alone)."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out
