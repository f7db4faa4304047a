"""``stability_regions.png``: the spectrum of every block over its scheme's stability region.

One panel per stage. The region ``{z : amplification(z) ≤ 1}`` is evaluated on a grid from
the stability object the stage's scheme declares (nothing scheme-specific is drawn by hand)
and drawn shaded, with its boundary ``amplification(z) = 1`` as a labelled line. Regions of
zero area (a real or imaginary segment: leapfrog, the partitioned Hamiltonian step, the
explicit midpoint rule) are drawn as a thick segment instead, since a shaded set of measure
zero is invisible. The points ``z = h^p λ`` of every block are coloured by the block's step
in the stage (colour bar), and points outside the region (amplification ``> 1``) have
a red edge, so a verdict "unstable" is always visible in the picture. When the cloud of
points occupies a small part of the panel (a stiff-free spectrum near the origin next to a
large region) an inset zooms on it.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .report import Report
from .stability import STABILITY_TOL, _spectrum, amplification

_GRID = 301
_TOL = 1e-9
#: an inset is drawn when the points span less than this fraction of the panel's extent
INSET_FRACTION = 0.2
_REGION = "#c6dbef"
_BOUNDARY = "#3182bd"


def region_grid(stability, extent, implicit=None, h: float = 1.0, n: int = _GRID, centre=0j):
    """``(X, Y, amplification)`` on the square of half-width ``extent`` around ``centre``."""
    x = np.linspace(centre.real - extent, centre.real + extent, n)
    y = np.linspace(centre.imag - extent, centre.imag + extent, n)
    xx, yy = np.meshgrid(x, y)
    z = xx + 1j * yy
    return xx, yy, amplification(stability, z, _implicit_argument(implicit, h, z.shape))


def _implicit_argument(implicit, h: float, shape):
    """The implicit part's weakest eigenvalue ``h·λ_I`` (worst case), broadcast to ``shape``."""
    if implicit is None or not len(implicit):
        return None
    return np.full(shape, h * implicit[np.argmin(np.abs(implicit))], dtype=complex)


def axis_amplification(block, reach: float = 10.0, n: int = 4001):
    """Amplification along the real and the imaginary axis of the ``z`` plane."""
    t = np.linspace(-reach, reach, n)
    z_i = _implicit_argument(block.implicit_eigenvalues, block.h, t.shape)
    amp = np.stack(
        [amplification(block.stability, t + 0j, z_i), amplification(block.stability, 1j * t, z_i)]
    )
    return t, amp


def _points(stage):
    """``z = h^p λ`` per block of the stage, and whether each point lies outside the region.

    "Outside" is judged as the verdict judges it (:mod:`odenets.diagnostics.stability`):
    eigenvalue components below the noise floor count as zero, so round-off off a thin
    region (a segment) is not drawn as instability the report does not claim.
    """
    zs, outside = [], []
    for b in stage.blocks:
        lam = np.asarray(b.relevant_eigenvalues, dtype=complex).ravel()
        z = b.h**b.step_power * (_spectrum(lam) if lam.size else lam)
        z_i = _implicit_argument(b.implicit_eigenvalues, b.h, z.shape)
        zs.append(z)
        outside.append(np.asarray(amplification(b.stability, z, z_i)) > 1.0 + STABILITY_TOL)
    return zs, outside


def _draw_region(ax, block, extent, centre=0j):
    """Shaded region, labelled boundary; a thick segment for a region of zero area.

    Returns the legend handles of what was drawn.
    """
    xx, yy, amp = region_grid(
        block.stability, extent, block.implicit_eigenvalues, block.h, centre=centre
    )
    stable = amp <= 1.0 + _TOL
    if np.mean(stable) >= 0.01:  # a set of positive area
        ax.contourf(xx, yy, stable, levels=[0.5, 1.5], colors=[_REGION])
        ax.contour(xx, yy, amp, levels=[1.0], colors=[_BOUNDARY], linewidths=1.2)
        return [
            Patch(facecolor=_REGION, label="stable region |R(z)| ≤ 1"),
            Line2D([], [], color=_BOUNDARY, lw=1.2, label="boundary |R(z)| = 1"),
        ]
    t, axes_amp = axis_amplification(block, reach=abs(centre) + 2 * extent)
    for direction, on_axis in zip((1.0, 1j), axes_amp <= 1.0 + _TOL, strict=True):
        line = np.where(on_axis, t, np.nan) * direction
        ax.plot(
            line.real, line.imag, color=_BOUNDARY, lw=5, alpha=0.45, solid_capstyle="butt", zorder=2
        )
    return [
        Line2D([], [], color=_BOUNDARY, lw=5, alpha=0.45, label="stable set (a segment, zero area)")
    ]


def _scatter(ax, zs, outside, cmap, norm, size=14):
    """Points coloured by step; those outside the region get a red edge."""
    for j, (z, out) in enumerate(zip(zs, outside, strict=True)):
        edges = np.where(out, "red", "k")
        widths = np.where(out, 0.9, 0.15)
        ax.scatter(
            z.real,
            z.imag,
            s=size,
            color=cmap(norm(j)),
            edgecolors=edges,
            linewidths=widths,
            zorder=4,
        )


def _cloud_box(zs):
    """Centre and half-width of the points' bounding box (``None`` if there are no points)."""
    z = np.concatenate([np.ravel(v) for v in zs]) if zs else np.zeros(0)
    if not z.size:
        return None
    lo, hi = z.real.min() + 1j * z.imag.min(), z.real.max() + 1j * z.imag.max()
    centre = (lo + hi) / 2
    half = max((hi - lo).real, (hi - lo).imag) / 2
    return centre, half


def _extent(block, zs):
    """Half-width of the panel: the points and (up to |z| = 10) the region both visible."""
    reach = max((float(np.max(np.abs(z))) for z in zs if z.size), default=0.0)
    t, axes_amp = axis_amplification(block)
    inside = np.abs(t[(axes_amp <= 1.0 + _TOL).any(axis=0)])
    region_reach = float(inside.max()) if inside.size else 0.0
    return max(1.25 * reach, 1.1 * min(region_reach, 10.0), 3.0)


def _inset(ax, stage, block, zs, outside, extent, cmap, norm):
    """Zoom on the cloud of points when it is small against the panel."""
    box = _cloud_box(zs)
    if box is None:
        return
    centre, half = box
    if abs(centre) + half > INSET_FRACTION * extent:
        return
    half = max(1.3 * half, 1e-3 * extent, 1e-12)
    inset = ax.inset_axes([0.56, 0.56, 0.42, 0.42])
    _draw_region(inset, block, half, centre)
    _other_boundaries(inset, stage, block, half, centre)
    _scatter(inset, zs, outside, cmap, norm, size=10)
    inset.set_xlim(centre.real - half, centre.real + half)
    inset.set_ylim(centre.imag - half, centre.imag + half)
    inset.set_aspect("equal")
    inset.tick_params(labelsize=6)
    inset.text(
        0.03,
        0.04,
        f"zoom ×{extent / half:.3g}",
        transform=inset.transAxes,
        fontsize=7,
        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0},
    )
    ax.indicate_inset_zoom(inset, edgecolor="0.3")


def reference_block(stage):
    """The block whose region is shaded: the stability most blocks of the stage declare.

    A stage can mix stabilities: a two-step scheme's first block is a one-step starter
    (the explicit midpoint rule starts with forward Euler, ``R(z) = 1 + z``). The region
    shaded is the one the most blocks share (ties: the later block); the others get their
    own dashed boundary, and every point is judged by its own block's stability.
    """
    formulas = [b.formula for b in stage.blocks]
    best = max(range(len(formulas)), key=lambda i: (formulas.count(formulas[i]), i))
    return stage.blocks[best]


def _other_boundaries(ax, stage, reference, extent, centre=0j):
    """Dashed boundaries of the stabilities that differ from the shaded one (starters)."""
    handles, seen = [], {reference.formula}
    for b in stage.blocks:
        if b.formula in seen:
            continue
        seen.add(b.formula)
        xx, yy, amp = region_grid(b.stability, extent, b.implicit_eigenvalues, b.h, centre=centre)
        if not (amp.min() < 1.0 < amp.max()):
            continue  # no boundary in view
        ax.contour(xx, yy, amp, levels=[1.0], colors=["0.35"], linewidths=1.0, linestyles="--")
        label = f"boundary for b{b.step} ({b.formula})"
        handles.append(Line2D([], [], color="0.35", lw=1.0, ls="--", label=label))
    return handles


def _stage_panel(fig, ax, stage):
    first = reference_block(stage)
    zs, outside = _points(stage)
    extent = _extent(first, zs)
    handles = _draw_region(ax, first, extent)
    handles += _other_boundaries(ax, stage, first, extent)
    n = len(zs)
    cmap = colormaps["viridis"]
    norm = BoundaryNorm(np.arange(-0.5, n + 0.5), cmap.N)
    _scatter(ax, zs, outside, cmap, norm)
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color=cmap(0.5),
            markeredgecolor="k",
            markeredgewidth=0.3,
            label="z = h^p λ (colour: step)",
        )
    )
    n_out = int(sum(o.sum() for o in outside))
    n_all = sum(o.size for o in outside)
    if n_out:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                color=cmap(0.5),
                markeredgecolor="red",
                markeredgewidth=1.2,
                label=f"red edge: outside the region ({n_out} of {n_all})",
            )
        )
    ax.axhline(0, color="0.6", lw=0.5, zorder=1)
    ax.axvline(0, color="0.6", lw=0.5, zorder=1)
    ax.set_aspect("equal")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    _inset(ax, stage, first, zs, outside, extent, cmap, norm)
    arg = first.argument or "h·λ"
    ax.set_title(f"stage {stage.index}: {stage.scheme}\n{first.formula}", fontsize=9)
    ax.set_xlabel(f"Re z,  z = {arg}", fontsize=8)
    ax.set_ylabel("Im z", fontsize=8)
    ax.legend(handles=handles, fontsize=6.5, loc="lower left", framealpha=0.85)
    bar = fig.colorbar(cmap_mappable(cmap, norm), ax=ax, shrink=0.7, ticks=range(n))
    bar.set_label("step of the stage (block)", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def cmap_mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array([])
    return mappable


def plot_stability_regions(report: Report, path, figure):
    """Write ``stability_regions.png``: one panel per stage with a declared stability."""
    stages = [s for s in report.stages if s.blocks and s.blocks[0].stability is not None]
    fig = figure(4.8 * max(len(stages), 1), 4.4)
    axes = fig.subplots(1, max(len(stages), 1), squeeze=False)[0]
    if not stages:
        axes[0].text(
            0.5,
            0.5,
            "no block declares a stability function",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
        axes[0].set_axis_off()
    for ax, stage in zip(axes, stages, strict=False):
        _stage_panel(fig, ax, stage)
    fig.savefig(path)
    return path
