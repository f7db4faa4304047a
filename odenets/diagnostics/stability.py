"""A block's declared stability against an observed spectrum: amplification, margin, ``h*``.

Everything here reads the stability object a block declares (``block.stability``) and
nothing scheme-specific: a :class:`~odenets.stability.StabilityFunction` ``R(z)``, a
:class:`~odenets.stability.CharacteristicPolynomial` ``ρ(r; z)`` (largest root modulus), or
any object with ``amplification(z)`` — an implicit-explicit one also takes the implicit
argument, ``amplification(z_explicit, z_implicit)``. ``z = h**step_power · λ``.

* :func:`max_amplification`: ``max_i |R(h^p λ_i)|`` (or the largest root modulus); the step is
  linearly stable at the observed spectrum when it is ``≤ 1``; the margin is ``1 − max``.
* :func:`largest_stable_step`: the CFL-like limit ``h* = sup{h : every s^p λ_i is in the
  stability region for all 0 < s ≤ h}``, by a geometric scan of 1,201 steps from
  ``10^{-8/p}`` to ``10⁴`` times ``1/max|λ|^{1/p}`` followed by bisection on the first
  exit. "In the region" means amplification ``≤ 1 + 1e-12``; a step already unstable at
  the smallest scanned ``h`` gives ``h* = 0``. Eigenvalue components below
  ``1e-8·max|λ|`` are treated as zero (the accuracy of computed eigenvalues).

**Multiple roots on the unit circle** (declared by a characteristic polynomial's ``open_at``:
leapfrog and the partitioned schemes at ``z = −4``, midpoint at ``z = ±i``). There the
largest root modulus is exactly 1 but the step map has a Jordan block: its powers grow like
``n`` (weakly unstable). Such a ``z`` (to ``1e-13`` relative, the round-off of ``h^p λ``) is
snapped onto the point, so the amplification reported is exactly the spectral radius 1 (no
``1 ± √ε`` from the split root), and it counts as **outside** the region: the region is
open there, a step that puts an eigenvalue on it is unstable (:func:`weakly_unstable`), and
``h*`` is the supremum of the stable steps (the step at ``h*`` itself is not stable). The
double root ``r = 1`` at ``z = 0`` of a second-order scheme is the ODE's own linear growth
and counts as stable.
"""

from __future__ import annotations

import math

import numpy as np

from ..stability import CharacteristicPolynomial, _poly

#: a step counts as stable while the amplification is at most ``1 + STABILITY_TOL``
STABILITY_TOL = 1e-12
#: eigenvalue components below this fraction of max|λ| are numerical noise (see _spectrum)
SPECTRAL_FLOOR = 1e-8
_SCAN_DECADES = (-8.0, 4.0)  # the lower end is divided by step_power (z = h^p λ)
_SCAN_POINTS = 1201


def root_modulus(stability: CharacteristicPolynomial, z) -> np.ndarray:
    """Largest root modulus of ``ρ(·; z)``, vectorised over ``z`` (same values as
    ``stability.amplification`` but in closed form for degrees 1 and 2, so that double roots
    on the unit circle, e.g. leapfrog at ``z = −4``, are not blurred to ``1 ± √ε``)."""
    z = np.asarray(z, dtype=complex)
    c = [_poly(coeffs, z) for coeffs in stability.coefficients]  # c[k] multiplies r**k
    with np.errstate(divide="ignore", invalid="ignore"):
        if len(c) == 2:
            return np.abs(c[0] / c[1])
        if len(c) == 3:
            a, b, cc = c[2], c[1], c[0]
            disc = np.sqrt(b * b - 4 * a * cc)
            # the larger-modulus root without cancellation, the other from the product
            sign = np.where((np.conj(b) * disc).real >= 0, 1.0, -1.0)
            q = -(b + sign * disc) / 2
            big = np.abs(q / a)
            small = np.where(q != 0, np.abs(cc / np.where(q != 0, q, 1)), 0.0)
            return np.maximum(big, small)
    # degree ≥ 3: eigenvalues of the batched companion matrices
    flat = [np.ravel(ck) for ck in c]
    degree, m = len(c) - 1, flat[0].size
    companion = np.zeros((m, degree, degree), dtype=complex)
    companion[:, 1:, :-1] = np.eye(degree - 1)
    for k in range(degree):
        companion[:, k, -1] = -flat[k] / flat[degree]
    roots = np.linalg.eigvals(companion)
    return np.max(np.abs(roots), axis=-1).reshape(z.shape)


#: a ``z`` within this relative distance of an ``open_at`` point is on it (round-off of h^p·λ)
OPEN_RTOL = 1e-13


def snap_to_open_points(stability, z) -> tuple[np.ndarray, np.ndarray]:
    """``(z', hit)``: ``z`` with the values on a declared ``open_at`` point (to ``OPEN_RTOL``)
    replaced by the point itself, and the mask of those values (weakly unstable)."""
    z = np.array(z, dtype=complex)
    hit = np.zeros(z.shape, dtype=bool)
    for z0 in getattr(stability, "open_at", ()):
        on = np.abs(z - z0) <= OPEN_RTOL * max(1.0, abs(z0))
        z[on] = z0
        hit |= on
    return z, hit


def amplification(stability, z, z_implicit=None) -> np.ndarray:
    """The amplification factor of ``stability`` at ``z`` (array), vectorised: ``|R(z)|``, or the
    largest root modulus of ``ρ(·; z)`` (exactly 1 on an ``open_at`` point, see
    :func:`weakly_unstable`)."""
    if isinstance(stability, CharacteristicPolynomial):
        return root_modulus(stability, snap_to_open_points(stability, z)[0])
    if z_implicit is not None:
        return np.asarray(stability.amplification(z, z_implicit), dtype=float)
    return np.asarray(stability.amplification(z), dtype=float)


def _spectrum(eigenvalues) -> np.ndarray:
    """The eigenvalues as a complex array, components below the noise floor set to zero.

    Computed eigenvalues carry errors of about ``1e-9·max|λ|`` (ARPACK's tolerance, LAPACK's
    backward error on mildly non-normal Jacobians). Several stability regions are thin
    (leapfrog and Hamiltonian: a segment of the real axis with a double root at ``z = 0``;
    midpoint: a segment of the imaginary axis), where such noise would read as growth of
    order ``√noise`` and give ``h* = 0``; so real and imaginary parts smaller than
    ``SPECTRAL_FLOOR·max|λ|`` count as exactly zero.
    """
    lam = np.array(eigenvalues, dtype=complex).ravel()
    if lam.size == 0:
        raise ValueError("need at least one eigenvalue to assess stability")
    if not np.all(np.isfinite(lam)):
        raise ValueError("eigenvalues must be finite")
    floor = SPECTRAL_FLOOR * float(np.max(np.abs(lam)))
    re, im = lam.real.copy(), lam.imag.copy()
    re[np.abs(re) <= floor] = 0.0
    im[np.abs(im) <= floor] = 0.0
    return re + 1j * im


def _implicit_weakest(implicit_eigenvalues) -> complex | None:
    """The implicit eigenvalue that damps least (closest to 0): the worst-case pairing."""
    if implicit_eigenvalues is None:
        return None
    lam_i = np.asarray(implicit_eigenvalues, dtype=complex).ravel()
    return complex(lam_i[np.argmin(np.abs(lam_i))]) if lam_i.size else None


def amplification_at_steps(stability, eigenvalues, steps, implicit_eigenvalues=None):
    """``max_i amplification(s^p λ_i)`` for every step ``s`` in ``steps`` (array)."""
    lam = _spectrum(eigenvalues)
    s = np.asarray(steps, dtype=float).reshape(-1, 1)
    p = getattr(stability, "step_power", 1)
    weakest = _implicit_weakest(implicit_eigenvalues)
    z_i = None if weakest is None else np.broadcast_to(s * weakest, (s.shape[0], lam.size))
    amp = amplification(stability, (s**p) * lam[None, :], z_i)
    return np.max(amp, axis=1)


def weakly_unstable(stability, z) -> np.ndarray:
    """Whether each ``z`` is on a declared ``open_at`` point: a multiple root of ``ρ(·; z)`` on
    the unit circle, where the powers of the step grow linearly although the amplification
    is 1. Such a ``z`` is outside the (open) stability region."""
    return snap_to_open_points(stability, z)[1]


def open_points_hit(stability, eigenvalues, h: float) -> list[complex]:
    """The ``open_at`` points that some ``h^p λ_i`` lies on (empty: no weak instability)."""
    if not getattr(stability, "open_at", ()):
        return []
    p = getattr(stability, "step_power", 1)
    z = (float(h) ** p) * _spectrum(eigenvalues)
    snapped, hit = snap_to_open_points(stability, z)
    return sorted({complex(v) for v in snapped[hit]}, key=lambda v: (v.real, v.imag))


def max_amplification(stability, eigenvalues, h: float, implicit_eigenvalues=None) -> float:
    """``max_i |R(h^p λ_i)|`` (or the largest characteristic root modulus)."""
    return float(amplification_at_steps(stability, eigenvalues, [h], implicit_eigenvalues)[0])


def stability_margin(stability, eigenvalues, h: float, implicit_eigenvalues=None) -> float:
    """``1 − max amplification``: positive inside the stability region, negative outside."""
    return 1.0 - max_amplification(stability, eigenvalues, h, implicit_eigenvalues)


def smallest_resolved_step(h_scale: float, step_power: int = 1) -> float:
    """``10^{-8/p}·h_scale`` (``h_scale = 1/max|λ|^{1/p}``): the smallest step the ``h*`` scan
    looks at. Below it ``|z| < 1e-8`` and ``ρ(S(h)) − 1`` is below what computed eigenvalues
    resolve; a step unstable there has ``h* = 0`` (unstable for every ``h``)."""
    return h_scale * 10.0 ** (_SCAN_DECADES[0] / step_power)


def largest_stable_step(
    stability, eigenvalues, implicit_eigenvalues=None, tol: float = STABILITY_TOL
) -> float:
    """``h*``: the largest ``h`` with every ``s^p λ_i`` (``0 < s ≤ h``) in the stability region.

    A step that puts some ``s^p λ_i`` on an ``open_at`` point is unstable (weakly: a
    multiple root on the unit circle), so ``h*`` is the supremum of the stable steps.
    Returns ``math.inf`` when the scan finds no exit up to ``10⁴/max|λ|^{1/p}`` (e.g. a
    zero spectrum, or an A-stable implicit part) and ``0.0`` when the step is unstable for
    every ``h > 0`` (e.g. forward Euler with an eigenvalue in the right half-plane, or a
    multistep scheme that is not zero-stable): unstable already at the smallest scanned
    step ``10^{-8/p}/max|λ|^{1/p}``, below which ``1 + z`` is ``1`` to working precision.
    """
    lam = _spectrum(eigenvalues)

    def unstable(steps):
        amp = amplification_at_steps(stability, lam, steps, implicit_eigenvalues)
        bad = ~(amp <= 1.0 + tol)  # NaN counts as unstable
        if getattr(stability, "open_at", ()):  # the region is open at a multiple unit root
            p = getattr(stability, "step_power", 1)
            z = (np.asarray(steps, dtype=float).reshape(-1, 1) ** p) * lam[None, :]
            bad |= weakly_unstable(stability, z).any(axis=1)
        return bad

    if unstable([0.0])[0]:
        return 0.0
    p = getattr(stability, "step_power", 1)
    scale = float(np.max(np.abs(lam)))
    if scale == 0.0:
        return math.inf
    h0 = scale ** (-1.0 / p)
    low, high = _SCAN_DECADES
    grid = h0 * np.logspace(low / p, high, _SCAN_POINTS)  # grid[0] = smallest_resolved_step
    bad = unstable(grid)
    if not bad.any():
        return math.inf
    first = int(np.argmax(bad))
    if first == 0:
        return 0.0
    lo, hi = grid[first - 1], grid[first]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if unstable([mid])[0]:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-13 * hi:
            break
    return float(lo)
