"""PNG plots of one run (matplotlib, Agg backend): heatmaps, Spearman scatter, histograms, 2-D view.

The report's study figures (one colour per head variant) are in figures.py.

Each function takes plain arrays and a path, writes one PNG atomically and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robeval.core.fileio import atomic_path  # noqa: E402

MAX_TICKS = 30  # label every class up to this many; beyond, no tick labels


def _save(fig, path: str | Path, dpi: int = 110, layout: bool = True) -> Path:
    """Write ``fig`` as PNG; ``layout=False`` for figures whose colorbar spans several axes
    (tight_layout cannot place it; the bounding box is trimmed instead)."""
    path = Path(path)
    if layout:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, **({} if layout else {"bbox_inches": "tight"}))
    plt.close(fig)
    return path


def _ticks(ax, classes: list[str]) -> None:
    if len(classes) <= MAX_TICKS:
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)


def heatmap(matrix: np.ndarray, classes: list[str], path: str | Path, title: str,
            vmin: float | None = None, vmax: float | None = None, cmap: str = "RdBu_r",
            label: str = "", annotate: bool = True) -> Path:
    """C x C matrix with class names (the paper's Fig. 2/4 for cosines)."""
    size = min(12.0, 3 + 0.35 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap=cmap)
    fig.colorbar(im, ax=ax, fraction=0.046, label=label)
    _ticks(ax, classes)
    if annotate and len(classes) <= 12:
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, f"{v:.2f}" if isinstance(v, float | np.floating) else str(v),
                    ha="center", va="center", fontsize=6)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def spearman_scatter(cos: np.ndarray, counts: np.ndarray, path: str | Path, title: str,
                     rho: float | None) -> Path:
    """Confusion count of class i as j against cos(w_i, w_j), every ordered pair (Fig. 2 right)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(cos, counts, s=12, alpha=0.7)
    ax.set_xlabel("cos(w_i, w_j)")
    ax.set_ylabel("images of class i predicted as j")
    txt = f"Spearman ρ = {rho:.2f}" if rho is not None else "Spearman ρ undefined"
    ax.set_title(f"{title}\n{txt} ({len(cos)} pairs)", fontsize=10)
    return _save(fig, path)


def compactness_hist(pred: np.ndarray, true: np.ndarray, path: str | Path, title: str,
                     ceiling: float | None) -> Path:
    """Distribution of cos(h, w_pred) and cos(h, w_true), with the ReLU ceiling when it applies."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bins = np.linspace(-1, 1, 81)
    ax.hist(pred, bins=bins, alpha=0.6, label=f"to predicted class (mean {pred.mean():.3f})")
    ax.hist(true, bins=bins, alpha=0.6, label=f"to true class (mean {true.mean():.3f})")
    if ceiling is not None:
        ax.axvline(ceiling, color="k", ls="--", lw=1, label=f"ReLU ceiling ≈ {ceiling:.2f}")
    ax.set_xlabel("cosine between image feature and class vector")
    ax.set_ylabel("images")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def norms_hist(correct: np.ndarray, wrong: np.ndarray, path: str | Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    hi = max([1e-9, *(x.max() for x in (correct, wrong) if len(x))])
    bins = np.linspace(0, hi, 50)
    for x, lab in ((correct, "correct"), (wrong, "wrong")):
        if len(x):
            ax.hist(x, bins=bins, alpha=0.6, density=True, label=f"{lab} (n={len(x)}, median {np.median(x):.2f})")
    ax.set_xlabel("feature norm ||h||")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def scatter_2d(xy: np.ndarray, labels: np.ndarray, classes: list[str], path: str | Path,
               title: str, class_xy: np.ndarray | None = None) -> Path:
    """Test features in 2-D coloured by class (the paper's Fig. 3/5), class vectors as stars."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c in range(len(classes)):
        m = labels == c
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=5, alpha=0.6, color=cmap(c % cmap.N),
                       label=classes[c] if len(classes) <= 20 else None)
    if class_xy is not None:
        for c, (x, y) in enumerate(class_xy):
            ax.scatter([x], [y], marker="*", s=160, color=cmap(c % cmap.N), edgecolor="k")
    if len(classes) <= 20:
        ax.legend(fontsize=6, markerscale=2, loc="upper right")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
