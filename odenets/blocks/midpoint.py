"""The explicit midpoint (leapfrog for first-order systems) network of Chang et al. (2018)."""

from __future__ import annotations

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial
from ._vjp import add_into, field_vjp
from .base import FORWARD_EULER_R, History, HistoryBlock, ReversibleBlock, Starter

_MIDPOINT_RHO = CharacteristicPolynomial(
    coefficients=((-1.0,), (0.0, -2.0), (1.0,)),
    formula="ρ(r) = r² − 2z r − 1",
    open_at=(1j, -1j),  # ρ = (r ∓ i)²: linear growth at z = ±i
)


@register_scheme
class MidpointBlock(HistoryBlock, ReversibleBlock):
    """Explicit midpoint rule: ``y_{j+1} = y_{j−1} + 2h F(y_j)``; first step forward Euler.

    Order 2, explicit, two-step, time-reversible: ``y_{j−1} = y_{j+1} − 2h F(y_j)``. The
    roots of ``r² − 2z r − 1`` lie on the unit circle iff ``z ∈ i·[−1, 1]`` and are distinct
    iff ``z ∈ i·(−1, 1)`` (at ``z = ±i`` the root ``±i`` is double and the solution grows
    linearly: the region is open there, ``open_at``): stable only for
    purely imaginary spectra, hence the default antisymmetric field
    ``σ((W − Wᵀ) y + b)`` (Chang et al. 2018, "midpoint network"). The first step of a
    stage is the starter ``y₁ = y₀ + h F(y₀)`` (forward Euler, ``R(z) = 1 + z``).
    """

    name = "midpoint"
    order = 2
    default_field = "antisymmetric"
    declared_starter = Starter("y₁ = y₀ + h F(y₀) (forward Euler)", FORWARD_EULER_R)

    @classmethod
    def declared_stability(cls):
        return _MIDPOINT_RHO

    def start(self, state: History) -> History:
        y = state.current
        return History(y, y + self.h * self.field(y))

    def step(self, state: History) -> History:
        y_prev, y = state
        return History(y, y_prev + 2 * self.h * self.field(y))

    def inverse(self, state: History) -> History:
        y, y_next = state
        return History(y_next - 2 * self.h * self.field(y), y)

    def reverse(self, state: History, grads, param_grads: dict):
        """The inverse fused with the VJP of the step: the field is evaluated once."""
        y, y_next = state
        grad_y, grad_next = grads
        f, pulled = field_vjp(self.field, y, grad_next, 2 * self.h, param_grads)
        y_prev = y_next - 2 * self.h * f
        return History(y_prev, y), (grad_next, add_into(pulled, grad_y))
