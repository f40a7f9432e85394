"""CycleGAN: the image pool, the run folder, exact resume with the pools, both directions, fine-tuning, option errors."""

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
from cimgen.generators import load_image_generator, translate, translator
from cimgen.io.checkpoints import load_checkpoint
from cimgen.io.images import write_image
from cimgen.train.cyclegan import CycleGANRecipe, finetune_config, resolve_config, run_cyclegan
from cimgen.train.image_pool import ImagePool

# ---------------------------------------------------------------------------------------------
# Image pool


def batch(*values: float) -> torch.Tensor:
    return torch.stack([torch.full((1, 2, 2), float(v)) for v in values])


def ids(t: torch.Tensor) -> list[float]:
    return [x[0, 0, 0].item() for x in t]


def test_pool_fills_then_swaps_with_probability_one_half():
    pool = ImagePool(3, seed=0)
    assert ids(pool.query(batch(1, 2))) == [1, 2]  # while filling, new images come back and are kept
    assert ids(pool.query(batch(3))) == [3] and len(pool) == 3
    returned_old = 0
    for v in range(4, 404):
        before = set(ids(torch.stack(pool.images)))
        (out,) = ids(pool.query(batch(v)))
        after = set(ids(torch.stack(pool.images)))
        if out == v:  # the new image comes back and the pool is unchanged
            assert after == before
        else:  # a stored image comes back and the new one takes its place
            returned_old += 1
            assert out in before and after == (before - {out}) | {float(v)}
    assert 150 < returned_old < 250  # binomial(400, 0.5)


def test_pool_of_size_zero_passes_through_and_detaches_otherwise():
    x = batch(1, 2).requires_grad_(True)
    assert ImagePool(0).query(x) is x
    out = ImagePool(5).query(x * 2)
    assert not out.requires_grad
    with pytest.raises(CimgenError, match="0 or more"):
        ImagePool(-1)


def test_pool_is_reproducible_and_its_state_round_trips(tmp_path):
    def play(pool, start, stop):
        return [ids(pool.query(batch(v, v + 0.5))) for v in range(start, stop)]

    a, b = ImagePool(4, seed=7), ImagePool(4, seed=7)
    assert play(a, 0, 30) == play(b, 0, 30)
    assert play(ImagePool(4, seed=8), 0, 30) != play(ImagePool(4, seed=7), 0, 30)
    # Save mid-way (through torch.save / weights_only load, as train_state.pt), restore into a fresh pool.
    torch.save(a.state_dict(), tmp_path / "pool.pt")
    restored = ImagePool(4, seed=123)
    restored.load_state_dict(torch.load(tmp_path / "pool.pt", weights_only=True))
    assert play(restored, 30, 60) == play(a, 30, 60)
    with pytest.raises(CimgenError, match="holds up to 4 images but this pool is for 2"):
        ImagePool(2).load_state_dict(a.state_dict())


# ---------------------------------------------------------------------------------------------
# Recipe


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> Path:
    """trainA: four 36x36 images of stripes; trainB: three of blobs."""
    root = tmp_path_factory.mktemp("cyclegan") / "data"
    rng = np.random.default_rng(0)
    xx = np.mgrid[0:36, 0:36][1]
    for i in range(4):
        stripes = ((np.sin(xx / (2 + i)) + 1) * 120).astype(np.uint8)
        write_image(root / "trainA" / f"a{i}.png", np.stack([stripes, 255 - stripes, stripes // 2], -1))
    for i in range(3):
        write_image(root / "trainB" / f"b{i}.png", rng.integers(0, 255, (36, 36, 3), dtype=np.uint8))
    return root


def tiny(root: Path, **loop) -> dict:
    return {
        "data": {"root": str(root), "load_size": 36, "crop_size": 32},
        "generator": {"name": "resnet_6blocks", "options": {"base_channels": 4}},
        "discriminator": {"options": {"base_channels": 4}},
        "pool_size": 3,
        "loop": {
            "epochs": 1,
            "decay_epochs": 1,
            "batch_size": 1,
            "seed": 3,
            "checkpoint_every": 1,
            "sample_every": 1,
            "device": "cpu",
            "tensorboard": False,
            "precision": "fp32",  # auto would be bf16 on a CPU with AVX-512 BF16: the byte counts below are fp32's
            **loop,
        },
    }


def run(raw: dict, out: Path, **kw) -> Path:
    return run_cyclegan(resolve_config(raw), out, echo=None, progress=False, **kw)


def test_tiny_run_writes_its_folder(domains, tmp_path):
    out = tmp_path / "run"
    last = run(tiny(domains, tensorboard=True), out)
    assert last == out / "checkpoints" / "epoch-0002"
    assert {p.name for p in last.iterdir()} == {"config.json", "weights.safetensors", "train_state.pt"}
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "log.txt", "stats.jsonl", "samples", "checkpoints", "tensorboard"}
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert next(iter(cfg.items())) == ("model", "cyclegan")
    assert cfg["generator"] == {
        "name": "resnet_6blocks",
        "options": {"in_channels": 3, "out_channels": 3, "base_channels": 4, "norm": "instance", "dropout": False},
    }
    assert cfg["discriminator"]["options"]["norm"] == "instance" and cfg["loss"]["gan"] == "lsgan"
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2]
    assert set(stats[0]) >= {"g_a", "g_b", "cycle_a", "cycle_b", "idt_a", "idt_b", "d_a", "d_b", "lr"}
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    tensors = load_file(str(last / "weights.safetensors"))
    assert {k.split(".")[0] for k in tensors} == {"G_A", "G_B", "D_A", "D_B"}
    ckpt_cfg = json.loads((last / "config.json").read_text())
    assert ckpt_cfg["model"] == "cyclegan" and ckpt_cfg["generator"]["name"] == "resnet_6blocks"
    assert ckpt_cfg["discriminator"]["options"]["base_channels"] == 4
    state = torch.load(last / "train_state.pt", weights_only=True)
    assert set(state["optimizers"]) == {"generator", "discriminator"}
    assert [len(state["extra"]["pools"][k]["images"]) for k in ("fake_A", "fake_B")] == [3, 3]


def test_resume_equals_an_uninterrupted_run_including_the_pools(domains, tmp_path, monkeypatch):
    full = run(tiny(domains), tmp_path / "full")
    part = tmp_path / "part"
    run(tiny(domains, decay_epochs=0), part)
    resumed = run(tiny(domains), part, resume=True)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The pools matter: resuming with empty pools (the state thrown away) ends elsewhere.
    monkeypatch.setattr(CycleGANRecipe, "load_extra_state", lambda self, state: None)
    forgetful = tmp_path / "forgetful"
    run(tiny(domains, decay_epochs=0), forgetful)
    c = load_file(str(run(tiny(domains), forgetful, resume=True) / "weights.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a if k.startswith("D_"))


def test_both_directions_load_and_translate_any_size(domains, tmp_path):
    last = run(tiny(domains, decay_epochs=0), tmp_path / "r")
    tensors = load_file(str(last / "weights.safetensors"))
    image = np.random.default_rng(0).integers(0, 255, (30, 21, 3), dtype=np.uint8)
    outputs = {}
    for direction, prefix in (("AtoB", "G_A"), ("BtoA", "G_B")):
        gen = load_image_generator(last, direction)
        assert not gen.training
        assert torch.equal(gen.state_dict()["model.1.weight"], tensors[f"{prefix}.model.1.weight"])
        out = translate(gen, image)
        assert out.shape == (30, 21, 3) and out.dtype == np.uint8
        outputs[direction] = out
    assert not np.array_equal(outputs["AtoB"], outputs["BtoA"])
    # The default direction is AtoB; the callable form gives the same pixels.
    assert np.array_equal(translator(load_image_generator(tmp_path / "r"))(image), outputs["AtoB"])
    with pytest.raises(CimgenError, match="direction must be AtoB or BtoA, got 'AB'"):
        load_image_generator(last, "AB")
    with pytest.raises(CimgenError, match="HxWx3 uint8 image"):
        translate(gen, image.astype(np.float32))


def test_finetune_starts_from_the_checkpoint_and_checks_it(domains, tmp_path):
    pre = run(tiny(domains, decay_epochs=0), tmp_path / "pre")
    # With lr 0 the fine-tuned weights must be exactly the ones loaded.
    still = merge(tiny(domains, epochs=0, decay_epochs=1), {"optim": {"lr": 0.0}})
    last = run(still, tmp_path / "ft", init_from=pre)
    a, b = load_file(str(pre / "weights.safetensors")), load_file(str(last / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert yaml.safe_load((tmp_path / "ft" / "config.yaml").read_text())["init_from"] == str(pre)
    ckpt_cfg, _ = load_checkpoint(pre)
    cfg = finetune_config(ckpt_cfg, {"data": {"root": str(domains), "load_size": 36, "crop_size": 32}})
    assert cfg.generator.name == "resnet_6blocks" and cfg.generator.options["base_channels"] == 4
    with pytest.raises(CimgenError, match="keeps the checkpoint's generator"):
        finetune_config(ckpt_cfg, {"generator": {"name": "resnet_9blocks"}})
    wider = merge(tiny(domains), {"generator": {"options": {"base_channels": 8}}})
    with pytest.raises(CimgenError, match="does not match the model: 'G_A.model.1.weight' has shape"):
        run(wider, tmp_path / "wider", init_from=pre)
    assert not (tmp_path / "wider").exists()


def test_wgangp_run_has_finite_losses_and_a_penalty(domains, tmp_path):
    out = tmp_path / "wgan"
    run(merge(tiny(domains, decay_epochs=0), {"loss": {"gan": "wgangp"}}), out)
    record = json.loads((out / "stats.jsonl").read_text().splitlines()[0])
    assert record["gp_a"] > 0 and record["gp_b"] > 0
    assert all(np.isfinite(v) for v in record.values())


def test_hinge_and_vanilla_and_no_identity_or_pool(domains, tmp_path):
    raw = merge(tiny(domains, decay_epochs=0), {"loss": {"gan": "hinge", "lambda_identity": 0.0}, "pool_size": 0})
    run(raw, tmp_path / "hinge")
    record = json.loads((tmp_path / "hinge" / "stats.jsonl").read_text().splitlines()[0])
    assert "idt_a" not in record and "gp_a" not in record and np.isfinite(record["d_a"])


def test_bad_options_are_one_sentence_errors(domains, tmp_path):
    base = tiny(domains)
    cases = [
        ({"generator": {"name": "resnet_7blocks"}}, "unknown generator 'resnet_7blocks'; choose one of resnet_9blocks"),
        ({"discriminator": {"name": "huge"}}, "unknown discriminator 'huge'"),
        ({"loss": {"gan": "wgan"}}, "loss.gan must be one of lsgan, vanilla, wgangp, hinge, got 'wgan'"),
        ({"generator": {"options": {"in_channels": 1}}}, "generator.options.in_channels must be 3 \\(CycleGAN translates RGB images\\)"),
        ({"discriminator": {"options": {"in_channels": 6}}}, "discriminator.options.in_channels must be 3"),
        ({"generator": {"options": {"num_blocks": 2}}}, "generator.options has unknown key 'num_blocks' for resnet_6blocks"),
        ({"generator": {"options": {"base_channels": "4"}}}, "generator.options.base_channels must be int"),
        ({"generator": {"options": {"norm": "group"}}}, "unknown norm 'group'"),
        ({"generator": {"kind": "x"}}, "generator has unknown key 'kind'"),
        ({"data": {"crop_size": 30, "load_size": 36}}, "data.crop_size must be a multiple of 4 for resnet_6blocks, got 30"),
        ({"data": {"crop_size": 40}}, "crop_size \\(40\\) is larger than data.load_size \\(36\\)"),
        ({"pool_size": -1}, "pool_size must be 0 or more"),
        ({"loss": {"lambda_cycle_a": -1.0}}, "loss.lambda_cycle_a must be 0 or more"),
        ({"loop": {"batch_size": 0}}, "loop.batch_size must be at least 1"),
    ]
    for change, message in cases:
        with pytest.raises(CimgenError, match=message):
            resolve_config(merge(base, change))
    with pytest.raises(CimgenError, match="no checkpoints to resume"):
        run(base, tmp_path / "none", resume=True)
    run(tiny(domains, decay_epochs=0), tmp_path / "r")
    with pytest.raises(CimgenError, match="already holds a run"):
        run(base, tmp_path / "r")
    with pytest.raises(CimgenError, match="hold another generator"):
        run(merge(base, {"generator": {"options": {"base_channels": 8}}}), tmp_path / "r", resume=True)
