"""Checkpoint selection on a validation split (``n_val``) in dynamics training, not the test."""

import json

import numpy as np
import pytest
import torch
from test_train import load_train_script

from odenets.checkpoint import load_checkpoint
from odenets.dynamics import load_dataset
from odenets.dynamics.metrics import evaluate
from odenets.dynamics.ode_datasets import INT32_MAX, aphynity_pendulum_initial
from odenets.dynamics.train import load_run

train = load_train_script()
PENDULUM = ["--dataset", "pendulum", "--n-train", "4", "--n-test", "2", "--duration", "4",
            "--horizon", "2", "--hidden", "16", "--no-plot"]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("validation-cache")


def test_validation_trajectories_are_new_training_draws(cache):
    """``n_val`` adds trajectories seeded after the training ones: the first ``n_train`` are
    unchanged, none equals a test trajectory."""
    sizes = dict(n_train=4, n_test=3, duration=2.0, horizon=1.0)
    plain = load_dataset("pendulum", cache, **sizes)
    split = load_dataset("pendulum", cache, n_val=2, **sizes)
    torch.testing.assert_close(split.train, plain.train, rtol=0, atol=0)
    assert split.val.shape == (2, *plain.train.shape[1:])
    for i in range(2):  # APHYNITY's seeding: training trajectory j is seeded with j
        np.testing.assert_allclose(split.val[i, 0].numpy(), aphynity_pendulum_initial(4 + i))
        assert not np.allclose(split.val[i, 0], aphynity_pendulum_initial(INT32_MAX - i))
    assert plain.val is None


def test_training_keeps_the_checkpoint_of_lowest_validation_mse(tmp_path, cache):
    runs = tmp_path / "runs"
    args = [*PENDULUM, "--model", "node", "--n-val", "3", "--iterations", "12", "--eval-every",
            "2", "--lr", "3e-2", "--out-dir", str(runs), "--cache-dir", str(cache),
            "--run-name", "val"]  # fmt: skip
    summary = train.main(args)
    records = [json.loads(x) for x in (runs / "val" / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if r["iteration"] > 0]
    assert all("log10_mse_val" in r for r in records)
    best = min(trained, key=lambda r: r["log10_mse_val"])
    assert summary["best_iteration"] == best["iteration"]
    assert summary["best_log10_mse_val"] == pytest.approx(best["log10_mse_val"])
    # the final test score is the selected checkpoint's, whatever the test curve did
    assert summary["log10_mse_test"] == pytest.approx(best["log10_mse_test"], abs=1e-9)
    payload = load_checkpoint(runs / "val" / "checkpoint_best.pt")
    model, data, _ = load_run(runs / "val")
    model.load_state_dict(payload["model"])
    metrics, _ = evaluate(model, data)
    assert metrics["log10_mse_val"] == pytest.approx(best["log10_mse_val"], abs=1e-9)


def test_negative_n_val_is_a_clear_error(tmp_path, cache):
    from odenets.config import ConfigError

    with pytest.raises(ConfigError, match="n_val must be >= 0"):
        train.main([*PENDULUM, "--n-val", "-1", "--out-dir", str(tmp_path),
                    "--cache-dir", str(cache)])  # fmt: skip


def test_scaled_network_sees_unit_scale_states_and_returns_the_data_scale(cache):
    """``scale_network``: ``F_a(y) = s_out ⊙ net(y ⊘ s_in)`` with the training data's
    per-channel stds of the states and of their finite-difference rates."""
    from odenets.dynamics.hybrid import ScaledNetwork, data_scales

    data = load_dataset("wave", cache, n_train=6, n_test=2, size=12).to(torch.float64)
    s_in, s_out = data_scales(data.train, data.dt)
    assert s_in.shape == s_out.shape == (2, 1, 1)
    u_t = data.train[:, :, 1]
    assert float(s_in[1]) == pytest.approx(float(u_t.std()), rel=1e-12)
    rate = (data.train[:, 1:, 1] - data.train[:, :-1, 1]) / data.dt
    assert float(s_out[1]) == pytest.approx(float(rate.std()), rel=1e-12)
    assert float(s_out[1]) > 100 * float(s_in[0])  # u_tt ≫ u: why the network is scaled
    seen = []
    net = ScaledNetwork(lambda y: seen.append(y) or torch.ones_like(y), s_in, s_out)
    out = net(data.train[:3, 0])
    torch.testing.assert_close(seen[0], data.train[:3, 0] / s_in)
    torch.testing.assert_close(out, s_out.expand_as(out))


def test_scale_network_needs_a_network(tmp_path, cache):
    from odenets.config import ConfigError

    with pytest.raises(ConfigError, match="scale_network scales the network F_a"):
        train.main([*PENDULUM, "--model", "physics", "--scale-network", "--out-dir",
                    str(tmp_path), "--cache-dir", str(cache)])  # fmt: skip
