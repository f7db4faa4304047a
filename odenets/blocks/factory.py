"""``create_block``: any scheme applied to any vector field in one call."""

from __future__ import annotations

import inspect

from torch import nn

from ..registry import create_field, get_scheme
from .base import Block


def default_fields(
    scheme: str | type[Block],
    channels: int,
    ndim: int,
    field: str | None = None,
    **field_kwargs,
) -> list[nn.Module]:
    """The vector field(s) a scheme uses by default, acting on a stage of ``channels``.

    ``field`` names a registered field to use instead of the scheme's default; two-field
    schemes get one per field with the scheme's per-field options (e.g. the signs of the
    Hamiltonian forces) unless ``field`` overrides the kind.
    """
    cls = get_scheme(scheme) if isinstance(scheme, str) else scheme
    field_channels = cls.field_channels(channels)
    per_field = cls.default_field_kwargs if field in (None, cls.default_field) else ({},)
    if len(per_field) < cls.num_fields:
        per_field = tuple(per_field) * cls.num_fields
    name = field or cls.default_field
    return [
        create_field(name, field_channels, ndim, **{**extra, **field_kwargs})
        for extra in per_field[: cls.num_fields]
    ]


def create_block(
    scheme: str | type[Block],
    field: nn.Module | tuple[nn.Module, ...] | None = None,
    *,
    h: float,
    channels: int | None = None,
    ndim: int | None = None,
    field_name: str | None = None,
    field_kwargs: dict | None = None,
    **scheme_kwargs,
) -> Block:
    """Build one block of ``scheme`` with step ``h``.

    ``scheme`` is a registered name or a Block class. ``field`` is any ``nn.Module``
    mapping a state to its derivative (or a tuple of two for a two-field scheme; one is
    duplicated with fresh weights). Without ``field``, the scheme's default field is built
    for ``channels`` channels in ``ndim`` dimensions (``field_name``/``field_kwargs`` choose
    and configure another registered field). ``scheme_kwargs`` go to the scheme (e.g.
    ``start=`` for leapfrog, ``tableau=`` for RK); so do ``channels`` and ``ndim`` when the
    scheme accepts them (IMEX around a user field).

    >>> block = create_block("rk4", my_field, h=0.1)  # doctest: +SKIP
    """
    cls = get_scheme(scheme) if isinstance(scheme, str) else scheme
    accepted = scheme_options(cls)
    _check_scheme_kwargs(cls, scheme_kwargs, accepted)
    layout = {"channels": channels, "ndim": ndim}
    scheme_kwargs.update({k: v for k, v in layout.items() if v is not None and k in accepted})
    if field is None:
        if channels is None or ndim is None:
            raise ValueError(
                f"create_block({cls.name!r}) needs either a vector field module or both "
                f"`channels` and `ndim` to build the scheme's default field"
            )
        field = default_fields(cls, channels, ndim, field_name, **(field_kwargs or {}))
    elif field_name is not None or field_kwargs:
        raise ValueError("pass either a vector field module or field_name/field_kwargs, not both")
    return cls(field, h=h, **scheme_kwargs)


def scheme_options(cls: type[Block]) -> set[str]:
    """The options a scheme's constructor accepts besides its fields and step."""
    params = inspect.signature(cls.__init__).parameters
    return {name for name in params if name not in ("self", "fields", "h")}


def _check_scheme_kwargs(cls: type[Block], kwargs: dict, accepted: set[str]) -> None:
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"scheme {cls.name!r} does not accept option(s) {unknown}; "
            f"accepted: {sorted(accepted) or 'none'}"
        )
