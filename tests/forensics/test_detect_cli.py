"""``cimgen detect``: the whole flow from the command line, and one sentence for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.cli.main import main
from cimgen.io.images import write_image
from tests.cli.test_cli import _err


def test_forgeries_dataset_train_evaluate_heatmap_robustness(tmp_path, capsys):
    fs = tmp_path / "fs"
    assert main(["detect", "forgeries", "--out", str(fs), "--count", "4", "--size", "128", "--quiet"]) == 0
    assert "forgery set" in capsys.readouterr().out
    ds = tmp_path / "ds"
    argv = ["detect", "dataset", "--pristine", str(fs / "pristine"), "--generated", str(fs / "generated"), "--out", str(ds)]
    assert main([*argv, "--val-fraction", "0.25", "--quiet"]) == 0
    assert "patch dataset" in capsys.readouterr().out
    run = tmp_path / "det"
    argv = ["detect", "train", "--data", str(ds), "--arch", "patchnet", "--epochs", "1", "--out", str(run)]
    small = ["--set", "detector.stage1_channels=4", "--set", "detector.stage2_channels=4", "--set", "detector.stage3_channels=4"]
    assert main([*argv, *small, "--set", "detector.hidden_channels=4", "--set", "loop.tensorboard=false", "--quiet"]) == 0
    assert "best checkpoint" in capsys.readouterr().out
    out = tmp_path / "eval"
    argv = ["detect", "evaluate", "--detector", f"mine={run}", "--data", str(ds), "--forgeries", str(fs / "forgeries")]
    assert main([*argv, "--baseline", "ela", "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "evaluate.json").read_text())
    assert res["patch"][0]["detector"] == "mine"
    # the patch AUC is the trained detector's on the validation split, by an independent count of ranked pairs
    from cimgen.forensics.evaluate import predict_patches
    from cimgen.forensics.patches import load_split
    from cimgen.forensics.train import load_detector

    patches, labels, _ = load_split(ds, "val")
    probs = predict_patches(load_detector(run)[0], patches)
    pos, neg = probs[labels == 1][:, None], probs[labels == 0][None, :]
    assert res["patch"][0]["patches"] == len(labels) and len(pos) and neg.size
    assert res["patch"][0]["auc"] == pytest.approx(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size), abs=1e-6)
    assert {r["method"] for r in res["localisation"]} == {"mine", "baseline:ela"}
    heat = tmp_path / "heat"
    img, mask = fs / "forgeries" / "images" / "tile_00000.png", fs / "forgeries" / "masks" / "tile_00000.png"
    assert main(["detect", "heatmap", "--detector", str(run), "--image", str(img), "--mask", str(mask), "--out", str(heat), "--quiet"]) == 0
    assert "pixel AUC" in capsys.readouterr().out
    info = json.loads((heat / "heatmap.json").read_text())
    assert info["method"] == "dense" and info["stride"] == 1 and info["patches"] == 65 * 65
    assert np.load(heat / "scores.npy").shape == (128, 128) and (heat / "overlay.png").is_file()
    rob = tmp_path / "rob"
    argv = ["detect", "robustness", "--detector", f"a={run}", "--detector", f"b={run}", "--data", str(ds), "--op", "blur"]
    assert main([*argv, "--op", "jpeg", "--out", str(rob), "--quiet"]) == 0
    assert (rob / "robustness_blur.png").is_file() and (rob / "robustness_jpeg.png").is_file()
    text = (rob / "robustness.csv").read_text()
    assert text.startswith("operation,strength,detector,auc,accuracy") and ",a," in text and ",b," in text


def test_bad_input_is_one_sentence(tmp_path, capsys, patch_dataset):
    tiny = tmp_path / "tiny.png"
    write_image(tiny, np.zeros((40, 40, 3), np.uint8))
    run = tmp_path / "det"
    argv = ["detect", "train", "--data", str(patch_dataset), "--arch", "resnet_small", "--set", "detector.width=4", "--epochs", "1"]
    assert main([*argv, "--set", "loop.tensorboard=false", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    line = _err(capsys, ["detect", "heatmap", "--detector", str(run), "--image", str(tiny), "--out", str(tmp_path / "h")])
    assert "smaller than one 64x64 patch" in line and not (tmp_path / "h").exists()
    from cimgen.generators import shipped_checkpoint

    line = _err(capsys, ["detect", "heatmap", "--detector", str(shipped_checkpoint()), "--image", str(tiny), "--out", str(tmp_path / "h")])
    assert "not a detector" in line
    assert "unknown baseline" in _err(capsys, ["detect", "evaluate", "--baseline", "magic", "--forgeries", str(tmp_path)])
    assert "mode must be one of" in _err(
        capsys, ["detect", "train", "--data", str(patch_dataset), "--mode", "x", "--out", str(tmp_path / "r")]
    )
    assert "not a patch dataset" in _err(capsys, ["detect", "train", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()
    line = _err(capsys, ["detect", "robustness", "--detector", str(run), "--data", str(patch_dataset), "--op", "sharpen"])
    assert "unknown post-processing 'sharpen'" in line
