"""The CFL experiment: do learned steppers for linear advection obey the CFL condition?

    OMP_NUM_THREADS=1 nice -n 10 python bench/transport_cfl.py --seeds 0 1 --steps 400

For u_t + u_x = 0 on 64 periodic cells of [0, 1), steppers ū ↦ ū⁺ with Δt = C·Δx are
trained, for C ∈ {0.5, 1, 2, 4, 8} and stencil (receptive) radius r ∈ {1, 2, 3, 4, 6}, on
the same data (32 random states of Fourier modes 1..8, A_k ~ N(0,1)/k, and their exact
shift by C cells):
* loss-optimal linear stencil: least squares for the 2r + 1 coefficients of ū⁺ − ū;
* Adam-trained linear stencil (odenets.transport.LearnedStencil: an euler block on a linear
  periodic conv field), zero start, lr 1e-2;
* nonlinear ConvStepper (euler block on conv(2r+1) → tanh → conv(1) → tanh → conv(1)),
  hidden width H with H² + (2r + 4)H + 1 ≈ 120 parameters for every r; lr 3e-3.
Scored on 16 test states rolled out for one period (N/C steps): relative L2 error at the
end, blow-up fraction (non-finite or |u| > 100), von Neumann max|g| (linear) or the
spectral radius of the one-step Jacobian at a test state (nonlinear, dense, through
odenets.diagnostics), and the moment residuals / consistency order of the linear stencils.
Writes results/transport_cfl.md, .json and results/transport_cfl.png.
"""

# ruff: noqa: E501  (table rows and headers)
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from odenets.transport import (
    ConvStepper,
    LearnedStencil,
    consistency_order,
    jacobian_spectrum,
    max_amplification,
    moment_residuals,
    train_stepper,
)
from odenets.transport.problems import advected_fourier, random_modes

COURANTS = [0.5, 1, 2, 4, 8]
RADII = [1, 2, 3, 4, 6]
N, MODES = 64, 8


def data(seed, courant, count):
    gen = torch.Generator().manual_seed(seed)
    amp, phase = random_modes(count, MODES, gen)
    scale = advected_fourier(amp, phase, N, 0.0).abs().amax(-1, keepdim=True)
    amp = amp / scale
    return amp, phase


def pairs(amp, phase, courant):
    return advected_fourier(amp, phase, N, 0.0), advected_fourier(amp, phase, N, courant / N)


def rollout_metrics(model_rollout, amp, phase, courant):
    steps = round(N / courant)
    u0 = advected_fourier(amp, phase, N, 0.0)
    out = model_rollout(u0.float(), steps, blowup=100.0)
    final = out.states[:, -1].double()
    exact = advected_fourier(amp, phase, N, steps * courant / N)
    ok = ~out.blew_up
    err = ((final - exact).norm(dim=-1) / exact.norm(dim=-1))[ok]
    return {"error": float(err.mean()) if ok.any() else math.nan, "blowup": out.blowup_fraction}


def linear_stats(stencil, courant, radius):
    offsets = np.arange(-radius, radius + 1)
    c = np.asarray(stencil, dtype=float)
    s = c.copy()
    s[radius] += 1
    res = moment_residuals(offsets, c, courant, 3)
    return {
        "max_g": max_amplification(offsets, s),
        "moments": res.tolist(),
        "order": consistency_order(res, tol=1e-3),
    }


def hidden_for(radius, budget=120):
    """Width H with H² + (2r + 4)H + 1 ≈ budget parameters (conv 2r+1, conv 1, conv 1)."""
    b = 2 * radius + 4
    return max(1, round((-b + math.sqrt(b * b + 4 * (budget - 1))) / 2))


def run_cell(courant, radius, seed, steps):
    amp, phase = data(seed, courant, 32)
    u, v = pairs(amp, phase, courant)
    test_amp, test_phase = data(1000 + seed, courant, 16)
    out = {}
    # loss-optimal stencil: least squares on the increments
    columns = torch.stack([torch.roll(u, -j, -1) for j in range(-radius, radius + 1)], -1)
    sol = torch.linalg.lstsq(columns.reshape(-1, 2 * radius + 1), (v - u).reshape(-1, 1)).solution
    optimal = LearnedStencil(radius)
    with torch.no_grad():
        optimal.field.weight.copy_(sol[:, 0].float())
    out["optimal"] = {
        **rollout_metrics(optimal.rollout, test_amp, test_phase, courant),
        **linear_stats(sol[:, 0].numpy(), courant, radius),
    }
    # Adam-trained stencil
    torch.manual_seed(seed)
    adam = LearnedStencil(radius)
    uf, vf = u.float(), v.float()
    hist = train_stepper(adam, lambda m, g: ((m(uf) - vf) ** 2).mean(), steps, lr=1e-2)
    out["adam"] = {
        **rollout_metrics(adam.rollout, test_amp, test_phase, courant),
        **linear_stats(adam.stencil().numpy(), courant, radius),
        "loss": hist[-1],
    }
    # nonlinear conv stepper, about 120 parameters for every radius
    torch.manual_seed(seed)
    conv = ConvStepper(radius, hidden=hidden_for(radius))
    hist = train_stepper(conv, lambda m, g: ((m(uf) - vf) ** 2).mean(), steps, lr=3e-3)
    spec = jacobian_spectrum(
        lambda y: conv(y), advected_fourier(test_amp[:1], test_phase[:1], N, 0.0).float()
    )
    out["conv"] = {
        **rollout_metrics(conv.rollout, test_amp, test_phase, courant),
        "spectral_radius": spec["spectral_radius"],
        "loss": hist[-1],
        "params": sum(p.numel() for p in conv.parameters()),
    }
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--out", default="results/transport_cfl")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "OMP_NUM_THREADS=1 nice -n 10 python bench/transport_cfl.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    start = time.perf_counter()
    cells = {}
    for courant in COURANTS:
        for radius in RADII:
            runs = [run_cell(courant, radius, s, args.steps) for s in args.seeds]
            cells[f"{courant},{radius}"] = runs
            print(
                courant,
                radius,
                {k: (round(runs[0][k]["error"], 4), runs[0][k]["blowup"]) for k in runs[0]},
                flush=True,
            )
    report(args, cells, command, time.perf_counter() - start)


def mean_over(runs, model, key):
    values = [r[model][key] for r in runs]
    finite = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(finite)) if finite else math.nan


def report(args, cells, command, seconds):
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "cells": cells}, indent=1))
    labels = {
        "optimal": "loss-optimal linear stencil",
        "adam": "Adam-trained linear stencil",
        "conv": "nonlinear conv stepper (euler block)",
    }
    lines = [
        "# The CFL experiment: learned steppers for linear advection in the (C, r) plane",
        "",
        f"Command: `{command}`",
        "",
        f"Budget: {len(args.seeds)} seeds, {args.steps} Adam steps per model, 32 training "
        f"states, 16 test states rolled out for one period (N/C steps), N = {N}; "
        f"{seconds:.0f} s on one thread. Each cell: mean over seeds of the relative L2 error "
        "at the end of the rollout over the runs that did not blow up, the blow-up fraction "
        "b, and the stability measure (linear: von Neumann max|g|; nonlinear: spectral "
        "radius ρ of the one-step Jacobian at a test state). Domain of dependence: C ≤ r.",
    ]
    for model, title in labels.items():
        lines += [
            "",
            f"## {title}",
            "",
            "| C \\ r | " + " | ".join(map(str, RADII)) + " |",
            "|---|" + "---|" * len(RADII),
        ]
        for courant in COURANTS:
            row = []
            for radius in RADII:
                runs = cells[f"{courant},{radius}"]
                stab = "max_g" if model != "conv" else "spectral_radius"
                row.append(
                    f"{mean_over(runs, model, 'error'):.2g} (b {mean_over(runs, model, 'blowup'):.2f}, "
                    f"{'|g|' if model != 'conv' else 'ρ'} {mean_over(runs, model, stab):.4g})"
                )
            lines.append(f"| {courant} | " + " | ".join(row) + " |")
    lines += [
        "",
        "## Inside and outside the CFL region",
        "",
        "| model | blow-up fraction, C ≤ r | C > r | max stability measure, C ≤ r | C > r |",
        "|---|---:|---:|---:|---:|",
    ]
    for model, title in labels.items():
        stab = "max_g" if model != "conv" else "spectral_radius"
        groups = {True: [], False: []}
        measure = {True: [], False: []}
        for key, runs in cells.items():
            courant, radius = map(float, key.split(","))
            for r in runs:
                groups[courant <= radius].append(r[model]["blowup"])
                measure[courant <= radius].append(r[model][stab])
        lines.append(
            f"| {title} | {np.mean(groups[True]):.2f} | {np.mean(groups[False]):.2f} | "
            f"{np.max(measure[True]):.4g} | {np.max(measure[False]):.4g} |"
        )
    lines += [
        "",
        "## Consistency of the learned linear stencils",
        "",
        "| model | C | r | Σc_j | Σ j c_j + C | Σ j² c_j − C² | order (tol 1e-3) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, runs in cells.items():
        courant, radius = key.split(",")
        for model in ("optimal", "adam"):
            m = runs[0][model]["moments"]
            lines.append(
                f"| {model} | {courant} | {radius} | {m[0]:.2e} | {m[1]:.2e} | {m[2]:.2e} | "
                f"{runs[0][model]['order']} |"
            )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(cells, out.with_suffix(".png"))
    print("\n".join(lines))


def plot(cells, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    titles = {
        "optimal": "loss-optimal linear stencil",
        "adam": "Adam-trained linear stencil",
        "conv": "nonlinear conv stepper",
    }
    for ax, (model, title) in zip(axes, titles.items(), strict=True):
        err = np.full((len(RADII), len(COURANTS)), np.nan)
        blow = np.zeros_like(err)
        for i, radius in enumerate(RADII):
            for j, courant in enumerate(COURANTS):
                runs = cells[f"{courant},{radius}"]
                e = mean_over(runs, model, "error")
                blow[i, j] = mean_over(runs, model, "blowup")
                err[i, j] = math.log10(max(e, 1e-8)) if not math.isnan(e) else np.nan
        masked = np.ma.masked_invalid(err)
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("lightgrey")
        im = ax.imshow(masked, origin="lower", cmap=cmap, vmin=-8, vmax=1, aspect="auto")
        for i in range(len(RADII)):
            for j in range(len(COURANTS)):
                text = "all blew up" if np.isnan(err[i, j]) else f"{err[i, j]:.1f}"
                if blow[i, j] > 0 and not np.isnan(err[i, j]):
                    text += f"\nb={blow[i, j]:.2f}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if np.isnan(err[i, j]) or err[i, j] > -2 else "white",
                )
        c_line = np.linspace(0.5, 8, 200)
        x = np.log2(c_line) + 1  # C = 2^(j − 1)
        y = np.interp(c_line, RADII, range(len(RADII)))
        keep = (c_line >= RADII[0]) & (c_line <= RADII[-1])
        ax.plot(x[keep], y[keep], "r--", lw=2, label="C = r (domain of dependence)")
        ax.set_xticks(range(len(COURANTS)), [str(c) for c in COURANTS])
        ax.set_yticks(range(len(RADII)), [str(r) for r in RADII])
        ax.set_xlabel("Courant number C = aΔt/Δx")
        ax.set_ylabel("stencil radius r (cells)")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=7)
    fig.colorbar(im, ax=axes, label="log10 relative L2 rollout error (grey: every run blew up)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
