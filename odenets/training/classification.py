"""Image and signal classification: the config and the task the :class:`~.Trainer` runs.

A task is what differs between kinds of training (see :mod:`.task`); this one trains any
registered model (``odenets.list_models()``) on a dataset of :mod:`odenets.data` with SGD or
AdamW, a timm schedule updated every iteration, optional label smoothing, gradient clipping,
the time-smoothness regulariser, mixed precision and ``torch.compile``; one period is one
epoch; the best validation checkpoint (accuracy, ties broken by loss) is scored on the test
set at the end. Under ``torchrun`` each process takes its share of every global batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from .._validation import check_choice
from ..checkpoint import load_checkpoint, load_weights, model_payload
from ..config import ConfigError
from ..data import get_dataset, is_file_dataset, list_datasets
from ..regularizers import continuous_penalty, time_smoothness
from .batches import epoch_batches, steps_per_epoch
from .distributed import all_reduce_sum
from .evaluation import evaluate
from .guards import all_finite
from .hooks import write_diagnostics
from .models import build_model_for, count_parameters
from .modes import Mode, register_mode
from .optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler
from .plotting import plot_learning_curves
from .progress import peak_memory_mb
from .seeding import batch_generator, seed_everything
from .task import Diverged, Task


@dataclass
class ClassificationConfig:
    # ------------------------------------------------------------------------------ data
    dataset: str = "digits"  # digits | mnist | fashion_mnist | cifar10 | cifar100 | stl10 | x.npz
    data_dir: str = "data"  # where the torchvision datasets live
    download: bool = False  # fetch a missing torchvision dataset into data_dir
    val_fraction: float | None = (
        None  # of the training set for validation; None: 0.1 (digits: fixed 60/20/20)
    )
    augment: bool = True  # pad-crop + horizontal flip for CIFAR and STL-10
    # ----------------------------------------------------------------------------- model
    model: str = "hamiltonian_digits"  # any name of odenets.list_models()
    model_kwargs: dict = field(default_factory=dict)  # create_model overrides: {"steps": 6}
    memory: str | None = None  # memory policy of the stages (store, checkpoint, ...)
    # ---------------------------------------------------------------------- optimisation
    epochs: int = 30  # on --resume, a larger value extends the run (schedule rebuilt)
    batch_size: int = 64  # global batch: torchrun splits it across the processes
    optimizer: str = "sgd"  # sgd (heavy-ball momentum) | adamw
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9  # sgd only, in [0, 1)
    weight_decay: float = 5e-4  # not applied to biases and normalisation weights
    schedule: str = "cosine"  # cosine | step; updated every iteration
    warmup_epochs: int = 0  # linear warm-up, fewer than epochs
    min_lr: float = 0.0  # cosine floor, below lr
    step_epochs: int = 30  # step schedule: multiply the lr by step_gamma every step_epochs
    step_gamma: float = 0.1  # step schedule decay factor, in (0, 1]
    label_smoothing: float = 0.0  # in [0, 1)
    grad_clip: float = 0.0  # max gradient norm; 0: no clipping
    smoothness: float = 0.0  # α of the time-smoothness regulariser α Σ_j ‖θ_{j+1} − θ_j‖²
    early_stop: int = 0  # stop after this many epochs without a better validation result (0: off)
    # ---------------------------------------------------------------------------- system
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = False  # mixed precision (autocast); the CPU supports bfloat16 only
    amp_dtype: str = "bfloat16"  # bfloat16 | float16 (float16 adds a GradScaler; GPU only)
    compile: bool = False  # torch.compile the model
    seed: int = 0  # of the initial weights and of the batches
    threads: int = 1  # torch CPU threads per process (small models are fastest on 1); 0: all
    ddp_timeout: float = 300.0  # seconds a torchrun process waits for the others before failing
    # --------------------------------------------------------------------------- outputs
    out_dir: str = "results"  # where run directories are made
    run_name: str = ""  # "": <model>-<dataset>-<YYYYmmdd-HHMMSS>
    resume: str | None = None  # a run directory to continue from its checkpoint_last.pt
    ckpt_every: int = 0  # also checkpoint every k iterations inside an epoch (0: epoch ends only)
    log_every: int = 50  # a plain progress line every k iterations when not on a terminal
    diagnose_every: int = 0  # every k epochs append diagnostics to diagnostics.jsonl
    plot: bool = True  # write the figures

    def validate(self) -> None:
        """Values the type check cannot catch; every message says what is allowed."""
        _positive(self, "epochs", "batch_size", "step_epochs")
        _non_negative(self, "ckpt_every", "log_every", "diagnose_every", "warmup_epochs",
                      "threads", "early_stop", "grad_clip", "smoothness", "weight_decay",
                      "min_lr")  # fmt: skip
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs})"
            )
        if self.min_lr >= self.lr:
            raise ConfigError(f"min_lr ({self.min_lr}) must be below lr ({self.lr})")
        _in_range(self, "momentum", 0, 1, "[0, 1)")
        _in_range(self, "label_smoothing", 0, 1, "[0, 1)")
        if not 0 < self.step_gamma <= 1:
            raise ConfigError(
                f"step_gamma must lie in (0, 1] (the factor of each lr decay), "
                f"got {self.step_gamma}"
            )
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        if not self.ddp_timeout > 0:
            raise ConfigError(f"ddp_timeout must be > 0 seconds, got {self.ddp_timeout}")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_choice(self.schedule, SCHEDULES, "schedule")
        check_choice(self.device, ("auto", "cpu", "cuda"), "device")
        check_choice(self.amp_dtype, ("bfloat16", "float16"), "amp_dtype")


def _positive(cfg, *keys):
    for key in keys:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be a positive integer, got {getattr(cfg, key)}")


def _non_negative(cfg, *keys):
    for key in keys:
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key} must be >= 0, got {getattr(cfg, key)}")


def _in_range(cfg, key, low, high, text):
    if not low <= getattr(cfg, key) < high:
        raise ConfigError(f"{key} must lie in {text}, got {getattr(cfg, key)}")


class ClassificationTask(Task):
    """Cross-entropy training of a registered classifier; one period is one epoch."""

    period_name = "epoch"
    selects_best = True  # a validation split exists: the best checkpoint is kept and tested
    evaluates_at_start = False
    divergence_hint = "Lower --lr, set --grad-clip, or check the data."

    def __init__(self, cfg: ClassificationConfig, ctx, say=print):
        self.cfg, self.ctx = cfg, ctx
        if cfg.amp and cfg.amp_dtype == "float16" and ctx.device.type != "cuda":
            raise ConfigError("amp_dtype float16 needs a GPU; on the CPU use --amp-dtype bfloat16")
        if cfg.batch_size % ctx.world_size:
            raise ConfigError(
                f"batch_size {cfg.batch_size} must be divisible by the {ctx.world_size} processes"
            )
        data = get_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg.val_fraction, cfg.augment)
        self.data = data
        say(data.describe())
        seed_everything(cfg.seed)  # the same initial weights on every rank
        self.model = build_model_for(data, cfg.model, cfg.model_kwargs, cfg.memory).to(ctx.device)
        self.steps = steps_per_epoch(len(data.train), cfg.batch_size)
        self.total_iterations = cfg.epochs * self.steps
        self.iterations_per_period = self.steps
        self.optimizer = build_optimizer(
            self.model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum
        )
        self.scheduler = self._scheduler()
        use_scaler = cfg.amp and cfg.amp_dtype == "float16"
        self.scaler = torch.amp.GradScaler(ctx.device.type) if use_scaler else None
        self.autocast = partial(
            torch.autocast, ctx.device.type, dtype=getattr(torch, cfg.amp_dtype), enabled=cfg.amp
        )
        self.sums = torch.zeros(3, dtype=torch.float64)  # this rank's loss·n, correct, n
        self._batches = (None, None)  # (epoch, its index batches)
        self._train_model = None
        seed_everything(cfg.seed + ctx.rank)  # training-time randomness (dropout) per rank
        say(
            f"model {cfg.model}: {count_parameters(self.model):,} parameters, "
            f"{ctx.world_size} process(es) on {ctx.device}"
        )

    def _scheduler(self):
        cfg = self.cfg
        return build_scheduler(
            self.optimizer, cfg.schedule, cfg.epochs, self.steps, cfg.warmup_epochs,
            cfg.min_lr, cfg.step_epochs, cfg.step_gamma,
        )  # fmt: skip

    # ---------------------------------------------------------------------- the loop
    def train_model(self):
        """The module the loop calls: compiled and/or wrapped in DDP (built once)."""
        if self._train_model is None:
            model = torch.compile(self.model) if self.cfg.compile else self.model
            if self.ctx.distributed:
                ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
                # The gradients live in DDP's buckets from the first step (zeros before DDP is
                # built, views of the buckets after, zeroed and never freed): autograd adds
                # into them. Left to autograd, the first gradient of a 1×1 convolution weight
                # comes with strides (4, 1, 4, 4) against the bucket's (4, 1, 1, 1), which DDP
                # copies with a "grad strides do not match" warning on every rank.
                for p in self.model.parameters():
                    if p.requires_grad and p.grad is None:
                        p.grad = torch.zeros_like(p)
                model = DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)
            self._train_model = model
        return self._train_model

    def train_step(self, iteration: int) -> dict:
        """One optimisation step on global batch ``iteration % steps`` of its epoch."""
        cfg, ctx, data = self.cfg, self.ctx, self.data
        epoch, i = divmod(iteration, self.steps)
        if self._batches[0] != epoch:
            batches = epoch_batches(len(data.train), cfg.batch_size, epoch, cfg.seed, ctx.rank,
                                    ctx.world_size)  # fmt: skip
            self._batches = (epoch, batches)
        index = self._batches[1][i]
        model = self.train_model()
        model.train()
        x = data.train.x[index].to(ctx.device)
        y = data.train.y[index].to(ctx.device)
        x = data.prepare(x, train=True, generator=batch_generator(cfg.seed, epoch, i, ctx.rank))
        with self.autocast():
            logits = model(x).float()
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        total = loss + time_smoothness(self.model, cfg.smoothness) if cfg.smoothness else loss
        penalty = continuous_penalty(self.model)  # RNODE terms of node blocks, if any
        total = total if penalty is None else total + penalty
        if not all_finite(total, ctx):  # every rank stops together, before backward
            raise Diverged(f"non-finite loss ({total.item()})")
        self.optimizer.zero_grad(set_to_none=not ctx.distributed)  # DDP: keep the bucket views
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            total.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step_update(num_updates=iteration + 1)
        correct = (logits.detach().argmax(1) == y).sum().item()
        self.sums += torch.tensor([loss.item() * len(y), correct, len(y)], dtype=torch.float64)
        return {"loss": loss.item(), "lr": self.optimizer.param_groups[0]["lr"]}

    def period_metrics(self, seconds: float) -> dict:
        """Training loss and accuracy of the epoch (summed over ranks); resets the sums."""
        sums = all_reduce_sum(self.sums, self.ctx)
        self.sums = torch.zeros(3, dtype=torch.float64)
        return {
            "train_loss": (sums[0] / sums[2]).item(),
            "train_acc": (sums[1] / sums[2]).item(),
            "lr": self.optimizer.param_groups[0]["lr"],
            "samples_per_s": self.steps * self.cfg.batch_size / max(seconds, 1e-9),
            "peak_memory_mb": peak_memory_mb(self.ctx.device),
        }

    def start_period(self) -> None:
        if self.ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.ctx.device)

    def evaluate(self, after_batch=None) -> dict:
        val = evaluate(self.model, self.data, "val", self.ctx, autocast=self.autocast,
                       after_batch=after_batch)  # fmt: skip
        return {"val_loss": val["loss"], "val_acc": val["acc"]}

    @staticmethod
    def better(val: dict, best: dict | None) -> bool:
        """Higher validation accuracy, ties broken by lower loss; only finite values count."""
        if not (math.isfinite(val["val_loss"]) and math.isfinite(val["val_acc"])):
            return False
        return best is None or (val["val_acc"], -val["val_loss"]) > (
            best["val_acc"], -best["val_loss"]
        )  # fmt: skip

    def period_line(self, record: dict, total_periods: int) -> str:
        return (
            f"epoch {record['epoch']}/{total_periods}  train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:.4f}  val loss {record['val_loss']:.4f} "
            f"acc {record['val_acc']:.4f}  lr {record['lr']:.3g}  {record['seconds']:.1f}s"
        )

    def after_period(self, record: dict, run_dir) -> None:
        cfg = self.cfg
        if cfg.diagnose_every and record["epoch"] % cfg.diagnose_every == 0 and self.ctx.is_main:
            batch = self.data.prepare(self.data.val.x[:64].to(self.ctx.device))
            write_diagnostics(self.model, batch, run_dir / "diagnostics.jsonl",
                              epoch=record["epoch"])  # fmt: skip

    # ------------------------------------------------------------------- checkpoints
    def model_payload(self) -> dict:
        return model_payload(self.model)

    def check_checkpoint(self, payload: dict, path) -> None:
        """A training checkpoint of this run's model (the resume refuses any other)."""
        if payload.get("model_name") != self.cfg.model:
            raise ConfigError(
                f"{str(path)!r} belongs to model {payload.get('model_name')!r}, not "
                f"{self.cfg.model!r}; resume with --model {payload.get('model_name')} or start "
                f"a new run"
            )

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "sums": self.sums.tolist(),
        }

    def load_state_dict(self, state: dict, iteration: int, is_main: bool) -> None:
        """Restore the optimiser; the schedule is rebuilt from the config and set to
        ``iteration``, so an extended run (``--epochs`` larger on resume) follows the schedule
        of its new length and a plain resume continues the same curve."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.scheduler = self._scheduler()
        self.scheduler.step_update(num_updates=iteration)
        sums = state["sums"] if is_main else [0.0] * 3  # rank 0 carries the epoch's sums
        self.sums = torch.tensor(sums, dtype=torch.float64)

    def sync_period_sums(self) -> None:
        """Before a mid-epoch checkpoint: the sums of every rank into rank 0's."""
        sums = all_reduce_sum(self.sums, self.ctx)
        self.sums = sums if self.ctx.is_main else torch.zeros_like(sums)

    # ------------------------------------------------------------------------- the end
    def final_metrics(self, best_path) -> dict:
        """Test loss and accuracy of the best validation checkpoint."""
        payload = load_checkpoint(best_path, map_location=self.ctx.device)
        load_weights(self.model, payload["model"])
        test = evaluate(self.model, self.data, "test", self.ctx, autocast=self.autocast)
        return {"test_acc": test["acc"], "test_loss": test["loss"]}

    def summary(self, best: dict | None) -> dict:
        out = {
            "model": self.cfg.model,
            "dataset": self.cfg.dataset,
            "parameters": count_parameters(self.model),
            "epochs": self.cfg.epochs,
        }
        if best is not None:
            out.update(best_epoch=best["epoch"], best_val_acc=best["val_acc"],
                       best_val_loss=best["val_loss"])  # fmt: skip
        return out

    def final_line(self, summary: dict) -> str:
        return (
            f"best epoch {summary['best_epoch']} (val acc {summary['best_val_acc']:.4f}): "
            f"test loss {summary['test_loss']:.4f} acc {summary['test_acc']:.4f}"
        )

    def plot(self, records: list[dict], run_dir) -> list:
        if not records:
            return []
        path = run_dir / "learning_curves.png"
        plot_learning_curves(records, path, f"{self.cfg.model} on {self.cfg.dataset}")
        return [path]


def _owns(name: str) -> bool:
    return name in list_datasets() or is_file_dataset(name)


register_mode(
    Mode(
        name="classification",
        title="image and signal classification",
        config=ClassificationConfig,
        task=ClassificationTask,
        owns=_owns,
        datasets=list_datasets,
        resumable=frozenset(
            {
                "epochs",
                "threads",
                "log_every",
                "ckpt_every",
                "diagnose_every",
                "plot",
                "device",
                "ddp_timeout",
                "early_stop",
                "data_dir",
                "download",
            }
        ),  # fmt: skip
        extends=frozenset({"epochs"}),
        distributed=True,
        deprecated={"ckpt_every_steps": "ckpt_every"},
    )
)
