"""INT8 variants: a float variant quantised with the spec's `int8:` settings, and a whole published family's
(`ganc quantize`, whose data the pipeline builds), each published where it agrees with its float self and runs
faster on the target."""

from pathlib import Path
from typing import Any

from ganc.atomic import check_writable
from ganc.card import VariantCard
from ganc.repository import VariantVersion, publish_variant, read_index
from ganc.spec import CompressionSpec, Int8Spec

from .data import judged_split
from .export.quantize import OnnxGenerator, export_int8, int8_variant
from .metrics.quality import teacher_outputs
from .progress import Progress, no_progress
from .search import latency_target

TEACHER_VARIANT = "teacher"  # the variant name of a family's teacher


def quantize_variant(
    spec: CompressionSpec,
    float_path: Path,
    float_card: VariantCard,
    folder: Path,
    dataset: str,
    val: list,
    references: list | None,
) -> tuple[VariantCard | None, dict[str, Any]]:
    """export_int8 with the spec's settings, calibrated on `train2` as the variants are judged."""
    settings = spec.int8 or Int8Spec()
    calibration = judged_split(dataset, "train2", float_card.size_multiple).eval_pairs(settings.calibration_images)
    return export_int8(
        float_path,
        float_card,
        folder,
        calibration=(a[None].numpy() for _name, a, _b in calibration),
        val=val,
        references=references,
        target=latency_target(spec.search),
        min_agreement_db=settings.min_agreement_db,
    )


def published_floats(spec: CompressionSpec, repo: Path) -> list[VariantVersion]:
    """The family's latest published float variants, refused unless its teacher is among them (its students are
    judged against it) and the repository is writable."""
    check_writable(repo)
    floats = [v for v in read_index(repo).latest() if v.card.family == spec.family and v.card.precision != "int8"]
    if not any(v.card.variant == TEACHER_VARIANT for v in floats):
        raise ValueError(
            f"family {spec.family!r} has no published teacher in {repo}: its students are judged against it"
        )
    return floats


def quantize_published(
    spec: CompressionSpec, work_dir: Path, repo: Path, dataset: str, progress: Progress = no_progress
) -> dict[str, Any]:
    """INT8 variants of the family's latest published float variants, judged on `dataset`, published where they
    pass; each INT8 card names the job of the variant it was quantised from."""
    floats = published_floats(spec, repo)
    teacher = next(v for v in floats if v.card.variant == TEACHER_VARIANT)
    multiple = teacher.card.size_multiple
    val = list(judged_split(dataset, "val", multiple).eval_pairs())
    references = teacher_outputs(OnnxGenerator(teacher.onnx_path, multiple), val)
    results = {}
    for done, version in enumerate(floats, 1):
        card = version.card
        folder = work_dir / "quantize" / int8_variant(card.variant)
        int8_card, results[card.variant] = quantize_variant(
            spec,
            version.onnx_path,
            card,
            folder,
            dataset,
            val,
            None if card.variant == TEACHER_VARIANT and card.quality_against == "target" else references,
        )
        if int8_card is not None:
            published = publish_variant(repo, folder / "model.onnx", int8_card)
            results[card.variant].update(model=published.model_name, version=published.version)
        progress("quantize", done, len(floats), card.variant)
    return {"int8": results}
