"""train.py end to end: outputs, bad input, divergence, diagnostics (in-process, tiny runs)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from odenets.checkpoint import load_checkpoint, load_model
from odenets.data import get_dataset
from odenets.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "euler_digits", "--model-kwargs", '{"widths": [4, 8], "steps": 2}']


def load_train_script():
    """Import the top-level train.py (not a package module) once, as ``train_script``."""
    if "train_script" not in sys.modules:
        spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_script"] = module
        spec.loader.exec_module(module)
    return sys.modules["train_script"]


train = load_train_script()


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run(tmp_path, *args, name="run"):
    return train.main([*TINY, "--out-dir", str(tmp_path), "--run-name", name, *args])


def test_tiny_run_writes_every_output(tmp_path, capsys):
    summary = run(
        tmp_path, "--epochs", "2", "--batch-size", "128", "--seed", "3", "--log-every", "4"
    )
    out = capsys.readouterr().out
    assert "config:\n" in out and "  seed = 3" in out  # the effective config is printed
    assert "epoch 2/2 step 8/8 loss " in out  # plain progress lines when not on a terminal
    run_dir = tmp_path / "run"
    files = {p.name for p in run_dir.iterdir()}
    assert files == {
        "config.json", "metrics.jsonl", "checkpoint_last.pt", "checkpoint_best.pt",
        "summary.json", "learning_curves.png",
    }  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["model_kwargs"] == {"widths": [4, 8], "steps": 2}
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and records[-1]["step"] == 2 * (1077 // 128)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
                "samples_per_s", "peak_memory_mb"):  # fmt: skip
        assert all(np.isfinite(r[key]) for r in records), key
    assert records[0]["lr"] > records[1]["lr"]  # cosine decay
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["test_acc"] == summary["test_acc"]
    assert (run_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"

    # the best checkpoint rebuilds the model (diagnostics rely on load_model) and scores the
    # reported test accuracy
    model = load_model(run_dir / "checkpoint_best.pt")
    assert model.model_overrides["in_chans"] == 1 and model.model_overrides["num_classes"] == 10
    test = evaluate(model, get_dataset("digits"), "test")
    assert test["acc"] == pytest.approx(saved["test_acc"], abs=1e-12)
    best = load_checkpoint(run_dir / "checkpoint_best.pt")
    assert best["epoch"] == saved["best_epoch"]
    last = load_checkpoint(run_dir / "checkpoint_last.pt")
    assert last["progress"]["epoch"] == 2 and last["progress"]["global_step"] == 16
    assert {"optimizer", "scheduler", "rng", "config"} <= set(last)


def test_signal_file_dataset_trains(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = rng.normal(size=(120, 24)).astype(np.float32) + y[:, None]  # (N, L) signals
    np.savez(tmp_path / "sig.npz", x=x, y=y)
    summary = train.main(
        ["--dataset", str(tmp_path / "sig.npz"), "--model", "euler_signal", "--model-kwargs",
         '{"widths": [4]}', "--epochs", "2", "--batch-size", "16", "--out-dir", str(tmp_path),
         "--run-name", "sig", "--no-plot"]
    )  # fmt: skip
    assert summary["parameters"] > 0 and 0 <= summary["test_acc"] <= 1
    assert json.loads((tmp_path / "sig" / "summary.json").read_text())["dataset"].endswith(".npz")


@pytest.mark.parametrize(
    "args, error, match",
    [
        (["--dataset", "mnits"], ValueError, r"Unknown dataset 'mnits'.*'mnist'"),
        (["--model", "hamiltonain_digits"], ValueError, r"Unknown model.*'hamiltonian_digits'"),
        (["--batch-size", "0"], ValueError, r"batch_size must be a positive integer, got 0"),
        (["--batch-size", "-4"], ValueError, r"batch_size must be a positive integer"),
        (["--batch-size", "5000"], ValueError, r"larger than the training set"),
        (["--optimizer", "adam"], ValueError, r"Unknown optimizer 'adam'.*'adamw'"),
        (["--epochs", "ten"], ValueError, r"'epochs' must be of type int"),
        (["--model-kwargs", '{"widht": 3}'], ValueError, r"does not accept override.*widht"),
        (["--model", "euler_signal"], ValueError, r"takes 1-D signals.*holds images"),
        (
            ["--model", "euler_vector", "--model-kwargs", "{}"],
            ValueError,
            r"does not fit dataset 'digits'",
        ),
        (["--resume", "/nonexistent/run"], FileNotFoundError, r"'/nonexistent/run' does not exist"),
    ],
)
def test_bad_input(tmp_path, args, error, match):
    with pytest.raises(error, match=match):
        run(tmp_path, *args)


def test_unknown_config_key_in_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 1\nweight_decy: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown config key 'weight_decy'.*'weight_decay'"):
        run(tmp_path, "--config", str(path))


def test_data_dir_without_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)CIFAR-10 not found.*--download"):
        run(tmp_path, "--dataset", "cifar10", "--data-dir", str(tmp_path))


def test_resume_refuses_another_model_and_corrupt_checkpoint(tmp_path):
    run(tmp_path, "--epochs", "1", "--batch-size", "256", "--no-plot")
    run_dir = str(tmp_path / "run")
    with pytest.raises(ValueError, match=r"belongs to model 'euler_digits', not 'rk2_digits'"):
        train.main(["--resume", run_dir, "--model", "rk2_digits"])
    last = tmp_path / "run" / "checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"corrupt or truncated"):
        train.main(["--resume", run_dir])
    with pytest.raises(ValueError, match=r"already exists.*--resume"):
        run(tmp_path, "--epochs", "1")  # the same run name again: no clobbering


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(train.NonFiniteLossError, match=r"non-finite loss .* at epoch 1, step"):
        run(tmp_path, "--epochs", "2", "--lr", "1e30", "--ckpt-every-steps", "1")
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and "step" in summary["message"]
    last = load_checkpoint(run_dir / "checkpoint_last.pt")  # written before the bad step
    step = last["progress"]["step_in_epoch"]
    assert f"step {step + 1}/" in summary["message"]
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_diagnostics_every_epoch(tmp_path):
    pytest.importorskip("odenets.diagnostics")
    run(tmp_path, "--epochs", "2", "--batch-size", "256", "--diagnose-every", "1", "--no-plot")
    lines = (tmp_path / "run" / "diagnostics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2] and len(records[0]) > 1


def test_memory_policy_and_bfloat16_autocast_pass_through(tmp_path):
    run(tmp_path, "--epochs", "1", "--batch-size", "256", "--memory", "checkpoint", "--amp",
        "--no-plot")  # fmt: skip
    model = load_model(tmp_path / "run" / "checkpoint_best.pt")
    assert model.model_overrides["memory"] == "checkpoint"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["amp"] is True
    with pytest.raises(ValueError, match=r"float16 needs a GPU"):
        run(tmp_path, "--amp", "--amp-dtype", "float16", "--device", "cpu", name="fp16")


def test_dynamics_datasets_dispatch_to_the_dynamics_trainer():
    assert not train._dynamics_dataset("digits") and not train._dynamics_dataset("x.npz")
    dynamics = pytest.importorskip("odenets.dynamics")
    names = dynamics.list_datasets()
    assert names and all(train._dynamics_dataset(n) for n in names)
    assert not any(dynamics.is_dynamics_dataset(n) for n in ("digits", "mnist", "cifar10"))
