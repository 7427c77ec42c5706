"""Pseudo pairs from unlabelled photos, labelled by the teacher once rather than at every step.

The teacher (a ResNet of ngf 64) costs several times what a student's whole training step costs, so labelling
each crop as it is drawn leaves most of a run's time in the teacher. Instead the teacher labels every training
photo whole at SCALES short-side lengths between the dataset's `size` and `max_short_side`; a training pair is
a crop of a photo at one of those scales and the same crop of the teacher's output (and of its trunk features,
at a quarter of the resolution, for feature distillation). The labels are written once per (teacher, dataset)
under the dataset's `.teacher-labels/`, so every later stage and every resumed run reads them back.

The teacher then labels a crop as it saw it within the whole photo (InstanceNorm statistics of the photo, not of
the crop), which is how the students are judged: on whole photos against the teacher's output on them.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganc.repository import sha256_file

from ..checkpoint import read_torch_file, write_payload
from ..data import TranslationDataset, batch_index, load_rgb, to_tensor, with_short_side
from ..models.resnet import ResnetLayout
from ..progress import Progress, no_progress

SCALES = 5
LABELS_FOLDER = ".teacher-labels"


@dataclass
class Labelled:
    """One photo at one scale: the photo, the teacher's output and (for distillation) its trunk features."""

    photo: torch.Tensor  # [3, H, W]
    output: torch.Tensor  # [3, H, W], FP16
    taps: list[torch.Tensor]  # each [C, H / stride, W / stride], FP16; empty without distillation


class PseudoPairs:
    """Training batches of (photo crop, teacher's output crop, teacher's feature crops), seeded by (seed, step)
    exactly as TranslationDataset.batch is, so a resumed run draws the batches an uninterrupted one would."""

    def __init__(
        self,
        data: TranslationDataset,
        teacher: ResnetLayout,
        teacher_checkpoint: Path,
        *,
        side_range: tuple[int, int],
        crop_size: int,
        with_taps: bool,
        progress: Progress = no_progress,
    ) -> None:
        self.data, self.crop_size, self.with_taps = data, crop_size, with_taps
        self.stride = teacher.size_multiple  # the trunk's resolution is the image's divided by this
        if crop_size % self.stride:
            raise ValueError(f"crop size {crop_size} is not a multiple of the teacher's {self.stride}")
        self.sides = sorted({round(s) for s in np.linspace(side_range[0], side_range[1], SCALES)})
        folder = data.root / LABELS_FOLDER / _labels_key(teacher_checkpoint, self.sides, with_taps)
        self.labels = self._label_all(teacher, folder, progress)

    def _label_all(self, teacher: ResnetLayout, folder: Path, progress: Progress) -> list[list[Labelled]]:
        labels, total = [], len(self.data) * len(self.sides)
        for index in range(len(self.data)):
            per_side = []
            for side in self.sides:
                path = folder / f"{self.data.name(index)}-{side}.pt"
                per_side.append(self._label(teacher, index, side, path))
                progress("labels", len(labels) * len(self.sides) + len(per_side), total, "teacher labels photos")
            labels.append(per_side)
        return labels

    def _label(self, teacher: ResnetLayout, index: int, side: int, path: Path) -> Labelled:
        photo = with_short_side(load_rgb(self.data.files.a[index]), side)
        width, height = photo.width // self.stride * self.stride, photo.height // self.stride * self.stride
        x = to_tensor(photo.crop((0, 0, width, height)))
        if path.is_file():
            saved = read_torch_file(path)
            return Labelled(x, saved["output"], saved["taps"])
        with torch.no_grad():
            output, taps = teacher.forward_with_taps(x.unsqueeze(0))
        saved = {"output": output[0].half(), "taps": [t[0].half() for t in taps] if self.with_taps else []}
        write_payload(path, saved)
        return Labelled(x, saved["output"], saved["taps"])

    def batch(self, step: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """The photo crops, the teacher's outputs on them and its features (an empty list without taps)."""
        photos, outputs, taps = [], [], []
        for position in range(step * batch_size, (step + 1) * batch_size):
            index = batch_index(position, len(self.data), seed)
            photo, output, features = self._crop(self.labels[index], np.random.default_rng([seed, step, position]))
            photos.append(photo)
            outputs.append(output)
            taps.append(features)
        tap_batches = [torch.stack(level) for level in zip(*taps)] if self.with_taps else []
        return torch.stack(photos), torch.stack(outputs), tap_batches

    def _crop(self, scales: list[Labelled], rng: np.random.Generator):
        labelled = scales[int(rng.integers(len(scales)))]
        _, height, width = labelled.photo.shape
        # The origin is a multiple of the stride so that the features' crop covers exactly the photo's.
        x = int(rng.integers((width - self.crop_size) // self.stride + 1)) * self.stride
        y = int(rng.integers((height - self.crop_size) // self.stride + 1)) * self.stride
        flip = rng.random() < 0.5

        def cut(tensor: torch.Tensor, scale: int) -> torch.Tensor:
            size = self.crop_size // scale
            part = tensor[:, y // scale : y // scale + size, x // scale : x // scale + size].float()
            return part.flip(-1) if flip else part

        return cut(labelled.photo, 1), cut(labelled.output, 1), [cut(t, self.stride) for t in labelled.taps]


def _labels_key(teacher_checkpoint: Path, sides: list[int], with_taps: bool) -> str:
    """Labels belong to one teacher's weights and one set of scales."""
    key = repr((sha256_file(teacher_checkpoint), sides, with_taps)).encode()
    return hashlib.sha256(key).hexdigest()[:16]
