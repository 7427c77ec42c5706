"""Generator checkpoints that carry their own architecture, so they rebuild without guessing."""

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganc.atomic import replacing

from .models import ModelSpec

FORMAT = "ganc-checkpoint/1"
IMPORTED = "imported"  # the kind of a checkpoint holding a generator made elsewhere (see foreign.py)


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit its architecture."""


def described(spec: ModelSpec, model: nn.Module) -> dict[str, Any]:
    """A network as a checkpoint holds it (the generator, a discriminator): its factory, options and weights."""
    return {"arch": spec.arch, "options": spec.options, "state_dict": model.state_dict()}


def rebuilt(description: dict[str, Any], source: Path) -> tuple[ModelSpec, nn.Module]:
    """The network a `described` entry of the checkpoint at `source` holds, with its weights."""
    spec = ModelSpec(description["arch"], dict(description["options"]))
    model = spec.build()
    try:
        model.load_state_dict(description["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint {source} does not fit {spec.arch}: {str(error).splitlines()[0]}") from None
    return spec, model


def checkpoint_payload(spec: ModelSpec, model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The generator (spec and weights) plus any `extra` entries, as a checkpoint holds them."""
    return {"format": FORMAT, "generator": described(spec, model), **extra}


def save_checkpoint(path: Path, spec: ModelSpec, model: nn.Module, **extra: Any) -> None:
    """Write the generator plus any `extra` training state, atomically."""
    write_payload(path, checkpoint_payload(spec, model, **extra))


def write_payload(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
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


def read_torch_file(path: Path) -> Any:
    """What a file that torch.save wrote holds: tensors and plain containers only (never code), on the CPU."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "safe_globals" in str(error):  # torch names the class it refused to build
            raise CheckpointError(
                f"checkpoint {path} holds Python objects besides tensors (a pickled model?): save its state_dict()"
            ) from None
        raise CheckpointError(f"checkpoint {path} is unreadable: not a PyTorch file") from None
    except Exception:  # torch raises many types for a truncated file
        raise CheckpointError(f"checkpoint {path} is unreadable: not a PyTorch file, or truncated") from None


def is_ganc_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dictionary (from a file or a run folder's latest), checked for the ganc format."""
    path = resolve_checkpoint(path)
    payload = read_torch_file(path)
    if not is_ganc_checkpoint(payload):
        raise CheckpointError(f"{path} is not a ganc checkpoint ({FORMAT})")
    return payload


def generator_of(payload: dict[str, Any], source: Path) -> tuple[ModelSpec, nn.Module]:
    """Rebuild the generator a checkpoint holds, in eval mode."""
    spec, model = rebuilt(payload["generator"], source)
    return spec, model.eval()


def load_generator(path: Path) -> tuple[ModelSpec, nn.Module]:
    """Rebuild the generator stored in the checkpoint (or run folder) at `path`, in eval mode."""
    return generator_of(load_checkpoint(path), path)
