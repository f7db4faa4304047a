"""Image/signal training end to end: outputs, the Python API, divergence, hooks (tiny runs)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from odenets.checkpoint import load_checkpoint, load_model
from odenets.cli import main as odenets_main
from odenets.data import get_dataset
from odenets.training import (
    ClassificationConfig,
    ClassificationTask,
    MetricHook,
    NonFiniteLossError,
    evaluate,
    fit,
    non_finite_entries,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "euler_digits", "--model-kwargs", '{"widths": [4, 8], "steps": 2}']
TINY_KW = dict(model="euler_digits", model_kwargs={"widths": [4, 8], "steps": 2})


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


def records_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_run_writes_every_output(tmp_path, capsys):
    summary = run(
        tmp_path, "--epochs", "2", "--batch-size", "128", "--seed", "3", "--log-every", "4"
    )
    out = capsys.readouterr().out
    assert "config:\n" in out and "  seed = 3" in out  # the effective config is printed
    assert "epoch 2/2 iteration 8/8 loss " in out  # plain progress lines when not on a terminal
    run_dir = tmp_path / "run"
    files = {p.name for p in run_dir.iterdir()}
    assert files == {
        "config.json", "metrics.jsonl", "checkpoint_last.pt", "checkpoint_best.pt",
        "summary.json", "learning_curves.png",
    }  # fmt: skip
    assert f"outputs in {run_dir}/: " + ", ".join(sorted(files)) in out  # listed at the end
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["model_kwargs"] == {"widths": [4, 8], "steps": 2}
    records = records_of(run_dir)
    assert [r["epoch"] for r in records] == [1, 2] and records[-1]["iteration"] == 2 * (1077 // 128)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
                "samples_per_s", "peak_memory_mb"):  # fmt: skip
        assert all(np.isfinite(r[key]) for r in records), key
    assert records[0]["lr"] > records[1]["lr"]  # cosine decay
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["test_acc"] == summary["test_acc"]
    assert saved["command"].startswith("python train.py --model euler_digits --model-kwargs")
    assert (run_dir / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"

    # the best checkpoint rebuilds the model (diagnostics rely on load_model) and scores the
    # reported test accuracy
    model = load_model(run_dir / "checkpoint_best.pt")
    assert model.model_overrides["in_chans"] == 1 and model.model_overrides["num_classes"] == 10
    test = evaluate(model, get_dataset("digits"), "test")
    assert test["acc"] == pytest.approx(saved["test_acc"], abs=1e-12)
    best = load_checkpoint(run_dir / "checkpoint_best.pt")
    assert best["best"]["epoch"] == saved["best_epoch"]
    last = load_checkpoint(run_dir / "checkpoint_last.pt")
    assert last["progress"]["iteration"] == 16 and {"task", "rng", "config"} <= set(last)


def test_python_api_trains_the_default_model_in_process(tmp_path):
    summary = fit(ClassificationConfig(epochs=2, out_dir=str(tmp_path), run_name="api", plot=False))
    assert summary["model"] == "hamiltonian_digits" and summary["parameters"] == 18_794
    assert summary["status"] == "completed" and summary["test_acc"] > 0.3  # 3× chance: it learns
    assert Path(summary["run_dir"], "checkpoint_best.pt").is_file()


def test_odenets_train_subcommand_is_train_py(tmp_path, capsys):
    argv = ["train", *TINY, "--epochs", "1", "--batch-size", "256", "--out-dir", str(tmp_path),
            "--no-plot"]  # fmt: skip
    assert odenets_main([*argv, "--run-name", "cli"]) == 0
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["status"] == "completed"
    assert odenets_main([*argv, "--lrr", "1"]) == 2
    assert "odenets train: error: unknown flag --lrr. Did you mean" in capsys.readouterr().err


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


def test_non_finite_loss_stops_and_keeps_only_finite_checkpoints(tmp_path):
    with pytest.raises(
        NonFiniteLossError, match=r"diverged at epoch 1, iteration 2/16: non-finite"
    ):
        run(tmp_path, "--epochs", "2", "--lr", "1e30", "--ckpt-every", "1")
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["checkpoints"] == ["checkpoint_last.pt"]
    last = load_checkpoint(run_dir / "checkpoint_last.pt")  # written before the bad iteration
    assert last["progress"]["iteration"] == 1
    assert f"kept: {run_dir / 'checkpoint_last.pt'} (after iteration 1)" in summary["message"]
    assert non_finite_entries(last) == []


def test_non_finite_weights_after_a_step_are_never_checkpointed(tmp_path):
    # lr 1e10: the loss of iteration 2 is still finite, the weights after its update are not
    with pytest.raises(NonFiniteLossError, match=r"iteration 2/16: \d+ non-finite tensors in the "
                       r"state to checkpoint \(model\.opening"):  # fmt: skip
        run(tmp_path, "--epochs", "1", "--lr", "1e10", "--ckpt-every", "1")
    run_dir = tmp_path / "run"
    for path in run_dir.glob("checkpoint*.pt"):
        assert non_finite_entries(load_checkpoint(path)) == [], path
    assert load_checkpoint(run_dir / "checkpoint_last.pt")["progress"]["iteration"] == 1
    # no checkpoint at all before the divergence: the message says so, names none
    with pytest.raises(NonFiniteLossError, match=r"No checkpoint was written before it"):
        run(tmp_path, "--epochs", "1", "--lr", "1e10", name="none")
    assert json.loads((tmp_path / "none" / "summary.json").read_text())["checkpoints"] == []


def test_best_checkpoint_is_never_chosen_on_a_non_finite_metric():
    better = ClassificationTask.better
    assert better({"val_acc": 0.5, "val_loss": 1.0}, None)
    assert not better({"val_acc": 0.9, "val_loss": math.nan}, None)
    assert not better({"val_acc": math.nan, "val_loss": 1.0}, {"val_acc": 0.1, "val_loss": 3.0})
    assert not better({"val_acc": 0.5, "val_loss": 1.0}, {"val_acc": 0.5, "val_loss": 0.9})


def test_early_stop_on_a_validation_plateau(tmp_path):
    # lr 1e-30 leaves the weights as they are: the second epoch cannot improve on the first
    summary = run(tmp_path, "--epochs", "4", "--batch-size", "256", "--lr", "1e-30",
                  "--early-stop", "1", "--no-plot")  # fmt: skip
    assert summary["stopped_early"] and summary["iterations"] == 2 * (1077 // 256)
    assert [r["epoch"] for r in records_of(tmp_path / "run")] == [1, 2]


class CountingHook(MetricHook):
    def __init__(self):
        self.train, self.eval = 0, 0

    def after_train_step(self, model):
        self.train += 1

    def after_eval_batch(self, model):
        self.eval += 1

    def period_metrics(self):
        out = {"hook_train_steps": self.train, "hook_eval_batches": self.eval}
        self.train = self.eval = 0
        return out


def test_metric_hooks_feed_every_metrics_line(tmp_path):
    cfg = ClassificationConfig(**TINY_KW, epochs=2, batch_size=256, out_dir=str(tmp_path),
                               run_name="hook", plot=False)  # fmt: skip
    fit(cfg, hooks=[CountingHook()])
    records = records_of(tmp_path / "hook")
    assert [r["hook_train_steps"] for r in records] == [4, 4]  # 1077 // 256 iterations
    assert [r["hook_eval_batches"] for r in records] == [1, 1]  # 360 val images, batch 512
    assert "nfe_forward_train" not in records[0]  # no module counts evaluations here


def test_nfe_of_continuous_blocks_is_logged_per_epoch(tmp_path):
    # one stage, one rk4 step of the Neural ODE block: 4 field evaluations per forward pass
    kwargs = {"widths": [4], "steps": 1, "scheme_kwargs": {"method": "rk4"}}
    cfg = ClassificationConfig(
        model="node_digits",
        model_kwargs=kwargs,
        epochs=1,
        batch_size=256,
        out_dir=str(tmp_path),
        run_name="nfe",
        plot=False,
    )
    fit(cfg)
    record = records_of(tmp_path / "nfe")[0]
    assert record["nfe_forward_train"] == 4 and record["nfe_forward_eval"] == 4
    assert record["nfe_backward_train"] == 0  # direct backprop: no adjoint solve


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
