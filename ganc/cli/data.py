"""`ganc data`: build sample datasets offline from photographs."""

import json
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
