"""The report's study figures (PNG, matplotlib Agg): one colour per head variant in all of them.

Each function takes plain numbers, a ``colours`` mapping (``palette``) and a path, writes one PNG
and returns the path. Sizes are in pixels at ``DPI`` so the page can promise widths: a severity
panel is ``PANEL_PX`` wide, never scaled down on a 1,400 px screen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robeval.render.plots import _save, plt

# Okabe & Ito (2008), "Color universal design": distinguishable with every common colour-vision
# deficiency. Yellow (#F0E442) comes last: it is faint on white.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DPI = 100
PANEL_PX = (410, 330)  # one severity panel: wider than the 400 px the page promises, three a row


def palette(names: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per name in the given order; past eight names colours repeat with new markers."""
    return {n: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[(i // len(OKABE_ITO) + i) % len(MARKERS)])
            for i, n in enumerate(names)}


def _style(colours: dict, name: str) -> tuple[str, str]:
    return colours.get(name, ("#555555", "o"))


def _fig(width_px: float, height_px: float, nrow: int = 1, ncol: int = 1, **kw):
    return plt.subplots(nrow, ncol, figsize=(width_px / DPI, height_px / DPI), squeeze=False, **kw)


def _done(fig, path: str | Path) -> Path:
    return _save(fig, path, dpi=DPI)


def _severity_line(ax, pts: list[tuple], colour: str, band_alpha: float, **style) -> None:
    """One mean-vs-severity line (x 100) with its band where every point has one."""
    pts = sorted(pts, key=lambda p: p[0])
    x = [p[0] for p in pts]
    ax.plot(x, [100 * p[1] for p in pts], color=colour, **style)
    if all(p[2] is not None for p in pts):
        ax.fill_between(x, [100 * p[2] for p in pts], [100 * p[3] for p in pts], color=colour,
                        alpha=band_alpha, lw=0)


def _severity_axes(ax, title: str, ylabel: str, series: dict) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("severity (0 = clean)", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def severity_panel(series: dict[str, list[tuple]], colours: dict, path: str | Path, title: str,
                   ylabel: str = "test accuracy %", legend: str = "lower left") -> Path:
    """Accuracy (or ECE, with ``ylabel``) vs severity for one corruption family, one line per
    head variant.

    ``series[variant]`` = [(severity, mean, band_low | None, band_high | None), ...] in [0, 1],
    drawn x 100; severity 0 is the clean test set."""
    fig, axes = _fig(*PANEL_PX)
    ax = axes[0, 0]
    for variant, pts in series.items():
        colour, marker = _style(colours, variant)
        _severity_line(ax, pts, colour, 0.18, marker=marker, ms=4, lw=1.6, label=variant)
    _severity_axes(ax, title, ylabel, series)
    ax.legend(fontsize=7, loc=legend, framealpha=0.85)
    return _done(fig, path)


LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))
FAMILY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
CATEGORY_PANEL_PX = (600, 400)  # two panels a row on a 1,400 px screen


def category_panels(panels: dict[str, dict[tuple[str, str], list[tuple]]], colours: dict,
                    path: str | Path, title: str, ylabel: str = "test accuracy %") -> Path:
    """One panel per corruption category (noise, blur, weather, digital, in the given order), one
    line per (head variant, family): colour = variant (as in every figure), line style and marker
    = family within its panel; severity 0 is the clean test set.

    ``panels[category][(variant, family)]`` = [(severity, mean, band_low | None, band_high | None)]
    in [0, 1], drawn x 100. Two legends: the variants for the figure, the families per panel."""
    from matplotlib.lines import Line2D

    n = len(panels)
    ncol = 1 if n == 1 else 2
    nrow = (n + ncol - 1) // ncol
    fig, axes = _fig(CATEGORY_PANEL_PX[0] * ncol, CATEGORY_PANEL_PX[1] * nrow + 40, nrow, ncol)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.axis("off")
    variants: list[str] = []
    for ax, (category, series) in zip(flat, panels.items(), strict=False):
        families = list(dict.fromkeys(f for _, f in series))
        for (variant, family), pts in series.items():
            variants += [variant] if variant not in variants else []
            i = families.index(family)
            _severity_line(ax, pts, _style(colours, variant)[0], 0.10, ms=3.5, lw=1.4,
                           ls=LINESTYLES[i % len(LINESTYLES)],
                           marker=FAMILY_MARKERS[i % len(FAMILY_MARKERS)])
        _severity_axes(ax, category, ylabel, series)
        handles = [Line2D([], [], color="#444444", ls=LINESTYLES[i % len(LINESTYLES)],
                          marker=FAMILY_MARKERS[i % len(FAMILY_MARKERS)], ms=3.5,
                          label=f.replace("_", " ")) for i, f in enumerate(families)]
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85, title="family",
                  title_fontsize=7)
    top = 1 - 30 / (CATEGORY_PANEL_PX[1] * nrow + 40)  # a title row above the panels
    fig.text(0.01, 0.995, title, fontsize=10, ha="left", va="top")
    fig.legend(handles=[Line2D([], [], color=_style(colours, v)[0], lw=2, label=v) for v in variants],
               loc="upper right", bbox_to_anchor=(1, 1), fontsize=7, ncol=min(4, len(variants)),
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    return _save(fig, path, dpi=DPI, layout=False)


def cosine_pair(panels: list[tuple[str, np.ndarray]], classes: list[str], path: str | Path,
                title: str) -> Path:
    """cos(w_i, w_j) heatmaps side by side on one colour scale (-1 to 1), class names on both axes."""
    n = len(panels)
    annotate = len(classes) <= 12
    fig, axes = _fig(430 * n + 90, 450, 1, n)
    im = None
    for ax, (label, m) in zip(axes.flat, panels, strict=True):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        if len(classes) <= 30:
            ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
            ax.set_yticks(range(len(classes)), classes, fontsize=7)
        if annotate:
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=5.5,
                        color="white" if abs(v) > 0.6 else "black")
        ax.set_title(label, fontsize=10)
    fig.colorbar(im, ax=list(axes.flat), fraction=0.03, label="cos(w_i, w_j)")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=DPI, layout=False)


def _grid(n: int, panel_px: tuple[int, int], ncol: int = 3):
    ncol = max(1, min(ncol, n))
    nrow = (n + ncol - 1) // ncol
    fig, axes = _fig(panel_px[0] * ncol, panel_px[1] * nrow, nrow, ncol)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def spearman_grid(panels: list[tuple[str, np.ndarray, np.ndarray, float | None]], colours: dict,
                  path: str | Path) -> Path:
    """Per variant: confusions i -> j against cos(w_i, w_j) for every ordered class pair."""
    fig, axes = _grid(len(panels), (420, 330))
    for ax, (variant, cos, counts, rho) in zip(axes, panels, strict=True):
        colour, marker = _style(colours, variant)
        ax.scatter(cos, counts, s=12, alpha=0.75, color=colour, marker=marker)
        rho_text = f"ρ = {rho:+.2f}" if rho is not None else "ρ undefined"
        ax.set_title(f"{variant}: {rho_text}", fontsize=9)
        ax.set_xlabel("cos(w_i, w_j)", fontsize=8)
        ax.set_ylabel("images of class i predicted as j", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return _done(fig, path)


def compactness_grid(panels: list[tuple[str, np.ndarray, np.ndarray, float | None]], colours: dict,
                     path: str | Path) -> Path:
    """Per variant: histogram of cos(h, w_predicted) (filled) and cos(h, w_true) (outline), the
    ReLU ceiling as a dashed line where it applies and the paper's 0.95 as a dotted one."""
    fig, axes = _grid(len(panels), (420, 300))
    bins = np.linspace(-1, 1, 81)
    for ax, (variant, pred, true, ceiling) in zip(axes, panels, strict=True):
        colour, _ = _style(colours, variant)
        ax.hist(pred, bins=bins, color=colour, alpha=0.55, label=f"predicted (mean {pred.mean():.2f})")
        ax.hist(true, bins=bins, color="#333333", histtype="step", lw=1, label=f"true (mean {true.mean():.2f})")
        if ceiling is not None:
            ax.axvline(ceiling, color="k", ls="--", lw=1.2, label=f"ReLU ceiling {ceiling:.2f}")
        ax.axvline(0.95, color="#777777", ls=":", lw=1.2, label="paper 0.95")
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("cos(h, w_class)", fontsize=8)
        ax.set_ylabel("images", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="upper left")
    return _done(fig, path)


def curves_grid(panels: dict[str, dict[str, list[tuple]]], colours: dict, path: str | Path,
                xlabel: str, ylabel: str, scale: float = 100.0) -> Path:
    """One panel per key, one line per variant: [(x, mean, band_low | None, band_high | None)]
    (training dynamics: validation accuracy per epoch; tracked geometry with ``scale=1``)."""
    fig, axes = _grid(len(panels), (420, 320))
    for ax, (name, series) in zip(axes, panels.items(), strict=True):
        for variant, pts in series.items():
            colour, marker = _style(colours, variant)
            x = [p[0] for p in pts]
            ax.plot(x, [scale * p[1] for p in pts], color=colour, marker=marker, ms=3, lw=1.4, label=variant)
            if all(p[2] is not None for p in pts):
                ax.fill_between(x, [scale * p[2] for p in pts], [scale * p[3] for p in pts], color=colour,
                                alpha=0.18, lw=0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return _done(fig, path)


def accuracy_dots(groups: list[tuple[str, list[tuple[str, float, float | None, float | None]]]],
                  colours: dict, path: str | Path) -> Path:
    """The headline as a figure: per condition group (clean, corruptions, generalisation) one dot
    per variant at its mean, whiskers at its 95% interval."""
    variants = list(dict.fromkeys(v for _, pts in groups for v, *_ in pts))
    fig, axes = _fig(430, 330)  # sits beside the accuracy table on a 1,400 px screen
    ax = axes[0, 0]
    width = 0.8 / max(1, len(variants))
    for gi, (_, pts) in enumerate(groups):
        for variant, mean, lo, hi in pts:
            colour, marker = _style(colours, variant)
            x = gi - 0.4 + width * (variants.index(variant) + 0.5)
            err = [[100 * (mean - lo)], [100 * (hi - mean)]] if lo is not None else None
            ax.errorbar([x], [100 * mean], yerr=err, fmt=marker, color=colour, ms=6, capsize=3,
                        label=variant if gi == 0 or variant not in [p[0] for p in groups[0][1]] else None)
    ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=9)
    ax.set_ylabel("test accuracy %", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower left", ncol=2, framealpha=0.85)
    return _done(fig, path)
