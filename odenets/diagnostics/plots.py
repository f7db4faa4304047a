"""PNG plots of a :class:`~odenets.diagnostics.report.Report` (matplotlib, Agg backend).

* ``stability_regions.png``: per stage, ``z = h^p λ`` of every block over the shaded
  stability region ``{z : amplification(z) ≤ 1}`` of its scheme, evaluated on a grid from
  the declared stability object (nothing scheme-specific is drawn by hand).
* ``depth.png``: against depth (block index): the margin ``1 − max|R|``, ``h`` and ``h*``,
  the growth of a perturbation ``‖δy_j‖/‖δy_0‖`` and the backward signal ``‖∂ℓ/∂y_j‖``.
* ``singular_values.png``: the top singular values of each stage map and of the whole
  input–output map, per data point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .report import Report
from .stability import amplification

_GRID = 301


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def region_grid(stability, extent: float, implicit=None, h: float = 1.0, n: int = _GRID):
    """``(X, Y, amplification)`` on ``[−extent, extent]²`` (``z = X + iY``)."""
    axis = np.linspace(-extent, extent, n)
    xx, yy = np.meshgrid(axis, axis)
    z = xx + 1j * yy
    z_i = None
    if implicit is not None and len(implicit):
        weakest = implicit[np.argmin(np.abs(implicit))]
        z_i = np.full_like(z, h * weakest)
    return xx, yy, amplification(stability, z, z_i)


def _axis_amplification(block, reach: float = 10.0, n: int = 4001):
    """Amplification along the real and the imaginary axis of the ``z`` plane."""
    t = np.linspace(-reach, reach, n)
    implicit = block.implicit_eigenvalues
    z_i = None
    if implicit is not None and len(implicit):
        z_i = np.full(t.shape, block.h * implicit[np.argmin(np.abs(implicit))], dtype=complex)
    amp = np.stack(
        [amplification(block.stability, t + 0j, z_i), amplification(block.stability, 1j * t, z_i)]
    )
    return t, amp


def plot_stability_regions(report: Report, path: Path) -> Path:
    stages = [s for s in report.stages if s.blocks and s.blocks[0].stability is not None]
    fig = _figure(4.2 * max(len(stages), 1), 4.0)
    axes = fig.subplots(1, max(len(stages), 1), squeeze=False)[0]
    for ax, stage in zip(axes, stages, strict=False):
        first = stage.blocks[0]
        zs = [b.h**b.step_power * np.asarray(b.relevant_eigenvalues) for b in stage.blocks]
        reach = max((float(np.max(np.abs(z))) for z in zs if z.size), default=0.0)
        axes_t, axes_amp = _axis_amplification(first)
        inside = np.abs(axes_t[(axes_amp <= 1.0 + 1e-9).any(axis=0)])
        region_reach = float(inside.max()) if inside.size else 0.0
        extent = max(1.25 * reach, 1.1 * min(region_reach, 10.0), 3.0)
        xx, yy, amp = region_grid(first.stability, extent, first.implicit_eigenvalues, first.h)
        ax.contourf(xx, yy, amp <= 1.0 + 1e-9, levels=[0.5, 1.5], colors=["#c6dbef"])
        ax.contour(xx, yy, amp, levels=[1.0], colors=["#3182bd"], linewidths=1.0)
        # regions of zero area (leapfrog's real segment, midpoint's imaginary one) show on
        # the axes only: draw the stable parts of both axes as thick lines
        thin = np.mean(amp <= 1.0 + 1e-9) < 0.01  # a segment: one grid row at most
        for direction, stable in zip((1.0, 1j), axes_amp <= 1.0 + 1e-9, strict=True):
            if not thin:
                break
            line = np.where(stable, axes_t, np.nan) * direction
            ax.plot(line.real, line.imag, color="#3182bd", lw=4, alpha=0.6, solid_capstyle="butt")
        colours = _colours(len(zs))
        for j, z in enumerate(zs):
            ax.scatter(z.real, z.imag, s=10, color=colours[j], label=f"step {j}", zorder=3)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.axvline(0, color="0.6", lw=0.5)
        ax.set_aspect("equal")
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        arg = first.argument or "h·λ"
        ax.set_title(f"stage {stage.index}: {stage.scheme}\n{first.formula}", fontsize=9)
        ax.set_xlabel(f"Re z,  z = {arg}", fontsize=8)
        ax.set_ylabel("Im z", fontsize=8)
        if len(zs) <= 8:
            ax.legend(fontsize=7, loc="upper left")
    fig.savefig(path)
    return path


def _colours(n: int):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(t) for t in np.linspace(0.0, 0.85, max(n, 1))]


def plot_depth(report: Report, path: Path) -> Path:
    blocks = report.blocks
    depth = np.arange(len(blocks))
    labels = [f"{b.stage}.{b.step}" for b in blocks]
    fig = _figure(9.0, 6.0)
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    margin = [np.nan if b.margin is None else b.margin for b in blocks]
    ax1.plot(depth, margin, "o-")
    ax1.axhline(0.0, color="r", lw=0.8)
    finite = [m for m in margin if np.isfinite(m)]
    if finite:  # at least ±0.05 around 0, so round-off margins do not fill the panel
        ax1.set_ylim(min(-0.05, 1.1 * min(finite)), max(0.05, 1.1 * max(finite)))
    ax1.set_title("margin 1 − max amplification (< 0: unstable)", fontsize=9)
    h = [b.h for b in blocks]
    h_star = [np.nan if b.h_star is None else b.h_star for b in blocks]
    ax2.semilogy(depth, h, "k--", label="h")
    ax2.semilogy(depth, np.maximum(h_star, 1e-300), "o-", label="h* (largest stable step)")
    unbounded = [i for i, b in enumerate(blocks) if b.h_star_unbounded]
    if unbounded:
        ax2.plot(unbounded, [max(h) * 10] * len(unbounded), "^", label="h* = ∞")
    ax2.legend(fontsize=7)
    ax2.set_title("step h and largest stable step h*", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xticks(depth, labels, fontsize=7)
        ax.set_xlabel("stage.step", fontsize=8)
    for stage in report.stages:
        for g in stage.growth:
            ax3.semilogy(
                range(len(g["linear"])),
                g["linear"],
                "-",
                color=_colours(len(report.stages))[stage.index],
                alpha=0.7,
            )
        if stage.state_grad_norms:
            ax4.semilogy(
                range(len(stage.state_grad_norms)),
                stage.state_grad_norms,
                "o-",
                label=f"stage {stage.index}",
            )
    ax3.set_title("perturbation growth ‖δy_j‖/‖δy_0‖ per stage", fontsize=9)
    ax3.set_xlabel("step j", fontsize=8)
    ax4.set_title("backward signal ‖∂ℓ/∂y_j‖ (RMS over batch)", fontsize=9)
    ax4.set_xlabel("step j", fontsize=8)
    if report.stages and report.stages[0].state_grad_norms:
        ax4.legend(fontsize=7)
    fig.savefig(path)
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
