"""`ganc data`: gather photographs, and build sample datasets offline from them."""

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from .errors import friendly_errors
from .progress import ProgressBars

data_app = typer.Typer(help="Build and check datasets.", no_args_is_help=True)


@data_app.command("sample")
@friendly_errors
def sample_dataset(
    task: Annotated[str, typer.Option(help="edges2photo, sr4x or gray2color")],
    out: Annotated[Path, typer.Option(help="folder to create")],
    size: Annotated[int, typer.Option(help="training crop size in pixels")] = 128,
    photos: Annotated[Path | None, typer.Option(help="your own folder of photos (default: scikit-image's)")] = None,
    seed: Annotated[int, typer.Option(help="seed for the split and the degradations")] = 0,
) -> None:
    """Build a dataset offline from photographs, with disjoint train/train2/val/test regions."""
    from compression.data import build_sample_dataset

    bars = ProgressBars()
    summary = build_sample_dataset(
        task, size, out, photos_dir=photos, seed=seed, progress=lambda done, total: bars("data", done, total, task)
    )
    bars.close()
    typer.echo(json.dumps({"out": str(out), **{k: summary[k] for k in ("task", "size", "layout", "counts")}}))


@data_app.command("photos")
@friendly_errors
def gather_wallpaper_photos(
    out: Annotated[Path, typer.Option(help="folder to create")],
    debs: Annotated[
        Path | None,
        typer.Option(help="folder of the packages' .deb files, downloaded before (default: apt-get download)"),
    ] = None,
) -> None:
    """Gather the photographs among Debian's wallpaper packages into a folder, with a manifest (licences, sha256)."""
    from compression.data import gather_photos

    bars = ProgressBars()
    manifest = gather_photos(out, debs=debs, progress=bars)
    bars.close()
    per_package = Counter(photo["package"] for photo in manifest["photos"])
    typer.echo(json.dumps({"out": str(out), "photos": len(manifest["photos"]), "per_package": per_package}))
