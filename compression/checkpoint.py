"""Generator checkpoints that carry their own architecture, so they rebuild without guessing."""

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganc.atomic import replacing

from .models import ModelSpec

FORMAT = "ganc-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit its architecture."""


def save_checkpoint(path: Path, spec: ModelSpec, model: nn.Module, **extra: Any) -> None:
    """Write the generator (spec and weights) plus any `extra` training state, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "generator": {"arch": spec.arch, "options": spec.options, "state_dict": model.state_dict()},
        **extra,
    }
    with replacing(path) as temporary:
        torch.save(payload, temporary)


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file is itself; a run folder means its latest `checkpoints/step_*.pt`."""
    if path.is_dir():
        steps = sorted((path / "checkpoints").glob("step_*.pt"))
        if not steps:
            raise CheckpointError(f"run {path} has no checkpoint")
        return steps[-1]
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The raw checkpoint dictionary (from a file or a run folder's latest), checked for the ganc format."""
    path = resolve_checkpoint(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a truncated or foreign file
        raise CheckpointError(f"checkpoint {path} is unreadable: {str(error).splitlines()[0]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganc checkpoint ({FORMAT})")
    return payload


def load_generator(path: Path) -> tuple[ModelSpec, nn.Module]:
    """Rebuild the generator stored in the checkpoint (or run folder) at `path`, in eval mode."""
    generator = load_checkpoint(path)["generator"]
    spec = ModelSpec(generator["arch"], dict(generator["options"]))
    model = spec.build()
    try:
        model.load_state_dict(generator["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint {path} does not fit {spec.arch}: {str(error).splitlines()[0]}") from None
    return spec, model.eval()
