"""Where training runs: device names resolved, and every device this machine lacks refused in one line."""

import pytest
import torch

from compression.device import DeviceError, device_of, resolve_device


def test_the_cpu_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_on_a_machine_without_it_is_refused(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=f"device {name}: this machine has no CUDA device") as refused:
        resolve_device(name)
    assert len(str(refused.value).splitlines()) == 1


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", "mps", ""])
def test_names_that_are_no_device_are_refused(name):
    with pytest.raises(DeviceError, match="name auto, cpu, cuda or cuda:N"):
        resolve_device(name)


@pytest.fixture
def two_gpus(monkeypatch):
    """What torch says on a machine with two GPUs (no GPU is touched: only indexes are resolved)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_gpus_by_index_and_by_local_rank(two_gpus):
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=1) == resolve_device("auto", local_rank=1) == torch.device("cuda", 1)


def test_a_gpu_index_that_does_not_exist_is_refused(two_gpus):
    with pytest.raises(DeviceError, match=r"device cuda:2: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceError, match="device cuda:2"):
        resolve_device("cuda", local_rank=2)  # a third process on a machine with two GPUs


def test_one_gpu_named_for_several_processes_is_refused(two_gpus):
    with pytest.raises(DeviceError, match="each on the GPU of its local rank; name `cuda`"):
        resolve_device("cuda:1", local_rank=0)


def test_a_model_is_where_its_parameters_are():
    assert device_of(torch.nn.Conv2d(1, 1, 1)) == torch.device("cpu")
    assert device_of(torch.nn.Identity()) == torch.device("cpu")
