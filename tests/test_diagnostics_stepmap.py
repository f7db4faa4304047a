"""The step-map verdict: dense and matrix-free h* against closed forms, on an adversarial field."""

import math

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import LinearOperator

from odenets.blocks.hamiltonian import PARTITIONED_RHO
from odenets.diagnostics import LinearizedMap
from odenets.diagnostics.stepmap import (
    RHO_TOL,
    argument_scale,
    declared_step_operator,
    dense_verdict,
    matrix_free_verdict,
    spectral_radius,
)
from odenets.stability import StabilityFunction

EULER = StabilityFunction((1.0, 1.0), formula="1 + z")
RK4 = StabilityFunction((1.0, 1.0, 1 / 2, 1 / 6, 1 / 24), formula="RK4")


def adversarial_spectrum(n=1000, seed=0):
    """20×(−10), 20×(≈−1e-3), −0.5 ± 3i, the rest in [−5, −1] (issue 12)."""
    rng = np.random.default_rng(seed)
    rest = n - 42
    real = np.concatenate([
        np.full(20, -10.0), -1e-3 * (1 + 1e-3 * rng.random(20)), rng.uniform(-5, -1, rest)
    ])  # fmt: skip
    return real, complex(-0.5, 3.0)


def normal_matrix(real, pair, seed=0):
    """``Q diag(real ⊕ [[a, b], [−b, a]]) Qᵀ`` with a random orthogonal ``Q``: normal."""
    n = real.size + 2
    d = np.zeros((n, n))
    d[: real.size, : real.size] = np.diag(real)
    a, b = pair.real, pair.imag
    d[-2:, -2:] = [[a, b], [-b, a]]
    q, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((n, n)))
    return q @ d @ q.T, np.concatenate([real, [pair, pair.conjugate()]])


@pytest.fixture(scope="module")
def adversarial():
    real, pair = adversarial_spectrum()
    j, lam = normal_matrix(real, pair)
    return (lambda v: j @ v), j, lam


def euler_closed_form(lam):
    return float(np.min(-2 * lam.real / np.abs(lam) ** 2))


def rk4_closed_form(lam):
    """min over λ of the first positive root s of |R(sλ)|² = 1 (R the RK4 polynomial)."""
    best = math.inf
    r = np.polynomial.Polynomial(RK4.numerator)
    for value in np.unique(np.round(lam, 12)):
        pr = np.polynomial.Polynomial(r.coef * value ** np.arange(5))  # R(sλ) in s
        re = np.polynomial.Polynomial(pr.coef.real)
        im = np.polynomial.Polynomial(pr.coef.imag)
        roots = (re**2 + im**2 - 1).roots()
        pos = [x.real for x in roots if abs(x.imag) < 1e-9 and x.real > 1e-12]
        best = min(best, min(pos))
    return best


def mf_verdict(stability, apply_j, n, h, p=1):
    scale = argument_scale(apply_j, n, p)
    return matrix_free_verdict(lambda s: declared_step_operator(stability, apply_j, n, s), h, scale)


@pytest.mark.parametrize("stability, closed", [(EULER, euler_closed_form), (RK4, rk4_closed_form)])
def test_adversarial_field_dense_and_matrix_free_h_star(adversarial, stability, closed):
    apply_j, j, lam = adversarial
    n = j.shape[0]
    exact = closed(lam)
    dense = dense_verdict(stability, lam, 0.15)
    free = mf_verdict(stability, apply_j, n, 0.15)
    assert free.certified
    assert dense.h_star == pytest.approx(exact, rel=1e-6)
    assert free.h_star == pytest.approx(exact, rel=1e-6)
    assert free.h_star == pytest.approx(dense.h_star, rel=1e-6)
    assert free.rho == pytest.approx(dense.rho, rel=1e-8)
    if stability is EULER:  # the case: truly unstable at h = 0.15 (max|R| = 1.0287)
        true = float(np.max(np.abs(1 + 0.15 * lam)))
        assert true > 1.02 and free.rho == pytest.approx(true, rel=1e-9) and not free.stable


def test_step_map_through_jvps_of_a_module(adversarial):
    """The same ρ(S(h)) when J's products are JVPs of a torch module (LinearizedMap)."""
    _, j, lam = adversarial
    layer = torch.nn.Linear(j.shape[0], j.shape[0], bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(j))
    op = LinearizedMap(layer, torch.zeros(1, j.shape[0], dtype=torch.float64))
    apply_j = op.as_linear_operator().matvec
    r = spectral_radius(declared_step_operator(EULER, apply_j, j.shape[0], 0.2), 0.2)
    assert r.certified and r.value == pytest.approx(np.max(np.abs(1 + 0.2 * lam)), rel=1e-9)


def test_matrix_free_verdict_flips_exactly_at_h_star(adversarial):
    apply_j, j, lam = adversarial
    n = j.shape[0]
    h_star = euler_closed_form(lam)
    op = declared_step_operator
    below = spectral_radius(op(EULER, apply_j, n, h_star * (1 - 1e-6)), h_star)
    above = spectral_radius(op(EULER, apply_j, n, h_star * (1 + 1e-6)), h_star)
    assert below.certified and above.certified
    assert below.value <= 1 + RHO_TOL < above.value


def test_partitioned_scheme_h_star_is_two_over_sqrt_of_max_minus_mu():
    rng = np.random.default_rng(3)
    n = 60
    mu = -rng.uniform(0.5, 9.0, n)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(np.sqrt(-mu)) @ q.T  # F_Y(Z) = A Z
    b = -q @ np.diag(np.sqrt(-mu)) @ q.T  # F_Z(Y) = B Y, so A B = Q diag(μ) Qᵀ
    product = a @ b
    exact = 2 / math.sqrt(np.max(-mu))
    dense = dense_verdict(PARTITIONED_RHO, np.linalg.eigvals(product), 0.5)
    free = mf_verdict(PARTITIONED_RHO, lambda v: product @ v, n, 0.5, p=2)
    assert free.certified
    assert dense.h_star == pytest.approx(exact, rel=1e-6)
    assert free.h_star == pytest.approx(exact, rel=1e-6)


def test_not_certified_is_reported_not_guessed():
    """A map ARPACK cannot converge on within the allowed restarts: no number is claimed."""
    n = 400
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 2 * np.pi, n // 2)  # every eigenvalue on the unit circle
    blocks = np.zeros((n, n))
    for i, t in enumerate(theta):
        blocks[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [
            [np.cos(t), np.sin(t)],
            [-np.sin(t), np.cos(t)],
        ]
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    m = q @ blocks @ q.T
    r = spectral_radius(LinearOperator((n, n), matvec=lambda v: m @ v), 1.0, maxiter=2)
    assert not r.certified and math.isnan(r.value)


# ------------------------------------------- multiple roots, J = 0, and the IMEX step map
def companion_verdict(stability, matrix, h):
    """The analysis' route for a characteristic polynomial: Ritz values mapped back to z."""
    from odenets.diagnostics.stepmap import companion_radius_at

    n = matrix.shape[0]
    p = stability.step_power
    scale = argument_scale(lambda v: matrix @ v, n, p)
    radius = companion_radius_at(stability, lambda v: matrix @ v, n, scale)
    return matrix_free_verdict(None, h, scale, radius_at=radius), radius


def test_a_zero_eigenvalue_does_not_read_as_growth_on_the_companion_map():
    """Leapfrog with a kernel: ρ(r; 0) = (r − 1)² is a Jordan block of the companion map, whose
    ARPACK eigenvalues split to 1 ± 1e-8. Mapped back to z they are z = 0: h* = 2/√9 = 2/3."""
    from odenets.blocks.leapfrog import LeapfrogBlock

    rng = np.random.default_rng(5)
    mu = np.concatenate([np.zeros(8), -rng.uniform(0.1, 8.0, 11), [-9.0]])
    q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    j = q @ np.diag(mu) @ q.T
    rho = LeapfrogBlock.declared_stability()
    naive = mf_verdict(rho, lambda v: j @ v, 20, 0.5, p=2)  # max |Ritz value|
    verdict, radius = companion_verdict(rho, j, 0.5)
    assert verdict.certified and naive.certified
    assert verdict.rho == pytest.approx(1.0, abs=1e-12)
    assert verdict.h_star == pytest.approx(2 / 3, rel=1e-8)
    assert dense_verdict(rho, mu, 0.5).h_star == pytest.approx(2 / 3, rel=1e-12)
    assert naive.h_star < 1e-3  # what the largest Ritz modulus alone said
    at_star = radius(2 / 3)  # z = −4 exactly: the double root −1
    assert at_star.value == pytest.approx(1.0, abs=1e-12) and "weakly unstable" in at_star.note
    assert "weakly unstable" not in radius(0.6).note


def test_midpoint_companion_map_on_an_antisymmetric_field():
    """Purely imaginary λ, max |λ| = 2: h* = 1/2 (at z = ±i the double roots ±i are outside)."""
    from odenets.blocks.midpoint import MidpointBlock

    rng = np.random.default_rng(6)
    a = rng.standard_normal((12, 12))
    a = a - a.T
    w, v = np.linalg.eigh(a @ a.T)  # a = antisymmetric: eigenvalues ±i·√w
    j = 2 * a / math.sqrt(w.max())  # largest |λ| = 2
    rho = MidpointBlock.declared_stability()
    verdict, radius = companion_verdict(rho, j, 0.25)
    assert verdict.certified and verdict.h_star == pytest.approx(0.5, rel=1e-8)
    assert verdict.rho == pytest.approx(1.0, abs=1e-10)
    assert "weakly unstable" in radius(0.5).note


def test_zero_jacobian_is_read_exactly():
    """J = 0 (a stage whose ReLUs are all off): every step stable, ρ = 1, on both paths.
    ARPACK used to fail with 'Starting vector is zero'."""
    import odenets
    from odenets.diagnostics import diagnose

    torch.manual_seed(0)
    for scheme in ("rk4", "leapfrog"):
        model = odenets.create_model(f"{scheme}_vector", dim=10, hidden=4, steps=1)
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        cheap = dict(k=1, num_points=1, stage_maps=False, growth=False, gradients=False,
                     input_output=False, consistency=False)  # fmt: skip
        free = diagnose(model, torch.randn(1, 10), dense_threshold=2, **cheap).blocks[0]
        dense = diagnose(model, torch.randn(1, 10), **cheap).blocks[0]
        for b in (free, dense):
            assert b.certified and b.h_star_unbounded and b.max_amplification == 1.0
        assert free.verdict_method.startswith("exact: J = 0")


def imex_layer(operator: str, seed: int = 0):
    """A 2-channel IMEX layer on a 4×4 grid (n = 32) with a stiff L, its state and operators."""
    import odenets
    from odenets.diagnostics.spectra import block_operators

    torch.manual_seed(seed)
    field = odenets.create_field("symmetric", 2, 2)
    block = odenets.get_scheme("imex")(field, h=0.7, operator=operator).double()
    with torch.no_grad():
        block.weight.mul_(4.0)
    y = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    ops = block_operators(block, y, step_map=False)
    scale = argument_scale(ops.argument.as_linear_operator().matvec, 32, 1)
    return block, y, ops, scale


@pytest.mark.parametrize("operator", ["depthwise", "full"])
def test_imex_step_map_from_j_once_equals_the_recomputed_step_jacobian(operator):
    """S(h) = (I + hLᵀL)⁻¹(I + hJ) from J formed once and the block's solve per h, against the
    dense Jacobian of the block's own step recomputed at every h (the reference route)."""
    from odenets.diagnostics.analysis import _implicit_recompute_verdict, _implicit_verdict

    block, y, ops, scale = imex_layer(operator)
    stability = block.stability
    for h in (0.05, 3.0):
        ref = _implicit_recompute_verdict(block, y, h, scale, 0)
        cached = _implicit_verdict(block, stability, y, ops, h, scale, 900, 0)
        free = _implicit_verdict(block, stability, y, ops, h, scale, 4, 0)
        assert cached.method.startswith("dense step map T(h)")
        assert free.method.startswith("matrix-free")
        assert cached.rho == pytest.approx(ref.rho, rel=1e-12)
        assert cached.h_star == pytest.approx(ref.h_star, rel=1e-9)
        assert free.rho == pytest.approx(ref.rho, rel=1e-9)
        assert free.h_star == pytest.approx(ref.h_star, rel=1e-6)
    # the stiff implicit part limits nothing: the explicit step alone has a smaller h*
    explicit = torch.linalg.eigvals(ops.argument.dense()).numpy()
    assert ref.h_star > dense_verdict(EULER, explicit, 0.7).h_star
