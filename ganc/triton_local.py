"""Run the Triton server binary that the nvidia-pytriton wheel ships, on loopback ports.

That build has only the Python backend, so it serves the Python flavour of a repository
(see python_flavour.py). The wheel's stub for this interpreter's Python version is placed in a
private backend folder, and the server finds libpython first, then the wheel's own libraries.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


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
        env = dict(os.environ)
        libs = [sysconfig.get_config_var("LIBDIR"), str(root.parent / "nvidia_pytriton.libs")]
        env["LD_LIBRARY_PATH"] = ":".join([*libs, env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
        # The stub embeds Python and finds its prefix through the `python3` on PATH: put this
        # environment's first, so models see its packages (onnxruntime, numpy).
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
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
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_live(timeout_s)

    def _wait_live(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://{self.http_url}/v2/health/live", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"tritonserver did not become live in {timeout_s}s; see {self.log_path}")

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
