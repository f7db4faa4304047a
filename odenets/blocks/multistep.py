"""Linear multistep networks: LM-ResNet (Lu et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_scheme
from ..stability import CharacteristicPolynomial, StabilityFunction
from .base import History, HistoryBlock, Starter


def lm_starter(k: float) -> Starter:
    """From the history at rest the first step is forward Euler with step ``(1 + k) h``."""
    return Starter(
        "y₋₁ = y₀ (at rest): y₁ = y₀ + (1 + k) h F(y₀), forward Euler with step (1 + k) h",
        StabilityFunction((1.0, 1.0 + k), formula=f"R(z) = 1 + (1 + k) z, k = {k:.4g}"),
    )


@register_scheme
class LMBlock(HistoryBlock):
    """LM-ResNet: ``y_{n+1} = (1 − k) y_n + k y_{n−1} + (1 + k) h F(y_n)``, ``k`` learned.

    Order 1, explicit, two-step; the history starts at rest (``y₋₁ = y₀``), so the first
    step is forward Euler with step ``(1 + k) h``. Lu et al. write
    ``(1 − k_n) y_n + k_n y_{n−1} + F(y_n)``, which is consistent with ``(1 + k) ẏ = F``;
    the factor ``(1 + k)`` here makes the scheme consistent with ``ẏ = F`` for every ``k``
    (``ρ'(1) = σ(1) = 1 + k``) and is absorbed by the learned ``F``. ``k = 0`` is forward
    Euler, ``k = 1`` the explicit midpoint rule. Characteristic polynomial
    ``r² − (1 − k + (1 + k) z) r − k``; zero-stable iff ``−1 < k ≤ 1``. ``k`` is
    initialised ``U[−0.1, 0]`` as in the paper.
    """

    name = "lm"
    order = 1
    default_field = "residual"
    carried_parameters = ("k",)
    declared_starter = lm_starter(0.0)

    def __init__(self, fields, h: float, k_init: tuple[float, float] = (-0.1, 0.0)):
        super().__init__(fields, h)
        low, high = k_init
        self.k = nn.Parameter(torch.empty(()).uniform_(low, high))

    @property
    def starter(self) -> Starter:
        return lm_starter(float(self.k.detach()))

    @staticmethod
    def characteristic_polynomial(k: float) -> CharacteristicPolynomial:
        """Multiple roots on the unit circle only at ``|k| = 1`` (roots' product ``−k``): the
        midpoint rule's ``z = ±i`` for ``k = 1``, ``(r − 1)²`` at ``z = 0`` for ``k = −1``."""
        open_at = {1.0: (1j, -1j), -1.0: (0.0,)}.get(float(k), ())
        return CharacteristicPolynomial(
            coefficients=((-k,), (-(1 - k), -(1 + k)), (1.0,)),
            formula=f"ρ(r) = r² − (1 − k + (1 + k) z) r − k, k = {k:.4g}",
            open_at=open_at,
        )

    @property
    def stability(self):
        return self.characteristic_polynomial(float(self.k.detach()))

    @classmethod
    def declared_stability(cls):
        return cls.characteristic_polynomial(0.0)

    def step(self, state: History) -> History:
        y_prev, y = state
        k = self.k
        return History(y, (1 - k) * y + k * y_prev + (1 + k) * self.h * self.field(y))

    def extra_repr(self) -> str:
        return f"h={self.h:g}, k={float(self.k.detach()):.4g}"
