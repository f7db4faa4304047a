"""Overhead of the ``node`` block over calling ``torchdiffeq.odeint`` directly (same run).

Both integrate the same vector field (Chen et al.'s ODE-Net field: GroupNorm–ReLU–ConcatConv
twice, 64 channels, 6×6 — the state of ``odenet_mnist``) over ``[0, h]`` with torchdiffeq's
fixed-grid ``rk4``; the block adds the wrapper ``f(t, y) = F(y, t)``, the NFE counters and
validation. Target: time ratio ≤ 1.05.

    python bench/bench_node.py
    python bench/bench_node.py --out results/bench_node.md
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchdiffeq

from odenets.blocks import NodeBlock
from odenets.models.continuous import ConcatConvField


def direct(field, y0, t, options, backward):
    def run():
        field.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(backward):
            out = torchdiffeq.odeint(lambda s, y: field(y, s), y0, t, method="rk4", options=options)
            if backward:
                out[-1].sum().backward()

    return run


def via_block(block, y0, backward):
    def run():
        block.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(backward):
            out = block(y0)
            if backward:
                out.sum().backward()

    return run


def measure(channels, size, batch, step_size, repeats, device):
    torch.manual_seed(0)
    field = ConcatConvField(channels, 2).to(device)
    block = NodeBlock(field, h=1.0, method="rk4", options={"step_size": step_size})
    y0 = torch.randn(batch, channels, size, size, device=device)
    t = torch.tensor([0.0, 1.0], device=device)
    rows = []
    for mode, backward in (("forward", False), ("forward+backward", True)):
        runs = {
            "torchdiffeq.odeint": direct(field, y0, t, {"step_size": step_size}, backward),
            "node block": via_block(block, y0, backward),
        }
        for run in runs.values():
            run()
        samples = {name: [] for name in runs}
        for _ in range(repeats):  # interleaved, so load changes hit both alike
            for name, run in runs.items():
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                run()
                if device == "cuda":
                    torch.cuda.synchronize()
                samples[name].append(time.perf_counter() - start)
        base = statistics.median(samples["torchdiffeq.odeint"])
        for name, values in samples.items():
            median = statistics.median(values)
            rows.append(dict(mode=mode, name=name, ms=1e3 * median, ratio=median / base))
    return rows, block.nfe_forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--step-size", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write a markdown table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows, nfe = measure(
        args.channels, args.size, args.batch, args.step_size, args.repeats, args.device
    )
    lines = [
        f"node block vs torchdiffeq.odeint: rk4, step {args.step_size} ({nfe} NFE), "
        f"{args.channels} channels {args.size}×{args.size}, batch {args.batch}, {args.device}, "
        f"{args.threads} threads, median of {args.repeats}",
        "",
        "| pass | call | median ms | ratio to odeint |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['mode']} | {r['name']} | {r['ms']:.2f} | {r['ratio']:.3f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        flags = " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"
        )
        with open(args.out, "w") as f:
            f.write(
                f"# Neural ODE block overhead\n\nCommand: `python bench/bench_node.py {flags} "
                f"--out {args.out}`\n\n{text}\n"
            )


if __name__ == "__main__":
    main()
