"""CPU latency of the teacher and two students: onnxruntime against PyTorch eager, side by side.

    .venv/bin/python bench/latency_cpu.py --sizes 128,256 --repeats 15

Runs are interleaved (every round times every model on every backend, in a rotating order) so
that the machine's noise falls on all of them alike; medians are reported. Prints one JSON object
and writes it, with a PNG chart, under bench/out/.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from compression.export import export_onnx
from compression.metrics import count_macs
from compression.models import ModelSpec
from ganc.card import INPUT_NAME, OUTPUT_NAME

MODELS = {
    "teacher": ModelSpec("resnet", {"ngf": 64, "n_blocks": 9}),
    "horse2zebra 16_16_32_16_32_32_16_16": ModelSpec("sub_mobile_resnet", {"config": "16_16_32_16_32_32_16_16"}),
    "uniform 16": ModelSpec("sub_mobile_resnet", {"config": "16_16_16_16_16_16_16_16"}),
}
BACKENDS = ("onnxruntime", "torch")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256", help="comma-separated input sides in pixels")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per size")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads for both backends")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    models = {name: spec.build().eval() for name, spec in MODELS.items()}
    scratch = Path(tempfile.mkdtemp())
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    sessions = {}
    for name, model in models.items():
        path = scratch / f"{abs(hash(name))}.onnx"
        export_onnx(model, path)
        sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(name: str, backend: str, x: np.ndarray) -> float:
        start = time.perf_counter()
        if backend == "onnxruntime":
            sessions[name].run([OUTPUT_NAME], {INPUT_NAME: x})
        else:
            with torch.inference_mode():
                models[name](torch.from_numpy(x))
        return time.perf_counter() - start

    results = []
    pairs = [(name, backend) for name in models for backend in BACKENDS]
    for size in sizes:
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        for pair in pairs:  # warm-up: allocations, kernel selection
            run(*pair, x)
            run(*pair, x)
        times: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
        for round_index in range(args.repeats):
            shift = round_index % len(pairs)
            for pair in pairs[shift:] + pairs[:shift]:
                times[pair].append(run(*pair, x))
        for (name, backend), samples in times.items():
            counts = count_macs(models[name], size)
            median = statistics.median(samples)
            results.append(
                {
                    "model": name,
                    "backend": backend,
                    "size": size,
                    "median_ms": round(median * 1e3, 3),
                    "min_ms": round(min(samples) * 1e3, 3),
                    "macs": counts.macs,
                    "macs_real": counts.macs_real,
                    "gmacs_per_s": round(counts.macs_real / median / 1e9, 2),
                }
            )

    def median_ms(name: str, backend: str, size: int) -> float:
        return next(r["median_ms"] for r in results if (r["model"], r["backend"], r["size"]) == (name, backend, size))

    speedups = {
        str(size): {
            name: {
                "macs_ratio": round(count_macs(models["teacher"], size).macs / count_macs(models[name], size).macs, 2),
                **{
                    f"speedup_{b}": round(median_ms("teacher", b, size) / median_ms(name, b, size), 2) for b in BACKENDS
                },
                "onnxruntime_over_torch": round(
                    median_ms(name, "torch", size) / median_ms(name, "onnxruntime", size), 2
                ),
            }
            for name in models
            if name != "teacher"
        }
        for size in sizes
    }
    report = {
        "hardware": cpu_name(),
        "threads": args.threads,
        "repeats": args.repeats,
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "results": results,
        "speedups_over_teacher": speedups,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency_cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    draw_chart(results, sizes, args.out / "latency_cpu.png", report["hardware"], args.threads)
    print(json.dumps(report, indent=2))


def draw_chart(results: list[dict], sizes: list[int], path: Path, hardware: str, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    names = list(MODELS)
    width = 0.38
    for ax, size in zip(axes[0], sizes):
        for offset, backend in enumerate(BACKENDS):
            values = [
                next(r for r in results if (r["model"], r["backend"], r["size"]) == (n, backend, size)) for n in names
            ]
            bars = ax.bar(
                [i + (offset - 0.5) * width for i in range(len(names))],
                [v["median_ms"] for v in values],
                width,
                label=backend,
            )
            for bar, value in zip(bars, values):
                label = f"{value['median_ms']:.0f} ms\n{value['gmacs_per_s']:.0f} GMAC/s"
                ax.annotate(
                    label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7
                )
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), [n.replace(" 16_", "\n16_") for n in names], fontsize=8)
        ax.set_ylabel("median latency (ms, log scale)")
        ax.set_title(f"{size}x{size}, batch 1")
        ax.legend()
    fig.suptitle(f"CPU latency: {hardware}, {threads} threads", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
