"""Classical transport schemes: orders under refinement, conservation, TVD, von Neumann."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from odenets.transport import (
    MUSCL,
    WENO5,
    Burgers,
    CourantWarning,
    GodunovRK,
    Grid,
    LaxFriedrichs,
    LaxWendroff,
    LinearAdvection,
    SumOfModes,
    Upwind,
    amplification,
    fit_order,
    impulse_stencil,
    rollout,
)
from odenets.transport.problems import sine_advection, step_profile

ADV = LinearAdvection(1.0)


def _global_error(scheme, n, courant=0.4, t_end=0.5, time_power=1.0):
    """L1 error at ``t_end`` from sin; ``Δt ∝ Δx^time_power`` (to expose the spatial order)."""
    grid = Grid(n, 1.0)
    dt = courant * grid.dx * (grid.dx / (1 / 20)) ** (time_power - 1)
    steps = math.ceil(t_end / dt)
    dt = t_end / steps
    u, t = sine_advection(n, 0.0), 0.0
    for _ in range(steps):
        u, t = scheme.step(u, dt, grid, t), t + dt
    return grid.dx, float((u - sine_advection(n, t_end)).abs().mean())


@pytest.mark.parametrize(
    ("scheme", "sizes", "time_power", "low", "high"),
    [
        (Upwind(ADV), (80, 160, 320, 640), 1.0, 0.9, 1.1),
        (LaxFriedrichs(ADV), (160, 320, 640, 1280), 1.0, 0.85, 1.1),
        (LaxWendroff(ADV), (20, 40, 80, 160), 1.0, 1.9, 2.1),
        (MUSCL(ADV, "minmod"), (80, 160, 320, 640), 1.0, 1.75, 2.2),
        (MUSCL(ADV, "van_leer"), (40, 80, 160, 320), 1.0, 1.85, 2.2),
        (WENO5(ADV), (20, 40, 80, 160), 5 / 3, 4.5, 5.5),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_measured_order_matches_the_declared_one(scheme, sizes, time_power, low, high):
    dx, err = zip(*(_global_error(scheme, n, time_power=time_power) for n in sizes), strict=True)
    order = fit_order(dx, err)
    assert low <= order <= high, (scheme.name, order, err)
    assert abs(order - scheme.order) < 0.3


@pytest.mark.parametrize("make", [Upwind, LaxFriedrichs, LaxWendroff, GodunovRK, WENO5,
                                  lambda law: MUSCL(law, "van_leer")])  # fmt: skip
def test_burgers_mass_is_conserved_to_round_off(make):
    scheme = make(Burgers(nu=0.01))
    grid = Grid(64, 2 * math.pi)
    x = grid.centers()
    u = (torch.sin(x) + 0.5 * torch.cos(3 * x) + 0.3).unsqueeze(0).repeat(2, 1)
    mass = u.sum(-1)
    for _ in range(100):
        u = scheme.step(u, scheme.dt(u, grid, 0.5), grid)
    assert torch.allclose(u.sum(-1), mass, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [Upwind, LaxFriedrichs, lambda law: MUSCL(law, "minmod"),
                                  lambda law: MUSCL(law, "van_leer")])  # fmt: skip
def test_tvd_schemes_do_not_increase_total_variation_on_a_step(make):
    scheme = make(ADV)
    grid = Grid(100, 1.0)
    u = step_profile(100)
    tv0 = float((u - u.roll(1, -1)).abs().sum())
    dt = 0.5 * scheme.cfl_limit * grid.dx if scheme.method_of_lines else 0.9 * grid.dx
    for _ in range(60):
        u = scheme.step(u, dt, grid)
        assert float((u - u.roll(1, -1)).abs().sum()) <= tv0 + 1e-12
    # and Lax–Wendroff (not TVD) does increase it: the test can fail
    lw, v = LaxWendroff(ADV), step_profile(100)
    for _ in range(10):
        v = lw.step(v, 0.5 * grid.dx, grid)
    assert float((v - v.roll(1, -1)).abs().sum()) > tv0 + 0.1


def _stencil(scheme, courant, n=32):
    grid = Grid(n, 1.0)
    return impulse_stencil(lambda e: scheme.step(e, courant * grid.dx, grid), n, 3)


@pytest.mark.parametrize("courant", [0.3, 0.7, 1.0])
def test_von_neumann_factors_equal_the_textbook_formulas(courant):
    theta = np.linspace(0, math.pi, 101)
    c = courant
    formulas = {
        LaxWendroff: 1 - 4 * c**2 * (1 - c**2) * np.sin(theta / 2) ** 4,
        Upwind: 1 - 2 * c * (1 - c) * (1 - np.cos(theta)),
        LaxFriedrichs: np.cos(theta) ** 2 + c**2 * np.sin(theta) ** 2,
    }
    for cls, formula in formulas.items():
        offsets, s = _stencil(cls(ADV), c)
        g2 = np.abs(amplification(offsets, s, theta)[1]) ** 2
        np.testing.assert_allclose(g2, formula, atol=1e-13, err_msg=cls.name)


def test_bad_input_is_reported_clearly():
    with pytest.raises(ValueError, match="only periodic grids"):
        Grid(32, 1.0, periodic=False)
    with pytest.raises(ValueError, match="at least 7 cells"):
        WENO5(ADV).step(torch.zeros(1, 5), 0.01, Grid(5, 1.0))
    grid = Grid(32, 1.0)
    with pytest.warns(CourantWarning, match="above the stability limit 1"):
        LaxWendroff(ADV).step(torch.zeros(1, 32), 1.5 * grid.dx, grid)
    with pytest.raises(ValueError, match="above the stability limit 0.5"):
        MUSCL(ADV, strict=True).step(torch.zeros(1, 32), 0.6 * grid.dx, grid)
    with pytest.raises(ValueError, match="limiter must be one of"):
        MUSCL(ADV, "superbee")
    with pytest.raises(ValueError, match="not an explicit Runge–Kutta"):
        WENO5(ADV, time_scheme="leapfrog")


def test_an_unstable_rollout_reports_its_blow_up_step_instead_of_crashing():
    grid = Grid(32, 1.0)
    scheme = LaxWendroff(ADV)
    u = sine_advection(32, 0.0).repeat(3, 1)
    u[1] += 1e-3 * torch.randn(32, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CourantWarning)
        with pytest.warns(RuntimeWarning, match="3 of 3 rollouts blew up"):
            out = rollout(scheme.stepper(grid), u, outer=40, t_inner=10 * 1.5 * grid.dx, inner=10)
    assert out.blowup_fraction == 1.0
    assert (out.blowup_step > 0).all()
    assert torch.isnan(out.states[:, -1]).all()
    stable = rollout(scheme.stepper(grid), u, outer=4, t_inner=0.1, inner=10, warn=False)
    assert stable.blowup_fraction == 0.0 and torch.isfinite(stable.states).all()


def test_forcing_cell_averages_are_exact_and_rollouts_select_their_members():
    gen = torch.Generator().manual_seed(0)
    forcing = SumOfModes.random(3, 2 * math.pi, gen)
    grid = Grid(16, 2 * math.pi)
    fine = Grid(16 * 64, 2 * math.pi)
    avg = forcing.cell_averages(grid, 0.7)
    x = fine.centers()
    point = (forcing.amplitude[..., None] * torch.sin(forcing.omega[..., None] * 0.7
             + 2 * math.pi * forcing.k[..., None] * x / fine.length
             + forcing.phase[..., None])).sum(1)  # fmt: skip
    midpoint_avg = point.reshape(3, 16, 64).mean(-1)
    torch.testing.assert_close(avg, midpoint_avg, atol=1e-3, rtol=0)
    law = Burgers(0.01, forcing)
    scheme = WENO5(law)
    u = torch.zeros(3, 16, dtype=torch.float64)
    full = rollout(scheme.stepper(grid), u, 3, 0.1, dt_fn=scheme.dt_fn(grid, 0.3))
    one = WENO5(Burgers(0.01, forcing.select(torch.tensor([2]))))
    single = rollout(one.stepper(grid), u[2:], 3, 0.1, dt_fn=one.dt_fn(grid, 0.3))
    torch.testing.assert_close(full.states[2], single.states[0])
