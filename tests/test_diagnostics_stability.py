"""Amplification, margin and the largest stable step h* against closed forms and brute force."""

import math

import numpy as np
import pytest

import odenets
from odenets.blocks import LMBlock
from odenets.diagnostics import largest_stable_step, max_amplification, stability_margin
from odenets.diagnostics.stability import (
    amplification,
    open_points_hit,
    root_modulus,
    weakly_unstable,
)
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


# ------------------------------------------------- multiple roots on the unit circle (open_at)
PARTITIONED = odenets.get_scheme("hamiltonian").declared_stability()


def companion(stability, z: complex) -> np.ndarray:
    """The 2×2 companion matrix of ρ(·; z) = c₂ r² + c₁ r + c₀ (the test recurrence's step)."""
    c0, c1, c2 = (np.polyval(c[::-1], z) for c in stability.coefficients)
    return np.array([[0, 1], [-c0 / c2, -c1 / c2]], dtype=complex)


def power_growth(stability, z: complex, n: int = 100) -> float:
    return float(np.linalg.norm(np.linalg.matrix_power(companion(stability, z), n), 2))


@pytest.mark.parametrize(
    "stability, z0", [(LEAPFROG, -4.0), (PARTITIONED, -4.0), (MIDPOINT, 1j), (MIDPOINT, -1j)]
)
def test_double_unit_roots_grow_linearly_and_are_outside_the_region(stability, z0):
    """At z₀ the root is double with modulus 1: ‖Sⁿ‖ grows like n (≈ 2n here), ρ = 1."""
    growth = [power_growth(stability, z0, n) for n in (100, 200)]
    assert growth[0] > 150 and growth[1] / growth[0] == pytest.approx(2, rel=0.02)
    assert z0 in stability.open_at
    assert max_amplification(stability, [z0], 1.0) == 1.0  # snapped: no 1 ± √ε split
    assert weakly_unstable(stability, [z0]).all()
    assert weakly_unstable(stability, [z0 * (1 + 3e-16)]).all()  # round-off of h^p λ
    # just inside, the roots are distinct on the unit circle: bounded powers, stable
    inside = z0 * (1 - 1e-6)
    assert power_growth(stability, inside, 200) < 1e4
    assert max_amplification(stability, [inside], 1.0) == pytest.approx(1.0, abs=1e-12)
    assert not weakly_unstable(stability, [inside]).any()


def test_leapfrog_region_is_the_half_open_interval_minus_four_to_zero():
    """−4 < h²μ ≤ 0: μ = −1 is stable for h < 2 and not at h = 2 (double root −1)."""
    assert largest_stable_step(LEAPFROG, [-1.0]) == pytest.approx(2.0, rel=1e-12)
    assert largest_stable_step(LEAPFROG, [-1.0]) < 2.0  # h* is the supremum, not attained
    assert open_points_hit(LEAPFROG, [-1.0], 2.0) == [-4.0]
    assert open_points_hit(LEAPFROG, [-1.0], 2.0 * (1 - 1e-9)) == []
    assert open_points_hit(LEAPFROG, [0.0, -1e-3], 1.0) == []  # z = 0 is the ODE's y = a + bt
    assert largest_stable_step(LEAPFROG, [0.0]) == math.inf
    assert largest_stable_step(PARTITIONED, [-0.25, -1.0]) == pytest.approx(2.0, rel=1e-12)


def test_midpoint_region_on_the_imaginary_axis_is_the_open_segment():
    """z = iy is stable iff |y| < 1: at y = ±1 the root ±i is double; beyond, |r| > 1."""
    y = np.array([-1.5, -1.0, -1 + 1e-9, -0.5, 0.0, 0.5, 1 - 1e-9, 1.0, 1.5])
    z = 1j * y
    stable = (amplification(MIDPOINT, z) <= 1 + 1e-12) & ~weakly_unstable(MIDPOINT, z)
    np.testing.assert_array_equal(stable, np.abs(y) < 1)
    assert largest_stable_step(MIDPOINT, [2j, -2j]) == pytest.approx(0.5, rel=1e-12)
    assert open_points_hit(MIDPOINT, [2j, -2j], 0.5) == [-1j, 1j]


def multiple_unit_roots(stability) -> set[complex]:
    """Independent of the declarations: every z where ρ(·; z) (quadratic in r, affine in z) has
    a double root on the unit circle, from the zeros of the discriminant c₁² − 4c₂c₀ in z."""
    c0, c1, c2 = (np.polynomial.Polynomial(c) for c in stability.coefficients)
    found = set()
    for z in (c1 * c1 - 4 * c2 * c0).roots():
        z = complex(np.round(z.real, 12), np.round(z.imag, 12))
        r = -c1(z) / (2 * c2(z))
        if abs(abs(r) - 1) < 1e-12:
            found.add(z)
    return found


@pytest.mark.parametrize("stability", POLYNOMIALS[:-1] + [LMBlock.characteristic_polynomial(1.0)],
                         ids=lambda s: s.formula)  # fmt: skip
def test_open_at_declarations_are_exactly_the_multiple_unit_roots(stability):
    """Every scheme declares where ρ has a multiple root on the unit circle, except the double
    root r = 1 at z = 0 of a second-order (z = h²μ) scheme, which is the ODE's own growth."""
    found = multiple_unit_roots(stability)
    if stability.step_power == 2:
        found.discard(0j)
    assert found == {complex(z) for z in stability.open_at}


def test_lm_at_k_minus_one_is_not_zero_stable():
    """k = −1: y_{n+1} = 2y_n − y_{n−1} ignores F, ρ = (r − 1)² for every z: open at z = 0,
    so no step is stable (the scan's first test is z = 0)."""
    rho = LMBlock.characteristic_polynomial(-1.0)
    assert rho.open_at == (0.0,) and power_growth(rho, 0.0) > 150
    assert largest_stable_step(rho, [-1.0, -0.5]) == 0.0
