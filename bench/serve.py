"""Serving overhead and budget attainment of the gateway, measured side by side in one run.

    .venv/bin/python bench/serve.py --repo model_repository --family sr4x

1. The compressed variant at 256 px: the gateway end to end (`ganc serve`, HTTP, PNG in and out) against
   the same model run by onnxruntime in this process with the same threads, interleaved request by
   request: p50/p99 latency ratios; then each saturated for a few seconds: the throughput ratio.
2. Mixed budgets at a steady rate: the share of requests that met their budget (among budgets some
   variant can meet: at least the p95 of the fastest variant's end-to-end latency alone), and which
   variants served each budget; each miss with its variant, its time and the gateway's Server-Timing.
Prints JSON and writes it, with charts, under bench/out/.
"""

import argparse
import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import onnxruntime as ort
from PIL import Image

from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index
from service.images import decode, prepare


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo_png(size: int) -> bytes:
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Answer:
    headers: dict[str, str]  # names in lower case
    elapsed_ms: float


def post(connection: http.client.HTTPConnection, path: str, body: bytes) -> Answer:
    """One request on a kept-alive connection. The standard library's client, not httpx: against a bare
    Starlette app on uvicorn it spends 0.7 ms a request where httpx spends 1.6, time that is the client's."""
    for attempt in range(2):
        start = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "image/png"})
            response = connection.getresponse()
            response.read()
            break
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            connection.close()  # the server closed a connection idle past its keep-alive: open another
            if attempt:
                raise
    elapsed_ms = (time.perf_counter() - start) * 1e3
    if response.status != 200:
        raise SystemExit(f"the gateway answered {response.status} to {path}")
    return Answer({name.lower(): value for name, value in response.getheaders()}, elapsed_ms)


def quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q))


def start_gateway(repo: Path, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "GANC_CPU_THREADS": str(threads), "GANC_TRITON_URL": ""}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ganc"), "serve", "--port", str(port), "--repo", str(repo)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("the gateway did not become ready")


def saturate(call, seconds: float, concurrency: int) -> float:
    """Completed calls per second with `concurrency` callers for `seconds`."""
    stop = time.monotonic() + seconds
    counts = [0] * concurrency

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            call()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--family", default="sr4x")
    parser.add_argument("--variant", help="the compressed variant (default: the cheapest student)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--requests", type=int, default=200, help="interleaved latency samples per side")
    parser.add_argument("--saturate-s", type=float, default=10.0)
    parser.add_argument("--budgets", default="30,100,1000", help="budgets (ms) mixed at a steady rate")
    parser.add_argument("--rate", type=float, default=8.0, help="mixed-budget requests per second")
    parser.add_argument("--mixed-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()

    family = read_index(args.repo).families()[args.family]
    latest = {name: versions[-1] for name, versions in family.items()}
    variant = args.variant or min((n for n in latest if n != "teacher"), key=lambda n: latest[n].card.macs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(latest[variant].onnx_path), options, providers=["CPUExecutionProvider"])
    body = photo_png(args.size)
    tensor = prepare(decode(body, 10**8), latest[variant].card.size_multiple).tensor

    port = free_port()
    gateway = start_gateway(args.repo, port, args.threads)
    path = f"/v1/translate/{args.family}"
    local = threading.local()

    def e2e(params: dict | None = None) -> Answer:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        return post(local.connection, f"{path}?{urlencode(params or {'variant': variant})}", body)

    def model_only() -> None:
        session.run([OUTPUT_NAME], {INPUT_NAME: tensor})

    try:
        for _ in range(10):  # warm both sides
            e2e()
            model_only()
        e2e_ms, model_ms = [], []
        for _ in range(args.requests):
            start = time.perf_counter()
            e2e()
            e2e_ms.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            model_only()
            model_ms.append((time.perf_counter() - start) * 1e3)
        model_rps = saturate(model_only, args.saturate_s, 1)
        gateway_rps = saturate(e2e, args.saturate_s, 4)

        budgets = [float(b) for b in args.budgets.split(",")]
        floor_ms = {}
        for name in latest:  # what each variant reliably answers in, alone, end to end
            samples = []
            for _ in range(20):
                start = time.perf_counter()
                e2e({"variant": name})
                samples.append((time.perf_counter() - start) * 1e3)
            floor_ms[name] = quantile(samples, 0.95)
        rng = random.Random(0)
        results: list[tuple[float, Answer]] = []
        with ThreadPoolExecutor(32) as pool:
            futures = []
            next_time = time.monotonic()
            end = next_time + args.mixed_s
            while next_time < end:
                budget = rng.choice(budgets)
                futures.append((budget, pool.submit(e2e, {"budget_ms": budget})))
                next_time += rng.expovariate(args.rate)
                time.sleep(max(0.0, next_time - time.monotonic()))
            results = [(budget, future.result()) for budget, future in futures]
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(30)

    fastest = min(floor_ms.values())
    meetable = [(b, r) for b, r in results if b >= fastest]
    misses = [
        {
            "budget_ms": budget,
            "variant": response.headers["x-ganc-variant"],
            "elapsed_ms": round(response.elapsed_ms, 1),
            "server_timing": response.headers.get("server-timing"),
        }
        for budget, response in meetable
        if response.headers.get("x-ganc-budget-met") != "true"
    ]
    met = len(meetable) - len(misses)
    served: dict[str, dict[str, int]] = {}
    for budget, response in results:
        row = served.setdefault(f"{budget:g}", {})
        row[response.headers["x-ganc-variant"]] = row.get(response.headers["x-ganc-variant"], 0) + 1
    report = {
        "family": args.family,
        "variant": variant,
        "size": args.size,
        "threads": args.threads,
        "latency": {
            "e2e_p50_ms": round(quantile(e2e_ms, 0.5), 2),
            "e2e_p99_ms": round(quantile(e2e_ms, 0.99), 2),
            "model_p50_ms": round(quantile(model_ms, 0.5), 2),
            "model_p99_ms": round(quantile(model_ms, 0.99), 2),
            "p50_ratio": round(quantile(e2e_ms, 0.5) / quantile(model_ms, 0.5), 3),
            "p99_ratio": round(quantile(e2e_ms, 0.99) / quantile(model_ms, 0.99), 3),
        },
        "throughput": {
            "gateway_rps": round(gateway_rps, 2),
            "model_rps": round(model_rps, 2),
            "ratio": round(gateway_rps / model_rps, 3),
        },
        "mixed_budgets": {
            "budgets_ms": budgets,
            "rate_per_s": args.rate,
            "requests": len(results),
            "alone_p95_e2e_ms": {k: round(v, 2) for k, v in floor_ms.items()},
            "meetable_requests": len(meetable),
            "met": met,
            "met_share": round(met / len(meetable), 5) if meetable else None,
            "served_by_budget": served,
            "misses": misses,
        },
        "goals": {"p50_ratio_max": 1.10, "throughput_ratio_min": 0.95, "met_share_min": 0.999},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(e2e_ms, model_ms, served, args.out / "serve.png", report)
    print(json.dumps(report, indent=2))


def draw(e2e_ms: list[float], model_ms: list[float], served: dict, path: Path, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for values, label in ((model_ms, "model only (onnxruntime in process)"), (e2e_ms, "gateway end to end")):
        ordered = np.sort(values)
        axes[0].plot(ordered, np.linspace(0, 1, len(ordered)), label=label)
    axes[0].set_xlabel("latency (ms)")
    axes[0].set_ylabel("share of requests")
    axes[0].set_title(f"{report['variant']} at {report['size']} px, {report['threads']} threads")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    variants = sorted({v for row in served.values() for v in row})
    budgets = list(served)
    bottom = np.zeros(len(budgets))
    for v in variants:
        counts = np.array([served[b].get(v, 0) for b in budgets])
        axes[1].bar(budgets, counts, bottom=bottom, label=v.replace("student-", ""))
        bottom += counts
    axes[1].set_xlabel("budget (ms)")
    axes[1].set_ylabel("requests")
    axes[1].set_title(f"which variant served each budget (met {report['mixed_budgets']['met_share']})")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
