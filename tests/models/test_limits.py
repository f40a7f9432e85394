"""Checkpoint configs and official files as untrusted input: schema, bounds and size checked before any network is built."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cimgen.errors import CimgenError
from cimgen.generators import load_label_generator, shipped_checkpoint
from cimgen.io.checkpoints import load_module
from cimgen.models import limits, official
from cimgen.models import pix2pixhd as p2phd
from cimgen.models.cyclegan import (
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    UnetGenerator,
    UnetGeneratorConfig,
)
from cimgen.models.detectors import DetectorConfig, build_detector

SHIPPED = json.loads((shipped_checkpoint() / "config.json").read_text())


def _elements(module: torch.nn.Module) -> int:
    return sum(v.numel() for v in module.state_dict().values())


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_the_weight_count_from_a_config_equals_the_built_networks(norm):
    """The estimate is exact, so the bound means what it says: every architecture, every norm, odd sizes."""
    cases = [
        (p2phd.GlobalGenerator, p2phd.GlobalGeneratorConfig(in_channels=5, base_channels=4, num_downsamplings=2, num_blocks=2, norm=norm)),
        (
            p2phd.GlobalGenerator,
            p2phd.GlobalGeneratorConfig(
                in_channels=5, base_channels=4, num_downsamplings=2, num_blocks=1, norm=norm, upsample="resize", position_frequencies=3
            ),
        ),
        (
            p2phd.LocalEnhancer,
            p2phd.LocalEnhancerConfig(
                in_channels=7,
                base_channels=4,
                num_downsamplings_global=2,
                num_blocks_global=1,
                num_local_enhancers=2,
                num_blocks_local=2,
                norm=norm,
            ),
        ),
        (
            p2phd.MultiscaleDiscriminator,
            p2phd.MultiscaleDiscriminatorConfig(in_channels=9, base_channels=300, num_layers=2, num_discriminators=1, norm=norm),
        ),
        (ResnetGenerator, ResnetGeneratorConfig(base_channels=4, num_blocks=2, norm=norm)),
        (UnetGenerator, UnetGeneratorConfig(base_channels=4, num_downs=7, norm=norm)),
        (NLayerDiscriminator, NLayerDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=4, norm=norm)),
        (PixelDiscriminator, PixelDiscriminatorConfig(base_channels=4, norm=norm)),
    ]
    for cls, cfg in cases:
        assert limits.weight_count(cfg) == _elements(cls(cfg)), cfg


def test_the_weight_count_of_every_detector_equals_the_built_network():
    for cfg in (DetectorConfig(arch="resnet50"), DetectorConfig(arch="resnet18", width=8), DetectorConfig(arch="resnet_small"),
                DetectorConfig(arch="patchnet", stage1_channels=4, patch_size=48)):  # fmt: skip
        assert limits.weight_count(cfg) == _elements(build_detector(cfg)), cfg


def test_the_shipped_checkpoint_passes_and_its_count_is_its_tensors():
    tensors = load_file(str(shipped_checkpoint() / "weights.safetensors"))
    assert limits.check_checkpoint_config(SHIPPED, "shipped") == sum(v.numel() for v in tensors.values())


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c.pop("palette"), "lacks its 'palette' entry"),
        (lambda c: c.pop("label_nc"), "lacks its 'label_nc' entry"),
        (lambda c: c.update(label_nc="six"), "label_nc must be an integer, got 'six'"),
        (lambda c: c.update(label_nc=7), "its palette has 6 classes but label_nc is 7"),
        (lambda c: c["generator"].update(num_blocks=100000), "generator.num_blocks is 100000; it must lie between 0 and 100"),
        (lambda c: c["generator"].update(num_downsamplings=40), "generator.num_downsamplings is 40; it must lie between 0 and 10"),
        (lambda c: c["generator"].update(num_blocks=True), "generator.num_blocks must be an integer"),
        (lambda c: c["generator"].update(norm="group"), "generator.norm is 'group'; choose one of instance, batch, none"),
        (lambda c: c["generator"].update(base_channels=4096, num_downsamplings=10), "describes networks of 2.11e+15 weights"),
        (lambda c: c["discriminator"].update(in_channels=4), "its discriminator takes 4 input channels"),
        (lambda c: c.update(generator=[1, 2]), "generator must be a mapping of options, got list"),
        (lambda c: c.update(edge_channels=3), "edge_channels is 3; it must lie between 0 and 1"),
    ],
)
def test_a_bad_pix2pixhd_config_is_one_sentence(change, words):
    config = copy.deepcopy(SHIPPED)
    change(config)
    with pytest.raises(CimgenError, match="^checkpoint X") as e:
        limits.check_checkpoint_config(config, "X")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_other_kinds_are_checked_too():
    cyclegan = {"model": "cyclegan", "generator": {"name": "resnet_9blocks", "options": {"base_channels": 0}}}
    with pytest.raises(CimgenError, match="generator.options.base_channels is 0; it must lie between 1 and 4096"):
        limits.check_checkpoint_config(cyclegan, "c")
    pix2pix = {"model": "pix2pix", "generator": {"name": "unet_1024", "options": {}}}
    with pytest.raises(CimgenError, match="generator.name is 'unet_1024'; choose one of"):
        limits.check_checkpoint_config(pix2pix, "p")
    detector = {"model": "detector", "detector": {"arch": "resnet50", "width": 4096}}
    with pytest.raises(CimgenError, match="describes networks of 9.6e\\+10 weights"):
        limits.check_checkpoint_config(detector, "d")
    singan = {"model": "singan", "singan": {"nfc": 32}, "sizes": [[25, 25], [100000, 10]], "trained_scales": 2, "noise_amps": [1, 0.1]}
    with pytest.raises(CimgenError, match=r"sizes\[1\] is 100000; it must lie between 1 and 16384"):
        limits.check_checkpoint_config(singan, "s")
    assert limits.check_checkpoint_config({"model": "someone-elses"}, "u") == 0  # the loader names the kinds it takes


def _folder(tmp_path, config: dict, tensors: dict) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(tmp_path / "weights.safetensors"))
    return str(tmp_path)


def test_an_absurd_checkpoint_is_refused_before_any_network_is_built(tmp_path, monkeypatch):
    def no_build(self, config):
        raise AssertionError("a network was built")

    monkeypatch.setattr(p2phd.GlobalGenerator, "__init__", no_build)
    config = copy.deepcopy(SHIPPED)
    config["generator"]["num_blocks"] = 100000
    with pytest.raises(CimgenError, match="num_blocks is 100000"):
        load_label_generator(_folder(tmp_path, config, {"generator.x": torch.zeros(2)}))


def test_nan_weights_are_refused_with_the_tensor_named(tmp_path):
    tensors = load_file(str(shipped_checkpoint() / "weights.safetensors"))
    tensors["generator.model.1.bias"] = tensors["generator.model.1.bias"].clone()
    tensors["generator.model.1.bias"][0] = float("inf")
    with pytest.raises(CimgenError, match="holds NaN or infinite values in 'generator.model.1.bias'"):
        load_label_generator(_folder(tmp_path, SHIPPED, tensors))
    module = torch.nn.Linear(2, 1)
    with pytest.raises(CimgenError, match="'net.weight'"):
        load_module(module, {"net.weight": torch.full((1, 2), float("nan")), "net.bias": torch.zeros(1)}, "net", source="x")
    load_module(module, {"net.weight": torch.ones(1, 2), "net.bias": torch.zeros(1)}, "net", source="x")
    assert module.weight.sum().item() == 2.0


CONV = torch.zeros(4, 4, 3, 3)
RESNET_LAYOUT = {"model.1.weight": torch.zeros(4, 3, 7, 7), "model.10.conv_block.1.weight": CONV, "model.10.conv_block.5.weight": CONV}


@pytest.mark.parametrize(
    "sd, words",
    [
        (
            {**RESNET_LAYOUT, "model.1.weight": torch.tensor(1.0)},
            "'model.1.weight' is a tensor of shape () where a convolution's 4-D weight",
        ),
        ({**RESNET_LAYOUT, "model.1.weight": torch.zeros(7)}, "'model.1.weight' is a tensor of shape (7,)"),
        ({**RESNET_LAYOUT, "model.10.conv_block.5.weight": torch.zeros(4, 36)}, "holds a 2-D tensor 'model.10.conv_block.5.weight'"),
        ({1: torch.zeros(4, 3, 7, 7)}, "names a tensor by int 1"),
        (
            {
                "model.1.weight": torch.zeros(4, 36, 7, 7),
                "model.94.conv_block.1.weight": CONV,
                "model.94.conv_block.5.weight": CONV,
                "model.200.weight": torch.zeros(3, 4, 7, 7),
            },
            "the pix2pixhd-global generator's num_downsamplings is 30; it must lie between 0 and 10",
        ),  # fmt: skip
    ],
)
def test_an_official_file_of_impossible_shapes_is_one_sentence_before_anything_is_built(sd, words, monkeypatch):
    for cls in (p2phd.GlobalGenerator, ResnetGenerator):
        monkeypatch.setattr(cls, "__init__", lambda self, config: (_ for _ in ()).throw(AssertionError("a network was built")))
    with pytest.raises(CimgenError) as e:
        official.generator_from_state_dict(sd, source="f.pth")
    assert words in str(e.value), str(e.value)


def test_an_official_file_with_integer_keys_is_refused_when_read(tmp_path):
    torch.save({1: torch.zeros(2), "model.1.weight": torch.zeros(4, 3, 7, 7)}, tmp_path / "ints.pth")
    with pytest.raises(CimgenError, match="names a tensor by int 1"):
        official.import_generator(tmp_path / "ints.pth")


def test_official_discriminators_are_bounded_before_they_are_built():
    sd = {f"scale{s}_layer{j}.0.weight": torch.zeros(4, 9, 4, 4) for s in range(9) for j in range(3)}
    with pytest.raises(CimgenError, match="the discriminator's num_discriminators is 9; it must lie between 1 and 8"):
        official.discriminator_from_state_dict(sd, source="d.pth")
    sd = ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=1)).state_dict()
    sd["model.1.weight"] = sd["model.1.weight"].clone()
    sd["model.1.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(CimgenError, match="holds NaN or infinite values in 'model.1.weight'"):
        official.generator_from_state_dict(sd, source="g.pth")
