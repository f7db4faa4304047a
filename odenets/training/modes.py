"""Kinds of training (*modes*): a config dataclass, a task, and the datasets they train on.

``train.py --dataset NAME`` picks the mode that owns ``NAME``: image/signal classification
(``digits``, ``cifar10``, a ``.npz``/``.pt`` file, ...) or dynamics (``pendulum``,
``reaction_diffusion``, ...). Every dataset registered with a mode's registry is picked up
(``odenets.dynamics.register_dataset`` adds a dynamics dataset to ``train.py``); a new kind of
training registers a :class:`Mode`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .._validation import close_matches_hint
from ..config import ConfigError


@dataclasses.dataclass(frozen=True)
class Mode:
    """One kind of training, as ``train.py`` sees it.

    ``config`` is the dataclass of its keys (each a flag), ``task`` builds the
    :class:`~.task.Task` from ``(config, ctx, say)``, ``owns(dataset)`` says whether a dataset
    name belongs to it and ``datasets()`` lists them. ``resumable`` are the keys ``--resume``
    may change (everything else is refused: the restored optimiser state would silently win);
    ``extends`` are those among them that lengthen the run. ``deprecated`` maps old keys to
    their new names.
    """

    name: str
    title: str
    config: type
    task: Callable
    owns: Callable[[str], bool]
    datasets: Callable[[], list[str]]
    resumable: frozenset[str]
    extends: frozenset[str] = frozenset()
    distributed: bool = False
    deprecated: dict = dataclasses.field(default_factory=dict)

    def fields(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.config)}


_MODES: dict[str, Mode] = {}


def register_mode(mode: Mode) -> Mode:
    if mode.name in _MODES:
        raise ValueError(f"training mode {mode.name!r} is already registered")
    _MODES[mode.name] = mode
    return mode


def list_modes() -> list[Mode]:
    """Every registered mode (classification first); importing them registers them."""
    from . import classification  # noqa: F401

    try:
        from ..dynamics import train as _dynamics  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency of the dynamics package is missing
        pass
    return list(_MODES.values())


def mode_of(config) -> Mode:
    for mode in list_modes():
        if isinstance(config, mode.config):
            return mode
    names = [m.config.__name__ for m in list_modes()]
    raise TypeError(f"a training config must be one of {names}, got {type(config).__name__}")


def mode_for_dataset(name) -> Mode:
    """The mode whose datasets include ``name``; an unknown name lists every dataset."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset must be a name or a file path, got {name!r}")
    modes = list_modes()
    for mode in modes:
        if mode.owns(name):
            return mode
    every = [d for m in modes for d in m.datasets()]
    listing = "; ".join(f"{m.title}: {m.datasets()}" for m in modes)
    raise ConfigError(
        f"Unknown dataset {name!r}. {close_matches_hint(name, every)} Datasets — {listing} "
        f"(or a path to a .npz / .pt file of x, y for classification)"
    )
