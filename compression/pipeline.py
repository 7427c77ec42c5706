"""The whole compression pipeline, stage by stage, resumable: `ganc compress SPEC.yaml`.

    data -> teacher -> [distill] -> supernet -> search -> finetune -> export -> publish

Each stage works in its own folder under the job's work folder and writes `done.json` there when it
has finished; a resumed pipeline skips finished stages and resumes a training stage from its last
checkpoint. Everything that can be checked cheaply (paths, choice set, target, budgets) is checked
before the first expensive step, and publishing comes last, so a failed job publishes nothing.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganc.card import model_name
from ganc.repository import VariantVersion, publish_variant, read_card
from ganc.spec import CompressionSpec

from .checkpoint import load_checkpoint, load_generator, resolve_checkpoint
from .data import DataError, Preprocess, TranslationDataset, build_sample_dataset, find_split
from .export import export_onnx, make_card, verify_onnx
from .metrics import evaluate_generator
from .models import ChannelConfig, ModelSpec, extract_subnet, get_choice_set
from .progress import Progress, no_progress
from .search import LatencyTarget, SearchConfig, check_budgets_reachable, measure_model_ms, run_search, smallest_config
from .training import DataConfig, DistillConfig, LoopConfig, TeacherConfig, load_teacher, train_distill, train_teacher

MARKER = "done.json"
TEACHER_VARIANT = "teacher"


@dataclass
class PipelineResult:
    published: list[VariantVersion]
    work_dir: Path


def student_variant(config: str) -> str:
    return f"student-{config}"


def latency_target(spec: CompressionSpec) -> LatencyTarget:
    device = "cuda" if spec.search.target == "onnxruntime-cuda" else "cpu"
    return LatencyTarget(device=device, threads=spec.search.threads, size=spec.search.size)


def search_config(spec: CompressionSpec) -> SearchConfig:
    s = spec.search
    return SearchConfig(
        macs_budgets=list(s.macs_budgets),
        latency_budgets_ms=list(s.latency_budgets_ms),
        target=latency_target(spec),
        method=s.method,
        exhaustive_limit=s.exhaustive_limit,
        calibration_samples=s.calibration_samples,
        population_size=s.population_size,
        iterations=s.iterations,
        mutate_prob=s.mutate_prob,
        mutation_ratio=s.mutation_ratio,
        parent_ratio=s.parent_ratio,
        seed=spec.seed,
    )


class Pipeline:
    def __init__(self, spec: CompressionSpec, work_dir: Path, repo: Path, job: str, progress: Progress) -> None:
        self.spec, self.work, self.repo, self.job, self.progress = spec, work_dir, repo, job, progress

    # -- bookkeeping ---------------------------------------------------------------------------
    def done(self, stage: str) -> dict[str, Any] | None:
        marker = self.work / stage / MARKER
        return json.loads(marker.read_text()) if marker.is_file() else None

    def finish(self, stage: str, outputs: dict[str, Any]) -> dict[str, Any]:
        folder = self.work / stage
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text(json.dumps(outputs, indent=2, default=str) + "\n")
        self.progress(stage, 1, 1, "done")
        return outputs

    def stage(self, name: str, run) -> dict[str, Any]:
        finished = self.done(name)
        if finished is not None:
            return finished
        start = time.monotonic()
        outputs = run()
        return self.finish(name, {**outputs, "seconds": round(time.monotonic() - start, 1)})

    # -- checks before any expensive work ------------------------------------------------------
    def check(self) -> None:
        spec = self.spec
        d = spec.dataset
        if d.path is not None:
            find_split(d.path, "train")
        elif d.photos is not None and not d.photos.is_dir():
            raise DataError(f"dataset.photos: folder {d.photos} does not exist")
        n_blocks, residual = spec.teacher.n_blocks, spec.teacher.residual
        if spec.teacher.checkpoint is not None:
            payload = load_checkpoint(spec.teacher.checkpoint)
            if payload.get("kind") not in ("pix2pix", "cyclegan"):
                raise ValueError(f"teacher.checkpoint: {spec.teacher.checkpoint} is not a teacher checkpoint")
            options = payload["generator"]["options"]
            n_blocks, residual = options.get("n_blocks", 9), options.get("residual", False)
        choice_set = get_choice_set(spec.supernet.choices)
        target = latency_target(spec)
        target.check_available()
        config = search_config(spec)
        smallest_ms = None
        if config.budget_kind == "latency_ms":  # the smallest sub-network's latency does not depend on its weights
            options = {"config": str(smallest_config(choice_set)), "n_blocks": n_blocks, "residual": residual}
            smallest_ms = measure_model_ms(ModelSpec("sub_mobile_resnet", options).build(), target)
        check_budgets_reachable(choice_set, n_blocks, config, smallest_ms)

    # -- stages --------------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        d = self.spec.dataset
        if d.path is not None:
            return {"dataset": str(d.path)}
        out = self.work / "data" / "dataset"
        if not (out / "dataset.json").is_file():
            shutil.rmtree(out, ignore_errors=True)
            build_sample_dataset(
                d.sample,
                d.size,
                out,
                d.photos,
                d.seed,
                lambda done, total: self.progress("data", done, total, d.sample),
            )
        return {"dataset": str(out)}

    def data_config(self, dataset: str) -> DataConfig:
        d = self.spec.dataset
        return DataConfig(dataset=dataset, crop_size=d.crop_size or d.size)

    def loop(self, training) -> LoopConfig:
        every = min(training.every, training.steps)
        return LoopConfig(
            steps=training.steps,
            batch_size=training.batch_size,
            lr=training.lr,
            seed=self.spec.seed,
            checkpoint_every=every,
            eval_every=every,
            sample_every=every,
        )

    def teacher(self, dataset: str) -> dict[str, Any]:
        t = self.spec.teacher
        if t.checkpoint is not None:
            return {"checkpoint": str(resolve_checkpoint(t.checkpoint))}
        out = self.work / "teacher" / "run"
        config = TeacherConfig(
            out=str(out),
            model=t.model,
            ngf=t.ngf,
            n_blocks=t.n_blocks,
            residual=t.residual,
            ndf=t.ndf,
            gan_mode=t.gan_mode,
            lambda_l1=t.lambda_l1,
            data=self.data_config(dataset),
            loop=self.loop(t),
        )
        train_teacher(config, resume=(out / "config.json").is_file(), progress=self.progress)
        return {"checkpoint": str(resolve_checkpoint(out))}

    def student_recon_weight(self) -> float | None:
        """Students of a paired teacher keep its balance of reconstruction against the adversarial loss."""
        t = self.spec.teacher
        return t.lambda_l1 if t.checkpoint is None and t.model == "pix2pix" else None

    def distill(self, dataset: str, teacher: str, student: str, **options: Any) -> dict[str, Any]:
        stage = {"mobile": "distill", "supernet": "supernet"}[student]
        out = self.work / stage / "run"
        training = self.spec.supernet
        loop = self.loop(training)
        if student == "mobile":
            loop.steps = training.distill_steps
            loop.checkpoint_every = loop.eval_every = loop.sample_every = min(training.every, training.distill_steps)
        config = DistillConfig(out=str(out), teacher=teacher, student=student, data=self.data_config(dataset),
                               loop=loop, lambda_recon=self.student_recon_weight(), **options)  # fmt: skip
        train_distill(config, resume=(out / "config.json").is_file(), progress=self.progress)
        return {"run": str(out)}

    def search(self, dataset: str, teacher_path: str, supernet_run: str) -> dict[str, Any]:
        teacher = load_teacher(teacher_path)
        _, supernet = load_generator(Path(supernet_run))
        pairs = list(
            TranslationDataset(Path(dataset), "train2", Preprocess(multiple=4)).eval_pairs(self.spec.search.eval_images)
        )
        result = run_search(
            supernet,
            get_choice_set(self.spec.supernet.choices),
            pairs,
            teacher.generator,
            teacher.kind == "pix2pix",
            search_config(self.spec),
            self.work / "search",
            self.progress,
        )
        return {
            "ladder": [c.config for c in result.ladder],
            "latency_ms": {c.config: c.latency_measured_ms for c in result.ladder},
        }

    def finetune(self, dataset: str, teacher: str, supernet_run: str, ladder: list[str]) -> dict[str, Any]:
        runs = {}
        f = self.spec.finetune
        for config in ladder:
            if f.steps == 0:
                runs[config] = None
                continue
            out = self.work / "finetune" / config
            options = DistillConfig(
                out=str(out),
                teacher=teacher,
                student="subnet",
                config=config,
                init_from=supernet_run,
                data=self.data_config(dataset),
                loop=self.loop(f),
                lambda_recon=self.student_recon_weight(),
            )
            train_distill(options, resume=(out / "config.json").is_file(), progress=self.progress)
            runs[config] = str(out)
        return {"runs": runs}

    def export(
        self,
        dataset: str,
        teacher_path: str,
        supernet_run: str,
        finetuned: dict[str, str | None],
        latency: dict[str, float],
    ) -> dict[str, Any]:
        teacher = load_teacher(teacher_path)
        val = list(TranslationDataset(Path(dataset), "val", Preprocess(multiple=4)).eval_pairs())
        paired = teacher.kind == "pix2pix"
        target = latency_target(self.spec)
        supernet_spec, supernet = load_generator(Path(supernet_run))
        variants = []
        if self.spec.publish_teacher:
            variants.append((TEACHER_VARIANT, teacher.spec, teacher.generator, None))
        for config, run in finetuned.items():
            spec, model = (
                load_generator(Path(run))
                if run
                else extract_subnet(supernet_spec, supernet, ChannelConfig.parse(config))
            )
            variants.append((student_variant(config), spec, model, latency.get(config)))
        exported = {}
        for done, (variant, spec, model, measured) in enumerate(variants, 1):
            folder = self.work / "export" / variant
            folder.mkdir(parents=True, exist_ok=True)
            onnx_path = folder / "model.onnx"
            model.eval()
            export_onnx(model, onnx_path, fp16=self.spec.fp16)
            verify_onnx(model, onnx_path, fp16=self.spec.fp16)
            quality = evaluate_generator(model, val, None if variant == TEACHER_VARIANT else teacher.generator, paired)
            latency_ms = measured if measured is not None else measure_model_ms(model, target)
            card = make_card(
                spec,
                model,
                onnx_path,
                self.spec.family,
                variant,
                self.spec.task,
                self.spec.fp16,
                teacher=None if variant == TEACHER_VARIANT else model_name(self.spec.family, TEACHER_VARIANT),
                job=self.job,
                quality={k: round(v, 4) for k, v in quality.items()},
                latency_ms={target.name: round(latency_ms, 3)},
            )
            (folder / "card.json").write_text(card.model_dump_json(indent=2) + "\n")
            exported[variant] = str(folder)
            self.progress("export", done, len(variants), variant)
        return {"variants": exported}

    def publish(self, exported: dict[str, str]) -> dict[str, Any]:
        published = {}
        for done, (variant, folder) in enumerate(exported.items(), 1):
            card = read_card(Path(folder) / "card.json")
            version = publish_variant(self.repo, Path(folder) / "model.onnx", card)
            published[variant] = {"model": version.model_name, "version": version.version, "path": str(version.path)}
            self.progress("publish", done, len(exported), version.model_name)
        return {"published": published}

    def run(self) -> dict[str, Any]:
        self.check()
        dataset = self.stage("data", self.data)["dataset"]
        teacher = self.stage("teacher", lambda: self.teacher(dataset))["checkpoint"]
        init_from = None
        if self.spec.supernet.path == "original":
            width = max(get_choice_set(self.spec.supernet.choices).largest.channels)
            init_from = self.stage("distill", lambda: self.distill(dataset, teacher, "mobile", ngf=width))["run"]
        supernet = self.stage(
            "supernet",
            lambda: self.distill(dataset, teacher, "supernet", choices=self.spec.supernet.choices, init_from=init_from),
        )["run"]
        search = self.stage("search", lambda: self.search(dataset, teacher, supernet))
        finetuned = self.stage("finetune", lambda: self.finetune(dataset, teacher, supernet, search["ladder"]))["runs"]
        exported = self.stage(
            "export", lambda: self.export(dataset, teacher, supernet, finetuned, search["latency_ms"])
        )
        return self.stage("publish", lambda: self.publish(exported["variants"]))


def run_pipeline(
    spec: CompressionSpec, work_dir: Path, repo: Path, job: str, resume: bool = False, progress: Progress = no_progress
) -> dict[str, Any]:
    """Run (or resume) every stage of `spec` in `work_dir`, publishing into `repo` under job id `job`."""
    if not resume and work_dir.exists() and any(work_dir.iterdir()):
        raise ValueError(f"work folder {work_dir} is not empty; pass --resume to continue that job")
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "spec.json").write_text(spec.model_dump_json(indent=2) + "\n")
    return Pipeline(spec, work_dir, repo, job, progress).run()
