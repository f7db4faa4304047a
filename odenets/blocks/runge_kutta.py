"""Explicit Runge–Kutta blocks driven by a validated Butcher tableau."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..registry import register_scheme
from ..stability import StabilityFunction
from .base import Block


@dataclass(frozen=True)
class ButcherTableau:
    """Coefficients ``(A, b, c)`` of an explicit Runge–Kutta method of declared ``order``.

    Validated on construction: ``A`` strictly lower triangular (explicit), ``c_i = Σ_j a_ij``,
    and the order conditions up to ``order`` (at most 4) hold.
    """

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    order: int

    def __post_init__(self):
        s = len(self.b)
        a = np.array([list(row) + [0.0] * (s - len(row)) for row in self.a], dtype=float)
        if a.shape != (s, s) or len(self.c) != s:
            raise ValueError(f"Butcher tableau: A must be {s}x{s} and c of length {s}")
        if np.any(np.triu(a) != 0):
            raise ValueError("Butcher tableau: A must be strictly lower triangular (explicit)")
        if not np.allclose(a.sum(axis=1), self.c):
            raise ValueError("Butcher tableau: the row sums of A must equal c")
        if not 1 <= self.order <= 4:
            raise ValueError(f"Butcher tableau: order must be 1..4, got {self.order}")
        for label, lhs, rhs in _order_conditions(a, np.array(self.b), np.array(self.c)):
            if int(label[0]) <= self.order and not np.isclose(lhs, rhs):
                raise ValueError(
                    f"Butcher tableau fails the order condition {label}: {lhs:.6g} != {rhs:.6g}"
                )

    @property
    def matrix(self) -> np.ndarray:
        s = len(self.b)
        return np.array([list(row) + [0.0] * (s - len(row)) for row in self.a], dtype=float)

    def stability_function(self) -> StabilityFunction:
        """``R(z) = 1 + Σ_{k≥1} (bᵀ A^{k−1} 𝟙) z^k``, exact for explicit methods."""
        a, b = self.matrix, np.array(self.b)
        coefficients, v = [1.0], np.ones(len(b))
        for _ in range(len(b)):
            coefficients.append(float(b @ v))
            v = a @ v
        while len(coefficients) > 1 and abs(coefficients[-1]) < 1e-15:
            coefficients.pop()
        terms = " + ".join(["1"] + [f"{_frac(c)} z^{k}" for k, c in enumerate(coefficients) if k])
        return StabilityFunction(tuple(coefficients), formula=f"R(z) = {terms}")


def _frac(x: float) -> str:
    return str(Fraction(x).limit_denominator(1000))


def _order_conditions(a, b, c):
    """The classical order conditions up to order 4 as ``(label, lhs, rhs)``."""
    return [
        ("1: Σb = 1", b.sum(), 1.0),
        ("2: bᵀc = 1/2", b @ c, 1 / 2),
        ("3: bᵀc² = 1/3", b @ c**2, 1 / 3),
        ("3: bᵀAc = 1/6", b @ a @ c, 1 / 6),
        ("4: bᵀc³ = 1/4", b @ c**3, 1 / 4),
        ("4: bᵀ(c∘Ac) = 1/8", b @ (c * (a @ c)), 1 / 8),
        ("4: bᵀAc² = 1/12", b @ a @ c**2, 1 / 12),
        ("4: bᵀA²c = 1/24", b @ a @ a @ c, 1 / 24),
    ]


HEUN = ButcherTableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0), order=2)
RK4 = ButcherTableau(
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.0, 0.5, 0.5, 1.0),
    order=4,
)


class RungeKuttaBlock(Block):
    """Explicit Runge–Kutta step ``y⁺ = y + h Σ_i b_i k_i``, ``k_i = F(y + h Σ_j a_ij k_j)``.

    Any validated :class:`ButcherTableau` can be passed as ``tableau``; its order and
    stability function ``R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙`` are read from it. A subclass sets
    ``tableau`` only: its class-level ``order`` is the tableau's.
    """

    name = "rk"
    tableau: ButcherTableau = RK4
    order = tableau.order

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.order = cls.tableau.order

    def __init__(self, fields, h: float, tableau: ButcherTableau | None = None):
        super().__init__(fields, h)
        if tableau is not None:
            if not isinstance(tableau, ButcherTableau):
                raise TypeError(f"tableau must be a ButcherTableau, got {type(tableau).__name__}")
            self.tableau = tableau
            self.order = tableau.order  # instance-level: a custom tableau sets its own order

    @property
    def stability(self):
        return self.tableau.stability_function()

    @classmethod
    def declared_stability(cls):
        return cls.tableau.stability_function()

    def step(self, y):
        h, a = self.h, self.tableau.a
        ks = []
        for i in range(len(self.tableau.b)):
            yi = y
            for j, aij in enumerate(a[i]):
                if aij:
                    yi = yi + (h * float(aij)) * ks[j]
            ks.append(self.field(yi))
        increment = sum(float(bi) * k for bi, k in zip(self.tableau.b, ks, strict=True) if bi)
        return y + h * increment


@register_scheme
class RK2Block(RungeKuttaBlock):
    """Heun's method (explicit trapezoid), order 2, two stages.

    ``R(z) = 1 + z + z²/2``. Lu et al. (2018) identify FractalNet's two-branch block with
    a second-order Runge–Kutta step.
    """

    name = "rk2"
    tableau = HEUN


@register_scheme
class RK4Block(RungeKuttaBlock):
    """The classical Runge–Kutta method, order 4, four stages.

    ``R(z) = 1 + z + z²/2 + z³/6 + z⁴/24``; its stability region reaches ``−2.785`` on the
    real axis and ``±2.828i`` on the imaginary axis.
    """

    name = "rk4"
    tableau = RK4
