"""Real-world degradations for the sr4x task, after Real-ESRGAN's first-order model.

The clean crop is down-sampled 4x (bicubic), given Gaussian noise with sigma drawn uniformly from
NOISE_SIGMA (in 8-bit levels) and JPEG-compressed with a quality drawn uniformly from JPEG_QUALITY,
both at the low resolution, then up-sampled back to its size (bicubic). Every draw comes from the
generator passed in, so a seed reproduces the dataset exactly.
"""

import io

import numpy as np
from PIL import Image

SCALE = 4
NOISE_SIGMA = (1.0, 8.0)
JPEG_QUALITY = (60, 95)


def degrade(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The degraded version of `image`, at the same size."""
    width, height = image.size
    small = image.convert("RGB").resize((max(1, width // SCALE), max(1, height // SCALE)), Image.BICUBIC)
    sigma = rng.uniform(*NOISE_SIGMA)
    noisy = np.asarray(small, dtype=np.float32) + rng.normal(0.0, sigma, (small.height, small.width, 3))
    small = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    buffer.seek(0)
    with Image.open(buffer) as compressed:
        return compressed.convert("RGB").resize((width, height), Image.BICUBIC)
