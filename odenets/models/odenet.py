"""Model layouts: the papers' image/signal classifier and a vector-state model for dynamics."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_positive_int
from ..fields._ops import make_conv, make_norm
from ..registry import get_field, get_scheme
from ..stage import Stage

_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d}
_GLOBAL_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}


def _per_stage(value, n: int, what: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{what} needs one value per stage ({n}), got {len(value)}")
        return list(value)
    return [value] * n


def _check_input(x: torch.Tensor, in_chans: int, ndim: int, layout: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != ndim + 2 or x.shape[1] != in_chans:
        raise ValueError(
            f"this model expects input of shape {layout} with C={in_chans} "
            f"({ndim} spatial dim{'s' if ndim != 1 else ''}), got {tuple(x.shape)}"
        )


class ClassifierMixin:
    """timm's classifier interface on ``forward_features``/``forward_head`` and ``self.fc``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, *args, **kwargs) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


class ODENet(ClassifierMixin, nn.Module):
    """The image/signal layout of Ruthotto & Haber and Chang et al.

    opening conv (3×3, or 3 for signals) + BN + ReLU → per stage ``N`` steps of the scheme
    over horizon ``T`` → connective layer between stages (1×1 conv + BN + ReLU + 2× average
    pooling) → global average pool → linear classifier. ``ndim=2`` for images
    ``(B, C, H, W)``, ``ndim=1`` for signals ``(B, C, L)``. ``head_width`` adds a last
    connective (1×1 conv + BN + ReLU, no pooling) from the last stage to ``head_width``
    channels before the global pool, as in Ruthotto & Haber's Meganet layouts.
    """

    def __init__(
        self,
        scheme: str,
        widths: Sequence[int] = (16, 32, 64),
        steps: int | Sequence[int] = 3,
        horizon: float | Sequence[float] = 1.0,
        in_chans: int = 3,
        num_classes: int = 10,
        ndim: int = 2,
        field: str | None = None,
        field_kwargs: dict | None = None,
        scheme_kwargs: dict | None = None,
        shared: bool = False,
        pool: bool = True,
        memory: str = "store",
        drop_rate: float = 0.0,
        head_width: int | None = None,
    ):
        super().__init__()
        if ndim not in (1, 2):
            raise ValueError(f"ODENet ndim must be 1 (signals) or 2 (images), got {ndim!r}")
        cls = get_scheme(scheme)
        widths = [check_positive_int(w, "stage width") for w in widths]
        if not widths:
            raise ValueError("widths must name at least one stage width")
        for w in widths:
            cls.field_channels(w)  # e.g. two-field schemes need even widths
        n = len(widths)
        steps = _per_stage(steps, n, "steps")
        horizons = _per_stage(horizon, n, "horizon")
        self.scheme, self.ndim = scheme, ndim
        self.in_chans = check_positive_int(in_chans, "in_chans")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        if head_width is not None:
            head_width = check_positive_int(head_width, "head_width")
        self.num_features = widths[-1] if head_width is None else head_width
        self.opening = nn.Sequential(
            make_conv(in_chans, widths[0], ndim, 3, bias=False),
            make_norm("batch", widths[0], ndim),
            nn.ReLU(inplace=True),
        )
        common = dict(shared=shared, field=field, field_kwargs=field_kwargs,
                      scheme_kwargs=scheme_kwargs, memory=memory)  # fmt: skip
        self.stages = nn.ModuleList(
            Stage.build(cls, channels=w, ndim=ndim, steps=s, horizon=t, **common)
            for w, s, t in zip(widths, steps, horizons, strict=True)
        )
        self.connectives = nn.ModuleList(
            nn.Sequential(
                make_conv(c_in, c_out, ndim, 1, bias=False),
                make_norm("batch", c_out, ndim),
                nn.ReLU(inplace=True),
                _POOL[ndim](2) if pool else nn.Identity(),
            )
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.head_connective = (
            nn.Identity()
            if head_width is None
            else nn.Sequential(
                make_conv(widths[-1], head_width, ndim, 1, bias=False),
                make_norm("batch", head_width, ndim),
                nn.ReLU(inplace=True),
            )
        )
        self.global_pool = nn.Sequential(_GLOBAL_POOL[ndim](1), nn.Flatten(1))
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes)

    @property
    def input_layout(self) -> str:
        return "(B, C, H, W)" if self.ndim == 2 else "(B, C, L)"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_chans, self.ndim, self.input_layout)
        x = self.opening(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.connectives):
                x = self.connectives[i](x)
        return self.head_connective(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x))
        return x if pre_logits else self.fc(x)


class VectorODENet(nn.Module):
    """A vector-state model ``y(t) ↦ y(t + T)``: one stage of dense vector fields.

    For dynamics: the state ``(B, dim)`` is advanced by ``steps`` steps of the scheme over
    ``horizon``. With ``num_classes`` a linear head classifies the final state.
    """

    def __init__(
        self,
        scheme: str,
        dim: int = 2,
        hidden: int = 64,
        steps: int = 4,
        horizon: float = 1.0,
        field: str | None = None,
        field_kwargs: dict | None = None,
        scheme_kwargs: dict | None = None,
        shared: bool = False,
        act: str = "tanh",
        num_classes: int | None = None,
        memory: str = "store",
    ):
        super().__init__()
        cls = get_scheme(scheme)
        self.dim = check_positive_int(dim, "dim")
        cls.field_channels(dim)
        name = field or cls.default_field
        kwargs = {"act": act, "norm": None}
        if "width" in inspect.signature(get_field(name)).parameters:
            kwargs["width"] = check_positive_int(hidden, "hidden")
        kwargs.update(field_kwargs or {})
        self.scheme = scheme
        stage = Stage.build(
            cls, channels=dim, ndim=0, steps=steps, horizon=horizon, shared=shared, field=name,
            field_kwargs=kwargs, scheme_kwargs=scheme_kwargs, memory=memory,
        )  # fmt: skip
        self.stages = nn.ModuleList([stage])
        self.num_classes = num_classes
        self.fc = nn.Linear(dim, num_classes) if num_classes else None

    @property
    def stage(self) -> Stage:
        return self.stages[0]

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.shape[1] != self.dim:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"this model expects states of shape (B, {self.dim}), got {shape}")
        out = self.stage(y)
        return self.fc(out) if self.fc is not None else out
