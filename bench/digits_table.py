"""Digits table: every registered ``*_digits`` model, one recipe, several seeds.

    python bench/digits_table.py                  # all models, 3 seeds -> results/digits_table.md
    python bench/digits_table.py --models 'rk*_digits' --seeds 0 --epochs 2 --out /tmp/t.md

Each run is ``python train.py --model <name> --seed <s> <recipe>`` (called in-process), so the
table is what a user gets from train.py. It reports test accuracy (best-validation checkpoint,
mean ± std over seeds), parameters, seconds per training epoch, and that time as a ratio to
``euler_digits`` (the plain ResNet baseline) measured in the same run. Models named by
``--skip`` (none by default) are listed with their measured step time instead of being
trained. The machine's load average is recorded, since the timings of a shared machine are
noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import odenets
from odenets.data import get_dataset
from odenets.training import build_model_for, count_parameters

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ["--epochs", "8", "--batch-size", "64", "--lr", "0.1", "--threads", "1", "--no-plot"]
BASELINE = "euler_digits"


def load_train_main():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_script"] = module
    spec.loader.exec_module(module)
    return module.main


def step_seconds(name: str, data, batch_size: int = 64, repeats: int = 2) -> float:
    """Seconds of one forward + backward pass at the recipe's batch size (after a warm-up)."""
    torch.manual_seed(0)
    model = build_model_for(data, name)
    x, y = data.prepare(data.train.x[:batch_size]), data.train.y[:batch_size]
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*_digits", help="shell pattern of model names")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--skip", default="", help="comma-separated names to skip")
    parser.add_argument("--out", default=str(ROOT / "results" / "digits_table.md"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    recipe = list(RECIPE)
    if args.epochs is not None:
        recipe[recipe.index("--epochs") + 1] = str(args.epochs)
    names = odenets.list_models(args.models)
    if not names:
        raise SystemExit(f"no model matches {args.models!r}")
    torch.set_num_threads(1)
    train_main = load_train_main()
    data = get_dataset("digits")

    rows, skipped = {}, {}
    load_before = os.getloadavg()[1]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out_dir:
        for name in names:
            if name in args.skip.split(","):
                skipped[name] = step = step_seconds(name, data)
                print(f"{name:22s} skipped: {step:.2f} s per training step", flush=True)
                continue
            runs = []
            for seed in seeds:
                argv_run = ["--model", name, "--seed", str(seed), *recipe, "--out-dir", out_dir,
                            "--run-name", f"{name}-{seed}"]  # fmt: skip
                with contextlib.redirect_stdout(io.StringIO()):
                    runs.append(train_main(argv_run))
                print(f"{name:22s} seed {seed}: test acc {runs[-1]['test_acc']:.4f}  "
                      f"{runs[-1]['seconds_per_epoch']:.2f} s/epoch", flush=True)  # fmt: skip
            rows[name] = runs
    total = time.perf_counter() - started
    load = f"{load_before:.1f} at the start, {os.getloadavg()[1]:.1f} at the end"

    base = None
    if BASELINE in rows:
        base = statistics.mean(r["seconds_per_epoch"] for r in rows[BASELINE])
    command = shlex.join(["python", "bench/digits_table.py", *(argv or sys.argv[1:])])
    lines = [
        "# Every small image model on 8×8 digits, one recipe",
        "",
        f"Produced by `{command}` ({total / 60:.0f} min).",
        "",
        f"Recipe (each run is `python train.py --model <name> --seed <s> {shlex.join(recipe)}`):"
        " SGD momentum 0.9, weight decay 5e-4, cosine schedule, no augmentation; digits split"
        " 1,077 / 360 / 360 (fixed). Test accuracy of the best-validation checkpoint, mean ± std"
        f" over seeds {seeds}. Seconds per training epoch (16 steps of 64) on "
        f"{platform.machine()} CPU ({os.cpu_count()} cores), 1 thread, torch {torch.__version__};"
        f" 5-minute load average {load}: other jobs shared the machine, so timings are noisy."
        f" 'time' is the ratio to `{BASELINE}` in the same run.",
        "",
        "| model | params | test acc % | best val acc % | s/epoch | time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in rows.items():
        sec = statistics.mean(r["seconds_per_epoch"] for r in runs)
        ratio = f"{sec / base:.2f}×" if base else "n/a"
        lines.append(
            f"| `{name}` | {runs[0]['parameters']:,} | {mean_std([r['test_acc'] for r in runs])} "
            f"| {mean_std([r['best_val_acc'] for r in runs])} | {sec:.2f} | {ratio} |"
        )
    for name, step in skipped.items():
        params = count_parameters(build_model_for(data, name))
        lines.append(
            f"| `{name}` | {params:,} | skipped (`--skip`): {step:.1f} s per training step | | | |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
