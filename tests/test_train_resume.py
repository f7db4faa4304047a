"""Resume: exact after SIGKILL, explicit about what may change, extension of a finished run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_train import ROOT, TINY, load_train_script

from odenets.checkpoint import load_checkpoint
from odenets.config import ConfigError
from odenets.training import ClassificationConfig, fit, resume

train = load_train_script()
ARGS = [*TINY, "--epochs", "2", "--batch-size", "64", "--ckpt-every", "2", "--no-plot"]
TIMING = ("seconds", "samples_per_s", "peak_memory_mb")


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _metrics(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoint_last.pt")["model"]


def _same_weights(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in b)


def kill_after_first_checkpoint(argv, run_dir, *, timeout=120) -> None:
    """Run ``train.py argv`` in a subprocess and SIGKILL it once a checkpoint exists."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not (run_dir / "checkpoint_last.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, f"no checkpoint within {timeout} s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists()  # it really stopped mid-run


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    kill_after_first_checkpoint([*ARGS, "--out-dir", str(tmp_path), "--run-name", "killed"], killed)
    progress = load_checkpoint(killed / "checkpoint_last.pt")["progress"]
    assert 0 < progress["iteration"] < 16, progress  # ... in the middle of an epoch
    with open(killed / "metrics.jsonl", "a") as f:  # a line torn by the kill is tolerated
        f.write('{"epoch": 1, "iteration": 16, "train_lo')

    resumed = train.main(["--resume", str(killed)])
    full = train.main([*ARGS, "--out-dir", str(tmp_path), "--run-name", "full"])
    assert _metrics(killed) == _metrics(tmp_path / "full")  # every epoch, bit for bit
    assert len(_metrics(killed)) == 2
    assert resumed["test_acc"] == full["test_acc"] and resumed["test_loss"] == full["test_loss"]
    assert _same_weights(_weights(killed), _weights(tmp_path / "full"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch run (step schedule, no decay within 30 epochs) and its files."""
    out = tmp_path_factory.mktemp("resume")
    argv = [*TINY, "--batch-size", "128", "--schedule", "step", "--no-plot"]
    train.main([*argv, "--epochs", "1", "--out-dir", str(out), "--run-name", "one"])
    return out, argv


def test_refused_resume_changes_nothing(finished):
    out, _ = finished
    run_dir = out / "one"
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    for flags, match in [
        (["--lr", "0.05"], r"these keys cannot change \(lr: saved 0.1, given 0.05\).*optimiser"),
        (["--model", "rk2_digits"], r"model: saved 'euler_digits', given 'rk2_digits'"),
        (["--schedule", "cosine", "--step-gamma", "0.5"], r"schedule: .*; step_gamma: "),
        (["--dataset", "pendulum"], r"dataset: saved 'digits', given 'pendulum'"),
        (["--epochs", "0"], r"epochs must be a positive integer"),
    ]:
        with pytest.raises(ConfigError, match=match):
            train.main(["--resume", str(run_dir), *flags])
    after = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert after == before  # config.json byte-identical, nothing else touched either


def test_extending_a_run_equals_a_fresh_longer_run(finished, tmp_path):
    out, argv = finished
    extended = tmp_path / "extended"
    os.system(f"cp -r {out / 'one'} {extended}")
    summary = train.main(["--resume", str(extended), "--epochs", "2"])
    assert json.loads((extended / "config.json").read_text())["epochs"] == 2  # recorded
    fresh = train.main([*argv, "--epochs", "2", "--out-dir", str(tmp_path), "--run-name", "fresh"])
    assert _metrics(extended) == _metrics(tmp_path / "fresh")  # the schedule allows it here
    assert _metrics(extended)[1]["lr"] == 0.1  # a non-zero lr in the added epoch
    assert summary["test_acc"] == fresh["test_acc"] and summary["epochs"] == 2
    assert _same_weights(_weights(extended), _weights(tmp_path / "fresh"))
    with pytest.raises(ConfigError, match=r"has completed 16 iterations, more than the 8"):
        train.main(["--resume", str(extended), "--epochs", "1"])  # never shorter


def test_extending_a_cosine_run_rebuilds_the_schedule(tmp_path):
    cfg = ClassificationConfig(model="euler_digits", model_kwargs={"widths": [4, 8], "steps": 2},
                               epochs=1, batch_size=256, out_dir=str(tmp_path), run_name="cos",
                               plot=False)  # fmt: skip
    fit(cfg)
    first = _weights(tmp_path / "cos")
    assert _metrics(tmp_path / "cos")[-1]["lr"] == 0.0  # the cosine of one epoch ended at 0
    resume(tmp_path / "cos", epochs=3)
    records = _metrics(tmp_path / "cos")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[1]["lr"] > 0.01  # epoch 2 of the 3-epoch cosine, not lr 0
    assert not _same_weights(_weights(tmp_path / "cos"), first)  # the weights moved


def test_a_run_killed_before_its_first_checkpoint_restarts_from_the_beginning(finished, tmp_path):
    out, argv = finished
    run_dir = tmp_path / "early"
    run_dir.mkdir()
    (run_dir / "config.json").write_bytes((out / "one" / "config.json").read_bytes())
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "iteration": 8, "val_lo')  # torn
    train.main(["--resume", str(run_dir)])
    assert _metrics(run_dir) == _metrics(out / "one")
