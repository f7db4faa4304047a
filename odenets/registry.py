"""Registries for schemes, vector fields and models.

Modelled on timm's registry (a decorator registers a builder under its name; ``list_*``
lists; ``create_*`` builds) with two differences: a duplicate name is an error, and an
unknown name lists the close matches. Models registered here are also registered with
timm, so ``timm.create_model(name)`` works for every name of :func:`list_models`.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable

from torch import nn

from ._validation import unknown_name_error

_SCHEMES: dict[str, type] = {}
_FIELDS: dict[str, Callable[..., nn.Module]] = {}
_MODELS: dict[str, Callable[..., nn.Module]] = {}
# keyword arguments that timm.create_model passes to every builder; ours ignore them
_TIMM_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")
PRETRAINED: dict[str, str] = {}  # model name -> where its weights come from (none yet)


def register_into(table: dict, kind: str, name: str, obj):
    """Add ``obj`` to a name table; a duplicate name is an error (every registry uses this)."""
    if name in table:
        raise ValueError(f"{kind} {name!r} is already registered ({table[name]!r})")
    table[name] = obj
    return obj


def _filter(names, pattern: str | None) -> list[str]:
    names = sorted(names)
    return names if pattern is None else [n for n in names if fnmatch.fnmatch(n, pattern)]


# ---------------------------------------------------------------------------------- schemes
def register_scheme(cls: type) -> type:
    """Class decorator: register a :class:`~odenets.blocks.Block` subclass under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    return register_into(_SCHEMES, "scheme", cls.name, cls)


def list_schemes(pattern: str | None = None) -> list[str]:
    return _filter(_SCHEMES, pattern)


def get_scheme(name: str) -> type:
    if name not in _SCHEMES:
        raise unknown_name_error("scheme", name, _SCHEMES)
    return _SCHEMES[name]


# ----------------------------------------------------------------------------------- fields
def register_field(name: str):
    """Decorator: register a vector-field class called as ``cls(channels, ndim, **kw)``."""

    def decorator(fn):
        return register_into(_FIELDS, "vector field", name, fn)

    return decorator


def list_fields(pattern: str | None = None) -> list[str]:
    return _filter(_FIELDS, pattern)


def get_field(name: str) -> Callable[..., nn.Module]:
    if name not in _FIELDS:
        raise unknown_name_error("vector field", name, _FIELDS)
    return _FIELDS[name]


def create_field(name: str, channels: int, ndim: int, **kwargs) -> nn.Module:
    """Build a registered vector field acting on ``channels`` channels in ``ndim`` dims."""
    return get_field(name)(channels, ndim, **kwargs)


# ----------------------------------------------------------------------------------- models
def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register a model builder under its function name (and with timm).

    A builder may carry ``spatial_size`` (``(H, W)`` of the images or ``(L,)`` of the
    signals it is laid out for); :func:`create_model` puts it on the model, where tools
    that need an example input (``odenets diagnose``) read it.
    """
    name = fn.__name__
    if name in _MODELS:  # checked first: a clash with timm must not leave a half registration
        raise ValueError(f"model {name!r} is already registered ({_MODELS[name]!r})")
    _register_with_timm(name, fn)
    return register_into(_MODELS, "model", name, fn)


def _register_with_timm(name: str, fn) -> None:
    try:
        from timm.models import _registry as timm_registry
    except ImportError:  # pragma: no cover - timm is a dependency
        return
    if name in timm_registry._model_entrypoints:
        raise ValueError(f"model name {name!r} clashes with a timm model; choose another name")

    def entrypoint(**kwargs):
        if kwargs.get("pretrained") and name not in PRETRAINED:
            raise ValueError(
                f"model {name!r} has no pretrained weights (models with weights: "
                f"{sorted(PRETRAINED) or 'none yet'}); call timm.create_model({name!r}) without "
                f"pretrained=True and train it: python train.py --model {name}"
            )
        for key in _TIMM_KWARGS:
            kwargs.pop(key, None)
        return create_model(name, **kwargs)

    entrypoint.__name__ = name
    entrypoint.__module__ = "odenets.models"
    entrypoint.__doc__ = fn.__doc__
    timm_registry.register_model(entrypoint)


def list_models(pattern: str | None = None) -> list[str]:
    """Names of registered models, optionally filtered by a shell-style ``pattern``."""
    return _filter(_MODELS, pattern)


def model_builder(name: str) -> Callable[..., nn.Module]:
    if name not in _MODELS:
        raise unknown_name_error("model", name, _MODELS)
    return _MODELS[name]


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` replace the variant's defaults.

    Overrides that are ``None`` are dropped (as in timm). An override the builder does not
    accept is an error that lists the accepted ones.
    """
    fn = model_builder(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    accepted = _accepted_kwargs(fn)
    if accepted is not None:
        unknown = sorted(set(overrides) - accepted)
        if unknown:
            raise ValueError(
                f"model {name!r} does not accept override(s) {unknown}; "
                f"accepted: {sorted(accepted)}"
            )
    model = fn(**overrides)
    model.model_name = name  # what a checkpoint records to rebuild the model
    model.model_overrides = overrides
    spatial = getattr(fn, "spatial_size", None)
    if spatial is not None:  # the builder's data: (H, W) of images, (L,) of signals
        model.spatial_size = tuple(spatial)
    return model


def model_options(name: str) -> set[str] | None:
    """The overrides a registered model accepts (``None``: any keyword)."""
    return _accepted_kwargs(model_builder(name))


def _accepted_kwargs(fn) -> set[str] | None:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        target = getattr(fn, "accepted_overrides", None)
        return set(target) if target is not None else None
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
