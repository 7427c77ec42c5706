"""Teachers: pix2pix (Isola et al. 2017) for paired data and CycleGAN (Zhu et al. 2017) for unpaired data.

ganc train teacher --model pix2pix --dataset data/sr4x --out runs/teacher --residual --steps 20000
"""

import random
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from torch.nn import functional as F

from ganc.spec import TeacherSpec, TrainingSpec

from ..checkpoint import described
from ..data import TranslationDataset
from ..metrics import evaluate_generator
from ..metrics.quality import generate
from ..models import ModelSpec
from ..progress import Progress, no_progress
from .data import TRAIN_SPLIT, DataConfig, open_splits
from .losses import GANLoss, ImagePool
from .placement import Placement
from .run import RunFolder, Trainer, check_fresh_or_resumable, run_training

SAMPLE_ROWS = 4
# The published settings of pix2pix and CycleGAN that ganc does not vary.
NORM = "instance"
N_LAYERS_D = 3
LAMBDA_CYCLE = 10.0
LAMBDA_IDENTITY = 0.5
POOL_SIZE = 50


class TeacherRun(BaseModel):
    """One teacher run: where it writes, what it reads, and the teacher stage of the spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    out: Path
    data: DataConfig
    teacher: TeacherSpec
    seed: int = 0

    @property
    def training(self) -> TrainingSpec:
        return self.teacher.training()

    def with_steps(self, steps: int) -> "TeacherRun":
        """The same run, to `steps` in all (a resumed run extended, or cut short)."""
        teacher = TeacherSpec.model_validate({**self.teacher.model_dump(), "steps": steps})
        return self.model_copy(update={"teacher": teacher})

    def generator_spec(self) -> ModelSpec:
        t = self.teacher
        common = {"ngf": t.ngf, "norm": NORM, "residual": t.residual}
        if t.arch in ("resnet", "mobile_resnet"):
            return ModelSpec(t.arch, {**common, "n_blocks": t.n_blocks})
        return ModelSpec("unet", {**common, "num_downs": t.num_downs})

    def discriminator_spec(self) -> ModelSpec:
        input_nc = 6 if self.teacher.model == "pix2pix" else 3  # pix2pix's discriminator sees (A, B) together
        return ModelSpec(
            "nlayer_discriminator", {"input_nc": input_nc, "ndf": self.teacher.ndf, "n_layers": N_LAYERS_D}
        )


class _TeacherTrainer(Trainer):
    def __init__(
        self, run: TeacherRun, train: TranslationDataset, val: TranslationDataset | None, placement: Placement
    ) -> None:
        super().__init__(run.training, run.seed, placement)
        self.config, self.train_data, self.val_data = run.teacher, train, val
        self.val_limit = run.data.val_limit
        self.gan_loss = GANLoss(run.teacher.gan_mode)
        self.g_spec, self.d_spec = run.generator_spec(), run.discriminator_spec()
        torch.manual_seed(run.seed)

    def inputs(self, step: int) -> tuple[torch.Tensor, ...]:
        return self.placement.shard(*self.train_data.batch(step, self.training.batch_size, self.seed))

    def val_pairs(self):
        return self.val_data.eval_pairs(self.val_limit) if self.val_data is not None else []

    def generator(self) -> tuple[ModelSpec, nn.Module]:
        return self.g_spec, self.modules["G"]

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"discriminator": described(self.d_spec, self.modules["D"])}

    def sample_rows(self) -> list[list[torch.Tensor]]:
        g = self.modules["G"]
        rows = []
        g.eval()
        with torch.no_grad():
            for _name, a, b in list(self.val_pairs())[:SAMPLE_ROWS]:
                rows.append([a, generate(g, [a])[0], b])
        g.train()
        return rows


class Pix2PixTrainer(_TeacherTrainer):
    stage = "teacher"
    kind = "pix2pix"

    def __init__(
        self, run: TeacherRun, train: TranslationDataset, val: TranslationDataset | None, placement: Placement
    ) -> None:
        super().__init__(run, train, val, placement)
        self.modules = {"G": self.g_spec.build(), "D": self.d_spec.build()}
        self.adam("G", self.modules["G"].parameters())
        self.adam("D", self.modules["D"].parameters())

    def train_step(self, step: int, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
        g, d = self.modules["G"], self.modules["D"]
        a, b = inputs
        fake = g(a)
        # Discriminator: real pairs against generated pairs.
        self.optimizers["D"].zero_grad()
        loss_d_fake = self.gan_loss(d(torch.cat([a, fake.detach()], 1)), False)
        loss_d_real = self.gan_loss(d(torch.cat([a, b], 1)), True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        self.backward(loss_d)
        self.optimizer_step("D")
        # Generator: fool the discriminator and stay close to the target.
        self.optimizers["G"].zero_grad()
        loss_gan = self.gan_loss(d(torch.cat([a, fake], 1)), True, for_discriminator=False)
        loss_l1 = F.l1_loss(fake, b)
        self.backward(loss_gan + self.config.lambda_l1 * loss_l1)
        self.optimizer_step("G")
        return {
            "g_gan": loss_gan.item(),
            "g_l1": loss_l1.item(),
            "d_real": loss_d_real.item(),
            "d_fake": loss_d_fake.item(),
        }

    def evaluate(self) -> dict[str, float]:
        return evaluate_generator(self.modules["G"], self.val_pairs(), with_float=True)


class CycleGanTrainer(_TeacherTrainer):
    """G maps A to B (the teacher that later stages distil), F maps B to A; D judges B, D_A judges A."""

    stage = "teacher"
    kind = "cyclegan"

    def __init__(
        self, run: TeacherRun, train: TranslationDataset, val: TranslationDataset | None, placement: Placement
    ) -> None:
        super().__init__(run, train, val, placement)
        self.modules = {
            "G": self.g_spec.build(),
            "F": self.g_spec.build(),
            "D": self.d_spec.build(),
            "D_A": self.d_spec.build(),
        }
        self.adam("G", [*self.modules["G"].parameters(), *self.modules["F"].parameters()])
        self.adam("D", [*self.modules["D"].parameters(), *self.modules["D_A"].parameters()])
        self.pools = {"B": ImagePool(POOL_SIZE), "A": ImagePool(POOL_SIZE)}

    def train_step(self, step: int, inputs: tuple[torch.Tensor, ...]) -> dict[str, float]:
        g, f, d_b, d_a = (self.modules[k] for k in ("G", "F", "D", "D_A"))
        real_a, real_b = inputs
        rng = random.Random(f"{self.seed}-{step}")
        fake_b, fake_a = g(real_a), f(real_b)
        # Generators: adversarial, cycle consistency and identity losses.
        self.optimizers["G"].zero_grad()
        for net in (d_a, d_b):
            net.requires_grad_(False)
        loss_gan = self.gan_loss(d_b(fake_b), True, False) + self.gan_loss(d_a(fake_a), True, False)
        loss_cycle = F.l1_loss(f(fake_b), real_a) + F.l1_loss(g(fake_a), real_b)
        loss_identity = F.l1_loss(g(real_b), real_b) + F.l1_loss(f(real_a), real_a)
        self.backward(loss_gan + LAMBDA_CYCLE * loss_cycle + LAMBDA_CYCLE * LAMBDA_IDENTITY * loss_identity)
        self.optimizer_step("G")
        for net in (d_a, d_b):
            net.requires_grad_(True)
        # Discriminators: real images against (partly historical) fakes.
        self.optimizers["D"].zero_grad()
        pooled_b, pooled_a = self.pools["B"].query(fake_b, rng), self.pools["A"].query(fake_a, rng)
        loss_d_b = self.gan_loss(d_b(real_b), True) + self.gan_loss(d_b(pooled_b), False)
        loss_d_a = self.gan_loss(d_a(real_a), True) + self.gan_loss(d_a(pooled_a), False)
        loss_d = 0.5 * (loss_d_b + loss_d_a)
        self.backward(loss_d)
        self.optimizer_step("D")
        return {
            "g_gan": loss_gan.item(),
            "cycle": loss_cycle.item(),
            "identity": loss_identity.item(),
            "d": loss_d.item(),
        }

    def evaluate(self) -> dict[str, float]:
        # No targets in unpaired data: report how well F undoes G (cycle PSNR) on the validation inputs.
        g, f = self.modules["G"], self.modules["F"]
        cycle = nn.Sequential(g, f)
        pairs = ((name, a, a) for name, a, _b in self.val_pairs())
        return {f"cycle_{k}": v for k, v in evaluate_generator(cycle, pairs).items() if not k.endswith("_input")}

    def extra_state(self) -> dict[str, Any]:
        return {name: pool.state_dict() for name, pool in self.pools.items()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for name, pool in self.pools.items():
            pool.load_state_dict(state[name])


def train_teacher(
    run: TeacherRun, resume: bool = False, progress: Progress = no_progress, placement: Placement = Placement()
) -> dict[str, float]:
    """Train (or resume) a teacher into `run.out` on `placement`; returns the final validation metrics. Each
    process of a distributed CycleGAN keeps its own history of fakes; a checkpoint holds rank 0's."""
    folder = RunFolder(run.out)
    if placement.writes:  # the others may find rank 0's first files already there
        check_fresh_or_resumable(folder, resume)
    multiple = run.generator_spec().build().size_multiple
    train, val = open_splits(run.data, multiple)
    model = run.teacher.model
    if model == "cyclegan" and train.layout != "unpaired":
        raise ValueError(f"cyclegan needs an unpaired dataset ({TRAIN_SPLIT}A/ and B/), got {train.layout}")
    if model == "pix2pix" and train.layout == "unpaired":
        raise ValueError("pix2pix needs paired data (aligned A|B images or A/ and B/ folders); use --model cyclegan")
    trainer = (Pix2PixTrainer if model == "pix2pix" else CycleGanTrainer)(run, train, val, placement)
    return run_training(trainer, folder, run, resume, progress)
