"""What each stage of the pipeline reads, so that a resumed job re-runs the stages whose inputs changed.

A stage's inputs are the spec's fields it reads, the files it consumes (a teacher checkpoint by its content, a
folder of data by its files' names, sizes and times), the version of the stage's format, and the inputs of the
stage before it: a change anywhere upstream reaches every stage after it. Each stage records its inputs when it
starts (`inputs.json` in its folder); a resume compares them and names the fields that changed.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

from ganc.spec import CompressionSpec

from .published import is_published_variant, published_model_file

FORMAT = 1  # raise when what a stage writes changes meaning: every job then runs its stages again
INPUTS_FILE = "inputs.json"


def stage_fields(spec: CompressionSpec) -> dict[str, dict[str, Any]]:
    """Each stage's own inputs, in the order the stages run."""
    supernet = spec.supernet.model_dump(mode="json")
    return {
        "data": {"dataset": spec.dataset.model_dump(mode="json"), "files": _files(spec)},
        "teacher": {
            "teacher": spec.teacher.model_dump(mode="json"),
            "seed": spec.seed,
            "checkpoint": _checkpoint(spec),
        },
        "distill": {"supernet": supernet, "seed": spec.seed},
        "supernet": {"supernet": supernet, "seed": spec.seed},
        "search": {"search": spec.search.model_dump(mode="json"), "seed": spec.seed},
        "finetune": {"finetune": spec.finetune.model_dump(mode="json"), "supernet": supernet, "seed": spec.seed},
        "export": {
            "family": spec.family,
            "task": spec.task,
            "fp16": spec.fp16,
            "int8": spec.int8.model_dump(mode="json") if spec.int8 is not None else None,
            "min_agreement_db": spec.min_agreement_db,
            "publish_teacher": spec.publish_teacher,
        },
        "publish": {"family": spec.family, "replace": spec.replace},
    }


def stage_inputs(spec: CompressionSpec) -> dict[str, dict[str, Any]]:
    """Each stage's inputs as recorded: its own fields, and a digest of every earlier stage's."""
    recorded, upstream = {}, ""
    for name, fields in stage_fields(spec).items():
        recorded[name] = {"format": FORMAT, "fields": fields, "upstream": upstream}
        upstream = _digest(recorded[name])
    return recorded


def changed_fields(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The dotted names of the fields that differ between two records of a stage's inputs (`upstream`: an earlier
    stage's inputs changed)."""
    if before.get("format") != now["format"]:
        return ["format"]
    changed = _differences(before.get("fields", {}), now["fields"], "")
    return changed or (["upstream"] if before.get("upstream") != now["upstream"] else [])


def read_inputs(folder: Path) -> dict[str, Any] | None:
    path = folder / INPUTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _differences(before: Any, now: Any, prefix: str) -> list[str]:
    if isinstance(before, dict) and isinstance(now, dict):
        names = sorted(set(before) | set(now))
        return [d for n in names for d in _differences(before.get(n), now.get(n), f"{prefix}{n}.")]
    return [] if before == now else [prefix.rstrip(".")]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _checkpoint(spec: CompressionSpec) -> str | None:
    """A given teacher's checkpoint by its content (a user may replace the file under the same name; a model
    repository may publish a new version of the variant)."""
    path = spec.teacher.checkpoint
    if path is not None and is_published_variant(path):
        path = published_model_file(path)
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _files(spec: CompressionSpec) -> str | None:
    """The data folder the spec reads, by its files' names, sizes and modification times."""
    folder = spec.dataset.path or spec.dataset.photos
    if folder is None or not folder.is_dir():
        return None
    listing = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            status = path.stat()
            listing.append((str(path.relative_to(folder)), status.st_size, status.st_mtime_ns))
    return _digest(listing)
