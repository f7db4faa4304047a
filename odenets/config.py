"""Dataclass configurations from defaults, a YAML/JSON file and the command line.

One dataclass holds the defaults, readable top to bottom. :func:`parse_config` builds an
``argparse`` parser from its fields (``--lr 0.1``, ``--no-amp``), reads ``--config FILE``
(YAML or JSON) first and lets the command line override it. Unknown keys and values of the
wrong type are rejected with a message that names the key and what is allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import types
import typing
from pathlib import Path

import yaml

from ._validation import close_matches_hint


def config_from_dict(cls, values: dict, base=None):
    """Return ``cls`` (or ``base`` updated) with ``values``, type-checked; unknown keys fail."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ValueError(
            f"unknown config key {unknown[0]!r}. {close_matches_hint(unknown[0], fields)}"
        )
    checked = {k: coerce(k, v, hints[k]) for k, v in values.items()}
    return dataclasses.replace(base if base is not None else cls(), **checked)


def coerce(key: str, value, annotation):
    """Check ``value`` against ``annotation`` (int, float, str, bool, Optional, tuple, dict)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(key, value, inner[0])
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            item = args[0] if args else str
            return tuple(coerce(key, v, item) for v in value)
    elif origin is dict or annotation is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, dict):
            return dict(value)
    name = getattr(annotation, "__name__", str(annotation))
    raise ValueError(f"config key {key!r} must be of type {name}, got {value!r}")


def load_config_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return data


def field_comments(cls) -> dict[str, str]:
    """The trailing ``# comment`` of each field in the dataclass source (the flag's help)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")
    return {m[1]: m[2].strip() for m in map(pattern.match, source.splitlines()) if m}


def build_parser(cls, description: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="YAML or JSON file of config keys")
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f"{comments.get(f.name, '')} (default: {default})".strip().replace("%", "%%")
        if hints[f.name] is bool:
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, dest=f.name, action=action, default=None, help=text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, metavar="VALUE", help=text)
    return parser


def parse_overrides(cls, argv=None, description: str = "") -> dict:
    """The keys set by ``--config`` file ← command-line flags, validated, as a dict.

    Only keys given explicitly appear, so a caller can apply them on top of another base
    (e.g. the saved config of a run being resumed).
    """
    parser = build_parser(cls, description)
    args = parser.parse_args(argv)
    values = {}
    if args.config:
        values.update(load_config_file(args.config))
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    config_from_dict(cls, values)  # validate now: unknown keys, wrong types
    return values


def parse_config(cls, argv=None, description: str = ""):
    """Defaults ← ``--config`` file ← command-line flags, validated; returns the config."""
    return config_from_dict(cls, parse_overrides(cls, argv, description))


def peek_option(argv, key: str, default=None):
    """The value of ``--key`` on the command line, else in the ``--config`` file, else default.

    For dispatching before the full parse (e.g. on the dataset name); reads nothing else.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config")
    parser.add_argument("--" + key.replace("_", "-"), dest=key)
    args, _ = parser.parse_known_args(argv)
    if getattr(args, key) is not None:
        return getattr(args, key)
    if args.config and Path(args.config).is_file():
        return load_config_file(args.config).get(key, default)
    return default
