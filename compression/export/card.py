"""Fill a variant card from a model, its spec and its exported file (DESIGN.md rule 4: computed once, here)."""

from datetime import UTC, datetime
from pathlib import Path

import onnx
from torch import nn

from ganc.card import MACS_SIZE, VariantCard
from ganc.repository import sha256_file
from ganc.repository.image_statistics import normalisation_layers

from ..metrics import count_macs
from ..models import ModelSpec
from .onnx import OPSET, size_multiple


def make_card(
    spec: ModelSpec,
    model: nn.Module,
    onnx_path: Path,
    *,
    family: str,
    variant: str,
    task: str,
    fp16: bool = False,
    teacher: str | None = None,
    job: str | None = None,
    quality: dict[str, float] | None = None,
    quality_against: str = "target",
    latency_ms: dict[str, float] | None = None,
) -> VariantCard:
    channels_in = int(spec.options.get("input_nc", 3))
    counts = count_macs(model, MACS_SIZE, channels_in)
    config = spec.options.get("config")
    return VariantCard(
        family=family,
        variant=variant,
        task=task,
        architecture=spec.arch,
        architecture_options=spec.options,
        config=str(config) if config is not None else None,
        channels_in=channels_in,
        channels_out=int(spec.options.get("output_nc", 3)),
        macs=counts.macs,
        macs_real=counts.macs_real,
        params=counts.params,
        quality=quality or {},
        quality_against=quality_against,
        latency_ms=latency_ms or {},
        size_multiple=size_multiple(model),
        # Measured on vintage and sr4x (docs/tiling.md): tiles that share a copy's statistics answer closer to the
        # whole image than tiles that normalise on their own, for a style and for a restoration family alike.
        tile_statistics="image" if normalisation_layers(onnx.load(onnx_path)) else "tile",
        precision="fp16" if fp16 else "fp32",
        opset=OPSET,
        teacher=teacher,
        job=job,
        created_at=datetime.now(UTC),
        onnx_sha256=sha256_file(onnx_path),
    )
