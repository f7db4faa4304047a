"""Moment-constrained convolution filters (PDE-Net, Long, Lu, Ma & Dong 2018; PDE-Net 2.0, 2019).

A ``N × N`` filter ``q`` applied as a cross-correlation on a grid of steps ``(δx, δy)``,
``(q ⋆ u)(x, y) = Σ_{a,b} q[a, b] u(x + l_b δx, y + l_a δy)`` with offsets
``l = −(N−1)/2 … (N−1)/2``, has by Taylor expansion

    q ⋆ u = Σ_{i,j ≥ 0} M[i, j] δx^i δy^j ∂x^i ∂y^j u,
    M[i, j] = 1/(i! j!) Σ_{a,b} q[a, b] l_b^i l_a^j        (the moment matrix, i, j < N).

``M = Pₓ qᵀ P_yᵀ`` with the invertible Vandermonde-type matrices ``P[i, b] = l_b^i / i!``, so
``q`` and ``M`` determine each other. A filter approximates ``∂x^p ∂y^r`` to order ``s`` when
``M[p, r] = 1/(δx^p δy^r)``-scaled to one and every other moment of total order
``i + j < p + r + s`` is zero (PDE-Net's constraint, ``accuracy = s``, their default ``s = 1``);
the moments of higher order are free parameters (learned, or zero for a frozen filter, which
then is the finite-difference stencil of that accuracy). On a polynomial of total degree below
``p + r + s`` the filter returns the exact derivative.

A derivative ``∂x^p ∂y^r`` is representable by an ``N``-point kernel only when ``p < N`` and
``r < N``; asking for more raises. ``x`` is the last (width) axis, ``y`` the height axis.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int, check_step
from ..registry import register_field
from ._ops import check_kernel_size

Order = tuple[int, int]
PADDINGS = ("circular", "zeros", "replicate")


def moment_transform(kernel_size: int, dtype=torch.float64) -> torch.Tensor:
    """``P[i, b] = l_b^i / i!`` for the offsets ``l_b = b − (N−1)/2``: ``M = P qᵀ Pᵀ`` (square)."""
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    powers = torch.arange(kernel_size, dtype=torch.float64)
    factorials = torch.tensor([math.factorial(i) for i in range(kernel_size)], dtype=torch.float64)
    return (offsets[None, :] ** powers[:, None] / factorials[:, None]).to(dtype)


def moment_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """``M[..., i, j]`` (``i``: power of x, ``j``: power of y) of kernels ``(..., N, N)``."""
    n = kernel.shape[-1]
    p = moment_transform(n, kernel.dtype).to(kernel.device)
    return p @ kernel.transpose(-1, -2) @ p.transpose(0, 1)


def kernel_from_moments(moments: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`moment_matrix`: ``qᵀ = P⁻¹ M P⁻ᵀ``."""
    n = moments.shape[-1]
    p_inv = torch.linalg.inv(moment_transform(n)).to(moments.device, moments.dtype)
    return (p_inv @ moments @ p_inv.transpose(0, 1)).transpose(-1, -2)


def check_orders(orders, kernel_size: int) -> tuple[Order, ...]:
    """Derivative orders ``(p, r)`` (``∂x^p ∂y^r``), each representable by the kernel size."""
    if isinstance(orders, tuple) and len(orders) == 2 and all(isinstance(o, int) for o in orders):
        orders = [orders]
    checked = []
    for order in orders:
        if (
            not isinstance(order, (tuple, list))
            or len(order) != 2
            or any(isinstance(o, bool) or not isinstance(o, int) or o < 0 for o in order)
        ):
            raise ValueError(
                f"a derivative order is a pair (p, r) of non-negative integers for "
                f"∂x^p ∂y^r, got {order!r}"
            )
        p, r = order
        if max(p, r) >= kernel_size:
            raise ValueError(
                f"a {kernel_size}×{kernel_size} kernel cannot represent ∂x^{p} ∂y^{r}: its "
                f"moment matrix holds orders up to {kernel_size - 1} per axis; use an odd "
                f"kernel_size ≥ {max(p, r) + 1 + max(p, r) % 2} "
                f"or a lower order"
            )
        checked.append((p, r))
    if not checked:
        raise ValueError("at least one derivative order is needed")
    if len(set(checked)) != len(checked):
        raise ValueError(f"derivative orders must be distinct, got {checked}")
    return tuple(checked)


def constraint_mask(order: Order, kernel_size: int, accuracy: int) -> torch.Tensor:
    """``True`` where a moment is fixed: total order ``i + j < p + r + accuracy``."""
    i = torch.arange(kernel_size)[:, None]
    j = torch.arange(kernel_size)[None, :]
    return (i + j) < sum(order) + accuracy


@register_field("moment")
class MomentConv2d(nn.Module):
    """Derivative filters ``D_α`` constrained through their moments, and the field ``Σ c_α D_α u``.

    ``derivatives(u)`` maps ``(B, C, H, W)`` to ``(B, C, len(orders), H, W)``: each channel
    filtered by each of the ``orders`` (``(p, r)`` for ``∂x^p ∂y^r``, scaled by
    ``1/(δx^p δy^r)``). ``forward(u) = Σ_α c_{α, channel} D_α u`` with learnable coefficients
    ``c`` (a linear constant-coefficient PDE ``∂ₜu = Σ c_α ∂^α u``; PDE-Net 1.0's form), so the
    module is a plain zoo field: ``create_block("euler", MomentConv2d(1, orders=[(2, 0), (0, 2)]),
    h=dt)`` is forward Euler on it. ``learn_moments=False`` freezes the filters to the finite
    differences of the given ``accuracy`` (PDE-Net 2.0's ``constraint: frozen``).
    """

    def __init__(
        self,
        channels: int,
        ndim: int = 2,
        orders=((1, 0), (0, 1), (2, 0), (1, 1), (0, 2)),
        kernel_size: int = 5,
        dx: float | tuple[float, float] = 1.0,
        accuracy: int = 1,
        learn_moments: bool = True,
        padding: str = "circular",
        coefficients: torch.Tensor | None = None,
    ):
        super().__init__()
        if ndim != 2:
            raise ValueError(f"MomentConv2d acts on 2-D fields (ndim=2), got ndim={ndim!r}")
        self.channels = check_positive_int(channels, "channels")
        self.kernel_size = check_kernel_size(kernel_size)
        self.orders = check_orders(orders, kernel_size)
        self.accuracy = check_positive_int(accuracy, "accuracy")
        dx = (dx, dx) if not isinstance(dx, (tuple, list)) else tuple(dx)
        self.dx = tuple(check_step(d, "grid step dx") for d in dx)
        if padding not in PADDINGS:
            raise ValueError(f"Unknown padding {padding!r}; allowed: {list(PADDINGS)}")
        self.padding = padding
        masks = torch.stack([constraint_mask(o, kernel_size, accuracy) for o in self.orders])
        targets = torch.zeros(len(self.orders), kernel_size, kernel_size, dtype=torch.float64)
        for k, (p, r) in enumerate(self.orders):
            targets[k, p, r] = 1.0
        self.register_buffer("fixed_mask", masks)
        self.register_buffer("fixed_moments", targets.float())
        free = torch.zeros(len(self.orders), kernel_size, kernel_size)
        self.free_moments = nn.Parameter(free, requires_grad=learn_moments)
        init = torch.zeros(channels, len(self.orders)) if coefficients is None else coefficients
        if tuple(init.shape) != (channels, len(self.orders)):
            raise ValueError(
                f"coefficients must have shape (channels, len(orders)) = "
                f"{(channels, len(self.orders))}, got {tuple(init.shape)}"
            )
        self.coefficients = nn.Parameter(init.clone().float())

    @property
    def moments(self) -> torch.Tensor:
        """Moment matrices ``(len(orders), N, N)``: fixed entries exact, the others free."""
        return torch.where(self.fixed_mask, self.fixed_moments, self.free_moments)

    @property
    def kernels(self) -> torch.Tensor:
        """The filters ``(len(orders), N, N)`` scaled by ``1/(δx^p δy^r)``."""
        scale = torch.tensor(
            [1.0 / (self.dx[0] ** p * self.dx[1] ** r) for p, r in self.orders],
            dtype=self.free_moments.dtype,
            device=self.free_moments.device,
        )
        return kernel_from_moments(self.moments) * scale[:, None, None]

    def derivatives(self, u: torch.Tensor) -> torch.Tensor:
        if u.dim() != 4 or u.shape[1] != self.channels:
            raise ValueError(
                f"MomentConv2d expects fields (batch, {self.channels}, H, W), got shape "
                f"{tuple(u.shape)}"
            )
        b, c, h, w = u.shape
        pad = self.kernel_size // 2
        flat = u.reshape(b * c, 1, h, w)
        if self.padding == "zeros":
            flat = F.pad(flat, (pad,) * 4)
        else:
            flat = F.pad(flat, (pad,) * 4, mode=self.padding)
        out = F.conv2d(flat, self.kernels.to(u.dtype)[:, None])
        return out.reshape(b, c, len(self.orders), h, w)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        coeffs = self.coefficients.to(u.dtype)[None, :, :, None, None]
        return (coeffs * self.derivatives(u)).sum(dim=2)

    def moment_penalty(self) -> torch.Tensor:
        """``Σ |free moments|`` (PDE-Net's moment sparsity, their Huber-smoothed ℓ¹)."""
        return huber_l1(self.free_moments[~self.fixed_mask], 1e-2)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, orders={list(self.orders)}, "
            f"kernel_size={self.kernel_size}, accuracy={self.accuracy}, dx={self.dx}"
        )


def huber_l1(p: torch.Tensor, s: float) -> torch.Tensor:
    """``Σ ρ_s(p)``, ``ρ_s(x) = x²/(2s)`` if ``|x| < s`` else ``|x| − s/2`` (PDE-Net's sparsity)."""
    a = p.abs()
    return torch.where(a < s, 0.5 / s * a**2, a - s / 2).sum()
