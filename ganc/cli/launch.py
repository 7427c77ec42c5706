"""Several training processes on this machine, started by torch's own launcher (what torchrun runs).

`ganc compress --nproc-per-node N` runs the same command in N processes under torch.distributed's elastic
launcher: rank 0's progress on the console as it goes and its result at the end, every rank's output in a log
folder, and a rank that fails reported in one line, the launcher having stopped the others. Across machines,
run torchrun itself (docs/compress.md).
"""

import logging
import os
import sys
from pathlib import Path

from .errors import NOT_A_REFUSAL


class LaunchError(RuntimeError):
    """Training processes that could not start, or one that failed."""


def check_process_count(nproc: int, device: str) -> None:
    """Refuse more processes than the devices they would train on (GPUs, or the CPU's cores), and a device this
    machine does not have."""
    import torch

    from compression.device import resolve_device

    if resolve_device(device).type == "cpu":
        cores = os.cpu_count() or 1
        if nproc > cores:
            raise LaunchError(
                f"--nproc-per-node {nproc}: this machine has {cores} CPU cores (one process each at most)"
            )
        return
    if device not in ("auto", "cuda"):
        raise LaunchError(
            f"--nproc-per-node {nproc} with device {device}: each process takes the GPU of its rank; name `cuda` "
            "(or `auto`) and choose the GPUs with CUDA_VISIBLE_DEVICES"
        )
    gpus = torch.cuda.device_count()
    if nproc > gpus:
        raise LaunchError(f"--nproc-per-node {nproc}: this machine has {gpus} CUDA device{'s' if gpus != 1 else ''}")


def launch(nproc: int, arguments: list[str], log_dir: Path) -> str:
    """Run `ganc <arguments>` in `nproc` processes that train together and return what rank 0 printed; raise
    LaunchError naming the first that failed and its last line of error."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # Each process computes on its share of the cores (torchrun's own default is one thread each).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    log_dir.mkdir(parents=True, exist_ok=True)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"ganc-{os.getpid()}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.5,
        role="rank",  # rank 0's progress is shown live, each line headed [rank0]:
        logs_specs=DefaultLogsSpecs(log_dir=str(log_dir), redirects=Std.ALL, tee=Std.ERR, local_ranks_filter={0}),
    )
    ganc = str(Path(sys.executable).parent / "ganc")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the one line below says it all
    try:
        elastic_launch(config, ganc)(*arguments)
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        errors = {r: _last_error(_log(log_dir, r, "stderr")) for r in range(nproc)}
        # A rank that refused its input is the cause; the others then lose their peer and fail after it.
        refused = [r for r, (_, refusal) in errors.items() if refusal]
        if refused:
            raise LaunchError(f"training process {refused[0]} of {nproc} failed: {errors[refused[0]][0]}") from None
        if failure.exitcode < 0:
            cause = f"was killed by {failure.signal_name()}"
        else:
            cause = f"failed: {errors[rank][0]}" if errors[rank][0] else f"ended with exit status {failure.exitcode}"
        raise LaunchError(f"training process {rank} of {nproc} {cause} (its output: {log_dir})") from None
    return _log(log_dir, 0, "stdout").read_text()


def _log(log_dir: Path, rank: int, stream: str) -> Path:
    """Rank `rank`'s latest log of `stream` under `log_dir`, where the launcher keeps them."""
    logs = sorted(log_dir.rglob(f"attempt_*/{rank}/{stream}.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else log_dir / "missing.log"


def _last_error(log: Path) -> tuple[str, bool]:
    """The last `error:` line of `log` (empty: none), and whether it was a refusal of input (one line, no
    traceback: see ganc/cli/errors.py)."""
    lines = [line for line in (log.read_text(errors="replace") if log.is_file() else "").splitlines() if line.strip()]
    said = [number for number, line in enumerate(lines) if line.startswith("error: ")]
    if not said:
        return "", False
    following = lines[said[-1] + 1 : said[-1] + 2]
    return lines[said[-1]].removeprefix("error: "), not any(NOT_A_REFUSAL in line for line in following)
