"""Amplification, margin and the largest stable step h* against closed forms and brute force."""

import math

import numpy as np
import pytest

import odenets
from odenets.blocks import LMBlock
from odenets.diagnostics import largest_stable_step, max_amplification, stability_margin
from odenets.diagnostics.stability import root_modulus
from odenets.stability import CharacteristicPolynomial

EULER = odenets.get_scheme("euler").declared_stability()
RK4 = odenets.get_scheme("rk4").declared_stability()
LEAPFROG = odenets.get_scheme("leapfrog").declared_stability()
MIDPOINT = odenets.get_scheme("midpoint").declared_stability()
RK4_REAL_LIMIT = 2.785293563405282  # |R(-x)| = 1, R(z) = 1 + z + z²/2 + z³/6 + z⁴/24


def rk4_modulus(z):
    """Independent of the library: the truncated exponential series."""
    return np.abs(1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)


def brute_force_h_star(modulus, lam, h_max, n=200_001):
    """First h on a fine uniform grid where some |R(hλ)| exceeds 1."""
    h = np.linspace(0, h_max, n)[1:]
    bad = np.any(modulus(h[:, None] * np.asarray(lam)[None, :]) > 1 + 1e-12, axis=1)
    return h[np.argmax(bad) - 1] if bad.any() else math.inf, h[1] - h[0]


def test_forward_euler_h_star_closed_form():
    rng = np.random.default_rng(0)
    lam = -rng.uniform(0.1, 3, 8) + 1j * rng.uniform(-2, 2, 8)
    closed = np.min(-2 * lam.real / np.abs(lam) ** 2)  # |1 + hλ| ≤ 1 ⇔ h ≤ −2Reλ/|λ|²
    assert largest_stable_step(EULER, lam) == pytest.approx(closed, rel=1e-9)
    brute, dh = brute_force_h_star(lambda z: np.abs(1 + z), lam, 2 * closed)
    assert abs(brute - closed) <= dh


def test_forward_euler_membership_and_margin():
    lam = np.array([-1.0, -0.5 + 0.5j, -0.5 - 0.5j])
    assert max_amplification(EULER, lam, 1.0) == pytest.approx(np.sqrt(0.5))
    assert stability_margin(EULER, lam, 1.0) == pytest.approx(1 - np.sqrt(0.5))
    assert max_amplification(EULER, lam, 2.5) == pytest.approx(1.5)  # |1 − 2.5|
    assert stability_margin(EULER, lam, 2.5) < 0


@pytest.mark.parametrize(
    "lam, closed",
    [([-2.0], RK4_REAL_LIMIT / 2), ([3j, -3j], 2 * np.sqrt(2) / 3), ([-1.0, 0.5j], None)],
)
def test_rk4_h_star_closed_forms_and_brute_force(lam, closed):
    h_star = largest_stable_step(RK4, lam)
    brute, dh = brute_force_h_star(rk4_modulus, lam, 4.0)
    assert abs(h_star - brute) <= dh
    if closed is not None:
        assert h_star == pytest.approx(closed, rel=1e-9)
    z = h_star * np.asarray(lam)
    assert max_amplification(RK4, lam, h_star) == pytest.approx(rk4_modulus(z).max(), rel=1e-12)


def test_region_membership_matches_direct_evaluation_on_a_grid():
    axis = np.linspace(-4, 2, 61)
    z = (axis[:, None] + 1j * axis[None, :]).ravel()
    ours = np.array([max_amplification(RK4, [v], 1.0) for v in z[:200]])
    np.testing.assert_allclose(ours, rk4_modulus(z[:200]), rtol=1e-12)


def test_leapfrog_interval_and_right_half_plane():
    mu = np.array([-0.25, -1.0, -9.0])  # y'' = μy, stable iff −4 ≤ h²μ ≤ 0
    assert largest_stable_step(LEAPFROG, mu) == pytest.approx(2 / 3, rel=1e-9)
    assert max_amplification(LEAPFROG, mu, 0.6) == pytest.approx(1.0, abs=1e-12)
    assert max_amplification(LEAPFROG, mu, 0.7) > 1
    assert largest_stable_step(LEAPFROG, [1.0]) == 0.0  # exponential growth for any h


def test_midpoint_imaginary_segment():
    assert largest_stable_step(MIDPOINT, [2j, -2j]) == pytest.approx(0.5, rel=1e-9)
    assert largest_stable_step(MIDPOINT, [-1.0]) == 0.0  # parasitic root: unstable for all h


def test_lm_zero_stability_and_unbounded_steps():
    not_zero_stable = LMBlock.characteristic_polynomial(1.5)  # ρ(r; 0) has root −1.5
    assert largest_stable_step(not_zero_stable, [-1.0]) == 0.0
    assert largest_stable_step(EULER, [0.0, 0.0]) == math.inf


POLYNOMIALS = [
    s
    for s in (odenets.get_scheme(name).declared_stability() for name in odenets.list_schemes())
    if isinstance(s, CharacteristicPolynomial)
] + [
    LMBlock.characteristic_polynomial(0.3),
    CharacteristicPolynomial(((1.0,), (0.5, 1.0), (-0.2, 0.0, 0.1), (1.0,)), formula="cubic"),
]


@pytest.mark.parametrize("stability", POLYNOMIALS, ids=lambda s: s.formula)
def test_closed_form_root_modulus_equals_numpy_roots(stability):
    rng = np.random.default_rng(1)
    z = rng.uniform(-5, 2, 300) + 1j * rng.uniform(-3, 3, 300)
    np.testing.assert_allclose(root_modulus(stability, z), stability.amplification(z), rtol=1e-9)


def test_bad_spectrum():
    with pytest.raises(ValueError, match="at least one eigenvalue"):
        largest_stable_step(EULER, [])
    with pytest.raises(ValueError, match="eigenvalues must be finite"):
        max_amplification(EULER, [np.nan], 0.1)


def test_noise_below_the_spectral_floor_does_not_destroy_thin_regions():
    """Leapfrog's region is a segment with a double root at z = 0: round-off imaginary parts
    on real spectra (and tiny eigenvalues) must not read as instability."""
    mu = np.array([-9.0 + 1e-14j, -1e-13 + 1e-15j, 0.0, -4.0 - 3e-14j])
    assert largest_stable_step(LEAPFROG, mu) == pytest.approx(2 / 3, rel=1e-9)
    assert largest_stable_step(MIDPOINT, [2j + 1e-15, 1e-15 - 0.5j]) == pytest.approx(0.5)
    assert largest_stable_step(LEAPFROG, [-9.0 + 1e-3j]) < 1e-3  # real growth is kept
