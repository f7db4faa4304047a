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
                 levels: int = 3, boundary: str = "replicate",
                 radius: int | None = None):  # fmt: skip
        super().__init__()
        self.frames = check_positive_int(frames, "frames")
        self.diffusion = check_step(diffusion, "diffusion DΔt (pixels²)")
        if boundary not in BOUNDARIES:
            raise ValueError(f"Unknown boundary {boundary!r}; allowed: {list(BOUNDARIES)}")
        self.boundary, self.radius = boundary, radius
        self.estimator = UNet(frames, 2, width, levels)

    def forward(self, frames: torch.Tensor):
        check_frames(frames, self.frames)
        w = self.estimator(frames)
        out = warp(frames[:, -1:], w, self.diffusion, boundary=self.boundary, radius=self.radius)
        return out, w


class KnownFlowWarp(nn.Module):
    """The warp driven by given velocities (the true flow: the model's ceiling).

    ``set_flows(flows)`` with ``(B, horizon, 2, H, W)``; the ``k``-th call warps by the
    ``k``-th field.
    """

    def __init__(self, diffusion: float, boundary: str = "replicate", radius: int | None = None):
        super().__init__()
        self.diffusion = check_step(diffusion, "diffusion DΔt (pixels²)")
        self.boundary, self.radius = boundary, radius
        self.flows, self.calls = None, 0

    def set_flows(self, flows: torch.Tensor) -> None:
        self.flows, self.calls = flows, 0

    def forward(self, frames: torch.Tensor):
        if self.flows is None or self.calls >= self.flows.shape[1]:
            raise ValueError("KnownFlowWarp needs set_flows((B, horizon, 2, H, W)) first")
        w = self.flows[:, self.calls]
        self.calls += 1
        out = warp(frames[:, -1:], w, self.diffusion, boundary=self.boundary, radius=self.radius)
        return out, w


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


# ---------------------------------------------------------------------------------- training
PAPER_COEFFICIENTS = {"divergence": 1.0, "magnitude": -0.003, "smoothness": 0.4}  # emited/flow


def forecast_loss(model: nn.Module, windows: torch.Tensor, inputs: int, horizon: int,
                  coefficients: dict[str, float] | None = None):  # fmt: skip
    """Mean over ``horizon`` rolled-out steps of the frame MSE, plus the flow penalties
    ``Σ coefficient · regulariser(w)`` (averaged over the steps) for a velocity model.

    ``windows`` ``(B, ≥ inputs + horizon, H, W)``. Returns ``(loss, mse)``.
    """
    if windows.shape[1] < inputs + horizon:
        raise ValueError(
            f"windows of {windows.shape[1]} frames cannot give {inputs} inputs and "
            f"{horizon} targets"
        )
    preds, flows = rollout(model, windows[:, :inputs], horizon)
    mse = (preds - windows[:, inputs : inputs + horizon]).pow(2).mean()
    loss = mse
    if flows is not None and coefficients:
        flat = flows.flatten(0, 1)
        terms = flow_regularisers(flat)
        loss = loss + sum(c * terms[name] for name, c in coefficients.items())
    return loss, mse


@torch.no_grad()
def horizon_mse(model: nn.Module, windows: torch.Tensor, inputs: int, horizon: int,
                batch: int = 32, margin: int = 0,
                flows: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """MSE per horizon ``1..horizon`` over ``windows`` (``margin`` pixels cut at the edges).

    ``flows`` ``(S, ≥ horizon, 2, H, W)`` go to a :class:`KnownFlowWarp` chunk by chunk.
    """
    model.eval()
    total = torch.zeros(horizon, dtype=torch.float64)
    for start in range(0, len(windows), batch):
        chunk = windows[start : start + batch]
        if flows is not None:
            model.set_flows(flows[start : start + batch])
        preds, _ = rollout(model, chunk[:, :inputs], horizon)
        err = preds - chunk[:, inputs : inputs + horizon]
        if margin:
            err = err[..., margin:-margin, margin:-margin]
        total += err.double().pow(2).mean((2, 3)).sum(0)
    model.train()
    return total / len(windows)


def train_forecaster(model: nn.Module, train: torch.Tensor, *, inputs: int = 4,
                     horizon: int = 2, steps: int = 500, batch: int = 8, lr: float = 1e-3,
                     coefficients: dict[str, float] | None = None,
                     valid: torch.Tensor | None = None, valid_horizon: int = 6,
                     eval_every: int = 100, seed: int = 0,
                     cosine: bool = True) -> dict:  # fmt: skip
    """Adam on random mini-batches of windows (learning rate decayed to 0 by a cosine when
    ``cosine``); with ``valid``, the parameters with the lowest validation MSE (mean over
    horizons ``1..valid_horizon``) are restored at the end."""
    import copy

    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    history = {"step": [], "loss": [], "valid": []}
    best, best_state = math.inf, None
    for step in range(1, steps + 1):
        idx = torch.randint(len(train), (batch,), generator=gen)
        loss, _ = forecast_loss(model, train[idx], inputs, horizon, coefficients)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        history["loss"].append(loss.item())
        if valid is not None and (step % eval_every == 0 or step == steps):
            score = horizon_mse(model, valid, inputs, valid_horizon).mean().item()
            history["step"].append(step)
            history["valid"].append(score)
            if score < best:
                best, best_state = score, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_valid"] = best
    return history
