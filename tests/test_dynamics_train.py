"""Dynamics runs through train.py: outputs, resume after SIGKILL, divergence, documented runs."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pytest
import torch
from test_train import ROOT, load_train_script
from test_train_resume import _same_weights, kill_after_first_checkpoint

from odenets.checkpoint import load_checkpoint
from odenets.config import ConfigError
from odenets.dynamics import is_dynamics_dataset, load_dataset
from odenets.dynamics.train import DynamicsConfig, load_run, training_batch
from odenets.training import NonFiniteLossError, non_finite_entries, parse_args

train = load_train_script()
PENDULUM = ["--dataset", "pendulum", "--n-train", "4", "--n-test", "2", "--duration", "4",
            "--horizon", "2", "--hidden", "16", "--eval-every", "2"]  # fmt: skip


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("dynamics-cache")


def _args(tmp_path, cache, *extra):
    return [*extra, "--out-dir", str(tmp_path / "runs"), "--cache-dir", str(cache)]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_run_writes_all_outputs_and_resumes_like_an_image_run(tmp_path, cache, capsys):
    argv = _args(tmp_path, cache, *PENDULUM, "--model", "aphynity", "--iterations", "4",
                 "--run-name", "r")  # fmt: skip
    summary = train.main(argv)
    out = capsys.readouterr().out
    assert out.index("dynamics; config:") < out.index("run directory")  # printed first
    run = tmp_path / "runs" / "r"
    files = {"config.json", "metrics.jsonl", "summary.json", "checkpoint_last.pt",
             "trajectories.png", "learning_curve.png"}  # fmt: skip
    assert {p.name for p in run.iterdir()} == files
    assert f"outputs in {run}/: " + ", ".join(sorted(files)) in out
    records = _records(run)
    assert [r["iteration"] for r in records] == [0, 2, 4]  # the initial model, then every 2
    for key in ("train_loss", "lambda", "aug_norm", "log10_mse_test", "log10_mse_extrapolation",
                "param_error_pct", "param_omega0", "nfe"):  # fmt: skip
        assert key in records[-1], key
    assert records[-1]["nfe"] == 4 * (8 - 1)  # rk4 over the 8 test time points
    assert records[-1]["lambda"] > 1.0  # λ grew by τ₂·MSE after each batch
    saved = json.loads((run / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["mode"] == "dynamics"
    assert saved["log10_mse_test"] == pytest.approx(summary["log10_mse_test"])
    model, data, cfg = load_run(run)
    assert cfg.model == "aphynity"
    assert model.physics.estimates()["omega0"] == pytest.approx(saved["param_omega0"])
    with pytest.raises(ValueError, match="already exists and is not empty; continue it with"):
        train.main(argv)
    # extend the finished run: 4 more iterations, the same files, one line per evaluation
    train.main(["--resume", str(run), "--iterations", "8"])
    assert [r["iteration"] for r in _records(run)] == [0, 2, 4, 6, 8]
    assert json.loads((run / "config.json").read_text())["iterations"] == 8
    with pytest.raises(ConfigError, match=r"lr: saved 0.001, given 0.01"):
        train.main(["--resume", str(run), "--lr", "0.01"])


def test_sigkill_mid_run_then_resume_equals_the_uninterrupted_run(tmp_path, cache):
    # Adam with a cosine schedule on windows, then full-batch L-BFGS on whole horizons:
    # every piece of state (both optimisers, the schedule, λ, the batch generator) travels
    args = _args(tmp_path, cache, *PENDULUM, "--model", "aphynity", "--iterations", "30",
                 "--whole-iterations", "4", "--optimizer", "lbfgs", "--lbfgs-iter", "3",
                 "--cosine", "--eval-every", "10", "--ckpt-every", "2", "--no-plot")  # fmt: skip
    killed = tmp_path / "runs" / "killed"
    load_dataset("pendulum", cache, n_train=4, n_test=2, duration=4.0, horizon=2.0)  # cached
    kill_after_first_checkpoint([*args, "--run-name", "killed"], killed)
    done = load_checkpoint(killed / "checkpoint_last.pt")["progress"]["iteration"]
    assert 0 < done < 34
    resumed = train.main(["--resume", str(killed)])
    full = train.main([*args, "--run-name", "full"])
    drop = ("seconds",)
    strip = [{k: v for k, v in r.items() if k not in drop} for r in _records(killed)]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in _records(
        tmp_path / "runs" / "full")]  # fmt: skip
    assert resumed["log10_mse_test"] == full["log10_mse_test"]
    a = load_checkpoint(killed / "checkpoint_last.pt")
    b = load_checkpoint(tmp_path / "runs" / "full" / "checkpoint_last.pt")
    assert _same_weights(a["model"], b["model"]) and a["task"]["lambda"] == b["task"]["lambda"]


def test_a_diverging_run_stops_with_a_summary_and_its_last_finite_checkpoint(tmp_path, cache):
    argv = _args(tmp_path, cache, *PENDULUM, "--model", "node", "--iterations", "40",
                 "--lr", "1e3", "--ckpt-every", "1", "--run-name", "div")  # fmt: skip
    with pytest.raises(NonFiniteLossError, match=r"training diverged at iteration \d+/40: "):
        train.main(argv)
    run = tmp_path / "runs" / "div"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["checkpoints"] == ["checkpoint_last.pt"]
    assert "--substeps" in summary["message"]
    assert non_finite_entries(load_checkpoint(run / "checkpoint_last.pt")) == []


def test_true_ode_run_has_nothing_to_train_and_is_accurate(tmp_path, cache):
    tight = ["--method", "dopri5", "--rtol", "1e-10", "--atol", "1e-10", "--dtype", "float64"]
    summary = train.main(_args(tmp_path, cache, *PENDULUM, "--model", "true_ode", *tight,
                               "--no-plot"))  # fmt: skip
    assert summary["iterations"] == 0 and summary["trainable_parameters"] == 0
    assert summary["log10_mse_test"] < -14 and summary["log10_mse_extrapolation"] < -14
    assert summary["param_error_pct"] == pytest.approx(0.0, abs=1e-10)


def test_conservative_dataset_reports_energy_drift(tmp_path, cache):
    argv = _args(tmp_path, cache, "--dataset", "mass_spring", "--n-train", "2", "--n-test", "2",
                 "--duration", "2", "--horizon", "1", "--model", "hamiltonian", "--iterations",
                 "2", "--hidden", "8", "--window", "4", "--no-plot")  # fmt: skip
    summary = train.main(argv)
    assert math.isfinite(summary["energy_drift"])
    assert summary["energy_drift_data"] < 1e-6


def test_hamiltonian_field_starts_inside_its_stability_interval(cache):
    """The cause of the documented mass–spring run's divergence: h·ω of the initial field."""
    from odenets.dynamics.train import build_model, load_data

    cfg = DynamicsConfig(dataset="mass_spring", model="hamiltonian", cache_dir=str(cache))
    data = load_data(cfg)
    torch.manual_seed(0)
    field_y, field_z = build_model(cfg, data).block.fields  # q' = F_Y(p), p' = F_Z(q)
    zero = torch.zeros(1, 1)
    a = torch.autograd.functional.jacobian(field_y, zero).item()
    b = -torch.autograd.functional.jacobian(field_z, zero).item()
    assert a > 0 and b > 0  # the sign convention of q' = p/m, p' = -k q
    assert data.dt * math.sqrt(a * b) < 2  # symplectic Euler is stable for h·ω ≤ 2
    assert data.dt * math.sqrt(a * b) < 0.2  # with room to grow to the data's ω = 1


def test_field_dataset_run_writes_field_plots(tmp_path, cache):
    argv = _args(
        tmp_path,
        cache,
        "--dataset",
        "reaction_diffusion",
        "--n-train",
        "2",
        "--n-test",
        "1",
        "--duration",
        "0.4",
        "--horizon",
        "0.2",
        "--data-params",
        '{"size": 8}',
        "--model",
        "aphynity",
        "--iterations",
        "2",
        "--batch-size",
        "2",
    )
    summary = train.main(argv)
    assert (Path(summary["run_dir"]) / "fields.png").is_file()
    assert set(summary) >= {"param_a", "param_b", "param_error_pct", "log10_mse_test"}


def test_bad_input_is_rejected_with_clear_messages(tmp_path, cache):
    with pytest.raises(ValueError, match="longer than the generated data"):
        train.main(_args(tmp_path, cache, "--dataset", "pendulum", "--horizon", "50"))
    with pytest.raises(ValueError, match="'conv' is a field model"):
        train.main(_args(tmp_path, cache, *PENDULUM, "--model", "node", "--network", "conv"))
    with pytest.raises(ValueError, match="D must be >= 0"):
        train.main(_args(tmp_path, cache, "--dataset", "advection_diffusion", "--data-params",
                         '{"D": -1}'))  # fmt: skip
    with pytest.raises(ValueError, match="optimizer 'lbfgs' trains the whole_iterations"):
        train.main(_args(tmp_path, cache, *PENDULUM, "--optimizer", "lbfgs"))
    assert not (tmp_path / "runs").exists()  # no run directory for a refused config


def test_a_truncated_cache_is_regenerated(tmp_path):
    sizes = dict(n_train=2, n_test=1, duration=2.0, horizon=1.0)
    data = load_dataset("mass_spring", tmp_path, **sizes)
    data.path.write_bytes(data.path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"dynamics cache .* is unreadable .*; regenerating"):
        again = load_dataset("mass_spring", tmp_path, **sizes)
    assert torch.equal(again.train, data.train)
    assert torch.equal(load_dataset("mass_spring", tmp_path, **sizes).test, data.test)


def test_windows_are_drawn_inside_the_training_horizon(cache):
    data = load_dataset("pendulum", cache, n_train=3, n_test=1, duration=4.0, horizon=2.0)
    gen = torch.Generator().manual_seed(0)
    batch = training_batch(data, DynamicsConfig(window=3, batch_size=3), gen)
    assert batch.shape == (3, 3, 2)
    horizon = data.train[:, : data.horizon_steps]
    for segment in batch:  # every window is a contiguous piece of a training trajectory
        found = any(torch.equal(horizon[i, s : s + 3], segment) for i in range(3) for s in range(2))
        assert found
    whole = training_batch(data, DynamicsConfig(window=9, batch_size=3), gen)
    assert whole.shape == (3, data.horizon_steps, 2)  # longer than the horizon: whole horizons


def test_window_batches_span_all_starts_and_whole_iterations_use_whole_horizons(cache):
    data = load_dataset("pendulum", cache, n_train=2, n_test=1, duration=4.0, horizon=2.0)
    horizon = data.train[:, : data.horizon_steps]  # 4 points: 3 windows of 2 per trajectory
    gen = torch.Generator().manual_seed(0)
    batch = training_batch(data, DynamicsConfig(window=2, batch_size=6), gen)
    assert batch.shape == (6, 2, 2)  # more windows than trajectories, every window once
    every = {(i, s) for i in range(2) for s in range(3)}
    found = {(i, s) for i, s in every for seg in batch if torch.equal(horizon[i, s : s + 2], seg)}
    assert found == every
    whole = training_batch(data, DynamicsConfig(window=2, batch_size=6), gen, whole=True)
    assert whole.shape == (2, data.horizon_steps, 2)  # at most all trajectories


def test_lbfgs_whole_horizon_iterations_reduce_the_loss_far_below_adam(tmp_path, cache):
    common = [*PENDULUM, "--model", "physics", "--iterations", "1", "--whole-iterations", "2",
              "--eval-every", "1", "--dtype", "float64", "--no-plot"]  # fmt: skip
    runs = {}
    for opt in ("adam", "lbfgs"):
        train.main(_args(tmp_path, cache, *common, "--optimizer", opt, "--lbfgs-iter", "10",
                         "--run-name", opt))  # fmt: skip
        runs[opt] = [r["log10_mse_train"] for r in _records(tmp_path / "runs" / opt)][1:]
    assert len(runs["lbfgs"]) == 3  # one window iteration, then two whole-horizon ones
    assert runs["lbfgs"][0] == pytest.approx(runs["adam"][0])  # the same Adam window step
    assert runs["lbfgs"][-1] < runs["lbfgs"][0] - 0.5  # 20 L-BFGS iterations: the fit improves
    assert runs["lbfgs"][-1] < runs["adam"][-1] - 0.5  # and beats 2 Adam steps by far


# ------------------------------------------------- every documented dynamics command learns
def documented_commands() -> list[list[str]]:
    """The ``python train.py --dataset <dynamics dataset> ...`` lines of README and docs
    (one per distinct config: ``--dataset pendulum`` is ``--dataset pendulum --model aphynity``)."""
    found, configs = [], []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in path.read_text().splitlines():
            match = re.search(r"(?:python train\.py|odenets train) (--dataset [^#`]*)", line)
            if match and is_dynamics_dataset(shlex.split(match[1])[1]):
                argv = shlex.split(match[1])
                config = parse_args(argv)
                if config not in configs:
                    found.append(argv)
                    configs.append(config)
    return found


# Smaller data and 10 iterations keep each run short; the model, its options and the optimiser
# are the documented command's own. Before the Hamiltonian fix its mass–spring run got worse.
CHEAP = {
    "pendulum": ["--n-train", "6", "--n-test", "2"],
    "mass_spring": ["--n-train", "8", "--n-test", "2"],
    "linear_advection": ["--n-train", "4", "--n-test", "2"],
    "reaction_diffusion": [
        "--n-train",
        "2",
        "--n-test",
        "1",
        "--duration",
        "0.6",
        "--horizon",
        "0.3",
        "--data-params",
        '{"size": 8}',
    ],  # fmt: skip
    "advection_diffusion": [
        "--n-train",
        "2",
        "--n-test",
        "1",
        "--duration",
        "0.1",
        "--horizon",
        "0.05",
        "--data-params",
        '{"size": 8}',
    ],  # fmt: skip
    "wave": ["--n-train", "8", "--n-test", "2", "--n-val", "2", "--data-params", '{"size": 12}'],
}
ITERATIONS = {"mass_spring": 40}  # its whole-horizon MSE first rises while the windows fit


@pytest.mark.parametrize("argv", documented_commands(), ids=" ".join)
def test_each_documented_dynamics_command_improves_on_its_initial_loss(argv, tmp_path, cache):
    dataset = argv[1]
    assert dataset in CHEAP, f"give the documented dataset {dataset!r} cheap sizes in CHEAP"
    argv = [a for a in argv]
    for flag in ("--iterations", "--steps", "--whole-iterations"):  # the budget is ours
        if flag in argv:
            i = argv.index(flag)
            del argv[i : i + 2]
    n = ITERATIONS.get(dataset, 10)
    budget = ["--iterations", str(n), "--eval-every", str(n), "--no-plot", "--run-name", "doc"]
    train.main(_args(tmp_path, cache, *argv, *CHEAP[dataset], *budget))
    first, last = _records(tmp_path / "runs" / "doc")
    assert first["iteration"] == 0 and last["iteration"] == n
    assert last["log10_mse_train"] < first["log10_mse_train"], (first, last)
    if dataset == "mass_spring":  # item 6: the Hamiltonian stepper learns (it diverged to +1.5)
        assert last["log10_mse_train"] < first["log10_mse_train"] - 1
