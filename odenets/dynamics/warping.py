"""Advection–diffusion warping (de Bézenac, Pajot & Gallinari, ICLR 2018).

For ``∂ₜI + w·∇I = DΔI`` with a velocity ``w`` constant over one step ``Δt``, the exact
solution is the transported image convolved with the heat kernel,

    I_{t+Δt}(x) = Σ_y k(x − w, y) I_t(y),    k(x, y) ∝ exp(−‖x − y‖² / (4DΔt)),

with ``w`` here the displacement over the step in pixels. :func:`warp` evaluates it for a
velocity that varies in space (the paper's model): at each ``x`` the kernel is centred on the
departure point ``x − w(x)`` (``mode="backward"``, semi-Lagrangian: exact for constant ``w``,
preserves constants, but does not conserve mass where ``∇·w ≠ 0``), or each source pixel ``y``
is moved to ``y + w(y)`` and spread by the kernel (``mode="forward"``, a particle scheme: mass
is conserved to round-off for any ``w``). The kernel is truncated to ``2R × 2R`` taps around the
centre (truncation ``~exp(−R² / (4DΔt))``) and normalised to sum to one.

:class:`WarpingModel` is the paper's predictor: an encoder–decoder (:class:`UNet`) maps the
last ``k`` frames to ``w``, the last frame is warped. :func:`flow_regularisers` are their
penalties on ``w`` (divergence, magnitude, smoothness; coefficients 1, −0.003, 0.4 in their
code ``emited/flow``, the magnitude one negative there).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int, check_step

BOUNDARIES = ("periodic", "replicate")
MODES = ("backward", "forward")


def default_radius(diffusion: float) -> int:
    """Half-width ``R`` of the truncated kernel: ``R ≥ 3σ + 1`` with ``σ² = 2DΔt``."""
    return max(2, math.ceil(3 * math.sqrt(2 * diffusion)) + 1)


def check_velocity(image: torch.Tensor, velocity: torch.Tensor) -> None:
    if image.dim() != 4:
        raise ValueError(f"the image must be (batch, channels, H, W), got {tuple(image.shape)}")
    b, _, h, w = image.shape
    if velocity.dim() != 4 or tuple(velocity.shape) != (b, 2, h, w):
        raise ValueError(
            f"the velocity field must be (batch, 2, H, W) = {(b, 2, h, w)} for an image of shape "
            f"{tuple(image.shape)} (channel 0: displacement along x/width, 1: along y/height, in "
            f"pixels per step), got shape {tuple(velocity.shape)}"
        )


def _taps(centre_x, centre_y, radius, diffusion, h, w, boundary):
    """Integer source indices and unnormalised Gaussian weights around the given centres."""
    offsets = torch.arange(1 - radius, radius + 1, device=centre_x.device)
    base_x, base_y = torch.floor(centre_x), torch.floor(centre_y)
    ix = base_x[..., None, None] + offsets[None, :]  # (B, H, W, 1, 2R)
    iy = base_y[..., None, None] + offsets[:, None]  # (B, H, W, 2R, 1)
    dist2 = (centre_x[..., None, None] - ix) ** 2 + (centre_y[..., None, None] - iy) ** 2
    weights = torch.exp(-dist2 / (4 * diffusion))
    ix, iy = ix.long(), iy.long()
    if boundary == "periodic":
        ix, iy = ix % w, iy % h
    else:
        ix, iy = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    index = (iy * w + ix).expand_as(weights)
    return index.flatten(-2), weights.flatten(-2)  # (B, H, W, 4R²)


def warp(image: torch.Tensor, velocity: torch.Tensor, diffusion: float, *,
         radius: int | None = None, boundary: str = "periodic",
         mode: str = "backward") -> torch.Tensor:  # fmt: skip
    """One advection–diffusion step of ``image`` ``(B, C, H, W)`` by ``velocity`` ``(B, 2, H, W)``.

    ``diffusion`` is ``DΔt`` in pixels² (the kernel's variance per axis is ``2DΔt``).
    """
    check_velocity(image, velocity)
    diffusion = check_step(diffusion, "diffusion DΔt (pixels²)")
    if boundary not in BOUNDARIES:
        raise ValueError(f"Unknown boundary {boundary!r}; allowed: {list(BOUNDARIES)}")
    if mode not in MODES:
        raise ValueError(f"Unknown warp mode {mode!r}; allowed: {list(MODES)}")
    radius = default_radius(diffusion) if radius is None else check_positive_int(radius, "radius")
    b, c, h, w = image.shape
    gy, gx = torch.meshgrid(
        torch.arange(h, dtype=image.dtype, device=image.device),
        torch.arange(w, dtype=image.dtype, device=image.device),
        indexing="ij",
    )
    sign = -1.0 if mode == "backward" else 1.0
    centre_x = gx + sign * velocity[:, 0].to(image.dtype)
    centre_y = gy + sign * velocity[:, 1].to(image.dtype)
    index, weights = _taps(centre_x, centre_y, radius, diffusion, h, w, boundary)
    weights = weights / weights.sum(-1, keepdim=True)
    flat = image.reshape(b, c, h * w)
    if mode == "backward":  # Î(x) = Σ_y k(x − w(x), y) I(y)
        gathered = torch.gather(flat, 2, index.reshape(b, 1, -1).expand(b, c, -1))
        out = (gathered.reshape(b, c, h, w, -1) * weights[:, None]).sum(-1)
        return out
    # forward: Î(x) = Σ_y k(y + w(y), x) I(y), each source's mass spread with unit total weight
    contrib = (flat.reshape(b, c, h, w, 1) * weights[:, None]).reshape(b, c, -1)
    targets = index.reshape(b, 1, -1).expand(b, c, -1)
    out = flat.new_zeros(b, c, h * w).scatter_add(2, targets, contrib)
    return out.reshape(b, c, h, w)


# ------------------------------------------------------------------------------ regularisers
def _grad(field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences along x (width) and y (height), one-sided at the edges."""
    dx = torch.gradient(field, dim=-1)[0]
    dy = torch.gradient(field, dim=-2)[0]
    return dx, dy


def divergence(velocity: torch.Tensor) -> torch.Tensor:
    """``∇·w = ∂x w_x + ∂y w_y`` (central differences), shape ``(B, H, W)``."""
    return _grad(velocity[:, 0])[0] + _grad(velocity[:, 1])[1]


def flow_regularisers(velocity: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean ``(∇·w)²``, ``‖w‖²`` and ``‖∇w‖²`` over the grid (the paper's three penalties)."""
    gx, gy = _grad(velocity)
    return {
        "divergence": divergence(velocity).pow(2).mean(),
        "magnitude": velocity.pow(2).sum(1).mean(),
        "smoothness": (gx.pow(2) + gy.pow(2)).sum(1).mean(),
    }


# ------------------------------------------------------------------------------------ models
def _conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.GroupNorm(4 if cout % 4 == 0 else 1, cout),
        nn.LeakyReLU(0.1),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.1),
    )


class UNet(nn.Module):
    """A small U-Net: ``levels`` poolings, ``width·2^l`` channels, skip connections.

    The encoder–decoder of the paper's velocity estimator (theirs: 8 conv + 8 deconv layers;
    this one is shallower to fit a CPU budget). Input ``(B, in, H, W)``, ``H, W`` divisible by
    ``2^levels``.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 16, levels: int = 3):
        super().__init__()
        self.levels = check_positive_int(levels, "levels")
        widths = [width * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList([_conv_block(in_channels, widths[0])])
        self.down.extend(_conv_block(widths[i], widths[i + 1]) for i in range(levels))
        self.up = nn.ModuleList(
            _conv_block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(levels))
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x):
        size = 2**self.levels
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(
                f"UNet with {self.levels} levels needs H and W divisible by {size}, got "
                f"{tuple(x.shape[-2:])}"
            )
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = block(torch.cat([F.interpolate(x, scale_factor=2, mode="bilinear"), skip], 1))
        return self.head(x)


class WarpingModel(nn.Module):
    """``w = UNet(I_{t−k+1..t})``, ``Î_{t+1} = warp(I_t, w, DΔt)`` (de Bézenac et al. 2018).

    ``forward(frames)`` returns ``(next_frame, w)``; :func:`rollout` iterates it.
    """

    def __init__(self, frames: int = 4, diffusion: float = 0.5, width: int = 16,
                 levels: int = 3, boundary: str = "replicate"):  # fmt: skip
        super().__init__()
        self.frames = check_positive_int(frames, "frames")
        self.diffusion = check_step(diffusion, "diffusion DΔt (pixels²)")
        self.boundary = boundary
        self.estimator = UNet(frames, 2, width, levels)

    def forward(self, frames: torch.Tensor):
        check_frames(frames, self.frames)
        w = self.estimator(frames)
        return warp(frames[:, -1:], w, self.diffusion, boundary=self.boundary), w


def check_frames(frames: torch.Tensor, expected: int) -> None:
    if frames.dim() != 4 or frames.shape[1] != expected:
        raise ValueError(
            f"expected the last {expected} frames as (batch, {expected}, H, W), got shape "
            f"{tuple(frames.shape)}"
        )


def rollout(model: nn.Module, frames: torch.Tensor, horizon: int):
    """Predict ``horizon`` frames ``(B, horizon, H, W)`` by feeding predictions back.

    ``model(frames)`` returns the next frame ``(B, 1, H, W)`` or ``(frame, w)``; the velocity
    fields (if any) come back as ``(B, horizon, 2, H, W)``, else ``None``.
    """
    check_positive_int(horizon, "horizon")
    preds, flows = [], []
    for _ in range(horizon):
        out = model(frames)
        frame, w = out if isinstance(out, tuple) else (out, None)
        preds.append(frame)
        if w is not None:
            flows.append(w)
        frames = torch.cat([frames[:, 1:], frame], 1)
    return torch.cat(preds, 1), (torch.stack(flows, 1) if flows else None)
