"""Image quality: PSNR and SSIM on 8-bit RGB, as the images would be saved and served, and on the float outputs.

Rounding to 8 bits hides an output that moves less than half a grey level from another (a residual generator
barely off its input reads exactly +0.00 dB), so training logs both; the cards and the search use the 8-bit ones.
"""

from collections.abc import Iterable

import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch import nn

from ..device import device_of

PSNR_CAP_DB = 100.0  # identical images have infinite PSNR; cap it so averages stay finite
EVAL_BATCH = 8


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [-1, 1] -> [H, W, 3] uint8."""
    return ((image.detach().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of [3, H, W] tensors in [-1, 1] as 8-bit images (computed in torch: scikit-image, one image at a
    time, took longer than a search's sub-networks took to run)."""
    mse = float(np.mean((to_uint8(output).astype(np.float64) - to_uint8(target)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * float(np.log10(255.0**2 / mse)))


def ssim(output: torch.Tensor, target: torch.Tensor) -> float:
    a, b = to_uint8(output), to_uint8(target)
    return float(structural_similarity(b, a, channel_axis=-1, data_range=255, win_size=_window(a)))


def psnr_float(output: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of [3, H, W] tensors in [-1, 1] as they are (a peak-to-peak range of 2), unrounded."""
    mse = float(torch.mean((output.detach().clamp(-1, 1) - target.detach().clamp(-1, 1)).double() ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * float(np.log10(4.0 / mse)))


def ssim_float(output: torch.Tensor, target: torch.Tensor) -> float:
    a = output.detach().clamp(-1, 1).permute(1, 2, 0).double().cpu().numpy()
    b = target.detach().clamp(-1, 1).permute(1, 2, 0).double().cpu().numpy()
    return float(structural_similarity(b, a, channel_axis=-1, data_range=2.0, win_size=_window(a)))


def _window(image: np.ndarray) -> int:
    side = min(image.shape[:2])
    return min(7, side if side % 2 else side - 1)


def generate(model: nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """`model`'s output for each [3, H, W] input (on the CPU), in eval mode without gradients, run on the model's
    device; consecutive inputs of one size go through together, up to EVAL_BATCH at a time (on the CPU about twice
    as fast as one by one)."""
    outputs: list[torch.Tensor] = []
    device = device_of(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            start = 0
            while start < len(inputs):
                end = start + 1
                while end < min(len(inputs), start + EVAL_BATCH) and inputs[end].shape == inputs[start].shape:
                    end += 1
                outputs.extend(model(torch.stack(inputs[start:end]).to(device)).cpu().unbind(0))
                start = end
    finally:
        model.train(was_training)
    return outputs


def teacher_outputs(teacher: nn.Module, pairs: Iterable[tuple[str, torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """The teacher's output for every pair, computed once (a search scores many students against them)."""
    return generate(teacher, [a for _name, a, _b in pairs])


def evaluate_generator(
    generator: nn.Module,
    pairs: Iterable[tuple[str, torch.Tensor, torch.Tensor]],
    teacher: nn.Module | list[torch.Tensor] | None = None,
    paired: bool = True,
    with_float: bool = False,
) -> dict[str, float]:
    """Mean PSNR/SSIM of `generator` on (name, A, B) pairs: against B when `paired`, against the teacher's output
    (`teacher` is the model, or its outputs from `teacher_outputs`), and of the input A itself against B (the
    baseline a restoration model must beat); `with_float` adds each also on the unrounded outputs (`*_float`)."""
    pairs = list(pairs)
    outputs = generate(generator, [a for _name, a, _b in pairs])
    references = teacher_outputs(teacher, pairs) if isinstance(teacher, nn.Module) else teacher
    sums: dict[str, float] = {}
    for index, ((_name, a, b), output) in enumerate(zip(pairs, outputs)):
        scores = {}
        if paired:
            scores.update(_scores(output, b, "", with_float), **_scores(a, b, "_input", with_float))
        if references is not None:
            scores.update(_scores(output, references[index], "_teacher", with_float))
        for key, value in scores.items():
            sums[key] = sums.get(key, 0.0) + value
    return {key: value / len(pairs) for key, value in sums.items()} if pairs else {}


def _scores(output: torch.Tensor, target: torch.Tensor, suffix: str, with_float: bool) -> dict[str, float]:
    """PSNR and SSIM of `output` against `target` on 8 bits (and unrounded: `*_float`), named with `suffix`."""
    scores = {f"psnr{suffix}": psnr(output, target), f"ssim{suffix}": ssim(output, target)}
    if with_float:
        scores.update(
            {f"psnr{suffix}_float": psnr_float(output, target), f"ssim{suffix}_float": ssim_float(output, target)}
        )
    return scores
