"""Training dynamics models on trajectories: the dynamics mode of ``train.py``.

    python train.py --dataset pendulum --model aphynity --iterations 2000
    python train.py --dataset pendulum --model node --iterations 1000 --run-name pend-node
    python train.py --dataset reaction_diffusion --model hybrid_naive --iterations 200
    python train.py --dataset mass_spring --model hamiltonian --window 10 --iterations 500
    python train.py --resume results/pend-node --iterations 2000     # continue, or extend

``train.py`` trains in this mode when ``--dataset`` names a dynamics dataset
(:func:`odenets.dynamics.is_dynamics_dataset`). Every field of :class:`DynamicsConfig` is a
flag and a key of a ``--config`` YAML/JSON file. One *iteration* draws a batch of
``batch_size`` windows of ``window`` time points (from every start in every training
trajectory), takes ``niter`` Adam steps on it and, for APHYNITY, then updates
``λ ← λ + τ₂ · MSE``. ``whole_iterations`` further iterations train on whole horizons of all
training trajectories (at most ``batch_size``), APHYNITY's own protocol: short windows make
the early iterations cheap and keep ω₀ out of the local minima of long horizons; whole
horizons finish the fit on the loss the paper trains. ``optimizer: lbfgs`` trains those
whole-horizon iterations by full-batch L-BFGS (every training trajectory, strong-Wolfe line
search, ``lbfgs_iter`` iterations per iteration, i.e. per λ update), which on the small
pendulum converges orders of magnitude further than Adam in the same time.

The run goes through the shared :class:`~odenets.training.Trainer`: the config and run
directory are printed first, the model is evaluated before training (iteration 0) and every
``eval_every`` iterations (one line of ``metrics.jsonl`` each), ``checkpoint_last.pt`` is
written at every evaluation (and every ``ckpt_every`` iterations), ``--resume`` continues
exactly, and a NaN/inf loss stops the run with ``"status": "diverged"`` and the last finite
checkpoint kept. Outputs in ``<out_dir>/<run_name>/``: config.json, metrics.jsonl,
checkpoint_last.pt, summary.json, trajectories.png or fields.png (test predictions against
the truth), learning_curve.png.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from .._validation import check_choice, unknown_name_error
from ..blocks.factory import scheme_options
from ..checkpoint import FORMAT, load_checkpoint
from ..config import ConfigError
from ..registry import get_scheme, list_schemes
from ..training.modes import Mode, register_mode
from ..training.seeding import seed_everything
from ..training.task import Diverged, Task
from .datasets import DynamicsData, get_dataset_spec, is_dynamics_dataset, list_datasets
from .datasets import load_dataset as _load_dataset
from .hybrid import ScaledNetwork, data_scales
from .metrics import evaluate
from .models import BASE_MODELS, PHYSICS_MODELS, build_dynamics_model, list_dynamics_models


@dataclass
class DynamicsConfig:
    # ---- data: a registered dynamics dataset; None keeps the dataset's own default
    dataset: str = "pendulum"  # a registered dynamics dataset
    n_train: int | None = None
    n_test: int | None = None
    n_val: int = 0  # validation trajectories (drawn like the training ones) to select on
    duration: float | None = None  # total simulated time (training horizon + extrapolation)
    horizon: float | None = None  # models train on t < horizon
    data_params: dict = field(default_factory=dict)  # physical/grid parameters, e.g. {"D": 0.02}
    cache_dir: str = ""  # "" = $ODENETS_DATA or ~/.cache/odenets/dynamics
    # ---- model: node, physics, hybrid_naive, aphynity, true_ode or a zoo scheme name
    model: str = "aphynity"  # node, physics, hybrid_naive, aphynity, true_ode or a zoo scheme
    network: str = ""  # F_a: "" = mlp (vectors) / conv (fields), or a zoo field name
    hidden: int = 0  # 0 = 200 (vectors, APHYNITY's MLP) / 16 (fields)
    scale_network: bool = False  # F_a on unit-scale states/derivatives (data's channel stds)
    physics: str = ""  # "" = the dataset's incomplete physical model
    physics_init: dict = field(default_factory=dict)  # initial guesses, e.g. {"omega0_square": 0.2}
    integrator: str = "odeint"  # or a one-field zoo scheme (euler, rk4, node, ...) for hybrids
    method: str = "rk4"  # torchdiffeq method when integrator = odeint or node
    adjoint: bool = False  # adjoint backprop (an integrator scheme with an adjoint option)
    rtol: float = 1e-6
    atol: float = 1e-8
    substeps: int = 1  # fixed ODE steps per data interval
    # ---- optimisation
    iterations: int = 300  # batches (each niter Adam steps); on --resume a larger value extends
    batch_size: int = 25  # windows per batch (whole horizons: trajectories, at most all)
    window: int = 10  # time points per training window; 0 (or >= horizon) = whole horizons
    whole_iterations: int = 0  # iterations on whole horizons after the window iterations
    lr: float = 1e-3  # Adam step of the network (and of the physics when lr_physics = 0)
    lr_physics: float = 2e-2  # Adam step of the physical parameters; 0 = lr
    cosine: bool = False  # cosine decay of the learning rates to 0 over all Adam steps
    niter: int | None = None  # Adam steps per batch (APHYNITY pendulum: 5)
    optimizer: str = "adam"  # of the whole-horizon iterations: "adam" or "lbfgs" (full batch)
    lbfgs_iter: int = 20  # L-BFGS iterations per whole-horizon iteration (per λ update)
    lbfgs_history: int = 100  # L-BFGS memory (pairs of steps)
    lambda0: float = 1.0  # APHYNITY: initial weight of the trajectory loss
    tau2: float | None = None  # APHYNITY: λ step (pendulum 1, fields 1e-3)
    min_op: str = ""  # APHYNITY: "l2_normalized" (vectors) or "l2" (fields)
    dtype: str = "float32"  # float32 | float64
    threads: int = 1  # torch CPU threads per process (small models are fastest on 1); 0: all
    seed: int = 0  # of the data, the initial weights and the batches
    # ---- output
    out_dir: str = "results"  # where run directories are made
    run_name: str = ""  # "": <model>-<dataset>-<YYYYmmdd-HHMMSS>
    resume: str | None = None  # a run directory to continue from its checkpoint_last.pt
    eval_every: int = 100  # iterations between evaluations (one metrics line, one checkpoint)
    ckpt_every: int = 0  # also checkpoint every k iterations between evaluations (0: off)
    log_every: int = 50  # a plain progress line every k iterations when not on a terminal
    plot: bool = True  # write the figures

    def validate(self) -> None:
        """Checks that need no data; every message says what is allowed."""
        check_choice(self.dtype, DTYPES, "dtype")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        if self.min_op:
            check_choice(self.min_op, MIN_OPS, "min_op")
        if self.model not in list_dynamics_models():
            raise unknown_name_error("dynamics model", self.model, list_dynamics_models())
        for key in ("iterations", "batch_size", "eval_every", "substeps", "lbfgs_iter",
                    "lbfgs_history"):  # fmt: skip
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be a positive integer, got {getattr(self, key)}")
        for key in ("whole_iterations", "threads", "hidden", "ckpt_every", "log_every",
                    "n_val"):  # fmt: skip
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")
        if self.niter is not None and self.niter <= 0:
            raise ConfigError(f"niter must be a positive integer, got {self.niter}")
        if self.window < 0 or self.window == 1:
            raise ConfigError(
                f"window must be 0 (whole horizon) or >= 2 time points, got {self.window}"
            )
        if not self.lr > 0 or self.lr_physics < 0:
            raise ConfigError(
                f"lr must be > 0 and lr_physics >= 0, got {self.lr!r}, {self.lr_physics!r}"
            )
        if not (self.rtol > 0 and self.atol > 0):
            raise ConfigError(f"rtol and atol must be > 0, got {self.rtol!r}, {self.atol!r}")
        if self.lambda0 < 0 or (self.tau2 is not None and self.tau2 < 0):
            raise ConfigError(f"lambda0 and tau2 must be >= 0, got {self.lambda0}, {self.tau2}")
        if self.optimizer == "lbfgs" and self.whole_iterations == 0:
            raise ConfigError(
                "optimizer 'lbfgs' trains the whole_iterations iterations on whole horizons; set "
                "whole_iterations >= 1 (the windows before them always use Adam)"
            )
        self._check_applies()

    def _check_applies(self) -> None:
        """Options that the chosen model would silently ignore are errors."""
        zoo = self.model not in BASE_MODELS  # a zoo scheme: its own integrator and field
        if zoo and self.integrator != "odeint":
            raise ConfigError(
                f"model {self.model!r} is a zoo scheme used as its own time stepper; "
                f"--integrator applies to the node, physics and hybrid models"
            )
        if zoo and self.network:
            raise ConfigError(
                f"model {self.model!r} steps its scheme's default zoo field; --network applies "
                f"to the node and hybrid models (their F_a)"
            )
        if (self.physics or self.physics_init) and self.model not in PHYSICS_MODELS:
            raise ConfigError(
                f"--physics / --physics-init apply to the models with a physical part "
                f"{list(PHYSICS_MODELS)}, not {self.model!r}"
            )
        if self.adjoint:
            stepper = self.model if zoo else self.integrator
            able = [s for s in list_schemes() if _takes_adjoint(s)]
            if stepper == "odeint" or not _takes_adjoint(stepper):
                raise ConfigError(
                    f"adjoint=True would be ignored: integrator {stepper!r} has no adjoint "
                    f"option; use --integrator with one of {able}"
                )


def _takes_adjoint(scheme: str) -> bool:
    return "adjoint" in scheme_options(get_scheme(scheme))


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
    )


def load_data(cfg: DynamicsConfig) -> DynamicsData:
    get_dataset_spec(cfg.dataset)  # unknown name: a clear error before anything else
    sizes = dict(n_train=cfg.n_train, n_test=cfg.n_test, duration=cfg.duration,
                 horizon=cfg.horizon)  # fmt: skip
    data = _load_dataset(cfg.dataset, cfg.cache_dir or None, cfg.seed, n_val=cfg.n_val,
                         **sizes, **cfg.data_params)  # fmt: skip
    return data.to(DTYPES[cfg.dtype])


def build_model(cfg: DynamicsConfig, data: DynamicsData):
    model = build_dynamics_model(
        cfg.model, data, hidden=cfg.hidden or None, network=cfg.network or None,
        physics=cfg.physics or None, physics_init=cfg.physics_init,
        integrator=cfg.integrator, method=cfg.method, rtol=cfg.rtol, atol=cfg.atol,
        substeps=cfg.substeps, adjoint=cfg.adjoint,
    )  # fmt: skip
    if cfg.scale_network:
        hybrid = model.hybrid
        if hybrid is None or hybrid.augmentation is None:
            raise ConfigError(
                f"scale_network scales the network F_a; model {cfg.model!r} has none (use it "
                f"with node, hybrid_naive or aphynity)"
            )
        train_part = data.train[:, : data.horizon_steps]
        hybrid.augmentation = ScaledNetwork(hybrid.augmentation, *data_scales(train_part, data.dt))
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


class DynamicsTask(Task):
    """Trajectory MSE (or APHYNITY's objective); one period is ``eval_every`` iterations."""

    period_name = "evaluation"
    selects_best = False  # set per run: True with a validation split (n_val > 0)
    evaluates_at_start = True
    divergence_hint = (
        "Lower --lr, take smaller ODE steps (--substeps) or train on shorter --window s."
    )

    def __init__(self, cfg: DynamicsConfig, ctx, say=print):
        say(f"loading dataset {cfg.dataset} (generated by its reference solver on first use, "
            f"then cached)")  # fmt: skip
        data = load_data(cfg)
        self.data, self.cfg = data, resolved(cfg, data)
        # with a validation split the checkpoint of lowest validation MSE is kept and scored
        # on the test set at the end; without one, the last iterate is (never the test set)
        self.selects_best = data.val is not None
        say(data.spec.describe(data.settings))
        seed_everything(cfg.seed)
        self.model = build_model(self.cfg, data)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        trainable = bool(self.params)
        self.optimizer = build_optimizer(self.model, self.cfg) if trainable else None
        self.lbfgs = (
            build_lbfgs(self.model, cfg) if trainable and cfg.optimizer == "lbfgs" else None
        )
        self.schedule = self._schedule() if self.optimizer is not None and cfg.cosine else None
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.aphynity = self.model.objective == "aphynity"
        self.normalized = self.cfg.min_op == "l2_normalized"
        self.lam = cfg.lambda0
        self.last = {}
        self.total_iterations = cfg.iterations + cfg.whole_iterations if trainable else 0
        self.iterations_per_period = cfg.eval_every
        self.pred = None
        say(f"model {cfg.model} ({self.model.kind}): "
            f"{sum(p.numel() for p in self.params):,} trainable parameters")  # fmt: skip

    def _adam_steps(self, iterations: int) -> int:
        """Adam steps taken by the first ``iterations`` iterations (L-BFGS ones excluded)."""
        cfg = self.cfg
        whole = max(0, iterations - cfg.iterations) if self.lbfgs is None else 0
        return (min(iterations, cfg.iterations) + whole) * cfg.niter

    def _schedule(self):
        total = self._adam_steps(self.cfg.iterations + self.cfg.whole_iterations)
        return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)

    # ---------------------------------------------------------------------- the loop
    def train_step(self, iteration: int) -> dict:
        cfg, model = self.cfg, self.model
        whole = iteration >= cfg.iterations
        if whole and self.lbfgs is not None:  # full batch: every training trajectory, whole
            batch = self.data.train[:, : self.data.horizon_steps]
            loss, mse, norm = lbfgs_step(self.lbfgs, model, batch, self.lam, self.aphynity,
                                         self.normalized)  # fmt: skip
            if not math.isfinite(float(loss.detach())):
                raise Diverged(f"L-BFGS found no finite step in 10 halvings (loss {float(loss)})")
        else:
            batch = training_batch(self.data, cfg, self.gen, whole=whole)
            for _ in range(cfg.niter):
                loss, mse, norm = objective(model, batch, self.lam, self.aphynity,
                                            self.normalized)  # fmt: skip
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise Diverged(f"non-finite loss ({value}; MSE {float(mse.detach())})")
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                if self.schedule is not None:
                    self.schedule.step()
        mse, loss = float(mse.detach()), float(loss.detach())
        if self.aphynity:
            self.lam += cfg.tau2 * mse  # APHYNITY's adaptive λ, after each batch
        self.last = {"train_loss": loss, "train_mse": mse, "lambda": self.lam}
        stats = {"loss": loss}
        if self.aphynity:
            self.last["aug_norm"] = float(norm.detach())
            stats["lambda"] = self.lam
        return stats

    def period_metrics(self, seconds: float) -> dict:
        return dict(self.last)

    def evaluate(self, after_batch=None) -> dict:
        metrics, self.pred = evaluate(self.model, self.data)
        if after_batch is not None:
            after_batch(self.model)
        return metrics

    def better(self, val: dict, best: dict | None) -> bool:
        """Lower validation log₁₀ MSE (t < horizon) wins; only a finite value may."""
        value = val.get("log10_mse_val", math.nan)
        if not math.isfinite(value):
            return False
        return best is None or value < best["log10_mse_val"]

    def period_line(self, record: dict, total_periods: int) -> str:
        parts = [f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)]
        return f"[{self.data.name} {self.model.kind}] iteration {record['iteration']}: " + " ".join(
            parts
        )

    # ------------------------------------------------------------------- checkpoints
    def model_payload(self) -> dict:
        return {"format": FORMAT, "kind": "dynamics", "dynamics_model": self.cfg.model,
                "model": self.model.state_dict()}  # fmt: skip

    def check_checkpoint(self, payload: dict, path) -> None:
        if payload.get("kind") != "dynamics" or payload.get("dynamics_model") != self.cfg.model:
            raise ConfigError(
                f"{str(path)!r} is not a checkpoint of dynamics model {self.cfg.model!r}"
            )

    def state_dict(self) -> dict:
        cfg = self.cfg
        return {
            "adam": self.optimizer.state_dict() if self.optimizer is not None else None,
            "lbfgs": self.lbfgs.state_dict() if self.lbfgs is not None else None,
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "lambda": self.lam,
            "generator": self.gen.get_state(),
            "last": dict(self.last),
            "plan": [cfg.iterations, cfg.whole_iterations],
        }

    def load_state_dict(self, state: dict, iteration: int, is_main: bool) -> None:
        """Restore after ``iteration`` iterations; a longer plan (``--iterations`` or
        ``--whole-iterations`` raised on resume) continues with the cosine schedule rebuilt
        for the new number of Adam steps."""
        old_windows, old_whole = state["plan"]
        cfg = self.cfg
        extended = (old_windows, old_whole) != (cfg.iterations, cfg.whole_iterations)
        if extended:
            self._check_extension(old_windows, old_whole, iteration)
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["adam"])
        if self.lbfgs is not None and state["lbfgs"] is not None:
            self.lbfgs.load_state_dict(state["lbfgs"])
        if self.schedule is not None:
            if extended:
                self._jump_schedule(self._adam_steps(iteration))
            else:
                self.schedule.load_state_dict(state["schedule"])
        self.lam, self.last = state["lambda"], dict(state["last"])
        self.gen.set_state(state["generator"])

    def _check_extension(self, old_windows: int, old_whole: int, done: int) -> None:
        cfg = self.cfg
        if cfg.iterations < old_windows or cfg.whole_iterations < old_whole:
            raise ConfigError(
                f"a resume may extend the run, not shorten it: it planned iterations = "
                f"{old_windows}, whole_iterations = {old_whole}"
            )
        if cfg.iterations != old_windows and done > old_windows:
            raise ConfigError(
                f"the whole-horizon iterations began after iteration {old_windows}; extend the "
                f"run with --whole-iterations (now {old_whole}), not --iterations"
            )

    def _jump_schedule(self, steps_done: int) -> None:
        """The cosine schedule of the new length, at ``steps_done`` (its closed form)."""
        schedule = self.schedule
        schedule.last_epoch = steps_done
        for group, base in zip(self.optimizer.param_groups, schedule.base_lrs, strict=True):
            group["lr"] = base * (1 + math.cos(math.pi * steps_done / schedule.T_max)) / 2
        schedule._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------------------- the end
    def final_metrics(self, best_path) -> dict:
        """The test metrics of the final model: the best validation checkpoint's, if any."""
        if best_path is not None:
            payload = load_checkpoint(best_path)
            self.model.load_state_dict(payload["model"])
        metrics, self.pred = evaluate(self.model, self.data)
        return {**metrics, "true_params": self.data.params}

    def summary(self, best) -> dict:
        out = {
            "dataset": self.data.spec.describe(self.data.settings),
            "model": self.cfg.model,
            "trainable_parameters": sum(p.numel() for p in self.params),
        }
        if best is not None:
            out.update(best_iteration=best["iteration"], best_log10_mse_val=best["log10_mse_val"])
        return out

    def final_line(self, summary: dict) -> str:
        keys = ("log10_mse_test", "log10_mse_extrapolation", "param_error_pct", "energy_drift")
        shown = [f"{k} {summary[k]:.4g}" for k in keys if isinstance(summary.get(k), float)]
        return f"final model after {summary['iterations']} iterations: " + ", ".join(shown)

    def plot(self, records: list[dict], run_dir) -> list:
        from .plots import plot_learning_curve  # matplotlib: only when a figure is drawn

        written = []
        if self.pred is not None:
            written.append(write_prediction_plot(run_dir, self.data, self.pred))
        if records:
            written.append(plot_learning_curve(run_dir / "learning_curve.png", records))
        return written


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


def write_prediction_plot(run_dir: Path, data: DynamicsData, pred) -> Path:
    from .plots import plot_fields, plot_trajectories

    test, times, pred = data.test.double(), data.times.double(), pred.detach().double()
    if data.ndim == 0:
        return plot_trajectories(run_dir / "trajectories.png", times, test, pred, data.horizon)
    return plot_fields(run_dir / "fields.png", times, test, pred)


def load_run(run_dir: str | Path):
    """Rebuild ``(model, data, config)`` of a dynamics run from its ``checkpoint_last.pt``."""
    payload = load_checkpoint(Path(run_dir) / "checkpoint_last.pt")
    if payload.get("kind") != "dynamics":
        raise ValueError(f"{str(run_dir)!r} is not a dynamics run (no dynamics checkpoint)")
    cfg = DynamicsConfig(**payload["config"])
    data = load_data(cfg)
    model = build_model(resolved(cfg, data), data)
    model.load_state_dict(payload["model"])
    return model, data, cfg


def train(cfg: DynamicsConfig) -> dict:
    """Run the training described by ``cfg`` in-process; the summary (also summary.json)."""
    from ..training import fit

    return fit(cfg)


def main(argv: list[str] | None = None) -> dict:
    """``train.py``'s command line (any mode), in-process; the summary."""
    from ..training.cli import parse_args

    return train(parse_args(argv))


register_mode(
    Mode(
        name="dynamics",
        title="dynamics",
        config=DynamicsConfig,
        task=DynamicsTask,
        owns=lambda name: is_dynamics_dataset(name),
        datasets=list_datasets,
        resumable=frozenset(
            {
                "iterations",
                "whole_iterations",
                "threads",
                "eval_every",
                "ckpt_every",
                "log_every",
                "plot",
                "cache_dir",
            }
        ),  # fmt: skip
        extends=frozenset({"iterations", "whole_iterations"}),
        deprecated={"steps": "iterations", "whole_steps": "whole_iterations"},
    )
)
