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
