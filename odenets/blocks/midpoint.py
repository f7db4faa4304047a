"""The explicit midpoint (leapfrog for first-order systems) network of Chang et al. (2018)."""

from __future__ import annotations

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial
from .base import History, HistoryBlock, ReversibleBlock

_MIDPOINT_RHO = CharacteristicPolynomial(
    coefficients=((-1.0,), (0.0, -2.0), (1.0,)),
    formula="ρ(r) = r² − 2z r − 1",
)


@register_scheme
class MidpointBlock(HistoryBlock, ReversibleBlock):
    """Explicit midpoint rule: ``y_{j+1} = y_{j−1} + 2h F(y_j)``; first step forward Euler.

    Order 2, explicit, two-step, time-reversible: ``y_{j−1} = y_{j+1} − 2h F(y_j)``. The
    roots of ``r² − 2z r − 1`` lie on the unit circle iff ``z ∈ i·(−1, 1)``: stable only for
    purely imaginary spectra, hence the default antisymmetric field
    ``σ((W − Wᵀ) y + b)`` (Chang et al. 2018, "midpoint network").
    """

    name = "midpoint"
    order = 2
    default_field = "antisymmetric"

    @classmethod
    def declared_stability(cls):
        return _MIDPOINT_RHO

    def step(self, state: History) -> History:
        y_prev, y = state
        if y_prev is None:  # the starter: one forward-Euler step
            return History(y, y + self.h * self.field(y))
        return History(y, y_prev + 2 * self.h * self.field(y))

    def inverse(self, state: History) -> History:
        y, y_next = state
        return History(y_next - 2 * self.h * self.field(y), y)
