"""The gateway under a long steady load: errors, latency drift and memory growth of every process.

    .venv/bin/python bench/soak.py --repo model_repository --family sr4x --seconds 600

Starts `ganc serve`, measures its capacity with mixed image sizes for a few seconds, then sends requests at
70% of it (Poisson arrivals) for --seconds: sizes from 128 to 1024 px, budgets none, tight and loose. Every
window it notes the answers' p50 and p99 latency and the resident memory of every process of the gateway
(BentoML's and its workers). Goal: no errors, and memory that grows less than 5% from the first window to
the last. Prints JSON and writes it, with a chart, under bench/out/.
"""

import argparse
import json
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from serve import free_port, photo_png, saturate, start_gateway

SIZES = (128, 256, 512, 1024)
BUDGETS = (None, 50.0, 200.0, 1000.0)


def session_rss_mb(leader: int) -> dict[str, float]:
    """Resident memory of every process in the session that `leader` started, by pid and command."""
    rss = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[3]) != leader:  # the session id
                continue
            status = (stat.parent / "status").read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:60].strip()
        except (OSError, IndexError, ValueError):
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        rss[f"{stat.parent.name} {command}"] = kb / 1024
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--family", default="sr4x")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--window-s", type=float, default=30)
    parser.add_argument("--load", type=float, default=0.7, help="share of the measured capacity")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()

    port = free_port()
    gateway = start_gateway(args.repo, port, args.threads)
    url = f"http://127.0.0.1:{port}/v1/translate/{args.family}"
    bodies = {size: photo_png(size) for size in SIZES}
    rng = random.Random(0)
    client = httpx.Client(timeout=120)

    def request() -> tuple[float, int]:
        size, budget = rng.choice(SIZES), rng.choice(BUDGETS)
        params = {"budget_ms": budget} if budget else {}
        start = time.perf_counter()
        try:
            status = client.post(
                url, content=bodies[size], params=params, headers={"Content-Type": "image/png"}
            ).status_code
        except httpx.HTTPError:
            status = 0
        return (time.perf_counter() - start) * 1e3, status

    try:
        capacity = saturate(request, 15.0, 4)
        rate = args.load * capacity
        windows, lock, current = [], threading.Lock(), {"latencies": [], "errors": 0}

        def record(future) -> None:
            latency, status = future.result()
            with lock:
                current["latencies"].append(latency)
                current["errors"] += status != 200 and status != 413  # 413: a size past the cap, by design

        with ThreadPoolExecutor(16) as pool:
            end, next_window = time.monotonic() + args.seconds, time.monotonic() + args.window_s
            while time.monotonic() < end:
                pool.submit(request).add_done_callback(record)
                time.sleep(rng.expovariate(rate))
                if time.monotonic() >= next_window:
                    with lock:
                        latencies, errors = current["latencies"], current["errors"]
                        current.update(latencies=[], errors=0)
                    windows.append(
                        {
                            "requests": len(latencies),
                            "errors": errors,
                            "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
                            "p99_ms": round(float(np.percentile(latencies, 99)), 1) if latencies else None,
                            "rss_mb": session_rss_mb(gateway.pid),
                        }
                    )
                    next_window += args.window_s
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(30)

    first, last = windows[0]["rss_mb"], windows[-1]["rss_mb"]
    growth = {pid: round(100 * (last[pid] / first[pid] - 1), 2) for pid in first if pid in last and first[pid]}
    report = {
        "family": args.family,
        "capacity_rps": round(capacity, 2),
        "rate_rps": round(rate, 2),
        "seconds": args.seconds,
        "errors": sum(w["errors"] for w in windows),
        "requests": sum(w["requests"] for w in windows),
        "p50_drift": round(windows[-1]["p50_ms"] / windows[0]["p50_ms"], 3),
        "p99_drift": round(windows[-1]["p99_ms"] / windows[0]["p99_ms"], 3),
        "rss_growth_pct": growth,
        "windows": windows,
    }
    report["goals"] = {"no_errors": report["errors"] == 0, "rss_growth_under_5pct": max(growth.values()) < 5}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, args.out / "soak.png")
    print(json.dumps({k: v for k, v in report.items() if k != "windows"}, indent=2))


def draw(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = report["windows"]
    minutes = [(i + 1) * report["seconds"] / len(windows) / 60 for i in range(len(windows))]
    fig, (latency, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    latency.plot(minutes, [w["p50_ms"] for w in windows], "-o", ms=3, label="p50")
    latency.plot(minutes, [w["p99_ms"] for w in windows], "-o", ms=3, label="p99")
    latency.set_xlabel("minutes")
    latency.set_ylabel("latency (ms)")
    latency.legend()
    for process in windows[0]["rss_mb"]:
        memory.plot(minutes, [w["rss_mb"].get(process) for w in windows], label=process[:40])
    memory.set_xlabel("minutes")
    memory.set_ylabel("resident memory (MB)")
    memory.legend(fontsize=6)
    fig.suptitle(
        f"{report['family']}: {report['rate_rps']} requests/s for {report['seconds'] / 60:.0f} min", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
