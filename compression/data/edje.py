"""The photograph inside an Edje file (`.edj`), as Enlightenment ships its wallpapers.

An Edje file is an EET archive: a directory of named entries, each at an offset in the file. Enlightenment's
photo wallpapers keep the picture at several resolutions, each entry a JPEG stored as it is; the largest is
the photograph. Only the directory's second version (the one EFL has written since 2008) is read.
"""

import struct

from .folders import DataError

EET_MAGIC = 0x1EE70F42
_HEADER = struct.Struct(">III")  # magic, entries, dictionary entries
_ENTRY = struct.Struct(">6I")  # offset, size, data size, name offset, name size, flags
_COMPRESSED_OR_CIPHERED = 0x3  # bits of an entry's flags
JPEG_START = b"\xff\xd8\xff"


def largest_jpeg(edje: bytes, name: str) -> bytes:
    """The largest JPEG entry stored as it is in the Edje file `edje` (read whole); `name` is for errors."""
    if len(edje) < _HEADER.size:
        raise DataError(f"{name} is not an Edje file: too short")
    magic, count, _ = _HEADER.unpack_from(edje)
    if magic != EET_MAGIC:
        raise DataError(f"{name} is not an Edje file of EET's second version (magic {magic:#x})")
    if _HEADER.size + count * _ENTRY.size > len(edje):
        raise DataError(f"{name} is cut short: its directory names {count} entries")
    largest = b""
    for number in range(count):
        offset, size, _, _, _, flags = _ENTRY.unpack_from(edje, _HEADER.size + number * _ENTRY.size)
        if offset + size > len(edje):
            raise DataError(f"{name} is cut short: an entry ends past the file")
        data = edje[offset : offset + size]
        if not flags & _COMPRESSED_OR_CIPHERED and data.startswith(JPEG_START) and size > len(largest):
            largest = data
    if not largest:
        raise DataError(f"{name} holds no JPEG picture")
    return largest
