"""Checkpoints: atomic writes, weights-only loading, clear errors for bad files."""

from __future__ import annotations

import os

import pytest
import torch

import odenets
from odenets.checkpoint import load_checkpoint, load_model, model_payload, save_checkpoint


def _model(**kw):
    return odenets.create_model("euler_digits", widths=(4, 8), **kw)


def test_roundtrip_rebuilds_the_model(tmp_path):
    model = _model(steps=2)
    path = save_checkpoint(tmp_path / "c.pt", model_payload(model) | {"epoch": 3})
    again = load_model(path)
    assert again.model_name == "euler_digits" and again.model_overrides == model.model_overrides
    x = torch.randn(2, 1, 8, 8)
    model.eval(), again.eval()
    assert torch.equal(model(x), again(x))
    assert load_checkpoint(path)["epoch"] == 3
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # temporary renamed


def test_failed_write_leaves_the_old_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model_payload(_model()))
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint(path, {"bad": lambda: None})  # cannot be pickled
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]


def test_truncated_checkpoint_is_corrupt(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model_payload(_model()))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickled_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save(model_payload(_model()) | {"extra": _Payload()}, path)
    with pytest.raises(ValueError, match="refusing to load .*execute code"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an odenets checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_architecture_mismatch(tmp_path):
    payload = model_payload(_model())
    payload["model_kwargs"] = {"widths": (4, 16)}
    with pytest.raises(ValueError, match="do not fit model 'euler_digits'"):
        load_model(payload)


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path):
    import random

    import numpy as np

    from odenets.training import capture_rng_state, restore_rng_state, seed_everything

    seed_everything(7)
    save_checkpoint(tmp_path / "c.pt", model_payload(_model()) | {"rng": [capture_rng_state()]})
    draws = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    seed_everything(123)
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"][0])
    again = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert draws[:2] == again[:2] and torch.equal(draws[2], again[2])


def test_unwrap_compiled_model():
    from odenets.training import unwrap

    model = _model()
    assert unwrap(torch.compile(model)) is model and unwrap(model) is model
