"""The compression spec: what `ganc compress SPEC.yaml` and `POST /v1/jobs` ask for.

Validated before any work starts: unknown keys and bad values are refused with the field named.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .card import check_name
from .settings import ENV_PREFIX, Settings
from .validation import describe


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Seed = Annotated[int, Field(ge=0, lt=2**32, description="NumPy's and torch's seeds take 32 bits")]


MIN_COVERAGE = 0.75  # an unlabelled photo's training crop, as a share of the short side it is judged at


class DatasetSpec(_Strict):
    """Where the data comes from: an existing dataset folder (`path`); a sample set to build (`sample`, from
    `photos` or scikit-image's); or `photos` alone, unlabelled photographs of the input domain that the
    teacher labels (pseudo pairs)."""

    path: Path | None = None
    sample: Literal["edges2photo", "sr4x", "gray2color"] | None = None
    photos: Path | None = None
    size: int = Field(
        128, ge=16, description="sample sets: the crop size they are built for; photos: their short side when judged"
    )
    crop_size: int | None = Field(None, ge=16, description="training crop (default: size)")
    seed: Seed = 0

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if self.path is not None and (self.sample is not None or self.photos is not None):
            raise ValueError("give `path` (an existing dataset), `sample` (a set to build) or `photos`, not several")
        if self.path is None and self.sample is None and self.photos is None:
            raise ValueError("give `path` (an existing dataset), `sample` (a set to build) or `photos` (unlabelled)")
        if self.size % 4 or (self.crop_size or 4) % 4:
            raise ValueError("`size` and `crop_size` must be multiples of 4")
        return self

    @model_validator(mode="after")
    def _crops_fit_the_photos(self) -> "DatasetSpec":
        if not self.unlabelled:
            return self
        crop = self.crop_size or self.size
        if crop > self.size:
            raise ValueError("`crop_size` must not exceed `size`: unlabelled photos are cropped at that scale or more")
        if crop < MIN_COVERAGE * self.size:
            raise ValueError(
                f"`crop_size` {crop} covers too little of a photo judged at {self.size} px: the teacher labels each "
                f"crop whole, as the students are judged and served, so a crop must be at least {MIN_COVERAGE:g} of "
                f"`size` ({MIN_COVERAGE * self.size:g} px)"
            )
        return self

    @property
    def unlabelled(self) -> bool:
        """Photographs of the input domain alone: the teacher's outputs become their targets."""
        return self.photos is not None and self.sample is None


Precision = Literal["auto", "fp32", "bf16"]
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]{1,2})?)$"  # auto: a CUDA GPU where there is one, else the CPU


class TrainingSpec(_Strict):
    """How a training stage runs: its length, batch and learning rate, and how often it looks."""

    steps: int = Field(2000, gt=0)
    batch_size: int = Field(4, gt=0)
    lr: float = Field(2e-4, gt=0, le=1, description="Adam's learning rate (linear decay over the second half)")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam's momentum (pix2pix's 0.5 suits adversarial training)")
    every: int = Field(500, gt=0, description="steps between checkpoints, evaluations and sample grids")
    precision: Precision = Field(
        "fp32",
        description="bf16: the steps' convolutions run under bfloat16 autocast (weights, optimiser state, "
        "losses and evaluation stay fp32), for CPUs with AMX or AVX512-BF16; auto: bf16 where the CPU has it and "
        "its convolutions run faster with it (timed once per process), else fp32",
    )
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="the most this stage may train: its first steps are timed and it keeps as many of `steps` as "
        "fit (its learning rate still decays to zero by its last step); none: all of `steps`",
    )

    def training(self) -> "TrainingSpec":
        """These settings alone, without what a stage's spec adds to them."""
        return TrainingSpec(**{name: getattr(self, name) for name in TrainingSpec.model_fields})


GanMode = Literal["lsgan", "hinge", "vanilla"]
Reconstruction = Literal["l1", "l1+ssim"]
# GAN Compression's adversarial losses: hinge for pix2pix (paired), least squares for CycleGAN (and pseudo pairs).
REFERENCE_GAN_MODE: dict[str, GanMode] = {"pix2pix": "hinge", "cyclegan": "lsgan"}


class TeacherSpec(TrainingSpec):
    """Train a teacher, or take the given `checkpoint`: a teacher run folder or checkpoint file, a generator
    `ganc import` reads, or a variant's folder in a ganc model repository (read back from its ONNX weights)."""

    checkpoint: Path | None = None
    model: Literal["pix2pix", "cyclegan"] = Field("pix2pix", description="pix2pix (paired) or cyclegan (unpaired)")
    arch: Literal["resnet", "mobile_resnet", "unet"] = Field(
        "resnet", description="the generator; distillation taps a resnet's trunk, the others train alone"
    )
    ngf: int = Field(64, gt=0, description="generator width")
    n_blocks: int = Field(9, gt=0, multiple_of=3, description="residual blocks (resnet, mobile_resnet)")
    num_downs: int = Field(8, gt=0, description="down-sampling stages (unet)")
    residual: bool = Field(
        False,
        description="predict a residual added to the input (restoration); with `checkpoint`: the students do",
    )
    ndf: int = Field(64, gt=0, description="discriminator width")
    gan_mode: GanMode = Field(None, description="default: the reference's for the model (REFERENCE_GAN_MODE)")
    lambda_l1: float = Field(100.0, ge=0, description="pix2pix's weight of L1 against the adversarial loss")

    @model_validator(mode="before")
    @classmethod
    def _reference_gan_mode(cls, values: object) -> object:
        if isinstance(values, dict) and values.get("gan_mode") is None:
            mode = REFERENCE_GAN_MODE.get(values.get("model", "pix2pix"))  # an unknown model is refused as such
            return {**values, "gan_mode": mode} if mode else values
        return values


Sampling = Literal["uniform", "sandwich"]
StudentInit = Literal["fresh", "teacher"]
PartInputs = Literal["own", "teacher"]


class SupernetSpec(TrainingSpec):
    """`fast`: Fast GAN Compression, the supernet learns from the teacher directly. `original`: a mobile
    student of the choice set's largest width is distilled first (`distill_steps`) and the supernet starts from it.
    `sampling`: each step trains one sub-network drawn at random (`uniform`, the reference's), or the largest,
    the smallest and two at random with their gradients accumulated (`sandwich`, as BigNAS and OFA).
    `student_init` (original path): the mobile student starts from the channels of largest L1 norm of the
    teacher's layers (`teacher`, as the reference starts it from a wider mobile generator; a ResNet teacher's
    blocks, which are not separable, leave the student's blocks fresh), or from N(0, 0.02) weights (`fresh`).
    `part_inputs`: what each part of a student (its encoder, every block, its decoder) is given while it learns:
    the output of its own previous part (`own`: the student runs end to end, its trunk matched to the teacher's
    after every block), or the teacher's own input to that part (`teacher`: every part learns its piece of the
    teacher's function alone, all of them at once; needs a choice set that keeps the teacher's trunk width,
    `<set>-trunk-<c2>`). Fine-tuning always runs end to end, which joins the parts."""

    path: Literal["fast", "original"] = "fast"
    sampling: Sampling = "uniform"
    student_init: StudentInit = "teacher"
    part_inputs: PartInputs = "own"
    choices: str = "channels-48"
    distill_steps: int = Field(1000, gt=0)
    lambda_recon: float | None = Field(
        None,
        ge=0,
        description="the students' weight of L1 to the target (or the teacher's output); default: a pix2pix "
        "teacher's lambda_l1, else CycleGAN's 10",
    )
    lambda_distill: float | None = Field(
        None, ge=0, description="the students' weight of feature distillation; default: the reference's, 1 or 0.01"
    )
    reconstruction: Reconstruction = Field(
        "l1", description="the students' loss to the target (weighted by lambda_recon): L1, or L1 + (1 - SSIM)"
    )
    lambda_gan: float = Field(1.0, ge=0, description="the students' adversarial weight (0: no discriminator)")


class SearchSpec(_Strict):
    """The budgets (one variant each), where latency is measured, and the search's settings."""

    macs_budgets: list[float] = Field(default_factory=list, description="paper-convention MACs at 256x256")
    latency_budgets_ms: list[float] = Field(default_factory=list, description="measured on `target`")
    target: Literal["onnxruntime-cpu", "onnxruntime-cuda"] = "onnxruntime-cpu"
    threads: int = Field(2, gt=0)
    size: int = Field(256, ge=16, multiple_of=4, description="latency is measured at size x size")
    method: Literal["auto", "exhaustive", "evolution"] = "auto"
    exhaustive_limit: int = Field(256, gt=0, description="`auto` searches spaces up to this size exhaustively")
    calibration_samples: int = Field(
        4, ge=2, description="whole sub-networks measured to scale the latency table of their layers"
    )
    # the reference implementation's evolution defaults
    population_size: int = Field(100, ge=2)
    iterations: int = Field(500, gt=0)
    mutate_prob: float = Field(0.2, ge=0, le=1)
    mutation_ratio: float = Field(0.5, ge=0, le=1)
    parent_ratio: float = Field(0.25, gt=0, le=1)
    eval_images: int | None = Field(None, gt=0, description="train2 images per candidate (default: all)")
    screen_images: int | None = Field(
        None,
        gt=0,
        description="rank candidates on the first this many of them; each budget's best few are then scored on all "
        "of them, and the ladder chosen among those (default: every candidate on all)",
    )
    precision: Precision = Field(
        "fp32",
        description="bf16: candidates are run under bfloat16 autocast (scored against fp32 references), for CPUs "
        "with AMX or AVX512-BF16; auto: bf16 where the CPU has it and its convolutions run faster with it (timed "
        "once per process), else fp32",
    )

    @model_validator(mode="after")
    def _one_kind_of_budget(self) -> "SearchSpec":
        if bool(self.macs_budgets) == bool(self.latency_budgets_ms):
            raise ValueError("give either `macs_budgets` or `latency_budgets_ms`, one variant per budget")
        if any(b <= 0 for b in [*self.macs_budgets, *self.latency_budgets_ms]):
            raise ValueError("budgets must be positive")
        return self

    @model_validator(mode="after")
    def _screening_takes_fewer_images(self) -> "SearchSpec":
        if self.screen_images is not None and self.eval_images is not None and self.screen_images >= self.eval_images:
            raise ValueError("screen_images must be fewer than eval_images")
        return self

    @property
    def budgets(self) -> list[float]:
        return sorted(self.macs_budgets or self.latency_budgets_ms)

    @property
    def budget_kind(self) -> Literal["macs", "latency_ms"]:
        return "macs" if self.macs_budgets else "latency_ms"


FinetuneSteps = Annotated[int, Field(ge=0)]


class FinetuneSpec(TrainingSpec):
    """Distil each chosen sub-network further on its own for `steps` (0: publish it as extracted)."""

    steps: FinetuneSteps | list[FinetuneSteps] = Field(
        0,
        description="for every variant, or one number per search budget in the order the budgets are written (a "
        "smaller student may need longer to come as close to its teacher)",
    )

    def for_variant(self, steps: int) -> TrainingSpec:
        """These settings for one variant, fine-tuned for `steps` (see CompressionSpec.finetune_steps)."""
        return TrainingSpec(**{**{name: getattr(self, name) for name in TrainingSpec.model_fields}, "steps": steps})


class Int8Spec(_Strict):
    """Also publish an INT8 variant of each model (onnxruntime's static quantisation, calibrated on `train2`)
    wherever it agrees with its float self within `min_agreement_db` and runs faster on the search's target."""

    min_agreement_db: float = Field(40.0, gt=0, description="PSNR of the INT8 output against the float one on val")
    calibration_images: int = Field(32, gt=0, description="train2 inputs that calibrate the activations' ranges")


# What a pseudo-pair spec trains with unless it says otherwise: students that only have to agree with their
# teacher learn faster by plain regression, with Adam's usual momentum and a higher rate, and come closer to it
# with SSIM beside L1 (bench/pseudo_pair_recipe.py).
PSEUDO_PAIR_TRAINING = {
    "supernet": {"lr": 1e-3, "beta1": 0.9, "lambda_gan": 0.0, "reconstruction": "l1+ssim"},
    "finetune": {"lr": 5e-4, "beta1": 0.9},
}
# ... and, where the spec names neither a choice set nor what the parts learn from, students whose parts learn
# the teacher's function piece by piece from its own inputs, keeping the trunk of an ngf-64 teacher (the width
# of pytorch-CycleGAN-and-pix2pix's generators; another teacher's trunk is refused before any work, naming the
# set to use). docs/method.md: the first students of a real teacher that beat the unchanged photo.
PSEUDO_PAIR_PARTS = {"part_inputs": "teacher", "choices": "channels-32-8-trunk-64", "lr": 2e-3}


class CompressionSpec(_Strict):
    family: str
    task: str = Field(description="what the family does, e.g. sr4x; shown on every card")
    dataset: DatasetSpec
    teacher: TeacherSpec = Field(default_factory=TeacherSpec)
    supernet: SupernetSpec = Field(default_factory=SupernetSpec)
    search: SearchSpec
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    fp16: bool = Field(False, description="store published weights in FP16 (compute stays FP32)")
    int8: Int8Spec | None = Field(None, description="also publish INT8 variants that pass its checks")
    min_agreement_db: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="students below this PSNR on val (against the teacher's output; paired tasks: against the "
        "targets) are not published; none ever is that is no closer than the unchanged input",
    )
    publish_teacher: bool = True
    replace: bool = Field(False, description="publish into a family that another job made (its variants go on)")
    seed: Seed = 0
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        description="where the teacher labels, the stages train and the search scores: auto (a CUDA GPU where there "
        "is one, else the CPU), cpu, cuda or cuda:N; latency is measured on the search's target whatever trains",
    )
    data_workers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="processes that make training batches ahead (default: none on a CPU, 4 for a GPU)",
    )
    soft_time_limit_s: float | None = Field(None, gt=0, description="a job past this stops and fails cleanly")
    time_limit_s: float | None = Field(None, gt=0, description="a job past this is killed (after the soft limit)")

    @model_validator(mode="before")
    @classmethod
    def _pseudo_pair_training(cls, values: object) -> object:
        """Unlabelled photos: the recipe's training settings wherever the spec leaves them out."""
        if not isinstance(values, dict):
            return values
        dataset = values.get("dataset")
        if not (isinstance(dataset, dict) and dataset.get("photos") is not None and dataset.get("sample") is None):
            return values
        filled = dict(values)
        for section, defaults in PSEUDO_PAIR_TRAINING.items():
            given = values.get(section, {})
            if isinstance(given, dict):
                if section == "supernet" and not {"part_inputs", "choices"} & set(given):
                    defaults = {**defaults, **PSEUDO_PAIR_PARTS}
                filled[section] = {**defaults, **given}
        return filled

    @field_validator("family")
    @classmethod
    def _safe_family(cls, value: str) -> str:
        return check_name("family", value)

    @model_validator(mode="after")
    def _soft_before_hard(self) -> "CompressionSpec":
        soft, hard = self.soft_time_limit_s, self.time_limit_s
        if soft is not None and hard is not None and soft >= hard:
            raise ValueError("soft_time_limit_s must be below time_limit_s, so the job can stop cleanly first")
        return self

    @model_validator(mode="after")
    def _a_teacher_for_unlabelled_photos(self) -> "CompressionSpec":
        if self.dataset.unlabelled and self.teacher.checkpoint is None:
            raise ValueError(
                "dataset.photos alone are unlabelled: give teacher.checkpoint, the teacher that labels them"
            )
        return self

    @model_validator(mode="after")
    def _fine_tuning_steps_per_budget(self) -> "CompressionSpec":
        steps, budgets = self.finetune.steps, len(self.search.budgets)
        if isinstance(steps, list) and len(steps) != budgets:
            raise ValueError(
                f"finetune.steps: {len(steps)} numbers for {budgets} search budgets; give one per budget, or one "
                "number for all"
            )
        return self

    def finetune_steps(self) -> list[int]:
        """Fine-tuning steps of each variant of the ladder, which runs from the smallest budget up."""
        budgets = self.search.macs_budgets or self.search.latency_budgets_ms
        steps = self.finetune.steps
        if isinstance(steps, int):
            return [steps] * len(budgets)
        return [n for _, n in sorted(zip(budgets, steps, strict=True), key=lambda pair: pair[0])]

    @model_validator(mode="after")
    def _distillable_teacher(self) -> "CompressionSpec":
        if self.teacher.checkpoint is None and self.teacher.arch != "resnet":
            raise ValueError("teacher.arch: the pipeline distils from a resnet teacher (its trunk is tapped)")
        return self

    def time_limits(self) -> dict[str, float]:
        """The spec's limits as Celery's task options (soft_time_limit, time_limit), the unset ones left out."""
        limits = {"soft_time_limit": self.soft_time_limit_s, "time_limit": self.time_limit_s}
        return {name: value for name, value in limits.items() if value is not None}

    def data_paths(self) -> dict[str, Path]:
        """The paths on the machine this spec reads, by field."""
        paths = {
            "dataset.path": self.dataset.path,
            "dataset.photos": self.dataset.photos,
            "teacher.checkpoint": self.teacher.checkpoint,
        }
        return {name: path for name, path in paths.items() if path is not None}


class SpecError(ValueError):
    """A spec that cannot be run; the message names the field."""


def parse_spec(data: object, source: str = "spec") -> CompressionSpec:
    """Validate `data` (parsed YAML or JSON) into a spec, or raise SpecError naming every bad field."""
    try:
        return CompressionSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(f"{source}: {describe(error)}") from None


def within_limits(spec: CompressionSpec, settings: Settings) -> CompressionSpec:
    """The spec checked against this server's limits (GANC_SPEC_MAX_*, GANC_WORKER_MEMORY_MB), its hard time limit
    defaulted to GANC_JOB_TIME_LIMIT_S and kept below the broker's visibility timeout; or SpecError naming every
    excess."""
    s = spec
    problems = [
        f"{name}: {value} is above this server's limit of {getattr(settings, limit)} ({ENV_PREFIX}{limit.upper()})"
        for limit, values in _limited_fields(s)
        for name, value in values.items()
        if value is not None and value > getattr(settings, limit)
    ]
    problems += [
        f"{name}: {len(text)} characters, above this server's limit of {settings.spec_max_text} "
        f"({ENV_PREFIX}SPEC_MAX_TEXT)"
        for name, text in _texts(s).items()
        if text is not None and len(str(text)) > settings.spec_max_text
    ]
    for stage, batch in _training_stages(s).items():
        need_mb = training_memory_mb(batch, s.dataset.crop_size or s.dataset.size, s.teacher)
        if need_mb > settings.worker_memory_mb:
            problems.append(
                f"{stage}.batch_size: {batch} images of {s.dataset.crop_size or s.dataset.size} px would need about "
                f"{need_mb:,.0f} MB on a worker, above its {settings.worker_memory_mb} MB "
                f"({ENV_PREFIX}WORKER_MEMORY_MB): a smaller batch or crop"
            )
    hard = s.time_limit_s or settings.job_time_limit_s
    if hard >= settings.visibility_timeout_s:
        problems.append(
            f"time_limit_s: {hard:g} s must stay below the broker's redelivery after {settings.visibility_timeout_s} s "
            f"({ENV_PREFIX}VISIBILITY_TIMEOUT_S)"
        )
    if s.soft_time_limit_s is not None and s.soft_time_limit_s >= hard:
        problems.append(f"soft_time_limit_s: must be below the job's time limit of {hard:g} s")
    if problems:
        raise SpecError("; ".join(problems))
    return s.model_copy(update={"time_limit_s": hard})


def _limited_fields(s: CompressionSpec) -> list[tuple[str, dict[str, float | None]]]:
    """Each GANC_SPEC_MAX_* setting and the fields it bounds."""
    return [
        (
            "spec_max_size",
            {"dataset.size": s.dataset.size, "dataset.crop_size": s.dataset.crop_size, "search.size": s.search.size},
        ),
        ("spec_max_width", {"teacher.ngf": s.teacher.ngf, "teacher.ndf": s.teacher.ndf}),
        (
            "spec_max_steps",
            {
                **{
                    f"{stage}.{field}": getattr(getattr(s, stage), field)
                    for stage in STAGES
                    for field in ("steps", "every")
                },
                "finetune.steps": max(s.finetune_steps()),
                "supernet.distill_steps": s.supernet.distill_steps,
                "search.iterations": s.search.iterations,
            },
        ),
        (
            "spec_max_batch",
            {
                **{f"{stage}.batch_size": getattr(s, stage).batch_size for stage in STAGES},
                "search.population_size": s.search.population_size,
            },
        ),
        ("spec_max_blocks", {"teacher.n_blocks": s.teacher.n_blocks, "teacher.num_downs": s.teacher.num_downs}),
        (
            "spec_max_count",
            {
                **{f"search.{field}": getattr(s.search, field) for field in SEARCH_COUNTS},
                "int8.calibration_images": s.int8.calibration_images if s.int8 else None,
            },
        ),
        ("spec_max_budgets", {"search budgets (one variant each)": len(s.search.budgets)}),
        (
            "spec_max_weight",
            {
                "teacher.lambda_l1": s.teacher.lambda_l1,
                "supernet.lambda_recon": s.supernet.lambda_recon,
                "supernet.lambda_distill": s.supernet.lambda_distill,
                "supernet.lambda_gan": s.supernet.lambda_gan,
            },
        ),
    ]


STAGES = ("teacher", "supernet", "finetune")
SEARCH_COUNTS = ("threads", "exhaustive_limit", "calibration_samples", "eval_images", "screen_images")


def _texts(s: CompressionSpec) -> dict[str, object]:
    return {
        "task": s.task,
        "supernet.choices": s.supernet.choices,
        "dataset.path": s.dataset.path,
        "dataset.photos": s.dataset.photos,
        "teacher.checkpoint": s.teacher.checkpoint,
    }


def _training_stages(s: CompressionSpec) -> dict[str, int]:
    """The stages that train, with their batch size."""
    stages = {"supernet": s.supernet.batch_size}
    if s.teacher.checkpoint is None:
        stages["teacher"] = s.teacher.batch_size
    if any(s.finetune_steps()):
        stages["finetune"] = s.finetune.batch_size
    return stages


BYTES_PER_ACTIVATION = 8  # fp32, and as much again for the discriminator, the gradients and autograd's own


def training_memory_mb(batch: int, crop: int, teacher: TeacherSpec) -> float:
    """A coarse estimate of one training step's memory: the activations a ResNet generator of the teacher's width
    keeps for its backward pass (per full-resolution pixel: about ngf x (10.5 + 1.25 x blocks) values, the stem,
    the down- and up-sampling and every block at a sixteenth of the pixels). Students are no wider than their
    teacher, which runs beside them without gradients."""
    depth = teacher.num_downs if teacher.arch == "unet" else teacher.n_blocks
    per_pixel = teacher.ngf * (10.5 + 1.25 * depth)
    return batch * crop * crop * per_pixel * BYTES_PER_ACTIVATION / 2**20


def confine_to_roots(spec: CompressionSpec, roots: list[Path]) -> CompressionSpec:
    """The spec with its data paths resolved (symlinks followed), or SpecError for one outside every root.

    Relative paths are taken from the working directory, as the workers will read them.
    """
    resolved_roots = [root.resolve() for root in roots]
    problems, changes = [], {}
    for name, path in spec.data_paths().items():
        try:
            real = path.resolve()
        except (RuntimeError, OSError) as error:  # a symlink loop (RuntimeError before Python 3.13), or the OS
            reason = error.strerror if isinstance(error, OSError) else "a symlink loop"
            problems.append(f"{name}: {path} cannot be resolved ({reason})")
            continue
        if not any(real.is_relative_to(root) for root in resolved_roots):
            allowed = ", ".join(str(r) for r in resolved_roots) or "(none configured)"
            problems.append(f"{name}: {path} is outside the data roots ({allowed})")
        changes[name] = real
    if problems:
        raise SpecError("; ".join(problems))
    data = spec.model_dump()
    for name, real in changes.items():
        section, field = name.split(".")
        data[section][field] = real
    return CompressionSpec.model_validate(data)
