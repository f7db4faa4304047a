"""Data-driven fields ``F_a`` for dynamics: an MLP for vectors, a periodic ConvNet for fields.

These are APHYNITY's augmentation networks: an MLP with two hidden layers of 200 ReLU
units (pendulum) and a three-layer 3×3 ConvNet with 16 hidden channels (reaction–
diffusion); the convolutions here pad circularly to respect the periodic grids. Any
registered zoo field (``residual``, ``symmetric``, ``antisymmetric``) can be used too.
"""

from __future__ import annotations

from torch import nn

from .._validation import close_matches_hint
from ..registry import create_field, get_field, list_fields

NETWORKS = ("mlp", "conv")


class MLPField(nn.Module):
    """``F_a(y) = W₃ σ(W₂ σ(W₁ y))`` on vector states ``(B, dim)``."""

    def __init__(self, dim: int, hidden: int = 200):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, y):
        return self.net(y)


class PeriodicConvField(nn.Module):
    """Three 3×3 (or 3-point) circularly padded convolutions with ReLU, on ``(B, C, *grid)``."""

    def __init__(self, channels: int, ndim: int, hidden: int = 16):
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d}[ndim]
        layers = []
        sizes = [channels, hidden, hidden, channels]
        for i, (cin, cout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(conv(cin, cout, 3, padding=1, padding_mode="circular"))
            if i < 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, y):
        return self.net(y)


def orthogonal_init_(module: nn.Module, gain: float) -> nn.Module:
    """APHYNITY's initialisation of the augmentation: orthogonal weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def create_network(name: str, state_shape: tuple[int, ...], ndim: int, hidden: int,
                   dataset: str = "") -> nn.Module:  # fmt: skip
    """Build augmentation network ``name`` for states of ``state_shape`` (``ndim`` grid dims)."""
    allowed = list(NETWORKS) + list_fields()
    if name not in allowed:
        raise ValueError(f"Unknown network {name!r}. {close_matches_hint(name, allowed)}")
    channels = state_shape[0]
    where = f"dataset {dataset!r}" if dataset else "the data"
    if name == "mlp":
        if ndim != 0:
            raise ValueError(
                f"network 'mlp' acts on vector states, but {where} has {ndim}-D fields of "
                f"shape {state_shape}; use 'conv' (or a zoo field) for fields"
            )
        return MLPField(channels, hidden)
    if name == "conv":
        if ndim == 0:
            raise ValueError(
                f"network 'conv' is a field model (1-D/2-D convolutions), but {where} has "
                f"vector states of shape {state_shape}; use 'mlp' (or a zoo field)"
            )
        return PeriodicConvField(channels, ndim, hidden)
    return create_zoo_field(name, channels, ndim, hidden)


def create_zoo_field(name: str, channels: int, ndim: int, hidden: int, **extra) -> nn.Module:
    """A registered zoo field without normalisation (batch statistics make no sense in time)."""
    import inspect

    params = inspect.signature(get_field(name)).parameters
    wanted = {"width": hidden, "norm": "none", "act": "tanh", **extra}
    return create_field(name, channels, ndim, **{k: v for k, v in wanted.items() if k in params})
