"""Which recipe teaches a student its teacher's look from unlabelled photos: inputs, start, norm, losses, optimiser.

    .venv/bin/python bench/pseudo_pair_recipe.py --teacher data/teachers/vintagify.pt \
        --dataset var/jobs/vintage/data/dataset --photos DIR --steps 200 [--arms "recipe;start: fresh weights"]

Every arm trains a mobile student with ganc's own distillation trainer (compression/training/distill.py) for
--steps steps of batch 4 at the dataset's size, changing one thing of the shipped recipe (ARMS): the inputs it is
made to learn from, how it starts, its normalisation, its losses, its optimiser, its widths, or what its parts
learn from (their own inputs, end to end, or the teacher's: `part_inputs`; an arm's `then_own` steps follow its
--steps end to end). Every --every steps it is
scored against the teacher on the photos of DIR (none of the dataset's; whole, short side `size`) and on its
own training photos (whole, short side `size`), beside the unchanged photos' score (the floor). "before" is the
recipe that shipped the previous vintage family: 128-px crops of photos at a short side of 256-512 px labelled
within the whole photo, the reference's taps after blocks 3, 6 and 9, instance norm without scale and shift,
L1 x 100 + features x 0.01, Adam 2e-4 with beta1 0.5. The recipe's reconstruction is L1 + (1 - SSIM) (x 10), the
default for pseudo pairs since 2026-12-07; the loss arms replace it by L1 alone, by L2, or by L1 on YCbCr (BT.601),
at the same weight. Prints JSON and writes it, with a
chart of agreement against steps and against wall time, under bench/out/.
"""

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from compression.data import (
    TranslationDataset,
    judging_preprocess,
    load_rgb,
    to_tensor,
    with_short_side,
)
from compression.data.folders import list_images
from compression.data.made import MadeInputs, MixSettings
from compression.metrics import psnr
from compression.metrics.quality import generate
from compression.precision import autocast
from compression.training import DistillRun, distill, load_teacher, losses
from compression.training.data import DataConfig, open_splits
from compression.training.distill import DistillTrainer
from ganc.spec import TrainingSpec

RECIPE = {"lr": 1e-3, "beta1": 0.9, "precision": "auto"}  # deploy/specs/vintage.yaml's training settings
BEFORE = {
    "in_photo": True,
    "reference_taps": True,
    "norm": "instance",
    "run": {"lambda_recon": 100.0, "lambda_distill": 0.01, "reconstruction": "l1"},
    "training": {"lr": 2e-4, "beta1": 0.5},
}
TRUNK_256 = "32_32_64_16_16_16_32_32"  # the recipe's ngf-32 student with the teacher's trunk width: 6.5G MACs
ARMS: dict[str, dict[str, Any]] = {
    "recipe": {},
    "inputs: single photos, not mixed": {"mix": MixSettings(blended=0, pasted=0)},
    "inputs: 64 distinct": {"distinct": 64},
    "inputs: 512 distinct": {"distinct": 512},
    "inputs: 128-px crops labelled within the photo": {"in_photo": True},
    "start: residual (the unchanged photo)": {"run": {"residual": True}},
    "start: fresh weights": {"run": {"student_init": "fresh"}},
    "norm: no scale and shift": {"norm": "instance"},
    "taps: after blocks 3, 6, 9 only": {"reference_taps": True},
    "losses: L1 alone": {"run": {"lambda_distill": 0.0}},
    "losses: + GAN": {"run": {"lambda_gan": 1.0}},
    "losses: L2 instead of L1": {"reconstruction": "l2"},
    "losses: L1 without SSIM": {"run": {"reconstruction": "l1"}},
    "losses: L1 on YCbCr": {"reconstruction": "l1 on ycbcr"},
    "optimiser: Adam 2e-4, beta1 0.5": {"training": {"lr": 2e-4, "beta1": 0.5}},
    "capacity: ngf 64": {"run": {"ngf": 64}},
    "capacity: the teacher's trunk (256)": {"run": {"ngf": None, "config": TRUNK_256}},
    "parts: the teacher's inputs, its trunk (256)": {
        "run": {"ngf": None, "config": TRUNK_256, "part_inputs": "teacher"}
    },
    "parts: the teacher's inputs, then joined end to end": {
        "run": {"ngf": None, "config": TRUNK_256, "part_inputs": "teacher"},
        "then_own": 150,
    },
    "parts, then joined, L1 without SSIM": {
        "run": {"ngf": None, "config": TRUNK_256, "part_inputs": "teacher", "reconstruction": "l1"},
        "then_own": 150,
    },
    "before": BEFORE,
}
DISTINCT_ARMS = ("inputs: 64 distinct", "inputs: 512 distinct", "recipe")
YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]])  # BT.601


RECONSTRUCTIONS = {  # losses the trainer does not offer, measured in its place
    "l2": F.mse_loss,
    "l1 on ycbcr": lambda out, target: F.l1_loss(
        torch.einsum("ij,bjhw->bihw", YCBCR.to(out), out), torch.einsum("ij,bjhw->bihw", YCBCR.to(out), target)
    ),
}


REFERENCE_TAPS = (0, 3, 6, 9)  # after down-sampling and after blocks 3, 6 and 9 of 9


class InPhotoLabels:
    """The previous recipe's pseudo pairs: a 128-px crop of a photo at a short side of 256-512 px, and the same
    crop of the teacher's output (and features) on the whole photo. The previous recipe labelled every photo at
    5 scales once, onto disk; here each is labelled when drawn, which costs time, not the labels' gigabytes."""

    def __init__(self, photos: list[Path], teacher: nn.Module, size: int, crop: int = 128) -> None:
        self.photos, self.teacher, self.crop = [load_rgb(p) for p in photos], teacher, crop
        self.sides = [round(s) for s in np.linspace(size, 2 * size, 5)]

    def _labelled(self, index: int, side: int):
        image = with_short_side(self.photos[index], side)
        x = to_tensor(image.crop((0, 0, image.width // 4 * 4, image.height // 4 * 4)))
        with torch.no_grad():
            out, taps = self.teacher.forward_with_taps(x[None])
        return x, out[0].float(), [t[0].float() for t in taps]

    def batch(self, step: int, batch_size: int, seed: int):
        rng = np.random.default_rng([seed, step])
        rows = []
        for _ in range(batch_size):
            x, out, taps = self._labelled(int(rng.integers(len(self.photos))), int(rng.choice(self.sides)))
            top = int(rng.integers((x.shape[1] - self.crop) // 4 + 1)) * 4
            left = int(rng.integers((x.shape[2] - self.crop) // 4 + 1)) * 4

            rows.append(
                (
                    _cut(x, top, left, self.crop),
                    _cut(out, top, left, self.crop),
                    [_cut(t, top // 4, left // 4, self.crop // 4) for t in taps],
                )
            )
        return (
            torch.stack([r[0] for r in rows]),
            torch.stack([r[1] for r in rows]),
            [torch.stack(level) for level in zip(*[r[2] for r in rows])],
        )


def _cut(tensor: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return tensor[:, top : top + size, left : left + size]


def whole_photos(paths: list[Path], size: int) -> list[torch.Tensor]:
    photos = []
    for path in paths:
        image = with_short_side(load_rgb(path), size)
        photos.append(to_tensor(image.crop((0, 0, image.width // 4 * 4, image.height // 4 * 4))))
    return photos


def agreement(model: nn.Module, photos: list[torch.Tensor], references: list[torch.Tensor]) -> float:
    return round(float(np.mean([psnr(o, r) for o, r in zip(generate(model, photos), references)])), 3)


def make_trainer(arm: dict, args: argparse.Namespace) -> DistillTrainer:
    steps = args.steps + arm.get("then_own", 0)
    training = TrainingSpec(steps=steps, batch_size=4, every=steps, **{**RECIPE, **arm.get("training", {})})
    run = DistillRun(
        out=args.out / "recipe-run",
        data=DataConfig(dataset=args.dataset),
        teacher=args.teacher,
        student="mobile",
        training=training,
        **{"ngf": 32, "lambda_gan": 0.0, "reconstruction": "l1+ssim", "seed": 0, **arm.get("run", {})},
    )
    teacher = load_teacher(args.teacher)
    if "norm" in arm:  # students normalise as their teacher does: present the teacher as the arm wants
        teacher.spec.options["norm"] = arm["norm"]
    train, val = open_splits(run.data, teacher.generator.size_multiple)
    trainer = DistillTrainer(run, teacher, train, val)
    if "mix" in arm or "distinct" in arm:
        trainer.made = MadeInputs(
            train.files.a,
            size=trainer.made.sides[0],
            crop_size=trainer.made.crop_size,
            mix=arm.get("mix", MixSettings()),
            distinct=arm.get("distinct"),
        )
    if arm.get("in_photo"):
        in_photo = InPhotoLabels(train.files.a, teacher.generator, trainer.made.sides[0])

        # The crop is labelled within its photo: the "inputs" are the step, which the labelling reads.
        trainer.inputs = lambda step: (torch.tensor(step),)

        def in_photo_labels(inputs):
            a, out, taps = in_photo.batch(int(inputs[0]), training.batch_size, run.seed)
            return a, a, out, taps

        trainer.labelled = in_photo_labels
    if arm.get("reference_taps"):
        _tap_as_the_reference(trainer)
    return trainer


def _tap_as_the_reference(trainer: DistillTrainer) -> None:
    """Features matched after down-sampling and blocks 3, 6 and 9 only, through the first four mappings."""
    trainer.modules["mappings"] = nn.ModuleList(list(trainer.modules["mappings"])[: len(REFERENCE_TAPS)])
    student, labelled = trainer.modules["G"], trainer.labelled
    forward = student.forward_with_taps

    def student_taps(x: torch.Tensor):
        out, taps = forward(x)
        return out, [taps[i] for i in REFERENCE_TAPS]

    def teacher_labels(inputs):
        a, b, out, taps = labelled(inputs)
        return a, b, out, [taps[i] for i in REFERENCE_TAPS]

    student.forward_with_taps = student_taps
    trainer.labelled = teacher_labels


def train_arm(name: str, arm: dict, args, outside, own) -> dict[str, Any]:
    torch.manual_seed(0)
    distill.reconstruction_loss = losses.reconstruction_loss
    if "reconstruction" in arm:
        measured = RECONSTRUCTIONS[arm["reconstruction"]]
        distill.reconstruction_loss = lambda _kind, out, target: measured(out, target)
    trainer = make_trainer(arm, args)
    student = trainer.modules["G"]
    curve = [{"step": 0, "seconds": 0.0, "outside": agreement(student, *outside), "own": agreement(student, *own)}]
    elapsed = 0.0
    for step in range(trainer.training.steps):
        if step == args.steps:  # parts that learnt apart are joined end to end, as the pipeline's fine-tuning does
            trainer.config = trainer.config.model_copy(update={"part_inputs": "own"})
        start = time.perf_counter()
        with autocast(trainer.training.precision):
            trainer.train_step(step, trainer.inputs(step))
        for scheduler in trainer.schedulers.values():
            scheduler.step()
        elapsed += time.perf_counter() - start
        if (step + 1) % args.every == 0:
            curve.append(
                {
                    "step": step + 1,
                    "seconds": round(elapsed, 1),
                    "outside": agreement(student, *outside),
                    "own": agreement(student, *own),
                }
            )
            print(name, curve[-1], flush=True)
    return {"curve": curve}


def chart(report: dict, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(13, 6), sharey=True)
    colours = plt.get_cmap("tab20")
    for i, (name, result) in enumerate(report["arms"].items()):
        steps = [p["step"] for p in result["curve"]]
        seconds = [p["seconds"] / 60 for p in result["curve"]]
        scores = [p["outside"] for p in result["curve"]]
        style = {"color": colours(i % 20), "linestyle": ("-", "--", ":")[i // 7 % 3], "marker": "o", "label": name}
        axes[0].plot(steps, scores, **style)
        axes[1].plot(seconds, scores, **style)
    for axis, label in zip(axes, ("steps (batch 4)", "training minutes (2 cores)")):
        axis.axhline(report["floor"]["outside"], color="black", linestyle="--", label="unchanged photo")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR against the teacher, outside photos (dB)")
    axes[1].legend(fontsize=7, loc="lower right")
    figure.suptitle("Students of the vintage teacher: one change of the recipe per arm")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def distinct_chart(report: dict, path: Path) -> None:
    """Agreement against the number of distinct inputs the student saw (the recipe makes every input new)."""
    seen = {arm: ARMS[arm].get("distinct") or report["steps"] * report["batch"] for arm in DISTINCT_ARMS}
    done = [arm for arm in DISTINCT_ARMS if arm in report["arms"]]
    if not done:
        return
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for (where, marker), colour in zip((("outside", "o"), ("own", "s")), ("tab:blue", "tab:orange")):
        axis.plot(
            [seen[arm] for arm in done],
            [report["arms"][arm]["curve"][-1][where] for arm in done],
            marker=marker,
            color=colour,
            label=f"{where} photos, after {report['steps']} steps",
        )
        axis.axhline(report["floor"][where], linestyle="--", color=colour, linewidth=0.8, label=f"{where}: the photo")
    axis.set_xscale("log")
    axis.set_xlabel("distinct inputs the student saw")
    axis.set_ylabel("PSNR against the teacher (dB)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True, help="a dataset of unlabelled photos")
    parser.add_argument("--photos", type=Path, required=True, help="photos none of the dataset's came from")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--arms", default=";".join(ARMS), help="names of ARMS, separated by ';' (names hold commas)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    names = [n.strip() for n in args.arms.split(";")]
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; known: {list(ARMS)}")

    teacher = load_teacher(args.teacher).generator
    size = json.loads((args.dataset / "dataset.json").read_text())["size"]
    outside_photos = whole_photos(list_images(args.photos), size)
    train = TranslationDataset(args.dataset, "train", judging_preprocess(args.dataset, teacher.size_multiple))
    own_photos = [a for _name, a, _b in train.eval_pairs()]
    outside = (outside_photos, generate(teacher, outside_photos))
    own = (own_photos, generate(teacher, own_photos))
    report: dict[str, Any] = {
        "steps": args.steps,
        "batch": 4,
        "outside_photos": len(outside_photos),
        "own_photos": len(own_photos),
        "floor": {"outside": agreement(nn.Identity(), *outside), "own": agreement(nn.Identity(), *own)},
        "arms": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        report["arms"][name] = train_arm(name, copy.deepcopy(ARMS[name]), args, outside, own)
        (args.out / "pseudo_pair_recipe.json").write_text(json.dumps(report, indent=2) + "\n")
        chart(report, args.out / "pseudo_pair_recipe.png")
        distinct_chart(report, args.out / "pseudo_pair_distinct.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
