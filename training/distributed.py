"""Data-parallel training with PyTorch's own DDP, launched by ``torchrun``.

``torchrun --nproc_per_node N -m training DATA --out RUN`` starts N copies of the same script; each
reads ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from its environment, joins one process group (NCCL on
CUDA, gloo on CPU), trains on its own shard of the data, and DDP averages the gradients. Multi-node:
the same command on each node with ``--nnodes``, ``--node_rank`` and ``--rdzv_endpoint``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls) -> DistEnv:
        """Read torchrun's variables; a plain ``python`` launch is a world of one."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)


def pick_device(name: str, env: DistEnv) -> torch.device:
    """'auto' -> cuda:LOCAL_RANK when CUDA is available, else cpu; other names as given."""
    if name == "auto":
        return torch.device(f"cuda:{env.local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu.")
        if device.index is None:
            device = torch.device(f"cuda:{env.local_rank}")
    return device


def init(env: DistEnv, device: torch.device) -> None:
    """Join the process group of a torchrun launch (no-op for one process)."""
    if not env.enabled or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shutdown(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_flags(flags: list[float], env: DistEnv, device: torch.device) -> list[float]:
    """Sum small per-rank flags over the ranks (so all ranks take the same stop / diverged decision)."""
    if not env.enabled:
        return flags
    t = torch.tensor(flags, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        dist.barrier()
