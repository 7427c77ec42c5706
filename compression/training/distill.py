"""GAN Compression's distillation (Li et al., CVPR 2020): a mobile student, or a once-for-all supernet.

The student's trunk features after down-sampling and after every residual block are mapped by learnable 1x1
convolutions to the teacher's width and matched with MSE; a reconstruction loss pulls the output to the target
(paired data) or to the teacher's output (unpaired data); a GAN loss (hinge for pix2pix, least squares
otherwise, as the reference) trains a discriminator started as the reference starts it (see
DistillTrainer._discriminator). Fresh networks start from N(0, 0.02) weights; a student started from its teacher
(`student_init: teacher`) takes the teacher's outer layers channel by channel, normalises as the teacher does
(with a scale and shift where the teacher's instance norms have them) and maps its trunk back onto the teacher
channels it took, so that it starts as the teacher with its blocks left out.

Unlabelled photos become made inputs (compression/data/made.py) that the teacher labels whole at every step:
the student learns exactly the teacher's answer to what it sees. With `part_inputs: teacher` the student's parts
learn apart, each from the teacher's own input to it (see DistillTrainer._forward).

    ganc train distill  --teacher runs/teacher --ngf 32 --out runs/student            (original path)
    ganc train supernet --teacher runs/teacher --choices channels-48 --out runs/super (Fast GAN Compression)
    ganc train supernet --teacher runs/teacher --init-from runs/student --choices channels-32 --out runs/super
"""

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F

from ganc.spec import (
    REFERENCE_GAN_MODE,
    PartInputs,
    Reconstruction,
    Sampling,
    StudentInit,
    SupernetSpec,
    TrainingSpec,
)

from ..checkpoint import (
    IMPORTED,
    CheckpointError,
    described,
    generator_of,
    load_checkpoint,
    rebuilt,
    resolve_checkpoint,
)
from ..data import TranslationDataset
from ..data.made import MadeInputs
from ..foreign import read_checkpoint
from ..metrics import evaluate_generator
from ..metrics.quality import generate, teacher_outputs
from ..models import ChannelConfig, ModelSpec, SuperMobileResnetGenerator, extract_subnet, get_choice_set
from ..models.layers import reference_init
from ..models.resnet import ResnetLayout
from ..models.super_mobile_resnet import SuperConv2d
from ..models.weight_transfer import transfer_by_l1
from ..progress import Progress, no_progress
from ..published import is_published_variant
from .data import DataConfig, open_splits
from .losses import GANLoss, distillation_loss, reconstruction_loss
from .placement import Placement
from .run import RunFolder, Trainer, Training, check_fresh_or_resumable, run_side_by_side
from .teacher import SAMPLE_ROWS

# The loss weights (reconstruction, distillation): pix2pix's as the reference has them; for pseudo pairs
# CycleGAN's reconstruction weight and a distillation weight ten times the reference's, which sums its MSE over 4
# taps where ganc taps every block (10 of a 9-block teacher): about one MSE per tap against 10 x L1.
PAIRED_WEIGHTS, PSEUDO_PAIR_WEIGHTS = (100.0, 1.0), (10.0, 0.1)
STUDENT_NORMS = ("instance", "instance_affine")  # a teacher's norm that students share
TEACHER_KINDS = ("pix2pix", "cyclegan", IMPORTED)
Student = Literal["mobile", "supernet", "subnet"]
SANDWICH_RANDOM = 2  # random sub-networks per sandwich step besides the largest and the smallest (BigNAS's)


class DistillRun(BaseModel):
    """One distillation run: where it writes, what it reads, the teacher, the student and how it trains.

    The student is a mobile ResNet of width `ngf` or of the widths of channel config `config`, a supernet of
    the choice set `choices` (started from a `mobile` run's student, `init_from`, on the original path), or the
    sub-network `config` extracted from the supernet run `init_from` (fine-tuning).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    out: Path
    data: DataConfig
    teacher: Path = Field(description="the teacher's run folder or checkpoint")
    student: Student
    ngf: int | None = Field(None, gt=0)
    choices: str | None = None
    config: str | None = None
    init_from: Path | None = None
    training: TrainingSpec
    lambda_recon: float | None = Field(None, ge=0, description="default: the reference's weight for the teacher")
    lambda_distill: float | None = Field(None, ge=0, description="default: the reference's weight for the teacher")
    reconstruction: Reconstruction = "l1"
    lambda_gan: float = Field(1.0, ge=0, description="0: no adversarial term, and no discriminator to train")
    sampling: Sampling = Field("uniform", description="a supernet's sub-networks per step (see SupernetSpec)")
    student_init: StudentInit = Field(
        SupernetSpec.model_fields["student_init"].default, description="how a mobile student starts (see SupernetSpec)"
    )
    part_inputs: PartInputs = Field(
        SupernetSpec.model_fields["part_inputs"].default,
        description="what each part of the student learns from (see SupernetSpec)",
    )
    residual: bool | None = Field(
        None, description="the student adds its output to its input (default: as the teacher)"
    )
    seed: int = 0

    @model_validator(mode="after")
    def _student_is_described(self) -> "DistillRun":
        needs = {"mobile": ("ngf", "config"), "supernet": ("choices",), "subnet": ("config",)}[self.student]
        if all(getattr(self, field) is None for field in needs):
            raise ValueError(f"a {self.student} student needs `{'` or `'.join(needs)}`")
        if self.student == "supernet":
            get_choice_set(self.choices)
        if self.student == "subnet" and self.init_from is None:
            raise ValueError("fine-tuning a sub-network needs the supernet run to extract it from (`init_from`)")
        if self.part_inputs == "teacher" and self.student == "subnet":
            raise ValueError("fine-tuning runs the sub-network end to end: `part_inputs` must be `own`")
        if self.part_inputs == "teacher" and self.lambda_distill == 0:
            raise ValueError("with `part_inputs: teacher` the blocks learn from the features alone: lambda_distill > 0")
        return self

    def with_steps(self, steps: int) -> "DistillRun":
        """The same run, to `steps` in all (a resumed run extended, or cut short)."""
        training = TrainingSpec.model_validate({**self.training.model_dump(), "steps": steps})
        return self.model_copy(update={"training": training})


@dataclass
class Teacher:
    """A teacher ready to distil from: its generator (frozen) and the discriminator that trained with it."""

    kind: str  # pix2pix or cyclegan (trained by ganc), or imported (made elsewhere, without a discriminator)
    spec: ModelSpec
    generator: ResnetLayout
    discriminator: dict | None  # as its checkpoint describes it (compression/checkpoint.py)
    checkpoint: Path
    dataset: Path | None
    lambda_l1: float | None = (
        None  # a pix2pix teacher's weight of L1 against its adversarial loss, where ganc trained it
    )

    @property
    def paired(self) -> bool:
        """A pix2pix teacher's students learn from its real targets; the others' from its outputs (pseudo pairs)."""
        return self.kind == "pix2pix"


def load_teacher(path: Path) -> Teacher:
    """The teacher in a ganc teacher checkpoint (or run folder), an imported one, a foreign generator file, or
    a variant published in a ganc model repository."""
    payload = read_checkpoint(path)
    checkpoint = path if is_published_variant(path) else resolve_checkpoint(path)
    kind = payload.get("kind")
    if kind not in TEACHER_KINDS or (kind != IMPORTED and "discriminator" not in payload):
        raise CheckpointError(f"{checkpoint} is not a teacher checkpoint (pix2pix, cyclegan or an imported generator)")
    spec, model = generator_of(payload, checkpoint)
    if spec.arch != "resnet":
        raise ValueError(f"distillation taps need a ResNet teacher, not {spec.arch!r}")
    config = payload.get("config", {})
    dataset = config.get("data", {}).get("dataset")
    return Teacher(
        kind=kind,
        spec=spec,
        generator=model.requires_grad_(False),
        discriminator=payload.get("discriminator"),
        checkpoint=checkpoint,
        dataset=Path(dataset) if dataset else None,
        lambda_l1=config.get("teacher", {}).get("lambda_l1") if kind == "pix2pix" else None,
    )


class TeacherLabels:
    """The teacher's output and features on a step's inputs, kept for every student that trains on that very
    batch: students trained side by side (run_side_by_side) have their inputs labelled once."""

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self._inputs: torch.Tensor | None = None
        self._labels: tuple[torch.Tensor, list[torch.Tensor]] | None = None

    def __call__(self, a: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if a is not self._inputs:
            with torch.no_grad():
                self._labels = self.teacher.generator.forward_with_taps(a)
            self._inputs = a
        return self._labels


class DistillTrainer(Trainer):
    def __init__(
        self,
        config: DistillRun,
        teacher: Teacher,
        train: TranslationDataset,
        val: TranslationDataset | None,
        progress: Progress = no_progress,
        placement: Placement = Placement(),
        labels: TeacherLabels | None = None,
    ) -> None:
        super().__init__(config.training, config.seed, placement)
        self.config, self.teacher, self.train_data, self.val_data = config, teacher, train, val
        self.labels = labels or TeacherLabels(teacher)
        self.paired = teacher.paired
        self.stage = {"mobile": "distill", "supernet": "supernet", "subnet": "finetune"}[config.student]
        self.kind = self.stage
        recon, distill = PAIRED_WEIGHTS if self.paired else PSEUDO_PAIR_WEIGHTS
        if teacher.lambda_l1 is not None:  # students keep their teacher's balance of reconstruction and GAN loss
            recon = teacher.lambda_l1
        self.lambda_recon = config.lambda_recon if config.lambda_recon is not None else recon
        self.lambda_distill = config.lambda_distill if config.lambda_distill is not None else distill
        self.gan_loss = GANLoss(REFERENCE_GAN_MODE["pix2pix" if self.paired else "cyclegan"])
        # Unlabelled photos: inputs made from them, labelled by the teacher as they are made.
        self.made = None
        if not train.has_targets:
            self.made = MadeInputs(
                train.files.a, size=train.preprocess.short_side[0], crop_size=train.preprocess.crop_size
            )
        torch.manual_seed(config.seed)

        shared = {k: teacher.spec.options[k] for k in ("n_blocks", "residual") if k in teacher.spec.options}
        if teacher.spec.options.get("norm") in STUDENT_NORMS:
            shared["norm"] = teacher.spec.options["norm"]
        if config.residual is not None:
            shared["residual"] = config.residual
        init = load_checkpoint(resolve_checkpoint(config.init_from)) if config.init_from else None
        student, mappings = self._build_student(config, shared, init)
        if config.part_inputs == "teacher":
            self._check_trunk(student)
            if init is None:
                _unit_block_scales(student)
        self.d_spec, discriminator = self._discriminator(config, init)
        self.modules = {"G": student, "mappings": mappings, "D": discriminator}
        self.adam("G", [*student.parameters(), *mappings.parameters()])
        if config.lambda_gan > 0:
            self.adam("D", discriminator.parameters())

    def _check_trunk(self, student: nn.Module) -> None:
        """The teacher's trunk features go into the student's blocks: the student's trunk must be as wide, in every
        sub-network."""
        teacher_trunk = self.teacher.generator.widths.trunk
        trunks, choices = {student.widths.trunk}, "<set>"
        if isinstance(student, SuperMobileResnetGenerator):
            trunks, choices = {4 * c2 for c2 in student.choice_set.choices[2]}, student.choice_set.name
        if trunks != {teacher_trunk}:
            raise ValueError(
                f"part_inputs teacher: the student's blocks take the teacher's trunk of {teacher_trunk} channels, "
                f"but its trunk has {sorted(trunks)}; choose a choice set that keeps it "
                f"(`{choices}-trunk-{teacher_trunk // 4}`)"
            )

    def _discriminator(self, config: DistillRun, init: dict | None) -> tuple[ModelSpec, nn.Module]:
        """As the reference starts it: the previous stage's discriminator (a supernet after a mobile student, a
        fine-tuned sub-network after its supernet); the teacher's for a mobile student; a fresh one for a
        supernet trained from the teacher directly (the fast path) or a teacher made elsewhere, which brings none."""
        saved = init.get("discriminator") if init is not None else None
        if saved is None and config.student == "mobile":
            saved = self.teacher.discriminator
        if saved is None:
            spec = ModelSpec("nlayer_discriminator", {"input_nc": 6 if self.paired else 3})
            return spec, spec.build()
        return rebuilt(saved, config.init_from or self.teacher.checkpoint)

    def _build_student(
        self, config: DistillRun, shared: dict[str, Any], init: dict | None
    ) -> tuple[nn.Module, nn.ModuleList]:
        """The student and its 1x1 mapping layers: fresh, or from an earlier run (`init`, config.init_from's)."""
        teacher_trunk = self.teacher.generator.widths.trunk
        taps = len(self.teacher.generator.blocks) + 1
        if config.student == "mobile" and config.ngf is not None:
            self.student_spec = ModelSpec("mobile_resnet", {"ngf": config.ngf, **shared})
        elif config.student == "mobile":
            self.student_spec = ModelSpec("sub_mobile_resnet", {"config": config.config, **shared})
        else:
            self.student_spec = ModelSpec("super_mobile_resnet", {"choices": config.choices, **shared})
        if config.student == "subnet":
            if init.get("kind") != "supernet":
                raise CheckpointError(
                    f"fine-tuning extracts from a `ganc train supernet` run; {config.init_from} is not one"
                )
            supernet_spec, supernet = generator_of(init, config.init_from)
            self.student_spec, student = extract_subnet(supernet_spec, supernet, ChannelConfig.parse(config.config))
            student.train()
            trunk = supernet.widths.trunk
        else:
            student = self.student_spec.build()
            trunk = student.widths.trunk
        mappings = nn.ModuleList(SuperConv2d(trunk, teacher_trunk, kernel_size=1) for _ in range(taps))
        reference_init(mappings)
        if config.student in ("mobile", "supernet") and init is None and config.student_init == "teacher":
            _map_back(mappings, transfer_by_l1(self.teacher.generator, student).trunk)
        if config.student == "subnet":
            mappings.load_state_dict(init["training"]["modules"]["mappings"])
        elif init is not None:
            # The original GAN Compression path: the supernet starts from a distilled mobile student.
            if init.get("kind") != "distill":
                raise CheckpointError(f"--init-from needs a `ganc train distill` run; {config.init_from} is not one")
            try:
                student.load_state_dict(init["training"]["modules"]["G"])
                mappings.load_state_dict(init["training"]["modules"]["mappings"])
            except RuntimeError:
                raise CheckpointError(
                    f"{config.init_from}'s student does not match the supernet: "
                    "its widths must be the choice set's largest config"
                ) from None
        return student, mappings

    def reconstruction_target(self, b: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
        """Paired data: the real target. Unpaired data: the teacher's output (the pseudo pair)."""
        return b if self.paired else teacher_out

    def place(self) -> None:
        super().place()
        self.teacher.generator.to(self.placement.device)

    def inputs(self, step: int) -> tuple[torch.Tensor, ...]:
        """Step `step`'s inputs A and targets B (made inputs: A alone), this process's rows of them."""
        if self.made is not None:
            return self.placement.shard(self.made.batch(step, self.training.batch_size, self.seed))
        return self.placement.shard(*self.train_data.batch(step, self.training.batch_size, self.seed))

    def labelled(
        self, inputs: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """A and B (made inputs: B is A), and the teacher's output and features on A."""
        a, b = (inputs[0], inputs[0]) if len(inputs) == 1 else inputs
        teacher_out, teacher_taps = self.labels(a)
        return a, b, teacher_out, teacher_taps

    def _step_configs(self, step: int) -> list[ChannelConfig | None]:
        """The sub-networks this step trains: one at random (uniform), or the largest, the smallest and
        SANDWICH_RANDOM at random (sandwich); None for a student that is not a supernet."""
        student = self.modules["G"]
        if not isinstance(student, SuperMobileResnetGenerator):
            return [None]
        rng = random.Random(f"{self.seed}-{step}")
        if self.config.sampling == "uniform":
            return [student.choice_set.sample(rng)]
        return [student.choice_set.largest, student.choice_set.smallest] + [
            student.choice_set.sample(rng) for _ in range(SANDWICH_RANDOM)
        ]

    def train_step(self, step: int, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
        student, d = self.modules["G"], self.modules["D"]
        a, b, teacher_out, teacher_taps = self.labelled(inputs)
        target = self.reconstruction_target(b, teacher_out)
        # What the discriminator learns as real: B, or for unlabelled photos the teacher's style itself.
        real = b if self.train_data.has_targets else teacher_out

        def judge(image: torch.Tensor) -> torch.Tensor:
            return d(torch.cat([a, image], 1) if self.paired else image)

        # As the reference: both losses against the same discriminator, both backward passes, then both steps.
        # Several sub-networks in one step (sandwich) accumulate their gradients, each loss weighted 1/n.
        adversarial = self.config.lambda_gan > 0
        self.optimizers["G"].zero_grad()
        if adversarial:
            self.optimizers["D"].zero_grad()
        configs = self._step_configs(step)
        logged = dict.fromkeys(("g_gan", "recon", "distill", "d"), 0.0)
        # The discriminator: real B (paired with its input for pix2pix) against each sub-network's output;
        # the real half is the same for all of them, so it is judged once.
        loss_d_real = torch.zeros(())
        if adversarial:
            loss_d_real = self.gan_loss(judge(real), True)
            self.backward(0.5 * loss_d_real)
        for config in configs:
            if config is not None:
                student.set_config(config)
            out, loss_distill = self._forward(a, teacher_taps)
            loss_d = loss_gan = torch.zeros(())
            if adversarial:
                loss_d_fake = self.gan_loss(judge(out.detach()), False)
                self.backward(0.5 * loss_d_fake / len(configs))
                loss_d = 0.5 * (loss_d_fake.detach() + loss_d_real.detach())
                d.requires_grad_(False)
                loss_gan = self.gan_loss(judge(out), True, for_discriminator=False)
                d.requires_grad_(True)
            # Student: GAN + reconstruction + feature distillation.
            loss_recon = reconstruction_loss(self.config.reconstruction, out, target)
            total = (
                self.config.lambda_gan * loss_gan + self.lambda_recon * loss_recon + self.lambda_distill * loss_distill
            )
            self.backward(total / len(configs))
            for name, loss in zip(logged, (loss_gan, loss_recon, loss_distill, loss_d)):
                logged[name] += loss.item() / len(configs)
        if adversarial:
            self.optimizer_step("D")
        self.optimizer_step("G")
        return logged

    def _forward(self, a: torch.Tensor, teacher_taps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The student's output on `a` and its feature distillation loss. Parts given their own inputs: the student
        runs end to end and its trunk after every block is mapped onto the teacher's. Given the teacher's: the
        encoder learns the teacher's first trunk from the image, every block the teacher's next trunk from the
        teacher's trunk before it, and the output comes from the teacher's last trunk, so no part waits for the
        parts before it to have learnt theirs."""
        student, mappings = self.modules["G"], self.modules["mappings"]
        if self.config.part_inputs == "teacher":
            parts = [student.encoder(a), *(block(tap) for block, tap in zip(student.blocks, teacher_taps))]
            loss = sum((F.mse_loss(part, tap) for part, tap in zip(parts, teacher_taps, strict=True)), torch.zeros(()))
            return student.decode(a, teacher_taps[-1]), loss
        out, taps = student.forward_with_taps(a)
        if self.lambda_distill == 0:
            return out, torch.zeros(())
        return out, distillation_loss(taps, teacher_taps, mappings)

    @functools.cached_property
    def _val_pairs(self) -> list:
        return list(self.val_data.eval_pairs(self.config.data.val_limit)) if self.val_data is not None else []

    @functools.cached_property
    def _val_references(self) -> list[torch.Tensor]:
        """The frozen teacher's outputs on the validation images, computed once for every evaluation."""
        return teacher_outputs(self.teacher.generator, self._val_pairs)

    def _configs(self):
        student = self.modules["G"]
        if isinstance(student, SuperMobileResnetGenerator):
            choice_set = get_choice_set(self.config.choices)
            return [("largest_", choice_set.largest), ("smallest_", choice_set.smallest)]
        return [("", None)]

    def evaluate(self) -> dict[str, float]:
        student, metrics = self.modules["G"], {}
        for prefix, config in self._configs():
            if config is not None:
                student.set_config(config)
            scores = evaluate_generator(student, self._val_pairs, self._val_references, self.paired, with_float=True)
            metrics.update({f"{prefix}{k}": v for k, v in scores.items()})
        return metrics

    def sample_rows(self) -> list[list[torch.Tensor]]:
        student = self.modules["G"]
        rows = []
        student.eval()
        with torch.no_grad():
            for (_name, a, b), reference in zip(self._val_pairs[:SAMPLE_ROWS], self._val_references):
                row = [a, reference]
                for _prefix, config in self._configs():
                    if config is not None:
                        student.set_config(config)
                    row.append(generate(student, [a])[0])
                rows.append([*row, b] if self.paired else row)
        student.train()
        return rows

    def generator(self) -> tuple[ModelSpec, nn.Module]:
        return self.student_spec, self.modules["G"]

    def checkpoint_extras(self) -> dict[str, Any]:
        return {
            "teacher_kind": self.teacher.kind,
            "teacher_checkpoint": str(self.teacher.checkpoint),
            "discriminator": described(self.d_spec, self.modules["D"]),
        }


def _unit_block_scales(student: nn.Module) -> None:
    """Blocks that learn from the teacher's inputs need not start as the identity: with the scale of their last norm
    at zero, none of their other weights would get a gradient until that scale had grown (measured on the vintage
    teacher, docs/method.md: the blocks' mean feature loss after 100 steps 0.82 from zero, 0.13 from one)."""
    with torch.no_grad():
        for block in student.blocks:
            if getattr(block.project_norm, "affine", False):
                block.project_norm.weight.fill_(1.0)


def _map_back(mappings: nn.ModuleList, trunk: torch.Tensor) -> None:
    """Each mapping starts by putting the student's trunk channel j back where it came from, teacher channel
    trunk[j]: the student's features are then compared with the very teacher features they started as."""
    with torch.no_grad():
        for mapping in mappings:
            mapping.weight.zero_()
            mapping.bias.zero_()
            mapping.weight[trunk, torch.arange(len(trunk)), 0, 0] = 1.0


def train_distill(
    run: DistillRun, resume: bool = False, progress: Progress = no_progress, placement: Placement = Placement()
) -> dict[str, float]:
    """Distil the teacher into a mobile student, a supernet or a sub-network in `run.out` on `placement`; returns
    the last metrics."""
    return train_distill_side_by_side([run], [resume], progress, placement)[0]


def train_distill_side_by_side(
    runs: list[DistillRun],
    resume: list[bool],
    progress: Progress = no_progress,
    placement: Placement = Placement(),
) -> list[dict[str, float]]:
    """Distil one teacher into several students on the same data, step by step together (a ladder's fine-tuning):
    each student is what it would be alone, and the teacher labels every step once for all of them. `resume`
    says, run by run, whether it goes on from its folder. Returns each run's last metrics."""
    shared = {(run.teacher, run.data, run.seed, run.training.batch_size, run.training.precision) for run in runs}
    if len(shared) != 1:
        raise ValueError("students trained side by side share their teacher, data, seed, batch size and precision")
    teacher = load_teacher(runs[0].teacher)
    data = runs[0].data
    if data.dataset is None:
        data = data.model_copy(update={"dataset": teacher.dataset})
    train, val = open_splits(data, teacher.generator.size_multiple)
    if teacher.paired and train.layout in ("unpaired", "photos"):
        raise ValueError("a pix2pix teacher needs paired data to distil on")
    labels = TeacherLabels(teacher)
    trainings = []
    for run, goes_on in zip(runs, resume, strict=True):
        folder = RunFolder(run.out)
        if placement.writes:  # the others may find rank 0's first files already there
            check_fresh_or_resumable(folder, goes_on)
        run = run.model_copy(update={"data": data})
        trainer = DistillTrainer(run, teacher, train, val, progress, placement, labels)
        trainings.append(Training(trainer, folder, run, goes_on))
    return run_side_by_side(trainings, progress)
