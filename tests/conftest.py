import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: every socket stays bound until all are chosen, so none repeats."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


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


def card_fields(onnx_path: Path, **overrides) -> dict:
    from ganc.repository import sha256_file

    fields = dict(
        family="tiny",
        variant="s8",
        task="sr4x",
        architecture="sub_mobile_resnet",
        architecture_options={"config": "8_8_8_8_8_8_8_8", "n_blocks": 3},
        config="8_8_8_8_8_8_8_8",
        macs=1000,
        macs_real=800,
        params=100,
        size_multiple=4,
        opset=17,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        onnx_sha256=sha256_file(onnx_path),
    )
    fields.update(overrides)
    return fields


def wait_for_http(url: str, process, log: Path, timeout_s: float = 120) -> None:
    """Until GET `url` answers 200; fail with the end of `log` if `process` dies or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (
            f"{url} never answered:\n{log.read_text()[-3000:]}"
        )
        time.sleep(0.5)
