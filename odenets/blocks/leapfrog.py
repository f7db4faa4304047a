"""Leapfrog: the second-order ("hyperbolic") network of Ruthotto & Haber and Chang et al."""

from __future__ import annotations

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial, StabilityFunction
from ._vjp import add_into, field_vjp
from .base import History, HistoryBlock, ODEForm, ReversibleBlock, Starter

_LEAPFROG_RHO = CharacteristicPolynomial(
    coefficients=((1.0,), (-2.0, -1.0), (1.0,)),
    formula="ρ(r) = r² − (2 + z) r + 1",
    argument="h²·λ(∂F/∂y) for y'' = F(y)",
    step_power=2,
    open_at=(-4.0,),  # ρ = (r + 1)²: linear growth at h²μ = −4
)
_ARGUMENT = "h²·λ(∂F/∂y) for y'' = F(y)"
#: the first step from each initial history, ``y₀ ↦ y₁``, on ``y'' = μy`` (``z = h²μ``)
STARTERS = {
    "rest": Starter(
        "y₋₁ = y₀ (at rest): y₁ = y₀ + h² F(y₀)",
        StabilityFunction((1.0, 1.0), formula="R(z) = 1 + z", argument=_ARGUMENT, step_power=2),
    ),
    "taylor": Starter(
        "y₋₁ = y₀ + h²/2 F(y₀) (Taylor): y₁ = y₀ + h²/2 F(y₀)",
        StabilityFunction((1.0, 0.5), formula="R(z) = 1 + z/2", argument=_ARGUMENT, step_power=2),
    ),
}
STARTS = tuple(STARTERS)


@register_scheme
class LeapfrogBlock(HistoryBlock, ReversibleBlock):
    """Leapfrog (Störmer) for ``y'' = F(y)``: ``y_{j+1} = 2y_j − y_{j−1} + h² F(y_j)``.

    Order 2, explicit, two-step, time-reversible: ``y_{j−1} = 2y_j − y_{j+1} + h² F(y_j)``.
    With ``F = −Kᵀσ(Ky + b)`` (the default) this is R&H's "hyperbolic" network. On
    ``y'' = μy`` the roots of ``r² − (2 + h²μ) r + 1`` lie on the unit circle iff
    ``−4 ≤ h²μ ≤ 0``: no damping; stable iff ``−4 < h²μ ≤ 0``, since at ``h²μ = −4`` the
    root ``−1`` is double and the solution grows linearly (declared in ``open_at``).

    ``start="rest"`` (the papers' ``y₋₁ = y₀``) fixes the velocity to zero half a step
    early, so a whole stage is only first-order accurate for ``y'(0) = 0``;
    ``start="taylor"`` (``y₋₁ = y₀ + h²/2 F(y₀)``) keeps second order. ``block.order`` and
    ``block.starter`` are those of the chosen start (the class data: of the default).
    """

    name = "leapfrog"
    ode_form = ODEForm.SECOND_ORDER
    order = 1
    default_field = "symmetric"
    declared_starter = STARTERS["rest"]

    def __init__(self, fields, h: float, start: str = "rest"):
        super().__init__(fields, h)
        if start not in STARTS:
            raise ValueError(f"leapfrog start must be one of {list(STARTS)}, got {start!r}")
        self.start_kind = start
        self.order = 2 if start == "taylor" else 1

    @classmethod
    def declared_stability(cls):
        return _LEAPFROG_RHO

    @property
    def starter(self) -> Starter:
        return STARTERS[self.start_kind]

    def init(self, y0):
        if self.start_kind == "rest":
            return History(y0, y0)
        return History(y0 + (0.5 * self.h**2) * self.field(y0), y0)

    def step(self, state: History) -> History:
        y_prev, y = state
        return History(y, 2 * y - y_prev + self.h**2 * self.field(y))

    def inverse(self, state: History) -> History:
        y, y_next = state
        return History(2 * y - y_next + self.h**2 * self.field(y), y)

    def reverse(self, state: History, grads, param_grads: dict):
        """The inverse fused with the VJP of the step: the field is evaluated once."""
        y, y_next = state
        grad_y, grad_next = grads
        h2 = self.h**2
        f, pulled = field_vjp(self.field, y, grad_next, h2, param_grads)
        y_prev = 2 * y - y_next + h2 * f
        grad_current = add_into(add_into(pulled, grad_next, 2), grad_y)
        return History(y_prev, y), (-grad_next, grad_current)

    def extra_repr(self) -> str:
        return f"h={self.h:g}, start={self.start_kind!r}"
