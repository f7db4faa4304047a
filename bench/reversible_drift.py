"""Float32 reconstruction drift of reversible backprop against depth, and its gradient error.

Reversible backprop rebuilds the states of a stage backwards with the inverse step; in
float32 the rebuilt states differ from the forward ones by round-off amplified through
depth. For each reversible scheme (its default vector field and normalisation, train mode,
random initial weights; ``--act tanh`` for a smooth field), step ``h`` and depth ``N`` (a
stage of ``N`` steps, per-step weights, horizon ``N·h``), this measures:

* drift: ``max_j ‖rebuilt_j − forward_j‖ / ‖forward_j‖`` over the states of the stage, the
  rebuilt ones obtained with ``block.inverse`` from the final state in float32 (the same
  arithmetic as the backward pass of ``memory="reversible"``);
* grad (rev): relative error of all parameter gradients with ``memory="reversible"`` in
  float32 against stored backprop in float64 (same weights, same batch);
* grad (store): the same for stored backprop in float32, the error float32 has anyway.

Gradients count as accurate up to the largest measured ``N`` before the first with
grad (rev) ≥ 1e-3 (the float32 error of stored backprop at that depth is printed beside).

    python bench/reversible_drift.py                                  # prints the tables
    python bench/reversible_drift.py --out results/reversible_drift.md
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from pathlib import Path

import torch

import odenets
from odenets import Stage
from odenets.blocks import state_leaves

ACCURATE = 1e-3


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def state_tensor(state) -> torch.Tensor:
    return torch.cat([t.flatten() for t in state_leaves(state)])


def drift(stage: Stage, y0: torch.Tensor) -> float:
    """Largest relative difference between the rebuilt and the forward states."""
    with torch.no_grad():
        forward = [state for _, _, state in stage.states(y0)]
        state, worst = forward[-1], 0.0
        for j in range(stage.steps - 1, 0, -1):  # state 0 (init) is recomputed, not rebuilt
            state = stage.block_at(j).inverse(state)
            worst = max(worst, relative(state_tensor(state), state_tensor(forward[j])))
    return worst


def gradients(stage: Stage, y0: torch.Tensor, probe: torch.Tensor, policy: str) -> torch.Tensor:
    stage = copy.deepcopy(stage)
    stage.memory = policy
    (stage(y0) * probe).sum().backward()
    return torch.cat([p.grad.flatten() for p in stage.parameters()])


def measure(scheme: str, h: float, steps: int, args) -> dict:
    torch.manual_seed(0)
    field_kwargs = {} if args.act is None else {"act": args.act}
    stage = Stage.build(
        scheme, channels=args.channels, ndim=2, steps=steps, horizon=steps * h,
        field_kwargs=field_kwargs,
    ).train()  # fmt: skip
    y0 = torch.randn(args.batch, args.channels, args.size, args.size)
    probe = torch.randn_like(y0)
    reference = gradients(stage.double(), y0.double(), probe.double(), "store")
    stage = stage.float()
    rev = gradients(stage, y0, probe, "reversible")
    store = gradients(stage, y0, probe, "store")
    finite = bool(torch.isfinite(reference).all())
    return dict(
        drift=drift(stage, y0) if finite else math.nan,
        grad_rev=relative(rev, reference) if finite else math.nan,
        grad_store=relative(store, reference) if finite else math.nan,
    )


def table(scheme: str, results: dict, args) -> str:
    lines = [
        f"### {scheme}",
        "",
        "| h | N | drift | grad (rev) | grad (store) |",
        "|---|---|---|---|---|",
    ]
    for (h, steps), r in results.items():
        lines.append(
            f"| {h:g} | {steps} | {r['drift']:.1e} | {r['grad_rev']:.1e} | {r['grad_store']:.1e} |"
        )
    lines.append("")
    for h in args.h:
        rows = sorted((n, r) for (hh, n), r in results.items() if hh == h)
        bad = [(n, r) for n, r in rows if not r["grad_rev"] < ACCURATE]  # NaN counts as bad
        if not bad:
            text = f"every measured depth (N ≤ {rows[-1][0]})"
        else:
            n_bad, r = bad[0]
            good = [n for n, _ in rows if n < n_bad]
            text = f"N = {max(good)}" if good else "no measured depth"
            text += (
                f"; at N = {n_bad} the error is {r['grad_rev']:.1e} "
                f"(float32 stored backprop: {r['grad_store']:.1e})"
            )
        lines.append(f"- h = {h:g}: gradient error < {ACCURATE:g} up to {text}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schemes", nargs="+", default=odenets.memory.reversible_schemes())
    parser.add_argument("--h", nargs="+", type=float, default=[0.1, 0.5, 1.0])
    parser.add_argument("--steps", nargs="+", type=int, default=[8, 32, 128, 512])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--act", help="activation of the fields (default: the field's, ReLU)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the markdown tables here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sections = [
        f"random initial weights, default fields (their default normalisation, train mode; "
        f"activation {args.act or 'relu'}), {args.channels} channels, "
        f"{args.size}×{args.size} images, batch {args.batch}; torch {torch.__version__}"
    ]
    for scheme in args.schemes:
        results = {(h, n): measure(scheme, h, n, args) for h in args.h for n in args.steps}
        sections.append(table(scheme, results, args))
        print(sections[-1], flush=True)
    if args.out is not None:
        command = "python " + " ".join(["bench/reversible_drift.py", *sys.argv[1:]])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(f"\n## `{command}`\n\n" + "\n\n".join(sections) + "\n")
        print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
