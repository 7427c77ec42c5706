import os
from pathlib import Path

import pytest

from tests.support import running, stop_all

# Gateways the tests start (in process or not) open no metrics port unless a test gives one: they would all
# want the default's. The tests that read metrics give a free one (tests.support.with_metrics_port).
os.environ.setdefault("GANC_GATEWAY_METRICS_PORT", "0")


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session():
    """Stop whatever `spawn` started and nothing stopped; fail if any of it still runs after SIGKILL."""
    yield
    stop_all(running())


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """Stop what a test started through `spawn` as soon as it ends, passed or failed, so leaks don't pile up.

    Servers of module or session fixtures that the test requests start before this fixture and are left to their
    own teardown (pytest sets up wider scopes first)."""
    earlier = running()
    yield
    stop_all(p for p in running() if p not in earlier)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    """A small real generator exported once per session, for repository and Triton tests."""
    import torch

    from compression.export import export_onnx
    from compression.models import ModelSpec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(ModelSpec("sub_mobile_resnet", {"config": "8_8_8_8_8_8_8_8", "n_blocks": 3}).build(), path)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run where torch sees a CUDA device, and are skipped elsewhere."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_tests:
        import torch

        if not torch.cuda.is_available():
            for item in gpu_tests:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
