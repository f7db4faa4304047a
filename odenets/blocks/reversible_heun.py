"""Reversible Heun (Kidger, Foster, Li & Lyons 2021): an algebraically reversible Heun step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial, StabilityFunction
from ._vjp import add_into, field_vjp
from .base import ReversibleBlock, Starter, StateLayout


class HeunState(NamedTuple):
    """State ``(y, ŷ)`` of reversible Heun: the solution and the point the field is read at."""

    y: torch.Tensor
    yhat: torch.Tensor

    def leaves(self) -> tuple[torch.Tensor, ...]:
        return (self.y, self.yhat)

    @classmethod
    def from_leaves(cls, leaves: Sequence[torch.Tensor]) -> HeunState:
        return cls(*leaves)

    @property
    def argument(self) -> torch.Tensor:
        """``ŷ``: where the step evaluates the field (its linearisation point)."""
        return self.yhat


HEUN_LAYOUT = StateLayout("REVERSIBLE_HEUN", "(y, ŷ)", HeunState)
_RHO = CharacteristicPolynomial(
    coefficients=((-1.0,), (0.0, -2.0), (1.0,)),
    formula="ρ(r) = r² − 2z r − 1",
    open_at=(1j, -1j),  # ρ = (r ∓ i)²: linear growth at z = ±i
)


@register_scheme
class ReversibleHeunBlock(ReversibleBlock):
    """Reversible Heun: ``ŷ⁺ = 2y − ŷ + h F(ŷ)``, ``y⁺ = y + h/2 (F(ŷ) + F(ŷ⁺))``, ``ŷ₀ = y₀``.

    Kidger, Foster, Li & Lyons, "Efficient and Accurate Gradients for Neural SDEs"
    (NeurIPS 2021); diffrax's ``ReversibleHeun``. Explicit, two field evaluations per step,
    order 2 for ODEs (the first step, from ``ŷ₀ = y₀``, is Heun's method). Algebraically
    reversible: ``ŷ = 2y⁺ − ŷ⁺ − h F(ŷ⁺)``, ``y = y⁺ − h/2 (F(ŷ) + F(ŷ⁺))`` repeats the
    step's own field evaluations, so memory-free backprop gives the gradients of the
    discretisation to round-off. On ``F(y) = λy`` (``z = hλ``) the step matrix of
    ``(y, ŷ)`` is ``[[1 + z, z²/2], [2, z − 1]]`` with characteristic polynomial
    ``ρ(r) = r² − 2z r − 1``, that of the explicit midpoint rule: its roots have product
    ``−1``, so it is stable only on the open imaginary segment ``z ∈ i·(−1, 1)`` (at
    ``z = ±i`` the root ``±i`` is double: linear growth; hence the antisymmetric default
    field). diffrax keeps ``F(ŷ)`` from one step to the next (one
    evaluation per step); here each block evaluates its own field twice, which per-step
    weights need.
    """

    name = "reversible_heun"
    state_layout = HEUN_LAYOUT
    order = 2
    default_field = "antisymmetric"
    declared_starter = Starter(
        "ŷ₀ = y₀: the first step is Heun's method (explicit trapezoid)",
        StabilityFunction((1.0, 1.0, 0.5), formula="R(z) = 1 + z + z²/2"),
    )

    @classmethod
    def declared_stability(cls):
        return _RHO

    def init(self, y0: torch.Tensor) -> HeunState:
        return HeunState(y0, y0)

    def step(self, state: HeunState) -> HeunState:
        y, yhat = state
        f = self.field(yhat)
        yhat_next = 2 * y - yhat + self.h * f
        y_next = y + (0.5 * self.h) * (f + self.field(yhat_next))
        return HeunState(y_next, yhat_next)

    def inverse(self, state: HeunState) -> HeunState:
        y_next, yhat_next = state
        f_next = self.field(yhat_next)
        yhat = 2 * y_next - yhat_next - self.h * f_next
        y = y_next - (0.5 * self.h) * (self.field(yhat) + f_next)
        return HeunState(y, yhat)

    def reverse(self, state: HeunState, grads, param_grads: dict):
        """The inverse fused with the VJP of the step: its two field evaluations, each once
        with a graph. ``ŷ⁺`` gets ``ŷ̄⁺ + h/2 J(ŷ⁺)ᵀ ȳ⁺``; ``F(ŷ)`` gets ``h ŷ̄⁺_total + h/2 ȳ⁺``."""
        y_next, yhat_next = state
        grad_y_next, grad_yhat_next = grads
        h = self.h
        f_next, pulled = field_vjp(self.field, yhat_next, grad_y_next, 0.5 * h, param_grads)
        grad_yhat_total = add_into(pulled, grad_yhat_next)
        yhat = 2 * y_next - yhat_next - h * f_next
        grad_f = h * grad_yhat_total + (0.5 * h) * grad_y_next
        f, pulled = field_vjp(self.field, yhat, grad_f, 1.0, param_grads)
        y = y_next - (0.5 * h) * (f + f_next)
        grad_y = 2 * grad_yhat_total + grad_y_next
        return HeunState(y, yhat), (grad_y, add_into(pulled, grad_yhat_total, -1))

    def output(self, state: HeunState) -> torch.Tensor:
        return state.y
