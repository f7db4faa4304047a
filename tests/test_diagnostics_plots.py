"""The diagnostics plots: what a reader sees must agree with the report's verdicts.

Checked on the drawn matplotlib objects, not on pixels: points outside the region are
flagged exactly where the report's verdict is "unstable"; a zero-area region is drawn as a
segment with a legend entry; an inset appears when (and only when) the eigenvalue cloud is
small against the region; ``h*`` is on a linear axis (it can be 0); tick labels read
``s1·b2``; every panel has axis labels and a legend.
"""

import numpy as np
import pytest
import torch

import odenets
from odenets.diagnostics import diagnose, save_plots
from odenets.diagnostics.plots import (
    _figure,
    _positive_log,
    block_label,
    depth_figure,
    plot_depth,
)
from odenets.diagnostics.region_plot import INSET_FRACTION, _points, _stage_panel

DT = torch.float64


def report_of(scheme: str, scale: float = 1.0, **kw):
    torch.manual_seed(0)
    model = odenets.create_model(f"{scheme}_vector", hidden=8, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    x = torch.randn(2, model.in_features if hasattr(model, "in_features") else 2)
    return diagnose(model, x, k=1, num_points=2, consistency=False, gradients=False)


@pytest.fixture(scope="module")
def reports():
    return {name: report_of(name) for name in ("rk4", "hamiltonian", "midpoint")}


def test_outside_points_agree_with_the_verdict(reports):
    for report in reports.values():
        for stage in report.stages:
            _, outside = _points(stage)
            for block, out in zip(stage.blocks, outside, strict=True):
                claimed_unstable = block.max_amplification > 1.0 + 1e-9
                # the verdict is the worst case over the points drawn
                assert bool(out.any()) == claimed_unstable, (block.scheme, block.step)


def test_round_off_off_a_segment_is_not_drawn_as_instability():
    """Hamiltonian: z on the real segment [−4, 0]; imaginary parts of 1e-17 are noise."""
    report = report_of("hamiltonian")
    stage = report.stages[0]
    block = stage.blocks[0]
    lam = np.asarray(block.relevant_eigenvalues, dtype=complex)
    noisy = lam.real + 1e-15 * max(1.0, np.abs(lam).max()) * 1j
    block.relevant_eigenvalues = noisy
    _, outside = _points(stage)
    assert not outside[0].any()


def _panel(stage):
    fig = _figure(5, 4)
    ax = fig.subplots()
    _stage_panel(fig, ax, stage)
    return fig, ax


def test_region_panel_has_labelled_boundary_colour_bar_and_legend(reports):
    fig, ax = _panel(reports["rk4"].stages[0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("boundary" in t for t in labels) and any("stable region" in t for t in labels)
    assert ax.get_xlabel().startswith("Re z") and ax.get_ylabel() == "Im z"
    assert len(fig.axes) == 2  # the panel and its colour bar
    assert "step" in fig.axes[1].get_ylabel()


def test_zero_area_region_is_a_segment_with_a_legend_entry(reports):
    for name in ("hamiltonian", "midpoint"):
        _, ax = _panel(reports[name].stages[0])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("segment" in t for t in labels), name


def test_inset_only_when_the_cloud_is_small(reports):
    stage = reports["rk4"].stages[0]
    zs, _ = _points(stage)
    reach = max(np.abs(z).max() for z in zs)
    _, ax = _panel(stage)
    extent = ax.get_xlim()[1]
    assert (len(ax.child_axes) == 1) == (reach < INSET_FRACTION * extent)
    # a spectrum scaled up to fill the panel gets no inset; a tiny one always gets one
    for scale, want in ((1e-3, 1), (30.0, 0)):
        big = report_of("rk4", scale=scale)
        _, ax = _panel(big.stages[0])
        assert len(ax.child_axes) == want, scale


def test_depth_plot_axes_ticks_and_legends(tmp_path, reports):
    report = reports["rk4"]
    report.blocks[0].h_star = 0.0  # h* = 0 must be drawable: a linear axis from 0
    margin_ax, step_ax, growth_ax, back_ax = depth_figure(report).axes
    assert step_ax.get_yscale() == "linear" and step_ax.get_ylim()[0] == 0.0
    ticks = [t.get_text() for t in step_ax.get_xticklabels()]
    assert ticks == [block_label(b) for b in report.blocks]
    assert ticks[0] == "s0·b0"
    for ax in (margin_ax, step_ax, growth_ax, back_ax):
        assert ax.get_ylabel() and ax.get_xlabel()
    for ax in (margin_ax, step_ax, growth_ax):
        assert ax.get_legend() is not None
    # no labels were given, so no loss: the panel says so instead of staying blank
    assert back_ax.get_legend() is None and "no loss" in back_ax.texts[0].get_text()
    assert plot_depth(report, tmp_path / "depth.png").stat().st_size > 10_000


def test_log_axis_only_for_positive_values_spanning_a_decade():
    fig = _figure(3, 3)
    cases = {"linear": [0.0, 1.0, 2.0], "linear ": [1.0, 1.004], "log": [1e-3, 1.0]}
    for want, values in cases.items():
        ax = fig.add_subplot()
        _positive_log(ax, values)
        assert ax.get_yscale() == want.strip()


def test_save_plots_writes_three_pngs(tmp_path, reports):
    paths = save_plots(reports["midpoint"], tmp_path)
    assert sorted(p.name for p in paths) == [
        "depth.png",
        "singular_values.png",
        "stability_regions.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in paths)
