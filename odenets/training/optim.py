"""Optimiser and learning-rate schedule, through timm's factories.

Weight decay is not applied to biases and normalisation weights (timm's
``filter_bias_and_bn``). The schedule is updated every optimiser step
(``step_update(global_step)``), so the learning rate is a function of the step count
alone and a resumed run continues the same curve.
"""

from __future__ import annotations

from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn

from .._validation import check_choice

OPTIMIZERS = {"sgd": "momentum", "adamw": "adamw"}  # our name -> timm's (no Nesterov for sgd)
SCHEDULES = ("cosine", "step")


def build_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float):
    """SGD with (heavy-ball) momentum or AdamW; no decay on biases and norm weights."""
    check_choice(name, OPTIMIZERS, "optimizer")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    kwargs = {"momentum": momentum} if name == "sgd" else {}
    return create_optimizer_v2(
        model, opt=OPTIMIZERS[name], lr=lr, weight_decay=weight_decay, **kwargs
    )


def build_scheduler(
    optimizer,
    name: str,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: int = 0,
    min_lr: float = 0.0,
    step_epochs: int = 30,
    step_gamma: float = 0.1,
):
    """Cosine decay to ``min_lr`` or step decay (×``step_gamma`` every ``step_epochs``).

    Optional linear warm-up over ``warmup_epochs``. Call ``scheduler.step_update(step)``
    after every optimiser step.
    """
    check_choice(name, SCHEDULES, "schedule")
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=name,
        num_epochs=epochs,
        decay_epochs=step_epochs,
        decay_rate=step_gamma,
        min_lr=min_lr,
        warmup_epochs=warmup_epochs,
        warmup_lr=min(1e-5, optimizer.param_groups[0]["lr"]),
        step_on_epochs=False,
        updates_per_epoch=steps_per_epoch,
    )
    return scheduler
