"""Stability of a scheme on the linear test equation, declared as data.

Every block exposes ``block.stability``, one of the objects below. They are plain data
(polynomial coefficients in ascending powers of ``z``) with a vectorised
``amplification(z)``: the factor by which one step scales the test solution. A scheme is
linearly stable at ``z`` when ``amplification(z) <= 1``.

``z`` is ``h**step_power * λ`` where ``λ`` is an eigenvalue of the operator named in
``argument``: ``∂F/∂y`` for first-order schemes, ``∂F/∂y`` of ``y'' = F(y)`` for the leapfrog
(``z = h²λ``), and ``∂F_Y/∂Z · ∂F_Z/∂Y`` for the two-field (partitioned) schemes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _poly(coefficients, z):
    """Evaluate a polynomial given by ascending coefficients at (array) ``z``."""
    z = np.asarray(z, dtype=complex)
    out = np.zeros_like(z)
    for c in reversed(coefficients):
        out = out * z + c
    return out


@dataclass(frozen=True)
class StabilityFunction:
    """Stability function ``R(z) = P(z)/Q(z)`` of a one-step scheme: ``y⁺ = R(z) y``."""

    numerator: tuple[float, ...]
    denominator: tuple[float, ...] = (1.0,)
    formula: str = ""
    argument: str = "h·λ(∂F/∂y)"
    step_power: int = 1

    kind = "one-step"

    def __call__(self, z):
        return _poly(self.numerator, z) / _poly(self.denominator, z)

    def amplification(self, z):
        """``|R(z)|``, vectorised over ``z``."""
        return np.abs(self(z))


@dataclass(frozen=True)
class CharacteristicPolynomial:
    """``ρ(r; z) = Σ_k c_k(z) r^k``: the test recurrence ``Σ_k c_k(z) y_{n+k} = 0``.

    ``coefficients[k]`` holds the ascending coefficients in ``z`` of the polynomial that
    multiplies ``r**k``. Two-field (partitioned) one-step maps are declared here too: their
    step matrix on the test system has this characteristic polynomial.
    """

    coefficients: tuple[tuple[float, ...], ...]
    formula: str = ""
    argument: str = "h·λ(∂F/∂y)"
    step_power: int = 1
    #: boundary points ``z`` where ``ρ(·; z)`` has a multiple root on the unit circle (leapfrog
    #: at ``z = −4``: ``(r + 1)²``; midpoint at ``z = ±i``: ``(r ∓ i)²``). There every root
    #: has modulus 1 but the step map is not diagonalisable: its powers grow like ``n``
    #: (``‖Sⁿ‖ ~ n``, weak instability), so the stability region is *open* at these points.
    #: The double root ``r = 1`` at ``z = 0`` of a second-order (``step_power = 2``) scheme is
    #: not listed: it is the ODE's own linear growth (``y'' = 0``: ``y = a + bt``).
    open_at: tuple[complex, ...] = ()

    kind = "multistep"

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    def polynomial(self, z: complex) -> np.ndarray:
        """Coefficients of ``ρ(·; z)`` in descending powers of ``r`` (``numpy.roots`` order)."""
        return np.array([_poly(c, z) for c in reversed(self.coefficients)], dtype=complex)

    def roots(self, z: complex) -> np.ndarray:
        return np.roots(self.polynomial(complex(z)))

    def amplification(self, z):
        """Largest root modulus of ``ρ(·; z)``, vectorised over ``z`` (1 at an ``open_at``
        point: the spectral radius; :meth:`weakly_unstable` says the step grows there)."""
        z = np.asarray(z, dtype=complex)
        flat = [np.max(np.abs(self.roots(v))) for v in z.ravel()]
        return np.asarray(flat, dtype=float).reshape(z.shape)

    def weakly_unstable(self, z, rtol: float = 1e-13) -> np.ndarray:
        """Whether ``z`` is (to ``rtol·max(1, |z₀|)``) an ``open_at`` point ``z₀``: a multiple
        root on the unit circle, linear growth of the powers of the step."""
        z = np.asarray(z, dtype=complex)
        hit = np.zeros(z.shape, dtype=bool)
        for z0 in self.open_at:
            hit |= np.abs(z - z0) <= rtol * max(1.0, abs(z0))
        return hit


@dataclass(frozen=True)
class IMEXStability(StabilityFunction):
    """``R(z_e, z_i) = P(z_e) / (Q(z_e) · Q_i(z_i))`` of an implicit–explicit one-step scheme.

    On the split test equation ``y' = λ_e y + λ_i y`` (explicit part ``λ_e``, implicit part
    ``λ_i``) one step multiplies ``y`` by ``R``; for IMEX Euler ``R = (1 + z_e)/(1 − z_i)``
    with ``z_e = hλ_e``, ``z_i = hλ_i``. For ``λ_i ≤ 0`` the implicit factor is ``≤ 1`` for
    every ``h``: the implicit part is unconditionally stable. Called with one argument it is
    the explicit part alone (``z_i = 0``), so generic code that knows only ``R(z)`` sees the
    explicit scheme.
    """

    implicit_denominator: tuple[float, ...] = (1.0, -1.0)
    implicit_argument: str = "h·λ(implicit operator)"

    kind = "imex"

    def __call__(self, z, z_implicit=0.0):
        explicit = _poly(self.numerator, z) / _poly(self.denominator, z)
        return explicit / _poly(self.implicit_denominator, z_implicit)

    def amplification(self, z, z_implicit=0.0):
        """``|R(z_e, z_i)|``, vectorised (and broadcast) over both arguments."""
        return np.abs(self(z, z_implicit))
