"""bench/aphynity_table1.py end to end on a tiny budget: per-system JSON, merged markdown."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location(
        "aphynity_table1", ROOT / "bench" / "aphynity_table1.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_merges_seeds_and_states_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("ODENETS_DATA", str(tmp_path / "cache"))
    bench = _bench()
    tiny = ["--system", "pendulum", "--rows", "physics", "true_ode", "--out-dir", str(tmp_path),
            "--set", "n_train=3", "--set", "n_test=2", "--set", "n_val=2", "--set", "duration=4",
            "--set", "horizon=2", "--set", "iterations=2", "--set", "whole_iterations=1",
            "--set", "lbfgs_iter=2", "--set", "eval_every=1"]  # fmt: skip
    bench.main([*tiny, "--seeds", "0", "--tag", "a"])
    bench.main([*tiny, "--seeds", "1", "--tag", "b"])
    alt = ["--system", "pendulum", "--rows", "true_ode", "--out-dir", str(tmp_path), "--set",
           "substeps=1", "--tag", "alt_x"]  # fmt: skip
    bench.main(alt)
    record = json.loads((tmp_path / "aphynity_table1_pendulum_a.json").read_text())
    assert record["rows"]["physics"][0]["best_iteration"] is not None  # selected on validation
    bench.main(["--table", "--out-dir", str(tmp_path)])
    table = (tmp_path / "aphynity_table1.md").read_text()
    physics_line = next(x for x in table.splitlines() if x.startswith("| Incomplete physics"))
    assert " ± " in physics_line and "| 2 |" in physics_line  # two seeds merged, alt apart
    assert "−8.58" in table and "Seeds [0, 1]" in table and "Another setting" in table
    assert "3 train / 2 test / 2 validation" in table and "float64" in table
    assert "## Reaction–diffusion" in table and "Not run." in table
