"""Exact resume: a run killed with SIGKILL mid-epoch and resumed equals an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch
from test_train import ROOT, TINY, load_train_script

from odenets.checkpoint import load_checkpoint

train = load_train_script()
ARGS = [*TINY, "--epochs", "2", "--batch-size", "64", "--ckpt-every-steps", "2", "--no-plot"]
TIMING = ("seconds", "samples_per_s", "peak_memory_mb")


def _metrics(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    threads = torch.get_num_threads()
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *ARGS, "--out-dir", str(tmp_path),
         "--run-name", "killed"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint_last.pt").exists():  # the first mid-epoch checkpoint
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()  # it really stopped mid-run
    progress = load_checkpoint(killed / "checkpoint_last.pt")["progress"]
    assert progress["step_in_epoch"] > 0, progress  # ... in the middle of an epoch

    try:
        resumed = train.main(["--resume", str(killed)])
        full = train.main([*ARGS, "--out-dir", str(tmp_path), "--run-name", "full"])
    finally:
        torch.set_num_threads(threads)
    assert _metrics(killed) == _metrics(tmp_path / "full")  # every epoch, bit for bit
    assert len(_metrics(killed)) == 2
    assert resumed["test_acc"] == full["test_acc"] and resumed["test_loss"] == full["test_loss"]
    a = load_checkpoint(killed / "checkpoint_last.pt")
    b = load_checkpoint(tmp_path / "full" / "checkpoint_last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
