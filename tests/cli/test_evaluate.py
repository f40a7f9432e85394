"""``cimgen evaluate``: the table from run folders and single pairs; bad input is one sentence and writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cimgen.cli.main import main
from cimgen.io.images import write_image
from tests.cli.test_cli import _err


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("eval")
    real = np.clip(rng.normal(128, 40, (96, 128, 3)), 0, 255).astype(np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-50, 50, real.shape), 0, 255).astype(np.uint8)
    mask = np.zeros_like(real)
    mask[:10, :10] = 255
    run = root / "edit-1"
    write_image(run / "original.png", real)
    write_image(run / "generated.png", fake)
    write_image(run / "mask_raw.png", mask)
    return run


def test_evaluate_run_folder_writes_the_table(tmp_path, run_folder, capsys, inception_weights):
    out = tmp_path / "eval"
    argv = [
        str(run_folder),
        "--out",
        str(out),
        "--stride",
        "32",
        "--kid-subsets",
        "3",
        "--cache",
        str(tmp_path / "c"),
        "--quiet",
        "--paper",
    ]
    assert main(["evaluate", *argv]) == 0
    text = capsys.readouterr().out
    assert "| edit-1 |" in text and "rank-deficient" in text and str(out / "table.md") in text
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert rows[0]["patches"] == 5 and rows[0]["settings"]["resize"] == "tf1-bilinear"
    assert (out / "table.csv").read_text().count("\n") == 2 and "Building2Sat (paper)" in (out / "table.md").read_text()
    # Same result from the single-pair form, the clean resize policy is recorded when chosen.
    assert main(["evaluate", "--real", str(run_folder / "original.png"), "--fake", str(run_folder / "generated.png"),
                 "--mask", str(run_folder / "mask_raw.png"), "--out", str(tmp_path / "e2"), "--stride", "32", "--kid-subsets", "3",
                 "--cache", str(tmp_path / "c"), "--quiet"]) == 0  # fmt: skip
    single = json.loads((tmp_path / "e2" / "table.json").read_text())["rows"][0]
    assert single["fid"] == pytest.approx(rows[0]["fid"]) and single["features_from_cache"] == 10
    assert (
        main(["evaluate", str(run_folder), "--out", str(tmp_path / "e3"), "--resize", "clean", "--stride", "32", "--no-cache", "--quiet"])
        == 0
    )
    clean = json.loads((tmp_path / "e3" / "table.json").read_text())["rows"][0]
    assert clean["settings"]["resize"] == "clean" and clean["fid"] != pytest.approx(rows[0]["fid"])


def test_evaluate_bad_input(tmp_path, run_folder, capsys):
    out = tmp_path / "never"
    small = tmp_path / "small.png"
    write_image(small, np.zeros((64, 64, 3), np.uint8))
    full = tmp_path / "full.png"
    write_image(full, np.full((96, 128, 3), 255, np.uint8))
    real = str(run_folder / "original.png")
    msg = _err(capsys, ["evaluate", "--real", real, "--fake", str(small), "--out", str(out)])
    assert "must have the same size" in msg
    msg = _err(capsys, ["evaluate", "--real", real, "--fake", real, "--mask", str(full), "--out", str(out), "--no-cache", "--quiet"])
    assert "no 64x64 patch lies outside the manipulated region" in msg
    wrong = tmp_path / "wrong.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), wrong)
    msg = _err(capsys, ["evaluate", str(run_folder), "--inception-weights", str(wrong), "--out", str(out)])
    assert "is not FID Inception-v3 weights" in msg
    assert "unknown resize policy" in _err(capsys, ["evaluate", str(run_folder), "--resize", "area", "--out", str(out)])
    assert "nothing to evaluate" in _err(capsys, ["evaluate", "--out", str(out)])
    assert not out.exists()
