"""`ganc compress SPEC.yaml`: the whole pipeline, from dataset to published family."""

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import tracebacks_kept_in
from ..settings import get_settings
from ..spec import CompressionSpec, SpecError, parse_spec
from .errors import friendly_errors
from .options import Repo, repository
from .progress import ProgressBars


def read_spec_file(path: Path) -> object:
    """The parsed YAML (or JSON) of a spec file, not yet validated."""
    import yaml

    if not path.is_file():
        raise SpecError(f"spec {path} does not exist")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None


def load_spec_file(path: Path) -> CompressionSpec:
    return parse_spec(read_spec_file(path), str(path))


@friendly_errors
def compress(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="the compression spec")],
    resume: Annotated[bool, typer.Option(help="skip finished stages and resume the running one")] = False,
    rerun_changed: Annotated[
        bool, typer.Option(help="with --resume: run again the stages whose inputs changed, and every stage after")
    ] = False,
    work_dir: Annotated[
        Path | None, typer.Option(help="the job's work folder (default: GANC_JOBS_ROOT/<family>, var/jobs/<family>)")
    ] = None,
    job: Annotated[str | None, typer.Option(help="job id for the cards (default: the work folder name)")] = None,
    repo: Repo = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the spec's `device`, auto)")
    ] = None,
    nproc_per_node: Annotated[
        int, typer.Option(min=1, help="training processes on this machine, sharing every batch (torchrun's engine)")
    ] = 1,
) -> None:
    """Train the teacher, the supernet, search, fine-tune, export and publish a family of variants."""
    spec = load_spec_file(spec_path)
    from compression.pipeline import RANK_LOGS, run_pipeline

    work = work_dir or get_settings().jobs_root / spec.family
    device = device or spec.device
    if nproc_per_node > 1 and "LOCAL_RANK" not in os.environ:
        from .launch import check_process_count, launch

        check_process_count(nproc_per_node, device)
        arguments = ["compress", str(spec_path), "--work-dir", str(work), "--job", job or work.name]
        arguments += ["--device", device, "--repo", str(repository(repo))]
        arguments += ["--resume"] * resume + ["--rerun-changed"] * rerun_changed
        typer.echo(launch(nproc_per_node, arguments, work / RANK_LOGS), nl=False)
        return
    from compression.training.placement import training_placement

    bars = ProgressBars()
    keep = get_settings().keep_versions
    with tracebacks_kept_in(work), training_placement(device, spec.data_workers) as placement:
        result = run_pipeline(
            spec,
            work,
            repository(repo),
            job or work.name,
            resume=resume,
            rerun_changed=rerun_changed,
            progress=bars,
            keep_versions=keep,
            placement=placement,
        )
    bars.close()
    if placement.writes:
        typer.echo(json.dumps(result))
        typer.echo(f"report: {result['report']}", err=True)


@friendly_errors
def quantize(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="the spec that made the family")],
    work_dir: Annotated[
        Path | None,
        typer.Option(help="where its dataset is built or found (default: GANC_JOBS_ROOT/<family>-int8)"),
    ] = None,
    repo: Repo = None,
) -> None:
    """Add INT8 variants to a published family: each of its latest float variants quantised, checked against its
    float self (the spec's `int8:` settings) and published where it passes."""
    spec = load_spec_file(spec_path)
    from compression.pipeline import quantize_family

    bars = ProgressBars()
    work = work_dir or get_settings().jobs_root / f"{spec.family}-int8"
    with tracebacks_kept_in(work):
        result = quantize_family(spec, work, repository(repo), progress=bars)
    bars.close()
    typer.echo(json.dumps(result))
