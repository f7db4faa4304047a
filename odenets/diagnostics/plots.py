"""PNG plots of a :class:`~odenets.diagnostics.report.Report` (matplotlib, Agg backend).

* ``stability_regions.png`` (:mod:`~odenets.diagnostics.region_plot`): per stage, the
  points ``z = h^p λ`` of every block, coloured by step (colour bar), over the stability
  region of the scheme with its labelled boundary; points outside the region have a red
  edge; an inset zooms on a small eigenvalue cloud.
* ``depth.png``: against depth (ticks ``s1·b2`` = stage 1, step 2): the margin
  ``1 − ρ(S(h))``, ``h`` and ``h*`` on a linear axis (``h*`` can be 0; ``∞`` drawn as
  triangles), the growth of a perturbation ``‖δy_j‖/‖δy_0‖`` and the backward signal
  ``‖∂ℓ/∂y_j‖`` (log axes only for positive values spanning more than a decade).
* ``singular_values.png``: the top singular values of each stage map and of the whole
  input–output map, per data point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .region_plot import plot_stability_regions as _regions
from .report import Report


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colours(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(t) for t in np.linspace(0.0, 0.85, max(n, 1))]


def block_label(block) -> str:
    """``s1·b2``: block (step) 2 of stage 1 — a tick label that cannot be read as a decimal."""
    return f"s{block.stage}·b{block.step}"


def _margin_panel(ax, blocks, depth):
    margin = [np.nan if b.margin is None else b.margin for b in blocks]
    ax.plot(depth, margin, "o-", label="margin 1 − ρ(S(h)) at the judged step")
    ax.axhline(0.0, color="r", lw=0.8, label="stability limit (margin 0)")
    finite = [m for m in margin if np.isfinite(m)]
    if finite:  # at least ±0.05 around 0, so round-off margins do not fill the panel
        ax.set_ylim(min(-0.05, 1.1 * min(finite)), max(0.05, 1.1 * max(finite)))
    uncertified = [i for i, b in enumerate(blocks) if b.certified is False]
    if uncertified:
        ax.plot(
            uncertified,
            [0.0] * len(uncertified),
            "x",
            color="0.3",
            ms=8,
            label="not certified (no verdict)",
        )
    ax.set_title("stability margin (< 0: unstable)", fontsize=9)
    ax.set_ylabel("1 − max amplification", fontsize=8)
    ax.legend(fontsize=7)


def _step_panel(ax, blocks, depth):
    """``h`` and ``h*`` on a linear axis (``h*`` can be 0); ``h* = ∞`` as triangles on top."""
    h = np.array([b.h if b.judged_h is None else b.judged_h for b in blocks], dtype=float)
    h_star = np.array([np.nan if b.h_star is None else b.h_star for b in blocks], dtype=float)
    ax.plot(depth, h, "k--", marker="_", label="h (step judged)")
    ax.plot(depth, h_star, "o-", label="h* (largest stable step)")
    finite = np.concatenate([h, h_star[np.isfinite(h_star)]])
    top = 1.15 * float(np.max(finite)) if finite.size else 1.0
    unbounded = [i for i, b in enumerate(blocks) if b.h_star_unbounded]
    if unbounded:
        ax.plot(unbounded, [top] * len(unbounded), "^", color="C2", label="h* = ∞ (no exit found)")
    ax.set_ylim(0.0, 1.08 * top)
    ax.set_title("step h and largest stable step h*", fontsize=9)
    ax.set_ylabel("step size", fontsize=8)
    ax.legend(fontsize=7)


def _positive_log(ax, values) -> None:
    """Log scale only where every value is positive and they span more than a decade.

    Never a log axis over zeros; a linear one where the values are close (a log axis over
    1.000–1.005 only garbles the tick labels). Step indices are integer ticks.
    """
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size and np.all(values > 0) and values.max() > 10 * values.min():
        ax.set_yscale("log")


def _growth_panel(ax, report):
    colours = _colours(len(report.stages))
    values = []
    for stage in report.stages:
        for p, g in enumerate(stage.growth):
            ax.plot(
                range(len(g["linear"])),
                g["linear"],
                "-",
                color=colours[stage.index],
                alpha=0.7,
                label=f"stage {stage.index}" if p == 0 else None,
            )
            values.extend(g["linear"])
    ax.axhline(1.0, color="0.6", lw=0.6)
    _positive_log(ax, values)
    ax.set_title("perturbation growth (one line per data point)", fontsize=9)
    ax.set_xlabel("step j in the stage", fontsize=8)
    ax.set_ylabel("‖δy_j‖ / ‖δy_0‖", fontsize=8)
    if values:
        ax.legend(fontsize=7)


def _backward_panel(ax, report):
    values = []
    for stage in report.stages:
        if stage.state_grad_norms:
            ax.plot(
                range(len(stage.state_grad_norms)),
                stage.state_grad_norms,
                "o-",
                label=f"stage {stage.index}",
            )
            values.extend(stage.state_grad_norms)
    _positive_log(ax, values)
    ax.set_title("backward signal (RMS over the batch)", fontsize=9)
    ax.set_xlabel("step j in the stage", fontsize=8)
    ax.set_ylabel("‖∂ℓ/∂y_j‖", fontsize=8)
    if values:
        ax.legend(fontsize=7)
    else:
        ax.text(
            0.5,
            0.5,
            "no loss: backward signal not computed",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )


def depth_figure(report: Report) -> Figure:
    """Margin, ``h``/``h*``, perturbation growth and backward signal against depth."""
    blocks = report.blocks
    depth = np.arange(len(blocks))
    fig = _figure(9.0, 6.4)
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    _margin_panel(ax1, blocks, depth)
    _step_panel(ax2, blocks, depth)
    for ax in (ax1, ax2):
        rotation = 45 if len(blocks) > 12 else 0
        ax.set_xticks(depth, [block_label(b) for b in blocks], fontsize=7, rotation=rotation)
        ax.set_xlabel("block (s = stage, b = step in the stage)", fontsize=8)
    _growth_panel(ax3, report)
    _backward_panel(ax4, report)
    return fig


def plot_depth(report: Report, path: Path) -> Path:
    """Write ``depth.png`` (see :func:`depth_figure`)."""
    depth_figure(report).savefig(path)
    return path


def plot_singular_values(report: Report, path: Path) -> Path:
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    colours = _colours(len(report.stages) + 1)
    for stage in report.stages:
        for p, values in enumerate(stage.singular_values):
            ax.semilogy(
                np.arange(1, len(values) + 1),
                values,
                "o-",
                color=colours[stage.index],
                alpha=0.7,
                label=f"stage {stage.index} map" if p == 0 else None,
            )
    for p, values in enumerate(report.network.singular_values):
        ax.semilogy(
            np.arange(1, len(values) + 1),
            values,
            "s--",
            color="k",
            alpha=0.7,
            label="input → output" if p == 0 else None,
        )
    ax.set_xlabel("index i", fontsize=8)
    ax.set_ylabel("σ_i", fontsize=8)
    ax.set_title("top singular values of the Jacobians (one line per data point)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def save_plots(report: Report, out_dir: str | Path) -> list[Path]:
    """Write the three PNGs into ``out_dir`` (created if missing); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_stability_regions(report, out / "stability_regions.png"),
        plot_depth(report, out / "depth.png"),
        plot_singular_values(report, out / "singular_values.png"),
    ]


def plot_stability_regions(report: Report, path: Path) -> Path:
    """Write ``stability_regions.png`` (see :mod:`odenets.diagnostics.region_plot`)."""
    return _regions(report, path, _figure)
