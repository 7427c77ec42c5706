"""Real photographs, offline: the photographs among Debian's desktop wallpapers, gathered into one folder.

    ganc data photos --out data/photos                 # apt-get download, no root needed
    ganc data photos --out data/photos --debs DIR      # .deb files downloaded before (offline)

The selection list (wallpapers.json beside this file) names, per package, the photographs to take
and, for every other image, why it was left out; it was decided by looking at every image. Each
package is unpacked with `dpkg-deb -x`; a Plasma wallpaper ships one picture at many resolutions,
of which only the largest is kept, as is the largest picture inside an Enlightenment wallpaper (an Edje
file, `.edj`, written out as the JPEG it holds). `manifest.json` records, per photo, its package and version, the
path inside the package, its licence (from the package's copyright file), pixel size and sha256.
"""

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ganc.atomic import staging_folder
from ganc.repository import sha256_file

from ..progress import Progress, no_progress
from .edje import largest_jpeg
from .folders import IMAGE_SUFFIXES, DataError

WALLPAPERS = Path(__file__).with_name("wallpapers.json")
MANIFEST = "manifest.json"
EDJE_SUFFIX = ".edj"  # Enlightenment's wallpapers: the photograph is read out of the file (edje.py)


def read_selection(selection: Path = WALLPAPERS) -> dict[str, list[str]]:
    """The chosen paths per package, for the packages that have any (the others need no download)."""
    packages = json.loads(selection.read_text())["packages"]
    chosen = {}
    for package, lists in packages.items():
        both = set(lists["chosen"]) & set(lists["left_out"])
        if both:
            raise DataError(f"{selection}: {package} both chooses and leaves out {', '.join(sorted(both))}")
        if lists["chosen"]:
            chosen[package] = list(lists["chosen"])
    return chosen


def gather_photos(
    out: Path, *, debs: Path | None = None, selection: Path = WALLPAPERS, progress: Progress = no_progress
) -> dict:
    """Gather the photographs that `selection` chooses into `out` (absent or empty); return the manifest.

    `debs` is a folder holding the packages' .deb files; without it they are downloaded with apt-get.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} already exists and is not empty")
    if debs is not None and not debs.is_dir():
        raise DataError(f"folder of .deb files {debs} does not exist")
    chosen = read_selection(selection)
    total = sum(len(paths) for paths in chosen.values())

    with tempfile.TemporaryDirectory(prefix="ganc-photos-") as scratch_name:
        scratch = Path(scratch_name)
        deb_files = find_debs(debs, list(chosen)) if debs else download_debs(list(chosen), scratch, progress)
        out.parent.mkdir(parents=True, exist_ok=True)
        with staging_folder(out.parent) as staging:
            photos: list[dict] = []
            for package, paths in chosen.items():
                progress("gather", len(photos), total, f"unpacking {package}")
                unpacked = unpack_deb(deb_files[package], scratch / "unpacked" / package)
                _check_chosen(unpacked, paths)
                for path in paths:
                    photos.append(_copy_photo(unpacked, path, staging))
                    progress("gather", len(photos), total, photos[-1]["file"])
            manifest = {"photos": photos}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            if out.exists():
                out.rmdir()
            staging.rename(out)
    return manifest


def find_debs(folder: Path, packages: list[str]) -> dict[str, Path]:
    """The one .deb file of each package in `folder`, by apt's file naming (`<package>_<version>_<arch>.deb`)."""
    found = {}
    for package in packages:
        files = sorted(folder.glob(f"{package}_*.deb"))
        if not files:
            raise DataError(f"no .deb of {package} in {folder} (apt-get download {package} fetches it)")
        if len(files) > 1:
            raise DataError(f"several .deb files of {package} in {folder}: {', '.join(f.name for f in files)}")
        found[package] = files[0]
    return found


def download_debs(packages: list[str], scratch: Path, progress: Progress = no_progress) -> dict[str, Path]:
    """Download each package's .deb into a new folder in `scratch` with `apt-get download`, which needs no root."""
    folder = scratch / "debs"
    folder.mkdir()
    for number, package in enumerate(packages):
        progress("download", number, len(packages), package)
        _run(["apt-get", "download", "--quiet", package], cwd=folder)
    progress("download", len(packages), len(packages), "")
    return find_debs(folder, packages)


@dataclass(frozen=True)
class UnpackedDeb:
    package: str
    version: str
    root: Path
    copyright_text: str


def unpack_deb(deb: Path, root: Path) -> UnpackedDeb:
    """Unpack `deb` into `root` (created) with `dpkg-deb -x`; its licences come from its copyright file."""
    fields = _deb_fields(deb)
    package, version = fields["Package"], fields["Version"]
    root.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(deb), str(root)])
    copyright_file = root / "usr/share/doc" / package / "copyright"
    if not copyright_file.is_file():
        raise DataError(f"{package} has no usr/share/doc/{package}/copyright: its photos' licence is unknown")
    return UnpackedDeb(package, version, root, copyright_file.read_text(errors="replace"))


def _check_chosen(unpacked: UnpackedDeb, paths: list[str]) -> None:
    missing = [path for path in paths if not (unpacked.root / path).exists()]
    if missing:
        raise DataError(
            f"{unpacked.package} {unpacked.version} has no {', '.join(missing)}, which the selection list chooses "
            "(a new version of the package? review the list)"
        )


def _copy_photo(unpacked: UnpackedDeb, path: str, staging: Path) -> dict:
    image = _largest_image(unpacked.root, path)
    inside = image.relative_to(unpacked.root).as_posix()
    suffix = ".jpg" if image.suffix.lower() == EDJE_SUFFIX else image.suffix.lower()
    # A Plasma wallpaper is named by its folder (Kite/contents/images/2560x1600.jpg: Kite), a file by its own name.
    name = f"{unpacked.package}--{Path(path).name.removesuffix(image.suffix)}{suffix}"
    target = staging / name
    if target.exists():
        raise DataError(f"two photos of {unpacked.package} would both be named {name}")
    if image.suffix.lower() == EDJE_SUFFIX:
        target.write_bytes(largest_jpeg(image.read_bytes(), inside))
    else:
        shutil.copyfile(image, target)
    with Image.open(target) as opened:
        width, height = opened.size
    return {
        "file": name,
        "package": unpacked.package,
        "version": unpacked.version,
        "path": inside,
        "license": licence_of(inside, unpacked.copyright_text),
        "width": width,
        "height": height,
        "sha256": sha256_file(target),
    }


def _largest_image(root: Path, path: str) -> Path:
    """The file at `path`, or for a Plasma wallpaper folder the largest of its `contents/images/` by pixel count."""
    chosen = root / path
    if chosen.is_dir():
        # The smaller sizes are often symlinks to the largest; real files only, so none leads outside the package.
        images = [
            p
            for p in (chosen / "contents" / "images").glob("*")
            if p.is_file() and not p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not images:
            raise DataError(f"the wallpaper {path} has no images under contents/images/")
        return max(images, key=_pixel_count)
    if not chosen.resolve().is_relative_to(root.resolve()):
        raise DataError(f"{path} is a link that leads outside its package")
    return chosen


def _pixel_count(image: Path) -> int:
    with Image.open(image) as opened:
        return opened.width * opened.height


def licence_of(path: str, copyright_text: str) -> str:
    """The licence of the installed file `path` by a Debian copyright file.

    In the machine-readable format, the License of the last Files paragraph whose pattern matches;
    otherwise (or if none matches) the file's first line that names a licence.
    """
    licence = None
    for paragraph in _paragraphs(copyright_text):
        patterns = paragraph.get("Files", "").split()
        if "License" in paragraph and any(_matches(pattern, path) for pattern in patterns):
            licence = paragraph["License"].splitlines()[0].strip()
    if licence:
        return licence
    for line in copyright_text.splitlines():
        if re.search(r"licen[cs]e", line, re.IGNORECASE):
            return line.strip().removeprefix("License:").strip()
    return "unknown"


def _matches(pattern: str, installed_path: str) -> bool:
    # Files patterns name paths in the source tree, which the package installs under a prefix
    # (nature/Aqua.jpg becomes usr/share/backgrounds/mate/nature/Aqua.jpg): match any tail of the path.
    # Some install a source folder's files flat (16.04/Bridge.jpg becomes usr/share/backgrounds/Bridge.jpg):
    # a pattern naming one file also matches by that file's name.
    # In the format, `*` matches any characters, slashes included, and `?` one character.
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    parts = installed_path.split("/")
    if any(re.fullmatch(regex, "/".join(parts[i:])) for i in range(len(parts))):
        return True
    name = pattern.rsplit("/", 1)[-1]
    return "*" not in name and "?" not in name and name == parts[-1]


def _paragraphs(text: str) -> list[dict[str, str]]:
    """The paragraphs of a deb822 file as field -> value; continuation lines are joined with newlines."""
    paragraphs: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        field = None
        for line in block.splitlines():
            if line[:1].isspace() and field is not None:
                fields[field] += "\n" + line.strip()
            elif ":" in line and not line.startswith("#"):
                field, value = line.split(":", 1)
                fields[field] = value.strip()
        if fields:
            paragraphs.append(fields)
    return paragraphs


def _deb_fields(deb: Path) -> dict[str, str]:
    output = _run(["dpkg-deb", "--field", str(deb), "Package", "Version"])
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def _run(command: list[str], cwd: Path | None = None) -> str:
    """Run a Debian tool; refuse in one line when it is missing or fails, with the first line of what it said."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DataError(f"{command[0]} not found; on a system without it, pass a folder of .deb files") from None
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.startswith("E:")] or done.stderr.splitlines()
        raise DataError(f"{' '.join(command)} failed: {said[0].strip() if said else f'exit status {done.returncode}'}")
    return done.stdout
