"""Forward Euler and its structured variants (ResNet, parabolic, antisymmetric networks)."""

from __future__ import annotations

import torch

from ..registry import register_scheme
from ..stability import StabilityFunction
from .base import Block

_EULER_R = StabilityFunction((1.0, 1.0), formula="R(z) = 1 + z")


@register_scheme
class EulerBlock(Block):
    """Forward Euler: ``y⁺ = y + h F(y)``.

    Order 1, explicit, one stage. Stable iff ``|1 + hλ| ≤ 1`` (the disc of radius 1 centred
    at −1). With ``F`` the residual branch this is a ResNet block (He et al. 2016; E 2017).
    """

    name = "euler"
    order = 1
    default_field = "residual"

    @classmethod
    def declared_stability(cls):
        return _EULER_R

    def step(self, y):
        # one fused kernel; autograd skips the multiply by alpha in backward when h = 1
        return torch.add(y, self.field(y), alpha=self.h)


@register_scheme
class ParabolicBlock(EulerBlock):
    """Parabolic network: forward Euler on ``F(y) = −Kᵀσ(N(Ky + b))`` (Ruthotto & Haber 2018).

    Order 1, explicit. The default field's Jacobian ``−KᵀDK`` is symmetric negative
    semi-definite, so its eigenvalues are real and ``≤ 0``: the step is a discrete heat
    equation, stable iff ``h λ_max(KᵀDK) ≤ 2``.
    """

    name = "parabolic"
    default_field = "symmetric"


@register_scheme
class AntisymmetricBlock(EulerBlock):
    """Antisymmetric network: forward Euler on ``σ((W − Wᵀ − γI) y + b)``.

    Order 1, explicit (Haber & Ruthotto 2017; Chang et al. 2019, AntisymmetricRNN). The
    default field's eigenvalues lie on the imaginary axis for ``γ = 0``, where forward Euler
    is only marginally unstable; ``γ > 0`` shifts them into the stability disc.
    """

    name = "antisymmetric"
    default_field = "antisymmetric"
    default_field_kwargs = ({"gamma": 0.1},)
