"""Linear operators ``K`` and their adjoints ``Kᵀ`` for dense (ndim 0), 1-D and 2-D states.

A convolution with stride 1 and zero padding ``k // 2`` has as adjoint the transposed
convolution with the same weight and padding; a dense map ``K`` has ``Kᵀ`` its transpose.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
_BATCHNORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}
NORMS = ("batch", "none")


def check_ndim(ndim: int) -> int:
    if ndim not in (0, 1, 2):
        raise ValueError(f"ndim must be 0 (dense vectors), 1 (signals) or 2 (images), got {ndim!r}")
    return ndim


def check_kernel_size(kernel_size: int) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd so that the convolution keeps the state size, "
            f"got {kernel_size}"
        )
    return kernel_size


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; allowed: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def make_norm(name: str | None, channels: int, ndim: int) -> nn.Module:
    if name in (None, "none"):
        return nn.Identity()
    if name == "batch":
        return _BATCHNORM[ndim](channels)
    raise ValueError(f"Unknown norm {name!r}; allowed: {list(NORMS)}")


def make_conv(in_channels, out_channels, ndim, kernel_size=3, bias=True) -> nn.Module:
    """A shape-preserving conv (ndim 1/2) or a dense layer (ndim 0)."""
    check_ndim(ndim)
    if ndim == 0:
        return nn.Linear(in_channels, out_channels, bias=bias)
    conv = nn.Conv1d if ndim == 1 else nn.Conv2d
    check_kernel_size(kernel_size)
    return conv(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


def new_operator_weight(out_channels, in_channels, ndim, kernel_size) -> nn.Parameter:
    """Weight of ``K: in → out`` with Kaiming-uniform init (as torch's conv/linear)."""
    shape = (out_channels, in_channels) + (kernel_size,) * ndim
    weight = torch.empty(shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return nn.Parameter(weight)


def apply_op(weight: torch.Tensor, y: torch.Tensor, ndim: int) -> torch.Tensor:
    """``K y`` for the operator with this weight."""
    if ndim == 0:
        return F.linear(y, weight)
    return _CONV[ndim](y, weight, padding=weight.shape[-1] // 2)


def apply_op_transpose(weight: torch.Tensor, y: torch.Tensor, ndim: int) -> torch.Tensor:
    """``Kᵀ y``: the adjoint of :func:`apply_op` with the same weight."""
    if ndim == 0:
        return F.linear(y, weight.t())
    return _CONV_T[ndim](y, weight, padding=weight.shape[-1] // 2)


def channel_bias_shape(channels: int, ndim: int) -> tuple[int, ...]:
    return (channels,) + (1,) * ndim
