"""The symmetric layer ``F(y) = −Kᵀ σ(N(K y + b))`` of Ruthotto & Haber (2018).

With ``N`` the identity (or any per-channel map with non-negative slope — a normalisation
whose learned scale stays ``≥ 0``; this is not enforced) the Jacobian
``−Kᵀ D K`` (``D = diag σ′ ≥ 0``) is symmetric negative semi-definite: forward Euler on it
is a discrete heat equation ("parabolic" network), stable for ``h λ_max(KᵀDK) ≤ 2``.
``sign=+1`` gives ``+Kᵀσ(Ky + b)``, the force of the Hamiltonian ``Y`` update.

Initialisation: ``K`` (``width × channels``) starts Kaiming-uniform with the fan-in of ``Kᵀ``
(``width``), so that ``KᵀK`` has entries of the same size whatever the width. With the fan-in
of ``K`` alone (``channels``) its diagonal grows like ``width / (3·channels)``: a dense
Hamiltonian field of width 200 on a 1-D position/momentum split started at a linear frequency
ω ≈ 67, far outside its stability interval ``hω ≤ 2`` at ``h = 0.1``. When ``width`` equals
``channels`` (every image layout) the initialisation is unchanged.
"""

from __future__ import annotations

import math

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


@register_field("symmetric")
class SymmetricLayer(nn.Module):
    """``sign · Kᵀ σ(N(K y + b))`` with ``K`` a conv (ndim 1/2) or dense map (ndim 0).

    ``bias=False`` drops ``b`` (redundant before a normalisation with its own shift, as in
    Ruthotto & Haber's layers, where the norm's affine shift plays its role).
    """

    def __init__(
        self,
        channels: int,
        ndim: int = 2,
        width: int | None = None,
        kernel_size: int = 3,
        norm: str | None = "batch",
        act: str = "relu",
        sign: int = -1,
        bias: bool = True,
    ):
        super().__init__()
        self.ndim = check_ndim(ndim)
        if sign not in (-1, 1):
            raise ValueError(f"sign must be -1 or +1, got {sign!r}")
        self.sign = sign
        width = width or channels
        kernel_size = 1 if ndim == 0 else check_kernel_size(kernel_size)
        self.weight = new_operator_weight(width, channels, ndim, kernel_size)
        if width != channels:  # fan-in of Kᵀ: KᵀK independent of the width
            with torch.no_grad():
                self.weight.mul_(math.sqrt(channels / width))
        bias_shape = channel_bias_shape(width, ndim)
        self.register_parameter("bias", nn.Parameter(torch.zeros(bias_shape)) if bias else None)
        self.norm = make_norm(norm, width, ndim)
        self.act = make_activation(act)

    def forward(self, y):
        weight = self.weight
        hidden = apply_op(weight, y, self.ndim)
        if self.bias is not None:
            hidden = hidden + self.bias
        hidden = self.act(self.norm(hidden))
        return self.sign * apply_op_transpose(weight, hidden, self.ndim)

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, sign={self.sign:+d}"
