"""Write results/models.md: every registered model with its parameter count.

For the layouts with a published count (Ruthotto & Haber 2018, Table 1) the table gives the
paper's number and the relative difference.

    python bench/param_table.py            # writes results/models.md
    python bench/param_table.py --stdout   # prints it instead
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import odenets
from odenets import ODENet, VectorODENet
from odenets.models.paper import LAYOUTS, PUBLISHED_PARAMS

COMMAND = "python bench/param_table.py"
OUT = Path(__file__).resolve().parent.parent / "results" / "models.md"


def describe(model) -> str:
    """Scheme, widths and steps per stage, or the class for other layouts."""
    if isinstance(model, ODENet):
        widths = "/".join(str(w) for w in _widths(model))
        if not isinstance(model.head_connective, torch.nn.Identity):
            widths += f" → {model.num_features}"
        steps = "/".join(str(s.steps) for s in model.stages)
        return f"`{model.scheme}` widths {widths}, steps {steps}, h = {model.stages[0].h:g}"
    if isinstance(model, VectorODENet):
        return f"`{model.scheme}` dense, dim {model.dim}, {model.stage.steps} steps"
    scheme = getattr(model, "scheme", None)
    return type(model).__name__ + (f" (`{scheme}`)" if isinstance(scheme, str) else "")


def _widths(model: ODENet) -> list[int]:
    return [model.opening[0].out_channels] + [c[0].out_channels for c in model.connectives]


def row(name: str) -> str:
    torch.manual_seed(0)
    model = odenets.create_model(name)
    params = sum(p.numel() for p in model.parameters())
    published = PUBLISHED_PARAMS.get(name)
    if published is None:
        paper, diff = "", ""
    else:
        paper, diff = f"{published:,}", f"{(params - published) / published:+.2%}"
    return f"| `{name}` | {describe(model)} | {params:,} | {paper} | {diff} |"


def table() -> str:
    names = odenets.list_models()
    paper = [n for n in names if n in LAYOUTS]
    other = [n for n in names if n not in LAYOUTS]
    header = [
        "| model | layout | parameters | paper | relative difference |",
        "|---|---|---:|---:|---:|",
    ]
    lines = [
        "# Registered models and their parameter counts",
        "",
        f"Made by `{COMMAND}` (torch {torch.__version__}). The paper column is Ruthotto & "
        "Haber (2018) Table 1 (REFERENCES.md §4); the R&H layouts follow their Meganet "
        "driver (`examples/2018-jmiv/cnnDriver.m`): 3×3 opening conv + norm, 3 steps per "
        "stage of `∓Kᵀσ(N(Ky))` with a 3×3 `K` (no bias) and an affine norm, 1×1 connectives "
        "+ norm after every stage (the last to `head_width` channels), linear classifier. "
        "Chang et al. (2018), ResNet-32, LM-ResNet and RevNet-38 counts are not in "
        "REFERENCES.md, so no comparison is made for them.",
        "",
        f"## The papers' layouts ({len(paper)})",
        "",
        *header,
        *(row(n) for n in paper),
        "",
        f"## Small variants and other registered models ({len(other)})",
        "",
        *header,
        *(row(n) for n in other),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = table()
    if args.stdout:
        sys.stdout.write(text)
    else:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
