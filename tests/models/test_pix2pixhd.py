"""pix2pixHD architectures: shapes over several sizes, layer counts, and input checks."""

from __future__ import annotations

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.losses.adversarial import gan_loss
from cimgen.losses.feature_matching import feature_matching_loss
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, MultiscaleDiscriminator, MultiscaleDiscriminatorConfig


@pytest.mark.parametrize(
    "base,downs,blocks,size,norm",
    [(4, 1, 1, 16, "instance"), (8, 2, 2, 32, "batch"), (4, 3, 0, 24, "none"), (6, 4, 1, 48, "instance")],
)
def test_generator_shapes(base, downs, blocks, size, norm):
    cfg = GlobalGeneratorConfig(in_channels=5, out_channels=3, base_channels=base, num_downsamplings=downs, num_blocks=blocks, norm=norm)
    g = GlobalGenerator(cfg)
    y = g(torch.randn(2, 5, size, size * 2 if size % (2**downs) == 0 else size))
    assert y.shape[:2] == (2, 3) and y.abs().max() <= 1
    n_blocks = sum(1 for m in g.modules() if m.__class__.__name__ == "ResnetBlock")
    assert n_blocks == blocks


def test_default_generator_matches_official_layout():
    g = GlobalGenerator(GlobalGeneratorConfig())
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    ups = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    # 7x7 in, 4 stride-2 downs, 9 blocks x 2 convs, 4 transposed ups, 7x7 out (ngf 64 -> 1024 channels).
    assert len(convs) == 1 + 4 + 18 + 1 and len(ups) == 4
    assert convs[0].kernel_size == (7, 7) and convs[0].out_channels == 64 and convs[4].out_channels == 1024
    assert sum(p.numel() for p in g.parameters()) > 4e7


def test_generator_rejects_bad_input():
    g = GlobalGenerator(GlobalGeneratorConfig(in_channels=3, base_channels=4, num_downsamplings=2, num_blocks=1))
    with pytest.raises(CimgenError, match="multiples of 4"):
        g(torch.randn(1, 3, 10, 12))
    with pytest.raises(CimgenError, match="expects N x 3"):
        g(torch.randn(1, 4, 8, 8))


@pytest.mark.parametrize("layers,scales", [(1, 1), (3, 2), (2, 3)])
def test_multiscale_discriminator_outputs(layers, scales):
    d = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(in_channels=7, base_channels=4, num_layers=layers, num_discriminators=scales))
    outs = d(torch.randn(2, 7, 64, 64))
    assert len(outs) == scales
    for scale in outs:
        assert len(scale) == layers + 2  # stride-2 layers, one stride-1 layer, the score map
        assert scale[-1].shape[1] == 1
    # Each scale sees a 2x smaller input.
    assert outs[0][-1].shape[-1] > outs[-1][-1].shape[-1] or scales == 1


def test_losses_follow_pix2pixhd_weights():
    real = [[torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4)]] * 2
    fake = [[torch.ones(1, 2, 4, 4), torch.ones(1, 2, 4, 4) * 3, torch.ones(1, 1, 4, 4)]] * 2
    # Two matched layers per scale, each weighted 4 / 2 and then 1 / 2 per scale: 2 * (2*1 + 2*3) / 2 = 8.
    assert feature_matching_loss(fake, real).item() == pytest.approx(8.0)
    assert gan_loss(fake, True).item() == pytest.approx(0.0)  # scores of 1 are "real" under LSGAN
    assert gan_loss(fake, False).item() == pytest.approx(2.0)
    with pytest.raises(CimgenError, match="unknown GAN loss"):
        gan_loss(fake, True, mode="hinge2")
