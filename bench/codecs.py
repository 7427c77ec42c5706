"""Image codecs on PyPI against Pillow, for what the gateway decodes and encodes, side by side in one run.

    .venv/bin/python bench/codecs.py [--size 256] [--repeats 300]

A photo (scikit-image's astronaut) at size x size px in PNG, JPEG (quality 92) and WebP: the median time to
decode it with Pillow, pyspng (libspng) and simplejpeg (libjpeg-turbo), and to encode a generator's output with
each; then the gateway's decode (service.images.decode) with its fast decoders against the same function made
to use Pillow alone. imagecodecs is left out: its wheels need numpy >= 2, and nvidia-pytriton pins numpy < 2.
Prints JSON (times in ms, ratios Pillow / other: above 1 is faster than Pillow).
"""

import argparse
import io
import json
import statistics
import time
from unittest import mock

import numpy as np
import pyspng
import simplejpeg
import skimage.data
from PIL import Image

from service import images

QUALITY = 92


def median_ms(work, repeats: int) -> float:
    work()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1e3, 4)


def encoded(rgb: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rgb = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((args.size, args.size)))
    files = {
        "png": encoded(rgb, "PNG"),
        "jpeg": encoded(rgb, "JPEG", quality=QUALITY),
        "webp": encoded(rgb, "WEBP", quality=QUALITY),
    }
    decoders = {
        "png": {"pyspng": lambda d: pyspng.load(d, "RGB")},
        "jpeg": {"simplejpeg": lambda d: simplejpeg.decode_jpeg(d, "RGB")},
        "webp": {},
    }
    encoders = {
        "png": {"pillow": lambda: encoded(rgb, "PNG"), "ganc stored": lambda: images.encode_png(rgb)},
        "jpeg": {
            "pillow": lambda: encoded(rgb, "JPEG", quality=QUALITY),
            "simplejpeg": lambda: simplejpeg.encode_jpeg(rgb, QUALITY, "RGB"),
        },
        "webp": {"pillow": lambda: encoded(rgb, "WEBP", quality=QUALITY, method=0)},
    }
    report: dict = {"size": args.size, "bytes": {f: len(d) for f, d in files.items()}, "decode_ms": {}, "encode_ms": {}}
    for fmt, data in files.items():
        timed = {"pillow": median_ms(lambda d=data: pillow_decode(d), args.repeats)}
        for name, decoder in decoders[fmt].items():
            assert np.array_equal(decoder(data), pillow_decode(data)), f"{name} decodes {fmt} differently"
            timed[name] = median_ms(lambda d=data, f=decoder: f(d), args.repeats)
        report["decode_ms"][fmt] = timed
        report["encode_ms"][fmt] = {name: median_ms(work, args.repeats) for name, work in encoders[fmt].items()}
    gateway = {}
    for fmt in ("png", "jpeg"):
        fast = median_ms(lambda d=files[fmt]: images.decode(d, 10**8), args.repeats)
        with mock.patch.object(images, "_fast_decode", return_value=None):
            pillow = median_ms(lambda d=files[fmt]: images.decode(d, 10**8), args.repeats)
        gateway[fmt] = {"pillow_only_ms": pillow, "with_fast_decoders_ms": fast, "ratio": round(pillow / fast, 2)}
    report["gateway_decode"] = gateway
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
