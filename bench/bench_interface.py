"""Cost of the block interface: ``resnet32_euler`` against a hand-written ResNet, same layers.

Both networks are built with the same weights (the plain one loads the odenets state dict
and is checked to give the same outputs), then one SGD training step of each (batch 128,
32×32 random images, cross-entropy) is timed alternately, in the same run, so that machine
load hits both equally. The median ratio of side-by-side steps is the overhead of the
interface (target ≤ 1.05). Then ``torch.compile`` is tried on the small models of every
registered scheme (dynamo graph breaks on ``{scheme}_digits``; an end-to-end compile of
``{scheme}_vector``, forward + backward, compared with eager).

    python bench/bench_interface.py                       # writes results/bench_interface.md
    python bench/bench_interface.py --steps 4 --warmup 1 --no-compile --stdout   # quick look
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import odenets
from odenets.blocks import AdaptiveBlock, ImplicitBlock

OUT = Path(__file__).resolve().parent.parent / "results" / "bench_interface.md"


# ------------------------------------------------------------------ the hand-written ResNet
class PlainBasicBlock(nn.Module):
    """``y + conv2(relu(bn(conv1(y))))``: He et al.'s block, as the Euler step with h = 1."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, y):
        return y + self.conv2(F.relu(self.norm(self.conv1(y))))


class PlainResNet(nn.Module):
    """The ``resnet32_euler`` layout written directly in PyTorch (no blocks, no stages)."""

    def __init__(self, widths=(16, 32, 64), steps=5, num_classes=10):
        super().__init__()
        self.opening = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(PlainBasicBlock(c) for _ in range(steps))) for c in widths
        )
        self.connectives = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(a, b, 1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(inplace=True),
                nn.AvgPool2d(2),
            )
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.opening(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.connectives):
                x = self.connectives[i](x)
        return self.fc(x.mean(dim=(2, 3)))


def plain_state_dict(state: dict) -> dict:
    """Rename ``stages.i.blocks.j.fields.0.*`` to ``stages.i.j.*``; other names are shared."""
    pattern = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.fields\.0\.")
    return {pattern.sub(r"stages.\1.\2.", k): v for k, v in state.items()}


# ---------------------------------------------------------------------------------- timing
def train_step(model, optimizer, x, y) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one training step."""
    wall, cpu = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare_step_times(batch: int, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    ours = odenets.create_model("resnet32_euler")
    plain = PlainResNet()
    plain.load_state_dict(plain_state_dict(ours.state_dict()))
    params = sum(p.numel() for p in ours.parameters())
    if params != sum(p.numel() for p in plain.parameters()):
        raise RuntimeError("the plain ResNet does not have the layers of resnet32_euler")
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    ours.eval(), plain.eval()
    with torch.no_grad():
        max_diff = float((ours(x) - plain(x)).abs().max())
    if max_diff > 1e-4:
        raise RuntimeError(f"the plain ResNet does not reproduce resnet32_euler ({max_diff:g})")
    ours.train(), plain.train()
    models = {"odenets": ours, "plain": plain}
    optimizers = {
        k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()
    }
    times = {k: [] for k in models}  # (wall, cpu) per timed step
    for i in range(warmup + steps):
        order = ("odenets", "plain") if i % 2 == 0 else ("plain", "odenets")
        for key in order:
            t = train_step(models[key], optimizers[key], x, y)
            if i >= warmup:
                times[key].append(t)
    return {"times": times, "max_diff": max_diff, "params": params}


def summarise(times: dict) -> dict:
    """Medians per network, and the median of the ratios of the steps taken side by side
    (a pair shares the machine's load, so its ratio is steadier than a ratio of medians)."""
    out = {}
    for i, clock in enumerate(("wall", "cpu")):
        ours = [t[i] for t in times["odenets"]]
        plain = [t[i] for t in times["plain"]]
        out[clock] = dict(
            ours=statistics.median(ours),
            plain=statistics.median(plain),
            paired=statistics.median(a / b for a, b in zip(ours, plain, strict=True)),
        )
    return out


# -------------------------------------------------------------------------- torch.compile
def try_compile(scheme: str, backend: str) -> dict:
    """Trace ``{scheme}_digits`` with dynamo (graph breaks) and compile ``{scheme}_vector``
    end to end with ``backend`` (forward + backward, compared with eager)."""
    cls = odenets.get_scheme(scheme)
    kind = (
        "implicit"
        if issubclass(cls, ImplicitBlock)
        else "adaptive"
        if issubclass(cls, AdaptiveBlock)
        else "explicit"
    )
    result = dict(scheme=scheme, kind=kind, graphs="", breaks="", diff=float("nan"))
    start = time.perf_counter()
    try:
        torch.manual_seed(0)
        torch._dynamo.reset()
        digits = odenets.create_model(f"{scheme}_digits").eval()
        explained = torch._dynamo.explain(digits)(torch.randn(8, 1, 8, 8))
        result.update(graphs=explained.graph_count, breaks=explained.graph_break_count)
        torch._dynamo.reset()
        model = odenets.create_model(f"{scheme}_vector").eval()
        x = torch.randn(8, model.dim, requires_grad=True)
        eager = model(x).detach()
        out = torch.compile(model, backend=backend)(x)
        out.sum().backward()
        result["diff"] = diff = float((out.detach() - eager).abs().max())
        ok = diff < 1e-4 and x.grad is not None
        result["status"] = "works" if ok else f"differs from eager ({diff:.2e})"
    except Exception as err:  # report any failure, do not stop the benchmark
        result["status"] = f"fails: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        traceback.print_exc(limit=2, file=sys.stderr)
    result["seconds"] = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------------------- report
def report(args, timing, compiled) -> str:
    stats = summarise(timing["times"])
    ratio = stats["wall"]["paired"]
    lines = [
        "# Interface overhead: `resnet32_euler` vs a hand-written ResNet",
        "",
        f"Made by `python bench/bench_interface.py --batch {args.batch} --steps {args.steps} "
        f"--warmup {args.warmup} --threads {args.threads}"
        f"{' --no-compile' if args.no_compile else ''}` on {torch.get_num_threads()} CPU "
        f"thread(s), torch {torch.__version__}. One SGD training step (forward, "
        f"cross-entropy, backward, update), batch {args.batch}, 32×32 random images, "
        f"{timing['params']:,} parameters in both networks (same weights; outputs agree to "
        f"{timing['max_diff']:.1e}). Steps alternate between the two networks in the same "
        f"run (the order flips every step); {args.warmup} warm-up and {args.steps} timed "
        "steps each. The machine is shared, so the headline is the median over steps of the "
        "ratio of two steps taken side by side; process CPU time is given as a second clock.",
        "",
        "| clock | odenets median (s) | plain median (s) | median paired ratio |",
        "|---|---:|---:|---:|",
        *(
            f"| {clock} | {s['ours']:.3f} | {s['plain']:.3f} | {s['paired']:.3f} |"
            for clock, s in stats.items()
        ),
        "",
        f"**Ratio odenets / plain (wall, median of pairs): {ratio:.3f}** (target ≤ 1.05: "
        f"{'met' if ratio <= 1.05 else 'NOT met'}).",
        "",
    ]
    if compiled:
        lines += [
            f"## `torch.compile` (backend `{args.backend}`)",
            "",
            "Graphs and graph breaks: `torch._dynamo.explain` on `{scheme}_digits` (conv "
            f"fields, 8×8). Compile: `torch.compile(backend='{args.backend}')` on "
            "`{scheme}_vector` (dense fields; small, so that compiling every scheme stays "
            "short on 2 cores), forward + backward on a batch of 8, output compared with eager.",
            "",
            "| scheme | kind | dynamo graphs | graph breaks | compile | max abs diff | seconds |",
            "|---|---|---:|---:|---|---:|---:|",
            *(
                f"| `{c['scheme']}` | {c['kind']} | {c['graphs']} | {c['breaks']} | "
                f"{c['status']} | {c['diff']:.1e} | {c['seconds']:.0f} |"
                for c in compiled
            ),
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared machine, OpenMP threads that wait for a "
        "descheduled sibling make multi-threaded step times erratic)",
    )
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile check")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    timing = compare_step_times(args.batch, args.warmup, args.steps)
    print(summarise(timing["times"]), file=sys.stderr)
    compiled = []
    if not args.no_compile:
        for scheme in odenets.list_schemes():
            compiled.append(try_compile(scheme, args.backend))
            print(compiled[-1], file=sys.stderr)
    text = report(args, timing, compiled)
    if args.stdout:
        sys.stdout.write(text)
    else:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
