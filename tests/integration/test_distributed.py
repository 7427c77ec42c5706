"""Training processes that share every batch (torchrun, gloo on the CPU): the same result as one process, resumed
mid-stage, files written once, the whole pipeline under `ganc compress --nproc-per-node`, and a failing rank."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from compression.checkpoint import load_checkpoint, load_generator
from ganc.repository import read_index
from tests.support import GANC, TINY, process_table, spawn

ROOT = Path(__file__).parents[2]
TORCHRUN = str(Path(sys.executable).parent / "torchrun")
RUN = ["-m", "tests.support.distributed_distill"]  # a supernet distilled at batch 4, every 2 steps


def finish(command: list[str], log: Path, env: dict[str, str] | None = None, timeout_s: float = 600) -> int:
    process = spawn(command, {"PYTHONPATH": str(ROOT), **(env or {})}, log, cwd=ROOT)
    return process.wait(timeout=timeout_s)


def distill(teacher: Path, out: Path, steps: int, processes: int, *extra: str) -> None:
    if processes == 1:
        command = [sys.executable, *RUN, str(teacher), str(out), str(steps), *extra]
    else:
        command = [TORCHRUN, "--standalone", f"--nproc-per-node={processes}", *RUN, str(teacher), str(out), str(steps)]
        command += list(extra)
    log = out.with_suffix(".log")
    assert finish(command, log, {"OMP_NUM_THREADS": "1"}) == 0, log.read_text()[-3000:]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    subprocess.run(
        [GANC, "data", "sample", "--task", "edges2photo", "--size", "32", "--out", str(folder / "data")], check=True
    )
    train = [GANC, "train", "teacher", "--dataset", str(folder / "data"), "--ngf", "8", "--n-blocks", "3"]
    subprocess.run([*train, "--ndf", "8", "--steps", "2", "--every", "2", "--out", str(folder / "run")], check=True)
    return folder / "run"


def outputs(run: Path) -> torch.Tensor:
    _, model = load_generator(run)
    with torch.no_grad():
        return model.eval()(torch.linspace(-1, 1, 4 * 3 * 32 * 32).reshape(4, 3, 32, 32))


def test_two_processes_train_as_one_with_the_same_global_batch(teacher, tmp_path):
    distill(teacher, tmp_path / "one", 2, 1)
    distill(teacher, tmp_path / "two", 2, 2)
    # Only the order of float sums differs (each process sums over its half): the students agree to float
    # precision (measured: 1e-4 at most over a [-1, 1] range, most pixels 1e-5). Longer, two runs drift apart as
    # much as one process does with another thread count (45 dB of agreement after 4 steps, measured either way),
    # which is no property of sharing the batch.
    assert (outputs(tmp_path / "one") - outputs(tmp_path / "two")).abs().max() < 1e-3
    one, two = ((tmp_path / run / "train_log.csv").read_text().splitlines() for run in ("one", "two"))
    assert len(two) == 3 and [r.split(",")[:3] for r in one] == [r.split(",")[:3] for r in two]  # step, losses


def test_two_processes_resume_mid_stage_and_write_each_file_once(teacher, tmp_path):
    run = tmp_path / "run"
    distill(teacher, run, 4, 2)
    whole = load_checkpoint(run / "checkpoints" / "step_0000004.pt")["training"]["modules"]["G"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000002.pt", "step_0000004.pt"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    steps = [line.split(",")[0] for line in (run / "train_log.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2", "3", "4"]  # one row a step: rank 0 alone logs
    assert len((run / "val_log.csv").read_text().splitlines()) == 3

    # Stopped after step 2: resumed by both processes from its checkpoint, it ends where the whole run did.
    (run / "checkpoints" / "step_0000004.pt").unlink()
    distill(teacher, run, 4, 2, "--resume")
    resumed = load_checkpoint(run / "checkpoints" / "step_0000004.pt")["training"]["modules"]["G"]
    assert max((whole[name] - resumed[name]).abs().max().item() for name in whole) < 1e-6
    steps = [line.split(",")[0] for line in (run / "train_log.csv").read_text().splitlines()]
    assert steps == ["step", "1", "2", "3", "4"]


@pytest.mark.gpu
def test_a_stage_trained_on_a_gpu_is_loaded_on_any_machine(teacher, tmp_path):
    distill(teacher, tmp_path / "gpu", 2, 1, "--device", "cuda")
    checkpoint = load_checkpoint(tmp_path / "gpu" / "checkpoints" / "step_0000002.pt")
    assert all(t.device.type == "cpu" for t in checkpoint["training"]["modules"]["G"].values())
    assert torch.isfinite(outputs(tmp_path / "gpu")).all()


def write_spec(tmp_path: Path, **changes) -> Path:
    spec = {**TINY, "family": "tiny-ddp", **changes}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def compress(tmp_path: Path, spec: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [GANC, "compress", str(spec), "--work-dir", str(tmp_path / "work"), "--repo", str(tmp_path / "repo")]
    command += ["--device", "cpu", *extra]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)


def test_compress_with_two_processes_publishes_the_family_once(tmp_path):
    done = compress(tmp_path, write_spec(tmp_path), "--nproc-per-node", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # rank 0's result alone on stdout
    versions = read_index(tmp_path / "repo").versions
    assert "teacher" in result["published"] and len(result["published"]) == len(versions) == 2
    assert {entry.version for entry in versions} == {1}  # published once, by rank 0
    assert "[rank0]:supernet" in done.stderr and "[rank1]" not in done.stderr  # rank 0's progress, live
    logs = sorted((tmp_path / "work" / "ranks").rglob("stderr.log"))
    assert [log.parent.name for log in logs] == ["0", "1"]
    shutil.rmtree(tmp_path / "work")


def test_a_rank_that_refuses_is_named_in_one_line_and_nothing_is_published(tmp_path):
    odd = {**TINY["supernet"], "batch_size": 3}
    done = compress(tmp_path, write_spec(tmp_path, supernet=odd), "--nproc-per-node", "2")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "error: training process 0 of 2 failed: supernet.batch_size 3 does not split over 2 training processes: "
        "make it a multiple of 2 (it is the global batch, shared among them)"
    )
    assert not read_index(tmp_path / "repo").versions
    assert not (tmp_path / "work" / "data").exists()  # refused before any work


def rank_process(launcher: int, rank: int) -> int:
    """The pid of training process `rank` that the launcher `launcher` started (its run is named after it)."""
    wanted = {f"TORCHELASTIC_RUN_ID=ganc-{launcher}".encode(), f"RANK={rank}".encode()}
    for entry in process_table():
        try:
            environ = set(Path(f"/proc/{entry.pid}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ and not entry.ended:
            return entry.pid
    raise AssertionError(f"no training process {rank} of launcher {launcher}")


def test_a_rank_that_dies_mid_stage_is_named_in_one_line_and_nothing_is_published(tmp_path):
    spec = write_spec(tmp_path, supernet={**TINY["supernet"], "steps": 2000, "every": 2000})
    command = [GANC, "compress", str(spec), "--work-dir", str(tmp_path / "work"), "--repo", str(tmp_path / "repo")]
    launcher = spawn([*command, "--device", "cpu", "--nproc-per-node", "2"], {}, tmp_path / "compress.log")
    deadline = time.monotonic() + 300
    while not (tmp_path / "work" / "supernet" / "run" / "config.json").is_file():  # the supernet is training
        assert launcher.poll() is None and time.monotonic() < deadline, (tmp_path / "compress.log").read_text()
        time.sleep(0.5)
    os.kill(rank_process(launcher.pid, 1), signal.SIGKILL)
    assert launcher.wait(timeout=120) == 1
    last = (tmp_path / "compress.log").read_text().strip().splitlines()[-1]
    assert last.startswith("error: training process 1 of 2 was killed by SIGKILL (its output: "), last
    assert not read_index(tmp_path / "repo").versions


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--nproc-per-node", "64"], "--nproc-per-node 64: this machine has"),
        (["--device", "cuda"], "device cuda: this machine has no CUDA device"),
        (["--device", "gpu"], "device 'gpu': name auto, cpu, cuda or cuda:N"),
    ],
)
def test_a_device_or_process_count_this_machine_lacks_is_refused_before_any_work(tmp_path, options, said):
    if "cuda" in options and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = [GANC, "compress", str(write_spec(tmp_path)), "--work-dir", str(tmp_path / "work"), *options]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and said in done.stderr, done.stderr
    assert not (tmp_path / "work").exists()
