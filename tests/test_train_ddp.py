"""torchrun with 2 processes (gloo on CPU) against one process; a hung rank ends the job."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from test_train import ROOT, TINY, load_train_script

from odenets.training import epoch_batches

train = load_train_script()
ARGS = [*TINY, "--epochs", "2", "--batch-size", "64", "--no-plot"]


def test_two_ranks_split_each_global_batch_exactly():
    single = epoch_batches(1077, 64, epoch=3, seed=5)
    ranks = [epoch_batches(1077, 64, epoch=3, seed=5, rank=r, world_size=2) for r in (0, 1)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 1077 // 64
    for i, batch in enumerate(single):
        halves = torch.cat([ranks[0][i], ranks[1][i]])
        assert len(ranks[0][i]) == 32 and sorted(halves.tolist()) == sorted(batch.tolist())
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        epoch_batches(1077, 63, epoch=0, seed=0, world_size=2)


def test_torchrun_two_processes_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run"]  # the `torchrun` command
    out = ["--out-dir", str(tmp_path), "--run-name", "ddp"]
    cmd = [*torchrun, "--nproc_per_node=2", "--standalone", str(ROOT / "train.py"), *ARGS, *out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("best epoch") == 1  # only rank 0 prints ...
    assert "Grad strides do not match bucket view strides" not in proc.stderr  # fixed at its cause
    ddp_dir = tmp_path / "ddp"
    records = [json.loads(line) for line in (ddp_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # ... and writes (one line per epoch)
    summary = json.loads((ddp_dir / "summary.json").read_text())
    assert summary["world_size"] == 2

    threads = torch.get_num_threads()
    try:
        single = train.main([*ARGS, "--out-dir", str(tmp_path), "--run-name", "single"])
    finally:
        torch.set_num_threads(threads)
    ref = [
        json.loads(line) for line in (tmp_path / "single/metrics.jsonl").read_text().splitlines()
    ]
    # Same global batches and averaged gradients; BatchNorm normalises each rank's half batch
    # (SyncBatchNorm is GPU-only), so the runs differ by a little, not by round-off.
    for a, b in zip(records, ref, strict=True):
        assert a["iteration"] == b["iteration"] and a["lr"] == pytest.approx(b["lr"])
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.02)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=0.02)
    assert summary["test_loss"] == pytest.approx(single["test_loss"], rel=0.02)
    assert abs(summary["test_acc"] - single["test_acc"]) <= 0.03


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_hung_rank_ends_the_job_with_a_clear_message(tmp_path):
    """Rank 1 is stopped (SIGSTOP) after the first checkpoint; rank 0 gives up after
    --ddp-timeout seconds with a message instead of waiting forever."""
    port = _free_port()
    argv = [sys.executable, str(ROOT / "train.py"), *TINY, "--epochs", "50", "--batch-size",
            "64", "--ckpt-every", "2", "--ddp-timeout", "3", "--no-plot", "--out-dir",
            str(tmp_path), "--run-name", "hung"]  # fmt: skip
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "WORLD_SIZE": "2",
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "hung" / "checkpoint_last.pt").exists():
            assert procs[0].poll() is None, procs[0].stderr.read()
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.01)
        os.kill(procs[1].pid, signal.SIGSTOP)
        err = procs[0].communicate(timeout=120)[1]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert procs[0].returncode == 2, err[-2000:]
    assert (
        "train.py: error: rank 0 of 2: another process did not respond within ddp_timeout = 3 s"
        in err
    )
    assert "Traceback" not in err and (tmp_path / "hung" / "checkpoint_last.pt").is_file()
