"""The search's picture: quality against MACs and against latency, front and ladder marked, teacher for scale."""

import math
from pathlib import Path

from .candidates import Candidate, pareto_front


def plot_search(
    candidates: list[Candidate],
    ladder: list[Candidate],
    teacher: dict[str, float],
    path: Path,
    *,
    metric: str,
    target: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (
        (axes[0], "macs", lambda c: c.macs / 1e9, teacher["macs"] / 1e9, "MACs at 256x256, paper convention (G)"),
        (
            axes[1],
            "latency_ms",
            lambda c: c.latency_predicted_ms,
            teacher["latency_measured_ms"],
            f"latency (ms): predicted; ladder also measured. {target}",
        ),
    )
    for ax, kind, x, teacher_x, label in panels:
        ax.scatter(
            [x(c) for c in candidates],
            [c.score for c in candidates],
            s=10,
            color="lightgray",
            label=f"evaluated ({len(candidates)})",
        )
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
        if kind == "latency_ms":
            measured = [c for c in ladder if c.latency_measured_ms]
            ax.scatter(
                [c.latency_measured_ms for c in measured],
                [c.score for c in measured],
                s=50,
                facecolors="none",
                edgecolors="tab:red",
                label="ladder, measured",
                zorder=3,
            )
        if not math.isnan(teacher.get("score", math.nan)):
            ax.scatter([teacher_x], [teacher["score"]], s=70, marker="D", color="black", label="teacher", zorder=3)
        ax.set_xscale("log")
        # Plain numbers at 1-2-5 steps: the default minor labels (3x10^1, 4x10^1) overlap on short ranges.
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} on train2 (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
