"""Stability verdicts from the step map itself: ``ρ(S(h))`` and the largest stable step ``h*``.

A step is linearly stable at a state when the spectral radius of its step map is at most 1.
For a block whose declared stability is

* a stability function ``R(z) = P(z)/Q(z)`` (Runge–Kutta), the step map of the linearised
  step is ``S(h) = R(h^p J)`` with ``J`` the argument operator (``∂F/∂y``);
* a characteristic polynomial ``ρ(r; z) = Σ_k c_k(z) r^k`` (two-step and partitioned
  schemes), it is the block companion operator on ``d`` copies of the state,
  ``(x_0, …, x_{d-1}) ↦ (x_1, …, x_{d-1}, y)`` with ``c_d(h^p J) y = −Σ_{k<d} c_k(h^p J) x_k``;
* an implicit block (IMEX: ``y⁺ = (I + hLᵀL)⁻¹(y + hF(y))``), the Jacobian of the block's
  own step at step ``h``, i.e. ``(I + hLᵀL)⁻¹(I + hJ)`` with the block's exact solve.

By the spectral mapping theorem the eigenvalues of ``R(h^p J)`` are ``R(h^p λ_i)`` and those
of the companion operator the roots of ``ρ(·; h^p λ_i)`` over *all* eigenvalues ``λ_i`` of
``J``, diagonalisable or not. So the verdict needs either the whole spectrum of ``J`` (the
dense path, :func:`dense_verdict`) or the spectral radius of ``S(h)`` itself (the
matrix-free path, :func:`matrix_free_verdict`): ARPACK largest-magnitude
(``scipy.sparse.linalg.eigs``, implicitly restarted Arnoldi) on ``v ↦ S(h) v`` built from
Jacobian-vector products. ``h*`` is then found by bracketing (doubling/halving from
``1/ρ(J)^{1/p}``) and bisection on ``ρ(S(h)) ≤ 1 + RHO_TOL`` to the relative tolerance
``H_RTOL``; it is the largest stable step of the bracket the search lands in (for the
star-shaped regions of the zoo's schemes, the largest stable step). When ARPACK does not
converge at some step of the search, the result is marked ``certified=False`` and no
number is claimed — never a value read from a partial spectrum.

Reference: Hairer & Wanner, *Solving ODEs II*, §IV.2 (stability functions, spectral
mapping); Lehoucq, Sorensen & Yang, *ARPACK Users' Guide* (1998).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigs, gmres

from ..stability import CharacteristicPolynomial, IMEXStability, StabilityFunction
from .stability import largest_stable_step, max_amplification

#: the step is stable while ρ(S(h)) ≤ 1 + RHO_TOL (ARPACK's eigenvalues are good to ~1e-11)
RHO_TOL = 1e-9
#: relative width of the final bisection bracket of h*: h* is exact to this tolerance
H_RTOL = 1e-9
#: ARPACK relative tolerance on the Ritz values of S(h)
STEP_ARPACK_TOL = 1e-12
#: eigenvalues ARPACK is asked for (the largest |μ| among them is ρ), and restarts allowed
RHO_K = 6
RHO_MAXITER = 300


@dataclass
class Radius:
    """``ρ(S(h))`` at one ``h``: ``value`` is ``nan`` and ``certified`` false if not converged."""

    h: float
    value: float
    certified: bool
    method: str
    note: str = ""
    #: a start vector for the next solve (dominant eigenvectors, when converged)
    start: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Verdict:
    """The stability verdict of one step map at the block's step ``h``.

    ``rho``: ``ρ(S(h))``; ``margin = 1 − rho``; ``h_star``: the largest stable step (``inf``
    when no exit was found up to ``2^20/ρ(J)^{1/p}``, ``0`` when unstable down to
    ``2^-40/ρ(J)^{1/p}``), exact to ``h_rtol`` relative; ``certified``: every evaluation
    of ``ρ`` the verdict rests on converged (if not, ``rho``/``h_star`` are ``None``).
    """

    h: float
    rho: float | None
    h_star: float | None
    certified: bool
    method: str
    h_rtol: float = H_RTOL
    evaluations: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def margin(self) -> float | None:
        return None if self.rho is None else 1.0 - self.rho

    @property
    def stable(self) -> bool | None:
        return None if self.rho is None else self.rho <= 1.0 + RHO_TOL


# ------------------------------------------------------------------------ operators
def _poly_apply(coeffs, apply_z: Callable[[np.ndarray], np.ndarray], v: np.ndarray):
    """``Σ_k coeffs[k] Z^k v`` by Horner, ``Z`` given by its product ``apply_z``."""
    out = coeffs[-1] * v
    for c in reversed(coeffs[:-1]):
        out = apply_z(out) + c * v
    return out


def _poly_solve(coeffs, apply_z, rhs: np.ndarray) -> np.ndarray:
    """``Q(Z)⁻¹ rhs`` (a scalar ``Q`` divides; otherwise GMRES to 1e-13)."""
    if len(coeffs) == 1:
        return rhs / coeffs[0]
    n = rhs.size
    op = LinearOperator((n, n), matvec=lambda v: _poly_apply(coeffs, apply_z, v), dtype=rhs.dtype)
    x, info = gmres(op, rhs, rtol=1e-13, atol=0.0, restart=min(n, 60), maxiter=200)
    if info != 0:
        raise ArpackNoConvergence("GMRES did not converge for the implicit part", [], [])
    return x


def declared_step_operator(stability, apply_j: Callable, n: int, h: float) -> LinearOperator:
    """``S(h)`` of a declared stability acting through ``J`` (``apply_j``: flat float64).

    ``R(h^p J)`` for a :class:`~odenets.stability.StabilityFunction`, the block companion
    operator (dimension ``d·n``) for a :class:`~odenets.stability.CharacteristicPolynomial`.
    """
    p = getattr(stability, "step_power", 1)
    scale = float(h) ** p

    def apply_z(v):
        return scale * apply_j(v)

    if isinstance(stability, CharacteristicPolynomial):
        coeffs = stability.coefficients
        d = len(coeffs) - 1

        def companion(x):
            x = np.asarray(x).reshape(d, n)
            rhs = -sum(_poly_apply(coeffs[k], apply_z, x[k]) for k in range(d))
            y = _poly_solve(coeffs[d], apply_z, rhs)
            return np.concatenate([x[1:].reshape(-1), y])

        return LinearOperator((d * n, d * n), matvec=companion, dtype=np.float64)
    if isinstance(stability, IMEXStability):
        raise TypeError("an IMEX step map needs the block's own solve: use block_step_operator")
    if isinstance(stability, StabilityFunction):

        def rational(v):
            v = np.asarray(v).reshape(n)
            return _poly_solve(stability.denominator, apply_z, _poly_apply(
                stability.numerator, apply_z, v))  # fmt: skip

        return LinearOperator((n, n), matvec=rational, dtype=np.float64)
    raise TypeError(
        f"no step operator for a stability of type {type(stability).__name__}: expected a "
        "StabilityFunction or a CharacteristicPolynomial"
    )


def spectral_radius(
    op: LinearOperator,
    h: float,
    k: int = RHO_K,
    seed: int = 0,
    maxiter: int = RHO_MAXITER,
    v0: np.ndarray | None = None,
) -> Radius:
    """``ρ(op)`` by ARPACK largest-magnitude; a retry with a larger subspace, then 'not
    certified' (``value = nan``) — never the largest of a partial set. ``v0``: a start
    vector (the search passes the previous step's dominant eigenvectors: a warm start)."""
    n = op.shape[0]
    if n <= 8:  # ARPACK needs k < n - 1: form the tiny matrix from its columns
        dense = np.column_stack([op.matvec(e) for e in np.eye(n)])
        return Radius(h, float(np.max(np.abs(np.linalg.eigvals(dense)))), True, "dense")
    v0_random = np.random.default_rng(seed).standard_normal(n)
    if v0 is None or not np.all(np.isfinite(v0)):
        v0 = v0_random
    else:  # warm, but with every direction present (the limiting mode may change with h)
        v0 = v0 / np.linalg.norm(v0) + v0_random / np.linalg.norm(v0_random)
    k = min(k, n - 2)
    notes = []
    for ncv in (max(2 * k + 1, 40), max(4 * k + 1, 120)):
        ncv = min(n, ncv)
        try:
            values, vectors = eigs(
                op, k=k, which="LM", v0=v0, ncv=ncv, tol=STEP_ARPACK_TOL, maxiter=maxiter
            )
        except ArpackNoConvergence as err:
            notes.append(f"ARPACK ncv={ncv}: {len(err.eigenvalues)} of {k} converged")
            if ncv == n:
                break
            continue
        except ArpackError as err:  # e.g. LAPACK could not reorder the Schur form
            notes.append(f"ARPACK ncv={ncv} failed (info {err.info})")
            if ncv == n:
                break
            continue
        radius = Radius(h, float(np.max(np.abs(values))), True, "arpack", "; ".join(notes))
        start = vectors.real.sum(axis=1) + vectors.imag.sum(axis=1)
        radius.start = start if np.linalg.norm(start) > 0 else None
        return radius
    return Radius(h, math.nan, False, "arpack", "; ".join(notes) + ": not certified")


# ---------------------------------------------------------------------- the search
def search_largest_stable_step(
    rho_at: Callable[[float], Radius], h_scale: float, h_rtol: float = H_RTOL
) -> tuple[float | None, bool, int, str]:
    """``(h*, certified, evaluations, note)`` by bracketing and a safeguarded root search.

    The bracket starts at ``h_scale`` (``1/ρ(J)^{1/p}``), doubles while stable (up to
    ``2^20 h_scale``: beyond, ``h* = inf``) or halves while unstable (down to
    ``2^-40 h_scale``: below, ``h* = 0``). Then ``g(h) = ρ(S(h)) − 1 − RHO_TOL`` is driven to
    its sign change by Brent's method (``scipy.optimize.brentq``: bisection safeguarding
    inverse quadratic interpolation, about ten evaluations), then the tightest evaluated
    pair ``g(lo) ≤ 0 < g(hi)`` is bisected until ``hi − lo ≤ h_rtol·hi``. ``h*`` is the
    stable end ``lo``.
    """
    count = 0

    def g(h):
        nonlocal count
        count += 1
        r = rho_at(h)
        if not r.certified:
            raise _NotCertified(f"ρ(S(h)) at h={h:.6g} not certified ({r.note})")
        return r.value - 1.0 - RHO_TOL

    try:
        h = h_scale
        gh = g(h)
        if gh <= 0:
            for _ in range(20):
                g2 = g(2 * h)
                if g2 > 0:
                    (lo, g_lo), (hi, g_hi) = (h, gh), (2 * h, g2)
                    break
                h, gh = 2 * h, g2
            else:
                return math.inf, True, count, f"stable up to h = {h:.3g}: h* unbounded"
        else:
            for _ in range(40):
                g2 = g(h / 2)
                if g2 <= 0:
                    (lo, g_lo), (hi, g_hi) = (h / 2, g2), (h, gh)
                    break
                h, gh = h / 2, g2
            else:
                return 0.0, True, count, f"unstable down to h = {h:.3g}: h* = 0"
        seen = {lo: g_lo, hi: g_hi}

        def record(x):
            seen[x] = g(x)
            return seen[x]

        if hi - lo > h_rtol * hi:
            brentq(record, lo, hi, xtol=0.25 * h_rtol * lo, rtol=4 * np.finfo(float).eps)
        lo = max(x for x, v in seen.items() if v <= 0)
        hi = min(x for x, v in seen.items() if v > 0 and x > lo)
        while hi - lo > h_rtol * hi:  # rarely needed: Brent's last point is on one side
            mid = 0.5 * (lo + hi)
            if record(mid) <= 0:
                lo = mid
            else:
                hi = mid
        return float(lo), True, count, ""
    except _NotCertified as err:
        return None, False, count, str(err)


class _NotCertified(Exception):
    pass


# ------------------------------------------------------------------------ verdicts
def dense_verdict(stability, eigenvalues, h: float, implicit_eigenvalues=None) -> Verdict:
    """Verdict from the *whole* spectrum of ``J``: ``ρ(S(h)) = max_i |R(h^p λ_i)|`` (largest
    root modulus), exact by spectral mapping; ``h*`` by the scan and bisection of
    :func:`~odenets.diagnostics.stability.largest_stable_step` (relative width 1e-13)."""
    rho = max_amplification(stability, eigenvalues, h, implicit_eigenvalues)
    h_star = largest_stable_step(stability, eigenvalues, implicit_eigenvalues)
    return Verdict(h, rho, h_star, True, "dense (whole spectrum of J)", 1e-13)


def matrix_free_verdict(
    operator_at: Callable[[float], LinearOperator],
    h: float,
    h_scale: float | None,
    seed: int = 0,
    h_rtol: float = H_RTOL,
    radius_at: Callable[[float], Radius] | None = None,
) -> Verdict:
    """Verdict from ARPACK on ``S(h)`` (``operator_at(h)``) and the bracketing search.

    ``h_scale`` is where the search starts (``1/ρ(J)^{1/p}``; ``None`` when ``ρ(J)`` did
    not converge: then ``h*`` is not searched and the verdict says so). ``radius_at``
    replaces ARPACK by another exact ``h ↦ ρ(S(h))`` (e.g. a dense step-map Jacobian).
    """
    cache: dict[float, Radius] = {}
    start = [None]

    def rho_at(s: float) -> Radius:
        if s not in cache and radius_at is not None:
            cache[s] = radius_at(s)
        if s not in cache:
            cache[s] = spectral_radius(operator_at(s), s, seed=seed, v0=start[0])
            start[0] = getattr(cache[s], "start", None) if cache[s].certified else None
        return cache[s]

    at_h = rho_at(h)
    notes = [at_h.note] if at_h.note else []
    if h_scale is None:
        notes.append("ρ(J) did not converge: h* not searched (not certified)")
        h_star, ok, count = None, False, 0
    elif h_scale == math.inf:
        h_star, ok, count = math.inf, True, 0
        notes.append("J = 0: every step is stable")
    else:
        h_star, ok, count, note = search_largest_stable_step(rho_at, h_scale, h_rtol)
        if note:
            notes.append(note)
    return Verdict(
        h,
        at_h.value if at_h.certified else None,
        h_star,
        at_h.certified and ok,
        "matrix-free (ARPACK on the step map)",
        h_rtol,
        count + 1,
        notes,
    )


def argument_scale(apply_j: Callable, n: int, step_power: int, seed: int = 0) -> float | None:
    """``1/ρ(J)^{1/p}`` (``inf`` for ``J = 0``, ``None`` if ARPACK does not converge)."""
    r = spectral_radius(LinearOperator((n, n), matvec=apply_j, dtype=np.float64), 1.0, seed=seed)
    if not r.certified:
        return None
    return math.inf if r.value == 0 else r.value ** (-1.0 / step_power)


# -------------------------------------------- characteristic polynomials: roots mapped back to z
def ritz_values(
    op: LinearOperator,
    k: int = RHO_K,
    seed: int = 0,
    maxiter: int = RHO_MAXITER,
    v0: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``(values, start, note)``: the ``k`` largest-magnitude eigenvalues of ``op`` by ARPACK
    (the retries of :func:`spectral_radius`), a warm start for the next solve, and what
    happened; ``values`` is ``None`` when ARPACK did not converge (nothing is guessed)."""
    n = op.shape[0]
    if n <= 8:
        dense = np.column_stack([op.matvec(e) for e in np.eye(n)])
        return np.linalg.eigvals(dense), None, ""
    v0_random = np.random.default_rng(seed).standard_normal(n)
    if v0 is None or not np.all(np.isfinite(v0)) or np.linalg.norm(v0) == 0:
        v0 = v0_random
    else:
        v0 = v0 / np.linalg.norm(v0) + v0_random / np.linalg.norm(v0_random)
    k = min(k, n - 2)
    notes = []
    for ncv in (max(2 * k + 1, 40), max(4 * k + 1, 120)):
        ncv = min(n, ncv)
        try:
            values, vectors = eigs(
                op, k=k, which="LM", v0=v0, ncv=ncv, tol=STEP_ARPACK_TOL, maxiter=maxiter
            )
        except ArpackNoConvergence as err:
            notes.append(f"ARPACK ncv={ncv}: {len(err.eigenvalues)} of {k} converged")
        except ArpackError as err:  # it carries no .info: the message says which error
            notes.append(f"ARPACK ncv={ncv} failed ({err})")
        else:
            start = vectors.real.sum(axis=1) + vectors.imag.sum(axis=1)
            return values, start, "; ".join(notes)
        if ncv == n:
            break
    return None, None, "; ".join(notes) + ": not certified"


def affine_in_z(stability) -> bool:
    """Whether every coefficient ``c_k(z)`` of ``ρ(r; z)`` is at most linear in ``z``."""
    return isinstance(stability, CharacteristicPolynomial) and all(
        len(c) <= 2 for c in stability.coefficients
    )


def z_of_root(stability: CharacteristicPolynomial, mu) -> np.ndarray:
    """The ``z`` for which ``μ`` is a root of ``ρ(·; z) = A(r) + z B(r)``: ``z = −A(μ)/B(μ)``.

    For an eigenvalue ``μ`` of the companion step map this is ``h^p λ`` for the eigenvalue
    ``λ`` of ``J`` it belongs to (spectral mapping read backwards; ``ρ`` affine in ``z``).
    ``nan`` where ``B(μ) = 0`` (a root of ``ρ`` for every ``z``).
    """
    mu = np.asarray(mu, dtype=complex)
    a = sum(c[0] * mu**k for k, c in enumerate(stability.coefficients))
    b = sum((c[1] if len(c) > 1 else 0.0) * mu**k for k, c in enumerate(stability.coefficients))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, -a / np.where(b != 0, b, 1), np.nan)


def companion_radius_at(
    stability: CharacteristicPolynomial,
    apply_j: Callable,
    n: int,
    h_scale: float | None,
    seed: int = 0,
) -> Callable[[float], Radius]:
    """``h ↦ ρ(S(h))`` of the companion step map of an affine-in-``z`` ``ρ(r; z)``, robust at
    multiple roots.

    Where ``ρ(·; z)`` has a multiple root (``z = 0`` of leapfrog and the partitioned schemes:
    ``(r − 1)²``; ``z = −4``: ``(r + 1)²``; midpoint's ``z = ±i``) the companion operator
    has a Jordan block, and ARPACK's eigenvalues split by ``√ε``: ``1 ± 1e-8`` reads as
    growth, so a field with a zero eigenvalue would get ``h* ≈ 0``. So each dominant Ritz
    value ``μ`` is mapped back to its ``z = z(μ)`` (:func:`z_of_root`; the split is
    squared away, ``z`` is exact to ``~ε``), cleaned as the dense path cleans ``h^p λ``
    (components below ``SPECTRAL_FLOOR·h^p ρ(J)`` are zero), snapped onto declared
    ``open_at`` points, and read through the closed-form largest root modulus. Since ``μ``
    is a root of ``ρ(·; z(μ))`` the value is at least ``|μ|`` up to that cleaning, and it
    equals the dense path's ``max_i`` over the same ``λ_i``. A step with some ``z`` on an
    ``open_at`` point is weakly unstable: the radius is 1 and the note says so.
    """
    from .stability import SPECTRAL_FLOOR, amplification, smallest_resolved_step, weakly_unstable

    p = getattr(stability, "step_power", 1)
    start = [None]
    resolved = None if h_scale is None else smallest_resolved_step(h_scale, p)
    at_resolved: dict = {}

    def radius(h: float) -> Radius:
        if resolved is not None and 0 < h < resolved and math.isfinite(resolved):
            return below_resolution(h)
        return solve_at(h)

    def below_resolution(h: float) -> Radius:
        """Below the resolved step all roots are within ~1e-8 of 1 and ARPACK's ρ − 1 is
        noise: the eigenvalues ``h_r^p λ`` found at ``h_r`` are rescaled to ``h^p λ``."""
        if "z" not in at_resolved:
            r = solve_at(resolved, keep=at_resolved)
            if not r.certified:
                return Radius(h, math.nan, False, "arpack", r.note)
        z = at_resolved["z"] * (h / resolved) ** p
        value = float(np.max(amplification(stability, z))) if z.size else 1.0
        return Radius(h, value, True, "arpack at the smallest resolved step, z rescaled")

    def solve_at(h: float, keep: dict | None = None) -> Radius:
        op = declared_step_operator(stability, apply_j, n, h)
        values, vectors, note = ritz_values(op, seed=seed, v0=start[0])
        if values is None:
            start[0] = None
            return Radius(h, math.nan, False, "arpack", note)
        start[0] = vectors
        z = z_of_root(stability, values)
        if h_scale is not None and math.isfinite(h_scale):
            floor = SPECTRAL_FLOOR * (h / h_scale) ** p
            re, im = z.real.copy(), z.imag.copy()
            re[np.abs(re) <= floor] = 0.0
            im[np.abs(im) <= floor] = 0.0
            z = re + 1j * im
        finite = np.isfinite(z)
        if keep is not None:
            keep["z"] = z[finite]
        amp = np.abs(values).astype(float)
        amp[finite] = amplification(stability, z[finite])
        weak = weakly_unstable(stability, z[finite])
        if weak.any():
            points = np.unique(np.round(z[finite][weak], 12))
            weak_note = "weakly unstable: a multiple unit root at z = " + ", ".join(
                f"{complex(v):.6g}" for v in points
            )
            note = f"{note}; {weak_note}" if note else weak_note
        return Radius(h, float(np.max(amp)), True, "arpack (roots mapped back to z)", note)

    return radius
