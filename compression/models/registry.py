"""A registry of model builders keyed by name: the one factory that builds every network.

Builders take JSON-serialisable options only, so that a checkpoint or a variant card can
record (name, options) and rebuild the exact network later without guessing.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

ModelBuilder = Callable[..., nn.Module]

_BUILDERS: dict[str, ModelBuilder] = {}


class UnknownModelError(ValueError):
    """Raised for a model name that nothing registered."""


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register `builder` under `name`; a duplicate name is a programming error."""

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorate


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def build_model(name: str, **options: Any) -> nn.Module:
    """Build the model registered as `name` with `options` (raises on unknown names or options)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {name!r}; known: {', '.join(list_models())}") from None
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown options for architecture {name!r}: {', '.join(unknown)}")
    return builder(**options)


@dataclass(frozen=True)
class ModelSpec:
    """A factory name and its JSON-serialisable options: enough to rebuild a network."""

    arch: str
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> nn.Module:
        return build_model(self.arch, **self.options)
