"""IMEXnet (Haber et al. 2019): an explicit learned field and an exact implicit linear solve."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_positive_int
from ..fields._ops import check_kernel_size
from ..registry import register_scheme
from ..stability import IMEXStability
from .base import ImplicitBlock

IMEX_R = IMEXStability(
    (1.0, 1.0),
    formula="R = (1 + z_e)/(1 − z_i)",
    argument="z_e = h·λ(∂F/∂y)",
    implicit_argument="z_i = h·λ(−LᵀL) ≤ 0",
)
OPERATORS = ("depthwise", "full")
_CONV = {1: F.conv1d, 2: F.conv2d}


@register_scheme
class ImexBlock(ImplicitBlock):
    """IMEX Euler (IMEXnet; Haber, Lensink, Treister & Ruthotto 2019).

    ``y⁺ = (I + h LᵀL)⁻¹ (y + h F(y))``: forward Euler on the learned field ``F`` (default
    the symmetric layer ``−Kᵀσ(N(Ky))``) and backward Euler on ``−LᵀL``, a learned linear
    operator. Order 1, one stage; discretises ``y' = F(y) − LᵀL y``. Stability
    ``R = (1 + z_e)/(1 − z_i)`` with ``z_i = hλ(−LᵀL) ≤ 0``: the implicit part is
    unconditionally stable, so a stiff ``L`` does not limit ``h``.

    ``L`` is a convolution with periodic boundaries (``kernel_size``, default 3), either one
    kernel per channel (``operator="depthwise"``, the paper's choice) or channel-mixing
    (``operator="full"``). Periodic convolutions are diagonalised by the FFT, so the solve is
    exact: an elementwise division per channel, ``ŷ⁺(ω) = r̂(ω)/(1 + h|L̂(ω)|²)``, or a
    ``C×C`` Hermitian solve per frequency; it is differentiable (``torch.fft``). On dense
    states (``ndim=0``) ``L`` is a diagonal (``depthwise``) or ``C×C`` matrix and the solve
    is elementwise or ``torch.linalg.solve``.

    ``channels`` and ``ndim`` default to those of the field, read from its first weight of
    shape ``(out, in, *kernel)`` (conv) or ``(out, in)`` (dense); pass them for other fields.
    """

    name = "imex"
    order = 1
    default_field = "symmetric"
    carried_parameters = ("weight",)  # L

    def __init__(
        self,
        fields,
        h: float,
        operator: str = "depthwise",
        kernel_size: int = 3,
        channels: int | None = None,
        ndim: int | None = None,
    ):
        super().__init__(fields, h)
        self.operator = check_choice(operator, OPERATORS, "IMEX operator")
        inferred = _field_layout(self.field) if channels is None or ndim is None else None
        self.channels = check_positive_int(channels or inferred[0], "IMEX channels")
        self.ndim = inferred[1] if ndim is None else ndim
        if self.ndim not in (0, 1, 2):
            raise ValueError(f"IMEX ndim must be 0 (dense), 1 or 2, got {self.ndim!r}")
        self.kernel_size = 1 if self.ndim == 0 else check_kernel_size(kernel_size)
        c = self.channels
        shape = (c, 1 if operator == "depthwise" else c) + (self.kernel_size,) * self.ndim
        if self.ndim == 0 and operator == "depthwise":
            shape = (c,)  # a diagonal matrix
        fan_in = math.prod(shape[1:])  # as torch's conv init: U(±1/√fan_in)
        weight = torch.empty(shape).uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        self.weight = nn.Parameter(weight)

    @classmethod
    def declared_stability(cls):
        return IMEX_R

    # --------------------------------------------------------------------------- the operator
    def operator_symbol(self, spatial_shape, onesided: bool = True) -> torch.Tensor:
        """``L̂(ω)``: the Fourier symbol of the periodic convolution ``L`` on this grid.

        Shape ``(C, *freq)`` (depthwise) or ``(*freq, C, C)`` (full), ``freq`` the
        ``rfftn`` half-spectrum when ``onesided`` else the full ``fftn`` grid.
        """
        self._check_spatial(tuple(spatial_shape))
        r = self.kernel_size // 2
        dims = tuple(range(-self.ndim, 0))
        pad = []
        for n in reversed(spatial_shape):
            pad += [0, n - self.kernel_size]
        # (Ly)[x] = Σ_a w[a] y[x + a − r]: the kernel sits at offsets a − r; the symbol is
        # Σ_a w[a] e^{+iω(a−r)}, the conjugate of the FFT of the kernel placed at a − r.
        kernel = torch.roll(F.pad(self.weight, pad), shifts=(-r,) * self.ndim, dims=dims)
        fft = torch.fft.rfftn if onesided else torch.fft.fftn
        symbol = fft(kernel, dim=dims).conj()
        if self.operator == "depthwise":
            return symbol[:, 0]
        return symbol.permute(*range(2, 2 + self.ndim), 0, 1)

    def apply_operator(self, y: torch.Tensor) -> torch.Tensor:
        """``L y`` with periodic boundaries (a circular convolution, or a matrix on vectors)."""
        self._check_input(y)
        if self.ndim == 0:
            return y * self.weight if self.operator == "depthwise" else y @ self.weight.t()
        r = self.kernel_size // 2
        padded = F.pad(y, (r, r) * self.ndim, mode="circular")
        groups = self.channels if self.operator == "depthwise" else 1
        return _CONV[self.ndim](padded, self.weight, groups=groups)

    def implicit_eigenvalues(self, spatial_shape=()) -> torch.Tensor:
        """All eigenvalues of the implicit operator ``−LᵀL`` on states of this spatial shape.

        Exact by FFT: ``−|L̂(ω)|²`` per channel and frequency (depthwise), the eigenvalues of
        ``−L̂(ω)ᴴL̂(ω)`` per frequency (full), or of ``−LᵀL`` on dense states; a 1-D tensor
        of length ``C · prod(spatial_shape)``, all ``≤ 0``. ``h`` times them is ``z_i``.
        """
        with torch.no_grad():
            if self.ndim == 0:
                if self.operator == "depthwise":
                    return -self.weight.pow(2)
                return -torch.linalg.eigvalsh(self.weight.t() @ self.weight)
            symbol = self.operator_symbol(spatial_shape, onesided=False)
            if self.operator == "depthwise":
                return -symbol.abs().pow(2).reshape(-1)
            gram = symbol.conj().transpose(-1, -2) @ symbol
            return -torch.linalg.eigvalsh(gram).reshape(-1)

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """``(I + h LᵀL)⁻¹ rhs``, exact (FFT under periodic boundaries), differentiable."""
        self._check_input(rhs)
        h = self.h
        if self.ndim == 0:
            if self.operator == "depthwise":
                return rhs / (1 + h * self.weight.pow(2))
            eye = torch.eye(self.channels, dtype=rhs.dtype, device=rhs.device)
            system = eye + h * self.weight.t() @ self.weight
            return torch.linalg.solve(system, rhs.t()).t()
        spatial = tuple(rhs.shape[2:])
        dims = tuple(range(-self.ndim, 0))
        rhs_hat = torch.fft.rfftn(rhs, dim=dims)
        symbol = self.operator_symbol(spatial)
        if self.operator == "depthwise":  # 1/(1 + h|L̂|²) is real: scale, do not divide
            y_hat = rhs_hat * (1 + h * (symbol.real.pow(2) + symbol.imag.pow(2))).reciprocal()
        else:
            eye = torch.eye(self.channels, dtype=symbol.dtype, device=symbol.device)
            system = eye + h * (symbol.conj().transpose(-1, -2) @ symbol)  # (*freq, C, C)
            columns = rhs_hat.permute(*range(2, 2 + self.ndim), 1, 0)  # (*freq, C, B)
            y_hat = torch.linalg.solve(system, columns).permute(-1, -2, *range(self.ndim))
        return torch.fft.irfftn(y_hat, s=spatial, dim=dims)

    def step(self, y: torch.Tensor) -> torch.Tensor:
        self._check_input(y)
        return self.solve(y + self.h * self.field(y))

    # ------------------------------------------------------------------ refinement and swaps
    def swap_refusal(self, target) -> str | None:
        if issubclass(target, ImexBlock):
            return None
        return (
            f"'imex' discretises y' = F(y) − LᵀL y and {target.name!r} has no implicit operator "
            f"to hold the trained L (swap to 'imex' with other steps instead)"
        )

    def carry_from(self, source) -> None:
        """The source's ``L`` if it has one, else ``L = 0``: the same ODE ``y' = F(y)``."""
        super().carry_from(source)
        if "weight" not in source.carried_parameters:
            with torch.no_grad():
                self.weight.zero_()

    # --------------------------------------------------------------------------- validation
    def _check_spatial(self, spatial: tuple[int, ...]) -> None:
        if len(spatial) != self.ndim or any(n < self.kernel_size for n in spatial):
            raise ValueError(
                f"IMEX block: the FFT solve of a periodic {self.kernel_size}-point operator "
                f"needs {self.ndim} spatial dimension(s), each of size >= {self.kernel_size}; "
                f"got spatial shape {spatial}"
            )

    def _check_input(self, y: torch.Tensor) -> None:
        if y.dim() != self.ndim + 2 or y.shape[1] != self.channels:
            layout = "(B, C)" if self.ndim == 0 else "(B, C" + ", N" * self.ndim + ")"
            raise ValueError(
                f"IMEX block expects states of shape {layout} with C={self.channels}, "
                f"got {tuple(y.shape)}"
            )
        if self.ndim:
            self._check_spatial(tuple(y.shape[2:]))

    def extra_repr(self) -> str:
        return (
            f"h={self.h:g}, operator={self.operator!r}, L={tuple(self.weight.shape)}, "
            f"ndim={self.ndim}"
        )


def _field_layout(field: nn.Module) -> tuple[int, int]:
    """``(channels, ndim)`` of a field from its first weight ``(out, in, *kernel)``."""
    for p in field.parameters():
        if p.dim() >= 2:
            return p.shape[1], p.dim() - 2
    raise ValueError(
        f"IMEX block cannot read the state layout from a {type(field).__name__} field (no "
        f"weight of shape (out, in, *kernel)); pass channels= and ndim="
    )
