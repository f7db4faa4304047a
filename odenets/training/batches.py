"""Which examples each process sees: global batches, split across ranks, replayable.

The order of an epoch is torch's :class:`~torch.utils.data.DistributedSampler`
permutation (seeded by ``seed + epoch``). Global batch ``i`` is positions
``[i·B, (i+1)·B)`` of that permutation whatever the number of processes: rank ``r`` of
``W`` takes every ``W``-th of them, so ``torchrun`` with ``W`` processes of ``B/W``
examples sees the same global batches as one process with ``B``. The incomplete last
batch is dropped. A resumed run skips the batches an epoch already consumed.
"""

from __future__ import annotations

import torch
from torch.utils.data import DistributedSampler

from .._validation import check_positive_int


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Number of full global batches; a batch larger than the training set is an error."""
    check_positive_int(batch_size, "batch_size")
    if batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} is larger than the training set ({num_examples} examples)"
        )
    return num_examples // batch_size


def epoch_batches(
    num_examples: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world_size: int = 1
) -> list[torch.Tensor]:
    """This rank's index batches for ``epoch`` (each ``batch_size / world_size`` long)."""
    if batch_size % world_size:
        raise ValueError(
            f"the global batch_size {batch_size} must be divisible by the number of processes "
            f"({world_size})"
        )
    steps = steps_per_epoch(num_examples, batch_size)
    sampler = DistributedSampler(
        range(num_examples), num_replicas=world_size, rank=rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    mine = torch.tensor(list(sampler), dtype=torch.int64)
    local = batch_size // world_size
    return [mine[i * local : (i + 1) * local] for i in range(steps)]


def eval_shard(num_examples: int, rank: int = 0, world_size: int = 1) -> range:
    """The contiguous slice of an evaluation set this rank scores."""
    per = -(-num_examples // world_size)
    return range(min(rank * per, num_examples), min((rank + 1) * per, num_examples))
