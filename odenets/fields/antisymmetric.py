"""The antisymmetric layer ``F(y) = σ(N((W − Wᵀ − γI) y + b))`` (Haber & Ruthotto 2017).

``W − Wᵀ`` is skew-adjoint, so for ``γ = 0`` (and ``N`` the identity) the Jacobian
``D (W − Wᵀ)`` has purely imaginary eigenvalues whenever ``D = diag σ′`` is constant; ``γ > 0``
shifts them into the left half-plane (``Re λ ∈ [−γ max σ′, −γ min σ′]``), so forward Euler is
stable for ``h ≲ 2γσ′/|λ|²`` — a step bound, not stability for every step. Chang et al.'s midpoint
layer ``σ(K_j y + b)`` with ``K_j = [[0, K₁], [−K₁ᵀ, 0]]`` is the special case of a
block-off-diagonal ``W``. For convolutions ``Wᵀ`` is the transposed convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import register_field
from ._ops import (
    apply_op,
    apply_op_transpose,
    channel_bias_shape,
    check_kernel_size,
    check_ndim,
    make_activation,
    make_norm,
    new_operator_weight,
)


@register_field("antisymmetric")
class AntisymmetricLayer(nn.Module):
    def __init__(
        self,
        channels: int,
        ndim: int = 2,
        kernel_size: int = 3,
        gamma: float = 0.0,
        norm: str | None = None,
        act: str = "tanh",
    ):
        super().__init__()
        self.ndim = check_ndim(ndim)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0 (it damps the spectrum), got {gamma!r}")
        self.gamma = float(gamma)
        kernel_size = 1 if ndim == 0 else check_kernel_size(kernel_size)
        self.weight = new_operator_weight(channels, channels, ndim, kernel_size)
        self.bias = nn.Parameter(torch.zeros(channel_bias_shape(channels, ndim)))
        self.norm = make_norm(norm, channels, ndim)
        self.act = make_activation(act)

    def skew(self, y: torch.Tensor) -> torch.Tensor:
        """``(W − Wᵀ − γI) y``."""
        weight = self.weight
        out = apply_op(weight, y, self.ndim) - apply_op_transpose(weight, y, self.ndim)
        return out - self.gamma * y if self.gamma else out

    def forward(self, y):
        return self.act(self.norm(self.skew(y) + self.bias))

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, gamma={self.gamma:g}"
