"""`ganc worker --gpus`: one worker process per GPU, refused where the GPUs are missing, supervised together."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganc.cli.worker import check_gpus, gpu_environment, parse_gpus, supervise
from ganc.settings import Settings
from tests.support import GANC


def test_gpus_are_distinct_indexes():
    assert parse_gpus("0,1") == [0, 1] and parse_gpus(" 2 ") == [2]
    for given in ("0,0", "a", "0;1", "-1", ""):
        with pytest.raises(ValueError, match="name distinct GPU indexes"):
            parse_gpus(given)


def test_each_gpus_worker_sees_its_gpu_alone_and_exports_metrics_on_its_own_port():
    settings = Settings(worker_metrics_port=9101)
    first, second = gpu_environment(3, 0, settings), gpu_environment(5, 1, settings)
    assert (first["CUDA_VISIBLE_DEVICES"], first["GANC_WORKER_METRICS_PORT"]) == ("3", "9101")
    assert (second["CUDA_VISIBLE_DEVICES"], second["GANC_WORKER_METRICS_PORT"]) == ("5", "9102")
    assert gpu_environment(3, 1, Settings(worker_metrics_port=0))["GANC_WORKER_METRICS_PORT"] == "0"


def test_gpus_the_machine_lacks_are_refused_in_one_line():
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ValueError, match=f"so no GPU {count}, {count + 1}$"):
        check_gpus([count, count + 1])
    if count == 0:
        done = subprocess.run([GANC, "worker", "--gpus", "0"], capture_output=True, text=True, check=False)
        assert done.returncode == 1 and done.stderr == "error: --gpus: this machine has no CUDA device, so no GPU 0\n"


def sleeper(seconds: float, status: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time, sys; time.sleep({seconds}); sys.exit({status})"])


def test_when_one_worker_ends_the_others_are_stopped_and_its_status_is_returned():
    children = [sleeper(60), sleeper(0.2, 3), sleeper(60)]
    started = time.monotonic()
    assert supervise(children) == 3
    assert time.monotonic() - started < 30
    assert [child.returncode for child in children] == [-signal.SIGTERM, 3, -signal.SIGTERM]


def test_a_signal_to_stop_reaches_every_worker():
    script = (
        "import subprocess, sys\n"
        "from ganc.cli.worker import supervise\n"
        "children = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) for _ in range(2)]\n"
        "print(' '.join(str(c.pid) for c in children), flush=True)\n"
        "sys.exit(supervise(children))\n"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in supervisor.stdout.readline().split()]
    deadline = time.monotonic() + 30
    while not catches(supervisor.pid, signal.SIGTERM) and time.monotonic() < deadline:
        time.sleep(0.01)  # a signal sent before supervise() took it would end the supervisor unhandled
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 128 + signal.SIGTERM
    for pid in pids:
        with pytest.raises(ProcessLookupError):  # stopped, and reaped by the supervisor
            os.kill(pid, 0)


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (Linux: the SigCgt mask of /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & (1 << (signum - 1)))
