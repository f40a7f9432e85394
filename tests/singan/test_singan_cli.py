"""``cimgen singan``: train, sample, inpaint (SinGAN and OpenCV), edit; bad input is one sentence and exit 2, with no output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.cli.main import main
from cimgen.io.images import read_image, write_image
from cimgen.singan.damage import adjacent_frame, occlusion
from tests.cli.test_cli import _err
from tests.singan.conftest import TINY

SETS = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]


def _files(tmp_path, tiny_image):
    damaged, mask = occlusion(tiny_image, box=(0.3, 0.3, 0.35, 0.35))
    paths = {
        "clean": tmp_path / "clean.png",
        "damaged": tmp_path / "damaged.png",
        "mask": tmp_path / "mask.png",
        "ref": tmp_path / "ref.png",
    }
    write_image(paths["clean"], tiny_image)
    write_image(paths["damaged"], damaged)
    write_image(paths["mask"], (mask * 255).astype(np.uint8)[..., None].repeat(3, axis=2))
    write_image(paths["ref"], adjacent_frame(tiny_image))
    return paths


def test_train_sample_inpaint_edit(tmp_path, tiny_image, capsys):
    p = _files(tmp_path, tiny_image)
    run = tmp_path / "run"
    assert (
        main(
            [
                "singan",
                "train",
                str(p["damaged"]),
                "--out",
                str(run),
                "--schedule",
                "original",
                *SETS,
                "--set",
                "num_scales=3",
                "--mask",
                str(p["mask"]),
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "trained 3 scales" in out and "model:" in out
    assert main(["singan", "sample", str(run), "--out", str(tmp_path / "s"), "--count", "2", "--height", "30", "--width", "90"]) == 0
    assert read_image(tmp_path / "s" / "sample_001.png").shape == (30, 90, 3)
    assert main(["singan", "sample", str(run / "model"), "--out", str(tmp_path / "s2"), "--count", "1", "--start-scale", "2"]) == 0
    assert (
        main(
            [
                "singan",
                "inpaint",
                str(p["damaged"]),
                "--mask",
                str(p["mask"]),
                "--model",
                str(run),
                "--reference",
                str(p["ref"]),
                "--clean",
                str(p["clean"]),
                "--scale",
                "2",
                "--out",
                str(tmp_path / "fill"),
            ]
        )
        == 0
    )
    rec = json.loads((tmp_path / "fill" / "fill.json").read_text())
    assert rec["scale"] == 2
    # the scores are those of the written result against the clean image, over the written region
    from cimgen.io.images import read_mask
    from cimgen.metrics.inpainting import inpainting_scores

    region = read_mask(tmp_path / "fill" / "region.png")
    assert rec["region_pixels"] == int(region.sum()) > 0
    assert rec["scores"] == json.loads(json.dumps(inpainting_scores(read_image(tmp_path / "fill" / "result.png"), tiny_image, region)))
    assert (tmp_path / "fill" / "generated.png").is_file() and "SSIM" in capsys.readouterr().out
    assert main(["singan", "inpaint", str(p["damaged"]), "--threshold", "250", "--method", "telea", "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "fill.json").read_text())["method"] == "telea"
    assert (
        main(["singan", "edit", str(run), str(p["damaged"]), "--mask", str(p["mask"]), "--kind", "harmonize", "--out", str(tmp_path / "e")])
        == 0
    )
    result = read_image(tmp_path / "e" / "result.png")
    region = read_image(tmp_path / "e" / "region.png")[..., 0] > 0
    assert np.array_equal(result[~region], read_image(p["damaged"])[~region])


def test_dry_run_prints_the_pyramid(tmp_path, tiny_image, capsys):
    p = _files(tmp_path, tiny_image)
    assert main(["singan", "train", str(p["clean"]), "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schedule: fast" in out and "pyramid (" in out and not (tmp_path / "r").exists()


def test_bad_input(tmp_path, tiny_image, tiny_run, capsys):
    run, _ = tiny_run
    p = _files(tmp_path, tiny_image)
    tall = tmp_path / "tall.png"
    write_image(tall, np.zeros((120, 40, 3), np.uint8))
    empty = tmp_path / "empty.png"
    write_image(empty, np.zeros((40, 48, 3), np.uint8))
    tiny = tmp_path / "tiny.png"
    write_image(tiny, tiny_image[:12, :12])
    out = tmp_path / "o"
    base = ["singan", "inpaint", str(p["damaged"]), "--model", str(run), "--out", str(out)]
    assert "aspect ratios may differ" in _err(capsys, [*base, "--mask", str(p["mask"]), "--reference", str(tall)])
    assert "is empty" in _err(capsys, [*base, "--mask", str(empty), "--reference", str(p["ref"])])
    assert "either as --mask FILE or as --threshold" in _err(capsys, [*base, "--reference", str(p["ref"])])
    assert "needs --model" in _err(capsys, ["singan", "inpaint", str(p["damaged"]), "--mask", str(p["mask"]), "--out", str(out)])
    assert "smaller than the coarsest scale" in _err(capsys, ["singan", "train", str(tiny), "--out", str(out)])
    assert "is neither a checkpoint folder" in _err(capsys, ["singan", "sample", str(tmp_path), "--out", str(out)])
    assert "injection scale must lie between 1 and 2" in _err(
        capsys, [*base, "--mask", str(p["mask"]), "--reference", str(p["ref"]), "--scale", "5"]
    )
    assert "unknown SinGAN schedule" in _err(capsys, ["singan", "train", str(p["clean"]), "--out", str(out), "--schedule", "slow"])
    assert not out.exists()


def test_train_resume_continues_a_mid_scale_checkpoint(tmp_path, tiny_image, capsys):
    """`cimgen singan train --resume` picks up the scale in progress where its last mid-scale checkpoint left it."""
    import pytest
    import torch

    from cimgen.singan.model import load_singan
    from cimgen.singan.train import PARTIAL_DIR, train_singan
    from tests.singan.conftest import tiny_config

    image = tmp_path / "image.png"
    write_image(image, tiny_image)
    cfg = tiny_config("original", num_scales=2, iters=4)
    straight = train_singan(tiny_image, cfg, tmp_path / "straight", write_samples=False)

    def crash(n, it, iters, stats):
        if (n, it) == (1, 3):
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_singan(tiny_image, cfg, run, progress=crash, checkpoint_every=1e-9)
    assert json.loads((run / PARTIAL_DIR / "config.json").read_text())["iteration"] == 2
    args = ["singan", "train", str(image), "--out", str(run), "--schedule", "original", *SETS, "--set", "num_scales=2"]
    assert main([*args, "--set", "iters=4", "--checkpoint-minutes", "5", "--resume", "--quiet"]) == 0
    assert "trained 2 scales" in capsys.readouterr().out
    model = load_singan(run)[0]
    for g1, g2 in zip(straight.generators, model.generators):
        assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert not (run / PARTIAL_DIR).exists()
    assert main([*args[:4], str(tmp_path / "x"), *args[5:], "--checkpoint-minutes", "-1"]) == 2
    assert "cimgen: error: Invalid value for '--checkpoint-minutes': it must be at least 0\n" == capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_settings_out_of_range_are_one_sentence_and_leave_no_folder(tmp_path, tiny_image, capsys):
    """NaN, negative and absurd numbers in --set, and settings whose networks would not fit, stop before the run folder exists."""
    image = tmp_path / "image.png"
    write_image(image, tiny_image)
    run = tmp_path / "run"
    for sets, sentence in (
        (["iters=1e12"], "singan.iters must be an integer"),
        (["iters=1000000000000"], "iters is 1000000000000; it must lie between 1 and 1000000"),
        (["lr_g=.nan"], "lr_g must be positive, got nan"),
        (["gamma=.nan"], "gamma is nan; it must lie between 0.0 and 1.0"),
        (["noise_amp=-1"], "noise_amp is -1"),
        (["lambda_grad=.inf"], "lambda_grad is inf; it must lie between 0.0 and 10000.0"),
        (["seed=-3"], "seed is -3; it must lie between 0 and 4294967295"),
        (["nfc=4096", "max_nfc=4096"], "this SinGAN config describes networks of"),
    ):
        args = [x for s in sets for x in ("--set", s)]
        assert main(["singan", "train", str(image), "--out", str(run), *SETS, *args, "--quiet"]) == 2, sets
        err = capsys.readouterr().err
        assert err.startswith("cimgen: error: ") and err.count("\n") == 1 and sentence in err, (sets, err)
        assert not run.exists(), sets


def test_the_ranges_are_in_help(capsys):
    assert main(["singan", "train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("iters 1..1000000", "lr_g 0.0..1.0", "max_size 1..8192", "seed 0..4294967295"):
        assert shown in text, shown


def test_a_run_that_fails_before_saving_anything_leaves_no_folder(tmp_path, tiny_image, monkeypatch):
    from cimgen.singan.train import ScaleTrainer, train_singan
    from tests.singan.conftest import tiny_config

    def out_of_memory(self):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(ScaleTrainer, "iteration", out_of_memory)
    with pytest.raises(RuntimeError, match="out of memory"):
        train_singan(tiny_image, tiny_config(num_scales=2), tmp_path / "new", checkpoint_every=0)
    assert not (tmp_path / "new").exists()
    (tmp_path / "given").mkdir()  # a folder the user made stays, empty as it was
    with pytest.raises(RuntimeError, match="out of memory"):
        train_singan(tiny_image, tiny_config(num_scales=2), tmp_path / "given", checkpoint_every=0)
    assert (tmp_path / "given").is_dir() and not any((tmp_path / "given").iterdir())
