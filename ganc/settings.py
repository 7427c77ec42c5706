"""ganc's configuration: environment variables with the prefix GANC_, each with a laptop default."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANC_")

    model_repository: Path = Path("model_repository")

    # jobs: broker, results and the shared jobs folder (the laptop default needs no server)
    jobs_root: Path = Field(Path("var/jobs"), description="job folders, shared by gateways and workers")
    broker_url: str = Field("sqla+sqlite:///var/broker.sqlite", description="redis://host:6379/0 in deployment")
    result_backend: str = Field("db+sqlite:///var/results.sqlite", description="redis://host:6379/1 in deployment")
    visibility_timeout_s: int = Field(48 * 3600, gt=0, description="redelivery after; above the longest job")
    worker_metrics_port: int = Field(9101, ge=0, description="the worker's Prometheus port (0: none)")
    api_token: str | None = Field(None, description="bearer token of the job endpoints (unset: they refuse everything)")
    data_roots: list[Path] = Field(default_factory=lambda: [Path("data")], description="folders job specs may read")

    # gateway: CPU backend (onnxruntime in process)
    cpu_backend: bool = Field(True, description="serve in process on the CPU (off: a Triton-only gateway)")
    cpu_threads: int = Field(
        0, ge=0, description="cores for inference (0: all): a lone request uses all, concurrent ones one each"
    )
    # gateway: Triton backend (off unless a URL is set)
    triton_url: str | None = Field(None, description="Triton's HTTP address, e.g. 127.0.0.1:8000")
    triton_concurrency: int = Field(4, ge=1)
    triton_timeout_s: float = Field(10.0, gt=0)
    triton_hardware: str = Field("triton", description="hardware label of the Triton backend, e.g. 'NVIDIA H200'")
    triton_manage_models: bool = Field(True, description="ask Triton to load published models (explicit mode)")
    # gateway: processes and requests
    gateway_workers: int = Field(1, ge=1, description="gateway worker processes under bentoml serve")
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_pixels: int = Field(16_000_000, gt=0)
    max_in_flight: int = Field(64, ge=1, description="more concurrent requests than this get 429")
    catalog_poll_s: float = Field(2.0, gt=0, description="how often the gateway looks for new versions")
    warmup_runs: int = Field(3, ge=1)
    warmup_size: int = Field(256, ge=16)
    probe_backoff_s: float = Field(1.0, gt=0, description="first wait before probing a failed backend again")
    probe_backoff_max_s: float = Field(30.0, gt=0)


def get_settings() -> Settings:
    return Settings()
