"""FOMs, advection snapshots and POD against closed forms."""

import math

import pytest
import torch

from odenets.reduction.errors import NewtonDidNotConverge
from odenets.reduction.fom import BurgersFOM, LinearAdvectionFOM, PeriodicBidiagonal
from odenets.reduction.pod import compute_pod, projection_error
from odenets.reduction.snapshots import advection_snapshots, cell_averages, profile_values


@pytest.mark.parametrize("profile,width", [("step", 0.3), ("hat", 0.3), ("gaussian", 0.05)])
def test_snapshots_are_exact_shifts(profile, width):
    n = 64
    base = cell_averages(profile, n, 0.1, width=width)
    # a shift by whole cells is a roll of the cell averages, to round-off
    shifted = cell_averages(profile, n, 0.1 + 5 / n, width=width)
    assert torch.allclose(torch.roll(base, 5), shifted, atol=1e-14)
    # cell averages converge to the point values of the shifted profile under refinement
    errs = []
    for m in (256, 1024):
        centres = (torch.arange(m) + 0.5) / m
        exact = profile_values(profile, centres - 0.1, width=width)
        errs.append(float((cell_averages(profile, m, 0.1, width=width) - exact).abs().mean()))
    assert errs[1] < errs[0] / 3.5
    # the mean is conserved by the shift (∫ u₀ for the step = width)
    if profile == "step":
        assert abs(float(base.mean()) - width) < 1e-14


def test_advection_snapshot_set_sweeps_the_period():
    s = advection_snapshots("hat", 32, 32, width=0.25)
    assert s.shape == (32, 32)
    for k in range(32):  # speed · t_k = k / 32: snapshot k is the initial state rolled by k
        assert torch.allclose(s[k], torch.roll(s[0], k), atol=1e-14)


def test_periodic_bidiagonal_solve_and_matmul_match_dense():
    g = torch.Generator().manual_seed(0)
    d = 2 + torch.rand(50, generator=g, dtype=torch.float64)
    low = -torch.rand(50, generator=g, dtype=torch.float64)
    j = PeriodicBidiagonal(d, low)
    b = torch.randn(50, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(j.matmul(b), j.dense() @ b, atol=1e-14)
    assert torch.allclose(j.solve(b), torch.linalg.solve(j.dense(), b), atol=1e-12)
    assert j.inverse_norm_bound() >= float(
        torch.linalg.matrix_norm(torch.linalg.inv(j.dense()), ord=math.inf)
    )


def test_linear_advection_fom_matches_the_implicit_upwind_symbol():
    fom = LinearAdvectionFOM(speed=1.0, n_dofs=64, t_final=0.1, n_steps=10)
    k = 3
    u0 = torch.cos(2 * math.pi * k * fom.x)
    traj = fom.solve(u0)
    # Fourier mode: amplification 1 / (1 + c·speed·(1 − e^{−iθ})), θ = 2πk/n
    theta = 2 * math.pi * k / fom.n_dofs
    amp = 1 / (1 + fom.c * fom.speed * (1 - complex(math.cos(theta), -math.sin(theta))))
    z = amp**fom.n_steps
    exact = abs(z) * torch.cos(2 * math.pi * k * fom.x + math.atan2(z.imag, z.real))
    assert torch.allclose(traj[-1], exact, atol=1e-10)


def test_burgers_newton_converges_quadratically():
    fom = BurgersFOM(n_dofs=200, n_steps=50, newton_tol=1e-13)
    u0 = 1 + 0.5 * torch.sin(math.pi * fom.x) ** 2  # smooth
    fom.step(u0)
    r = fom.last_newton_history
    assert r[-1] < 1e-13 and len(r) >= 3
    # r_{k+1} ≈ C r_k²: the order estimate log(r_{k+1}/r_k) / log(r_k/r_{k-1}) ≈ 2
    order = math.log(r[2] / r[1]) / math.log(r[1] / r[0])
    assert 1.8 < order < 2.3


def test_burgers_fom_converges_under_refinement():
    def final(n):
        fom = BurgersFOM(n_dofs=n, n_steps=n // 2, t_final=0.2)
        return fom.solve(1 + 0.3 * torch.sin(math.pi * fom.x) ** 2)[-1]

    coarse, mid, fine = final(100), final(200), final(400)
    e1 = float((coarse - fine[::4]).abs().max())
    e2 = float((mid - fine[::2]).abs().max())
    assert 1.5 < e1 / e2 < 3.5  # first order: the error halves with Δx and Δt


def test_burgers_initial_state_is_kims_sine_bump():
    fom = BurgersFOM()
    u0 = fom.initial_state(1.0)
    assert u0[0] == 1 and u0[501:].eq(1).all()
    assert abs(float(u0.max()) - 2.0) < 1e-5 and int(u0.argmax()) in (250, 251)


def test_newton_failure_names_iterations_and_residual():
    fom = BurgersFOM(n_dofs=50, n_steps=5, max_newton=1, newton_tol=1e-14)
    with pytest.raises(NewtonDidNotConverge, match=r"after 1 iteration.*residual .* tolerance"):
        fom.step(fom.initial_state(1.0))


def test_pod_recovers_a_rank_k_matrix_exactly():
    g = torch.Generator().manual_seed(1)
    k = 4
    s = torch.randn(30, k, generator=g, dtype=torch.float64) @ torch.randn(
        k, 80, generator=g, dtype=torch.float64
    )
    pod = compute_pod(s)
    v = pod.basis(k)
    assert torch.allclose(s @ v @ v.T, s, atol=1e-12)
    assert float(pod.singular_values[k]) < 1e-12 * float(pod.singular_values[0])
    assert pod.relative_error(k) < 1e-13 and pod.energy_size(1.0 - 1e-12) == k
    assert float(projection_error(s, pod.basis(k - 1)).max()) > 1e-3


def test_pod_error_equals_tail_energy_and_energy_criterion():
    s = advection_snapshots("step", 64, 64, width=0.25)
    pod = compute_pod(s)
    for n in (1, 5, 20):
        resid = s - s @ pod.basis(n) @ pod.basis(n).T
        measured = float(torch.linalg.norm(resid) / torch.linalg.norm(s))
        assert abs(measured - pod.relative_error(n)) < 1e-12
    n99 = pod.energy_size(0.99)
    assert pod.relative_error(n99) ** 2 <= 0.01 + 1e-12 < pod.relative_error(n99 - 1) ** 2


def test_bad_inputs_get_clear_errors():
    s = torch.randn(10, 20, dtype=torch.float64)
    with pytest.raises(ValueError, match="latent size 11 exceeds min"):
        compute_pod(s).basis(11)
    s[3, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN/inf value.*rows \\[3\\]"):
        compute_pod(s)
    with pytest.raises(ValueError, match="2-D array"):
        compute_pod(torch.randn(5))
    with pytest.raises(ValueError, match="grids of the FOM and the ROM must match"):
        BurgersFOM(n_dofs=50).solve(torch.ones(60))
    with pytest.raises(ValueError, match="unknown profile"):
        cell_averages("square", 10, 0.0, width=0.1)
    with pytest.raises(ValueError, match="energy must lie"):
        compute_pod(torch.randn(5, 5)).energy_size(1.5)
