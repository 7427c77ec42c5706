"""What folding the output convolution saves (compression/export/thin_output.py), side by side in one run.

    .venv/bin/python bench/thin_output.py --repo model_repository --size 256 --rounds 40

For the latest float version of every published variant: its architecture from the card (random weights:
the time does not depend on them) exported twice, with the output convolution folded and without; both
timed in interleaved rounds (compress_report.py's) in sessions like the gateway's (1 and 2 intra-op threads,
spinning threads), medians reported, with the largest difference between the two graphs' outputs. Prints JSON
and writes it under bench/out/.
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from compress_report import latencies
from latency_cpu import cpu_name

from compression.export import export_onnx
from compression.models import ModelSpec
from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(spec: ModelSpec, size: int, rounds: int, threads: list[int], scratch: Path) -> dict:
    torch.manual_seed(0)
    model = spec.build().eval()
    paths = {"unfolded": scratch / "unfolded.onnx", "folded": scratch / "folded.onnx"}
    export_onnx(model, paths["unfolded"], fold_output=False)
    export_onnx(model, paths["folded"])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    outputs = [session(path, 1).run([OUTPUT_NAME], {INPUT_NAME: x})[0] for path in paths.values()]
    result: dict = {"max_abs_diff": float(np.abs(outputs[0] - outputs[1]).max())}
    for count in threads:
        times = latencies({name: session(path, count) for name, path in paths.items()}, size, rounds)
        before, after = times["unfolded"], times["folded"]
        result[f"{count}t"] = {
            "unfolded_ms": round(before, 2),
            "folded_ms": round(after, 2),
            "speedup": round(before / after, 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--family", help="only this family")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=40, help="interleaved timed runs of each graph")
    parser.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    threads = [int(count) for count in args.threads.split(",")]
    scratch = Path(tempfile.mkdtemp())
    report = {
        "hardware": cpu_name(),
        "size": args.size,
        "rounds": args.rounds,
        "onnxruntime": ort.__version__,
        "models": {},
    }
    for entry in read_index(args.repo).latest():
        card = entry.card
        if card.precision == "int8" or (args.family and card.family != args.family):
            continue
        spec = ModelSpec(card.architecture, card.architecture_options)
        report["models"][card.model_name] = figures = compare(spec, args.size, args.rounds, threads, scratch)
        print(card.model_name, {key: value for key, value in figures.items() if key != "max_abs_diff"}, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "thin_output.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
