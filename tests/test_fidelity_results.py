"""benchmarks/fidelity.py's results file: scoring some runs again keeps the others."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fidelity


def test_a_rescore_rewrites_its_runs_and_keeps_those_of_other_steps_and_devices(tmp_path):
    path = tmp_path / "results.jsonl"
    runs = [
        {"variant": "a", "steps": 240, "edit": {"faithful": 0.8}},
        {"variant": "a", "steps": 270, "edit": {"faithful": 0.7}},
        {"variant": "b", "steps": 270, "device": "cuda", "edit": {"faithful": 0.9}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    done, others = fidelity.read_results(path, 270, "cpu")
    assert list(done) == ["a"] and done["a"]["edit"]["faithful"] == 0.7 and len(others) == 2
    done["a"] = {**done["a"], "edit": {"faithful": 0.75}}
    fidelity.write_results(path, others, done)
    again = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(again) == 3 and {(r["variant"], r["steps"], r["edit"]["faithful"]) for r in again} == {
        ("a", 240, 0.8),
        ("a", 270, 0.75),
        ("b", 270, 0.9),
    }
    assert fidelity.read_results(tmp_path / "none.jsonl", 270, "cpu") == ({}, [])
