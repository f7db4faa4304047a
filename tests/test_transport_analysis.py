"""Transport analysis: truncation order, moments, CFL limits, learned steppers, train.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from odenets.transport import (
    ConvStepper,
    GodunovRK,
    Grid,
    LaxWendroff,
    LearnedFiniteVolume,
    LearnedStencil,
    LinearAdvection,
    PolynomialFluxNet,
    Upwind,
    cfl_limit,
    consistency_order,
    impulse_stencil,
    increment,
    jacobian_spectrum,
    moment_residuals,
    train_stepper,
    truncation_errors,
)
from odenets.transport.learned import polynomial_constraints
from odenets.transport.problems import advected_fourier, random_modes, sine_advection

ADV = LinearAdvection(1.0)


def _lw_stencil(c):
    """Lax–Wendroff written by hand as a linear stencil s_{−1}, s_0, s_1."""
    return np.array([-1, 0, 1]), np.array([c * (1 + c) / 2, 1 - c**2, -c * (1 - c) / 2])


def _apply(offsets, s):
    def step(u, n, dt):
        return sum(float(sj) * torch.roll(u, -int(j), -1) for j, sj in zip(offsets, s, strict=True))

    return step


def test_lax_wendroff_as_a_stencil_has_truncation_order_two_and_moments_to_order_two():
    c = 0.6
    offsets, s = _lw_stencil(c)
    result = truncation_errors(
        _apply(offsets, s),
        lambda n, t: sine_advection(n, t),
        (16, 32, 64, 128),
        1.0,
        lambda dx: c * dx,
    )
    assert result["order"] == pytest.approx(2.0, abs=0.05)
    residuals = moment_residuals(offsets, increment(offsets, s), c)
    assert consistency_order(residuals) == 2
    assert abs(residuals[3]) > 1e-3  # not third order
    # an inconsistent stencil (Σ c_j ≠ 0): τ grows like 1/Δt
    bad = truncation_errors(
        _apply(offsets, s * 1.01),
        lambda n, t: sine_advection(n, t),
        (16, 32, 64, 128),
        1.0,
        lambda dx: c * dx,
    )
    assert bad["order"] < -0.9


def test_analysis_recovers_the_cfl_limits_from_the_stencils():
    def of_scheme(cls):
        def stencil(c):
            grid = Grid(32, 1.0)
            return impulse_stencil(lambda e: cls(ADV).step(e, c * grid.dx, grid), 32, 3)

        return stencil

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cfl_limit(of_scheme(Upwind), c_max=3) == pytest.approx(1.0, abs=2e-4)
        assert cfl_limit(of_scheme(LaxWendroff), c_max=3) == pytest.approx(1.0, abs=2e-4)
        assert cfl_limit(_lw_stencil, c_max=3) == pytest.approx(1.0, abs=2e-4)
        # SSP-RK3 on the upwind eigenvalue circle: stable beyond C = 1, up to about 1.2564
        assert cfl_limit(of_scheme(GodunovRK), c_max=3) == pytest.approx(1.2564, abs=1e-3)


def test_polynomial_constraints_make_the_learned_flux_exact_for_polynomials():
    torch.manual_seed(0)
    net = PolynomialFluxNet(degree=2, width=8)
    for p in net.net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    a, b = polynomial_constraints(2)
    alpha_l, alpha_r, beta = net.coefficients(torch.randn(3, 16, dtype=torch.float64).float())
    for coeffs in (alpha_l, alpha_r):
        np.testing.assert_allclose(
            coeffs.double().detach().numpy() @ a.T, np.broadcast_to(b, (3, 16, 3)), atol=1e-5
        )
    _, bd = polynomial_constraints(2, derivative=1)
    np.testing.assert_allclose(
        beta.double().detach().numpy() @ a.T, np.broadcast_to(bd, (3, 16, 3)), atol=1e-5
    )
    # so a quadratic's interface values are exact, whatever the weights
    n, grid = 16, Grid(16, 1.0)
    x0 = grid.edges()
    cube = lambda x: x**3 / 3 - 0.5 * x**2  # noqa: E731  antiderivative of x² − x
    u = ((cube(x0 + grid.dx) - cube(x0)) / grid.dx).unsqueeze(0)
    left, right, _ = net(u.float())
    edge = x0 + grid.dx
    exact = edge**2 - edge
    np.testing.assert_allclose(left[0, 2:-4].detach().numpy(), exact[2:-4].numpy(), atol=1e-5)
    assert n == u.shape[-1]


def test_a_tiny_learned_stencil_and_flux_net_train_and_their_loss_falls():
    gen = torch.Generator().manual_seed(0)
    n, c = 32, 0.5
    amp, phase = random_modes(16, 4, gen)
    u0 = advected_fourier(amp, phase, n, 0.0).float()
    u1 = advected_fourier(amp, phase, n, c / n).float()
    model = LearnedStencil(2)
    history = train_stepper(model, lambda m, g: ((m(u0) - u1) ** 2).mean(), 150, lr=1e-2)
    assert history[-1] < 0.05 * history[0]
    conv = ConvStepper(2, hidden=8, scheme="rk2")
    history = train_stepper(
        conv, lambda m, g: ((m.unroll(u0, 1)[:, 1] - u1) ** 2).mean(), 60, lr=3e-3
    )
    assert history[-1] < 0.5 * history[0]
    # the stencil's moments are measured; the one-step Jacobian of a linear stepper has the
    # von Neumann factors as eigenvalues (a DFT of the circulant)
    offsets = np.arange(-2, 3)
    stencil = model.stencil().double().numpy()
    spectrum = jacobian_spectrum(lambda u: model(u), u0[:1].double().float())
    g = 1 + (stencil[None] * np.exp(2j * np.pi * np.outer(np.arange(n), offsets) / n)).sum(1)
    assert spectrum["spectral_radius"] == pytest.approx(np.abs(g).max(), rel=1e-4)
    assert moment_residuals(offsets, stencil, c).shape == (5,)
    # the learned finite-volume flux net trains on a one-step loss
    law = LinearAdvection(1.0)
    net = PolynomialFluxNet(degree=1, width=8, depth=2)
    scheme = LearnedFiniteVolume(law, net)
    grid = Grid(n, 1.0)
    dt = 0.5 * grid.dx
    big = advected_fourier(amp, phase, n, 4 * dt).float()
    history = train_stepper(
        net, lambda m, g: ((sum_steps(scheme, u0, dt, grid, 4) - big) ** 2).mean(), 40, lr=3e-3
    )
    assert history[-1] < 0.7 * history[0]


def sum_steps(scheme, u, dt, grid, k):
    for _ in range(k):
        u = scheme.step(u, dt, grid)
    return u


def test_learned_steppers_reject_bad_input():
    with pytest.raises(ValueError, match="first-order one-field zoo scheme"):
        ConvStepper(2, scheme="hamiltonian")
    with pytest.raises(ValueError, match="stencil radius must be a positive integer"):
        LearnedStencil(0)
    with pytest.raises(ValueError, match="at least 7 cells"):
        LearnedStencil(3)(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="degree must be an integer"):
        PolynomialFluxNet(degree=6)


def test_a_history_scheme_steps_a_learned_field_and_blow_ups_are_counted():
    model = LearnedStencil(1, scheme="midpoint")
    with torch.no_grad():
        model.field.weight.copy_(torch.tensor([0.9, -0.2, 0.9]))  # |g| > 1: explodes
    u = sine_advection(16, 0.0).float().repeat(4, 1)
    out = model.rollout(u, 200)
    assert out.blowup_fraction == 1.0 and (out.blowup_step > 1).all()
    assert math.isnan(float(out.states[0, -1, 0]))
