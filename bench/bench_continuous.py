"""Cost of the continuous-depth models: NFE and time per training step over epochs, with and
without each regulariser, and the node block against torchdiffeq and torchdyn (one run).

Part 1 trains ``odenet_digits`` on digits (the library recipe: SGD 0.1, cosine, batch 64) under
several solver settings and logs, per epoch, the NFE per training forward and backward pass,
the solver's accepted/rejected steps, the NFE of an adaptive evaluation (dopri5, tol 1e-3,
whatever the training solver: is the learned field getting harder to integrate?), seconds per
training step, validation accuracy, and at the end the Jacobian spectrum of the learned field
at the ODE's initial states (largest |λ| and Re λ of ∂F/∂y, dense, through
``odenets.diagnostics``). Part 2 times one forward + backward pass of the same field over
``[0, 1]`` (dopri5, tol 1e-3, direct backprop) through the node block, through
``torchdiffeq.odeint`` called directly and through torchdyn's ``NeuralODE`` (if importable;
it is not a dependency of odenets), with the NFE each took, and prints the ratios.

    python bench/bench_continuous.py --out results/bench_continuous.md
    python bench/bench_continuous.py --epochs 2 --configs rk4,dopri5
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchdiffeq
from torch import nn

import odenets
from odenets.data import get_dataset
from odenets.diagnostics import LinearizedMap, eigenvalues

EVAL = dict(eval_method="dopri5", eval_rtol=1e-3, eval_atol=1e-3, eval_options={})
CONFIGS = {
    "rk4": {},  # the registered default: one rk4 step of h = 1 (4 NFE)
    "dopri5": dict(method="dopri5", rtol=1e-3, atol=1e-3, options={}),
    "dopri5+kinetic": dict(method="dopri5", rtol=1e-3, atol=1e-3, options={}, kinetic=0.01),
    "dopri5+jacobian": dict(method="dopri5", rtol=1e-3, atol=1e-3, options={}, jacobian=0.01),
    "dopri5+both": dict(
        method="dopri5", rtol=1e-3, atol=1e-3, options={}, kinetic=0.01, jacobian=0.01
    ),
    "dopri5+steer": dict(method="dopri5", rtol=1e-3, atol=1e-3, options={}, steer=0.5),
    "dopri5 tol 1e-5": dict(method="dopri5", rtol=1e-5, atol=1e-5, options={}),
    "rk4+both": dict(kinetic=0.01, jacobian=0.01),
}


def spectrum(block, y0: torch.Tensor, n: int = 4) -> tuple[float, float]:
    """Mean over ``n`` examples of the largest |λ| and Re λ of ∂F/∂y at the initial state."""
    field = block.field
    mod, real = [], []
    for y in y0[:n]:

        def fn(v, field=field):
            return field(v, torch.zeros(())) if block.time_dependent else field(v)

        spec = eigenvalues(LinearizedMap(fn, y[None].double()), k=1, method="dense")
        mod.append(abs(spec.largest_modulus[0]))
        real.append(spec.largest_real[0].real)
    return statistics.mean(mod), statistics.mean(real)


def train(name: str, overrides: dict, data, epochs: int, seed: int) -> list[dict]:
    torch.manual_seed(seed)
    model = odenets.create_model("odenet_digits", **{**overrides, **EVAL})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    steps = len(data.train) // 64
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    block = model.block
    rows = []
    for epoch in range(epochs):
        model.train()
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(data.train), generator=gen)
        sums = dict(nfe_f=0, nfe_b=0, acc=0, rej=0, seconds=0.0)
        for i in range(steps):
            index = order[i * 64 : (i + 1) * 64]
            x, y = data.prepare(data.train.x[index]), data.train.y[index]
            start = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            penalty = odenets.regularizers.continuous_penalty(model)
            (loss if penalty is None else loss + penalty).backward()
            opt.step()
            opt.zero_grad()
            sched.step()
            sums["seconds"] += time.perf_counter() - start
            sums["nfe_f"] += block.nfe_forward
            sums["nfe_b"] += block.nfe_backward
            sums["acc"] += block.steps_accepted
            sums["rej"] += block.steps_rejected
        model.eval()
        with torch.no_grad():
            x, y = data.prepare(data.val.x), data.val.y
            acc = (model(x).argmax(1) == y).float().mean().item()
            nfe_eval = block.nfe_forward
        rows.append(dict(config=name, epoch=epoch + 1, nfe_f=sums["nfe_f"] / steps,
                         nfe_b=sums["nfe_b"] / steps, acc_steps=sums["acc"] / steps,
                         rej_steps=sums["rej"] / steps, ms=1e3 * sums["seconds"] / steps,
                         nfe_eval=nfe_eval, val=100 * acc))  # fmt: skip
        print(f"{name:18s} epoch {epoch + 1}: " + ", ".join(
            f"{k} {v:.3g}" for k, v in rows[-1].items() if k not in ("config", "epoch")
        ), flush=True)  # fmt: skip
    model.eval()
    with torch.no_grad():
        y0 = model.downsampling(data.prepare(data.val.x[:4]))
        y0 = block.init(y0)
    model.double()
    rows[-1]["lam_mod"], rows[-1]["lam_re"] = spectrum(block, y0.double())
    return rows


class Counted(nn.Module):
    """``f(t, y) = F(y, t)`` for the libraries, counting its calls."""

    def __init__(self, field):
        super().__init__()
        self.field, self.calls = field, 0

    def forward(self, t, y, *args, **kwargs):  # torchdyn passes args=
        self.calls += 1
        return self.field(y, t)


def libraries(data, repeats: int) -> tuple[list[dict], str]:
    torch.manual_seed(0)
    model = odenets.create_model("odenet_digits", method="dopri5", rtol=1e-3, atol=1e-3,
                                 options={})  # fmt: skip
    block, field = model.block, model.block.field
    with torch.no_grad():
        y0 = model.downsampling(data.prepare(data.train.x[:64]))
    t = torch.tensor([0.0, 1.0])
    counted = Counted(field)
    runs = {
        "node block": lambda: block(y0),
        "torchdiffeq.odeint": lambda: torchdiffeq.odeint(
            counted, y0, t, rtol=1e-3, atol=1e-3, method="dopri5"
        )[-1],  # fmt: skip
    }
    note = ""
    try:
        from torchdyn.core import NeuralODE

        dyn = NeuralODE(Counted(field), solver="dopri5", atol=1e-3, rtol=1e-3,
                        sensitivity="autograd", return_t_eval=False)  # fmt: skip
        runs["torchdyn NeuralODE"] = lambda: dyn(y0, t)[-1]
        note = f"torchdyn {__import__('torchdyn').__version__}"
    except Exception as err:  # noqa: BLE001 - report why it is missing, whatever it is
        note = f"torchdyn could not be imported ({type(err).__name__}: {err})"
    samples = {name: [] for name in runs}
    nfe = {}
    for rep in range(repeats + 1):  # interleaved; the first round is a warm-up
        for name, run in runs.items():
            field.zero_grad(set_to_none=True)
            counter = dyn.vf.vf if name.startswith("torchdyn") else counted
            before = counter.calls if name != "node block" else 0
            start = time.perf_counter()
            run().square().mean().backward()
            elapsed = time.perf_counter() - start
            if name == "node block":
                nfe[name] = block.nfe_forward
            else:
                nfe[name] = counter.calls - before
            if rep:
                samples[name].append(elapsed)
    base = statistics.median(samples["torchdiffeq.odeint"])
    rows = [dict(call=name, ms=1e3 * statistics.median(v), ratio=statistics.median(v) / base,
                 nfe=nfe[name]) for name, v in samples.items()]  # fmt: skip
    return rows, note


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = get_dataset("digits")
    rows = []
    for name in args.configs.split(","):
        rows += train(name, CONFIGS[name], data, args.epochs, args.seed)
    lib_rows, note = libraries(data, args.repeats)
    lines = [
        "## 1. Training `odenet_digits` on digits under each solver setting",
        "",
        f"{args.epochs} epochs (budget cut from the recipe's 8), seed {args.seed}, 1 thread. "
        "NFE per training forward / backward pass and accepted / rejected steps per forward "
        "(means over the epoch's 16 iterations); eval NFE: one dopri5 (tol 1e-3) solve of the "
        "360 validation images; ms per training step (forward + penalty + backward + update). "
        "Last column (final epoch only): largest |λ| / Re λ of ∂F/∂y at the initial states of "
        "4 validation images (dense eigenvalues).",
        "",
        "| config | epoch | NFE fwd | NFE bwd | steps acc/rej | eval NFE | ms/step | val % "
        "| λ: max abs, max Re |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lam = f"{r['lam_mod']:.2f}, {r['lam_re']:.2f}" if "lam_mod" in r else ""
        lines.append(
            f"| {r['config']} | {r['epoch']} | {r['nfe_f']:.1f} | {r['nfe_b']:.1f} "
            f"| {r['acc_steps']:.1f}/{r['rej_steps']:.1f} | {r['nfe_eval']} | {r['ms']:.0f} "
            f"| {r['val']:.2f} | {lam} |"
        )
    first = {r["config"]: r for r in rows if r["epoch"] == args.epochs}
    if "rk4" in first:
        lines += ["", "Time per step relative to `rk4` (final epoch): " + ", ".join(
            f"{k} {v['ms'] / first['rk4']['ms']:.2f}×" for k, v in first.items()
        )]  # fmt: skip
    lines += [
        "",
        "## 2. One forward + backward pass of the same field: node block vs the libraries",
        "",
        f"`odenet_digits`' field (64 channels, 3×3, batch 64) at initialisation over [0, 1], "
        f"dopri5, rtol = atol = 1e-3, direct backprop; median of {args.repeats}. {note}.",
        "",
        "| call | median ms | ratio to odeint | NFE forward |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['call']} | {r['ms']:.1f} | {r['ratio']:.3f} | {r['nfe']} |" for r in lib_rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        command = shlex.join(["python", "bench/bench_continuous.py", *(argv or sys.argv[1:])])
        Path(args.out).write_text(
            f"# Continuous-depth models: NFE and time per training step\n\n"
            f"Produced by `{command}` on a shared 2-core CPU (timings are noisy; ratios within "
            f"one run are the meaningful part).\n\n{text}\n"
        )


if __name__ == "__main__":
    main()
