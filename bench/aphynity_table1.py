"""APHYNITY's Table 1 (Yin et al. 2021): reaction–diffusion, damped wave, pendulum, on a CPU.

    python bench/aphynity_table1.py --system pendulum --seeds 0 1 2   # one system: its JSON
    python bench/aphynity_table1.py --system wave
    python bench/aphynity_table1.py --system rd
    python bench/aphynity_table1.py --table      # results/aphynity_table1.md from the JSONs

Each system runs four rows through ``train.py``'s trainer (``odenets.dynamics.train``):
Neural ODE (``node``: MLP 2-200-200-2 / periodic 3×3 ConvNet, 16 channels), the incomplete
physics with learned parameters (``physics``: frictionless pendulum ω₀; diffusion only
``(aΔu, bΔv)``; undamped wave ``c``), APHYNITY (``aphynity``: the same physics + the network,
``‖F_a‖² + λ·MSE``, ``λ ← λ + τ₂·MSE`` after each batch) and the true physics (``true_ode``,
no training). Every trained row of a system gets the same budget and keeps the checkpoint of
lowest *validation* MSE (``n_val`` trajectories drawn like the training ones); the test set
selects nothing. The metric is the paper's: test log₁₀ MSE over the training horizon, and the
mean relative error of the physical parameters. ``--set key=value`` overrides a config key of
every row (JSON values), ``--row-set row:key=value`` of one row; the JSON records them.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from odenets.dynamics import get_dataset_spec
from odenets.dynamics.train import DynamicsConfig, train

ROWS = ("node", "physics", "aphynity", "true_ode")
LABELS = {
    "node": "Neural ODE",
    "physics": "Incomplete physics, learned parameters",
    "aphynity": "APHYNITY (incomplete physics + network)",
    "true_ode": "True physics (no training)",
}
SYSTEMS = {  # the paper's Table 1: (log10 MSE, parameter error %)
    "rd": {
        "title": "Reaction–diffusion (FitzHugh–Nagumo), learned (a, b)",
        "paper": {
            "node": ("−3.76", "—"),
            "physics": ("−1.26", "67.6"),
            "aphynity": ("−5.10", "2.3"),
            "true_ode": ("−8.81", "—"),
        },  # fmt: skip
        "paper_setting": "32×32, 1,600 train / 320 test trajectories, T = 3, dt 0.1",
    },
    "wave": {
        "title": "Damped wave, learned c",
        "paper": {
            "node": ("−2.51", "—"),
            "physics": ("0.51", "10.4"),
            "aphynity": ("−4.64", "0.3"),
            "true_ode": ("—", "—"),
        },  # fmt: skip
        "paper_setting": "64×64, 200 / 50 windows of 25 steps of one simulation, dt 1e-3",
    },
    "pendulum": {
        "title": "Damped pendulum, learned ω₀",
        "paper": {
            "node": ("−2.84", "—"),
            "physics": ("−0.14", "—"),
            "aphynity": ("−7.86", "4.0"),
            "true_ode": ("−8.58", "—"),
        },  # fmt: skip
        "paper_setting": "25 / 25 sequences, T = 20, dt 0.5",
    },
}

# Per system: the config of every row, then each row's own keys. Adam at lr 1e-3 (networks)
# and lr_physics (physical parameters), cosine decay; fields use windows of `window` points.
BASE = {
    "rd": dict(
        dataset="reaction_diffusion",
        n_train=64,
        n_test=32,
        n_val=16,
        duration=3.0,
        horizon=3.0,
        data_params={"size": 32},
        batch_size=16,
        window=10,
        iterations=600,
        eval_every=50,
        lr=1e-3,
        lr_physics=2e-2,
        cosine=True,
        dtype="float32",
    ),  # fmt: skip
    "wave": dict(
        dataset="wave",
        n_train=200,
        n_test=50,
        n_val=50,
        data_params={"size": 32},
        batch_size=8,
        window=0,
        iterations=400,
        eval_every=20,
        lr=1e-3,
        lr_physics=2e-2,
        cosine=True,
        dtype="float32",
        scale_network=True,
    ),  # fmt: skip
    "pendulum": dict(
        dataset="pendulum",
        n_val=25,
        batch_size=25,
        window=10,
        iterations=200,
        whole_iterations=40,
        optimizer="lbfgs",
        lbfgs_iter=20,
        eval_every=5,
        lr=1e-3,
        lr_physics=2e-2,
        cosine=True,
        dtype="float64",
        substeps=4,
    ),  # fmt: skip
}
ROW_EXTRA = {
    "rd": {"aphynity": dict(lambda0=1e3)},
    "wave": {"aphynity": dict(lambda0=1e6)},
    "pendulum": {
        "node": dict(niter=5),
        "physics": dict(niter=5),
        "aphynity": dict(niter=5, lambda0=1e4),
    },  # fmt: skip
}


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def row_config(system: str, row: str, seed: int, sets: dict, row_sets: dict, out: Path):
    keys = {**BASE[system], **ROW_EXTRA[system].get(row, {}), **sets, **row_sets.get(row, {})}
    if row == "true_ode":  # nothing to train: the data and the integrator only
        keys = {k: v for k, v in keys.items() if k in TRUE_KEYS}
        keys.update(iterations=1, eval_every=1, n_val=0)
    if row != "aphynity":
        keys.pop("lambda0", None)
    if row in ("physics", "true_ode"):
        keys.pop("scale_network", None)
    return DynamicsConfig(**keys, model=row, seed=seed, out_dir=str(out),
                          run_name=f"{row}-{seed}", plot=False)  # fmt: skip


TRUE_KEYS = ("dataset", "n_train", "n_test", "duration", "horizon", "data_params", "dtype",
             "substeps")  # fmt: skip


def run_system(args) -> Path:
    torch.set_num_threads(1)
    sets = dict(parse_value_pair(s) for s in args.set)
    row_sets: dict = {}
    for item in args.row_set:
        row, pair = item.split(":", 1)
        key, value = parse_value_pair(pair)
        row_sets.setdefault(row, {})[key] = value
    rows = args.rows or list(ROWS)
    results: dict = {row: [] for row in rows}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for row in rows:
                cfg = row_config(args.system, row, seed, sets, row_sets, Path(tmp))
                began = time.perf_counter()
                summary = train(cfg)
                wall = time.perf_counter() - began
                keep = {k: v for k, v in summary.items() if k.startswith(("log10", "param_"))}
                keep.update(seed=seed, wall=wall, best_iteration=summary.get("best_iteration"),
                            config={k: v for k, v in vars(cfg).items()
                                    if k not in ("out_dir", "run_name", "plot")})  # fmt: skip
                results[row].append(keep)
                print(f"{args.system} {row} seed {seed}: test log10 MSE "
                      f"{keep['log10_mse_test']:.3f}, parameter error "
                      f"{keep.get('param_error_pct', math.nan):.2f} %, {wall:.0f} s",
                      flush=True)  # fmt: skip
    command = "python bench/aphynity_table1.py --system " + args.system
    command += " --seeds " + " ".join(map(str, args.seeds))
    command += "".join(f" --set {s}" for s in args.set)
    command += "".join(f" --row-set {s}" for s in args.row_set)
    command += " --rows " + " ".join(args.rows) if args.rows else ""
    command += f" --tag {args.tag}" if args.tag else ""
    tag = f"_{args.tag}" if args.tag else ""
    out = Path(args.out_dir) / f"aphynity_table1_{args.system}{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"system": args.system, "command": command, "tag": args.tag,
                               "seconds": time.perf_counter() - started, "rows": results},
                              indent=1))  # fmt: skip
    print(f"wrote {out}")
    return out


def parse_value_pair(text: str):
    if "=" not in text:
        raise SystemExit(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key, parse_value(value)


def mean_std(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def mean_of(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def budget(system: str, runs: dict) -> str:
    """The setting actually run (from the recorded configs), against the paper's."""
    cfg = next(iter(r[0]["config"] for row, r in runs.items() if row != "true_ode" and r))
    grid = cfg["data_params"].get("size")
    sizes = get_dataset_spec(cfg["dataset"]).sizes
    n_train, n_test = cfg["n_train"] or sizes["n_train"], cfg["n_test"] or sizes["n_test"]
    parts = [f"{n_train} train / {n_test} test / {cfg['n_val']} validation"]
    if grid:
        parts.append(f"{grid}×{grid} grid")
    steps = f"{cfg['iterations']} Adam iterations"
    if cfg["window"]:
        steps += f" on windows of {cfg['window']} points"
    else:
        steps += " on whole horizons"
    steps += f", batch {cfg['batch_size']}"
    if cfg.get("whole_iterations"):
        steps += (f", then {cfg['whole_iterations']} × {cfg['lbfgs_iter']} full-batch L-BFGS "
                  "iterations on whole horizons" if cfg["optimizer"] == "lbfgs"
                  else f", then {cfg['whole_iterations']} on whole horizons")  # fmt: skip
    parts.append(steps)
    parts.append(f"{cfg['dtype']}, {cfg['substeps']} RK4 step(s) per dt")
    if cfg.get("scale_network"):
        parts.append("network on unit-scale inputs/outputs (scale_network)")
    lam = runs.get("aphynity", [{}])[0].get("config", {}).get("lambda0")
    if lam is not None:
        parts.append(f"APHYNITY λ₀ = {lam:g}")
    return "; ".join(parts) + f" (paper: {SYSTEMS[system]['paper_setting']})"


def write_table(args) -> Path:
    lines = [
        "# APHYNITY Table 1 on a CPU: reaction–diffusion, damped wave, pendulum",
        "",
        "Made by `python bench/aphynity_table1.py --table` from the per-system JSON files, "
        "each made by the command given under its system (one thread on a shared 2-core "
        "CPU). Test log₁₀ MSE over the training horizon (the paper's metric) and mean "
        "relative parameter error, mean ± std over the seeds run; every trained row keeps "
        "the checkpoint of lowest validation MSE (never the test set). Every budget cut is "
        "stated under its system.",
        "",
    ]
    for system in ("rd", "wave", "pendulum"):
        paths = sorted(Path(args.out_dir).glob(f"aphynity_table1_{system}*.json"))
        records = [json.loads(p.read_text()) for p in paths]
        main_records = [r for r in records if not r.get("tag", "").startswith("alt")]
        alt_records = [r for r in records if r not in main_records]
        if not main_records:
            lines += [f"## {SYSTEMS[system]['title']}", "", "Not run.", ""]
            continue
        runs: dict = {}
        for record in main_records:  # the rows of every main run, merged by seed
            for row, rs in record["rows"].items():
                runs.setdefault(row, []).extend(rs)
        seeds = sorted({r["seed"] for rows in runs.values() for r in rows})
        lines += [f"## {SYSTEMS[system]['title']}", ""]
        lines += [f"`{r['command']}` ({r['seconds']:.0f} s)." for r in main_records]
        lines += [
            "",
            f"Seeds {seeds}.",
            "",
            f"Setting: {budget(system, runs)}.",
            "",
            "| model | log₁₀ MSE (ours) | paper | parameter error % (ours) | paper | estimates "
            "| seeds | s per run |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in ROWS:
            if row not in runs or not runs[row]:
                continue
            rs = runs[row]
            paper = SYSTEMS[system]["paper"][row]
            error = mean_std([r.get("param_error_pct") for r in rs]) if row != "true_ode" else "—"
            names = sorted(k for k in rs[0] if k.startswith("param_") and k != "param_error_pct")
            estimates = ", ".join(
                f"{k[6:]} = {statistics.mean(r[k] for r in rs):.4g}" for k in names
            ) if row != "true_ode" else "true"  # fmt: skip
            lines.append(
                f"| {LABELS[row]} | {mean_std([r['log10_mse_test'] for r in rs])} | "
                f"{paper[0]} | {error} | {paper[1]} | {estimates} | {len(rs)} | "
                f"{statistics.mean(r['wall'] for r in rs):.0f} |"
            )
        trained = [r for r in ROWS if runs.get(r) and r != "true_ode"]
        order = sorted(trained, key=lambda r: -mean_of(runs[r], "log10_mse_test"))
        paper_order = sorted(
            (r for r in trained if SYSTEMS[system]["paper"][r][0] != "—"),
            key=lambda r: -float(SYSTEMS[system]["paper"][r][0].replace("−", "-")),
        )
        if len(trained) < 3:
            verdict = "not every row run"
        elif order == paper_order:
            verdict = "the same as the paper's"
        else:
            verdict = "paper: " + " > ".join(LABELS[r] for r in paper_order)
        lines += ["", f"Ordering of the trained rows (worst to best): "
                  f"{' > '.join(LABELS[r] for r in order)} ({verdict}).", ""]  # fmt: skip
        for record in alt_records:
            lines += [f"Another setting, `{record['command']}` ({record['seconds']:.0f} s):", ""]
            for row, rs in record["rows"].items():
                error = (
                    mean_std([r.get("param_error_pct") for r in rs]) if row != "true_ode" else "—"
                )
                mse = mean_std([r["log10_mse_test"] for r in rs])
                lines.append(f"- {LABELS[row]}: log₁₀ MSE {mse}, parameter error {error} % "
                             f"({len(rs)} seed(s))")  # fmt: skip
            lines.append("")
    lines += [
        "What differs from the paper and why the numbers differ: "
        "[docs/dynamics.md](../docs/dynamics.md#aphynitys-table-1-reactiondiffusion-damped-wave-pendulum).",
        "",
    ]
    out = Path(args.out_dir) / "aphynity_table1.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(SYSTEMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=None)
    parser.add_argument("--set", action="append", default=[], help="key=value, every row")
    parser.add_argument("--row-set", action="append", default=[], help="row:key=value")
    parser.add_argument("--tag", default="", help="JSON name suffix; 'alt…': another setting")
    parser.add_argument("--table", action="store_true", help="write the markdown table")
    parser.add_argument("--out-dir", default="results")
    args = parser.parse_args(argv)
    if args.table:
        return write_table(args)
    if args.system is None:
        parser.error("give --system (rd, wave, pendulum) or --table")
    return run_system(args)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
