"""The residual branch of a ResNet: ``F(y) = K₂ σ(N(K₁ y))`` (conv–norm–act–conv)."""

from __future__ import annotations

from torch import nn

from ..registry import register_field
from ._ops import check_ndim, make_activation, make_conv, make_norm


@register_field("residual")
class ResidualBranch(nn.Module):
    """conv–norm–act–conv (``ndim`` 1 or 2) or linear–norm–act–linear (``ndim`` 0).

    This is He et al.'s residual function; forward Euler on it is a ResNet block.
    ``width`` is the hidden width (defaults to ``channels``).
    """

    def __init__(
        self,
        channels: int,
        ndim: int = 2,
        width: int | None = None,
        kernel_size: int = 3,
        norm: str | None = "batch",
        act: str = "relu",
    ):
        super().__init__()
        check_ndim(ndim)
        width = width or channels
        self.conv1 = make_conv(channels, width, ndim, kernel_size, bias=norm in (None, "none"))
        self.norm = make_norm(norm, width, ndim)
        self.act = make_activation(act)
        self.conv2 = make_conv(width, channels, ndim, kernel_size, bias=True)

    def forward(self, y):
        return self.conv2(self.act(self.norm(self.conv1(y))))
