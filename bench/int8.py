"""Would INT8 pay? Static QDQ quantisation of every published model, timed against its float self.

    .venv/bin/python bench/int8.py --repo model_repository --family sr4x --size 256 --repeats 15

For the latest version of each variant: its weights back in FP32, then onnxruntime's static quantisation
(compression/export/quantize.py, as `int8:` in a spec does it, but calibrated on crops of scikit-image's photos);
latency of both at `size` px (2 threads, interleaved medians, one run), the INT8 output's PSNR against the
float one on held-apart photos, and the kernels onnxruntime ran for the INT8 graph (its profiler's operator
names), beside the CPU's integer instruction sets (VNNI, AMX), and why the pipeline would refuse to publish it
(with the spec's default tolerance). Prints JSON and writes it under bench/out/.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from compress_report import latencies
from compress_report import session as timing_session
from latency_cpu import cpu_name
from profile_ops import gemm_peak_gmacs

from compression.data.sample import skimage_photos
from compression.export.quantize import Int8Check, float_weights, quantize_int8
from compression.metrics import psnr
from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index
from ganc.spec import Int8Spec

CALIBRATION_CROPS = 16
CHECK_PHOTOS = ("astronaut", "coffee", "chelsea")  # held apart from calibration
CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "amx_tile")


def crops(names: list[str] | None, exclude: tuple[str, ...], size: int, count: int) -> list[np.ndarray]:
    """Random size x size crops in [-1, 1] of scikit-image's colour photos (those in `names`, or all but `exclude`)."""
    rng = np.random.default_rng(0)
    photos = [p for p in skimage_photos() if p.is_color and (p.name in names if names else p.name not in exclude)]
    out = []
    for index in range(count):
        image = photos[index % len(photos)].image
        left, top = rng.integers(0, image.width - size + 1), rng.integers(0, image.height - size + 1)
        crop = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32)
        out.append((crop.transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32))
    return out


def profiled_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = f"{tempfile.mkdtemp()}/profile"
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def kernels(path: Path, threads: int, x: np.ndarray) -> dict[str, int]:
    """How often each operator ran in one profiled run of the optimised graph."""
    sess = profiled_session(path, threads)
    sess.run([OUTPUT_NAME], {INPUT_NAME: x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    counts: dict[str, int] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--family", help="only this family (default: every family)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp())
    calibration = crops(None, CHECK_PHOTOS, 128, CALIBRATION_CROPS)
    checks = crops(list(CHECK_PHOTOS), (), args.size, len(CHECK_PHOTOS))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, args.size, args.size)).astype(np.float32)
    flags = set(
        next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    )
    models = {}
    for version in read_index(args.repo).latest():
        card = version.card
        if card.precision == "int8" or (args.family and card.family != args.family):
            continue
        fp32, int8 = scratch / f"{card.model_name}.fp32.onnx", scratch / f"{card.model_name}.int8.onnx"
        float_weights(version.onnx_path, fp32)
        quantize_int8(version.onnx_path, int8, calibration, card.size_multiple)
        sessions = {"fp32": timing_session(fp32, args.threads), "int8": timing_session(int8, args.threads)}
        agreement = [
            psnr(
                torch.from_numpy(sessions["int8"].run([OUTPUT_NAME], {INPUT_NAME: c})[0][0]),
                torch.from_numpy(sessions["fp32"].run([OUTPUT_NAME], {INPUT_NAME: c})[0][0]),
            )
            for c in checks
        ]
        ms = latencies(sessions, args.size, args.repeats)
        check = Int8Check(float(np.mean(agreement)), ms["fp32"], ms["int8"])
        models[card.model_name] = {
            "fp32_ms": round(ms["fp32"], 2),
            "int8_ms": round(ms["int8"], 2),
            "int8_speedup": round(ms["fp32"] / ms["int8"], 2),
            "int8_psnr_vs_fp32_db": round(float(np.mean(agreement)), 2),
            "int8_kernels": kernels(int8, args.threads, x),
            "refused": check.refusal(Int8Spec().min_agreement_db),
        }
        print(f"{card.model_name}: fp32 {ms['fp32']:.1f} ms, int8 {ms['int8']:.1f} ms", flush=True)
    report = {
        "hardware": cpu_name(),
        "cpu_integer_flags": sorted(flags & set(CPU_FLAGS)),
        # AVX512 without VNNI does about 2x its float GMAC/s in uint8 x int8, VNNI about 4x, AMX far more.
        "gemm_gmacs": {
            "fp32": round(gemm_peak_gmacs(args.threads, 5), 1),
            "int8": round(gemm_peak_gmacs(args.threads, 5, integer=True), 1),
        },
        "threads": args.threads,
        "size": args.size,
        "onnxruntime": ort.__version__,
        "models": models,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
