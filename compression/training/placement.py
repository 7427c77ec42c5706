"""Where a training stage runs: its device, the processes that make its batches, and under torchrun its share of
the processes that train together.

Several processes (`torchrun --nproc-per-node N`, or `ganc compress --nproc-per-node N`) train one model with
data parallelism: each holds the whole model, takes its rows of every step's global batch (a pure function of
seed and step, so a resumed run makes the batches an uninterrupted one would), and averages its gradients with
the others' before every optimiser step, so every copy stays equal. The averaging is torch.distributed's
all_reduce over each optimiser's gradients in one flat buffer, not DistributedDataParallel's wrapper: a step here
calls parts of the student directly (its encoder and blocks on the teacher's features), trains several
sub-networks one after another and runs a discriminator three times, and the wrapper synchronises only what goes
through its own forward, once. Rank 0 alone writes checkpoints, logs, samples and the job's files.
"""

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from ..device import resolve_device
from ..precision import adopt_cpu_decision, bf16_pays_on_cpu

# Ranks other than 0 wait while it builds the dataset and searches (minutes on a CPU): far longer than a step.
WAIT_FOR_RANK_0 = timedelta(hours=3)
GPU_DATA_WORKERS = 4  # processes that make batches ahead for a GPU (on a CPU the cores are busy training)


class PlacementError(ValueError):
    """Training processes that cannot work together as asked."""


@dataclass(frozen=True)
class Placement:
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1
    data_workers: int = 0

    @property
    def writes(self) -> bool:
        """Whether this process writes files: the only one, or rank 0 of several."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def check_batch(self, batch_size: int, where: str) -> None:
        if batch_size % self.world_size:
            raise PlacementError(
                f"{where}.batch_size {batch_size} does not split over {self.world_size} training processes: "
                f"make it a multiple of {self.world_size} (it is the global batch, shared among them)"
            )

    def shard(self, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This process's rows of each global batch (equal shares, so averaged gradients equal the whole batch's)."""
        share = batches[0].shape[0] // self.world_size
        return tuple(batch[self.rank * share : (self.rank + 1) * share] for batch in batches)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Every process's gradients of `parameters` replaced by their mean over the processes."""
        if not self.distributed:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat /= self.world_size
        for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
            grad.copy_(averaged)

    def average(self, values: dict[str, float]) -> dict[str, float]:
        """Logged values (a step's losses) as their mean over the processes."""
        if not self.distributed or not values:
            return values
        summed = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(summed)
        return {name: value / self.world_size for name, value in zip(values, summed.tolist())}

    def rank_0s(self, values: list[int]) -> list[int]:
        """Rank 0's `values` in every process (a decision all of them must share)."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.int64, device=self.device)
        dist.broadcast(tensor, src=0)
        return tensor.tolist()

    def broadcast(self, modules: Iterable[nn.Module]) -> None:
        """Rank 0's parameters and buffers into every process's copy of `modules`."""
        if not self.distributed:
            return
        for module in modules:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        """Until every process has come here (rank 0's files are then written)."""
        if self.distributed:
            dist.barrier()


@contextlib.contextmanager
def training_placement(device: str, data_workers: int | None = None) -> Iterator[Placement]:
    """This process's placement on `device` (auto, cpu, cuda, cuda:N): alone, or under torchrun (which sets
    WORLD_SIZE, RANK and LOCAL_RANK) one of several, its process group started for the while (gloo on the CPU,
    NCCL on GPUs). `data_workers`: processes that make batches ahead (None: none on a CPU, a few for a GPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ["LOCAL_RANK"]) if world_size > 1 else None
    resolved = resolve_device(device, local_rank)
    if data_workers is None:
        data_workers = GPU_DATA_WORKERS if resolved.type == "cuda" else 0
    if world_size == 1:
        yield Placement(resolved, data_workers=data_workers)
        return
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=WAIT_FOR_RANK_0, device_id=resolved if backend == "nccl" else None)
    try:
        if backend == "gloo":
            _agree_on_cpu_precision()
        yield Placement(resolved, dist.get_rank(), world_size, data_workers)
        # Every process done with the group before any tears it down: one that closed its connections while
        # another still read from them aborted the other at exit (seen once in a full test run under load).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _agree_on_cpu_precision() -> None:
    """Every process takes rank 0's timing of bfloat16 on this CPU, so that `precision: auto` is one precision for
    all of them (each timing alone, beside the others, could answer differently near the threshold)."""
    decision = torch.tensor([int(bf16_pays_on_cpu()) if dist.get_rank() == 0 else 0])
    dist.broadcast(decision, src=0)
    adopt_cpu_decision(bool(decision.item()))
