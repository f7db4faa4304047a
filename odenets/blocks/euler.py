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

    Order 1, explicit. Without normalisation (or with a normalisation of non-negative
    scale) the default field's Jacobian ``−KᵀDK`` (``D = diag σ′ ≥ 0``) is symmetric
    negative semi-definite, so its eigenvalues are real and ``≤ 0``: the step is a discrete
    heat equation, stable iff ``h λ_max(KᵀDK) ≤ 2``. A learned BatchNorm/GroupNorm scale may
    turn negative and break this (one weight of −0.8 gave ``λ_max = +0.597``): the claim is
    not enforced; ``odenets.diagnostics`` measures it.
    """

    name = "parabolic"
    default_field = "symmetric"


@register_scheme
class AntisymmetricBlock(EulerBlock):
    """Antisymmetric network: forward Euler on ``σ((W − Wᵀ − γI) y + b)``.

    Order 1, explicit (Haber & Ruthotto 2017; Chang et al. 2019, AntisymmetricRNN). With
    ``D = diag σ′`` the Jacobian is ``D (W − Wᵀ − γI)``; its eigenvalues have
    ``Re λ ∈ [−γ max σ′, −γ min σ′]`` and imaginary parts up to ``max σ′ ‖W − Wᵀ‖``. Forward
    Euler is stable iff ``|1 + hλ| ≤ 1`` for all of them, i.e. ``h ≤ −2 Re λ / |λ|²`` ≈
    ``2γσ′ / |λ|²``: ``γ > 0`` makes Euler stable only for a small enough step, not for any
    step. The zoo's default (``γ = 0.1``, the papers' setting) with ``h = 1/3`` in the small
    variants is *outside* the region at initialisation: ``antisymmetric_digits`` measures
    ``h* = 0.085–0.099`` and ``max|R| = 1.08`` per block (``odenets.diagnostics``, seed 0).
    The default is kept because it is the published layout and trains (digits 94.5 %);
    pass ``field_kwargs`` with a larger ``γ`` or more steps to be stable from the start.
    """

    name = "antisymmetric"
    default_field = "antisymmetric"
    default_field_kwargs = ({"gamma": 0.1},)
