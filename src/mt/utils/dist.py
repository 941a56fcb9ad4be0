"""Distributed helpers: the torchrun environment, rank checks, and collectives that are no-ops alone.

Every rank-dependent decision in the code base goes through this module, so single-process runs and
``torchrun`` runs share one code path.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mt.utils.cpu import usable_cores
from mt.utils.errors import MTError


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


def local_world_size() -> int:
    """Processes that torchrun started on this node (1 when alone)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def threads_per_process() -> int:
    """This process's fair share of the node's CPU cores: the usable cores divided by the processes
    torchrun started here (torchrun itself would give each process one thread)."""
    return max(1, usable_cores() // local_world_size())


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
        timeout = datetime.timedelta(minutes=timeout_min)
        rendezvous = {}
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            rendezvous = {"store": _attempt_store(info, timeout), "rank": info.rank, "world_size": info.world_size}
        dist.init_process_group(backend=backend_for(device_type), timeout=timeout, **rendezvous)
    return info


_ATTEMPT_STORE_KEY = "mt/attempt_store_port"
"""The key in torchrun's store under which rank 0 publishes "HOST PORT" of this attempt's store."""


def _attempt_store(info: DistInfo, timeout: datetime.timedelta) -> dist.Store:
    """A key-value store for this launch attempt alone, served by rank 0 on a free port.

    torchrun's agent keeps one store for every attempt it starts (torch 2.13, every rendezvous
    backend), and the process group writes each rank's address under fixed keys. When
    ``--max-restarts`` restarts the workers, the new ranks would read the dead ranks' addresses from
    it and hang in ``init_process_group``. So the agent's store carries only the address of a store
    that rank 0 opens afresh for each attempt. ``TORCHELASTIC_RESTART_COUNT`` cannot name the attempts
    instead: on several nodes it only counts on the node where a worker failed."""
    master, agent_port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    agent = dist.TCPStore(master, agent_port, info.world_size, is_master=False, timeout=timeout)
    if info.is_main:
        host = _this_host(master)
        store = dist.TCPStore(host, 0, info.world_size, is_master=True, timeout=timeout, wait_for_workers=False)
        agent.set(_ATTEMPT_STORE_KEY, f"{host} {store.port}")
        return store
    deadline, host, port = time.monotonic() + timeout.total_seconds(), master, None
    while time.monotonic() < deadline:
        if agent.check([_ATTEMPT_STORE_KEY]):
            host, port_text = agent.get(_ATTEMPT_STORE_KEY).decode().rsplit(" ", 1)
            port = int(port_text)
            # Until this attempt's rank 0 writes its port, the key holds the previous attempt's, whose
            # store closed with its rank 0 before torchrun started the new workers: nobody listens.
            if _listening(host, port):
                try:
                    store = dist.TCPStore(host, port, info.world_size, is_master=False,
                                          timeout=datetime.timedelta(seconds=10))
                    store.set_timeout(timeout)
                    return store
                except RuntimeError:  # the old port, taken meanwhile by something else
                    pass
        time.sleep(0.2)
    where = f"{host}:{port}" if port else f"{host} (rank 0 published no port in torchrun's store)"
    raise MTError(f"rank {info.rank} could not reach the store of rank 0 at {where} within the "
                  f"process-group timeout (trainer.dist_timeout_min={timeout.total_seconds() / 60:g}): "
                  f"check rank 0's log and that its host accepts connections from this one, then run the "
                  f"same command again; it resumes from checkpoints/last.pt")


def _this_host(master: str) -> str:
    """How the other ranks reach rank 0's machine: ``MASTER_ADDR`` when it names this machine (torchrun's
    store runs here, the usual case), else this machine's name (a rendezvous endpoint elsewhere)."""
    try:
        named = {a[4][0] for a in socket.getaddrinfo(master, None)}
        local = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return master
    if named & local or any(ip.startswith("127.") or ip == "::1" for ip in named):
        return master
    return socket.getfqdn()


def _listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (a refused port answers at once)."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


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
