"""pix2pix: the run folder, directions, exact resume (dropout, batch norm, pool), loading, fine-tuning, option errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from cimgen.config import merge
from cimgen.errors import CimgenError
from cimgen.generators import load_image_generator, translate
from cimgen.io.checkpoints import load_checkpoint
from cimgen.io.images import write_image
from cimgen.train.cyclegan import finetune_config as cyclegan_finetune_config
from cimgen.train.pix2pix import finetune_config, resolve_config, run_pix2pix


def write_pairs(folder: Path, n: int, size: int) -> Path:
    """AB images: a colour map on the left (A), a textured 'photo' of it on the right (B)."""
    rng = np.random.default_rng(n * size)
    for i in range(n):
        labels = (np.add.outer(np.arange(size) // 8, np.arange(size) // (4 + i)) % 3).astype(np.uint8)
        colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)[labels]
        photo = np.clip(colours.astype(int) // 2 + rng.integers(0, 60, colours.shape), 0, 255).astype(np.uint8)
        write_image(folder / f"{i}.png", np.concatenate([colours, photo], 1))
    return folder


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pix2pix") / "small"
    write_pairs(root / "train", 4, 36)
    return root


@pytest.fixture(scope="module")
def pairs128(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pix2pix") / "big"
    write_pairs(root / "train", 3, 128)
    return root


def tiny(root: Path, **loop) -> dict:
    return {
        "data": {"root": str(root), "load_size": 36, "crop_size": 32},
        "generator": {"name": "resnet_6blocks", "options": {"base_channels": 4}},
        "discriminator": {"options": {"base_channels": 4}},
        "loop": {
            "epochs": 1,
            "decay_epochs": 1,
            "batch_size": 2,
            "seed": 5,
            "checkpoint_every": 1,
            "sample_every": 1,
            "device": "cpu",
            "tensorboard": False,
            **loop,
        },
    }


def unet(root: Path, **loop) -> dict:
    """The pix2pix default family at its smallest: unet_128 (batch norm, dropout), 128x128, BtoA, a pool."""
    return {
        "data": {"root": str(root), "load_size": 0, "crop_size": 128},
        "direction": "BtoA",
        "generator": {"name": "unet_128", "options": {"base_channels": 2}},
        "discriminator": {"options": {"base_channels": 4}},
        "pool_size": 2,
        "loop": {**tiny(root)["loop"], "batch_size": 1, **loop},
    }


def run(raw: dict, out: Path, **kw) -> Path:
    return run_pix2pix(resolve_config(raw), out, echo=None, progress=False, **kw)


def test_tiny_run_writes_its_folder(pairs, tmp_path):
    out = tmp_path / "run"
    last = run(tiny(pairs), out)
    assert last == out / "checkpoints" / "epoch-0002"
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "log.txt", "stats.jsonl", "samples", "checkpoints"}
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert next(iter(cfg.items())) == ("model", "pix2pix")
    # pix2pix defaults: batch norm and dropout in G, batch norm in D, which sees 6 channels; vanilla GAN, L1 x 100.
    assert cfg["generator"]["options"] == {"in_channels": 3, "out_channels": 3, "base_channels": 4, "norm": "batch", "dropout": True}
    assert cfg["discriminator"]["options"] == {"in_channels": 6, "base_channels": 4, "norm": "batch"}
    assert cfg["loss"] == {"gan": "vanilla", "lambda_l1": 100.0, "lambda_gp": 10.0} and cfg["direction"] == "AtoB"
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2] and set(stats[0]) >= {"d_real", "d_fake", "g_gan", "g_l1"}
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert {k.split(".")[0] for k in load_file(str(last / "weights.safetensors"))} == {"generator", "discriminator"}
    ckpt = json.loads((last / "config.json").read_text())
    assert ckpt["model"] == "pix2pix" and ckpt["direction"] == "AtoB" and ckpt["generator"]["name"] == "resnet_6blocks"


def test_resume_equals_an_uninterrupted_run(pairs128, tmp_path):
    full = run(unet(pairs128), tmp_path / "full")
    part = tmp_path / "part"
    run(unet(pairs128, decay_epochs=0), part)
    resumed = run(unet(pairs128), part, resume=True)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert a.keys() == b.keys() and any("running_mean" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_directions_load_and_translate(pairs, tmp_path):
    last = run(tiny(pairs, decay_epochs=0), tmp_path / "ab")
    back = run(merge(tiny(pairs, decay_epochs=0), {"direction": "BtoA"}), tmp_path / "ba")
    image = np.random.default_rng(0).integers(0, 255, (30, 21, 3), dtype=np.uint8)
    gen = load_image_generator(last, model="pix2pix")
    assert not gen.training
    out = translate(gen, image)
    assert out.shape == (30, 21, 3) and out.dtype == np.uint8
    # The CycleGAN loader reads pix2pix checkpoints too, in their trained direction only.
    assert np.array_equal(translate(load_image_generator(last), image), out)
    assert translate(load_image_generator(back, "BtoA"), image).shape == (30, 21, 3)
    with pytest.raises(CimgenError, match="is a pix2pix model trained BtoA; it has no AtoB generator"):
        load_image_generator(back, "AtoB")
    with pytest.raises(CimgenError, match="holds a 'pix2pix' model, not cyclegan"):
        load_image_generator(last, model="cyclegan")
    # BtoA learns from the same pairs the other way round, so its first-epoch losses differ.
    s_ab = json.loads((tmp_path / "ab" / "stats.jsonl").read_text().splitlines()[0])
    s_ba = json.loads((tmp_path / "ba" / "stats.jsonl").read_text().splitlines()[0])
    assert s_ab["g_l1"] != s_ba["g_l1"]


def test_folders_layout_and_other_losses(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(2):
        img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        write_image(tmp_path / "A" / f"{i}.png", img)
        write_image(tmp_path / "B" / f"{i}.png", 255 - img)
    for gan in ("wgangp", "hinge", "lsgan"):
        raw = merge(tiny(tmp_path, decay_epochs=0), {"data": {"format": "folders", "load_size": 0, "crop_size": 0}, "loss": {"gan": gan}})
        run(raw, tmp_path / gan)
        record = json.loads((tmp_path / gan / "stats.jsonl").read_text().splitlines()[0])
        assert all(np.isfinite(v) for v in record.values())
        assert ("d_gp" in record) == (gan == "wgangp")


def test_finetune_from_a_checkpoint(pairs, tmp_path):
    pre = run(tiny(pairs, decay_epochs=0), tmp_path / "pre")
    still = merge(tiny(pairs, epochs=0, decay_epochs=1), {"optim": {"lr": 0.0}})
    last = run(still, tmp_path / "ft", init_from=pre)
    a, b = load_file(str(pre / "weights.safetensors")), load_file(str(last / "weights.safetensors"))
    # With lr 0 only batch norm's running statistics move; every weight is the loaded one.
    assert all(torch.equal(a[k], b[k]) for k in a if "running" not in k and "num_batches" not in k)
    ckpt_cfg, _ = load_checkpoint(pre)
    cfg = finetune_config(ckpt_cfg, {"data": {"root": str(pairs), "load_size": 36, "crop_size": 32}})
    assert cfg.generator.options["base_channels"] == 4 and cfg.direction == "AtoB"
    with pytest.raises(CimgenError, match="the checkpoint translates AtoB; fine-tuning it BtoA"):
        finetune_config(ckpt_cfg, {"direction": "BtoA"})
    with pytest.raises(CimgenError, match="holds a 'pix2pix' model, not cyclegan"):
        cyclegan_finetune_config(ckpt_cfg, {})
    with pytest.raises(CimgenError, match="does not match the model"):
        run(merge(tiny(pairs), {"generator": {"name": "resnet_9blocks"}}), tmp_path / "other", init_from=pre)


def test_bad_options_are_one_sentence_errors(pairs):
    base = tiny(pairs)
    cases = [
        ({"direction": "AB"}, "direction must be AtoB or BtoA, got 'AB'"),
        ({"generator": {"name": "unet_64"}}, "unknown generator 'unet_64'"),
        ({"loss": {"gan": "relativistic"}}, "loss.gan must be one of"),
        ({"discriminator": {"options": {"in_channels": 3}}}, "discriminator.options.in_channels must be 6 \\(D sees the input and output"),
        ({"generator": {"options": {"out_channels": 1}}}, "generator.options.out_channels must be 3"),
        ({"generator": {"name": "unet_256"}}, "data.crop_size must be a multiple of 256 for unet_256, got 32"),
    ]
    for change, message in cases:
        with pytest.raises(CimgenError, match=message):
            resolve_config(merge(base, change))
    with pytest.raises(CimgenError, match="unknown aligned dataset format 'pairs'"):
        run(merge(base, {"data": {"format": "pairs"}}), pairs.parent / "never")
