"""Leapfrog: the second-order ("hyperbolic") network of Ruthotto & Haber and Chang et al."""

from __future__ import annotations

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial
from .base import History, HistoryBlock, ODEForm, ReversibleBlock

_LEAPFROG_RHO = CharacteristicPolynomial(
    coefficients=((1.0,), (-2.0, -1.0), (1.0,)),
    formula="ρ(r) = r² − (2 + z) r + 1",
    argument="h²·λ(∂F/∂y) for y'' = F(y)",
    step_power=2,
)
STARTS = ("rest", "taylor")


@register_scheme
class LeapfrogBlock(HistoryBlock, ReversibleBlock):
    """Leapfrog (Störmer) for ``y'' = F(y)``: ``y_{j+1} = 2y_j − y_{j−1} + h² F(y_j)``.

    Order 2, explicit, two-step, time-reversible: ``y_{j−1} = 2y_j − y_{j+1} + h² F(y_j)``.
    With ``F = −Kᵀσ(Ky + b)`` (the default) this is R&H's "hyperbolic" network. On
    ``y'' = μy`` the roots of ``r² − (2 + h²μ) r + 1`` lie on the unit circle iff
    ``−4 ≤ h²μ ≤ 0``: no damping, no growth.

    ``start="rest"`` (the papers' ``y₋₁ = y₀``) fixes the velocity to zero half a step
    early, so a whole stage is only first-order accurate for ``y'(0) = 0``;
    ``start="taylor"`` (``y₋₁ = y₀ + h²/2 F(y₀)``) keeps second order. ``self.order`` is
    the order of the stage with the chosen start.
    """

    name = "leapfrog"
    ode_form = ODEForm.SECOND_ORDER
    order = 2
    default_field = "symmetric"

    def __init__(self, fields, h: float, start: str = "rest"):
        super().__init__(fields, h)
        if start not in STARTS:
            raise ValueError(f"leapfrog start must be one of {list(STARTS)}, got {start!r}")
        self.start = start
        self.order = 2 if start == "taylor" else 1

    @classmethod
    def declared_stability(cls):
        return _LEAPFROG_RHO

    def init(self, y0):
        if self.start == "rest":
            return History(y0, y0)
        return History(y0 + (0.5 * self.h**2) * self.field(y0), y0)

    def step(self, state: History) -> History:
        y_prev, y = state
        return History(y, 2 * y - y_prev + self.h**2 * self.field(y))

    def inverse(self, state: History) -> History:
        y, y_next = state
        return History(2 * y - y_next + self.h**2 * self.field(y), y)

    def extra_repr(self) -> str:
        return f"h={self.h:g}, start={self.start!r}"
