"""Progress reporting: a tqdm bar in a terminal, plain log lines otherwise; peak memory."""

from __future__ import annotations

import resource
import sys

import torch


class StepLogger:
    """Per-iteration progress of one period (an epoch, or the iterations between evaluations).

    Attached to a terminal (and enabled) it draws a tqdm bar with the running loss and the
    task's other numbers (lr, λ); otherwise (logs, CI) it prints one plain line every
    ``log_every`` iterations.
    """

    def __init__(self, total: int, desc: str, enabled: bool = True, log_every: int = 50, start=0):
        self.total, self.desc, self.enabled, self.log_every = total, desc, enabled, log_every
        self.step = start
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=desc, leave=False, dynamic_ncols=True)

    def update(self, stats: dict) -> None:
        """One iteration done; ``stats`` are the numbers to show (``{"loss": ..., "lr": ...}``)."""
        self.step += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: _short(v) for k, v in stats.items()})
        elif self.enabled and self.log_every > 0 and self.step % self.log_every == 0:
            shown = " ".join(f"{k} {_short(v)}" for k, v in stats.items())
            print(f"{self.desc} iteration {self.step}/{self.total} {shown}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: allocated GPU memory on CUDA (reset each epoch by the caller),
    else the process's peak resident set size (monotone over the run)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
