"""ganc's configuration: environment variables with the prefix GANC_, each with a laptop default."""

import json
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "GANC_"
TRITON_CONTROL_HEADER = "ganc-triton-control"

# Path lists are read as people write them (`/data`, or `/data:/more` as PATH is), or as a JSON list.
PathList = Annotated[list[Path], NoDecode]


class SettingsError(ValueError):
    """A GANC_ variable whose value cannot be used; the message names each one and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    model_repository: Path = Path("model_repository")

    # jobs: broker, results and the shared jobs folder (the laptop default needs no server)
    jobs_root: Path = Field(Path("var/jobs"), description="job folders, shared by gateways and workers")
    broker_url: str = Field("sqla+sqlite:///var/broker.sqlite", description="redis://host:6379/0 in deployment")
    result_backend: str = Field("db+sqlite:///var/results.sqlite", description="redis://host:6379/1 in deployment")
    visibility_timeout_s: int = Field(48 * 3600, gt=0, description="redelivery after; above the longest job")
    job_max_attempts: int = Field(3, ge=1, description="a job whose worker is lost this often fails")
    heartbeat_s: float = Field(30.0, gt=0, description="how often a running job's worker says it is alive")
    heartbeat_stale_s: float = Field(
        300.0, gt=0, description="a job's worker on another host silent for this long is lost: the job resumes"
    )
    worker_host: str = Field(
        default_factory=socket.gethostname,
        description="the host in a worker's name in job records (default: the hostname; a pod's, in Kubernetes): "
        "a worker takes a job whose worker shares it as local, alive while its process is",
    )
    job_time_limit_s: float = Field(24 * 3600, gt=0, description="a job's hard time limit when its spec sets none")
    # retention
    job_work_retention_days: float = Field(7, gt=0, description="a finished job's work folder is kept this long")
    job_results_expire_s: int = Field(7 * 24 * 3600, gt=0, description="Celery's results are kept this long")
    keep_versions: int = Field(3, ge=1, description="the newest versions of each model that publishing keeps")
    # the largest job a server takes over HTTP (a big machine raises them)
    spec_max_size: int = Field(4096, gt=0, description="pixels: dataset.size, dataset.crop_size, search.size")
    spec_max_width: int = Field(512, gt=0, description="channels: teacher.ngf, teacher.ndf")
    spec_max_steps: int = Field(1_000_000, gt=0, description="every stage's steps, and the search's iterations")
    spec_max_batch: int = Field(256, gt=0, description="every stage's batch_size, and the search's population")
    spec_max_blocks: int = Field(64, gt=0, description="teacher.n_blocks and teacher.num_downs")
    spec_max_count: int = Field(
        10_000,
        gt=0,
        description="search.threads, exhaustive_limit, calibration_samples, eval_images, screen_images and "
        "int8.calibration_images",
    )
    spec_max_budgets: int = Field(8, gt=0, description="budgets of a search: each is a variant every gateway loads")
    spec_max_weight: float = Field(10_000.0, gt=0, description="every loss weight (lambda_*)")
    spec_max_text: int = Field(1024, gt=0, description="characters of every text and path of a spec")
    worker_memory_mb: int = Field(
        16_384, gt=0, description="memory a job may use on a worker: a spec estimated above it is refused"
    )
    worker_metrics_port: int = Field(9101, ge=0, description="the worker's Prometheus port (0: none)")
    gateway_metrics_port: int = Field(
        9102,
        ge=0,
        description="the gateway's Prometheus port, apart from the API's so that only monitoring reaches it (0: none)",
    )
    metrics_host: str = Field(
        "0.0.0.0", description="address the worker's and the gateway's Prometheus ports listen on"
    )
    api_token: str | None = Field(None, description="bearer token of the job endpoints (unset: they refuse everything)")
    data_roots: PathList = Field(default_factory=lambda: [Path("data")], description="folders job specs may read")
    debug: bool = Field(
        False, description="the command line prints the traceback of a failure that is not a refusal (`--debug`)"
    )

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
    triton_control_key: str | None = Field(
        None,
        description=f"sent as the {TRITON_CONTROL_HEADER} header with every model load, for a Triton started with "
        f"--http-restricted-api=model-repository:{TRITON_CONTROL_HEADER}=<key> (a Python-backend model is code)",
    )
    triton_manage_models: bool = Field(True, description="ask Triton to load published models (explicit mode)")
    # gateway: processes and requests
    gateway_workers: int = Field(1, ge=1, description="gateway processes under bentoml serve: 1 (see below)")
    max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_pixels: int = Field(16_000_000, gt=0)
    max_in_flight: int = Field(64, ge=1, description="more concurrent requests than this get 429")
    max_decoded_mb: float = Field(
        2048, gt=0, description="memory that the images in flight may take once decoded; an image past it gets 429"
    )
    max_latency_ms: float = Field(
        30_000, gt=0, description="a request without a budget gets the best variant predicted within this (else 413)"
    )
    tile_size: int = Field(512, ge=64, description="larger images run in tiles of this side, blended")
    tile_overlap: int = Field(64, ge=0, description="pixels that neighbouring tiles share, blended across")
    statistics_size: int = Field(
        768,
        ge=64,
        description="tiles of a variant whose card says so share the normalisation statistics of one copy of the "
        "image, downscaled to at most this side squared in pixels",
    )
    catalog_poll_s: float = Field(2.0, gt=0, description="how often the gateway looks for new versions")
    warmup_runs: int = Field(3, ge=1)
    warmup_size: int = Field(256, ge=16)
    probe_backoff_s: float = Field(1.0, gt=0, description="first wait before probing a failed backend again")
    probe_backoff_max_s: float = Field(30.0, gt=0)
    remeasure_s: float = Field(
        10.0, gt=0, description="a backend not measured on a variant for this long gets a request without a budget"
    )

    @model_validator(mode="after")
    def _tiles_overlap_less_than_half(self) -> "Settings":
        if self.tile_overlap * 2 >= self.tile_size:
            raise ValueError(
                f"{ENV_PREFIX}TILE_OVERLAP ({self.tile_overlap}) must be under half of {ENV_PREFIX}TILE_SIZE "
                f"({self.tile_size})"
            )
        return self

    @model_validator(mode="after")
    def _one_gateway_process(self) -> "Settings":
        # Admission (GANC_MAX_IN_FLIGHT, GANC_MAX_DECODED_MB), the latency estimates and the routing by budget are
        # one process's view: processes beside it would each see only their own queue. One process uses every
        # core already (inference, decoding and encoding run in threads, onnxruntime without the GIL).
        if self.gateway_workers > 1:
            raise ValueError(
                f"{ENV_PREFIX}GATEWAY_WORKERS ({self.gateway_workers}): a gateway is one process, whose threads use "
                "every core; its admission and latency estimates are that process's, so more processes would each "
                "route blind to the others' queues. Run more gateways (replicas) behind a load balancer instead"
            )
        return self

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_path_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("starts with '[' but is not a JSON list of paths") from None
        return [part for part in value.split(":") if part]


def get_settings(**given: Any) -> Settings:
    """The settings from the environment (and `given`, which a command's options set), or SettingsError naming every
    bad variable on one line."""
    try:
        return Settings(**given)
    except ValidationError as error:
        raise SettingsError("; ".join(_describe(problem) for problem in error.errors())) from None


def _describe(problem: dict) -> str:
    message = problem["msg"].removeprefix("Value error, ")
    if not problem["loc"]:  # a rule across several variables, which the message names
        return message
    return f"{ENV_PREFIX}{str(problem['loc'][0]).upper()}: {message}"


def settings_or_exit() -> Settings:
    """For entry points outside the command line (the Bento, the Celery app): one line and exit status 1."""
    try:
        return get_settings()
    except SettingsError as error:
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(1) from None
