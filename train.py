"""Train a registered odenets model on an image or signal classification dataset.

    python train.py                                        # the default: about a minute on a CPU
    python train.py --model rk4_digits --epochs 20 --seed 1
    python train.py --dataset cifar10 --data-dir data --download --model-kwargs '{...}'
    python train.py --config run.yaml --lr 0.05            # a YAML/JSON file, then flags
    python train.py --resume results/<run-name>            # continue exactly where it stopped
    torchrun --nproc_per_node=2 train.py --batch-size 128  # DistributedDataParallel

Every field of ``Config`` below is a flag (``--weight-decay 1e-4``, ``--no-augment``) and a
key of a ``--config`` file; unknown keys and wrong types are errors. A run writes to
``<out_dir>/<run_name>/``: config.json, metrics.jsonl (one line per epoch),
checkpoint_last.pt, checkpoint_best.pt, summary.json and learning_curves.png.
See docs/training.md.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from odenets._validation import check_choice, check_positive_int
from odenets.checkpoint import load_checkpoint, load_weights, model_payload, save_checkpoint
from odenets.config import config_from_dict, parse_overrides, peek_option
from odenets.data import get_dataset
from odenets.dynamics import is_dynamics_dataset
from odenets.regularizers import time_smoothness
from odenets.training import (
    BEST,
    LAST,
    MetricsWriter,
    NonFiniteLossError,
    StepLogger,
    all_finite,
    all_reduce_sum,
    barrier,
    batch_generator,
    broadcast_object,
    build_model_for,
    build_optimizer,
    build_scheduler,
    capture_rng_state,
    cleanup_distributed,
    count_parameters,
    default_run_name,
    epoch_batches,
    evaluate,
    gather_objects,
    load_training_checkpoint,
    make_run_dir,
    peak_memory_mb,
    plot_learning_curves,
    read_json,
    remove_stale_temporaries,
    restore_rng_state,
    restore_training,
    save_config,
    save_training_checkpoint,
    seed_everything,
    setup_distributed,
    steps_per_epoch,
    write_diagnostics,
    write_json,
)


@dataclass
class Config:
    # ------------------------------------------------------------------------------ data
    dataset: str = "digits"  # digits | mnist | fashion_mnist | cifar10 | cifar100 | stl10 | x.npz
    data_dir: str = "data"  # where the torchvision datasets live
    download: bool = False  # fetch a missing torchvision dataset into data_dir
    val_fraction: float = 0.1  # of the training set, for validation (digits: fixed 60/20/20)
    augment: bool = True  # pad-crop + horizontal flip for CIFAR and STL-10
    # ----------------------------------------------------------------------------- model
    model: str = "hamiltonian_digits"  # any name of odenets.list_models()
    model_kwargs: dict = field(default_factory=dict)  # create_model overrides: {"steps": 6}
    memory: str | None = None  # memory policy of the stages (store, checkpoint, ...)
    # ---------------------------------------------------------------------- optimisation
    epochs: int = 30
    batch_size: int = 64  # global batch: torchrun splits it across the processes
    optimizer: str = "sgd"  # sgd (heavy-ball momentum) | adamw
    lr: float = 0.1
    momentum: float = 0.9  # sgd only
    weight_decay: float = 5e-4  # not applied to biases and normalisation weights
    schedule: str = "cosine"  # cosine | step; updated every step
    warmup_epochs: int = 0  # linear warm-up
    min_lr: float = 0.0  # cosine floor
    step_epochs: int = 30  # step schedule: multiply the lr by step_gamma every step_epochs
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0: no clipping
    smoothness: float = 0.0  # α of the time-smoothness regulariser α Σ_j ‖θ_{j+1} − θ_j‖²
    # ---------------------------------------------------------------------------- system
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = False  # mixed precision (autocast); the CPU supports bfloat16 only
    amp_dtype: str = "bfloat16"  # bfloat16 | float16 (float16 adds a GradScaler; GPU only)
    compile: bool = False  # torch.compile the model
    seed: int = 0
    threads: int = 1  # torch CPU threads per process (small models are fastest on 1); 0: all
    # --------------------------------------------------------------------------- outputs
    out_dir: str = "results"
    run_name: str = ""  # default <model>-<dataset>-<timestamp>
    resume: str | None = None  # a run directory to continue from its checkpoint_last.pt
    ckpt_every_steps: int = 0  # also checkpoint mid-epoch every k steps (0: epoch ends only)
    log_every: int = 50  # a plain progress line every k steps when not on a terminal
    diagnose_every: int = 0  # every k epochs append diagnostics to diagnostics.jsonl
    plot: bool = True  # write learning_curves.png


def main(argv: list[str] | None = None) -> dict:
    dataset = peek_option(argv, "dataset", Config.dataset)
    if _dynamics_dataset(dataset):  # spiral, pendulum, ...: the dynamics trainer
        from odenets.dynamics.train import main as dynamics_main

        return dynamics_main(argv)
    cfg = load_config(argv)
    check_config(cfg)
    ctx = setup_distributed(cfg.device)
    try:
        return train(cfg, ctx, argv if argv is not None else sys.argv[1:])
    finally:
        cleanup_distributed()


def _dynamics_dataset(name) -> bool:
    return is_dynamics_dataset(name)


def load_config(argv) -> Config:
    """Defaults ← --config file ← flags; with --resume, the run's saved config is the base."""
    overrides = parse_overrides(Config, argv, description=__doc__)
    if not overrides.get("resume"):
        return config_from_dict(Config, overrides)
    run_dir = Path(overrides["resume"])
    if not (run_dir / "config.json").is_file():
        what = "does not exist" if not run_dir.exists() else "has no config.json"
        raise FileNotFoundError(f"resume directory {str(run_dir)!r} {what}")
    return config_from_dict(
        Config, overrides, config_from_dict(Config, read_json(run_dir / "config.json"))
    )


def check_config(cfg: Config) -> None:
    """Values the type check cannot catch; every message says what is allowed."""
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) <= 0:
            raise ValueError(f"{key} must be a positive integer, got {getattr(cfg, key)}")
    for key in ("ckpt_every_steps", "log_every", "diagnose_every", "warmup_epochs", "threads"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"{key} must be >= 0, got {getattr(cfg, key)}")
    for key in ("grad_clip", "smoothness", "weight_decay", "min_lr"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"{key} must be >= 0, got {getattr(cfg, key)}")
    if not 0 <= cfg.label_smoothing < 1:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {cfg.label_smoothing}")
    check_positive_int(cfg.step_epochs, "step_epochs")
    check_choice(cfg.optimizer, ("sgd", "adamw"), "optimizer")
    check_choice(cfg.schedule, ("cosine", "step"), "schedule")
    check_choice(cfg.device, ("auto", "cpu", "cuda"), "device")
    check_choice(cfg.amp_dtype, ("bfloat16", "float16"), "amp_dtype")


def train(cfg: Config, ctx, argv: list[str]) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    say = print if ctx.is_main else (lambda *args, **kwargs: None)
    if cfg.amp and cfg.amp_dtype == "float16" and ctx.device.type != "cuda":
        raise ValueError("amp_dtype float16 needs a GPU; on the CPU use --amp-dtype bfloat16")

    # -------------------------------------------------------------- data, model, run dir
    data = get_dataset(cfg.dataset, cfg.data_dir, cfg.download, cfg.val_fraction, cfg.augment)
    seed_everything(cfg.seed)  # the same initial weights on every rank
    model = build_model_for(data, cfg.model, cfg.model_kwargs, cfg.memory).to(ctx.device)
    steps = steps_per_epoch(len(data.train), cfg.batch_size)
    if cfg.batch_size % ctx.world_size:
        raise ValueError(
            f"batch_size {cfg.batch_size} must be divisible by the {ctx.world_size} processes"
        )
    run_dir = prepare_run_dir(cfg, ctx)
    metrics = MetricsWriter(run_dir / "metrics.jsonl")
    say(f"run directory {run_dir}\n{data.describe()}")
    say(
        f"model {cfg.model}: {count_parameters(model):,} parameters, {ctx.world_size} process(es)"
        f" on {ctx.device}\nconfig:\n"
        + "\n".join(f"  {k} = {json.dumps(v)}" for k, v in dataclasses.asdict(cfg).items())
    )

    # ---------------------------------------------------------------- optimisation setup
    optimizer = build_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
    scheduler = build_scheduler(
        optimizer,
        cfg.schedule,
        cfg.epochs,
        steps,
        cfg.warmup_epochs,
        cfg.min_lr,
        cfg.step_epochs,
        cfg.step_gamma,
    )
    use_scaler = cfg.amp and cfg.amp_dtype == "float16"
    scaler = torch.amp.GradScaler(ctx.device.type) if use_scaler else None
    amp_dtype = getattr(torch, cfg.amp_dtype)
    autocast = partial(torch.autocast, ctx.device.type, dtype=amp_dtype, enabled=cfg.amp)

    # progress: completed epochs, batches consumed in the current one, running sums
    # (loss·n, correct, n, summed over ranks), its seconds so far, the best validation result
    progress = {
        "epoch": 0,
        "step_in_epoch": 0,
        "global_step": 0,
        "sums": [0.0, 0.0, 0.0],
        "seconds": 0.0,
        "best": None,
    }
    seed_everything(cfg.seed + ctx.rank)  # training-time randomness (dropout) per rank
    if cfg.resume:
        payload = load_training_checkpoint(run_dir, cfg.model)
        progress = restore_training(payload, model, optimizer, scheduler, scaler)
        restore_rng_state(payload["rng"][ctx.rank % len(payload["rng"])])
        if ctx.is_main:
            metrics.truncate_after(progress["epoch"])
        say(
            f"resumed from {run_dir / LAST}: epoch {progress['epoch'] + 1}, "
            f"batch {progress['step_in_epoch']} of {steps}"
        )

    train_model = torch.compile(model) if cfg.compile else model
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        train_model = DistributedDataParallel(train_model, device_ids=ids)

    def save_last():
        rng = gather_objects(capture_rng_state(), ctx)  # every rank's generators
        if ctx.is_main:
            config = dataclasses.asdict(cfg)
            save_training_checkpoint(
                run_dir / LAST, model, optimizer, scheduler, scaler, progress, rng, config
            )

    # ------------------------------------------------------------------------- the loop
    for epoch in range(progress["epoch"], cfg.epochs):
        batches = epoch_batches(
            len(data.train), cfg.batch_size, epoch, cfg.seed, ctx.rank, ctx.world_size
        )
        start = progress["step_in_epoch"]
        sums = torch.tensor(progress["sums"] if ctx.is_main else [0.0] * 3, dtype=torch.float64)
        if ctx.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx.device)
        logger = StepLogger(
            steps, f"epoch {epoch + 1}/{cfg.epochs}", ctx.is_main, cfg.log_every, start
        )
        t0 = time.perf_counter()
        train_model.train()
        for i in range(start, steps):
            x = data.train.x[batches[i]].to(ctx.device)
            y = data.train.y[batches[i]].to(ctx.device)
            x = data.prepare(x, train=True, generator=batch_generator(cfg.seed, epoch, i, ctx.rank))
            with autocast():
                logits = train_model(x).float()
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            total = loss + time_smoothness(model, cfg.smoothness) if cfg.smoothness else loss
            if not all_finite(total, ctx):
                where = f"epoch {epoch + 1}, step {i + 1}/{steps}"
                raise stop_diverged(run_dir, ctx, where, total.item(), metrics)

            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(total).backward()
                scaler.unscale_(optimizer)
            else:
                total.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            progress["global_step"] += 1
            scheduler.step_update(num_updates=progress["global_step"])

            correct = (logits.detach().argmax(1) == y).sum().item()
            sums += torch.tensor([loss.item() * len(y), correct, len(y)], dtype=torch.float64)
            logger.update(loss.item(), optimizer.param_groups[0]["lr"])
            if cfg.ckpt_every_steps and (i + 1) % cfg.ckpt_every_steps == 0 and i + 1 < steps:
                progress.update(
                    step_in_epoch=i + 1,
                    sums=all_reduce_sum(sums, ctx).tolist(),
                    seconds=progress["seconds"] + time.perf_counter() - t0,
                )
                t0 = time.perf_counter()
                sums.zero_()  # now counted in progress["sums"] (rank 0 restores them)
                if ctx.is_main:
                    sums += torch.tensor(progress["sums"], dtype=torch.float64)
                save_last()
        logger.close()

        # ------------------------------------------------------- end of epoch: evaluate
        sums = all_reduce_sum(sums, ctx)
        seconds = progress["seconds"] + time.perf_counter() - t0
        val = evaluate(model, data, "val", ctx, autocast=autocast)
        record = {
            "epoch": epoch + 1,
            "step": progress["global_step"],
            "train_loss": (sums[0] / sums[2]).item(),
            "train_acc": (sums[1] / sums[2]).item(),
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "samples_per_s": steps * cfg.batch_size / seconds,
            "peak_memory_mb": peak_memory_mb(ctx.device),
        }
        say(
            f"epoch {epoch + 1}/{cfg.epochs}  train loss {record['train_loss']:.4f} "
            f"acc {record['train_acc']:.4f}  val loss {val['loss']:.4f} acc {val['acc']:.4f}  "
            f"lr {record['lr']:.3g}  {seconds:.1f}s"
        )
        best = progress["best"]
        improved = best is None or (val["acc"], -val["loss"]) > (best["val_acc"], -best["val_loss"])
        if ctx.is_main:
            metrics.append(record)
            if improved:
                payload = model_payload(model) | {"epoch": epoch + 1, "val": val}
                save_checkpoint(run_dir / BEST, payload)
        if improved:
            progress["best"] = {"epoch": epoch + 1, "val_acc": val["acc"], "val_loss": val["loss"]}
        progress.update(epoch=epoch + 1, step_in_epoch=0, sums=[0.0] * 3, seconds=0.0)
        save_last()
        if cfg.diagnose_every and (epoch + 1) % cfg.diagnose_every == 0 and ctx.is_main:
            batch = data.prepare(data.val.x[:64].to(ctx.device))
            write_diagnostics(model, batch, run_dir / "diagnostics.jsonl", epoch=epoch + 1)

    # ----------------------------------------------------- the best checkpoint on the test set
    barrier(ctx)
    load_weights(model, load_checkpoint(run_dir / BEST, map_location=ctx.device)["model"])
    test = evaluate(model, data, "test", ctx, autocast=autocast)
    best = progress["best"]
    say(
        f"best epoch {best['epoch']} (val acc {best['val_acc']:.4f}): "
        f"test loss {test['loss']:.4f} acc {test['acc']:.4f}"
    )
    summary = {
        "status": "completed",
        "model": cfg.model,
        "dataset": cfg.dataset,
        "parameters": count_parameters(model),
        "epochs": cfg.epochs,
        "best_epoch": best["epoch"],
        "best_val_acc": best["val_acc"],
        "best_val_loss": best["val_loss"],
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "torch": torch.__version__,
        "command": shlex.join(["python", "train.py", *argv]),
    }
    if ctx.is_main:
        records = metrics.read()
        summary["seconds"] = sum(r["seconds"] for r in records)
        summary["seconds_per_epoch"] = summary["seconds"] / max(len(records), 1)
        write_json(run_dir / "summary.json", summary)
        if cfg.plot:
            plot_learning_curves(
                records, run_dir / "learning_curves.png", f"{cfg.model} on {cfg.dataset}"
            )
        say(f"wrote {run_dir}/summary.json")
    return summary


def stop_diverged(run_dir: Path, ctx, where: str, loss: float, metrics) -> NonFiniteLossError:
    """Record a diverged run in summary.json; the last good checkpoint stays as it was."""
    err = NonFiniteLossError(
        f"non-finite loss ({loss}) at {where}; training stopped. The last good checkpoint is "
        f"kept: {run_dir / LAST}. Lower --lr, set --grad-clip, or check the data."
    )
    if ctx.is_main:
        write_json(run_dir / "summary.json", {"status": "diverged", "message": str(err)})
        if metrics.read():
            plot_learning_curves(metrics.read(), run_dir / "learning_curves.png")
    return err


def prepare_run_dir(cfg: Config, ctx) -> Path:
    """The run directory: the one resumed, or a new ``out_dir/run_name`` (rank 0 creates it)."""
    if cfg.resume:
        run_dir = Path(cfg.resume)
    else:
        name = broadcast_object(cfg.run_name or default_run_name(cfg.model, cfg.dataset), ctx)
        run_dir = make_run_dir(cfg.out_dir, name, create=False)  # every rank checks
        barrier(ctx)
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
    if ctx.is_main:
        remove_stale_temporaries(run_dir)
        save_config(run_dir, cfg)
    return run_dir


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError, NonFiniteLossError) as err:
        sys.exit(f"train.py: error: {err}")
