"""Continuous-depth and implicit layouts: Chen et al.'s ODE-Net, augmented ODE-Nets, IMEXnet.

* :class:`ContinuousNet` is the MNIST model of Chen et al. (2018, ``odenet_mnist.py``):
  downsampling (3×3 conv, then ``downsample`` × [GroupNorm–ReLU–4×4 conv stride 2]), ONE
  Neural ODE block over ``[0, T]`` whose field is their ``ODEfunc`` (GroupNorm–ReLU–ConcatConv
  twice, GroupNorm; the time enters as an extra input channel), then GroupNorm–ReLU–global
  pool–linear. 208,266 weights at width 64 (the paper reports 0.22 M). ``augment=p`` is the
  augmented Neural ODE of Dupont et al. (2019): ``p`` zero channels appended to the state.
* IMEXnet (Haber et al. 2019) variants reuse :class:`~odenets.models.odenet.ODENet` with the
  ``imex`` scheme in the Ruthotto & Haber layout (3 steps per stage, ``h = 1``).
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .._validation import check_positive_int
from ..blocks.node import NodeBlock, TimeDependentField
from ..registry import register_model
from ..stage import Stage
from .odenet import ClassifierMixin, ODENet, _check_input

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_GLOBAL_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}


def group_norm(channels: int, groups: int | None = None) -> nn.GroupNorm:
    """``GroupNorm(G, C)``: Chen et al.'s ``G = min(32, C)`` by default, else at most ``groups``.

    The group count is the largest divisor of ``C`` that is at most the bound.
    """
    bound = min(32, channels) if groups is None else check_positive_int(groups, "norm_groups")
    groups = max(g for g in range(1, min(bound, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ConcatConv(nn.Module):
    """A shape-preserving convolution of ``[t·𝟙; y]``: the time as an extra input channel."""

    def __init__(self, channels: int, ndim: int, kernel_size: int = 3):
        super().__init__()
        self.conv = _CONV[ndim](channels + 1, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, y: torch.Tensor, t) -> torch.Tensor:
        time = torch.ones_like(y[:, :1]) * t
        return self.conv(torch.cat([time, y], dim=1))


class ConcatConvField(TimeDependentField):
    """Chen et al.'s ``ODEfunc``: ``GN → ReLU → ConcatConv → GN → ReLU → ConcatConv → GN``."""

    def __init__(self, channels: int, ndim: int = 2, norm_groups: int | None = None):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"ConcatConvField ndim must be 1 or 2, got {ndim!r}")
        self.norm1, self.norm2, self.norm3 = (group_norm(channels, norm_groups) for _ in range(3))
        self.conv1 = ConcatConv(channels, ndim)
        self.conv2 = ConcatConv(channels, ndim)
        self.act = nn.ReLU()

    def forward(self, y: torch.Tensor, t=0.0) -> torch.Tensor:
        out = self.conv1(self.act(self.norm1(y)), t)
        out = self.conv2(self.act(self.norm2(out)), t)
        return self.norm3(out)


class ContinuousNet(ClassifierMixin, nn.Module):
    """ODE-Net (Chen et al. 2018): downsampling → one Neural ODE block → head.

    ``method``, ``rtol``, ``atol``, ``options``, ``adjoint`` configure the ``node`` block (the
    paper: ``dopri5``, tolerance 1e-3, adjoint for O(1) memory; ``memory="adjoint"`` is the
    same switch as a memory policy). ``time_dependent=False`` uses an autonomous field
    (plain convolutions) so the weights can also be run under fixed-step schemes
    (:func:`odenets.swap_scheme`).
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 10,
        width: int = 64,
        ndim: int = 2,
        downsample: int = 2,
        augment: int = 0,
        horizon: float = 1.0,
        method: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-3,
        options: dict | None = None,
        adjoint: bool = False,
        time_dependent: bool = True,
        memory: str = "store",
        norm_groups: int | None = None,
        kinetic: float = 0.0,
        jacobian: float = 0.0,
        steer: float = 0.0,
        eval_method: str | None = None,
        eval_rtol: float | None = None,
        eval_atol: float | None = None,
        eval_options: dict | None = None,
    ):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"ContinuousNet ndim must be 1 (signals) or 2 (images), got {ndim!r}")
        self.in_chans = check_positive_int(in_chans, "in_chans")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        width = check_positive_int(width, "width")
        if isinstance(downsample, bool) or not isinstance(downsample, int) or downsample < 0:
            raise ValueError(f"downsample must be an integer >= 0, got {downsample!r}")
        self.ndim, self.num_features = ndim, width
        conv = _CONV[ndim]
        layers = [conv(in_chans, width, 3, 1)]
        for _ in range(downsample):
            layers += [group_norm(width, norm_groups), nn.ReLU(inplace=True),
                       conv(width, width, 4, 2, 1)]  # fmt: skip
        self.downsampling = nn.Sequential(*layers)
        state = width + augment
        if time_dependent:
            field = ConcatConvField(state, ndim, norm_groups)
        else:
            field = _autonomous_field(state, ndim, norm_groups)
        block = NodeBlock(
            field, horizon, method, rtol, atol, options=options, adjoint=adjoint, augment=augment,
            kinetic=kinetic, jacobian=jacobian, steer=steer, eval_method=eval_method,
            eval_rtol=eval_rtol, eval_atol=eval_atol, eval_options=eval_options,
        )  # fmt: skip
        self.stages = nn.ModuleList([Stage([block], horizon, steps=1, memory=memory)])
        self.head = nn.Sequential(
            group_norm(width, norm_groups),
            nn.ReLU(inplace=True),
            _GLOBAL_POOL[ndim](1),
            nn.Flatten(1),
        )
        self.fc = nn.Linear(width, num_classes)

    @property
    def input_layout(self) -> str:
        return "(B, C, H, W)" if self.ndim == 2 else "(B, C, L)"

    @property
    def block(self) -> NodeBlock:
        return self.stages[0].blocks[0]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_chans, self.ndim, self.input_layout)
        return self.stages[0](self.downsampling(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head(x)
        return x if pre_logits else self.fc(x)


def _autonomous_field(channels: int, ndim: int, norm_groups: int | None = None) -> nn.Module:
    conv = _CONV[ndim]
    return nn.Sequential(
        group_norm(channels, norm_groups),
        nn.ReLU(),
        conv(channels, channels, 3, padding=1),
        group_norm(channels, norm_groups),
        nn.ReLU(),
        conv(channels, channels, 3, padding=1),
        group_norm(channels, norm_groups),
    )


# ---------------------------------------------------------------------------- registration
_CONTINUOUS_OPTIONS = tuple(inspect.signature(ContinuousNet).parameters)
_ODENET_OPTIONS = tuple(p for p in inspect.signature(ODENet).parameters if p != "scheme")


def _variant(options: tuple[str, ...], spatial_size: tuple[int, ...]):
    def decorator(fn):
        fn.accepted_overrides = options
        fn.spatial_size = spatial_size  # the data the layout is for
        return register_model(fn)

    return decorator


def _continuous(defaults: dict, overrides: dict) -> ContinuousNet:
    return ContinuousNet(**{**defaults, **overrides})


#: the small variants' recipe, chosen by measurement (docs/continuous.md): 64 channels (at 16
#: channels the 3×3 state cannot hold the classes: −10 points), GroupNorm with at most 8
#: groups (Chen's min(32, C) is an instance norm over 9 pixels here) and training on a fixed
#: grid of one rk4 step (4 NFE; dopri5 at tol 1e-3 takes ~26 NFE for the same accuracy)
_SMALL = dict(width=64, downsample=1, norm_groups=8, method="rk4", options={"step_size": 1.0})
_DIGITS = dict(_SMALL)  # 8×8 → 6×6 → 3×3
_SIGNAL = dict(_SMALL, ndim=1)
#: extra channels of the augmented variants (Dupont et al. 2019 augment images by a few
#: channels; the exact count here is a choice, override ``augment``)
AUGMENT = 5


@_variant(_CONTINUOUS_OPTIONS, (28, 28))
def odenet_mnist(**overrides):
    """ODE-Net, MNIST (Chen et al. 2018): 64 channels, dopri5 at tol 1e-3 (208,266 weights)."""
    return _continuous({}, overrides)


@_variant(_CONTINUOUS_OPTIONS, (28, 28))
def anode_mnist(**overrides):
    """Augmented ODE-Net, MNIST (Dupont et al. 2019): Chen's layout, 5 zero channels added."""
    return _continuous(dict(augment=AUGMENT), overrides)


@_variant(_CONTINUOUS_OPTIONS, (8, 8))
def odenet_digits(**overrides):
    """ODE-Net on 8×8 digits: 64 channels, one stride-2 downsampling, one ODE block (rk4 grid)."""
    return _continuous(_DIGITS, overrides)


@_variant(_CONTINUOUS_OPTIONS, (8, 8))
def anode_digits(**overrides):
    """Augmented ODE-Net on 8×8 digits: as ``odenet_digits`` with 5 zero channels added."""
    return _continuous({**_DIGITS, "augment": AUGMENT}, overrides)


@_variant(_CONTINUOUS_OPTIONS, (40,))
def odenet_signal(**overrides):
    """ODE-Net on 1-D signals (B, 1, L): 64 channels, one stride-2 downsampling (rk4 grid)."""
    return _continuous(_SIGNAL, overrides)


@_variant(_CONTINUOUS_OPTIONS, (40,))
def anode_signal(**overrides):
    """Augmented ODE-Net on 1-D signals: as ``odenet_signal`` with 5 zero channels added."""
    return _continuous({**_SIGNAL, "augment": AUGMENT}, overrides)


@_variant(_ODENET_OPTIONS, (32, 32))
def imexnet_cifar10(**overrides):
    """IMEXnet (Haber et al. 2019) in the R&H CIFAR-10 layout: widths 32/64/112, 3 steps, h = 1.

    Explicit part ``−Kᵀσ(N(Ky))`` (3×3 ``K`` without bias), implicit part a depthwise 3×3 ``L``
    solved exactly by FFT.
    """
    defaults = dict(
        widths=(32, 64, 112), steps=3, horizon=3.0, in_chans=3, num_classes=10,
        field_kwargs={"bias": False}, head_width=112,
    )  # fmt: skip
    return ODENet("imex", **{**defaults, **overrides})


@_variant(_ODENET_OPTIONS, (40,))
def imexnet_signal(**overrides):
    """IMEXnet on 1-D signals (B, 1, L): widths 16/32/64, 3 steps per stage, h = 1."""
    defaults = dict(widths=(16, 32, 64), steps=3, horizon=3.0, in_chans=1, ndim=1)
    return ODENet("imex", **{**defaults, **overrides})
