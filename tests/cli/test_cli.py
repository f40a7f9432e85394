"""The command line: every command runs, and bad input gives one sentence, exit status 2 and no output."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from cimgen.cli.main import main
from cimgen.io.checkpoints import load_checkpoint, save_checkpoint
from cimgen.io.images import read_image, read_label_map, write_image, write_label_map
from tests.conftest import TINY_MODEL


def _err(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cimgen: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _manip(tiny_world, ckpt, out, **over):
    args = {
        "--checkpoint": str(ckpt),
        "--image": str(tiny_world / "images" / "tile_00000.png"),
        "--map": str(tiny_world / "labels" / "tile_00000.png"),
        "--out": str(out),
        "--remove": "building",
        "--box": "0,0,48,48",
    }
    args.update(over)
    return [x for k, v in args.items() if v is not None for x in (k, v)]


def test_manipulate_writes_the_report(capsys, tiny_world, tiny_ckpt, tmp_path):
    assert main(["manipulate", *_manip(tiny_world, tiny_ckpt, tmp_path / "m")]) == 0
    out = tmp_path / "m"
    for name in ("report.html", "metrics.json", "result.png", "generated.png", "mask_raw.png", "edited_map.png", "zoom.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["outside_mask_identical"] is True and metrics["mask_area_pixels"] > 0
    original = read_image(tiny_world / "images" / "tile_00000.png")
    result = read_image(out / "result.png")
    mask = read_image(out / "mask_raw.png")[..., 0] > 0
    assert np.array_equal(result[~mask], original[~mask])
    assert "report:" in capsys.readouterr().out


def test_manipulate_replace_with_a_mask_file_and_colour_map(capsys, tiny_world, tiny_ckpt, tmp_path):
    region = np.zeros((48, 48, 3), np.uint8)
    region[:, :16] = 255
    write_image(tmp_path / "region.png", region)
    args = _manip(tiny_world, tiny_ckpt, tmp_path / "m", **{"--remove": None, "--box": None, "--replace": "road:water", "--region": str(tmp_path / "region.png"), "--map": str(tiny_world / "maps" / "tile_00000.png")})
    assert main(["manipulate", *args]) == 0
    edited = read_image(tmp_path / "m" / "edited_map.png")
    labels = read_label_map(tiny_world / "labels" / "tile_00000.png")
    assert (labels[:, :16] == 1).any()
    assert not (edited[:, :16][labels[:, :16] == 1] == (255, 255, 255)).all(axis=1).any()  # no road left in the region


def test_missing_file(capsys, tiny_world, tiny_ckpt, tmp_path):
    msg = _err(capsys, ["manipulate", *_manip(tiny_world, tiny_ckpt, tmp_path / "m", **{"--image": str(tmp_path / "nope.png")})])
    assert "nope.png does not exist" in msg
    assert not (tmp_path / "m").exists()


def test_image_and_map_of_different_sizes(capsys, tiny_world, tiny_ckpt, tmp_path):
    write_image(tmp_path / "big.png", np.zeros((40, 48, 3), np.uint8))
    msg = _err(capsys, ["manipulate", *_manip(tiny_world, tiny_ckpt, tmp_path / "m", **{"--image": str(tmp_path / "big.png")})])
    assert "is 48x40 but map" in msg and not (tmp_path / "m").exists()


def test_label_outside_the_classes(capsys, tiny_world, tiny_ckpt, tmp_path):
    labels = read_label_map(tiny_world / "labels" / "tile_00000.png")
    labels[3, 4] = 12
    write_label_map(tmp_path / "bad.png", labels)
    msg = _err(capsys, ["manipulate", *_manip(tiny_world, tiny_ckpt, tmp_path / "m", **{"--map": str(tmp_path / "bad.png")})])
    assert "label 12 at pixel (x=4, y=3)" in msg and not (tmp_path / "m").exists()


def test_empty_edit(capsys, tiny_world, tiny_ckpt, tmp_path):
    msg = _err(capsys, ["manipulate", *_manip(tiny_world, tiny_ckpt, tmp_path / "m", **{"--remove": "water", "--box": "0,0,2,2"})])
    assert "changed nothing" in msg and not (tmp_path / "m").exists()


def test_checkpoint_that_does_not_match(capsys, tiny_world, tiny_ckpt, tmp_path):
    cfg, tensors = load_checkpoint(tiny_ckpt)
    cfg["generator"]["num_blocks"] = 3
    save_checkpoint(tmp_path / "bad", cfg, tensors)
    msg = _err(capsys, ["manipulate", *_manip(tiny_world, tmp_path / "bad", tmp_path / "m")])
    assert "does not match the model" in msg and not (tmp_path / "m").exists()
    msg = _err(capsys, ["finetune", "--from", str(tmp_path / "bad"), "--data", str(tiny_world), "--out", str(tmp_path / "ft"), "--quiet"])
    assert "does not match the model" in msg and not (tmp_path / "ft").exists()


def test_train_on_bad_data_leaves_no_run_folder(capsys, tmp_path):
    write_label_map(tmp_path / "d" / "labels" / "a.png", np.zeros((16, 16), np.int64))
    write_image(tmp_path / "d" / "images" / "a.png", np.zeros((16, 24, 3), np.uint8))
    msg = _err(capsys, ["train", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "run"), "--quiet"])
    assert "is 24x16 but its map is 16x16" in msg and not (tmp_path / "run").exists()


def test_bad_config_values(capsys, tiny_world, tmp_path):
    (tmp_path / "c.yaml").write_text("loop:\n  epoks: 3\n")
    assert "unknown key 'epoks'" in _err(capsys, ["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")])
    (tmp_path / "c.yaml").write_text("loop: [1, 2\n")
    assert "not valid YAML" in _err(capsys, ["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")])
    assert "must look like" in _err(capsys, ["train", "--data", str(tiny_world), "--set", "loop.epochs", "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_train_dry_run_and_resume(capsys, tiny_world, tmp_path):
    sets = [x for k, v in TINY_MODEL.items() for kk, vv in v.items() for x in ("--set", f"{k}.{kk}={vv}")]
    base = ["train", "--data", str(tiny_world), *sets, "--set", "loop.checkpoint_every=1", "--epochs", "1", "--decay-epochs", "0", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    assert "base_channels: 4" in capsys.readouterr().out and not (tmp_path / "r").exists()
    assert main([*base, "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "--out", str(tmp_path / "r"), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert (tmp_path / "r" / "checkpoints" / "epoch-0002").is_dir()
    stats = (tmp_path / "r" / "stats.jsonl").read_text().splitlines()
    assert len(stats) == 2


def test_synth_command_and_bad_count(capsys, tmp_path):
    assert main(["data", "synth", "--out", str(tmp_path / "w"), "--count", "2", "--size", "24"]) == 0
    assert len(list((tmp_path / "w" / "images").iterdir())) == 2
    capsys.readouterr()
    assert "at least 1" in _err(capsys, ["data", "synth", "--out", str(tmp_path / "w2"), "--count", "0"])


def test_console_script_help_and_usage_errors():
    exe = [sys.executable, "-m", "cimgen.cli.main"]
    ok = subprocess.run([*exe, "demo", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "Example: cimgen demo" in ok.stdout
    bad = subprocess.run([*exe, "manipulate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Missing option" in bad.stderr and "Traceback" not in bad.stderr
