"""Matplotlib figures of forensics results: robustness curves per post-processing (the CIMGEN paper's Figure 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimgen.io.images import atomic_write


def robustness_figure(rows: list[dict], operation: str, path: str | Path, *, title: str = "", strength: str = "") -> Path:
    """Accuracy and AUC against strength, one line per detector, for one operation; written atomically as PNG.

    ``strength`` says what the operation's strength is (its meaning and unit), for the x axis.
    """
    import matplotlib  # loaded here: choosing the backend must come before pyplot is imported

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the Agg backend, which draws without a screen

    mine = [r for r in rows if r["operation"] == operation]
    detectors = list(dict.fromkeys(r["detector"] for r in mine))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, key, label in ((axes[0], "accuracy", "patch accuracy"), (axes[1], "auc", "patch AUC")):
        for name in detectors:
            pts = sorted((r["strength"], r[key]) for r in mine if r["detector"] == name)
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", label=name)
        ax.set_xlabel(f"{operation}: {strength}" if strength else f"{operation} strength")
        ax.set_ylabel(label)
        ax.set_ylim(0.4 if key == "accuracy" else 0.3, 1.01)
        ax.axhline(0.5, color="#999", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle(title or f"Robustness to {operation}")
    path = Path(path)

    def _w(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=110)

    atomic_write(path, _w)
    plt.close(fig)
    return path


def mean_accuracy(rows: list[dict], detector: str, operation: str) -> float:
    """Mean accuracy of a detector over the strengths of one operation."""
    vals = [r["accuracy"] for r in rows if r["detector"] == detector and r["operation"] == operation]
    return float(np.mean(vals)) if vals else float("nan")
