"""Run directories: the saved config, ``metrics.jsonl``, JSON files written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path


def default_run_name(model: str, dataset: str) -> str:
    """``<model>-<dataset>-<YYYYmmdd-HHMMSS>``; a file dataset contributes its stem."""
    return f"{model}-{Path(dataset).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def make_run_dir(out_dir: str | os.PathLike, run_name: str, create: bool = True) -> Path:
    """``out_dir/run_name``, created if ``create``; a non-empty one is an error (no clobbering).

    Under ``torchrun`` every rank checks and only rank 0 creates (``create=False`` elsewhere).
    """
    path = Path(out_dir) / run_name
    if path.exists() and any(path.iterdir()):
        raise ValueError(
            f"run directory {str(path)!r} already exists and is not empty; continue it with "
            f"--resume {path} or choose another --run-name"
        )
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON atomically (temporary file + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def save_config(run_dir: str | os.PathLike, config) -> Path:
    """Save a dataclass config as ``config.json`` in the run directory."""
    return write_json(Path(run_dir) / "config.json", dataclasses.asdict(config))


class MetricsWriter:
    """Append one JSON object per line to ``metrics.jsonl`` (one line per epoch).

    Epochs are counted from 1. ``truncate_after(epoch)`` drops the lines of later epochs: a
    run resumed after ``epoch`` completed epochs rewrites what a killed run left after them.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def append(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict]:
        return read_jsonl(self.path)

    def truncate_after(self, epoch: int) -> None:
        """Keep only the records of epochs ``<= epoch``."""
        kept = [r for r in self.read() if r.get("epoch", 0) <= epoch]
        fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(tmp, self.path)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file (missing file: no records)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def remove_stale_temporaries(run_dir: str | os.PathLike) -> None:
    """Delete ``.*.tmp`` files a killed run may have left mid-write."""
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
