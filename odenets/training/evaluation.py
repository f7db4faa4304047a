"""Scoring a classifier on a dataset split: mean cross-entropy and accuracy."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .batches import eval_shard
from .distributed import DistContext, all_reduce_sum, broadcast_buffers


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset,
    split: str,
    ctx: DistContext | None = None,
    batch_size: int = 512,
    autocast=contextlib.nullcontext,
    after_batch=None,
) -> dict:
    """``{"loss", "acc"}`` of ``model`` on ``dataset.<split>`` (no augmentation, eval mode).

    ``after_batch(model)`` is called after each batch (the metric hooks read counters there).

    With several processes each scores a shard of the split with rank 0's BatchNorm
    statistics and the sums are all-reduced: every rank returns the same numbers.
    """
    ctx = ctx or DistContext()
    data = getattr(dataset, split)
    broadcast_buffers(model, ctx)
    was_training = model.training
    model.eval()
    shard = eval_shard(len(data), ctx.rank, ctx.world_size)
    sums = torch.zeros(3, dtype=torch.float64, device=ctx.device)  # loss, correct, count
    for start in range(shard.start, shard.stop, batch_size):
        stop = min(start + batch_size, shard.stop)
        x = dataset.prepare(data.x[start:stop].to(ctx.device))
        y = data.y[start:stop].to(ctx.device)
        with autocast():
            logits = model(x)
        logits = logits.float()
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.argmax(1) == y).sum()
        sums[2] += len(y)
        if after_batch is not None:
            after_batch(model)
    model.train(was_training)
    sums = all_reduce_sum(sums, ctx)
    return {"loss": (sums[0] / sums[2]).item(), "acc": (sums[1] / sums[2]).item()}
