"""A checkpoint made to take another label set starts as it would draw the map collapsed onto its own classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.generators import generate, label_generator_from
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, MultiscaleDiscriminator, MultiscaleDiscriminatorConfig
from cimgen.palette import Palette
from cimgen.train.pix2pixhd import relabelled_checkpoint


def _checkpoint():
    torch.manual_seed(0)
    g = GlobalGenerator(GlobalGeneratorConfig(in_channels=3, base_channels=4, num_downsamplings=2, num_blocks=1))
    d = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=2, num_discriminators=2))
    tensors = {**{f"generator.{k}": v for k, v in g.state_dict().items()}, **{f"discriminator.{k}": v for k, v in d.state_dict().items()}}
    config = {
        "format": "cimgen-checkpoint", "model": "pix2pixhd", "label_nc": 3,
        "palette": Palette(("a", "b", "c"), ((0, 0, 0), (9, 9, 9), (99, 99, 99))).to_dict(),
        "generator": {"in_channels": 3, "base_channels": 4, "num_downsamplings": 2, "num_blocks": 1},
        "discriminator": {"in_channels": 6, "base_channels": 4, "num_layers": 2, "num_discriminators": 2},
    }  # fmt: skip
    return config, tensors, d


def test_each_new_class_starts_as_the_old_class_it_maps_to_in_the_generator_and_the_discriminators():
    config, tensors, d = _checkpoint()
    five = Palette(tuple("vwxyz"), tuple((i, i, i) for i in range(5)))
    classes = [2, 0, 0, 1, 2]
    new, out = relabelled_checkpoint((config, tensors), five, classes)
    assert new["label_nc"] == 5 and new["generator"]["in_channels"] == 5 and new["discriminator"]["in_channels"] == 8
    assert new["palette"] == five.to_dict() and config["label_nc"] == 3  # the original is not changed
    old_gen, _ = label_generator_from(config, tensors, "old", "cpu")
    new_gen, _ = label_generator_from(new, out, "new", "cpu")
    labels = np.random.default_rng(0).integers(0, 5, (16, 20)).astype(np.int32)
    collapsed = np.asarray(classes)[labels]
    assert np.array_equal(generate(new_gen, labels, 5), generate(old_gen, collapsed, 3))
    # the discriminators see the new one-hot map as the old saw the collapsed one
    d2 = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=8, base_channels=4, num_layers=2, num_discriminators=2))
    d2.load_state_dict({k[len("discriminator.") :]: v for k, v in out.items() if k.startswith("discriminator.")})
    image = torch.rand(1, 3, 16, 20)
    hot = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 5).permute(2, 0, 1)[None].float()
    old_hot = torch.nn.functional.one_hot(torch.from_numpy(collapsed).long(), 3).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        a, b = d2(torch.cat([hot, image], 1)), d(torch.cat([old_hot, image], 1))
    assert all(torch.allclose(x[-1], y[-1], atol=1e-5) for x, y in zip(a, b))


def test_relabelling_refuses_a_wrong_mapping_in_one_sentence():
    config, tensors, _ = _checkpoint()
    two = Palette(("v", "w"), ((0, 0, 0), (1, 1, 1)))
    with pytest.raises(CimgenError, match="the palette has 2 classes but 3 were mapped"):
        relabelled_checkpoint((config, tensors), two, [0, 1, 2])
    with pytest.raises(CimgenError, match="class 7 is not one of the checkpoint's 3 classes"):
        relabelled_checkpoint((config, tensors), two, [0, 7])
