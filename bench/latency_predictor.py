"""How well, and how cheaply, the search's latency predictor predicts sub-networks it never measured.

    .venv/bin/python bench/latency_predictor.py --work-dir var/jobs/sr4x [--test 16 --samples 2,4,6]

On a finished job's supernet and search target: `--test` sub-networks drawn at random are measured whole
(the truth). Then two ways to calibrate, each timed:
- the layer table (compression/search/latency_table.py): every distinct layer measured alone, scaled on
  the smallest, the largest and random whole sub-networks, for each count in `--samples`;
- the previous predictor: 24 whole sub-networks (the smallest, the largest, 22 at random) and a
  non-negative linear fit over their cost categories (dense, depthwise, pointwise, transposed MACs and
  activations, compression/search/cost.py).
Prints, as JSON, each one's seconds and its error on the test sub-networks (mean and largest, in %); each
scaled table also as the fit before 2026-12-07 scaled it (least squares of the errors in ms, not relative ones).
"""

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from search_time import stage_output

from compression.checkpoint import load_generator
from compression.models import get_choice_set
from compression.search import latency_target, subnet_cost
from compression.search.latency import measure_models_ms
from compression.search.latency_table import LatencyModel, measure_layer_table
from ganc.spec import CompressionSpec

WHOLE_SAMPLES = 24  # what the demo family's spec calibrated on before the table


def cost_features(config, n_blocks: int, size: int) -> list[float]:
    cost = subnet_cost(config, n_blocks, size)
    return [1.0] + [v / 1e6 for v in (cost.dense, cost.depthwise, cost.pointwise, cost.transposed, cost.activations)]


def errors(predicted: list[float], measured: list[float]) -> dict[str, float]:
    relative = np.abs(np.array(predicted) - np.array(measured)) / np.array(measured) * 100
    return {"mean_error_pct": round(float(relative.mean()), 2), "max_error_pct": round(float(relative.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, required=True, help="a compression job with a finished supernet")
    parser.add_argument("--test", type=int, default=16, help="sub-networks measured whole as the truth")
    parser.add_argument("--samples", default="2,4,6", help="whole sub-networks the table is scaled on")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    spec = CompressionSpec.model_validate_json((args.work_dir / "spec.json").read_text())
    _, supernet = load_generator(Path(stage_output(args.work_dir, "supernet", "run")))
    supernet.eval()
    choice_set, target, n_blocks = (
        get_choice_set(spec.supernet.choices),
        latency_target(spec.search),
        len(supernet.blocks),
    )
    rng = random.Random(args.seed)
    test = [choice_set.sample(rng) for _ in range(args.test)]
    calibration = [choice_set.smallest, choice_set.largest] + [choice_set.sample(rng) for _ in range(WHOLE_SAMPLES - 2)]

    truth = measure_models_ms([supernet.extract(c) for c in test], target)
    report = {
        "target": target.name,
        "test_networks": len(test),
        "test_ms": [round(min(truth), 1), round(max(truth), 1)],
    }

    start = time.perf_counter()
    whole = measure_models_ms([supernet.extract(c) for c in calibration], target)
    design = np.array([cost_features(c, n_blocks, target.size) for c in calibration])
    solution, _ = nnls(design, np.array(whole))
    predicted = [float(np.dot(solution, cost_features(c, n_blocks, target.size))) for c in test]
    report["cost_features_24"] = {"seconds": round(time.perf_counter() - start, 1), **errors(predicted, truth)}

    start = time.perf_counter()
    table = measure_layer_table(supernet, choice_set, target)
    table_s = time.perf_counter() - start
    report["table"] = {"layers": len(table), "seconds": round(table_s, 1)}
    unscaled = LatencyModel(0.0, 1.0, table, n_blocks, 0.0)
    for count in (int(s) for s in args.samples.split(",")):
        start = time.perf_counter()
        measured = measure_models_ms([supernet.extract(c) for c in calibration[:count]], target)
        model = LatencyModel.fit(table, n_blocks, calibration[:count], measured)
        seconds = table_s + time.perf_counter() - start
        # The fit before 2026-12-07, on the same measurements: least squares of the errors in ms.
        design = np.array([[1.0, unscaled.layers_ms(c)] for c in calibration[:count]])
        (intercept, scale), _ = nnls(design, np.array(measured))
        in_ms = LatencyModel(float(intercept), float(scale), table, n_blocks, 0.0)
        report[f"table_scaled_on_{count}"] = {
            "seconds": round(seconds, 1),
            "intercept_ms": round(model.intercept, 2),
            "scale": round(model.scale, 3),
            **errors([model.predict(c) for c in test], truth),
            "fitted_in_ms": {"scale": round(in_ms.scale, 3), **errors([in_ms.predict(c) for c in test], truth)},
        }
    report["table_unscaled"] = errors([unscaled.predict(c) for c in test], truth)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
