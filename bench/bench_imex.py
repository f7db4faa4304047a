"""Cost of an IMEX block against an Euler block of the same width (same run, ratios).

Both blocks use the same explicit field ``−Kᵀσ(N(Ky))`` (3×3 conv ``K``); the IMEX block adds
the exact implicit solve ``(I + hLᵀL)⁻¹`` by FFT (depthwise ``L``: an elementwise division per
channel; full ``L``: a C×C solve per frequency). Haber et al. (2019) claim a cost comparable
to a convolution; the target is an IMEX/Euler time ratio ≤ 1.5 for the depthwise operator.

    python bench/bench_imex.py                      # prints the table
    python bench/bench_imex.py --out results/bench_imex.md
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import odenets


def time_call(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def forward_backward(block, x):
    def run():
        block.zero_grad(set_to_none=True)
        block(x).sum().backward()

    return run


def forward_only(block, x):
    def run():
        with torch.no_grad():
            block(x)

    return run


def measure(channels: int, size: int, batch: int, repeats: int, device: str) -> list[dict]:
    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size, device=device)
    field_kwargs = {"norm": "batch"}
    euler = odenets.create_block(
        "parabolic", channels=channels, ndim=2, h=1.0, field_kwargs=field_kwargs
    )
    blocks = {
        "euler": euler,
        "imex (depthwise L)": odenets.create_block(
            "imex", channels=channels, ndim=2, h=1.0, field_kwargs=field_kwargs
        ),
        "imex (full L)": odenets.create_block(
            "imex", channels=channels, ndim=2, h=1.0, field_kwargs=field_kwargs, operator="full"
        ),
    }
    for block in blocks.values():
        block.to(device)
    rows = []
    for mode, make in (("forward", forward_only), ("forward+backward", forward_backward)):
        runs = {name: make(block, x) for name, block in blocks.items()}
        for run in runs.values():  # warm-up
            run()
        samples = {name: [] for name in runs}
        for _ in range(repeats):  # interleaved, so load changes hit every block alike
            for name, run in runs.items():
                samples[name] += time_call(run, 1)
        if device == "cuda":
            torch.cuda.synchronize()
        base = statistics.median(samples["euler"])
        for name, values in samples.items():
            median = statistics.median(values)
            rows.append(dict(mode=mode, block=name, ms=1e3 * median, ratio=median / base))
    return rows


def table(rows, header: str) -> str:
    lines = [header, "", "| pass | block | median ms | ratio to euler |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['block']} | {r['ms']:.2f} | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write a markdown table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = measure(args.channels, args.size, args.batch, args.repeats, args.device)
    header = (
        f"IMEX vs Euler block: {args.channels} channels, {args.size}×{args.size}, batch "
        f"{args.batch}, {args.device}, {args.threads} threads, median of {args.repeats}"
    )
    text = table(rows, header)
    print(text)
    if args.out:
        command = "python bench/bench_imex.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if k != "out"
        )
        with open(args.out, "w") as f:
            f.write(f"# IMEX block cost\n\nCommand: `{command} --out {args.out}`\n\n{text}\n")


if __name__ == "__main__":
    main()
