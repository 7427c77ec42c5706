"""Servers the tests start on loopback ports: free ports, readiness waits, and the Triton server binary that the
nvidia-pytriton wheel ships.

That Triton build has only the Python backend, so it serves the Python flavour of a repository (see
ganc/python_flavour.py). The wheel's stub for this interpreter's Python version is placed in a private backend
folder, and the server finds libpython first, then the wheel's own libraries."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from ganc.settings import TRITON_CONTROL_HEADER
from tests.support import processes


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


def with_metrics_port(**fields) -> dict:
    """Settings fields with the gateway's metrics on a free loopback port (tests open none unless asked)."""
    return {**fields, "gateway_metrics_port": free_port(), "metrics_host": "127.0.0.1"}


def scrape(port: int) -> str:
    """What the metrics port `port` on loopback says."""
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Until GET `url` answers 200; fail with the end of `log` if `process` dies or time runs out."""
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


def wait_for_redis(client: redis.Redis, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class TritonUnavailableError(RuntimeError):
    """The nvidia-pytriton wheel (and so the server binary) is not installed."""


def pytriton_root() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise TritonUnavailableError("nvidia-pytriton is not installed; `pip install nvidia-pytriton`")
    return Path(spec.origin).parent


@dataclass
class LocalTriton:
    """A tritonserver process over `repository`, in explicit model-control mode by default."""

    repository: Path
    workdir: Path
    http_port: int
    grpc_port: int
    metrics_port: int
    model_control: str = "explicit"
    control_key: str | None = None  # its repository API then asks for it (ganc's TRITON_CONTROL_HEADER)
    process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "tritonserver.log"

    def start(self, timeout_s: float = 60.0) -> None:
        root = pytriton_root()
        server = root / "tritonserver"
        backends = self.workdir / "backends"
        if not backends.exists():
            shutil.copytree(server / "backends", backends)
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            shutil.copy(
                server / "python_backend_stubs" / version / "triton_python_backend_stub",
                backends / "python" / "triton_python_backend_stub",
            )
        libs = [sysconfig.get_config_var("LIBDIR"), str(root.parent / "nvidia_pytriton.libs")]
        env = {
            "LD_LIBRARY_PATH": ":".join([*libs, os.environ.get("LD_LIBRARY_PATH", "")]).rstrip(":"),
            # The stub embeds Python and finds its prefix through the `python3` on PATH: put this
            # environment's first, so models see its packages (onnxruntime, numpy).
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        command = [
            str(server / "bin" / "tritonserver"),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--model-control-mode={self.model_control}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--exit-on-error=false",
            "--strict-readiness=false",
            # A stop would otherwise wait 30 s for a gateway's kept-alive connection to close.
            "--exit-timeout-secs=2",
        ]
        if self.control_key:
            command += [
                f"--http-restricted-api=model-repository:{TRITON_CONTROL_HEADER}={self.control_key}",
                f"--grpc-restricted-protocol=model-repository:{TRITON_CONTROL_HEADER}={self.control_key}",
            ]
        self.process = processes.spawn(command, env, self.log_path)
        wait_for_http(f"http://{self.http_url}/v2/health/live", self.process, self.log_path, timeout_s)

    def stop(self) -> None:
        if self.process is not None:
            processes.stop(self.process)
