"""Determinism: seed 7 gives the same synthetic data, CPU training, manipulation and metrics, bit for bit, in two fresh processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Files that record times, or places on disk, and so differ between any two runs.
TIMED = {"log.txt", "stats.jsonl", "report.html", "config.yaml"}


def _digests(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in TIMED and p.suffix != ".json" and "tensorboard" not in p.parts:
            data = p.read_bytes()
            if p.suffix in (".csv", ".md", ".txt", ".yaml"):  # tables name the files they score: the pass folder differs
                data = data.replace(str(root).encode(), b"ROOT")
            out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def _numbers(root: Path) -> dict[str, object]:
    """Every value in the JSON files but timings and paths."""
    found = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if "second" not in k and k not in (
                    "checkpoint",
                    "map",
                    "out",
                    "path",
                    "image",
                    "source",
                    "sources",
                    "real",
                    "fake",
                    "mask",
                    "result",
                    "reference",
                    "damaged",
                ):
                    walk(f"{prefix}.{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif not isinstance(value, str) or not value.startswith("/"):
            found[prefix] = value

    for p in sorted(root.rglob("*.json")):
        walk(str(p.relative_to(root)), json.loads(p.read_text()))
    return found


@pytest.mark.slow
def test_two_runs_from_one_seed_are_identical(tmp_path, inception_weights):
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"pass{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "determinism_worker.py"), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(out)
    a, b = _digests(outs[0]), _digests(outs[1])
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k] != b[k]]
    assert not differ, differ
    kinds = {k.split("/")[0] for k in a}
    assert {"world", "run", "edit"} <= kinds  # data, checkpoints (weights and train state) and the manipulation's pictures
    assert any(k.endswith("weights.safetensors") for k in a) and any(k.endswith("result.png") for k in a)
    na, nb = _numbers(outs[0]), _numbers(outs[1])
    assert na == nb
    assert any("fid" in k for k in na) and any("ssim" in k for k in na)  # the metrics were compared
