"""A training config's numbers checked when it is resolved, and a training start that fails leaving no run folder behind."""

from __future__ import annotations

import pytest
import yaml

from cimgen.cli.main import main
from cimgen.errors import CimgenError
from cimgen.forensics.train import resolve_config as detector_config
from cimgen.train.cyclegan import resolve_config as cyclegan_config
from cimgen.train.pix2pix import resolve_config as pix2pix_config
from cimgen.train.pix2pixhd import resolve_config as pix2pixhd_config
from tests.conftest import tiny_train_config


@pytest.mark.parametrize(
    "change, words",
    [
        ({"optim": {"lr": float("nan")}}, "optim.lr is nan; it must be a finite number"),
        ({"optim": {"lr": -2e-4}}, "optim.lr is -0.0002; a learning rate must lie between 0 and 1"),
        ({"optim": {"lr": 3.0}}, "optim.lr is 3.0"),
        ({"optim": {"beta1": 1.0}}, "optim.beta1 is 1.0; Adam's betas lie in [0, 1)"),
        ({"loop": {"seed": -1}}, "loop.seed is -1; it must lie between 0 and 4294967295"),
        ({"loop": {"num_workers": 100000}}, "loop.num_workers is 100000"),
        ({"loop": {"step_gamma": float("inf")}}, "loop.step_gamma is inf; it must be a finite number"),
        ({"loss": {"lambda_feat": -10}}, "loss.lambda_feat is -10.0; a loss weight must be 0 or more"),
        ({"generator": {"num_blocks": 100000}}, "generator.num_blocks is 100000; it must lie between 0 and 100"),
        ({"generator": {"base_channels": 4096, "num_downsamplings": 10}}, "the config describes networks of 5.28e+14 weights"),
        ({"data": {"crop_size": 100000}}, "data.crop_size is 100000"),
    ],
)
def test_pix2pixhd_configs_with_numbers_no_run_can_use_are_one_sentence(tiny_world, change, words):
    raw = tiny_train_config(tiny_world)
    for key, value in change.items():
        raw[key] = {**raw.get(key, {}), **value}
    with pytest.raises(CimgenError) as e:
        pix2pixhd_config(raw)
    assert words in str(e.value), str(e.value)


def test_the_other_recipes_check_the_same_numbers():
    with pytest.raises(CimgenError, match="optim.lr is nan"):
        cyclegan_config({"optim": {"lr": float("nan")}})
    with pytest.raises(CimgenError, match=r"the config describes networks of .* weights"):
        # four networks of this width: two generators and two discriminators
        cyclegan_config({"generator": {"name": "resnet_9blocks", "options": {"base_channels": 1024}}})
    with pytest.raises(CimgenError, match="loop.seed is -5"):
        pix2pix_config({"loop": {"seed": -5}})
    with pytest.raises(CimgenError, match="detector.width is 5000; it must lie between 0 and 4096"):
        detector_config({"data": "d", "detector": {"arch": "resnet50", "width": 5000}})
    assert cyclegan_config({}).optim.lr == 2e-4  # the defaults pass


def test_a_training_start_that_fails_leaves_no_run_folder(tiny_world, tmp_path, capsys):
    raw = tiny_train_config(tiny_world, tensorboard=False)
    raw["data"]["crop_size"] = 256  # larger than the 48x48 tiles: found when the first batch is cut
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    rc = main(["train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "crop_size 256 is larger than image" in err
    assert not (tmp_path / "run").exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(["train", "--config", str(config), "--out", str(kept), "--quiet"]) == 2
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]  # what the folder held before is kept
