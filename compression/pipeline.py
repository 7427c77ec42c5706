"""The whole compression pipeline, stage by stage, resumable: `ganc compress SPEC.yaml`.

    data -> teacher -> [distill] -> supernet -> search -> finetune -> export -> publish

Each stage works in its own folder under the job's work folder and writes `done.json` there when it
has finished; a resumed pipeline skips finished stages and resumes a training stage from its last
checkpoint; a stage whose inputs changed since it ran (compression/stage_inputs.py) is refused, or run again
with every stage after it. Everything that can be checked cheaply (paths, choice set, target, budgets) is checked
before the first expensive step, and publishing comes last, so a failed job publishes nothing.

Under torchrun (`ganc compress --nproc-per-node N`) every process runs the training stages together
(compression/training/placement.py); rank 0 alone builds the data, searches, exports, publishes and writes the
job's files, while the others wait for it.
"""

import functools
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ganc.atomic import check_writable, write_text_atomically
from ganc.card import model_name
from ganc.job_store import REPORT_FILE
from ganc.repository import prune_versions, publish_family, read_card, read_index
from ganc.spec import CompressionSpec, SpecError, TrainingSpec

from .checkpoint import load_generator, resolve_checkpoint
from .data import (
    DataError,
    TranslationDataset,
    build_photo_dataset,
    build_sample_dataset,
    check_photo_folder,
    find_split,
    judged_split,
)
from .export import export_onnx, make_card, verify_onnx
from .export.gate import judge_students, score_key
from .export.quantize import int8_variant
from .foreign import as_ganc_checkpoint
from .int8 import TEACHER_VARIANT, published_floats, quantize_published, quantize_variant
from .metrics import evaluate_generator
from .metrics.quality import teacher_outputs
from .models import TRUNK_SUFFIX, ChannelConfig, ModelSpec, extract_subnet, get_choice_set
from .precision import check_runnable
from .progress import Progress, no_progress
from .report import write_report
from .search import Judge, check_budgets_reachable, latency_target, measure_model_ms, run_search
from .stage_inputs import INPUTS_FILE, changed_fields, read_inputs, stage_inputs
from .training import (
    DataConfig,
    DistillRun,
    Teacher,
    TeacherRun,
    load_teacher,
    train_distill,
    train_distill_side_by_side,
    train_teacher,
)
from .training.placement import Placement

MARKER = "done.json"
BUDGETS_CHECKED = "budgets_checked.json"  # the budgets this job found reachable before any work
RUN_FOLDER = "run"
RANK_LOGS = "ranks"  # each training process's output, when `ganc compress --nproc-per-node` started several


def student_variant(config: str) -> str:
    return f"student-{config}"


@dataclass
class ExportVariant:
    """A generator to export and publish: the teacher, or a student of the ladder."""

    name: str
    spec: ModelSpec
    model: nn.Module
    latency_ms: float | None  # measured by the search; None: measure it at export

    @property
    def is_teacher(self) -> bool:
        return self.name == TEACHER_VARIANT


class ResumeError(ValueError):
    """A resumed job whose finished or started stages ran with other inputs than the spec's."""


class Pipeline:
    def __init__(
        self,
        spec: CompressionSpec,
        work_dir: Path,
        repo: Path,
        job: str,
        *,
        progress: Progress = no_progress,
        keep_versions: int | None = None,
        rerun_changed: bool = False,
        placement: Placement = Placement(),
    ) -> None:
        self.spec, self.work, self.repo, self.job = spec, work_dir, repo, job
        self.keep_versions, self.rerun_changed, self.placement = keep_versions, rerun_changed, placement
        self.progress = progress if placement.writes else no_progress

    @functools.cached_property
    def inputs(self) -> dict[str, dict[str, Any]]:
        """What each stage reads (compression/stage_inputs.py), worked out once: it reads the teacher's file."""
        return stage_inputs(self.spec)

    # -- bookkeeping ---------------------------------------------------------------------------
    def stage(self, name: str, run: Callable[[], dict[str, Any]], *, everyone: bool = False) -> dict[str, Any]:
        """The outputs of stage `name`: recorded when it finished before with the same inputs, else from running it
        now (from scratch when its inputs changed, resumed from its checkpoints when they did not). A training
        stage runs in `everyone` of the processes training together; any other in rank 0 while they wait."""
        marker = self.work / name / MARKER
        if self.placement.writes:
            self._prepare_stage(name)
        self.placement.barrier()
        if not marker.is_file() and (everyone or self.placement.writes):
            start = time.monotonic()
            outputs = {**run(), "seconds": round(time.monotonic() - start, 1)}
            if self.placement.writes:
                write_text_atomically(marker, json.dumps(outputs, indent=2, default=str) + "\n")
                self.progress(name, 1, 1, "done")
        self.placement.barrier()
        return json.loads(marker.read_text())

    def _prepare_stage(self, name: str) -> None:
        """Stage `name`'s folder with its inputs recorded; emptied first when they changed since it ran."""
        folder = self.work / name
        inputs, recorded = self.inputs[name], read_inputs(folder)
        if folder.exists() and recorded != inputs:
            # Inputs that changed, or a stage that a ganc which did not record them began.
            changed = changed_fields(recorded, inputs) if recorded is not None else ["format"]
            if not self.rerun_changed:
                raise ResumeError(
                    f"stage {name} was run with other inputs ({', '.join(changed)}); pass --rerun-changed to run it "
                    "and every stage after it again, or start the job in a new work folder"
                )
            self.progress(name, 0, 1, f"runs again: {', '.join(changed)} changed")
            shutil.rmtree(folder)
        if not (folder / MARKER).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomically(folder / INPUTS_FILE, json.dumps(inputs, indent=2) + "\n")

    # -- checks before any expensive work ------------------------------------------------------
    def check(self) -> None:
        self.check_publishing()
        spec = self.spec
        stages = {"supernet": spec.supernet, "finetune": spec.finetune, "search": spec.search}
        if spec.teacher.checkpoint is None:
            stages["teacher"] = spec.teacher
        for name, stage in stages.items():
            check_runnable(stage.precision, name, self.placement.device)
            if name != "search":
                self.placement.check_batch(stage.batch_size, name)
        dataset = spec.dataset
        if dataset.path is not None:
            find_split(dataset.path, "train")
        elif dataset.unlabelled:
            check_photo_folder(dataset.photos, dataset.size)
        elif dataset.photos is not None and not dataset.photos.is_dir():
            raise DataError(f"dataset.photos: folder {dataset.photos} does not exist")
        n_blocks, residual, ngf = spec.teacher.n_blocks, spec.teacher.residual, spec.teacher.ngf
        if spec.teacher.checkpoint is not None:
            options = load_teacher(spec.teacher.checkpoint).spec.options
            n_blocks, residual = options.get("n_blocks", 9), options.get("residual", False) or spec.teacher.residual
            ngf = options.get("ngf", 64)
            channels = options.get("input_nc", 3), options.get("output_nc", 3)
            if spec.teacher.residual and channels[0] != channels[1]:
                raise ValueError(
                    f"teacher.residual: residual students add their output to their input, but the teacher "
                    f"maps {channels[0]} channels to {channels[1]}"
                )
        choice_set = get_choice_set(spec.supernet.choices)
        if spec.supernet.part_inputs == "teacher" and set(choice_set.choices[2]) != {ngf}:
            raise SpecError(
                f"supernet.part_inputs: teacher feeds the teacher's trunk ({4 * ngf} channels) to the students' "
                f"blocks, but {choice_set.name!r} lets c2 be {list(choice_set.choices[2])}; use "
                f"`{choice_set.name.partition(TRUNK_SUFFIX)[0]}{TRUNK_SUFFIX}{ngf}`, or `part_inputs: own`"
            )
        target = latency_target(spec.search)
        target.check_available()
        # A resumed job whose budgets were found reachable is not measured again: on a busy machine the
        # smallest sub-network can measure above a budget it met when the job started.
        checked = self.work / BUDGETS_CHECKED
        budgets = {
            "choices": spec.supernet.choices,
            "target": target.name,
            spec.search.budget_kind: spec.search.budgets,
        }
        if checked.is_file() and json.loads(checked.read_text()) == budgets:
            return
        smallest_ms = None
        if spec.search.budget_kind == "latency_ms":
            # The smallest sub-network's latency does not depend on weights.
            options = {"config": str(choice_set.smallest), "n_blocks": n_blocks, "residual": residual}
            smallest = ModelSpec("sub_mobile_resnet", options).build()
            smallest_ms = measure_model_ms(smallest, target)
        check_budgets_reachable(choice_set, n_blocks, spec.search, smallest_ms)
        self.work.mkdir(parents=True, exist_ok=True)
        write_text_atomically(checked, json.dumps(budgets) + "\n")

    def check_publishing(self) -> None:
        """The family is this job's to publish into, and the repository and the work folder are writable."""
        owner = read_index(self.repo).owner(self.spec.family)
        if owner is not None and owner != self.job and not self.spec.replace:
            raise SpecError(
                f"family: {self.spec.family!r} was made by job {owner!r}; choose another family, "
                "or set `replace: true` to publish into it"
            )
        for folder in (self.repo, self.work):
            check_writable(folder)

    # -- each stage's configuration, from the spec ---------------------------------------------
    def data_config(self, dataset: str) -> DataConfig:
        return DataConfig(dataset=Path(dataset), crop_size=self.spec.dataset.crop_size or self.spec.dataset.size)

    def teacher_run(self, dataset: str) -> TeacherRun:
        out = self.work / "teacher" / RUN_FOLDER
        return TeacherRun(out=out, data=self.data_config(dataset), teacher=self.spec.teacher, seed=self.spec.seed)

    def distill_run(self, out: Path, dataset: str, teacher: str, training: TrainingSpec, **student: Any) -> DistillRun:
        """A distillation run of the student `student` describes (see DistillRun)."""
        t = self.spec.teacher
        return DistillRun(
            out=out,
            data=self.data_config(dataset),
            teacher=Path(teacher),
            training=training,
            lambda_recon=self.spec.supernet.lambda_recon,
            lambda_distill=self.spec.supernet.lambda_distill,
            reconstruction=self.spec.supernet.reconstruction,
            lambda_gan=self.spec.supernet.lambda_gan,
            sampling=self.spec.supernet.sampling,
            student_init=self.spec.supernet.student_init,
            # A given teacher is what it is; `teacher.residual` then asks for residual students.
            residual=True if t.checkpoint is not None and t.residual else None,
            seed=self.spec.seed,
            **{"part_inputs": self.spec.supernet.part_inputs, **student},
        )

    # -- stages --------------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        d = self.spec.dataset
        if d.path is not None:
            return {"dataset": str(d.path)}
        out = self.work / "data" / "dataset"
        if (out / "dataset.json").is_file():
            return {"dataset": str(out)}
        shutil.rmtree(out, ignore_errors=True)
        report = functools.partial(_report_data, self.progress, d.sample or "photos")
        if d.unlabelled:
            build_photo_dataset(d.photos, out, size=d.size, seed=d.seed, progress=report)
        else:
            build_sample_dataset(d.sample, d.size, out, photos_dir=d.photos, seed=d.seed, progress=report)
        return {"dataset": str(out)}

    def teacher(self, dataset: str) -> dict[str, Any]:
        if self.spec.teacher.checkpoint is not None:  # converted once, if it was made elsewhere
            imported = self.work / "teacher" / "imported.pt"
            checkpoint = as_ganc_checkpoint(self.spec.teacher.checkpoint, imported, write=self.placement.writes)
            self.placement.barrier()
            return {"checkpoint": str(checkpoint)}
        run = self.teacher_run(dataset)
        train_teacher(run, resume=self._started(run.out), progress=self.progress, placement=self.placement)
        return {"checkpoint": str(resolve_checkpoint(run.out))}

    def distill(self, dataset: str, teacher: str) -> dict[str, Any]:
        """The original path's first step: a mobile student of the choice set's largest widths."""
        supernet = self.spec.supernet
        training = supernet.training().model_copy(update={"steps": supernet.distill_steps})
        largest = str(get_choice_set(supernet.choices).largest)
        out = self.work / "distill" / RUN_FOLDER
        return self._train_student(self.distill_run(out, dataset, teacher, training, student="mobile", config=largest))

    def supernet(self, dataset: str, teacher: str, init_from: str | None) -> dict[str, Any]:
        supernet = self.spec.supernet
        out = self.work / "supernet" / RUN_FOLDER
        student: dict[str, Any] = {"student": "supernet", "choices": supernet.choices, "init_from": init_from}
        return self._train_student(self.distill_run(out, dataset, teacher, supernet.training(), **student))

    def search_judge(self, dataset: str, teacher: Teacher) -> Judge:
        """How the search scores sub-networks: on the spec's number of `train2` crops."""
        split = self._held_out(dataset, "train2", teacher)
        search = self.spec.search
        return Judge(list(split.eval_pairs(search.eval_images)), teacher.generator, teacher.paired, search.precision)

    def search(self, dataset: str, teacher_path: str, supernet_run: str) -> dict[str, Any]:
        """Sub-networks scored on the placement's device, their latency measured on the search's target."""
        teacher = load_teacher(Path(teacher_path))
        teacher.generator.to(self.placement.device)
        _, supernet = load_generator(Path(supernet_run))
        supernet.to(self.placement.device)
        result = run_search(
            supernet,
            get_choice_set(self.spec.supernet.choices),
            self.search_judge(dataset, teacher),
            self.spec.search,
            self.work / "search",
            seed=self.spec.seed,
            progress=self.progress,
        )
        latency_ms = {c.config: c.latency_measured_ms for c in result.ladder}
        return {
            "ladder": [c.config for c in result.ladder],
            "latency_ms": {**latency_ms, TEACHER_VARIANT: result.teacher["latency_measured_ms"]},
        }

    def finetune(self, dataset: str, teacher: str, supernet_run: str, ladder: list[str]) -> dict[str, Any]:
        """Each sub-network of the ladder distilled further on its own for its steps (none where they are 0)."""
        runs = {
            config: self.distill_run(
                self.work / "finetune" / config,
                dataset,
                teacher,
                self.spec.finetune.for_variant(steps),
                student="subnet",
                config=config,
                init_from=supernet_run,
                part_inputs="own",  # end to end: what joins parts that learnt apart
            )
            for config, steps in zip(ladder, self.spec.finetune_steps(), strict=True)
            if steps
        }
        if runs:  # side by side: the teacher labels every step once for all of them
            started = [self._started(run.out) for run in runs.values()]
            train_distill_side_by_side(list(runs.values()), started, self.progress, self.placement)
        return {"runs": {config: str(runs[config].out) if config in runs else None for config in ladder}}

    def export(
        self,
        dataset: str,
        teacher_path: str,
        supernet_run: str,
        finetuned: dict[str, str | None],
        latency: dict[str, float],
    ) -> dict[str, Any]:
        """Every variant as a verified ONNX file beside its card, in export/<variant>/."""
        teacher = load_teacher(Path(teacher_path))
        split = self._held_out(dataset, "val", teacher)
        val = list(split.eval_pairs())
        references = teacher_outputs(teacher.generator, val)  # every variant is judged against them
        # Where the data has targets, they are the task's truth whoever the teacher is (an imported one included).
        on_targets = split.has_paired_targets
        variants = self._variants(teacher, supernet_run, finetuned, latency)
        exported, int8, scores = {}, {}, {}
        for done, variant in enumerate(variants, 1):
            folder = self._export_variant(variant, on_targets, val, references)
            if not variant.is_teacher:
                scores[variant.name] = read_card(folder / "card.json").quality[score_key(on_targets)]
            exported[variant.name] = str(folder)
            if self.spec.int8 is not None:
                int8_folder, int8[variant.name] = self._export_int8(
                    folder, variant, on_targets, dataset, val, references
                )
                if int8_folder is not None:
                    exported[int8_variant(variant.name)] = str(int8_folder)
            self.progress("export", done, len(variants), variant.name)
        # The quality gate: students no closer than the unchanged input (or below min_agreement_db) stay back.
        floor = evaluate_generator(nn.Identity(), val, None if on_targets else references, on_targets)
        verdicts = judge_students(scores, floor[score_key(on_targets)], self.spec.min_agreement_db)
        held_back = {name: v.as_record() for name, v in verdicts.items() if not v.passed}
        for name in held_back:
            exported.pop(name)
            exported.pop(int8_variant(name), None)
        gate = {"gate": {name: v.as_record() for name, v in verdicts.items()}}
        return {"variants": exported, **gate, **({"int8": int8} if self.spec.int8 is not None else {})}

    def publish(self, exported: dict[str, str], gate: dict[str, dict]) -> dict[str, Any]:
        """Every exported variant that passed the gate, into the repository; the others, and why, as `held_back`."""
        # The family's variants appear together, or none of them does.
        variants = [
            (Path(folder) / "model.onnx", read_card(Path(folder) / "card.json")) for folder in exported.values()
        ]
        versions = publish_family(self.repo, variants, replace=self.spec.replace) if variants else []
        published = {}
        for done, (variant, version) in enumerate(zip(exported, versions), 1):
            if self.keep_versions is not None:
                prune_versions(self.repo, version.model_name, self.keep_versions)
            published[variant] = {"model": version.model_name, "version": version.version, "path": str(version.path)}
            self.progress("publish", done, len(exported), version.model_name)
        return {"published": published, "held_back": {name: v for name, v in gate.items() if not v["passed"]}}

    def run(self) -> dict[str, Any]:
        if self.placement.writes:
            self.check()
        self.placement.barrier()
        dataset = self.stage("data", self.data)["dataset"]
        teacher = self.stage("teacher", lambda: self.teacher(dataset), everyone=True)["checkpoint"]
        init_from = None
        if self.spec.supernet.path == "original":
            init_from = self.stage("distill", lambda: self.distill(dataset, teacher), everyone=True)["run"]
        supernet = self.stage("supernet", lambda: self.supernet(dataset, teacher, init_from), everyone=True)["run"]
        search = self.stage("search", lambda: self.search(dataset, teacher, supernet))
        finetune = functools.partial(self.finetune, dataset, teacher, supernet, search["ladder"])
        finetuned = self.stage("finetune", finetune, everyone=True)["runs"]
        exported = self.stage(
            "export", lambda: self.export(dataset, teacher, supernet, finetuned, search["latency_ms"])
        )
        published = self.stage("publish", lambda: self.publish(exported["variants"], exported["gate"]))
        report = write_report(self.work, self.spec, published) if self.placement.writes else self.work / REPORT_FILE
        return {**published, "report": str(report)}

    # -- helpers of the stages -----------------------------------------------------------------
    def _train_student(self, run: DistillRun) -> dict[str, Any]:
        train_distill(run, resume=self._started(run.out), progress=self.progress, placement=self.placement)
        return {"run": str(run.out)}

    def _started(self, out: Path) -> bool:
        """A run folder that a previous attempt already started (it is resumed, not begun again): every process
        decides before any of them writes."""
        started = (out / "config.json").is_file()
        self.placement.barrier()
        return started

    def _held_out(self, dataset: str, split: str, teacher: Teacher) -> TranslationDataset:
        return judged_split(dataset, split, teacher.generator.size_multiple)

    def _variants(
        self, teacher: Teacher, supernet_run: str, finetuned: dict[str, str | None], latency: dict[str, float]
    ) -> list[ExportVariant]:
        """The teacher (unless the spec keeps it back) and each student: fine-tuned, or as the supernet holds it."""
        variants = []
        if self.spec.publish_teacher:
            variants.append(
                ExportVariant(TEACHER_VARIANT, teacher.spec, teacher.generator, latency.get(TEACHER_VARIANT))
            )
        supernet_spec, supernet = load_generator(Path(supernet_run))
        for config, run in finetuned.items():
            if run:
                spec, model = load_generator(Path(run))
            else:
                spec, model = extract_subnet(supernet_spec, supernet, ChannelConfig.parse(config))
            variants.append(ExportVariant(student_variant(config), spec, model, latency.get(config)))
        return variants

    def _export_variant(self, variant: ExportVariant, on_targets: bool, val: list, references: list) -> Path:
        """Export, verify against PyTorch, evaluate on `val` and measure; write model.onnx and card.json."""
        folder = self.work / "export" / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        onnx_path = folder / "model.onnx"
        model = variant.model.eval()
        export_onnx(model, onnx_path, fp16=self.spec.fp16)
        verify_onnx(model, onnx_path, fp16=self.spec.fp16)
        # Against the targets (and, for students, the teacher); without targets, agreement with the teacher.
        quality = evaluate_generator(model, val, None if variant.is_teacher and on_targets else references, on_targets)
        target = latency_target(self.spec.search)
        latency_ms = variant.latency_ms if variant.latency_ms is not None else measure_model_ms(model, target)
        card = make_card(
            variant.spec,
            model,
            onnx_path,
            family=self.spec.family,
            variant=variant.name,
            task=self.spec.task,
            fp16=self.spec.fp16,
            teacher=None if variant.is_teacher else model_name(self.spec.family, TEACHER_VARIANT),
            job=self.job,
            quality={k: round(v, 4) for k, v in quality.items()},
            quality_against="target" if on_targets else "teacher",
            latency_ms={target.name: round(latency_ms, 3)},
        )
        write_text_atomically(folder / "card.json", card.model_dump_json(indent=2) + "\n")
        return folder

    def _export_int8(
        self, float_folder: Path, variant: ExportVariant, on_targets: bool, dataset: str, val: list, references: list
    ) -> tuple[Path | None, dict[str, Any]]:
        """The INT8 model of an exported variant in its own folder when it passes, and the figures that decided."""
        folder = self.work / "export" / int8_variant(variant.name)
        card, report = quantize_variant(
            self.spec,
            float_folder / "model.onnx",
            read_card(float_folder / "card.json"),
            folder,
            dataset,
            val,
            None if variant.is_teacher and on_targets else references,
        )
        return (folder if card is not None else None), report


def _report_data(progress: Progress, what: str, done: int, total: int) -> None:
    progress("data", done, total, what)


def run_pipeline(
    spec: CompressionSpec,
    work_dir: Path,
    repo: Path,
    job: str,
    *,
    resume: bool = False,
    rerun_changed: bool = False,
    progress: Progress = no_progress,
    keep_versions: int | None = None,
    placement: Placement = Placement(),
) -> dict[str, Any]:
    """Run (or resume) every stage of `spec` in `work_dir` on `placement`, publishing into `repo` under job id `job`
    (and keeping the newest `keep_versions` versions of each model it publishes; None: all of them). A resumed
    stage whose inputs changed since it ran is refused (ResumeError), or with `rerun_changed` run again with every
    stage after it."""
    if placement.writes:
        if not resume and work_dir.exists() and any(p.name != RANK_LOGS for p in work_dir.iterdir()):
            raise ValueError(f"work folder {work_dir} is not empty; pass --resume to continue that job")
        work_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(work_dir / "spec.json", spec.model_dump_json(indent=2) + "\n")
    placement.barrier()
    pipeline = Pipeline(
        spec,
        work_dir,
        repo,
        job,
        progress=progress,
        keep_versions=keep_versions,
        rerun_changed=rerun_changed,
        placement=placement,
    )
    return pipeline.run()


def quantize_family(
    spec: CompressionSpec, work_dir: Path, repo: Path, *, progress: Progress = no_progress
) -> dict[str, Any]:
    """Add INT8 variants to the family `spec` made, from its latest published float variants (`ganc quantize`),
    judged on the spec's dataset, built in `work_dir` or reused from it."""
    published_floats(spec, repo)  # refused before the data is built
    pipeline = Pipeline(spec, work_dir, repo, work_dir.name, progress=progress)
    dataset = pipeline.stage("data", pipeline.data)["dataset"]
    return quantize_published(spec, work_dir, repo, dataset, progress)
