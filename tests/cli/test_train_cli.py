"""``cimgen train --model`` / ``cimgen finetune`` across recipes, and fine-tuning on one target pair."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from cimgen.cli.main import main
from cimgen.io.images import read_label_map, write_image
from cimgen.runs.options import MEMORISE_L1
from cimgen.train.runtime import native_cpu_bf16
from tests.cli.test_cli import _err
from tests.conftest import TINY_MODEL


def _sets(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _sets(v, f"{prefix}{k}.")
        else:
            out += ["--set", f"{prefix}{k}={v}"]
    return out


def test_unknown_model_and_model_from_config(capsys, tiny_world, tmp_path):
    assert "unknown model 'stylegan'" in _err(
        capsys, ["train", "--model", "stylegan", "--data", str(tiny_world), "--out", str(tmp_path / "r")]
    )
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"model": "pix2pixhd", "data": {"root": str(tiny_world), "label_nc": 6}}))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    printed = yaml.safe_load(text)
    # precision: auto by default (issue 28); the dry run says what it resolves to on this machine
    assert printed["model"] == "pix2pixhd" and printed["generator"]["in_channels"] == 6 and printed["loop"]["precision"] == "auto"
    want = "bf16" if native_cpu_bf16() else "fp32"
    assert f"# precision on this machine: {want} (auto: the CPU" in text
    assert not (tmp_path / "r").exists()


def test_finetune_on_one_target_pair(capsys, tiny_world, tmp_path):
    sets = _sets({**TINY_MODEL, "loop": {"batch_size": 1, "checkpoint_every": 1, "tensorboard": False}})
    assert (
        main(["train", "--data", str(tiny_world), *sets, "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "pre"), "--quiet"])
        == 0
    )
    capsys.readouterr()
    image, labels = tiny_world / "images" / "tile_00001.png", tiny_world / "labels" / "tile_00001.png"
    argv = ["finetune", "--from", str(tmp_path / "pre"), "--target-image", str(image), "--target-map", str(labels)]
    argv += ["--set", "data.crop_size=32", "--epochs", "3", "--decay-epochs", "0", "--out", str(tmp_path / "ft"), "--quiet"]
    assert main(argv) == 0
    assert "run folder" in capsys.readouterr().out
    run = tmp_path / "ft"
    assert np.array_equal(read_label_map(run / "target" / "labels" / "tile_00001.png"), read_label_map(labels))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["crop_size"] == 32 and saved["data"]["root"] == str(run / "target") and saved["init_from"] == str(tmp_path / "pre")
    stats = [json.loads(s) for s in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [1, 2, 3]  # one random crop of the pair per step
    # Resuming takes the pair from the run folder; naming it again is refused with what to do instead.
    again = ["finetune", "--from", str(tmp_path / "pre"), "--target-image", str(image), "--target-map", str(labels)]
    msg = _err(capsys, [*again, "--epochs", "4", "--out", str(run), "--resume", "--quiet"])
    assert "resume it without --target-image/--target-map" in msg
    # Bad target pairs: one half missing, a map of another size, both --data and a target.
    assert "give both" in _err(
        capsys, ["finetune", "--from", str(tmp_path / "pre"), "--target-image", str(image), "--out", str(tmp_path / "x")]
    )
    write_image(tmp_path / "small.png", np.zeros((16, 16, 3), np.uint8))
    msg = _err(
        capsys,
        [
            "finetune",
            "--from",
            str(tmp_path / "pre"),
            "--target-image",
            str(tmp_path / "small.png"),
            "--target-map",
            str(labels),
            "--out",
            str(tmp_path / "y"),
        ],
    )
    assert "16x16" in msg and not (tmp_path / "y").exists()
    both = [
        "finetune",
        "--from",
        str(tmp_path / "pre"),
        "--data",
        str(tiny_world),
        "--target-image",
        str(image),
        "--target-map",
        str(labels),
    ]
    assert "not both" in _err(capsys, [*both, "--out", str(tmp_path / "z")])


def test_finetune_on_a_target_pair_memorises_it_by_default_and_resumes(capsys, tiny_world, tmp_path):
    from cimgen.io.checkpoints import read_config
    from cimgen.runs.options import memorise_steps

    sets = _sets({**TINY_MODEL, "loop": {"batch_size": 1, "checkpoint_every": 1, "tensorboard": False}})
    assert (
        main(["train", "--data", str(tiny_world), *sets, "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "pre"), "--quiet"])
        == 0
    )
    image, labels = tiny_world / "images" / "tile_00001.png", tiny_world / "labels" / "tile_00001.png"
    pair = ["finetune", "--from", str(tmp_path / "pre"), "--target-image", str(image), "--target-map", str(labels)]
    assert main([*pair, "--epochs", "2", "--decay-epochs", "0", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    saved = yaml.safe_load((tmp_path / "m" / "config.yaml").read_text())
    # the memorise recipe, as cimgen manipulate --finetune: whole image, no flips, L1 10, a 6-octave position code
    assert saved["data"]["crop_size"] == 0 and saved["data"]["flip"] is False and saved["loss"]["lambda_l1"] == MEMORISE_L1
    newest = max((tmp_path / "m" / "checkpoints").iterdir())
    assert read_config(newest)["generator"]["position_frequencies"] == 6
    # resuming builds the position-coded generator its checkpoints hold
    assert main(["finetune", "--from", str(tmp_path / "pre"), "--out", str(tmp_path / "m"), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert [json.loads(s)["step"] for s in (tmp_path / "m" / "stats.jsonl").read_text().splitlines()] == [1, 2, 3]
    # a detail code for this image (48x48, padded to the generator's multiple), kept on resume
    assert main([*pair, "--detail", "2", "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    gen = read_config(max((tmp_path / "d" / "checkpoints").iterdir()))["generator"]
    assert (gen["detail_channels"], gen["detail_height"], gen["detail_width"]) == (2, 48, 48)
    assert main(["finetune", "--from", str(tmp_path / "pre"), "--out", str(tmp_path / "d"), "--resume", "--epochs", "2", "--quiet"]) == 0
    # without --epochs, the recipe's steps for the image's size, as cimgen manipulate --finetune takes them
    capsys.readouterr()
    assert main([*pair, "--out", str(tmp_path / "s"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    steps = memorise_steps(48, 48)
    shown = yaml.safe_load(printed[printed.index("model:") :].split("\n# ")[0])
    assert (shown["loop"]["epochs"], shown["loop"]["decay_epochs"]) == (steps - steps // 4, steps // 4)
    assert f"memorising for {steps} whole-image steps" in printed
    # the recipe before, on request: random crops, no position code
    assert main([*pair, "--recipe", "windows", "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "w"), "--quiet"]) == 0
    saved = yaml.safe_load((tmp_path / "w" / "config.yaml").read_text())
    assert (
        saved["data"]["crop_size"] > 0
        and read_config(max((tmp_path / "w" / "checkpoints").iterdir()))["generator"].get("position_frequencies", 0) == 0
    )
    capsys.readouterr()
    assert "unknown recipe 'all'" in _err(capsys, [*pair, "--recipe", "all", "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("flag", ["--resume"])
def test_resume_keeps_the_model_of_the_run(capsys, tiny_world, tmp_path, flag):
    sets = _sets({**TINY_MODEL, "loop": {"checkpoint_every": 1, "tensorboard": False}})
    assert (
        main(["train", "--data", str(tiny_world), *sets, "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "r"), "--quiet"])
        == 0
    )
    assert "holds a pix2pixhd run, not cyclegan" in _err(capsys, ["train", "--model", "cyclegan", "--out", str(tmp_path / "r"), flag])
    assert main(["train", "--out", str(tmp_path / "r"), flag, "--epochs", "2", "--quiet"]) == 0
    assert [json.loads(s)["epoch"] for s in (tmp_path / "r" / "stats.jsonl").read_text().splitlines()] == [1, 2]


def test_cyclegan_through_the_cli_then_translate_both_ways(capsys, tmp_path):
    """cimgen train --model cyclegan, then cimgen translate in each direction keeps each image's size."""
    from tests.train.test_cyclegan import tiny

    data = tmp_path / "data"
    rng = np.random.default_rng(1)
    for side, n in (("A", 2), ("B", 2)):
        for i in range(n):
            write_image(data / f"train{side}" / f"{side}{i}.png", rng.integers(0, 255, (36, 36, 3), dtype=np.uint8))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"model": "cyclegan", **tiny(data, decay_epochs=0)}))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    capsys.readouterr()
    write_image(tmp_path / "in" / "odd.png", rng.integers(0, 255, (27, 41, 3), dtype=np.uint8))
    for direction in ("AtoB", "BtoA"):
        out = tmp_path / f"out-{direction}"
        argv = [
            "translate",
            "--checkpoint",
            str(tmp_path / "run"),
            "--direction",
            direction,
            "--images",
            str(tmp_path / "in"),
            "--out",
            str(out),
        ]
        assert main(argv) == 0
        assert "translated 1 image(s)" in capsys.readouterr().out
        from cimgen.io.images import read_image

        assert read_image(out / "odd.png").shape == (27, 41, 3)
    assert "direction must be AtoB or BtoA" in _err(capsys, [*argv[:4], "sideways", *argv[5:-1], str(tmp_path / "o3")])
    assert "already exists" in _err(capsys, argv)
    assert "does not exist" in _err(capsys, [*argv[:6], str(tmp_path / "missing"), "--out", str(tmp_path / "o4")])
