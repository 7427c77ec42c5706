"""The variant card: everything ganc knows about one published generator, written once at export.

Also the names every party shares: model names in the repository and the tensor names and range
of every exported generator.
"""

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# Tiles that share the whole image's normalisation statistics (ganc/repository/image_statistics.py).
STATISTICS_INPUT = "statistics"
STATISTICS_OUTPUT = "image_statistics"
# ... run, on Triton, as models of their own beside the variant (ganc/repository/statistics_forms.py).
StatisticsForm = Literal["statistics", "tiles"]
STATISTICS_FORMS: tuple[StatisticsForm, ...] = ("statistics", "tiles")
NORMALIZATION = "[-1, 1]"
MACS_SIZE = 256

_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class UnsafeNameError(ValueError):
    """A family or variant name that could escape the repository or confuse Triton."""


def check_name(kind: str, name: str) -> str:
    """Accept lower-case letters, digits, `_ . -` (not first or last, no `..`, no `--`, which joins family and
    variant: a family ending in `-` would make a model name that splits back wrongly)."""
    if (
        not isinstance(name, str)
        or not _SAFE_NAME.fullmatch(name)
        or ".." in name
        or "--" in name
        or name.endswith("-")
    ):
        raise UnsafeNameError(
            f"unsafe {kind} name {name!r}: use 1-64 lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, not ending with '-', without '..' or '--'"
        )
    return name


def model_name(family: str, variant: str) -> str:
    """The Triton model name of a variant: `<family>--<variant>`."""
    return f"{check_name('family', family)}--{check_name('variant', variant)}"


def form_model_name(model: str, form: StatisticsForm) -> str:
    """The Triton model name of one of a variant's statistics forms: `<family>--<variant>--<form>`, which no
    variant's name can be (a variant's holds no `--`)."""
    return f"{model}--{form}"


def is_form_model_name(name: str) -> bool:
    model, _, form = name.rpartition("--")
    return form in STATISTICS_FORMS and "--" in model


def split_model_name(name: str) -> tuple[str, str]:
    family, sep, variant = name.partition("--")
    if not sep:
        raise UnsafeNameError(f"{name!r} is not a '<family>--<variant>' model name")
    return check_name("family", family), check_name("variant", variant)


class VariantCard(BaseModel):
    """What a variant is, what it costs and how good it is; validated on write and on read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    variant: str
    task: str = Field(description="what the family translates, e.g. sr4x or edges2photo")
    architecture: str = Field(description="the factory name the generator was built with")
    architecture_options: dict[str, str | int | float | bool | None]
    config: str | None = Field(None, description="channel-config string, for sub-networks")
    channels_in: int = Field(3, gt=0)
    channels_out: int = Field(3, gt=0)
    macs: int = Field(gt=0, description=f"MACs at {MACS_SIZE}x{MACS_SIZE}, the paper's convention (torchprofile)")
    macs_real: int = Field(gt=0, description=f"MACs at {MACS_SIZE}x{MACS_SIZE} actually performed")
    params: int = Field(gt=0)
    quality: dict[str, float] = Field(default_factory=dict, description="metric name -> value on the eval split")
    quality_against: Literal["target", "teacher"] = Field(
        "target", description="what `quality` compares outputs to: the split's real targets, or the teacher's outputs"
    )
    latency_ms: dict[str, float] = Field(default_factory=dict, description="target -> measured latency")
    size_multiple: int = Field(gt=0, description="input height and width must be multiples of this")
    tile_statistics: Literal["tile", "image"] = Field(
        "tile",
        description="in tiles, what the normalisation layers normalise with: each tile's own statistics, or the "
        "whole image's (taken from a downscaled copy, so that tiles answer as the whole image does)",
    )
    normalization: Literal["[-1, 1]"] = NORMALIZATION
    input_name: Literal["input"] = INPUT_NAME
    output_name: Literal["output"] = OUTPUT_NAME
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    quantized_from: str | None = Field(None, description="int8: model name of the float variant it was quantised from")
    float_agreement_db: float | None = Field(None, description="int8: PSNR of its output against that variant's on val")
    opset: int = Field(ge=17)
    teacher: str | None = Field(None, description="model name of the teacher this variant was distilled from")
    job: str | None = Field(None, description="id of the compression job that made it")
    created_at: datetime
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("family")
    @classmethod
    def _family_is_safe(cls, value: str) -> str:
        return check_name("family", value)

    @field_validator("variant")
    @classmethod
    def _variant_is_safe(cls, value: str) -> str:
        return check_name("variant", value)

    @property
    def model_name(self) -> str:
        return model_name(self.family, self.variant)
