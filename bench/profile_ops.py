"""Where the CPU time of each published model goes: onnxruntime's profiler, per operator and per layer.

    .venv/bin/python bench/profile_ops.py --repo model_repository [--family sr4x] --size 256 --runs 10

For the latest version of every variant: the median run time, the time per operator type (as onnxruntime
runs the optimised graph: its NCHWc reorders, fused convolutions, pads), the slowest layers, and per
convolution kind (dense, depthwise, pointwise, transposed) the time, the useful MACs (counted on the
exported graph, so channels padded to a SIMD block count as waste) and the achieved GMAC/s, against the
machine's GEMM peak measured in the same run (a 2048^3 MatMul in onnxruntime, same threads). Prints JSON
and writes it under bench/out/.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from latency_cpu import cpu_name
from onnx import helper, numpy_helper

from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index

GEMM_SIDE = 2048
WARMUP_RUNS = 3
CONV_OPS = ("Conv", "FusedConv", "ConvTranspose")


def gemm_peak_gmacs(threads: int, runs: int, integer: bool = False) -> float:
    """GMAC/s of a GEMM_SIDE^3 MatMul in onnxruntime: float, or `integer` (MatMulInteger, uint8 x int8 into
    int32, onnxruntime's kernel for quantised convolutions, with VNNI or AMX where the CPU has them)."""
    shape = [GEMM_SIDE, GEMM_SIDE]
    rng = np.random.default_rng(1)
    if integer:
        b_array, a_type = rng.integers(-128, 128, shape, dtype=np.int8), onnx.TensorProto.UINT8
        node, out_type = helper.make_node("MatMulInteger", ["a", "b"], ["c"]), onnx.TensorProto.INT32
        a = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
        b_array, a_type = rng.standard_normal(shape).astype(np.float32), onnx.TensorProto.FLOAT
        node, out_type = helper.make_node("MatMul", ["a", "b"], ["c"]), onnx.TensorProto.FLOAT
        a = rng.standard_normal(shape).astype(np.float32)
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, shape)],
        [helper.make_tensor_value_info("c", out_type, shape)],
        [numpy_helper.from_array(b_array, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    gemm = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    gemm.run(["c"], {"a": a})
    seconds = statistics.median(_timed(gemm, {"a": a}, ["c"]) for _ in range(runs))
    return GEMM_SIDE**3 / seconds / 1e9


def _timed(sess: ort.InferenceSession, feeds: dict, outputs: list[str]) -> float:
    start = time.perf_counter()
    sess.run(outputs, feeds)
    return time.perf_counter() - start


def conv_kind(op: str, weight_shape: list[int]) -> str:
    """dense, depthwise, pointwise or transposed, from the operator and its weight [Cout, Cin/g, kh, kw]."""
    if op == "ConvTranspose":
        return "transposed"
    if weight_shape[2:] == [1, 1]:
        return "pointwise"
    return "depthwise" if weight_shape[1] == 1 else "dense"


def useful_macs(path: Path, size: int, threads: int) -> dict[str, int]:
    """MACs per convolution kind of the exported graph at size x size (batch 1): one profiled run with the
    graph left unoptimised, whose events carry each convolution's logical shapes."""
    events = _profiled_events(path, size, threads, 1, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    macs: dict[str, int] = defaultdict(int)
    for event in events:
        op = event["args"]["op_name"]
        if op not in ("Conv", "ConvTranspose"):
            continue
        x, weight = (next(iter(shape.values())) for shape in event["args"]["input_type_shape"][:2])
        if op == "Conv":
            output = next(iter(event["args"]["output_type_shape"][0].values()))
            macs[conv_kind(op, weight)] += int(np.prod(output)) * int(np.prod(weight[1:]))
        else:  # every input pixel scatters into Cout/g x kh x kw outputs
            macs["transposed"] += int(np.prod(x)) * int(np.prod(weight[1:]))
    return dict(macs)


def _profiled_events(
    path: Path, size: int, threads: int, runs: int, level: ort.GraphOptimizationLevel, timings: list | None = None
) -> list[dict]:
    """The profiler's node events of `runs` runs after warm-up; each run's seconds are appended to `timings`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = level
    options.enable_profiling = True
    options.profile_file_prefix = f"{tempfile.mkdtemp()}/profile"
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {INPUT_NAME: np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)}
    for _ in range(WARMUP_RUNS):
        sess.run([OUTPUT_NAME], feeds)
    for _ in range(runs):
        seconds = _timed(sess, feeds, [OUTPUT_NAME])
        if timings is not None:
            timings.append(seconds)
    events = json.loads(Path(sess.end_profiling()).read_text())
    first_ts = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"][-runs]["ts"]
    return [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= first_ts]


def profile(path: Path, size: int, threads: int, runs: int) -> dict:
    """Run the model runs times after warm-up with the profiler on; time per operator, layer and kind."""
    timings: list[float] = []
    nodes = _profiled_events(path, size, threads, runs, ort.GraphOptimizationLevel.ORT_ENABLE_ALL, timings)
    run_ms = statistics.median(timings) * 1e3

    per_op: dict[str, float] = defaultdict(float)
    per_layer: dict[str, list] = {}
    per_kind: dict[str, float] = defaultdict(float)
    for event in nodes:
        op = event["args"]["op_name"]
        ms = event["dur"] / 1e3 / runs
        per_op[op] += ms
        layer = event["name"].removesuffix("_kernel_time")
        per_layer.setdefault(layer, [op, 0.0])[1] += ms
        if op in CONV_OPS:
            weight = next(iter(event["args"]["input_type_shape"][1].values()))
            per_kind[conv_kind(op, weight)] += ms
    node_ms = sum(per_op.values())
    macs = useful_macs(path, size, threads)
    slowest = sorted(per_layer.items(), key=lambda item: -item[1][1])[:10]
    return {
        "run_ms": round(run_ms, 3),
        "node_ms": round(node_ms, 3),
        "per_op": {
            op: {"ms": round(ms, 3), "share_pct": round(100 * ms / node_ms, 1)}
            for op, ms in sorted(per_op.items(), key=lambda item: -item[1])
        },
        "per_conv_kind": {
            kind: {
                "ms": round(per_kind.get(kind, 0.0), 3),
                "gmacs": round(macs[kind] / 1e9, 3),
                "gmac_per_s": round(macs[kind] / (per_kind[kind] / 1e3) / 1e9, 2) if per_kind.get(kind) else None,
            }
            for kind in sorted(macs)
        },
        "slowest_layers": [{"layer": name, "op": op, "ms": round(ms, 3)} for name, (op, ms) in slowest],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--family", help="only this family (default: every family)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10, help="profiled runs per model, after warm-up")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()

    peak = gemm_peak_gmacs(args.threads, args.runs)
    models = {}
    for version in read_index(args.repo).latest():
        card = version.card
        if args.family and card.family != args.family:
            continue
        result = profile(version.onnx_path, args.size, args.threads, args.runs)
        useful = sum(kind["gmacs"] for kind in result["per_conv_kind"].values())
        result["gmac_per_s"] = round(useful / (result["run_ms"] / 1e3), 2)
        result["pct_of_gemm_peak"] = round(100 * result["gmac_per_s"] / peak, 1)
        for kind in result["per_conv_kind"].values():
            kind["pct_of_gemm_peak"] = round(100 * kind["gmac_per_s"] / peak, 1) if kind["gmac_per_s"] else None
        models[card.model_name] = {"precision": card.precision, **result}
        print(f"{card.model_name}: {result['run_ms']:.1f} ms, {result['pct_of_gemm_peak']}% of peak", flush=True)
    report = {
        "hardware": cpu_name(),
        "threads": args.threads,
        "size": args.size,
        "runs": args.runs,
        "onnxruntime": ort.__version__,
        "gemm_peak_gmac_per_s": round(peak, 2),
        "models": models,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile_ops.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
