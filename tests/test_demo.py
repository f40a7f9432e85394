"""The demo end to end at a tiny size, and the shipped pretrained checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.cli.main import main
from cimgen.edit.mask import busiest_box
from cimgen.errors import CimgenError
from cimgen.generators import load_label_generator, shipped_checkpoint
from cimgen.io.images import read_image


def test_shipped_pretrained_checkpoint_loads_and_renders():
    path = shipped_checkpoint()
    assert (path / "config.json").is_file() and (path / "weights.safetensors").is_file()
    gen, cfg = load_label_generator(path)
    assert cfg["label_nc"] == 6 and cfg["palette"]["names"][2] == "building"
    assert cfg["generator"] == {**cfg["generator"], "base_channels": 16, "num_downsamplings": 3, "num_blocks": 6}
    # It was pretrained, not just initialised: it renders a tile of a world it never saw
    # (seed 1; it was trained on seed 0) close to the real rendering (0.678 when it was made).
    from cimgen.data.synth import SynthConfig, make_tile
    from cimgen.generators import generate
    from cimgen.metrics.ssim import ssim_outside

    tile = make_tile(SynthConfig(height=256, width=256, seed=1), 0)
    out = generate(gen, tile.labels.astype(np.int64), 6)
    assert ssim_outside(out, tile.image, np.zeros((256, 256), bool))["ssim"] > 0.6


def test_the_resize_twin_renders_as_well_without_the_transposed_lattice():
    """The generator pretrained with resize-then-convolve upsampling (configs/synth_pretrain_resize.yaml) renders an
    unseen tile as well as the shipped transposed one, with fewer lattice peaks in its spectrum."""
    from cimgen.data.synth import SynthConfig, make_tile
    from cimgen.generators import generate
    from cimgen.metrics.checkerboard import checkerboard_report
    from cimgen.metrics.ssim import ssim_outside

    gen, cfg = load_label_generator(shipped_checkpoint("resize"))
    assert cfg["generator"]["upsample"] == "resize" and cfg["palette"] == load_label_generator(shipped_checkpoint())[1]["palette"]
    tile = make_tile(SynthConfig(height=256, width=256, seed=1), 0)
    labels, none = tile.labels.astype(np.int64), np.zeros((256, 256), bool)
    resize, transpose = generate(gen, labels, 6), generate(load_label_generator(shipped_checkpoint())[0], labels, 6)
    assert ssim_outside(resize, tile.image, none)["ssim"] > 0.6
    assert checkerboard_report(resize, tile.image)["ratio"] < checkerboard_report(transpose, tile.image)["ratio"]
    with pytest.raises(CimgenError, match="no shipped generator upsamples by 'bilinear'; choose transpose, resize"):
        shipped_checkpoint("bilinear")
    from pathlib import Path

    from cimgen.generators import named_checkpoint

    assert named_checkpoint("shipped-resize") == shipped_checkpoint("resize") and named_checkpoint("shipped") == shipped_checkpoint()
    assert named_checkpoint("runs/x") == Path("runs/x")
    # every command that reads a checkpoint takes the names (batch, windowed, translate, the app), and runs record the folder
    from cimgen.generators import read_checkpoint
    from cimgen.runs.manipulate import run_checkpoint

    assert read_checkpoint("shipped-resize")[0][0]["generator"]["upsample"] == "resize"
    assert run_checkpoint("shipped") == str(shipped_checkpoint()) and run_checkpoint("", finetune=True) == str(shipped_checkpoint("resize"))


def test_demo_end_to_end_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--size",
        "64",
        "--tiles",
        "2",
        "--epochs",
        "1",
        "--decay-epochs",
        "0",
        "--crop-size",
        "0",
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed and str((out / "report.html").resolve()) in printed
    metrics = json.loads((out / "metrics.json").read_text())
    # The reported SSIM is that of the written generated image against the original outside the written mask; the
    # result is the original there, pixel for pixel.
    from cimgen.io.images import read_mask
    from cimgen.metrics.ssim import ssim_outside

    original, mask = read_image(out / "original.png"), read_mask(out / "mask_raw.png")
    ssim = ssim_outside(read_image(out / "generated.png"), original, mask)["ssim"]
    assert metrics["ssim_outside_mask"] == round(ssim, 4) and metrics["mask_area_pixels"] == int(mask.sum()) > 0
    assert metrics["outside_mask_identical"] is True and np.array_equal(read_image(out / "result.png")[~mask], original[~mask])
    assert set(metrics["timings_seconds"]) >= {"synth", "finetune", "generate+blend", "report", "total"}
    for name in ("original.png", "map.png", "edited_map.png", "mask.png", "generated.png", "result.png", "zoom.png"):
        assert (out / name).is_file()
        assert name in (out / "report.html").read_text()
    original, result = read_image(out / "original.png"), read_image(out / "result.png")
    mask = read_image(out / "mask_raw.png")[..., 0] > 0
    assert mask.any() and np.array_equal(result[~mask], original[~mask])
    assert not np.array_equal(result[mask], original[mask])
    assert (out / "finetune" / "checkpoints").is_dir()
    assert read_image(out / "overview.png").shape[1] > 6 * 64
    # A second run into the same folder is refused rather than mixed in.
    assert main(argv) == 2


def test_busiest_box():
    m = np.zeros((20, 20), bool)
    m[12:16, 3:7] = True
    assert busiest_box(m, 4) == (3, 12, 7, 16)
