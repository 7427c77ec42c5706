import io
import struct
import zlib

import numpy as np
import pytest
import skimage.data
from PIL import Image

from service.images import ImageError, _fast_decode, decode, encode, finish, padded_side, prepare

MAX = 16_000_000


def _bytes(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("RGB", (10, 20, 30), (10, 20, 30)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("RGBA", (0, 0, 0, 0), (255, 255, 255)),  # transparent over white
        ("RGBA", (200, 0, 0, 255), (200, 0, 0)),
        ("LA", (0, 128), (128, 128, 128)),  # half-transparent black over white
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 257 * 100, (100, 100, 100)),
    ],
)
def test_every_mode_becomes_rgb_by_the_documented_policy(mode, value, expected):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    rgb = decode(_bytes(Image.new(mode, (5, 3), value), fmt), MAX)
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[1, 2].astype(int) - expected).max() <= (2 if fmt == "JPEG" else 1)


def test_palette_images_with_transparency_are_composited():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    image.info["transparency"] = 0
    assert tuple(decode(_bytes(image, transparency=0), MAX)[0, 0]) == (255, 255, 255)


def _photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut()).resize((120, 90))


def _with_orientation(image: Image.Image, fmt: str) -> bytes:
    exif = image.getexif()
    exif[0x0112] = 6
    return _bytes(image, fmt, exif=exif)


@pytest.mark.parametrize(
    "fmt, options",
    [
        ("PNG", {}),
        ("PNG", {"optimize": True}),
        ("JPEG", {"quality": 92}),
        ("JPEG", {"quality": 92, "subsampling": 0}),
        ("JPEG", {"quality": 80, "progressive": True}),
    ],
)
def test_the_fast_decoders_give_pillows_pixels(fmt, options):
    data = _bytes(_photo(), fmt, **options)
    with Image.open(io.BytesIO(data)) as image:
        assert _fast_decode(data, image) is not None  # the common case takes the fast path
        expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(decode(data, MAX), expected)


@pytest.mark.parametrize(
    "data",
    [
        _bytes(Image.new("I;16", (8, 8), 300)),  # 16-bit
        _bytes(Image.new("RGBA", (8, 8))),  # transparency to composite
        _with_orientation(Image.new("RGB", (8, 4)), "PNG"),
        _with_orientation(Image.new("RGB", (8, 4)), "JPEG"),
        _bytes(Image.new("CMYK", (8, 8)), "JPEG"),
        _bytes(_photo(), "JPEG")[:3000],  # truncated: Pillow says why
        _bytes(_photo())[:3000],
    ],
)
def test_what_needs_more_than_decoding_is_left_to_pillow(data):
    with Image.open(io.BytesIO(data)) as image:
        assert _fast_decode(data, image) is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(fmt):
    rgb = decode(_with_orientation(Image.new("RGB", (6, 2), (0, 0, 0)), fmt), MAX)  # rotate 90 degrees to display
    assert rgb.shape[:2] == (6, 2)


def test_webp_and_jpeg_decode_and_every_format_encodes():
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    for fmt in ("png", "jpeg", "webp"):
        data = encode(rgb, fmt)
        assert decode(data, MAX).shape == rgb.shape
    assert np.array_equal(decode(encode(rgb, "png"), MAX), rgb)


@pytest.mark.parametrize(
    "data, status, message",
    [
        (b"", 400, "empty"),
        (b"GIF89a not really", 415, "not a PNG"),
        (_bytes(Image.new("RGB", (4, 4)), "GIF"), 415, "GIF images are not supported"),
        (_bytes(Image.new("RGB", (4, 4)), "BMP"), 415, "BMP"),
        (_bytes(Image.new("RGB", (40, 40)))[:60], 422, "could not be decoded"),
        (_bytes(_photo(), "JPEG")[:3000], 422, "could not be decoded"),
    ],
)
def test_refusals_say_what_was_wrong(data, status, message):
    with pytest.raises(ImageError, match=message) as caught:
        decode(data, MAX)
    assert caught.value.status == status


def test_animated_images_are_refused():
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="animated") as caught:
        decode(buffer.getvalue(), MAX)
    assert caught.value.status == 422


def test_pixel_cap_is_checked_before_decoding():
    data = _bytes(Image.new("L", (5000, 5000)))
    with pytest.raises(ImageError, match="more than 16000000") as caught:
        decode(data, 16_000_000)
    assert caught.value.status == 413


@pytest.mark.parametrize("height, width", [(1, 1), (1, 7), (5, 3), (16, 16), (33, 70), (256, 256)])
def test_any_size_is_padded_to_the_multiple_and_cropped_back(height, width):
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    prepared = prepare(rgb, 4)
    _, channels, padded_h, padded_w = prepared.tensor.shape
    assert channels == 3 and padded_h % 4 == 0 and padded_w % 4 == 0 and min(padded_h, padded_w) >= 16
    assert prepared.tensor.min() >= -1 and prepared.tensor.max() <= 1
    assert np.array_equal(finish(prepared.tensor, prepared), rgb)  # identity model: same pixels back


def test_padded_side():
    assert [padded_side(s, 4) for s in (1, 16, 17, 256)] == [16, 16, 20, 256]
    assert padded_side(100, 256) == 256


def _png_with_chunk(tag: bytes, body: bytes) -> bytes:
    data = _bytes(Image.new("RGB", (4, 4)))
    chunk = struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    return data[:33] + chunk + data[33:]  # right after IHDR


@pytest.mark.parametrize(
    "data, status",
    [
        (_png_with_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"a" * 5_000_000, 9)), 422),  # a text bomb
        (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR\x00\x00", 415),  # a truncated header
    ],
)
def test_hostile_images_are_refused_with_a_4xx(data, status):
    with pytest.raises(ImageError) as caught:
        decode(data, MAX)
    assert caught.value.status == status


def test_a_phone_photo_with_more_pictures_is_served_from_its_first():
    photo, depth = Image.new("RGB", (8, 6), (250, 0, 0)), Image.new("RGB", (8, 6), (0, 250, 0))
    rgb = decode(_bytes(photo, "MPO", save_all=True, append_images=[depth]), MAX)
    assert rgb.shape == (6, 8, 3) and rgb[3, 4, 0] > 240 and rgb[3, 4, 1] < 10
