"""One process or many, through PyTorch's own engine: `torchrun --nproc_per_node N -m asr train ...`
sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; we join the process group (NCCL
on GPUs, gloo on CPU) and pick the device. Without torchrun, world_size is 1 and nothing is
initialised."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Dist", "pick_device", "setup", "cleanup", "all_sum", "barrier", "broadcast_", "broadcast_flag"]


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine")
        return torch.device(device if ":" in device else f"cuda:{local_rank}")
    if device != "cpu":
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return torch.device("cpu")


def setup(device: str) -> Dist:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world_size, local_rank, dev)


def cleanup(d: Dist, sync: bool = False) -> None:
    """End the process group; with `sync` (a run that ended normally) after a barrier, so that no process
    tears its connections down while another is still using them (gloo then aborts the other one)."""
    if d.distributed and dist.is_initialized():
        if sync:
            dist.barrier()
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.distributed:
        dist.barrier()


def all_sum(d: Dist, values: list[float]) -> list[float]:
    """Element-wise sum over all processes (float64; the inputs on one process when not distributed)."""
    if not d.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_(d: Dist, tensors: list[torch.Tensor]) -> None:
    """Overwrite `tensors` in place with rank 0's values."""
    if d.distributed:
        for t in tensors:
            dist.broadcast(t, 0)


def broadcast_flag(d: Dist, flag: bool) -> bool:
    """Rank 0's decision, for every process (e.g. 'the time budget is spent')."""
    if not d.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=d.device)
    dist.broadcast(t, 0)
    return bool(t.item())
