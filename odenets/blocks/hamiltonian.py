"""Partitioned (two-field) reversible schemes: the Hamiltonian network of Chang et al."""

from __future__ import annotations

import torch

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial
from ._vjp import add_into, field_vjp
from .base import Pair, ReversibleBlock, TwoFieldBlock

PARTITIONED_RHO = CharacteristicPolynomial(
    coefficients=((1.0,), (-2.0, -1.0), (1.0,)),
    formula="ρ(r) = r² − (2 + z) r + 1",
    argument="h²·λ(∂F_Y/∂Z · ∂F_Z/∂Y)",
    step_power=2,
    open_at=(-4.0,),  # ρ = (r + 1)²: linear growth at hω = 2
)


class PartitionedEulerBlock(TwoFieldBlock, ReversibleBlock):
    """``Y⁺ = Y + h F_Y(Z)``, ``Z⁺ = Z + h F_Z(Y⁺)``: symplectic Euler on a partitioned system.

    Each update is a shear, so the map has unit Jacobian determinant and the exact inverse
    ``Z = Z⁺ − h F_Z(Y⁺)``, ``Y = Y⁺ − h F_Y(Z)``. On the linear test system
    ``F_Y(Z) = aZ, F_Z(Y) = bY`` the step matrix has characteristic polynomial
    ``r² − (2 + h²ab) r + 1`` (determinant 1).
    """

    order = 1

    @classmethod
    def declared_stability(cls):
        return PARTITIONED_RHO

    def step(self, state: Pair) -> Pair:
        field_y, field_z = self.fields
        y = state.y + self.h * field_y(state.z)
        z = state.z + self.h * field_z(y)
        return Pair(y, z)

    def inverse(self, state: Pair) -> Pair:
        field_y, field_z = self.fields
        z = state.z - self.h * field_z(state.y)
        y = state.y - self.h * field_y(z)
        return Pair(y, z)

    def reverse(self, state: Pair, grads, param_grads: dict):
        """The inverse fused with the VJP of the step: each field is evaluated once."""
        field_y, field_z = self.fields
        h = self.h
        grad_y1, grad_z1 = grads
        f_z, pulled = field_vjp(field_z, state.y, grad_z1, h, param_grads)
        z = state.z - h * f_z
        grad_y = add_into(pulled, grad_y1)  # total gradient of Y⁺, which is also that of Y
        f_y, pulled = field_vjp(field_y, z, grad_y, h, param_grads)
        y = state.y - h * f_y
        return Pair(y, z), (grad_y, add_into(pulled, grad_z1))

    def argument_factors(self, state: Pair):
        """``F_Y`` at the entering ``Z``, ``F_Z`` at the updated ``Y⁺`` the step feeds it: the
        sweep the declared ρ describes, so the step map's spectrum is exactly ρ's roots."""
        with torch.no_grad():
            y_next = self.step(state).y
        return ((self.fields[0], state.z), (self.fields[1], y_next))


@register_scheme
class HamiltonianBlock(PartitionedEulerBlock):
    """Hamiltonian network (Verlet form; Chang et al. 2018, Ruthotto & Haber 2018).

    ``Y_{j+1} = Y_j + h K₁ᵀσ(K₁ Z_j + b₁)``, ``Z_{j+1} = Z_j − h K₂ᵀσ(K₂ Y_{j+1} + b₂)``.
    Symplectic and reversible; order 1 as a one-step map on ``(Y, Z)`` taken at the same
    time, order 2 (Störmer–Verlet) when ``Z`` is read at half steps. For a harmonic mode of
    frequency ``ω`` (``z = −h²ω²``) it is stable iff ``hω < 2`` (at ``hω = 2`` the root
    ``−1`` of the step matrix is double: linear growth, declared in ``open_at``). Needs an
    even channel count; ``Y`` and ``Z`` are the two channel halves.
    """

    name = "hamiltonian"
    default_field = "symmetric"
    default_field_kwargs = ({"sign": 1}, {"sign": -1})
