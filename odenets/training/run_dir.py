"""Run directories: the saved config, ``metrics.jsonl``, JSON files written atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

from ..config import ConfigError


def default_run_name(model: str, dataset: str) -> str:
    """``<model>-<dataset>-<YYYYmmdd-HHMMSS>``; a file dataset contributes its stem."""
    return f"{model}-{Path(dataset).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new_run_dir(out_dir: str | os.PathLike, run_name: str) -> Path:
    """``out_dir/run_name``, which must not exist or be empty (no clobbering); not created."""
    path = Path(out_dir) / run_name
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(
            f"run directory {str(path)!r} already exists and is not empty; continue it with "
            f"--resume {path} or choose another --run-name"
        )
    return path


def make_run_dir(out_dir: str | os.PathLike, run_name: str, create: bool = True) -> Path:
    """``out_dir/run_name``, created if ``create``; a non-empty one is an error (no clobbering).

    Under ``torchrun`` every rank checks and only rank 0 creates (``create=False`` elsewhere).
    """
    path = check_new_run_dir(out_dir, run_name)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON atomically (temporary file + fsync + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; a malformed file is an error naming the file and line."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{str(path)!r} is not a text file: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} must hold a JSON object, got a {type(data).__name__}")
    return data


def save_config(run_dir: str | os.PathLike, config) -> Path:
    """Save a dataclass config as ``config.json`` in the run directory (atomically)."""
    return write_json(Path(run_dir) / "config.json", dataclasses.asdict(config))


class MetricsWriter:
    """Append one JSON object per line to ``metrics.jsonl`` (one line per period).

    ``truncate_after(iteration)`` keeps the lines of periods that ended at or before
    ``iteration``: a run resumed from a checkpoint rewrites what a killed run logged after it
    (including a last line torn by the kill).
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

    def truncate_after(self, iteration: int) -> None:
        """Keep only the records with ``record["iteration"] <= iteration``."""
        kept = [r for r in self.read() if r.get("iteration", 0) <= iteration]
        fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".tmp", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
        os.replace(tmp, self.path)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file (missing file: no records).

    A last line cut short (a process killed mid-write) is dropped; a malformed line before
    it is an error naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):
                break  # torn by a kill: the resumed run rewrites it
            raise ConfigError(f"{path}:{number}: invalid JSON line: {err.msg}") from None
    return records


def remove_stale_temporaries(run_dir: str | os.PathLike) -> None:
    """Delete ``.*.tmp`` files a killed run may have left mid-write."""
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
