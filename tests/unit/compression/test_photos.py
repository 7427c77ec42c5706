"""`gather_photos` on small real .deb files, built here with dpkg-deb and read back with it."""

import hashlib
import io
import json
import struct
import subprocess

import numpy as np
import pytest
from PIL import Image

from compression.data import DataError, gather_photos
from compression.data.edje import EET_MAGIC, largest_jpeg
from compression.data.photos import download_debs, licence_of

PLASMA = "test-plasma-wallpapers"  # the Plasma layout: a folder per wallpaper, one image per resolution
MATE = "test-mate-backgrounds"  # a flat folder of images
ENLIGHTENMENT = "test-enlightenment-data"  # Edje files, each a photo at several resolutions

PLASMA_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: test-plasma-wallpapers

Files: *
Copyright: 2024 A Photographer
License: GPL-2+

Files: debian/*
Copyright: 2024 A Packager
License: GPL-2+

License: GPL-2+
 This package is free software.
"""

MATE_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2024 A Painter
License: GPL-2+

Files: nature/Moss.jpg
       nature/Fern?.jpg
Copyright: 2024 Another Photographer
License: CC-BY-SA-4.0
 The licence's text.
"""


def _image(path, size, kind="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(size[0]).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, kind)


def _jpeg(size):
    pixels = np.random.default_rng(size[0]).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, "JPEG")
    return encoded.getvalue()


def _edje(entries):
    """An EET archive (second version) of `entries`: (name, data, flags), stored in that order after the directory."""
    directory_size = 12 + 24 * len(entries)
    names = b"".join(name.encode() + b"\0" for name, _, _ in entries)
    directory, offset, name_offset = b"", directory_size + len(names), directory_size
    for name, data, flags in entries:
        directory += struct.pack(">6I", offset, len(data), len(data), name_offset, len(name) + 1, flags)
        offset, name_offset = offset + len(data), name_offset + len(name) + 1
    return struct.pack(">III", EET_MAGIC, len(entries), 0) + directory + names + b"".join(d for _, d, _ in entries)


def _build_deb(tree, folder, package, version, copyright_text):
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: ganc tests <tests@example.org>\nDescription: wallpapers for ganc's tests\n"
    )
    doc = tree / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    # apt names the file <package>_<version>_<arch>.deb, with the epoch's colon written %3a.
    deb = folder / f"{package}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Znone", "--build", str(tree), str(deb)], check=True)


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("debs")
    trees = tmp_path_factory.mktemp("trees")

    plasma = trees / PLASMA
    lake = plasma / "usr/share/wallpapers/Lake/contents"
    _image(lake / "images/64x40.png", (64, 40))
    _image(lake / "images/32x20.png", (32, 20))
    (lake / "images/1280x800.png").symlink_to("64x40.png")  # as Plasma does for the sizes it does not ship
    _image(lake / "screenshot.png", (16, 10))
    _image(plasma / "usr/share/wallpapers/Swirl/contents/images/64x40.png", (64, 40))
    _build_deb(plasma, folder, PLASMA, "4:5.27-1", PLASMA_COPYRIGHT)

    mate = trees / MATE
    backgrounds = mate / "usr/share/backgrounds/mate"
    _image(backgrounds / "nature/Leaf.jpg", (48, 32), "JPEG")
    _image(backgrounds / "nature/Moss.jpg", (40, 30), "JPEG")
    _image(backgrounds / "abstract/Blob.png", (40, 30))
    _build_deb(mate, folder, MATE, "1.26.0-1", MATE_COPYRIGHT)

    enlightenment = trees / ENLIGHTENMENT / "usr/share/enlightenment/data/backgrounds"
    enlightenment.mkdir(parents=True)
    (enlightenment / "Maple.edj").write_bytes(
        _edje(
            [
                ("edje/images/1", _jpeg((32, 18)), 0),
                ("edje/images/0", _jpeg((64, 36)), 0),
                ("edje/images/2", b"\xff\xd8\xff" + bytes(10_000), 1),  # compressed: not a JPEG as it is stored
                ("edje/collections/0", b"layout", 0),
            ]
        )
    )
    _build_deb(trees / ENLIGHTENMENT, folder, ENLIGHTENMENT, "0.25.4-2", PLASMA_COPYRIGHT)
    return folder


def _selection(tmp_path, mate_chosen=("nature/Leaf.jpg", "nature/Moss.jpg")):
    lists = {
        PLASMA: {
            "chosen": {"usr/share/wallpapers/Lake": "a lake"},
            "left_out": {"usr/share/wallpapers/Swirl": "drawing: a swirl"},
        },
        MATE: {
            "chosen": {f"usr/share/backgrounds/mate/{path}": "a plant" for path in mate_chosen},
            "left_out": {"usr/share/backgrounds/mate/abstract/Blob.png": "abstract: a blob"},
        },
        ENLIGHTENMENT: {
            "chosen": {"usr/share/enlightenment/data/backgrounds/Maple.edj": "maple leaves"},
            "left_out": {},
        },
        # Nothing chosen, so not needed: its .deb is in no folder and never downloaded.
        "test-gnome-backgrounds": {"chosen": {}, "left_out": {"usr/share/backgrounds/gnome/blobs.svg": "drawing"}},
    }
    path = tmp_path / "wallpapers.json"
    path.write_text(json.dumps({"packages": lists}))
    return path


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_keeps_only_the_largest_resolution_of_each_chosen_photo(debs, tmp_path):
    out = tmp_path / "photos"
    gather_photos(out, debs=debs, selection=_selection(tmp_path))
    assert _names(out) == [
        "manifest.json",
        f"{ENLIGHTENMENT}--Maple.jpg",
        f"{MATE}--Leaf.jpg",
        f"{MATE}--Moss.jpg",
        f"{PLASMA}--Lake.png",
    ]
    assert Image.open(out / f"{PLASMA}--Lake.png").size == (64, 40)
    assert (out / f"{ENLIGHTENMENT}--Maple.jpg").read_bytes() == _jpeg((64, 36))  # the largest, byte for byte


def test_manifest_names_package_licence_size_and_checksum(debs, tmp_path):
    out = tmp_path / "photos"
    manifest = gather_photos(out, debs=debs, selection=_selection(tmp_path))
    assert json.loads((out / "manifest.json").read_text()) == manifest
    by_file = {photo["file"]: photo for photo in manifest["photos"]}
    lake = by_file[f"{PLASMA}--Lake.png"]
    assert lake["package"] == PLASMA and lake["version"] == "4:5.27-1"
    assert lake["path"] == "usr/share/wallpapers/Lake/contents/images/64x40.png"
    assert (lake["width"], lake["height"]) == (64, 40)
    assert by_file[f"{MATE}--Leaf.jpg"]["license"] == "GPL-2+"
    assert by_file[f"{MATE}--Moss.jpg"]["license"] == "CC-BY-SA-4.0"  # the last Files paragraph that matches
    for photo in manifest["photos"]:
        assert photo["sha256"] == hashlib.sha256((out / photo["file"]).read_bytes()).hexdigest()


def test_refuses_a_listed_photo_missing_from_the_package_and_writes_nothing(debs, tmp_path):
    selection = _selection(tmp_path, mate_chosen=("nature/Leaf.jpg", "nature/Oak.jpg"))
    out = tmp_path / "out" / "photos"
    with pytest.raises(DataError, match=r"test-mate-backgrounds 1\.26\.0-1 has no .*nature/Oak\.jpg") as refused:
        gather_photos(out, debs=debs, selection=selection)
    assert len(str(refused.value).splitlines()) == 1
    # The first package's photos were already copied: into a staging folder that is gone.
    assert _names(tmp_path / "out") == []


def test_refuses_an_out_that_is_not_empty(debs, tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "mine.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="already exists and is not empty"):
        gather_photos(out, debs=debs, selection=_selection(tmp_path))
    assert _names(out) == ["mine.jpg"]


def test_refuses_a_debs_folder_without_a_needed_package(tmp_path):
    (tmp_path / "debs").mkdir()
    with pytest.raises(DataError, match=f"no .deb of {PLASMA} in"):
        gather_photos(tmp_path / "photos", debs=tmp_path / "debs", selection=_selection(tmp_path))
    assert not (tmp_path / "photos").exists()


def test_a_failing_apt_get_is_refused_in_one_line(tmp_path):
    # No network: apt-get looks the name up in its local lists and fails at once.
    with pytest.raises(DataError, match="apt-get") as refused:
        download_debs(["ganc-test-no-such-package"], tmp_path)
    assert len(str(refused.value).splitlines()) == 1


def test_licence_without_the_machine_readable_format_is_the_first_line_naming_one():
    text = "Packaged by someone.\n\nCopyright: 2011 An Artist\n  Licensed under CC-BY-SA-3.0.\n  License: other\n"
    assert licence_of("usr/share/backgrounds/x.jpg", text) == "Licensed under CC-BY-SA-3.0."


def test_licence_of_a_file_installed_out_of_its_source_folder_is_its_own_paragraphs():
    # As lomiri-wallpapers-16.04's copyright file: source paths under 16.04/, installed flat.
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: warty.png\nCopyright: 2004 Someone\nLicense: CC-BY-SA-3.0\n\n"
        "Files: 16.04/Bridge_by_A.jpg\nCopyright: 2018 A\nLicense: CC-BY-4.0\n\n"
        "Files: debian/*\nCopyright: 2020 Packager\nLicense: GPL-2+\n"
    )
    assert licence_of("usr/share/backgrounds/Bridge_by_A.jpg", text) == "CC-BY-4.0"
    assert licence_of("usr/share/backgrounds/warty.png", text) == "CC-BY-SA-3.0"


def test_an_edje_file_that_is_not_one_or_is_cut_short_is_refused_in_one_line():
    whole = _edje([("edje/images/0", _jpeg((16, 9)), 0)])
    for edje, said in [
        (b"GIF89a" + bytes(20), "not an Edje file of EET's second version"),
        (whole[:8], "too short"),
        (whole[:30], "its directory names 1 entries"),
        (whole[:-100], "an entry ends past the file"),
        (_edje([("edje/collections/0", b"layout", 0)]), "holds no JPEG picture"),
    ]:
        with pytest.raises(DataError, match=said) as refused:
            largest_jpeg(edje, "Maple.edj")
        assert str(refused.value).startswith("Maple.edj") and len(str(refused.value).splitlines()) == 1
