"""Peak memory of a training step (``cimgen train --memory``): the live-tensor count, each recipe, the CLI."""

from __future__ import annotations

import contextlib
import os

import torch

from cimgen.cli.main import main
from cimgen.train import cyclegan, pix2pix, pix2pixhd
from cimgen.train.memory import LiveTensorBytes, measure_training_memory
from tests.cli.test_cli import _err
from tests.conftest import tiny_train_config
from tests.train.test_cyclegan import domains, tiny  # noqa: F401  (the fixture is used by name)
from tests.train.test_pix2pix import unet, write_pairs

MB = 2**20


def test_live_bytes_count_allocations_views_and_frees():
    counter = LiveTensorBytes()
    before = torch.zeros(MB // 4)  # made outside: counted once tracked, and once only
    counter.track([before, before[:10]])
    assert counter.current == MB
    with counter:
        a = torch.ones(2 * MB // 4)
        view = a[: MB // 4].view(-1, 4)  # a view shares its base's storage
        assert counter.current == 3 * MB
        b = a * 2  # a new storage
        assert counter.current == 5 * MB and counter.peak == 5 * MB
        del a
        assert counter.current == 5 * MB  # the view keeps the storage alive
        del view
        assert counter.current == 3 * MB
        del b
        c = torch.empty(MB // 4)
    assert counter.current == 2 * MB and counter.peak == 5 * MB
    del c


def _recipe(tiny_world, **raw):
    cfg = pix2pixhd.resolve_config({**tiny_train_config(tiny_world, device="cpu", tensorboard=False), **raw})
    dataset = pix2pixhd.PairedDataset(cfg.data, training=True, seed=0)
    return pix2pixhd.Pix2PixHDRecipe(cfg, dataset.palette, pix2pixhd.make_runtime(cfg.loop)), dataset


def test_a_training_step_peak_covers_state_and_activations(tiny_world, tmp_path):
    cfg = pix2pixhd.resolve_config(tiny_train_config(tiny_world, device="cpu", tensorboard=False))
    report = pix2pixhd.run_pix2pixhd(cfg, tmp_path / "unused", echo=None, progress=False, measure_memory=True)
    recipe, _ = _recipe(tiny_world)
    assert report.parameters == sum(p.numel() for net in recipe.networks.values() for p in net.parameters())
    assert report.device == "cpu" and report.batch_shape == "2x3x48x48"
    # Adam after a step: parameter, gradient and two moments for each parameter, 4 bytes each.
    assert report.state == 16 * report.parameters
    assert report.peak > report.state  # plus the step's activations
    assert report.reserved is None and report.pools_full == 0
    assert not (tmp_path / "unused").exists()  # nothing written


def test_the_second_step_holds_activations_over_the_optimiser_state(tiny_world):
    peaks = []
    for steps in (1, 2):
        recipe, dataset = _recipe(tiny_world)
        peaks.append(measure_training_memory(recipe, dataset, 2, epoch=0, steps=steps).peak)
    assert peaks[1] > peaks[0]


def test_larger_crops_and_batches_need_more(tiny_world):
    def peak(crop: int, batch: int = 1) -> int:
        raw = tiny_train_config(tiny_world, device="cpu", tensorboard=False, batch_size=batch)
        raw["data"]["crop_size"] = crop
        return pix2pixhd.run_pix2pixhd(pix2pixhd.resolve_config(raw), tiny_world, echo=None, progress=False, measure_memory=True).peak

    assert peak(16) < peak(48) < peak(48, batch=3)


def test_local_enhancer_is_measured_with_its_global_part_trained(tiny_world):
    local = {
        "generator_type": "local",
        "local_enhancer": {"base_channels": 4, "num_downsamplings_global": 2, "num_blocks_global": 1, "num_blocks_local": 1},
        "fix_global_epochs": 1,
    }
    # Before the global generator is trained: its checkpoint need not exist yet to measure the local one.
    raw = {**tiny_train_config(tiny_world, device="cpu", tensorboard=False), **local, "init_global": str(tiny_world / "not-yet")}
    said = []
    report = pix2pixhd.run_pix2pixhd(pix2pixhd.resolve_config(raw), tiny_world, echo=said.append, progress=False, measure_memory=True)
    assert any("is not loaded for the measurement" in line for line in said)
    cfg = pix2pixhd.resolve_config({**tiny_train_config(tiny_world, device="cpu", tensorboard=False), **local})
    recipe, _ = _recipe(tiny_world, **local)
    everything = sum(p.numel() for net in recipe.networks.values() for p in net.parameters())
    assert report.parameters == everything  # at the last epoch the global part trains too
    assert report.state == 16 * everything
    recipe.on_epoch_start(0)  # frozen in the first epoch: fewer parameters train, and less state
    dataset = pix2pixhd.PairedDataset(cfg.data, training=True, seed=0)
    frozen = measure_training_memory(recipe, dataset, 2, epoch=0)
    assert frozen.parameters < everything and frozen.state == 16 * frozen.parameters


def test_cyclegan_counts_what_its_full_image_pools_add(domains):  # noqa: F811
    report = cyclegan.run_cyclegan(cyclegan.resolve_config(tiny(domains)), domains, echo=None, progress=False, measure_memory=True)
    # Two pools of 3 images; two steps stored 2 in each; one stored 1x3x32x32 fp32 image is 12,288 bytes.
    assert report.pools_full == 2 * (3 - 2) * 3 * 32 * 32 * 4
    assert report.state == 16 * report.parameters and report.peak > report.state


def test_pix2pix_with_a_pool_is_measured(tmp_path):
    root = tmp_path / "pairs"
    write_pairs(root / "train", 2, 128)
    raw = {**unet(root), "pool_size": 5}
    report = pix2pix.run_pix2pix(pix2pix.resolve_config(raw), root, echo=None, progress=False, measure_memory=True)
    # pix2pix's pool holds (source, fake) pairs of 1x6x128x128: two steps stored 2, 3 are to come.
    assert report.pools_full == 3 * 6 * 128 * 128 * 4
    assert report.batch_shape == "1x3x128x128" and report.peak > report.state


def test_watching_does_not_change_the_steps(tiny_world):
    """The counting mode only watches: the losses under it are those of the same steps without it."""
    losses = []
    for watch in (contextlib.nullcontext(), LiveTensorBytes()):
        torch.manual_seed(0)
        recipe, dataset = _recipe(tiny_world)
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
        with watch:
            losses.append([phase(batch) for _ in range(2) for phase in recipe.phases()])
    assert losses[0] == losses[1]


def test_cli_prints_the_peak_and_writes_nothing(capsys, tiny_world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", "data.label_nc=6", "--set", "loop.precision=bf16", "--set", "loop.compile=true", "--set", "loop.device=cpu"]
    sets += ["--set", "generator.base_channels=4", "--set", "generator.num_blocks=1", "--set", "discriminator.base_channels=4"]
    assert main(["train", "--data", str(tiny_world), *sets, "--memory"]) == 0
    out = capsys.readouterr().out
    assert "measuring without torch.compile" in out and "two training steps at batch size 1, bf16" in out
    assert "VGG loss: off" in out and "peak over two training steps on 1x3x48x48 images (cpu): " in out
    peak = float(out.split("(cpu): ")[1].split(" MiB")[0])
    assert 0 < peak < 100
    assert os.listdir(tmp_path) == []


def test_cli_measures_fine_tuning_from_a_checkpoint(capsys, tiny_world, tmp_path):
    sets = ["--set", "generator.base_channels=4", "--set", "generator.num_blocks=1", "--set", "discriminator.base_channels=4"]
    argv = ["train", "--data", str(tiny_world), *sets, "--epochs", "1", "--decay-epochs", "0", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(argv) == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    capsys.readouterr()
    assert main(["finetune", "--from", str(tmp_path / "r"), "--data", str(tiny_world), "--set", "loop.batch_size=2", "--memory"]) == 0
    out = capsys.readouterr().out
    assert "measuring fine-tuning of" in out and "on 2x3x48x48 images" in out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_cli_measures_a_gpu_config_on_the_cpu(capsys, tiny_world, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    sets = ["--set", "data.label_nc=6", "--set", "loop.precision=fp16", "--set", "loop.device=cuda"]
    assert main(["train", "--data", str(tiny_world), *sets, "--set", "generator.base_channels=4", "--memory"]) == 0
    out = capsys.readouterr().out
    # fp16 autocast and its loss scaler run on a CPU too (issue 28), so the measurement keeps fp16
    assert "measuring on the CPU instead of cuda" in out and "at batch size 1, fp16" in out and "(cpu): " in out


def test_cli_memory_flag_errors(capsys, tiny_world, tmp_path):
    assert "drop --resume" in _err(capsys, ["train", "--data", str(tiny_world), "--memory", "--resume", "--out", str(tmp_path / "r")])
    assert "not both" in _err(capsys, ["train", "--data", str(tiny_world), "--memory", "--dry-run"])
    assert "with --out" in _err(capsys, ["train", "--data", str(tiny_world)])
    image = tiny_world / "images" / "tile_00001.png"
    argv = ["finetune", "--from", "x", "--target-image", str(image), "--target-map", str(image), "--memory"]
    assert "measure with --data" in _err(capsys, argv)
