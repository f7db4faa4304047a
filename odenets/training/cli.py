"""The command line of ``train.py`` and ``odenets train``: one parser for every mode.

Every key of every mode's config is a flag, shown once by ``--help`` in its group (keys both
modes share first, with both defaults). ``--dataset`` picks the mode; a flag of the other
mode is an error that says which mode it belongs to; ``--resume RUN`` starts from the run's
saved config (flags may then change only the keys a resume allows). Precedence: defaults ←
``--config`` file ← flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
import warnings

from ..config import (
    ConfigError,
    ConfigParser,
    add_field_arguments,
    config_from_dict,
    default_of,
    field_comments,
    load_config_file,
)
from .distributed import DistributedTimeout
from .guards import NonFiniteLossError
from .modes import Mode, list_modes, mode_for_dataset
from .trainer import fit, saved_config

USAGE_ERRORS = (ValueError, TypeError, FileNotFoundError, NonFiniteLossError, DistributedTimeout)


def build_train_parser(description: str = "", prog: str | None = None) -> ConfigParser:
    """Flags of every mode in groups: the keys all modes share, then each mode's own."""
    modes = list_modes()
    parser = ConfigParser(description=description, prog=prog)
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of config keys")
    shared = set.intersection(*(m.fields() for m in modes)) if len(modes) > 1 else set()
    group = parser.add_argument_group("every mode (--dataset picks the mode)")
    for name in [f.name for f in dataclasses.fields(modes[0].config) if f.name in shared]:
        _add_shared(group, name, modes)
    for mode in modes:
        names = mode.fields() - shared
        title = f"{mode.title} (--dataset {', '.join(_short_list(mode.datasets()))})"
        target = parser.add_argument_group(title)
        add_field_arguments(parser, mode.config, target, names=names)
        for old, new in mode.deprecated.items():
            target.add_argument(
                "--" + old.replace("_", "-"), dest=old, default=None, metavar="VALUE",
                help=f"deprecated alias of --{new.replace('_', '-')}",
            )  # fmt: skip
    return parser


def _short_list(names: list[str], n: int = 6) -> list[str]:
    return names if len(names) <= n else names[:n] + ["..."]


def _add_shared(group, name: str, modes: list[Mode]) -> None:
    """One flag for a key every mode has; its help gives each mode's meaning and default."""
    texts, defaults, is_bool = [], [], False
    for mode in modes:
        f = next(f for f in dataclasses.fields(mode.config) if f.name == name)
        texts.append((mode.name, field_comments(mode.config).get(name, "")))
        defaults.append((mode.name, default_of(f)))
        is_bool = typing.get_type_hints(mode.config)[name] is bool
    if name == "dataset":  # the default dataset picks the default mode
        help_text = "a dataset of any mode, or a .npz/.pt file: it picks the mode"
        shown = f"default: {defaults[0][1]}"
    else:
        same_text = len({t for _, t in texts}) == 1
        help_text = texts[0][1] if same_text else "; ".join(f"{m}: {t}" for m, t in texts if t)
        if len({repr(v) for _, v in defaults}) == 1:
            shown = f"default: {defaults[0][1]}"
        else:
            shown = "default: " + ", ".join(f"{v} ({m})" for m, v in defaults)
    text = f"{help_text} ({shown})".strip().replace("%", "%%")
    flag = "--" + name.replace("_", "-")
    if is_bool:
        group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=text)  # fmt: skip
    else:
        group.add_argument(flag, dest=name, default=None, metavar="VALUE", help=text)


def parse_args(argv: list[str] | None = None, description: str = "", prog=None):
    """The config of ``argv`` (defaults ← ``--config`` file ← flags), validated."""
    parser = build_train_parser(description, prog)
    args = parser.parse_flags(sys.argv[1:] if argv is None else argv)
    file_values = load_config_file(args.config) if args.config else {}
    flags = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    given = {**file_values, **flags}
    source = args.config if "dataset" in file_values and "dataset" not in flags else ""
    if given.get("resume"):
        base = saved_config(_text(given["resume"], "resume"))
        mode = next(m for m in list_modes() if isinstance(base, m.config))
    else:
        base = None
        dataset = given.get("dataset", list_modes()[0].config.dataset)
        mode = mode_for_dataset(_text(dataset, "dataset", source))
    if args.config:  # the file's own errors name the file
        _check_keys(mode, file_values, source=args.config)
        config_from_dict(mode.config, _apply_deprecated(mode, file_values), source=args.config)
    given = _apply_deprecated(mode, given)
    _check_keys(mode, given)
    config = config_from_dict(mode.config, given, base)
    config.validate()
    return config


def _text(value, key: str, source: str = "") -> str:
    if not isinstance(value, str):
        where = f" in {source}" if source else ""
        raise ConfigError(f"config key {key!r}{where} must be of type str, got {value!r}")
    return value


def _apply_deprecated(mode: Mode, given: dict) -> dict:
    out = {}
    for key, value in given.items():
        new = mode.deprecated.get(key)
        if new is not None:
            warnings.warn(
                f"--{key.replace('_', '-')} is deprecated: use --{new.replace('_', '-')} "
                f"(in this library 'steps' means ODE steps)",
                DeprecationWarning,
                stacklevel=3,
            )
            if new in given:
                raise ConfigError(f"give --{new.replace('_', '-')} or its old name {key}, not both")
            key = new
        out[key] = value
    return out


def _check_keys(mode: Mode, given: dict, source: str = "") -> None:
    """A key of another mode names the mode it belongs to."""
    own = mode.fields() | set(mode.deprecated)
    where = f" (in {source})" if source else ""
    for key in given:
        if key in own:
            continue
        if key == "steps":
            raise ConfigError(
                f"'steps'{where} is not a key of {mode.title} training: the number of ODE steps "
                f"is a model option (--model-kwargs '{{\"steps\": 6}}'); train longer with --epochs"
            )
        others = [
            m for m in list_modes() if m is not mode and key in m.fields() | set(m.deprecated)
        ]
        if others:
            other = others[0]
            hint = ""
            if key == "epochs":
                hint = "; dynamics runs count iterations: --iterations N"
            elif key == "iterations":
                hint = "; classification runs count epochs: --epochs N"
            dataset = given.get("dataset", mode.config.dataset)
            raise ConfigError(
                f"--{key.replace('_', '-')}{where} is a flag of {other.title} (datasets "
                f"{_short_list(other.datasets())}); dataset {dataset!r} is a {mode.title} "
                f"dataset{hint}"
            )


def run_command(fn, prog: str = "train.py", *args) -> int:
    """Call ``fn(*args)``; a user error becomes one line on stderr and exit status 2."""
    try:
        fn(*args)
    except USAGE_ERRORS as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None, prog: str = "odenets train") -> int:
    """``odenets train ...``: the same command line as ``train.py``."""
    return run_command(lambda: fit(parse_args(argv, __doc__, prog)), prog)
