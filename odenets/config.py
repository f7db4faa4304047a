"""Dataclass configurations from defaults, a YAML/JSON file and the command line.

One dataclass holds the defaults, readable top to bottom. :func:`parse_config` builds an
``argparse`` parser from its fields (``--lr 0.1``, ``--no-amp``), reads ``--config FILE``
(YAML or JSON) first and lets the command line override it. Unknown keys and flags (with the
close matches), values of the wrong type, non-finite numbers, duplicate YAML keys and
malformed files are :class:`ConfigError` s that name the key, the file and line, and what is
allowed. Flags are never abbreviated (``--epoch`` is not ``--epochs``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
import math
import re
import types
import typing
from pathlib import Path

import yaml

from ._validation import close_matches_hint


class ConfigError(ValueError):
    """A configuration value, key, flag or file that cannot be used (the message says why)."""


def config_from_dict(cls, values: dict, base=None, source: str = ""):
    """Return ``cls`` (or ``base`` updated) with ``values``, type-checked; unknown keys fail.

    ``source`` (e.g. a file name) is named in the messages.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    where = f" in {source}" if source else ""
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ConfigError(
            f"unknown config key {unknown[0]!r}{where}. {close_matches_hint(unknown[0], fields)}"
        )
    checked = {k: coerce(k, v, hints[k], where) for k, v in values.items()}
    return dataclasses.replace(base if base is not None else cls(), **checked)


def coerce(key: str, value, annotation, where: str = ""):
    """Check ``value`` against ``annotation`` (int, float, str, bool, Optional, tuple, dict).

    Floats must be finite: no config value of this library means anything at NaN or ±inf.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(key, value, inner[0], where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif annotation is float:
        number = _float(value)
        if number is not None:
            if not math.isfinite(number):
                raise ConfigError(
                    f"config key {key!r}{where} must be a finite number, got {value!r}"
                )
            return number
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            item = args[0] if args else str
            return tuple(coerce(key, v, item, where) for v in value)
    elif origin is dict or annotation is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, dict):
            return dict(value)
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"config key {key!r}{where} must be of type {name}, got {value!r}")


def _float(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------------- files
class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML keeps the last)."""


def _construct_unique_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark,
            )  # fmt: skip
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def read_structured_file(path: str | Path) -> object:
    """Parse a JSON (``.json``) or YAML file; a syntax error names the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise ConfigError(f"{str(path)!r} is not a text file: {err}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None


def load_config_file(path: str | Path) -> dict:
    """The mapping of keys to values in a YAML/JSON config file (empty file: ``{}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    data = read_structured_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of keys to values, "
            f"got a {type(data).__name__}"
        )
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"config file {str(path)!r}: keys must be names, got {bad[0]!r}")
    return data


# ---------------------------------------------------------------------------- the parser
@functools.cache
def field_comments(cls) -> dict[str, str]:
    """The trailing ``# comment`` of each field in the dataclass source (the flag's help)."""
    comments = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        pattern = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")
        comments.update({m[1]: m[2].strip() for m in map(pattern.match, source.splitlines()) if m})
    return comments


class ConfigParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` without abbreviations whose errors are :class:`ConfigError` s.

    An unknown flag names the closest known ones (``--lrr``: did you mean ``--lr``?).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise ConfigError(message)

    def flags(self) -> list[str]:
        return [
            s
            for a in self._actions
            for s in a.option_strings
            if s.startswith("--") and s != "--help"
        ]

    def parse_flags(self, argv) -> argparse.Namespace:
        args, extra = self.parse_known_args(argv)
        if extra:
            unknown = next((e for e in extra if e.startswith("-")), extra[0])
            name = unknown.split("=", 1)[0]
            if not name.startswith("-"):
                raise ConfigError(f"unexpected argument {name!r}: every value follows its --flag")
            raise ConfigError(f"unknown flag {name}. {close_matches_hint(name, self.flags(), n=3)}")
        return args


def default_of(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def add_field_arguments(parser, cls, group=None, names=None, defaults_text=None) -> None:
    """One flag per dataclass field (``--weight-decay``; booleans ``--amp/--no-amp``)."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    target = group or parser
    for f in dataclasses.fields(cls):
        if names is not None and f.name not in names:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = default_of(f)
        default = repr(default) if isinstance(default, str) else default
        shown = (defaults_text or {}).get(f.name, f"default: {default}")
        text = f"{comments.get(f.name, '')} ({shown})".strip().replace("%", "%%")
        if hints[f.name] is bool:
            action = argparse.BooleanOptionalAction
            target.add_argument(flag, dest=f.name, action=action, default=None, help=text)
        else:
            target.add_argument(flag, dest=f.name, default=None, metavar="VALUE", help=text)


def build_parser(cls, description: str = "") -> ConfigParser:
    parser = ConfigParser(description=description)
    parser.add_argument("--config", help="YAML or JSON file of config keys")
    add_field_arguments(parser, cls)
    return parser


def parse_overrides(cls, argv=None, description: str = "") -> dict:
    """The keys set by ``--config`` file ← command-line flags, validated, as a dict.

    Only keys given explicitly appear, so a caller can apply them on top of another base
    (e.g. the saved config of a run being resumed).
    """
    parser = build_parser(cls, description)
    args = parser.parse_flags(argv)
    values = {}
    if args.config:
        values.update(load_config_file(args.config))
        config_from_dict(cls, values, source=args.config)  # name the file in its errors
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    config_from_dict(cls, values)  # validate now: unknown keys, wrong types
    return values


def parse_config(cls, argv=None, description: str = ""):
    """Defaults ← ``--config`` file ← command-line flags, validated; returns the config."""
    return config_from_dict(cls, parse_overrides(cls, argv, description))
