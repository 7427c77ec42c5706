"""A corpus of images an attacker or bad luck would send: every one gets a 2xx or a 4xx with a JSON error."""

import io
import struct
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganc.card import VariantCard
from ganc.repository import publish_variant
from ganc.settings import Settings
from service.app import create_app
from tests.support import card_fields


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_with(tag: bytes, body: bytes) -> bytes:
    plain = encoded(Image.new("RGB", (8, 8)), "PNG")
    return plain[:33] + chunk(tag, body) + plain[33:]  # right after IHDR


def huge_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels, with hardly any data behind it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def photo(width: int, height: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8))


BOMB = zlib.compress(b"a" * 20_000_000, 9)
CORPUS = {
    "text bomb": png_with(b"zTXt", b"k\x00\x00" + BOMB),
    "international text bomb": png_with(b"iTXt", b"k\x00\x01\x00\x00\x00" + BOMB),
    "colour profile bomb": png_with(b"iCCP", b"icc\x00\x00" + BOMB),
    "huge header": huge_header(100_000, 100_000),
    "wide header": huge_header(2**31 - 1, 1),
    "truncated png": encoded(photo(64, 64), "PNG")[:300],
    "truncated jpeg": encoded(photo(64, 64), "JPEG")[:400],
    "16-bit grey": encoded(Image.fromarray(np.full((20, 30), 40000, np.uint16)), "PNG"),
    "cmyk jpeg": encoded(Image.new("CMYK", (20, 30), (10, 20, 30, 40)), "JPEG"),
    "multi-picture jpeg": encoded(photo(20, 16), "MPO", save_all=True, append_images=[photo(20, 16)]),
    "animated gif": encoded(photo(8, 8), "GIF", save_all=True, append_images=[photo(9, 9)]),
    "animated png": encoded(photo(8, 8), "PNG", save_all=True, append_images=[photo(9, 9)]),
    "animated webp": encoded(photo(8, 8), "WEBP", save_all=True, append_images=[photo(8, 8)]),
    "one pixel": encoded(photo(1, 1), "PNG"),
    "a line": encoded(photo(1500, 1), "PNG"),
    "a column": encoded(photo(1, 1500), "PNG"),
    "a 12 MP photo": encoded(photo(4000, 3000), "JPEG", quality=80),
    "one colour, in tiles": encoded(Image.new("RGB", (1100, 700), (90, 120, 200)), "PNG"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_onnx):
    repo = tmp_path_factory.mktemp("repo")
    # Tiles share the statistics of a copy of the image: that pass too must hold against every image.
    publish_variant(repo, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    with TestClient(create_app(Settings(model_repository=repo, warmup_runs=1, warmup_size=64))) as test_client:
        yield test_client


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_image_gets_an_answer_or_a_4xx_that_says_why(client, name):
    content_type = "image/jpeg" if "jpeg" in name or "MP" in name else "image/png"
    response = client.post("/v1/translate/tiny", content=CORPUS[name], headers={"Content-Type": content_type})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]
    else:
        assert Image.open(io.BytesIO(response.content)).size == Image.open(io.BytesIO(CORPUS[name])).size


@pytest.mark.parametrize("seed", range(40))
def test_fuzzed_images_never_get_a_5xx(client, seed):
    rng = np.random.default_rng(seed)
    data = bytearray(CORPUS["cmyk jpeg"] if seed % 2 else encoded(photo(24, 16), "PNG"))
    for position in rng.integers(0, len(data), 8):
        data[position] = int(rng.integers(0, 256))
    response = client.post("/v1/translate/tiny", content=bytes(data), headers={"Content-Type": "image/png"})
    assert response.status_code < 500, response.text
