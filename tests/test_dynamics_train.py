"""The dynamics trainer end to end: train.py dispatch, outputs, metrics, bad input."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from odenets.checkpoint import load_checkpoint
from odenets.dynamics.train import load_run, main

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = ["--dataset", "pendulum", "--n-train", "4", "--n-test", "2", "--duration", "4",
            "--horizon", "2", "--hidden", "16", "--eval-every", "2"]  # fmt: skip


def _args(tmp_path, *extra):
    return [*extra, "--out-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]


def _root_train_main():
    spec = importlib.util.spec_from_file_location("root_train", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main


def test_train_py_dispatches_and_a_run_writes_all_outputs(tmp_path):
    argv = _args(tmp_path, *PENDULUM, "--model", "aphynity", "--steps", "4", "--run-name", "r")
    summary = _root_train_main()(argv)
    run = tmp_path / "runs" / "r"
    for name in ("config.json", "metrics.jsonl", "summary.json", "checkpoint.pt",
                 "trajectories.png", "learning_curve.png"):  # fmt: skip
        assert (run / name).is_file(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for key in ("train_loss", "lambda", "aug_norm", "log10_mse_test", "log10_mse_extrapolation",
                "param_error_pct", "param_omega0", "nfe"):  # fmt: skip
        assert key in records[-1], key
    assert records[-1]["nfe"] == 4 * (8 - 1)  # rk4 over the 8 test time points
    assert records[-1]["lambda"] > 1.0  # λ grew by τ₂·MSE after each batch
    saved = json.loads((run / "summary.json").read_text())
    assert saved["log10_mse_test"] == pytest.approx(summary["log10_mse_test"])
    assert load_checkpoint(run / "checkpoint.pt")["kind"] == "dynamics"
    model, data, cfg = load_run(run)
    assert cfg.model == "aphynity"
    with pytest.raises(ValueError, match="already exists and is not empty; choose another"):
        main(argv)
    assert model.physics.estimates()["omega0"] == pytest.approx(saved["param_omega0"])


def test_true_ode_run_has_nothing_to_train_and_is_accurate(tmp_path):
    tight = ["--method", "dopri5", "--rtol", "1e-10", "--atol", "1e-10", "--dtype", "float64"]
    argv = _args(tmp_path, *PENDULUM, "--model", "true_ode", *tight, "--no-plot")
    summary = main(argv)
    assert summary["iterations"] == 0 and summary["trainable_parameters"] == 0
    assert summary["log10_mse_test"] < -14 and summary["log10_mse_extrapolation"] < -14
    assert summary["param_error_pct"] == pytest.approx(0.0, abs=1e-10)


def test_conservative_dataset_reports_energy_drift(tmp_path):
    argv = _args(tmp_path, "--dataset", "mass_spring", "--n-train", "2", "--n-test", "2",
                 "--duration", "2", "--horizon", "1", "--model", "hamiltonian", "--steps", "2",
                 "--hidden", "8", "--window", "4", "--no-plot")  # fmt: skip
    summary = main(argv)
    assert math.isfinite(summary["energy_drift"])
    assert summary["energy_drift_data"] < 1e-6


def test_field_dataset_run_writes_field_plots(tmp_path):
    argv = _args(tmp_path, "--dataset", "reaction_diffusion", "--n-train", "2", "--n-test", "1",
                 "--duration", "0.4", "--horizon", "0.2", "--data-params", '{"size": 8}',
                 "--model", "aphynity", "--steps", "2", "--batch-size", "2")  # fmt: skip
    summary = main(argv)
    run = Path(summary["run_dir"])
    assert (run / "fields.png").is_file()
    assert set(summary) >= {"param_a", "param_b", "param_error_pct", "log10_mse_test"}


def test_bad_input_is_rejected_with_clear_messages(tmp_path):
    with pytest.raises(ValueError, match="Unknown dynamics dataset 'pendulm'"):
        main(_args(tmp_path, "--dataset", "pendulm"))
    with pytest.raises(ValueError, match="longer than the generated data"):
        main(_args(tmp_path, "--dataset", "pendulum", "--horizon", "50"))
    with pytest.raises(ValueError, match="'conv' is a field model"):
        main(_args(tmp_path, *PENDULUM, "--model", "node", "--network", "conv"))
    with pytest.raises(ValueError, match="D must be >= 0"):
        main(_args(tmp_path, "--dataset", "advection_diffusion", "--data-params", '{"D": -1}'))
    with pytest.raises(ValueError, match="unknown config key 'epochs'"):
        main(_args(tmp_path, *PENDULUM, "--config", str(_yaml(tmp_path, "epochs: 3"))))
    assert not any((tmp_path / "runs").glob("*/checkpoint.pt"))


def _yaml(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    return path


def test_windows_are_drawn_inside_the_training_horizon(tmp_path):
    from odenets.dynamics import load_dataset
    from odenets.dynamics.train import DynamicsConfig, training_batch

    data = load_dataset("pendulum", tmp_path, n_train=3, n_test=1, duration=4.0, horizon=2.0)
    gen = torch.Generator().manual_seed(0)
    batch = training_batch(data, DynamicsConfig(window=3, batch_size=3), gen)
    assert batch.shape == (3, 3, 2)
    horizon = data.train[:, : data.horizon_steps]
    for segment in batch:  # every window is a contiguous piece of a training trajectory
        found = any(torch.equal(horizon[i, s : s + 3], segment) for i in range(3) for s in range(2))
        assert found
    whole = training_batch(data, DynamicsConfig(window=9, batch_size=3), gen)
    assert whole.shape == (3, data.horizon_steps, 2)  # longer than the horizon: whole horizons


def test_window_batches_span_all_starts_and_whole_steps_use_whole_horizons(tmp_path):
    from odenets.dynamics import load_dataset
    from odenets.dynamics.train import DynamicsConfig, training_batch

    data = load_dataset("pendulum", tmp_path, n_train=2, n_test=1, duration=4.0, horizon=2.0)
    horizon = data.train[:, : data.horizon_steps]  # 4 points: 3 windows of 2 per trajectory
    gen = torch.Generator().manual_seed(0)
    batch = training_batch(data, DynamicsConfig(window=2, batch_size=6), gen)
    assert batch.shape == (6, 2, 2)  # more windows than trajectories, every window once
    every = {(i, s) for i in range(2) for s in range(3)}
    found = {(i, s) for i, s in every for seg in batch if torch.equal(horizon[i, s : s + 2], seg)}
    assert found == every
    whole = training_batch(data, DynamicsConfig(window=2, batch_size=6), gen, whole=True)
    assert whole.shape == (2, data.horizon_steps, 2)  # at most all trajectories


def test_whole_steps_follow_the_window_steps(tmp_path):
    summary = main(_args(tmp_path, *PENDULUM, "--model", "aphynity", "--steps", "2",
                         "--whole-steps", "3", "--window", "2", "--no-plot"))  # fmt: skip
    assert summary["iterations"] == 5
    with pytest.raises(ValueError, match="whole_steps must be an integer >= 0"):
        main(_args(tmp_path, *PENDULUM, "--whole-steps", "-1", "--run-name", "bad"))


def test_lbfgs_whole_horizon_steps_reduce_the_loss_far_below_adam(tmp_path):
    common = [*PENDULUM, "--model", "physics", "--steps", "1", "--whole-steps", "2",
              "--eval-every", "1", "--dtype", "float64", "--no-plot"]  # fmt: skip
    runs = {}
    for opt in ("adam", "lbfgs"):
        main(_args(tmp_path, *common, "--optimizer", opt, "--lbfgs-iter", "10", "--run-name", opt))
        lines = (tmp_path / "runs" / opt / "metrics.jsonl").read_text().splitlines()
        runs[opt] = [json.loads(line)["log10_mse_train"] for line in lines]
    assert runs["lbfgs"][0] == pytest.approx(runs["adam"][0])  # the same Adam window step
    assert runs["lbfgs"][-1] < runs["lbfgs"][0] - 0.5  # 20 L-BFGS iterations: the fit improves
    assert runs["lbfgs"][-1] < runs["adam"][-1] - 0.5  # and beats 2 Adam steps by far
    with pytest.raises(ValueError, match="optimizer must be one of|Unknown optimizer"):
        main(_args(tmp_path, *PENDULUM, "--optimizer", "sgd", "--run-name", "bad"))
    with pytest.raises(ValueError, match="optimizer 'lbfgs' trains the whole_steps iterations"):
        main(_args(tmp_path, *PENDULUM, "--optimizer", "lbfgs", "--run-name", "bad2"))
