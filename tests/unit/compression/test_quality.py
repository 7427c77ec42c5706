import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from compression.metrics import FidUnavailableError, fid, fid_unavailable_reason, frechet_distance, psnr, ssim
from compression.metrics.quality import (
    EVAL_BATCH,
    PSNR_CAP_DB,
    evaluate_generator,
    generate,
    psnr_float,
    ssim_float,
    to_uint8,
)
from compression.models import build_model


def test_psnr_of_a_known_error():
    target = torch.zeros(3, 16, 16)
    output = target.clone()
    output[0, 0, 0] = 2 / 255 * 10  # one pixel off by 10 levels (127.5 -> 138 after rounding)
    expected = 10 * math.log10(255**2 / ((10**2) / (3 * 16 * 16)))
    assert psnr(output, target) == pytest.approx(expected, abs=0.5)
    assert psnr(target, target) == PSNR_CAP_DB


def test_psnr_is_scikit_images_on_the_8_bit_images():
    generator = torch.Generator().manual_seed(0)
    for noise in (0.01, 0.1, 0.5):
        target = torch.rand(3, 24, 40, generator=generator) * 2.2 - 1.1  # beyond [-1, 1]: clamped as saved
        output = target + noise * torch.randn(3, 24, 40, generator=generator)
        expected = peak_signal_noise_ratio(to_uint8(target), to_uint8(output), data_range=255)
        assert psnr(output, target) == pytest.approx(expected, abs=1e-9)


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    image = torch.rand(3, 32, 32) * 2 - 1
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(image, torch.rand(3, 32, 32) * 2 - 1) < 0.5


def test_float_scores_see_what_rounding_to_8_bits_hides():
    torch.manual_seed(0)
    target = torch.randint(0, 255, (3, 32, 32)) / 127.5 - 1  # on 8-bit grey levels
    nudged = target + 0.3 * 2 / 255  # 0.3 of a grey level off: the same 8-bit image
    expected = 10 * math.log10(4 / (0.3 * 2 / 255) ** 2)
    assert psnr_float(nudged.clamp(-1, 1), target) == pytest.approx(expected, abs=0.3)
    assert psnr_float(target, target) == PSNR_CAP_DB and ssim_float(target, target) == pytest.approx(1.0)
    assert ssim_float(nudged, target) < 1.0

    class Nudge(torch.nn.Module):
        def forward(self, x):
            return x + 0.3 * 2 / 255

    pairs = [("a", target, target)]
    scores = evaluate_generator(Nudge(), pairs, [target], paired=True, with_float=True)
    assert scores["psnr_float"] == pytest.approx(expected, abs=0.3) and scores["psnr"] == PSNR_CAP_DB
    assert scores["psnr_teacher_float"] == scores["psnr_float"] and scores["psnr_input_float"] == PSNR_CAP_DB
    assert set(scores) == {
        f"{m}{s}"
        for m in ("psnr", "ssim")
        for s in ("", "_input", "_teacher", "_float", "_input_float", "_teacher_float")
    }
    assert "psnr_float" not in evaluate_generator(Nudge(), pairs, [target], paired=True)


def test_generating_in_batches_of_one_size_gives_each_images_own_output():
    torch.manual_seed(0)
    model = build_model("mobile_resnet", ngf=8, n_blocks=3).train()
    sizes = [32] * (EVAL_BATCH + 2) + [48, 32]  # a full batch, a short one, then one of each size
    inputs = [torch.rand(3, s, s) * 2 - 1 for s in sizes]
    calls = []
    model.register_forward_hook(lambda _module, args, _out: calls.append(len(args[0])))
    outputs = generate(model, inputs)
    assert calls == [EVAL_BATCH, 2, 1, 1] and model.training
    with torch.no_grad():
        for x, y in zip(inputs, outputs):
            assert torch.allclose(model.eval()(x.unsqueeze(0))[0], y, atol=1e-5)


def test_frechet_distance_of_gaussians():
    sigma = np.eye(4)
    assert frechet_distance(np.zeros(4), sigma, np.zeros(4), sigma) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(np.zeros(4), sigma, np.full(4, 2.0), sigma) == pytest.approx(16.0, abs=1e-6)
    assert frechet_distance(np.zeros(4), sigma, np.zeros(4), 4 * sigma) == pytest.approx(4.0, abs=1e-6)


def test_fid_says_clearly_when_it_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    reason = fid_unavailable_reason()
    assert reason is not None and reason.startswith("FID unavailable")
    with pytest.raises(FidUnavailableError, match="FID unavailable"):
        fid(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
