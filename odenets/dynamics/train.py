"""Train a dynamics model on a generated dataset: ``python train.py --dataset pendulum ...``.

    python train.py --dataset pendulum --model aphynity --steps 2000
    python train.py --dataset pendulum --model node --steps 1000 --run-name pend-node
    python train.py --dataset reaction_diffusion --model hybrid_naive --steps 200
    python train.py --dataset mass_spring --model hamiltonian --window 10

``train.py`` hands over here when ``--dataset`` names a dynamics dataset
(:func:`odenets.dynamics.is_dynamics_dataset`). Every field of :class:`DynamicsConfig` is a
flag and a key of a ``--config`` YAML/JSON file. One *iteration* draws a batch of
``batch_size`` windows of ``window`` time points (from every start in every training
trajectory), takes ``niter`` Adam steps on it and, for APHYNITY, then updates
``λ ← λ + τ₂ · MSE``. ``whole_steps`` further iterations train on whole horizons of all
training trajectories (at most ``batch_size``), APHYNITY's own protocol: short windows make
the early iterations cheap and keep ω₀ out of the local minima of long horizons; whole
horizons finish the fit on the loss the paper trains. ``optimizer: lbfgs`` trains those
whole-horizon iterations by full-batch L-BFGS (every training trajectory, strong-Wolfe line
search, ``lbfgs_iter`` iterations per iteration, i.e. per λ update), which on the small
pendulum converges orders of magnitude further than Adam in the same time. Outputs in
``<out_dir>/<run_name>/``: config.json, metrics.jsonl (one line per evaluation),
summary.json, checkpoint.pt, trajectories.png or fields.png (test predictions against the
truth), learning_curve.png.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from .._validation import check_choice, check_positive_int
from ..checkpoint import FORMAT, load_checkpoint, save_checkpoint
from ..config import parse_config
from ..training.run_dir import (
    MetricsWriter,
    default_run_name,
    make_run_dir,
    save_config,
    write_json,
)
from ..training.seeding import seed_everything
from .datasets import DynamicsData, get_dataset_spec, load_dataset
from .metrics import evaluate
from .models import build_dynamics_model
from .plots import plot_fields, plot_learning_curve, plot_trajectories


@dataclass
class DynamicsConfig:
    # ---- data: a registered dynamics dataset; None keeps the dataset's own default
    dataset: str = "pendulum"
    n_train: int | None = None
    n_test: int | None = None
    duration: float | None = None  # total simulated time (training horizon + extrapolation)
    horizon: float | None = None  # models train on t < horizon
    data_params: dict = field(default_factory=dict)  # physical/grid parameters, e.g. {"D": 0.02}
    cache_dir: str = ""  # "" = $ODENETS_DATA or ~/.cache/odenets/dynamics
    # ---- model: node, physics, hybrid_naive, aphynity, true_ode or a zoo scheme name
    model: str = "aphynity"
    network: str = ""  # F_a: "" = mlp (vectors) / conv (fields), or a zoo field name
    hidden: int = 0  # 0 = 200 (vectors, APHYNITY's MLP) / 16 (fields)
    physics: str = ""  # "" = the dataset's incomplete physical model
    physics_init: dict = field(default_factory=dict)  # initial guesses, e.g. {"omega0_square": 0.2}
    integrator: str = "odeint"  # or a one-field zoo scheme (euler, rk4, node, ...) for hybrids
    method: str = "rk4"  # torchdiffeq method when integrator = odeint or node
    adjoint: bool = False  # adjoint backprop when integrator = node
    rtol: float = 1e-6
    atol: float = 1e-8
    substeps: int = 1  # fixed steps per data interval
    # ---- optimisation
    steps: int = 300  # iterations (batches); a couple of minutes on a CPU for the pendulum
    batch_size: int = 25  # windows per batch (whole horizons: trajectories, at most all)
    window: int = 10  # time points per training window; 0 (or >= horizon) = whole horizons
    whole_steps: int = 0  # iterations on whole horizons after the `steps` window iterations
    lr: float = 1e-3
    lr_physics: float = 2e-2  # Adam step of the physical parameters; 0 = lr
    cosine: bool = False  # cosine decay of the learning rates to 0 over all Adam steps
    niter: int | None = None  # Adam steps per batch (APHYNITY pendulum: 5)
    optimizer: str = "adam"  # of the whole-horizon iterations: "adam" or "lbfgs" (full batch)
    lbfgs_iter: int = 20  # L-BFGS iterations per whole-horizon iteration (per λ update)
    lbfgs_history: int = 100  # L-BFGS memory (pairs of steps)
    lambda0: float = 1.0  # APHYNITY: initial weight of the trajectory loss
    tau2: float | None = None  # APHYNITY: λ step (pendulum 1, fields 1e-3)
    min_op: str = ""  # APHYNITY: "l2_normalized" (vectors) or "l2" (fields)
    dtype: str = "float32"
    threads: int = 1  # torch CPU threads; small dynamics models run fastest on one (0 = torch's)
    seed: int = 0
    # ---- output
    out_dir: str = "results"
    run_name: str = ""  # "" = <model>-<dataset>-<date-time>
    eval_every: int = 100
    plot: bool = True


DTYPES = {"float32": torch.float32, "float64": torch.float64}
MIN_OPS = ("l2_normalized", "l2")
OPTIMIZERS = ("adam", "lbfgs")


def resolved(cfg: DynamicsConfig, data: DynamicsData) -> DynamicsConfig:
    """Fill the dataset-dependent defaults (APHYNITY's settings for vectors and fields)."""
    vector = data.ndim == 0
    return dataclasses.replace(
        cfg,
        niter=cfg.niter or (5 if vector and cfg.model == "aphynity" else 1),
        tau2=cfg.tau2 if cfg.tau2 is not None else (1.0 if vector else 1e-3),
        min_op=cfg.min_op or ("l2_normalized" if vector else "l2"),
        run_name=cfg.run_name or default_run_name(cfg.model, cfg.dataset),
    )


def check_config(cfg: DynamicsConfig) -> None:
    check_choice(cfg.dtype, DTYPES, "dtype")
    check_choice(cfg.min_op, MIN_OPS, "min_op")
    check_choice(cfg.optimizer, OPTIMIZERS, "optimizer")
    for key in ("steps", "batch_size", "eval_every", "niter", "substeps", "lbfgs_iter",
                "lbfgs_history"):  # fmt: skip
        check_positive_int(getattr(cfg, key), key)
    if (
        isinstance(cfg.whole_steps, bool)
        or not isinstance(cfg.whole_steps, int)
        or (cfg.whole_steps < 0)
    ):
        raise ValueError(f"whole_steps must be an integer >= 0, got {cfg.whole_steps!r}")
    if cfg.optimizer == "lbfgs" and cfg.whole_steps == 0:
        raise ValueError(
            "optimizer 'lbfgs' trains the whole_steps iterations on whole horizons; set "
            "whole_steps >= 1 (the windows before them always use Adam)"
        )
    if cfg.threads < 0:
        raise ValueError(f"threads must be >= 0 (0 keeps torch's default), got {cfg.threads}")
    if cfg.window < 0 or cfg.window == 1:
        raise ValueError(f"window must be 0 (whole horizon) or >= 2 time points, got {cfg.window}")
    if not cfg.lr > 0 or cfg.lr_physics < 0:
        raise ValueError(f"lr must be > 0 and lr_physics >= 0, got {cfg.lr!r}, {cfg.lr_physics!r}")


def load_data(cfg: DynamicsConfig) -> DynamicsData:
    get_dataset_spec(cfg.dataset)  # unknown name: a clear error before anything else
    sizes = dict(n_train=cfg.n_train, n_test=cfg.n_test, duration=cfg.duration,
                 horizon=cfg.horizon)  # fmt: skip
    data = load_dataset(cfg.dataset, cfg.cache_dir or None, cfg.seed,
                        **sizes, **cfg.data_params)  # fmt: skip
    return data.to(DTYPES[cfg.dtype])


def build_model(cfg: DynamicsConfig, data: DynamicsData):
    model = build_dynamics_model(
        cfg.model, data, hidden=cfg.hidden or None, network=cfg.network or None,
        physics=cfg.physics or None, physics_init=cfg.physics_init,
        integrator=cfg.integrator, method=cfg.method, rtol=cfg.rtol, atol=cfg.atol,
        substeps=cfg.substeps, adjoint=cfg.adjoint,
    )  # fmt: skip
    return model.to(DTYPES[cfg.dtype])


def build_optimizer(model, cfg: DynamicsConfig) -> torch.optim.Optimizer:
    """Adam; the physical parameters may take their own step (``lr_physics``)."""
    physical = [p for p in model.physics.parameters()] if model.physics is not None else []
    ids = {id(p) for p in physical}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": others}] if others else []
    if physical:
        groups.append({"params": physical, "lr": cfg.lr_physics or cfg.lr})
    return torch.optim.Adam(groups, lr=cfg.lr)


def build_lbfgs(model, cfg: DynamicsConfig) -> torch.optim.LBFGS:
    """Full-batch L-BFGS with a strong-Wolfe line search (``lbfgs_iter`` iterations a call)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.LBFGS(
        params, lr=1.0, max_iter=cfg.lbfgs_iter, history_size=cfg.lbfgs_history,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )  # fmt: skip


def training_batch(data: DynamicsData, cfg: DynamicsConfig, gen: torch.Generator,
                   whole: bool = False) -> torch.Tensor:  # fmt: skip
    """``(B, T_w, *state)`` training segments: whole horizons or windows inside them.

    Windows: ``batch_size`` distinct ``(trajectory, start)`` pairs drawn among all
    ``n_train · (horizon_steps − window + 1)`` windows, so a batch may hold several windows
    of one trajectory. Whole horizons (``whole``, ``window = 0`` or a window as long as the
    horizon): ``min(batch_size, n_train)`` distinct trajectories.
    """
    h, n = data.horizon_steps, data.train.shape[0]
    if whole or not cfg.window or cfg.window >= h:
        idx = torch.randperm(n, generator=gen)[: min(cfg.batch_size, n)]
        return data.train[idx, :h]
    starts = h - cfg.window + 1
    pick = torch.randperm(n * starts, generator=gen)[: cfg.batch_size]
    offsets = (pick % starts)[:, None] + torch.arange(cfg.window)
    return data.train[(pick // starts)[:, None], offsets]


def train(cfg: DynamicsConfig) -> dict:
    """Run the training described by ``cfg``; returns the summary (also saved as JSON)."""
    data = load_data(cfg)
    cfg = resolved(cfg, data)
    check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    model = build_model(cfg, data)
    run_dir = Path(cfg.out_dir) / cfg.run_name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(
            f"run directory {str(run_dir)!r} already exists and is not empty; choose another "
            f"--run-name (dynamics runs are short and are not resumed)"
        )
    run_dir = make_run_dir(cfg.out_dir, cfg.run_name)
    save_config(run_dir, cfg)
    writer = MetricsWriter(run_dir / "metrics.jsonl")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(model, cfg) if params else None
    schedule = None
    lbfgs = build_lbfgs(model, cfg) if params and cfg.optimizer == "lbfgs" else None
    if optimizer is not None and cfg.cosine:
        total = (cfg.steps + (cfg.whole_steps if lbfgs is None else 0)) * cfg.niter
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    gen = torch.Generator().manual_seed(cfg.seed)
    aphynity = model.objective == "aphynity"
    normalized = cfg.min_op == "l2_normalized"
    lam, records, start = cfg.lambda0, [], time.perf_counter()
    steps = cfg.steps + cfg.whole_steps if optimizer is not None else 0  # true ODE: nothing
    last = {}
    for step in range(1, steps + 1):
        whole = step > cfg.steps

        if whole and lbfgs is not None:  # full batch: every training trajectory, whole
            batch = data.train[:, : data.horizon_steps]

            loss, mse, norm = lbfgs_step(lbfgs, model, batch, lam, aphynity, normalized)
        else:
            batch = training_batch(data, cfg, gen, whole=whole)
            for _ in range(cfg.niter):
                loss, mse, norm = objective(model, batch, lam, aphynity, normalized)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
        mse, loss = float(mse.detach()), float(loss.detach())
        if not math.isfinite(mse):
            raise FloatingPointError(
                f"training diverged at iteration {step} (MSE {mse}); lower --lr, use "
                f"--substeps or a smaller time step"
            )
        if aphynity:
            lam += cfg.tau2 * mse  # APHYNITY's adaptive λ, after each batch
        last = {"train_loss": loss, "train_mse": mse, "lambda": lam}
        if aphynity:
            last["aug_norm"] = float(norm.detach())
        if step % cfg.eval_every == 0 or step == steps:
            records.append(log_record(writer, model, data, step, last, start))
    if steps == 0:
        records.append(log_record(writer, model, data, 0, last, start))
    final, pred = evaluate(model, data)
    summary = {
        "dataset": data.spec.describe(data.settings),
        "model": cfg.model,
        "trainable_parameters": sum(p.numel() for p in params),
        "iterations": steps,
        "seconds": round(time.perf_counter() - start, 2),
        **final,
        "true_params": data.params,
    }
    write_json(run_dir / "summary.json", summary)
    payload = {"format": FORMAT, "kind": "dynamics", "config": dataclasses.asdict(cfg),
               "model": model.state_dict(), "lambda": lam}  # fmt: skip
    save_checkpoint(run_dir / "checkpoint.pt", payload)
    if cfg.plot:
        write_plots(run_dir, data, pred, records)
    summary["run_dir"] = str(run_dir)
    return summary


def objective(model, batch, lam, aphynity, normalized):
    """``(loss, MSE, ‖F_a‖²)`` on a batch: MSE, or APHYNITY's ``λ·MSE + ‖F_a‖²``."""
    pred = model(batch[:, 0], batch.shape[1])
    mse = ((pred - batch) ** 2).mean()
    if not aphynity:
        return mse, mse, None
    norm = model.hybrid.augmentation_norm(batch, normalized)
    return lam * mse + norm, mse, norm


def lbfgs_step(lbfgs, model, batch, lam, aphynity, normalized):
    """One ``lbfgs.step``; a step that overflows (NaN) is undone and retried with half the step.

    A line search can try a step far enough to make the integration blow up (e.g. a negative
    ω₀² early on); then the parameters are restored, the L-BFGS memory is cleared and its
    step length halved, at most 10 times.
    """
    params = [p for group in lbfgs.param_groups for p in group["params"]]
    for _ in range(10):
        saved = [p.detach().clone() for p in params]
        lbfgs.step(partial(lbfgs_closure, lbfgs, model, batch, lam, aphynity, normalized))
        with torch.no_grad():
            loss, mse, norm = objective(model, batch, lam, aphynity, normalized)
            if math.isfinite(float(loss)):
                return loss, mse, norm
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
        lbfgs.state.clear()
        for group in lbfgs.param_groups:
            group["lr"] /= 2
    return loss, mse, norm


def lbfgs_closure(lbfgs, model, batch, lam, aphynity, normalized):
    """The loss with its gradient, re-evaluated by L-BFGS's line search."""
    lbfgs.zero_grad()
    loss = objective(model, batch, lam, aphynity, normalized)[0]
    loss.backward()
    return loss


def log_record(writer, model, data, step, last, start) -> dict:
    metrics, _ = evaluate(model, data)
    record = {"step": step, **last, **metrics, "seconds": round(time.perf_counter() - start, 2)}
    writer.append(record)
    parts = [f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)]
    print(f"[{data.name} {model.kind}] step {step}: " + " ".join(parts), flush=True)
    return record


def write_plots(run_dir: Path, data: DynamicsData, pred, records) -> None:
    test, times, pred = data.test.double(), data.times.double(), pred.detach().double()
    if data.ndim == 0:
        plot_trajectories(run_dir / "trajectories.png", times, test, pred, data.horizon)
    else:
        plot_fields(run_dir / "fields.png", times, test, pred)
    if records:
        plot_learning_curve(run_dir / "learning_curve.png", records)


def load_run(run_dir: str | Path):
    """Rebuild ``(model, data, config)`` of a finished run from its ``checkpoint.pt``."""
    payload = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    if payload.get("kind") != "dynamics":
        raise ValueError(f"{str(run_dir)!r} is not a dynamics run (no dynamics checkpoint)")
    cfg = DynamicsConfig(**payload["config"])
    data = load_data(cfg)
    model = build_model(cfg, data)
    model.load_state_dict(payload["model"])
    return model, data, cfg


def main(argv: list[str] | None = None) -> dict:
    """Command-line entry point (``train.py`` dispatches here for dynamics datasets)."""
    cfg = parse_config(DynamicsConfig, argv, description=__doc__)
    return train(cfg)


if __name__ == "__main__":
    main()
