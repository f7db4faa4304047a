"""Multi-process helpers for ``torchrun``: process group, device, reductions, rank-0 writes.

``torchrun --nproc_per_node=K train.py ...`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup_distributed` then joins the process group (``nccl`` on GPU,
``gloo`` on CPU) with a timeout: a process that hangs (stopped, deadlocked) makes the others
fail with :class:`DistributedTimeout` after that many seconds instead of waiting forever.
Without those variables everything runs as a single process.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks the GPU of this local rank when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but no GPU is available; use --device cpu")
        return torch.device("cuda", local_rank)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")


class DistributedTimeout(RuntimeError):
    """A collective operation failed or timed out: another process hung or died."""


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


JOIN_TIMEOUT = 120.0  # seconds the processes wait for each other to start (imports, data)


def setup_distributed(device: str = "auto", timeout: float = 300.0) -> DistContext:
    """Join the ``torchrun`` process group if launched by it; return this process's context.

    ``timeout`` (seconds) bounds every collective operation once all processes have joined:
    a rank that stops responding makes the others raise instead of blocking forever (see
    :func:`explain_failure`). Joining itself may take up to ``max(timeout, JOIN_TIMEOUT)``,
    since processes start at different speeds.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        join = datetime.timedelta(seconds=max(timeout, JOIN_TIMEOUT))
        try:
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", timeout=join)
            dist.barrier()
        except (RuntimeError, dist.DistError) as err:
            raise DistributedTimeout(
                f"rank {rank} of {world_size} could not join the process group within "
                f"{join.total_seconds():g} s ({str(err).strip().splitlines()[0]}): another "
                f"process did not start or died"
            ) from None
        if hasattr(dist, "set_timeout"):  # torch >= 2.9; before, `join` bounds every step
            dist.set_timeout(datetime.timedelta(seconds=timeout))
    return DistContext(rank, world_size, local_rank, dev)


def explain_failure(err: BaseException, ctx: DistContext, timeout: float) -> DistributedTimeout:
    """The clear error for a collective that failed because another process hung or died."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DistributedTimeout(
        f"rank {ctx.rank} of {ctx.world_size}: another process did not respond within "
        f"ddp_timeout = {timeout:g} s or has died ({first}); the job stops. Its last checkpoint "
        f"is kept: continue it with --resume once every process can run (raise --ddp-timeout "
        f"if a step legitimately takes longer)"
    )


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a tensor over all processes (identity in a single process)."""
    if ctx.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_object(obj, ctx: DistContext):
    """Rank 0's ``obj`` on every process (e.g. a run name that contains a timestamp)."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, ctx: DistContext) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process.

    Without SyncBatchNorm (GPU only) each rank's running statistics drift apart during an
    epoch; evaluation uses rank 0's on every rank so that all ranks score the same model.
    """
    if ctx.distributed:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
