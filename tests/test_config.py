"""Dataclass configs: flags, YAML/JSON files, precedence, unknown keys, wrong types, bad files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from odenets.config import (
    ConfigError,
    build_parser,
    config_from_dict,
    load_config_file,
    parse_config,
    parse_overrides,
)


@dataclass
class Cfg:
    lr: float = 0.1  # step size of 100% SGD
    epochs: int = 3
    amp: bool = False
    name: str = "x"
    widths: tuple[int, ...] = (4, 8)
    model_kwargs: dict = field(default_factory=dict)
    resume: str | None = None


def test_flags_are_typed():
    cfg = parse_config(
        Cfg,
        ["--lr", "0.5", "--epochs", "7", "--amp", "--widths", "16,32,64",
         "--model-kwargs", '{"steps": 6}', "--resume", "runs/a"],
    )  # fmt: skip
    assert cfg == Cfg(0.5, 7, True, "x", (16, 32, 64), {"steps": 6}, "runs/a")
    assert parse_config(Cfg, ["--no-amp"]).amp is False
    assert parse_config(Cfg, []) == Cfg()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_then_flags(tmp_path, suffix):
    values = {"lr": 0.01, "epochs": 9, "widths": [2, 4], "model_kwargs": {"horizon": 2.0}}
    path = tmp_path / f"run{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        path.write_text("lr: 0.01\nepochs: 9\nwidths: [2, 4]\nmodel_kwargs: {horizon: 2.0}\n")
    cfg = parse_config(Cfg, ["--config", str(path), "--epochs", "2"])
    assert cfg == Cfg(lr=0.01, epochs=2, widths=(2, 4), model_kwargs={"horizon": 2.0})
    assert parse_overrides(Cfg, ["--config", str(path), "--epochs", "2"])["epochs"] == "2"


def test_unknown_key_in_file_names_close_match(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lrr: 0.3\n")
    with pytest.raises(ValueError, match=r"unknown config key 'lrr'.*'lr'"):
        parse_config(Cfg, ["--config", str(path)])


def test_unknown_flag_names_close_matches_and_flags_are_never_abbreviated():
    with pytest.raises(ConfigError, match=r"unknown flag --lrr. Did you mean one of \['--lr'\]"):
        parse_config(Cfg, ["--lrr", "0.3"])
    with pytest.raises(ConfigError, match=r"unknown flag --epoch\. .*'--epochs'"):
        parse_config(Cfg, ["--epoch", "2"])  # argparse would take it for --epochs
    with pytest.raises(ConfigError, match=r"unexpected argument 'fast'"):
        parse_config(Cfg, ["fast"])


@pytest.mark.parametrize(
    "values, match",
    [
        ({"epochs": "ten"}, r"'epochs' must be of type int, got 'ten'"),
        ({"epochs": 2.5}, r"'epochs' must be of type int"),
        ({"lr": "fast"}, r"'lr' must be of type float"),
        ({"amp": "maybe"}, r"'amp' must be of type bool"),
        ({"model_kwargs": "[1, 2]"}, r"'model_kwargs' must be of type dict"),
        ({"widths": "a,b"}, r"'widths' must be of type int"),
        ({"name": 3}, r"'name' must be of type str"),
        ({"name": ["a", "b"]}, r"'name' must be of type str, got \['a', 'b'\]"),
        ({"lr": "nan"}, r"'lr' must be a finite number, got 'nan'"),
        ({"lr": float("inf")}, r"'lr' must be a finite number"),
    ],
)
def test_wrong_types(values, match):
    with pytest.raises(ValueError, match=match):
        config_from_dict(Cfg, values)


def test_file_must_exist_and_hold_a_mapping(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_config(Cfg, ["--config", str(tmp_path / "none.yaml")])
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping of keys to values"):
        parse_config(Cfg, ["--config", str(path)])


def test_help_shows_field_comments_and_defaults():
    text = " ".join(build_parser(Cfg).format_help().split())
    assert "--lr VALUE step size of 100% SGD (default: 0.1)" in text
    assert "--amp, --no-amp (default: False)" in text


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("bad.yaml", "lr: 0.1\nepochs: [1, 2\n", r"bad.yaml:3:1: invalid YAML"),
        ("tab.yaml", "lr: 0.1\n\tepochs: 2\n", r"tab.yaml:2:1: invalid YAML"),
        ("dup.yaml", "lr: 0.1\nepochs: 2\nlr: 0.2\n",
         r"dup.yaml:3:1: .*duplicate key 'lr' \(first on line 1\)"),
        ("bad.json", '{"lr": 0.1,\n "epochs": }', r"bad.json:2:12: invalid JSON: Expecting value"),
        ("list.yaml", "- 1\n- 2\n", r"must hold a mapping of keys to values, got a list"),
    ],
)  # fmt: skip
def test_malformed_files_name_the_file_and_line(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config_file(path)


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: ten\n")
    with pytest.raises(ConfigError, match=r"'epochs' in .*run.yaml must be of type int"):
        parse_config(Cfg, ["--config", str(path)])
