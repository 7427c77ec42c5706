"""Which student recipe learns a teacher fastest from pseudo pairs: residual or plain, with or without the GAN
and the feature-distillation terms.

    .venv/bin/python bench/pseudo_pair_recipe.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset --steps 300

Each recipe trains a fresh mobile ResNet student (ngf 32) for --steps steps of batch 4 on 128-px crops of the
unlabelled photos, labelled by the teacher as they are drawn (the pipeline's own data and losses: L1 x 100 to
the teacher's output, feature distillation through 1x1 mappings, lsgan against a fresh PatchGAN), and reports
the L1 to the teacher on 8 held-out crops every 50 steps, beside the unchanged crops' L1 and what a per-crop
affine colour map fitted to the teacher reaches (how much of the teacher is a colour grade). Prints JSON and
writes it under bench/out/.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from compression.checkpoint import load_generator
from compression.data import TranslationDataset, training_preprocess
from compression.models import ModelSpec
from compression.models.super_mobile_resnet import SuperConv2d
from compression.training.losses import GANLoss, distillation_loss

RECIPES = {
    "plain, L1": {"residual": False, "gan": 0.0, "distill": 0.0},
    "plain, L1 + distill 1": {"residual": False, "gan": 0.0, "distill": 1.0},
    "plain, L1 + GAN 1 + distill 0.01": {"residual": False, "gan": 1.0, "distill": 0.01},
    "residual, L1": {"residual": True, "gan": 0.0, "distill": 0.0},
}
REPORT_EVERY = 50


def train(recipe: dict, teacher: nn.Module, data: TranslationDataset, held: tuple, steps: int) -> list[float]:
    torch.manual_seed(0)
    student = ModelSpec("mobile_resnet", {"ngf": 32, "n_blocks": 9, "residual": recipe["residual"]}).build()
    mappings = nn.ModuleList(SuperConv2d(128, 256, kernel_size=1) for _ in range(4))
    optimizer = torch.optim.Adam([*student.parameters(), *mappings.parameters()], lr=2e-4, betas=(0.5, 0.999))
    discriminator = ModelSpec("nlayer_discriminator", {"input_nc": 3}).build()
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gan = GANLoss("lsgan")
    curve = []
    for step in range(steps):
        a, _ = data.batch(step, 4, 0)
        with torch.no_grad():
            target, target_taps = teacher.forward_with_taps(a)
        out, taps = student.forward_with_taps(a)
        if recipe["gan"]:
            d_optimizer.zero_grad()
            (0.5 * (gan(discriminator(out.detach()), False) + gan(discriminator(target), True))).backward()
            d_optimizer.step()
        loss = 100 * F.l1_loss(out, target) + recipe["distill"] * distillation_loss(taps, target_taps, mappings)
        if recipe["gan"]:
            discriminator.requires_grad_(False)
            loss = loss + recipe["gan"] * gan(discriminator(out), True, for_discriminator=False)
            discriminator.requires_grad_(True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % REPORT_EVERY == 0:
            with torch.no_grad():
                curve.append(round(F.l1_loss(student(held[0]), held[1]).item(), 4))
    return curve


def colour_grade_l1(a: torch.Tensor, target: torch.Tensor) -> float:
    """The L1 of the best affine colour map from each crop to the teacher's output, fitted per crop."""
    errors = []
    for x, y in zip(a, target):
        xs = np.c_[x.reshape(3, -1).T.numpy(), np.ones(x[0].numel())]
        ys = y.reshape(3, -1).T.numpy()
        weights, *_ = np.linalg.lstsq(xs, ys, rcond=None)
        errors.append(float(np.abs(xs @ weights - ys).mean()))
    return round(float(np.mean(errors)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True, help="a dataset of unlabelled photos (its train split)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    _, teacher = load_generator(args.teacher)
    data = TranslationDataset(args.dataset, "train", training_preprocess(args.dataset, 128, None))
    held_a, _ = data.batch(10_000, 8, 1)
    with torch.no_grad():
        held = (held_a, teacher(held_a))
    report = {
        "steps": args.steps,
        "held_out_crops": len(held_a),
        "unchanged_l1": round(F.l1_loss(held[0], held[1]).item(), 4),
        "per_crop_colour_grade_l1": colour_grade_l1(*held),
        "l1_every_50_steps": {name: train(recipe, teacher, data, held, args.steps) for name, recipe in RECIPES.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pseudo_pair_recipe.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
