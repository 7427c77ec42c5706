"""How long a finished job's search takes, part by part, and what cheaper settings cost in ranking.

    .venv/bin/python bench/search_time.py --work-dir var/jobs/sr4x [--set eval_images=4 --set precision='"bf16"']

Runs the job's search again from scratch (no calibration or candidates kept from before) into a scratch
folder, with the job's search settings changed by each --set; prints, as JSON: the wall time of each part
(the search's timing.json, plus loading_and_judging: the checkpoints and the teacher's outputs on the crops),
the chosen ladder and, when candidates were scored differently from the job, the Spearman rank correlation of
their scores with the job's way of scoring them (every candidate the run evaluated, re-scored). Goal (issue
16): the whole search in at most 60 s on 2 cores, with the same ladder or a better one, Spearman >= 0.9.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from scipy.stats import spearmanr

from compression.checkpoint import load_generator
from compression.models import ChannelConfig
from compression.pipeline import MARKER, Pipeline
from compression.training import load_teacher
from ganc.spec import CompressionSpec, SearchSpec


def stage_output(work_dir: Path, stage: str, key: str) -> str:
    marker = work_dir / stage / MARKER
    if not marker.is_file():
        raise SystemExit(f"bench/search_time.py: {work_dir} has no finished {stage} stage")
    return json.loads(marker.read_text())[key]


def changed_spec(spec: CompressionSpec, settings: list[str]) -> CompressionSpec:
    search = spec.search.model_dump()
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in SearchSpec.model_fields:
            raise SystemExit(f"bench/search_time.py: --set {setting}: the search has no setting {name!r}")
        search[name] = json.loads(value)
    return spec.model_copy(update={"search": SearchSpec.model_validate(search)})


def job_scores(job: Pipeline, dataset: str, teacher_path: str, supernet_path: str, configs: list[str]):
    """The score the job's own search settings give each config."""
    _, supernet = load_generator(Path(supernet_path))
    judge = job.search_judge(dataset, load_teacher(Path(teacher_path)))
    scores = {}
    for config in configs:
        supernet.set_config(ChannelConfig.parse(config))
        scores[config] = round(judge.quality(supernet)[judge.metric], 4)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, required=True, help="a finished compression job's folder")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a search setting")
    args = parser.parse_args()
    spec = CompressionSpec.model_validate_json((args.work_dir / "spec.json").read_text())
    changed = changed_spec(spec, args.set)
    dataset = stage_output(args.work_dir, "data", "dataset")
    teacher = stage_output(args.work_dir, "teacher", "checkpoint")
    supernet = stage_output(args.work_dir, "supernet", "run")
    job_ladder = json.loads((args.work_dir / "search" / MARKER).read_text())["ladder"]
    with tempfile.TemporaryDirectory() as scratch:
        pipeline = Pipeline(changed, Path(scratch), Path(scratch) / "repo", "bench")
        start = time.perf_counter()
        result = pipeline.search(dataset, teacher, supernet)
        total = time.perf_counter() - start
        timing = json.loads((Path(scratch) / "search" / "timing.json").read_text())
        candidates = json.loads((Path(scratch) / "search" / "candidates.json").read_text())
        ladder = json.loads((Path(scratch) / "search" / "ladder.json").read_text())
    seconds = timing["seconds"]
    report = {
        "work_dir": str(args.work_dir),
        "settings": {s.partition("=")[0]: json.loads(s.partition("=")[2]) for s in args.set},
        "total_s": round(total, 1),
        "seconds": {"loading_and_judging": round(total - sum(seconds.values()), 2), **seconds},
        "evaluated": timing["evaluated"],
        "ladder": [
            {k: c[k] for k in ("config", "score", "latency_predicted_ms", "latency_measured_ms")} for c in ladder
        ],
        "same_ladder_as_job": result["ladder"] == job_ladder,
        "job_ladder": job_ladder,
    }
    scoring = ("eval_images", "screen_images", "precision")
    if any(getattr(changed.search, k) != getattr(spec.search, k) for k in scoring):
        configs = [c["config"] for c in candidates]
        job = Pipeline(spec, args.work_dir, args.work_dir / "repo", "bench")  # only its judge is used
        full = job_scores(job, dataset, teacher, supernet, sorted({*configs, *job_ladder}))
        report["ranking_spearman"] = round(
            float(spearmanr([c["score"] for c in candidates], [full[k] for k in configs]).statistic), 4
        )
        report["ladder_scored_as_job"] = [full[c["config"]] for c in ladder]
        report["job_ladder_scores"] = [full[k] for k in job_ladder]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
