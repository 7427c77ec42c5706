"""A stage's placement: its share of each global batch, what one process does alone, and batches made ahead by
data workers exactly as in process."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from compression import precision
from compression.training.placement import Placement, PlacementError, training_placement
from compression.training.run import step_inputs
from tests.support.servers import free_port


def test_each_process_takes_its_equal_rows_of_the_global_batch():
    batch, targets = torch.arange(8).reshape(4, 2), torch.arange(4)
    shares = [Placement(rank=rank, world_size=2).shard(batch, targets) for rank in (0, 1)]
    assert [share[1].tolist() for share in shares] == [[0, 1], [2, 3]]
    assert torch.equal(torch.cat([share[0] for share in shares]), batch)
    assert torch.equal(Placement().shard(batch)[0], batch)


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused():
    Placement(world_size=2).check_batch(4, "supernet")
    with pytest.raises(PlacementError, match="supernet.batch_size 3 does not split over 2 training processes"):
        Placement(world_size=2).check_batch(3, "supernet")


def test_alone_a_process_writes_and_averages_nothing():
    placement = Placement()
    assert placement.writes and not placement.distributed
    parameter = torch.nn.Parameter(torch.ones(2))
    parameter.grad = torch.full((2,), 3.0)
    placement.average_gradients([parameter])
    placement.barrier()
    assert parameter.grad.tolist() == [3.0, 3.0] and placement.average({"loss": 2.0}) == {"loss": 2.0}


def test_without_torchrun_a_process_trains_alone_on_the_cpu_with_no_data_workers(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with training_placement("auto") as placement:
        assert placement == Placement(torch.device("cpu"), 0, 1, 0)
    with training_placement("cpu", data_workers=2) as placement:
        assert placement.data_workers == 2


def made(step: int) -> tuple[torch.Tensor, ...]:
    """A step's inputs as a trainer makes them, a pure function of the step (in ganc, of seed and step), and the
    process that made them."""
    generator = torch.Generator().manual_seed(step)
    return torch.rand(2, 3, generator=generator), torch.full((2,), float(step)), torch.tensor(os.getpid())


@pytest.mark.parametrize("workers", [0, 2])
def test_data_workers_make_the_inputs_of_every_step_in_order_from_where_a_run_resumes(workers):
    trainer = SimpleNamespace(inputs=made, training=SimpleNamespace(steps=9), placement=Placement(data_workers=workers))
    seen = list(step_inputs(trainer, start=4))
    assert [step for step, _ in seen] == [4, 5, 6, 7, 8]
    for step, inputs in seen:
        assert all(torch.equal(a, b) for a, b in zip(inputs[:2], made(step)[:2]))
    makers = {int(inputs[2]) for _, inputs in seen}
    assert (os.getpid() in makers) == (workers == 0)  # with workers, made in their processes


def resolve_auto_as_rank(rank: int, port: int, speedups: list[float], out: str) -> None:
    """One of two processes training together, whose own timing of bfloat16 would be `speedups[rank]`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    os.environ["LOCAL_RANK"] = str(rank)
    precision.native_bf16 = lambda: True
    precision.cpu_bf16_speedup = lambda: speedups[rank]
    with training_placement("cpu"):
        Path(out, f"rank{rank}").write_text(precision.resolve("auto"))


@pytest.mark.parametrize("speedups, expected", [([2.0, 0.5], "bf16"), ([0.5, 2.0], "fp32")])
def test_processes_training_together_take_rank_0s_precision(tmp_path, speedups, expected):
    torch.multiprocessing.spawn(resolve_auto_as_rank, args=(free_port(), speedups, str(tmp_path)), nprocs=2)
    assert [(tmp_path / f"rank{rank}").read_text() for rank in (0, 1)] == [expected, expected]


def decide_as_rank(rank: int, port: int, out: str) -> None:
    """One of two processes training together, each with its own decision of steps."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    os.environ["LOCAL_RANK"] = str(rank)
    with training_placement("cpu") as placement:
        Path(out, f"rank{rank}").write_text(str(placement.rank_0s([100 + rank, 50 + rank])))


def test_processes_training_together_take_rank_0s_decision(tmp_path):
    # A time limit's steps: every process must train as many, whatever its own timing said.
    torch.multiprocessing.spawn(decide_as_rank, args=(free_port(), str(tmp_path)), nprocs=2)
    assert [(tmp_path / f"rank{rank}").read_text() for rank in (0, 1)] == ["[100, 50]", "[100, 50]"]
