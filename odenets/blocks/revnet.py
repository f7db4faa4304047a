"""RevNet (Gomez et al. 2017): the reversible residual network baseline."""

from __future__ import annotations

from ..registry import register_scheme
from .hamiltonian import PartitionedEulerBlock


@register_scheme
class RevNetBlock(PartitionedEulerBlock):
    """RevNet: ``y₁ = x₁ + h F(x₂)``, ``y₂ = x₂ + h G(y₁)`` on channel halves.

    Forward Euler on the coupled system ``ẋ₁ = F(x₂), ẋ₂ = G(x₁)`` taken in Gauss–Seidel
    order (symplectic Euler); order 1, reversible with the exact inverse
    ``x₂ = y₂ − h G(y₁)``, ``x₁ = y₁ − h F(x₂)``. ``F, G`` are residual branches; ``h = 1``
    recovers Gomez et al.
    """

    name = "revnet"
    default_field = "residual"
    default_field_kwargs = ({}, {})
