"""Momentum ResNet against its reference implementation (``momentumnet``): memory, time, gradients.

One stage of ``N`` = 8, 32, 128 steps of Momentum ResNet (``h = 1``, ``γ = 0.9``, per-step
residual conv fields conv–BN–ReLU–conv, 64 channels, 16×16 images, batch 16) in the layout
of ``bench/bench_memory.py`` (opening conv, stage, global pool, linear head). The same field
modules run under four integrators:

* ``odenets store`` and ``odenets reversible``: ``create_block("momentum_resnet", ...)`` in a
  ``Stage`` with ``memory="store"`` / ``"reversible"``;
* ``momentumnet backprop`` and ``momentumnet memory-free``: Sander et al.'s package,
  ``MomentumNet(fields, gamma, use_backprop=True/False)``.

Measured per integrator: the peak memory of one SGD training step above the level before it
and the bytes autograd saves (the method of ``bench_memory.py``: CPU peak resident set in a
subprocess whose allocator returns freed blocks at once); the time of a training step (this
process's CPU time, one thread, best of ``--repeats``, the integrators interleaved); and the
relative error of the float32 parameter gradient against a float64 backprop of the same
network. Our inverse divides by ``γ`` in floating point, so its round-off grows as ``γ⁻ᴺ``;
the package keeps ``v`` in an exact fixed-point representation (Maclaurin et al. 2015) but
rounds ``γ`` to a fraction ``n/65536`` and reads ``v`` back in float32.

    python bench/bench_momentum.py                 # writes results/bench_momentum.md
    python bench/bench_momentum.py --steps 8 --repeats 1 --stdout   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from momentumnet import MomentumNet
from torch import nn

import odenets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import MMAP_THRESHOLD, PeakMemory, clock, saved_bytes  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "results" / "bench_momentum.md"
INTEGRATORS = ("odenets store", "odenets reversible", "momentumnet backprop",
               "momentumnet memory-free")  # fmt: skip


class Net(nn.Module):
    """Opening conv + BN + ReLU, one stage, global average pool, linear head."""

    def __init__(self, stage: nn.Module, width: int):
        super().__init__()
        self.opening = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.stage = stage
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.stage(self.opening(x)).mean(dim=(2, 3)))


def build(integrator: str, steps: int, args) -> Net:
    """The same weights (seeded) under each integrator."""
    torch.manual_seed(0)
    fields = [odenets.create_field("residual", args.width, 2) for _ in range(steps)]
    if integrator.startswith("odenets"):
        blocks = [
            odenets.create_block("momentum_resnet", f, h=1.0, gamma=args.gamma) for f in fields
        ]
        stage = odenets.Stage(blocks, horizon=float(steps), memory=integrator.split()[1])
    else:
        stage = MomentumNet(fields, gamma=args.gamma, use_backprop=integrator.endswith("backprop"))
    torch.manual_seed(1)
    return Net(stage, args.width).train()


def batch(args, dtype=torch.float32):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(dtype)
    return x, torch.randint(0, 10, (args.batch,), generator=gen)


def train_step(model, optimizer, x, y):
    optimizer.zero_grad(set_to_none=False)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def measure_memory(args) -> list[dict]:
    x, y = batch(args)
    rows = []
    for steps in args.steps:
        for integrator in INTEGRATORS:
            model = build(integrator, steps, args)
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
            train_step(model, optimizer, x, y)  # warm-up: gradients allocated
            with PeakMemory(torch.device("cpu")) as peak:
                train_step(model, optimizer, x, y)
            rows.append(dict(steps=steps, integrator=integrator, peak=peak.peak,
                             saved=saved_bytes(model, x)))  # fmt: skip
            del model, optimizer
    return rows


def measure_time(args) -> dict:
    x, y = batch(args)
    seconds = {}
    for steps in args.steps:
        setups = {}
        for integrator in INTEGRATORS:
            model = build(integrator, steps, args)
            setups[integrator] = (model, torch.optim.SGD(model.parameters(), lr=1e-3))
            train_step(*setups[integrator], x, y)
        times = {k: [] for k in setups}
        for _ in range(args.repeats):
            for integrator, (model, optimizer) in setups.items():
                start = clock(torch.device("cpu"))
                train_step(model, optimizer, x, y)
                times[integrator].append(clock(torch.device("cpu")) - start)
        seconds.update({(steps, k): min(v) for k, v in times.items()})
    return seconds


def gradient_errors(args) -> dict:
    """Relative error of each float32 integrator's parameter gradient vs float64 backprop."""
    errors = {}
    for steps in args.steps:
        reference = build("odenets store", steps, args).double()
        x64, y = batch(args, torch.float64)
        F.cross_entropy(reference(x64), y).backward()
        exact = torch.cat([p.grad.flatten() for p in reference.parameters()])
        for integrator in INTEGRATORS:
            model = build(integrator, steps, args)
            F.cross_entropy(model(x64.float()), y).backward()
            grad = torch.cat([p.grad.flatten() for p in model.parameters()]).double()
            errors[(steps, integrator)] = float((grad - exact).norm() / exact.norm())
    return errors


def report(args, memory, seconds, errors) -> str:
    mb = 2**20
    store = {(r["steps"]): seconds[(r["steps"], "odenets store")] for r in memory}
    first = {r["integrator"]: r["peak"] for r in memory if r["steps"] == args.steps[0]}
    command = " ".join(["python bench/bench_momentum.py", *sys.argv[1:]])
    lines = [
        "# Momentum ResNet: `odenets` against the `momentumnet` reference",
        "",
        f"Made by `{command}`"
        f" (torch {torch.__version__}, CPU, {torch.get_num_threads()} thread). One stage of N "
        f"Momentum ResNet steps (h = 1, γ = {args.gamma}, per-step conv–BN–ReLU–conv fields, "
        f"{args.width} channels, {args.size}×{args.size} images, batch {args.batch}) between an "
        "opening conv and a linear head; the same weights under each integrator. Peak: memory "
        "of one SGD step above the level before it (process peak resident set, allocator "
        "returning freed blocks at once); saved: bytes autograd keeps for backward; time: CPU "
        f"time of one training step, best of {args.repeats}, integrators interleaved; gradient "
        "error: float32 parameter gradient against a float64 backprop of the same network.",
        "",
        "| N | integrator | peak MB | peak / peak(N="
        f"{args.steps[0]}) | saved MB | time ms | time / odenets store | gradient error |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in memory:
        t = seconds[(r["steps"], r["integrator"])]
        lines.append(
            f"| {r['steps']} | {r['integrator']} | {r['peak'] / mb:.1f} "
            f"| {r['peak'] / first[r['integrator']]:.2f} | {r['saved'] / mb:.1f} "
            f"| {1e3 * t:.0f} | {t / store[r['steps']]:.2f} "
            f"| {errors[(r['steps'], r['integrator'])]:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    parser.add_argument("--part", choices=["memory"], help=argparse.SUPPRESS)  # internal
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.part == "memory":
        print(json.dumps(measure_memory(args)))
        return 0
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": MMAP_THRESHOLD}
    command = [sys.executable, __file__, *[a for a in argv if a != "--stdout"], "--part", "memory"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    memory = json.loads(out.strip().splitlines()[-1])
    seconds = measure_time(args)
    errors = gradient_errors(args)
    text = report(args, memory, seconds, errors)
    if args.stdout:
        sys.stdout.write(text)
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
