"""Peak memory and time of one training step: store vs reversible vs checkpoint, same run.

One stage of ``N`` = 8, 32, 128 steps (per-step weights, 64 channels) in the ODENet layout
(opening conv, stage, global pool, linear head), one SGD step on a random batch. Measured per
policy:

* peak: the highest memory during the step above the level just before it (parameters,
  their gradients, the batch and the optimizer state are allocated before and excluded;
  they grow with ``N`` for per-step weights and are reported apart as ``params+grads``).
  CPU: the process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``)
  with glibc's mmap threshold fixed at 64 KiB, so freed tensors go back to the system and
  the resident set follows the live tensors. CUDA: ``torch.cuda.max_memory_allocated``.
* saved: bytes of the distinct tensors autograd keeps for backward (``saved_tensors_hooks``;
  exact). Not shown for checkpoint: it installs its own hooks, and what it keeps (the step
  inputs) is held outside autograd's saved tensors.
* time: best of ``--repeats`` training steps, the policies interleaved in the same run.
  CPU: the process's CPU time with one thread (the compute, not the waits for a core on a
  shared machine), measured in this process with the default allocator (the memory part
  runs in a subprocess, since its allocator setting costs page faults); CUDA: wall time;
  the ratio is against ``store`` at the same ``N``. Targets (issue 7): reversible peak at
  128 steps within 1.15× of that at 8; reversible time ≤ 1.4× store (theory 4/3).

    python bench/bench_memory.py                                  # CPU, prints the table
    python bench/bench_memory.py --out results/bench_memory.md
    python bench/bench_memory.py --device cuda --batch 128 --size 32
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import odenets

POLICIES = ("store", "reversible", "checkpoint")
MMAP_THRESHOLD = "65536"


# --------------------------------------------------------------------------------- memory
def _status_kb(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE).group(1))


class PeakMemory:
    """Peak bytes allocated inside the ``with`` block above the level at its start."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
            self.start = _status_kb("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
        else:
            self.peak = _status_kb("VmHWM") * 1024 - self.start


def saved_bytes(model, x) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves during a forward pass."""
    params = {id(p) for p in model.parameters()}
    seen = {}

    def pack(t):
        if id(t) not in params:
            seen[(t.untyped_storage().data_ptr(), t.storage_offset(), t.shape)] = (
                t.numel() * t.element_size()
            )
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


# ------------------------------------------------------------------------------ the setup
def build(scheme, steps, policy, args, device):
    torch.manual_seed(0)
    model = odenets.ODENet(
        scheme, widths=(args.width,), steps=steps, horizon=1.0, in_chans=3, num_classes=10
    )
    model = odenets.set_memory_policy(model, policy).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    return model, optimizer


def train_step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=False)  # gradients stay allocated between steps
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """CPU: this process's CPU time (one thread: the compute, not the waits for a core on a
    shared machine); CUDA: wall time after a synchronisation."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return time.perf_counter()
    return time.process_time()


def measure(scheme: str, args, device: torch.device, part: str) -> list[dict]:
    """Rows of (scheme, steps, policy) with ``time`` (part "time") or memory (part "memory")."""
    torch.manual_seed(1)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rows = []
    for steps in args.steps:
        setups = {p: build(scheme, steps, p, args, device) for p in POLICIES}
        for model, optimizer in setups.values():
            train_step(model, optimizer, x, y)  # warm-up: lazy allocations, gradients
        if part == "time":
            times = {p: [] for p in POLICIES}
            for _ in range(args.repeats):
                for policy, (model, optimizer) in setups.items():
                    start = clock(device)
                    train_step(model, optimizer, x, y)
                    times[policy].append(clock(device) - start)
            rows += [dict(scheme=scheme, steps=steps, policy=p, time=min(times[p])) for p in times]
        else:
            for policy, (model, optimizer) in setups.items():
                with PeakMemory(device) as peak:
                    train_step(model, optimizer, x, y)
                params = sum(2 * p.numel() * p.element_size() for p in model.parameters())
                saved = saved_bytes(model, x)
                rows.append(
                    dict(
                        scheme=scheme,
                        steps=steps,
                        policy=policy,
                        peak=peak.peak,
                        saved=saved,
                        params=params,
                    )
                )
        del setups
    return rows


def measure_memory_in_subprocess(argv: list[str]) -> list[dict]:
    """CPU memory rows from a fresh process whose allocator returns freed blocks at once."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}
    command = [sys.executable, __file__, *argv, "--part", "memory"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- the table
def table(rows: list[dict], args, device: torch.device) -> str:
    mb = 2**20
    by_key = {(r["scheme"], r["steps"], r["policy"]): r for r in rows}
    lines = [
        f"| scheme | N | policy | peak MB | peak / peak(N={args.steps[0]}) | saved MB "
        "| params+grads MB "
        "| time ms | time / store |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first = by_key[(r["scheme"], args.steps[0], r["policy"])]
        store = by_key[(r["scheme"], r["steps"], "store")]
        saved = "—" if r["policy"] == "checkpoint" else f"{r['saved'] / mb:.1f}"
        lines.append(
            f"| {r['scheme']} | {r['steps']} | {r['policy']} | {r['peak'] / mb:.1f} "
            f"| {r['peak'] / first['peak']:.2f} | {saved} | {r['params'] / mb:.2f} "
            f"| {1e3 * r['time']:.0f} | {r['time'] / store['time']:.2f} |"
        )
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = f", {torch.get_num_threads()} thread(s)" if device.type == "cpu" else ""
    head = (
        f"device: {where}{threads}; torch {torch.__version__}; batch {args.batch}, "
        f"{args.width} channels, {args.size}×{args.size} images, per-step weights, "
        f"time: best of {args.repeats} steps"
    )
    return head + "\n\n" + "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schemes", nargs="+", default=["hamiltonian", "leapfrog"])
    parser.add_argument("--steps", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (timing noise)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument("--part", choices=["memory"], help=argparse.SUPPRESS)  # internal
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.part == "memory":
        if os.environ.get("MALLOC_MMAP_THRESHOLD_") != MMAP_THRESHOLD:
            raise SystemExit("--part memory runs under MALLOC_MMAP_THRESHOLD_=" + MMAP_THRESHOLD)
        rows = [r for scheme in args.schemes for r in measure(scheme, args, device, "memory")]
        print(json.dumps(rows))
        return
    if device.type == "cpu":
        # the resident set follows the live tensors only when freed blocks go back to the
        # system at once; that costs page faults, so time is measured in this process
        memory = measure_memory_in_subprocess(_no_out(argv))
    else:
        memory = [r for scheme in args.schemes for r in measure(scheme, args, device, "memory")]
    times = [r for scheme in args.schemes for r in measure(scheme, args, device, "time")]
    rows = [{**m, **t} for m, t in zip(memory, times, strict=True)]
    text = table(rows, args, device)
    print(text)
    if args.out is not None:
        command = "python " + " ".join(["bench/bench_memory.py", *sys.argv[1:]])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(f"\n## `{command}`\n\n{text}\n")
        print(f"appended to {args.out}")


def _no_out(argv: list[str]) -> list[str]:
    """``argv`` without ``--out PATH`` (the memory subprocess writes nothing)."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            kept.append(a)
    return kept


if __name__ == "__main__":
    main()
