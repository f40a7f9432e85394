"""The pyramid's sizes (SinGAN's and ConSinGAN's rules), the networks' layout, and settings that cannot train."""

from __future__ import annotations

import itertools

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.singan.config import SinGANConfig, schedule_config
from cimgen.singan.networks import ScaleDiscriminator, ScaleGenerator
from cimgen.singan.pyramid import mask_pyramid, pyramid_sizes, resize


def test_original_pyramid_of_a_250_pixel_image():
    # 186x248 with SinGAN's defaults: 9 scales from 25 px on the shorter side, factor recomputed from 0.75.
    sizes = pyramid_sizes(186, 248, schedule_config("original"))
    assert len(sizes) == 9
    assert sizes[0] == (25, 34) and sizes[-1] == (186, 248)
    ratios = [b[0] / a[0] for a, b in itertools.pairwise(sizes)]
    assert all(1.2 < r < 1.35 for r in ratios)  # about 1/0.78 each


def test_larger_images_are_scaled_down_to_max_size():
    assert pyramid_sizes(600, 800, schedule_config("original"))[-1] == (188, 250)
    assert pyramid_sizes(100, 120, schedule_config("original"))[-1] == (100, 120)  # never scaled up


def test_consingan_placement_puts_more_scales_at_low_resolution():
    sizes = pyramid_sizes(186, 248, schedule_config("fast"))
    assert len(sizes) == 6 and sizes[0][0] == 25 and sizes[-1] == (186, 248)
    steps = [b[0] / a[0] for a, b in itertools.pairwise(sizes)]
    assert steps[0] < steps[-2]  # small steps at the bottom, large ones at the top


def test_channels_double_every_four_scales_up_to_128():
    cfg = SinGANConfig()
    assert [cfg.channels(n) for n in range(10)] == [32] * 4 + [64] * 4 + [128] * 2


def test_image_smaller_than_the_coarsest_scale_is_refused():
    with pytest.raises(CimgenError, match="smaller than the coarsest scale"):
        pyramid_sizes(20, 60, schedule_config("original"))


@pytest.mark.parametrize(
    "over, words",
    [
        ({"min_size": 8}, "min_size must exceed 10"),
        ({"placement": "log"}, "unknown scale placement"),
        ({"num_scales": 1}, "num_scales"),
        ({"precision": "fp16"}, "unknown precision"),
        ({"iters": 0}, "iters must be at least 1"),
    ],
)
def test_bad_settings(over, words):
    with pytest.raises(CimgenError, match=words):
        schedule_config("original", over)


def test_unknown_schedule_and_unknown_setting():
    with pytest.raises(CimgenError, match="unknown SinGAN schedule"):
        schedule_config("slow")
    with pytest.raises(CimgenError):
        schedule_config("original", {"itres": 5})


def test_networks_follow_singan_layout_and_sizes():
    g, d = ScaleGenerator(32, 5, 3), ScaleDiscriminator(32, 5, 3)
    names = [k for k, _ in g.named_parameters()]
    assert names[:4] == ["head.conv.weight", "head.conv.bias", "head.norm.weight", "head.norm.bias"]
    assert "body.block3.conv.weight" in names and names[-2:] == ["tail.0.weight", "tail.0.bias"]
    # head 3->32, three 32->32 blocks, tail 32->3, each conv with bias, each block with batch norm
    expected = (3 * 32 * 9 + 32 + 64) + 3 * (32 * 32 * 9 + 32 + 64) + (32 * 3 * 9 + 3)
    assert sum(p.numel() for p in g.parameters()) == expected
    x, prev = torch.randn(1, 3, 20, 24), torch.randn(1, 3, 20, 24)
    assert g(x, prev).shape == (1, 3, 20, 24)  # padded input: same size out
    assert d(x).shape == (1, 1, 10, 14)  # unpadded critic: 2 * 5 pixels smaller


def test_resize_and_mask_pyramid():
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    assert resize(x, (20, 24)).shape == (1, 3, 20, 24)
    assert resize(x, (40, 48)) is x
    m = torch.zeros(1, 1, 40, 48)
    m[..., 10:12, 10:12] = 1
    small = mask_pyramid(m, [(10, 12), (40, 48)])
    assert small[0].sum() >= 1 and small[1].sum() == 4  # a small hole never vanishes from a coarse scale
