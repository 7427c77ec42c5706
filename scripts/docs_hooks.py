"""MkDocs hooks (mkdocs.yml): the reference pages, generated from the code at every build so they cannot drift.

- reference/spec.md: every field of the compression spec (ganc/spec.py's pydantic models);
- reference/settings.md: every GANC_* setting (ganc/settings.py);
- reference/http-api.md: every route of the gateway, from its OpenAPI schema (service/app.py).
"""

import json
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MultipleOf
from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ganc.settings import ENV_PREFIX, Settings
from ganc.spec import CompressionSpec

BOUNDS = {
    Ge: ("ge", ">= {}"),
    Gt: ("gt", "> {}"),
    Le: ("le", "<= {}"),
    Lt: ("lt", "< {}"),
    MultipleOf: ("multiple_of", "a multiple of {}"),
}


def on_files(files: Files, config: Any) -> Files:
    for path, text in {
        "reference/spec.md": spec_page(),
        "reference/settings.md": settings_page(),
        "reference/http-api.md": http_api_page(),
    }.items():
        files.append(File.generated(config, path, content=text))
    return files


def spec_page() -> str:
    lines = [
        "# The compression spec",
        "",
        "What `ganc compress SPEC.yaml` and `POST /v1/jobs` take (YAML, or its JSON form), field by field, as "
        "`ganc/spec.py` validates it: unknown fields and values out of bounds are refused with the field named. "
        "A server also bounds what it takes by its `GANC_SPEC_MAX_*` [settings](settings.md).",
    ]
    for name, model in _models(CompressionSpec, "").items():
        lines += [
            "",
            f"## `{name}`" if name else "## The top level",
            "",
            _doc(model),
            "",
            "| field | type | default | bounds | meaning |",
        ]
        lines.append("|---|---|---|---|---|")
        for field, info in model.model_fields.items():
            lines.append(
                f"| `{field}` | {_type(info.annotation)} | {_default(info)} | {_bounds(info)} | "
                f"{_cell(info.description or '')} |"
            )
    return "\n".join(lines) + "\n"


def settings_page() -> str:
    lines = [
        "# Settings",
        "",
        f"Every setting of the gateway, the workers and the command line is an environment variable `{ENV_PREFIX}*` "
        "(`ganc/settings.py`); a bad value stops the process with one line naming it.",
        "",
        "| variable | type | default | bounds | meaning |",
        "|---|---|---|---|---|",
    ]
    for field, info in Settings.model_fields.items():
        default = "the hostname" if field == "worker_host" else _default(info)
        lines.append(
            f"| `{ENV_PREFIX}{field.upper()}` | {_type(info.annotation)} | {default} | {_bounds(info)} | "
            f"{_cell(info.description or '')} |"
        )
    return "\n".join(lines) + "\n"


def http_api_page() -> str:
    from service.app import create_app

    schema = create_app(Settings(model_repository=Path("model_repository"))).openapi()
    lines = [
        "# HTTP API reference",
        "",
        "Every route of the gateway, from its OpenAPI schema (also served at `/docs` and `/openapi.json`). Errors "
        'are JSON: `{"error": "..."}` with a 4xx or 5xx status.',
    ]
    for path, methods in sorted(schema["paths"].items()):
        for method, operation in methods.items():
            lines += ["", f"## `{method.upper()} {path}`", "", _cell(operation.get("description") or "")]
            parameters = operation.get("parameters", [])
            if parameters:
                lines += ["", "| parameter | in | required | type | meaning |", "|---|---|---|---|---|"]
                for p in parameters:
                    kind = p.get("schema", {}).get("type") or " or ".join(
                        s.get("type", "?") for s in p.get("schema", {}).get("anyOf", [])
                    )
                    lines.append(
                        f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | {kind} | "
                        f"{_cell(p.get('description', ''))} |"
                    )
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                lines += ["", "Body: " + ", ".join(f"`{kind}`" for kind in body)]
            lines += ["", "| status | meaning |", "|---|---|"]
            for status, response in operation.get("responses", {}).items():
                lines.append(f"| {status} | {_cell(response.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def _models(model: type[BaseModel], prefix: str) -> dict[str, type[BaseModel]]:
    """`model` and every model among its fields' types, by their dotted place in the spec."""
    found = {prefix: model}
    for field, info in model.model_fields.items():
        for inner in _inner_models(info.annotation):
            found.update(_models(inner, f"{prefix}.{field}" if prefix else field))
    return found


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _inner_models(arg)]


def _type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is list:
        return f"list of {_type(typing.get_args(annotation)[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a section (below)"
    return "none" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
        return "its section's defaults" if isinstance(value, BaseModel) else f"`{json.dumps(value, default=str)}`"
    if info.default is PydanticUndefined:
        return "required"
    return f"`{json.dumps(info.default, default=str)}`"


def _bounds(info: FieldInfo) -> str:
    metadata = list(info.metadata)
    if typing.get_origin(info.annotation) is typing.Annotated:
        metadata += [m for arg in typing.get_args(info.annotation)[1:] for m in getattr(arg, "metadata", [arg])]
    bounds = [
        template.format(getattr(m, attribute))
        for m in metadata
        for kind, (attribute, template) in BOUNDS.items()
        if isinstance(m, kind)
    ]
    return ", ".join(bounds)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split()) if model.__doc__ != BaseModel.__doc__ else ""
