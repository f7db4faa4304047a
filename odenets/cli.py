"""The ``odenets`` command. Subcommands ``train`` (the command line of ``train.py``: any model on
an image, signal or dynamics dataset; ``odenets train --help``) and ``diagnose``: stability
diagnostics of a model.

    odenets train --model rk4_digits --epochs 20
    odenets train --dataset pendulum --model aphynity --iterations 300

    odenets diagnose --model hamiltonian_digits --dataset digits --out diag/
    odenets diagnose --checkpoint results/run/checkpoint_best.pt --k 8 --num-points 2
    python -m odenets.diagnose --model rk4_vector --dataset random --out diag/

The model is a registered name with fresh weights (``--override key=value`` changes its
defaults), a checkpoint written by ``train.py``, or both (the checkpoint's weights loaded
into the named architecture). Inputs come from a dataset of :mod:`odenets.data` (the test
split, normalised as in training), a ``.npz``/``.pt`` file, or ``random`` normal inputs of
the model's input shape. Writes ``report.json``, ``summary.txt`` and the PNG plots into
``--out`` and prints the summary table.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import torch
from torch import nn

COMMANDS = ("diagnose", "train")


# ----------------------------------------------------------------------------- arguments
def add_diagnose_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    src = parser.add_argument_group("model")
    src.add_argument("--model", help="registered model name (see odenets.list_models())")
    src.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model override, value as a Python literal, e.g. widths=(8,16)",
    )
    src.add_argument("--checkpoint", help="checkpoint written by train.py")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default=None,
        help="digits | mnist | cifar10 | ... | a .npz/.pt file | random "
        "(default: the checkpoint's dataset, else digits for 1x8x8 models, "
        "else random)",
    )
    data.add_argument("--data-dir", default="data", help="where on-disk datasets live")
    data.add_argument(
        "--input-shape",
        default=None,
        help="per-example input shape for --dataset random, e.g. 3,32,32",
    )
    data.add_argument(
        "--batch-size", type=int, default=64, help="examples for the gradient norms (default 64)"
    )
    run = parser.add_argument_group("analysis")
    run.add_argument(
        "--num-points",
        type=int,
        default=4,
        help="data points at which the Jacobians are taken (default 4)",
    )
    run.add_argument("--k", type=int, default=6, help="eigen/singular values per map (default 6)")
    run.add_argument("--method", default="auto", choices=["auto", "dense", "arpack"])
    run.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    run.add_argument(
        "--step-map",
        default="auto",
        choices=["auto", "all", "none"],
        help="one-step-map spectra: auto = two-field/history/implicit blocks",
    )
    run.add_argument(
        "--no-consistency",
        action="store_true",
        help="skip the depth-refinement check (it evaluates 2N and 4N steps)",
    )
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/torch threads of the analysis (default 1: small Jacobians and dense "
        "eigensolves are fastest on 1 on a loaded machine); 0: leave the current setting",
    )
    run.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--out", default=None, help="output directory (default diagnostics/<model>)")
    out.add_argument("--no-plots", action="store_true", help="write the JSON only")
    return parser


def parse_overrides(items: list[str]) -> dict:
    """``["widths=(8, 16)", "scheme=euler"]`` → ``{"widths": (8, 16), "scheme": "euler"}``."""
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--override expects KEY=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word is a string
        overrides[key.strip()] = value
    return overrides


# ------------------------------------------------------------------------------- model
def load_for_diagnosis(args) -> tuple[nn.Module, dict]:
    """The model to analyse and the checkpoint payload (empty without a checkpoint)."""
    from .checkpoint import load_checkpoint, load_model, load_weights
    from .registry import create_model

    overrides = parse_overrides(args.override)
    if args.checkpoint is None:
        if args.model is None:
            raise ValueError("give --model NAME (fresh weights) and/or --checkpoint PATH")
        return create_model(args.model, **overrides), {}
    payload = load_checkpoint(args.checkpoint)
    if args.model is None:
        if overrides:
            raise ValueError("--override needs --model (a checkpoint fixes its architecture)")
        return load_model(payload), payload
    model = create_model(args.model, **overrides)
    load_weights(model, payload["model"])
    return model, payload


def default_input_shape(model: nn.Module) -> tuple[int, ...]:
    """The per-example input shape a model declares (override with --input-shape)."""
    from .models import VectorODENet

    if isinstance(model, VectorODENet):
        return (model.dim,)
    spatial = getattr(model, "spatial_size", None)  # set by create_model from the builder
    if spatial is not None and hasattr(model, "in_chans"):
        return (model.in_chans, *spatial)
    raise ValueError(
        f"cannot infer the input shape of a {type(model).__name__}; pass --input-shape "
        f"(e.g. 3,32,32) or a --dataset"
    )


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"--input-shape must be positive integers like 3,32,32, got {text!r}")
    return shape


def load_batch(args, model: nn.Module, payload: dict):
    """``(x, y or None, description)`` of the inputs the diagnostics run on."""
    name = args.dataset or payload.get("config", {}).get("dataset")
    if name is None:
        shape = parse_shape(args.input_shape) if args.input_shape else default_input_shape(model)
        name = "digits" if shape == (1, 8, 8) else "random"
    count = max(args.batch_size, args.num_points)
    if name == "random":
        shape = parse_shape(args.input_shape) if args.input_shape else default_input_shape(model)
        gen = torch.Generator().manual_seed(args.seed)
        return torch.randn((count, *shape), generator=gen), None, f"random N(0, 1) {shape}"
    from .data import get_dataset

    data = get_dataset(name, args.data_dir)
    x, y = data.test.x[:count], data.test.y[:count]
    return data.prepare(x), y, f"{data.name} test split ({len(y)} examples)"


# --------------------------------------------------------------------------------- run
def run_diagnose(args) -> int:
    from .diagnostics import diagnose, save_plots

    for flag in ("num_points", "k", "batch_size"):
        if getattr(args, flag) <= 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be a positive integer")
    if args.threads < 0:
        raise ValueError("--threads must be >= 0 (0: the current setting)")
    model, payload = load_for_diagnosis(args)
    x, y, described = load_batch(args, model, payload)
    step_map = {"auto": None, "all": True, "none": False}[args.step_map]
    report = diagnose(
        model,
        (x, y) if y is not None else x,
        k=args.k,
        num_points=args.num_points,
        dtype=args.dtype,
        method=args.method,
        step_map=step_map,
        consistency=not args.no_consistency,
        seed=args.seed,
        threads=args.threads or None,
        progress=False if args.no_progress else None,
    )
    source = args.checkpoint or "fresh weights"
    report.notes.append(f"model from {source}; inputs: {described}")
    out = Path(args.out or Path("diagnostics") / report.model)
    out.mkdir(parents=True, exist_ok=True)
    report.to_json(out / "report.json")
    summary = report.summary()
    (out / "summary.txt").write_text(summary + "\n")
    written = [out / "report.json", out / "summary.txt"]
    if not args.no_plots:
        written += save_plots(report, out)
    print(summary)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _run(parser: argparse.ArgumentParser, args) -> int:
    try:
        return run_diagnose(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")


def diagnose_main(argv: list[str] | None = None) -> int:
    """``python -m odenets.diagnose``: the ``diagnose`` subcommand on its own."""
    parser = add_diagnose_arguments(
        argparse.ArgumentParser(
            prog="python -m odenets.diagnose",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    return _run(parser, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """The ``odenets`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # its own parser: every mode's flags, the same as train.py
        from .training.cli import main as train_main

        return train_main(argv[1:], prog="odenets train")
    parser = argparse.ArgumentParser(
        prog="odenets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("train", help="train a model (the flags of train.py; odenets train --help)")
    diag = add_diagnose_arguments(
        sub.add_parser(
            "diagnose",
            help="stability diagnostics of a model (JSON, table, plots)",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2, f"{parser.prog}: error: choose a command: {', '.join(COMMANDS)}\n")
    return _run(diag, args)


if __name__ == "__main__":
    sys.exit(main())
