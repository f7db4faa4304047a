"""Digits table: every registered ``*_digits`` model, one recipe, several seeds.

    python bench/digits_table.py                  # all models, 3 seeds -> results/digits_table.md
    python bench/digits_table.py --models 'rk*_digits' --seeds 0 --epochs 2 --out /tmp/t.md
    python bench/digits_table.py --models 'euler_digits,lm_digits,*node_digits,odenet_digits' \
        --out results/continuous_digits.md --merge-into results/digits_table.md
    python bench/digits_table.py --dataset waveforms --models '*_signal' --out /tmp/s.md

Each run is ``python train.py --model <name> --seed <s> <recipe>`` (called in-process), so the
table is what a user gets from train.py. It reports test accuracy (best-validation checkpoint,
mean ± std over seeds), parameters, seconds per training epoch, and that time as a ratio to
``euler_digits`` (the plain ResNet baseline) measured in the same run. Models named by
``--skip`` (none by default) are listed with their measured step time instead of being
trained. The machine's load average is recorded, since the timings of a shared machine are
noisy. Models that count solver evaluations (``nfe_forward`` etc., see
:class:`odenets.training.NFEMeter`) also get their NFE per training forward, backward and
evaluation batch of the last epoch. ``--dataset waveforms`` runs the same recipe on the
synthetic 1-D signals (``*_signal`` models, baseline ``euler_signal``); ``--merge-into``
replaces the rows of the models run here in an existing table (others are kept) and notes
the command there.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
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


SPLITS = {"digits": "digits split 1,077 / 360 / 360", "waveforms": "waveforms 1,200 / 400 / 400"}


def last_nfe(path: Path) -> dict:
    """The NFE keys of the last line of a run's ``metrics.jsonl`` (empty without a solver)."""
    record = json.loads(path.read_text().splitlines()[-1])
    return {k: v for k, v in record.items() if k.startswith("nfe_")}


def nfe_cell(runs: list[dict]) -> str:
    keys = ("nfe_forward_train", "nfe_backward_train", "nfe_forward_eval")
    if not all(k in runs[0]["nfe"] for k in keys):
        return "—"
    fwd, bwd, ev = (statistics.mean(r["nfe"][k] for r in runs) for k in keys)
    return f"{fwd:.0f}/{bwd:.0f}, {ev:.0f}"


def merge_rows(path: Path, lines: list[str], command: str, out: str) -> None:
    """Replace the rows of ``lines``' models in the table at ``path``; widen old rows."""
    new_rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| `")}
    names = list(new_rows)
    old = path.read_text().splitlines()
    merged = []
    for line in old:
        name = line.split("|")[1].strip() if line.startswith("| `") else None
        if name in new_rows:
            merged.append(new_rows.pop(name))
        elif line.startswith("| model |"):
            merged.append(lines[[i for i, x in enumerate(lines) if x.startswith("| model |")][0]])
        elif line.startswith("|---"):
            merged.append("|---|---:|---:|---:|---:|---:|---:|")
        elif name is not None and line.count("|") == 7:
            merged.append(line + " — |")
        else:
            merged.append(line)
    rows_at = max(i for i, line in enumerate(merged) if line.startswith("|"))
    merged[rows_at + 1 : rows_at + 1] = list(new_rows.values())
    merged.append("")
    merged.append(
        f"Rows {', '.join(names)}"
        f" updated by `{command}` (their own table: `{out}`); their 'time' is relative to the"
        " baseline of that run, the other rows' to the baseline of the run above."
    )
    path.write_text("\n".join(merged) + "\n")


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated shell patterns of model names (default *_digits)",
    )
    parser.add_argument("--dataset", default="digits", help="digits or waveforms")
    parser.add_argument("--merge-into", default=None, help="update these rows of a table")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--skip", default="", help="comma-separated names to skip")
    parser.add_argument("--out", default=str(ROOT / "results" / "digits_table.md"))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    recipe = list(RECIPE)
    if args.epochs is not None:
        recipe[recipe.index("--epochs") + 1] = str(args.epochs)
    suffix = {"digits": "digits", "waveforms": "signal"}.get(args.dataset)
    if suffix is None:
        raise SystemExit(f"--dataset must be digits or waveforms, got {args.dataset!r}")
    patterns = (args.models or f"*_{suffix}").split(",")
    names = sorted({n for pattern in patterns for n in odenets.list_models(pattern)})
    if not names:
        raise SystemExit(f"no model matches {args.models!r}")
    baseline = f"euler_{suffix}"
    torch.set_num_threads(1)
    train_main = load_train_main()
    data = get_dataset(args.dataset)

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
                            "--run-name", f"{name}-{seed}", "--dataset", args.dataset]  # fmt: skip
                with contextlib.redirect_stdout(io.StringIO()):
                    runs.append(train_main(argv_run))
                runs[-1]["nfe"] = last_nfe(Path(out_dir) / f"{name}-{seed}" / "metrics.jsonl")
                print(f"{name:22s} seed {seed}: test acc {runs[-1]['test_acc']:.4f}  "
                      f"{runs[-1]['seconds_per_epoch']:.2f} s/epoch", flush=True)  # fmt: skip
            rows[name] = runs
    total = time.perf_counter() - started
    load = f"{load_before:.1f} at the start, {os.getloadavg()[1]:.1f} at the end"

    base = None
    if baseline in rows:
        base = statistics.mean(r["seconds_per_epoch"] for r in rows[baseline])
    command = shlex.join(["python", "bench/digits_table.py", *(argv or sys.argv[1:])])
    lines = [
        "# Every small image model on 8×8 digits, one recipe"
        if args.dataset == "digits"
        else "# Every small signal model on the synthetic waveforms, one recipe",
        "",
        f"Produced by `{command}` ({total / 60:.0f} min).",
        "",
        f"Recipe (each run is `python train.py --model <name> --seed <s> {shlex.join(recipe)}`):"
        " SGD momentum 0.9, weight decay 5e-4, cosine schedule, no augmentation;"
        f" {SPLITS[args.dataset]} (fixed). Test accuracy of the best-validation checkpoint,"
        " mean ± std"
        f" over seeds {seeds}. Seconds per training epoch ({len(data.train) // 64} steps of 64)"
        " on "
        f"{platform.machine()} CPU ({os.cpu_count()} cores), 1 thread, torch {torch.__version__};"
        f" 5-minute load average {load}: other jobs shared the machine, so timings are noisy."
        f" 'time' is the ratio to `{baseline}` in the same run. NFE: field evaluations per"
        " forward / backward pass in training and per evaluation batch, last epoch, mean over"
        " seeds (— for models without a solver).",
        "",
        "| model | params | test acc % | best val acc % | s/epoch | time "
        "| NFE train fwd/bwd, eval |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in rows.items():
        sec = statistics.mean(r["seconds_per_epoch"] for r in runs)
        ratio = f"{sec / base:.2f}×" if base else "n/a"
        lines.append(
            f"| `{name}` | {runs[0]['parameters']:,} | {mean_std([r['test_acc'] for r in runs])} "
            f"| {mean_std([r['best_val_acc'] for r in runs])} | {sec:.2f} | {ratio} "
            f"| {nfe_cell(runs)} |"
        )
    for name, step in skipped.items():
        params = count_parameters(build_model_for(data, name))
        lines.append(
            f"| `{name}` | {params:,} | skipped (`--skip`): {step:.1f} s per training step "
            "| | | | |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    if args.merge_into:
        merge_rows(Path(args.merge_into), lines, command, args.out)
        print(f"updated the rows of {', '.join(rows)} in {args.merge_into}")


if __name__ == "__main__":
    main()
