"""Small variants of every registered scheme, for 8×8 digits, 1-D signals and vector states.

For each scheme ``s`` this registers ``s_digits`` (images ``(B, 1, 8, 8)``), ``s_signal``
(signals ``(B, 1, L)``, L ≈ 40) and ``s_vector`` (states ``(B, 2)``). They are generated
from the live scheme registry, so a newly registered scheme gets them too. An adaptive
scheme (an ODE solver, e.g. ``node``) takes one block per stage: its solver picks the steps,
with the block keywords the scheme declares for small models (``small_variant_kwargs``).
"""

from __future__ import annotations

import inspect

from ..blocks.base import AdaptiveBlock
from ..registry import get_scheme, list_models, list_schemes, register_model
from .odenet import ODENet, VectorODENet

DIGITS = dict(widths=(16, 32), steps=3, horizon=1.0, in_chans=1, num_classes=10, ndim=2)
SIGNAL = dict(widths=(16, 32), steps=3, horizon=1.0, in_chans=1, num_classes=10, ndim=1)
VECTOR = dict(dim=2, hidden=64, steps=4, horizon=1.0)
DIGITS_SIZE, SIGNAL_SIZE = (8, 8), (40,)  # the data they are laid out for


def _variant(name: str, cls, scheme: str, defaults: dict, doc: str, spatial_size=None):
    accepted = [p for p in inspect.signature(cls).parameters if p != "scheme"]

    def builder(**overrides):
        return cls(scheme, **{**defaults, **overrides})

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    builder.accepted_overrides = tuple(accepted)
    builder.spatial_size = spatial_size
    return register_model(builder)


def register_small_variants(scheme: str) -> None:
    """Register ``{scheme}_digits``, ``{scheme}_signal`` and ``{scheme}_vector``."""
    block_cls = get_scheme(scheme)
    adaptive = issubclass(block_cls, AdaptiveBlock)
    steps = {"steps": 1} if adaptive else {}
    if adaptive and block_cls.small_variant_kwargs:
        steps["scheme_kwargs"] = dict(block_cls.small_variant_kwargs)
    n = "1 adaptive solve" if adaptive else "3 steps"
    _variant(
        f"{scheme}_digits",
        ODENet,
        scheme,
        {**DIGITS, **steps},
        f"{scheme} on 8×8 digits: 2 stages (16, 32 channels) of {n}, T = 1.",
        DIGITS_SIZE,
    )
    _variant(
        f"{scheme}_signal",
        ODENet,
        scheme,
        {**SIGNAL, **steps},
        f"{scheme} on 1-D signals: 2 stages (16, 32 channels) of {n}, T = 1.",
        SIGNAL_SIZE,
    )
    _variant(
        f"{scheme}_vector",
        VectorODENet,
        scheme,
        {**VECTOR, **steps},
        f"{scheme} on vector states (dim 2): "
        f"{'1 adaptive solve' if adaptive else '4 steps'} of a dense field (64 hidden), T = 1.",
    )


def register_all_small_variants() -> None:
    """Register the small variants of every scheme that has none yet."""
    existing = set(list_models())
    for scheme in list_schemes():
        if f"{scheme}_digits" not in existing:
            register_small_variants(scheme)
