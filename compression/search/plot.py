"""The search's picture: quality against MACs and against latency, front and ladder marked, teacher for scale."""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .candidates import BudgetKind, SearchCandidate, pareto_front


def plot_search(
    candidates: list[SearchCandidate],
    ladder: list[SearchCandidate],
    teacher: dict[str, float],
    path: Path,
    *,
    metric: str,
    target: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_macs, by_latency) = plt.subplots(1, 2, figsize=(12, 4.8))
    _draw_panel(by_macs, "macs", lambda c: c.macs / 1e9, candidates, ladder)
    _mark_teacher(by_macs, teacher["macs"] / 1e9, teacher)
    _label(by_macs, "MACs at 256x256, paper convention (G)", metric)
    _draw_panel(by_latency, "latency_ms", lambda c: c.latency_predicted_ms, candidates, ladder)
    measured = [c for c in ladder if c.latency_measured_ms]
    by_latency.scatter(
        [c.latency_measured_ms for c in measured],
        [c.score for c in measured],
        s=50,
        facecolors="none",
        edgecolors="tab:red",
        label="ladder, measured",
        zorder=3,
    )
    _mark_teacher(by_latency, teacher["latency_measured_ms"], teacher)
    _label(by_latency, f"latency (ms): predicted; ladder also measured. {target}", metric)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _draw_panel(
    ax: Any,
    kind: BudgetKind,
    x: Callable[[SearchCandidate], float],
    candidates: list[SearchCandidate],
    ladder: list[SearchCandidate],
) -> None:
    """Every evaluated candidate, the Pareto front on `kind`, and the chosen ladder with its configs."""
    scores = [c.score for c in candidates]
    ax.scatter([x(c) for c in candidates], scores, s=10, color="lightgray", label=f"evaluated ({len(candidates)})")
    front = pareto_front(candidates, kind)
    ax.plot([x(c) for c in front], [c.score for c in front], "-o", ms=3, color="tab:blue", label="Pareto front")
    ax.scatter(
        [x(c) for c in ladder],
        [c.score for c in ladder],
        s=70,
        marker="*",
        color="tab:red",
        zorder=3,
        label="chosen ladder",
    )
    for c in ladder:
        ax.annotate(c.config, (x(c), c.score), fontsize=7, xytext=(4, -10), textcoords="offset points")


def _mark_teacher(ax: Any, x: float, teacher: dict[str, float]) -> None:
    if not math.isnan(teacher.get("score", math.nan)):  # unpaired tasks have no score of the teacher's own
        ax.scatter([x], [teacher["score"]], s=70, marker="D", color="black", label="teacher", zorder=3)


def _label(ax: Any, xlabel: str, metric: str) -> None:
    from matplotlib import ticker

    ax.set_xscale("log")
    # Plain numbers at 1-2-5 steps: the default minor labels (3x10^1, 4x10^1) overlap on short ranges.
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{metric} on train2 (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
