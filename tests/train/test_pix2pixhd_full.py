"""pix2pixHD, complete: local-enhancer training after a global run, the VGG term from a named file, instance edges, BCE/hinge."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from cimgen.config import merge
from cimgen.errors import CimgenError
from cimgen.generators import generate, load_label_generator
from cimgen.io.images import read_label_map, write_label_map
from cimgen.models.vgg import VGG19
from cimgen.train.pix2pixhd import finetune_config, resolve_config, run_pix2pixhd
from tests.conftest import tiny_train_config

TINY_LOCAL = {"base_channels": 2, "num_downsamplings_global": 1, "num_blocks_global": 1, "num_local_enhancers": 1, "num_blocks_local": 1}


@pytest.fixture(autouse=True)
def no_cached_vgg(tmp_path, monkeypatch):
    """Tests must not pick up a VGG19 file that happens to be in this machine's caches."""
    monkeypatch.delenv("CIMGEN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


def _run(cfg_dict, out, **kw):
    return run_pix2pixhd(resolve_config(cfg_dict), out, echo=None, progress=False, **kw)


def _tensors(ckpt, prefix):
    return {k[len(prefix) :]: v for k, v in load_file(str(ckpt / "weights.safetensors")).items() if k.startswith(prefix)}


def test_global_then_local_with_the_global_part_frozen_first(tiny_world, tmp_path):
    # The global run must have the enhancer's global_config: base_channels 2 * 2**1 = 4, 1 downsampling, 1 block.
    glob = tiny_train_config(tiny_world, epochs=1, decay_epochs=0)
    glob["generator"] = {"base_channels": 4, "num_downsamplings": 1, "num_blocks": 1}
    g_ckpt = _run(glob, tmp_path / "global")
    local = tiny_train_config(tiny_world, epochs=2, decay_epochs=0, keep_checkpoints=5)
    del local["generator"]
    local.update(generator_type="local", local_enhancer=TINY_LOCAL, init_global=str(g_ckpt), fix_global_epochs=1)
    last = _run(local, tmp_path / "local")
    g1 = _tensors(g_ckpt, "generator.model.")
    e1 = _tensors(tmp_path / "local" / "checkpoints" / "epoch-0001", "generator.model.")
    e2 = _tensors(last, "generator.model.")
    shared = [k for k in e1 if k in g1]
    assert shared and all(torch.equal(e1[k], g1[k]) for k in shared)  # frozen during epoch 1
    assert any(not torch.equal(e2[k], g1[k]) for k in shared)  # trained jointly in epoch 2
    enh0 = {k: v for k, v in _tensors(tmp_path / "local" / "checkpoints" / "epoch-0001", "generator.").items() if k.startswith("model1_")}
    assert enh0  # the enhancer trains from the start
    assert "now trained jointly" in (tmp_path / "local" / "log.txt").read_text()
    gen, meta = load_label_generator(last)
    assert meta["generator_type"] == "local" and type(gen).__name__ == "LocalEnhancer"
    labels = read_label_map(sorted((tiny_world / "labels").iterdir())[0])[:45, :45]
    assert generate(gen, labels, 6).shape == (45, 45, 3)
    # Fine-tuning keeps the local architecture.
    ft = finetune_config(meta, {"data": {"root": str(tiny_world)}})
    assert ft.generator_type == "local" and ft.local_enhancer.base_channels == 2


def test_local_options_are_checked(tiny_world, tmp_path):
    with pytest.raises(CimgenError, match="generator_type local only"):
        resolve_config(merge(tiny_train_config(tiny_world), {"fix_global_epochs": 2}))
    with pytest.raises(CimgenError, match="generator_type must be global or local"):
        resolve_config(merge(tiny_train_config(tiny_world), {"generator_type": "hd"}))
    cfg = tiny_train_config(tiny_world)
    cfg.update(generator_type="local", local_enhancer=TINY_LOCAL, init_global=str(tmp_path / "missing"))
    del cfg["generator"]
    with pytest.raises(CimgenError, match="does not exist"):
        _run(cfg, tmp_path / "run")


def test_without_vgg_weights_the_run_says_so_once_and_records_it(tiny_world, tmp_path):
    lines = []
    run_pix2pixhd(resolve_config(tiny_train_config(tiny_world)), tmp_path / "r", echo=lines.append, progress=False)
    assert sum("VGG" in line for line in lines) == 1 and "no VGG19 weights found" in lines[1]
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["vgg_loss"].startswith("off: no VGG19 weights found")
    assert "g_vgg" not in json.loads((tmp_path / "r" / "stats.jsonl").read_text().splitlines()[0])


def _fake_torchvision_vgg19(path):
    torch.manual_seed(0)
    sd = {k: v.clone() for k, v in VGG19().state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry the classifier; it is ignored
    torch.save(sd, path)


def test_vgg_term_from_a_named_weights_file(tiny_world, tmp_path):
    weights = tmp_path / "vgg19-dcbb9e9d.pth"
    _fake_torchvision_vgg19(weights)
    cfg = merge(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), {"loss": {"vgg_weights": str(weights)}})
    _run(cfg, tmp_path / "r")
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["vgg_loss"] == f"on, weights {weights}" and saved["loss"]["lambda_vgg"] == 10.0
    stats = json.loads((tmp_path / "r" / "stats.jsonl").read_text().splitlines()[0])
    assert stats["g_vgg"] > 0
    # The standard cache place is found without naming the file.
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    shutil.copy(weights, cache / "vgg19-dcbb9e9d.pth")
    _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "r2")
    assert yaml.safe_load((tmp_path / "r2" / "config.yaml").read_text())["vgg_loss"].startswith("on, weights")
    # A named file that is missing or is not VGG19 is an error before anything is written.
    with pytest.raises(CimgenError, match="does not exist"):
        _run(merge(cfg, {"loss": {"vgg_weights": str(tmp_path / "nope.pth")}}), tmp_path / "r3")
    save_file({"features.0.weight": torch.zeros(1)}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(CimgenError, match="not torchvision VGG19 weights"):
        _run(merge(cfg, {"loss": {"vgg_weights": str(tmp_path / "wrong.safetensors")}}), tmp_path / "r4")
    assert not (tmp_path / "r3").exists() and not (tmp_path / "r4").exists()


@pytest.fixture
def world_with_instances(tiny_world, tmp_path):
    """The tiny world plus instance maps: each connected region of a class is one instance."""
    import cv2

    root = tmp_path / "inst-world"
    shutil.copytree(tiny_world, root)
    (root / "instances").mkdir()
    for p in sorted((root / "labels").iterdir()):
        labels = read_label_map(p)
        inst = np.zeros(labels.shape, np.int32)
        for c in np.unique(labels):
            n, comp = cv2.connectedComponents((labels == c).astype(np.uint8))
            inst[labels == c] = c * 1000 + comp[labels == c]
        write_label_map(root / "instances" / p.name, inst)
    return root


def test_instance_edges_add_one_input_channel(world_with_instances, tmp_path):
    cfg = tiny_train_config(world_with_instances, epochs=1, decay_epochs=0)
    cfg["data"]["instance_dir"] = "instances"
    resolved = resolve_config(cfg)
    assert resolved.generator.in_channels == 7 and resolved.discriminator.in_channels == 10
    last = _run(cfg, tmp_path / "r")
    gen, meta = load_label_generator(last)
    assert meta["edge_channels"] == 1 and gen.config.in_channels == 7
    labels = read_label_map(sorted((world_with_instances / "labels").iterdir())[0])
    inst = read_label_map(sorted((world_with_instances / "instances").iterdir())[0])
    with_inst = generate(gen, labels, 6, instances=inst)
    assert with_inst.shape == labels.shape + (3,)
    # Fine-tuning data must come the same way: without instance maps it is refused in one sentence.
    with pytest.raises(CimgenError, match="with instance edge maps"):
        run_pix2pixhd(
            finetune_config(meta, {"data": {"root": str(world_with_instances)}}), tmp_path / "ft", init_from=last, echo=None, progress=False
        )


@pytest.mark.parametrize("gan", ["vanilla", "hinge"])
def test_bce_and_hinge_objectives_train(tiny_world, tmp_path, gan):
    _run(merge(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), {"loss": {"gan": gan}}), tmp_path / gan)
    stats = json.loads((tmp_path / gan / "stats.jsonl").read_text().splitlines()[0])
    assert all(np.isfinite(v) for v in stats.values())
    with pytest.raises(CimgenError, match="loss.gan must be one of lsgan, vanilla, hinge"):
        resolve_config(merge(tiny_train_config(tiny_world), {"loss": {"gan": "wgan"}}))
