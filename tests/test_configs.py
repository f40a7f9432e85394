"""Every preset in configs/ resolves to a valid config."""

from __future__ import annotations

from pathlib import Path

import pytest

from cimgen.config import load_yaml, merge
from cimgen.demo import pretrained_path
from cimgen.io.checkpoints import load_checkpoint
from cimgen.train.pix2pixhd import finetune_config, resolve_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_pretraining_preset_matches_the_shipped_model():
    cfg = resolve_config(load_yaml(CONFIGS / "synth_pretrain.yaml"))
    shipped, _ = load_checkpoint(pretrained_path())
    for key in ("base_channels", "num_downsamplings", "num_blocks", "in_channels"):
        assert shipped["generator"][key] == getattr(cfg.generator, key), key
    for key in ("base_channels", "num_layers", "num_discriminators", "in_channels"):
        assert shipped["discriminator"][key] == getattr(cfg.discriminator, key), key
    assert cfg.loss.lambda_l1 == 100.0 and cfg.data.crop_size == 128


@pytest.mark.parametrize("name", ["synth_finetune.yaml"])
def test_finetuning_presets_resolve_against_the_shipped_model(name, tmp_path):
    ckpt_cfg, _ = load_checkpoint(pretrained_path())
    cfg = finetune_config(ckpt_cfg, merge(load_yaml(CONFIGS / name), {"data": {"root": str(tmp_path)}}))
    assert cfg.generator.base_channels == ckpt_cfg["generator"]["base_channels"]
    assert cfg.loop.epochs + cfg.loop.decay_epochs > 0
