"""Small variants of every registered scheme, for 8×8 digits, 1-D signals and vector states.

For each scheme ``s`` this registers ``s_digits`` (images ``(B, 1, 8, 8)``), ``s_signal``
(signals ``(B, 1, L)``, L ≈ 40) and ``s_vector`` (states ``(B, 2)``). They are generated
from the live scheme registry, so a newly registered scheme gets them too.
"""

from __future__ import annotations

import inspect

from ..registry import list_models, list_schemes, register_model
from .odenet import ODENet, VectorODENet

DIGITS = dict(widths=(16, 32), steps=3, horizon=1.0, in_chans=1, num_classes=10, ndim=2)
SIGNAL = dict(widths=(16, 32), steps=3, horizon=1.0, in_chans=1, num_classes=10, ndim=1)
VECTOR = dict(dim=2, hidden=64, steps=4, horizon=1.0)


def _variant(name: str, cls, scheme: str, defaults: dict, doc: str):
    accepted = [p for p in inspect.signature(cls).parameters if p != "scheme"]

    def builder(**overrides):
        return cls(scheme, **{**defaults, **overrides})

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    builder.accepted_overrides = tuple(accepted)
    return register_model(builder)


def register_small_variants(scheme: str) -> None:
    """Register ``{scheme}_digits``, ``{scheme}_signal`` and ``{scheme}_vector``."""
    _variant(
        f"{scheme}_digits",
        ODENet,
        scheme,
        DIGITS,
        f"{scheme} on 8×8 digits: 2 stages (16, 32 channels) of 3 steps, T = 1.",
    )
    _variant(
        f"{scheme}_signal",
        ODENet,
        scheme,
        SIGNAL,
        f"{scheme} on 1-D signals: 2 stages (16, 32 channels) of 3 steps, T = 1.",
    )
    _variant(
        f"{scheme}_vector",
        VectorODENet,
        scheme,
        VECTOR,
        f"{scheme} on vector states (dim 2): 4 steps of a dense field (64 hidden), T = 1.",
    )


def register_all_small_variants() -> None:
    """Register the small variants of every scheme that has none yet."""
    existing = set(list_models())
    for scheme in list_schemes():
        if f"{scheme}_digits" not in existing:
            register_small_variants(scheme)
