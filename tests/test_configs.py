"""Every preset in configs/ resolves to a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest

from cimgen.config import load_yaml, merge
from cimgen.generators import shipped_checkpoint
from cimgen.io.checkpoints import load_checkpoint
from cimgen.train.pix2pixhd import finetune_config, resolve_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name, upsample", [("synth_pretrain.yaml", "transpose"), ("synth_pretrain_resize.yaml", "resize")])
def test_pretraining_preset_matches_the_shipped_model(name, upsample):
    cfg = resolve_config(load_yaml(CONFIGS / name))
    shipped, _ = load_checkpoint(shipped_checkpoint(upsample))
    assert shipped["generator"].get("upsample", "transpose") == cfg.generator.upsample == upsample
    for key in ("base_channels", "num_downsamplings", "num_blocks", "in_channels"):
        assert shipped["generator"][key] == getattr(cfg.generator, key), key
    for key in ("base_channels", "num_layers", "num_discriminators", "in_channels"):
        assert shipped["discriminator"][key] == getattr(cfg.discriminator, key), key
    assert cfg.loss.lambda_l1 == 100.0 and cfg.data.crop_size == 128


def test_the_bilinear_pretraining_preset_is_the_resize_one_but_for_its_upsampling():
    """configs/synth_pretrain_bilinear.yaml (the unshipped twin of benchmarks/gpu_fidelity.sh) changes one setting."""
    resize, bilinear = (load_yaml(CONFIGS / f"synth_pretrain_{k}.yaml") for k in ("resize", "bilinear"))
    assert resize["generator"].pop("upsample") == "resize" and bilinear["generator"].pop("upsample") == "bilinear"
    assert resize == bilinear
    assert resolve_config(load_yaml(CONFIGS / "synth_pretrain_bilinear.yaml")).generator.upsample == "bilinear"


@pytest.mark.parametrize("name", ["synth_finetune.yaml"])
def test_finetuning_presets_resolve_against_the_shipped_model(name, tmp_path):
    ckpt_cfg, _ = load_checkpoint(shipped_checkpoint())
    cfg = finetune_config(ckpt_cfg, merge(load_yaml(CONFIGS / name), {"data": {"root": str(tmp_path)}}))
    assert cfg.generator.base_channels == ckpt_cfg["generator"]["base_channels"]
    assert cfg.loop.epochs + cfg.loop.decay_epochs > 0


TRAINING_PRESETS = [
    "pix2pixhd_cityscapes_512p.yaml",
    "pix2pixhd_cityscapes_1024p_local.yaml",
    "pix2pixhd_1024x512_local_8gb.yaml",
    "pix2pixhd_building2sat_tiles.yaml",
    "pix2pix_map2sat.yaml",
    "cyclegan_maps.yaml",
    "pix2pixhd_map2sat_colours.yaml",
]


@pytest.mark.parametrize("name", TRAINING_PRESETS)
def test_training_presets_resolve_with_their_recipe(name, tmp_path):
    from cimgen.train.recipes import get_recipe

    (tmp_path / "train_inst").mkdir()  # pix2pixHD layout: instance maps present, as in its datasets/cityscapes
    raw = merge(load_yaml(CONFIGS / name), {"data": {"root": str(tmp_path)}})
    model = raw.pop("model")
    cfg = get_recipe(model).resolve_config(raw)
    assert cfg.loop.epochs + cfg.loop.decay_epochs > 0
    if name.startswith(("pix2pixhd_cityscapes", "pix2pixhd_1024x512")):
        # 35 label ids + the instance-edge channel, as the official label2city models.
        gen = cfg.local_enhancer if cfg.generator_type == "local" else cfg.generator
        assert gen.in_channels == 36 and cfg.discriminator.in_channels == 39
    if name == "pix2pixhd_map2sat_colours.yaml":  # colour maps as input: 3 channels, as official --label_nc 0
        assert cfg.generator.in_channels == 3 and cfg.discriminator.in_channels == 6


DETECTOR_PRESETS = ["detector_resnet50_paper.yaml", "detector_patchnet_bart_at.yaml"]


@pytest.mark.parametrize("name", DETECTOR_PRESETS)
def test_detector_presets_resolve(name, tmp_path):
    from cimgen.forensics.train import resolve_config

    raw = merge(load_yaml(CONFIGS / name), {"data": str(tmp_path)})
    assert raw.pop("model") == "detector"
    cfg = resolve_config(raw)
    assert cfg.detector.patch_size == 64 and cfg.attack.epsilon == 1.0 and cfg.loop.epochs == 10


def test_every_preset_is_tested():
    tested = set(TRAINING_PRESETS) | set(DETECTOR_PRESETS)
    tested |= {
        "synth_pretrain.yaml",
        "synth_pretrain_resize.yaml",
        "synth_pretrain_bilinear.yaml",
        "synth_finetune.yaml",
        "pix2pixhd_finetune_small.yaml",
    }
    assert {p.name for p in CONFIGS.glob("*.yaml")} == tested


def test_small_set_finetuning_preset_resolves_against_a_cityscapes_checkpoint(tmp_path):
    from cimgen.train.pix2pixhd import finetune_config

    ckpt_cfg = {
        "model": "pix2pixhd",
        "label_nc": 35,
        "edge_channels": 1,
        "generator_type": "global",
        "generator": {"in_channels": 36, "base_channels": 64, "num_downsamplings": 4, "num_blocks": 9},
        "discriminator": {"in_channels": 39},
    }
    (tmp_path / "train_inst").mkdir()  # a pix2pixHD-layout small set with instance maps
    cfg = finetune_config(ckpt_cfg, merge(load_yaml(CONFIGS / "pix2pixhd_finetune_small.yaml"), {"data": {"root": str(tmp_path)}}))
    assert cfg.generator.in_channels == 36 and cfg.discriminator.in_channels == 39
    assert cfg.data.crop_size == 256 and cfg.loss.lambda_vgg == 10.0


def test_the_osm_class_mapping_preset_parses_against_the_shipped_palette():
    from cimgen.data.vector_labels import parse_mapping
    from cimgen.palette import SYNTH_PALETTE
    from cimgen.textfiles import read_yaml

    mapping = parse_mapping(read_yaml(CONFIGS / "classes" / "osm.yaml", "class mapping"), SYNTH_PALETTE)
    assert mapping.default_name == "ground" and [r.class_name for r in mapping.rules][-1] == "building"
    assert mapping.rules[4].width_by == "highway" and mapping.rules[4].width["residential"] == 7.0
