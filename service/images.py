"""The image codec: decode what users send, prepare the model input, encode the answer.

Decoding policy (documented in the README):
- PNG, JPEG and WebP only; animated images are refused. A JPEG that carries more images (MPO: the
  depth maps and gain maps of phone photos) is served from its first, the photo.
- EXIF orientation is applied first, so the answer is upright as the user sees it.
- Modes: RGB as is; L and 1 are replicated to three channels; transparency (LA, RGBA, PA, P with
  a transparent colour) is composited over white; CMYK and YCbCr are converted by Pillow; 16- and
  32-bit grayscale (I;16, I, F) is scaled to 8 bits by its full range.
- A pixel-count cap (a decompression-bomb guard) is checked from the header, before decoding.

Pillow reads the header and decides all of the above. The pixels of the common cases, 8-bit RGB PNG and RGB
JPEG without an orientation to apply, come from libspng (pyspng) and libjpeg-turbo (simplejpeg): a 256-px photo
decodes in 1.3 ms instead of 2.3 (PNG) and 0.27 instead of 0.68 (JPEG), see bench/codecs.py. When either
refuses an image, Pillow decodes it and decides, so what is refused and why stays Pillow's.

Every refusal raises ImageError with an HTTP status and a sentence for the JSON body.
"""

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pyspng
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = None  # we enforce our own, configurable cap (and answer 413, not a warning)

FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
MIN_SIDE = 16  # reflection padding inside the generators needs a few pixels at a quarter of the size
PNG_RGB8 = (8, 2)  # IHDR bit depth and colour type of 8-bit RGB
EXIF_ORIENTATION = 0x0112
# Where a PNG can carry an orientation for Pillow to apply (EXIF, or XMP in international text); any of these
# bytes, even by chance inside the pixels, sends the PNG to Pillow.
PNG_ORIENTATION_CARRIERS = (b"eXIf", b"iTXt", b"zTXt", b"Raw profile type exif")


class ImageError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def declared_pixels(data: bytes) -> int:
    """The pixels the image's header declares (0 when it has no readable header: decoding will say why)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.width * image.height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return 0


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes -> upright RGB uint8 array [H, W, 3]."""
    if not data:
        raise ImageError(400, "the request body is empty: send an image")
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageError(415, f"not a PNG, JPEG or WebP image ({error})") from None
    except ValueError as error:  # Pillow's guards, e.g. a text chunk that would inflate past its limit
        raise ImageError(422, f"the image could not be decoded: {error}") from None
    fast = image.format in ("PNG", "JPEG")  # not MPO: its first picture is cut out by Pillow
    if image.format == "MPO":
        image = _first_frame(image)
    if image.format not in FORMATS.values():
        raise ImageError(415, f"{image.format} images are not supported: send PNG, JPEG or WebP")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(413, f"the image has {width}x{height} = {width * height} pixels, more than {max_pixels}")
    if getattr(image, "n_frames", 1) > 1:
        raise ImageError(422, "animated images are not supported: send a single frame")
    if fast and (rgb := _fast_decode(data, image)) is not None:
        return rgb
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(422, f"the image could not be decoded: {error}") from None


def _fast_decode(data: bytes, image: Image.Image) -> np.ndarray | None:
    """The pixels by a faster decoder when the image needs nothing but decoding; None: leave it to Pillow."""
    try:
        if image.format == "PNG" and image.mode == "RGB" and tuple(data[24:26]) == PNG_RGB8:
            return None if any(c in data for c in PNG_ORIENTATION_CARRIERS) else pyspng.load(data, "RGB")
        if image.format == "JPEG" and image.mode == "RGB" and image.getexif().get(EXIF_ORIENTATION, 1) == 1:
            return simplejpeg.decode_jpeg(data, "RGB")
    except (RuntimeError, ValueError, OSError):
        pass  # Pillow decodes it, or says why not
    return None


def _first_frame(image: Image.Image) -> Image.Image:
    """The photo of a multi-picture JPEG, as a plain JPEG image (its other pictures are not the photo)."""
    try:
        image.seek(0)
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(422, f"the image could not be decoded: {error}") from None
    first = image.copy()
    first.format = "JPEG"
    first.info = dict(image.info)
    return first


def to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array / top * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class Prepared:
    """A model input [1, 3, H', W'] in [-1, 1], padded by reflection, and the region to crop back."""

    tensor: np.ndarray
    height: int
    width: int


def padded_side(side: int, multiple: int) -> int:
    side = max(side, MIN_SIDE)
    return -(-side // multiple) * multiple


def prepare(rgb: np.ndarray, multiple: int) -> Prepared:
    height, width = rgb.shape[:2]
    pad_h, pad_w = padded_side(height, multiple) - height, padded_side(width, multiple) - width
    x = rgb.astype(np.float32) * (2.0 / 255.0) - 1.0
    if pad_h or pad_w:
        mode = "reflect" if min(height, width) > 1 else "edge"
        x = np.pad(x, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    return Prepared(np.ascontiguousarray(x.transpose(2, 0, 1)[None]), height, width)


def finish(output: np.ndarray, prepared: Prepared) -> np.ndarray:
    """Model output [1, 3, H', W'] in [-1, 1] -> RGB uint8 [H, W, 3] at the input's size."""
    y = output[0, :, : prepared.height, : prepared.width]
    return ((np.clip(y, -1.0, 1.0) + 1.0) * 127.5 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def encode_png(rgb: np.ndarray) -> bytes:
    """A lossless PNG with unfiltered rows in stored deflate blocks.

    Pillow's encoder spends ~6 ms on a 256x256 generator output filtering and compressing rows that
    barely compress (the output is noisy); storing them costs ~0.2 ms for a ~20% larger answer.
    Ask for WebP or JPEG when bytes matter more than milliseconds.
    """
    height, width, _ = rgb.shape
    rows = np.empty((height, width * 3 + 1), np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = rgb.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, not interlaced
    idat = zlib.compress(rows.tobytes(), 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def encode(rgb: np.ndarray, fmt: str) -> bytes:
    if fmt == "png":
        return encode_png(rgb)
    image = Image.fromarray(rgb)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, format="JPEG", quality=92)
    elif fmt == "webp":
        image.save(buffer, format="WEBP", quality=92, method=0)
    else:
        raise ImageError(400, f"unknown output format {fmt!r}: use png, jpeg or webp")
    return buffer.getvalue()


def decode_and_prepare(data: bytes, max_pixels: int, multiple: int) -> Prepared:
    """The gateway's work before the model, in one hop to a worker thread."""
    return prepare(decode(data, max_pixels), multiple)


def finish_and_encode(output: np.ndarray, prepared: Prepared, fmt: str) -> bytes:
    """The gateway's work after the model, in one hop to a worker thread."""
    return encode(finish(output, prepared), fmt)
