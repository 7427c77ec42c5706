"""A compression job's report: one self-contained HTML page (images inline) of what the compression bought and cost.

The ladder's table (MACs, parameters, latency measured on the search's target, agreement, published or held back
and why) from the variants' cards; a grid of the family's `test` photos, which no training saw (input | teacher |
each variant); the search's Pareto front; each stage's time; and the spec.
"""

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganc.atomic import write_text_atomically
from ganc.card import VariantCard
from ganc.job_store import REPORT_FILE
from ganc.repository import read_card
from ganc.spec import CompressionSpec

from .data.unlabelled import judged_split
from .export.quantize import OnnxGenerator
from .metrics.quality import generate
from .training import load_teacher

GRID_PHOTOS = 3
MIN_CELL_PX = 128
STAGES = ("data", "teacher", "distill", "supernet", "search", "finetune", "export", "publish")


def write_report(work: Path, spec: CompressionSpec, result: dict[str, Any]) -> Path:
    """Write `work`/report.html for the finished job whose publish stage returned `result`."""
    names = [*result["published"], *result.get("held_back", {})]
    cards = {name: read_card(work / "export" / name / "card.json") for name in names}
    teacher_checkpoint = Path(json.loads((work / "teacher" / "done.json").read_text())["checkpoint"])
    dataset = json.loads((work / "data" / "done.json").read_text())["dataset"]
    sections = [
        f"<h1>{html.escape(spec.family)}: what compression bought</h1>",
        _ladder(cards, result),
        "<h2>Photos none of its training saw (the <code>test</code> split)</h2>",
        f"<p>Input | teacher | {' | '.join(html.escape(n) for n in cards if n != 'teacher')}</p>",
        _image(_grid(work, dataset, teacher_checkpoint, cards), "the test photos through the teacher and each variant"),
    ]
    if (work / "search" / "pareto.png").is_file():
        sections += ["<h2>The search</h2>", _image((work / "search" / "pareto.png").read_bytes(), "the Pareto front")]
    sections += [_stage_times(work), "<h2>The spec</h2>", f"<pre>{html.escape(spec.model_dump_json(indent=2))}</pre>"]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ganc report: {html.escape(spec.family)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%}}pre{{background:#f6f6f6;padding:1em}}</style></head>
<body>
{chr(10).join(sections)}
</body></html>
"""
    path = work / REPORT_FILE
    write_text_atomically(path, page)
    return path


def _ladder(cards: dict[str, VariantCard], result: dict[str, Any]) -> str:
    teacher_macs = cards["teacher"].macs if "teacher" in cards else None
    rows = []
    for name, card in sorted(cards.items(), key=lambda item: -item[1].macs):
        target, latency = next(iter(card.latency_ms.items()), ("", None))
        status = "published" if name in result["published"] else f"held back: {result['held_back'][name]['reason']}"
        fewer = f"{teacher_macs / card.macs:.1f}x" if teacher_macs else ""
        cells = [
            html.escape(name),
            f"{card.macs / 1e9:.3f}G",
            fewer,
            f"{card.params / 1e6:.3f}M",
            f"{latency:.1f} ms" if latency is not None else "",
            *(f"{card.quality[key]:.2f} dB" if key in card.quality else "" for key in ("psnr", "psnr_teacher")),
            html.escape(status),
        ]
        rows.append(f'<tr data-variant="{html.escape(name)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    against = next(iter(cards.values())).quality_against
    return (
        f"<table><tr><th>variant</th><th>MACs</th><th>fewer</th><th>params</th><th>latency ({html.escape(target)})</th>"
        f"<th>PSNR against the {against}</th><th>PSNR against the teacher</th><th></th></tr>{''.join(rows)}</table>"
    )


def _grid(work: Path, dataset: str, teacher_checkpoint: Path, cards: dict[str, VariantCard]) -> bytes:
    teacher = load_teacher(teacher_checkpoint)
    multiple = teacher.generator.size_multiple
    photos = [a for _name, a, _b in judged_split(dataset, "test", multiple).eval_pairs(GRID_PHOTOS)]
    columns = [photos, generate(teacher.generator, photos)]
    for name, card in cards.items():
        if name != "teacher":
            columns.append(generate(OnnxGenerator(work / "export" / name / "model.onnx", card.size_multiple), photos))
    rows = [np.concatenate([_pixels(column[i]) for column in columns], axis=1) for i in range(len(photos))]
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    grid = Image.fromarray(np.concatenate(padded, axis=0))
    scale = max(1, MIN_CELL_PX // photos[0].shape[-2])  # small test photos shown larger, pixel for pixel
    grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue()


def _pixels(image: torch.Tensor) -> np.ndarray:
    return ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _image(png: bytes, alt: str) -> str:
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>'


def _stage_times(work: Path) -> str:
    rows = []
    for stage in STAGES:
        done = work / stage / "done.json"
        if done.is_file():
            seconds = json.loads(done.read_text()).get("seconds")
            if seconds is not None:
                rows.append(f"<tr><td>{stage}</td><td>{seconds:.1f} s</td></tr>")
    return f"<h2>Where the time went</h2><table><tr><th>stage</th><th>time</th></tr>{''.join(rows)}</table>"
