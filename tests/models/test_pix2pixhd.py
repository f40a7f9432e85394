"""pix2pixHD architectures: shapes over several sizes, layer counts, and input checks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError
from cimgen.losses.adversarial import gan_loss
from cimgen.losses.feature_matching import feature_matching_loss
from cimgen.models.pix2pixhd import (
    GlobalGenerator,
    GlobalGeneratorConfig,
    LocalEnhancer,
    LocalEnhancerConfig,
    MultiscaleDiscriminator,
    MultiscaleDiscriminatorConfig,
)


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


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_global_generator_keys_match_official():
    # label2city_512p: netG global, ngf 64, 35 labels + 1 instance edge channel (NVIDIA/pix2pixHD, models/networks.py).
    with torch.device("meta"):
        shapes = _shapes(GlobalGenerator(GlobalGeneratorConfig(in_channels=36)))
    assert len(shapes) == 56 and sum(math.prod(s) for s in shapes.values()) == 182_546_755
    assert shapes["model.1.weight"] == (64, 36, 7, 7)
    assert shapes["model.16.conv_block.1.weight"] == shapes["model.24.conv_block.5.weight"] == (1024, 1024, 3, 3)
    assert shapes["model.25.weight"] == (1024, 512, 3, 3)  # ConvTranspose2d weights are (in, out, k, k)
    assert shapes["model.38.weight"] == (3, 64, 7, 7)


def test_local_enhancer_matches_official_1024p_layout():
    # label2city_1024p: --netG local --ngf 32, 36 input channels, 4 global downsamplings, 9 + 3 blocks.
    with torch.device("meta"):
        shapes = _shapes(LocalEnhancer(LocalEnhancerConfig(in_channels=36)))
    assert len(shapes) == 74 and sum(math.prod(s) for s in shapes.values()) == 182_857_059
    assert shapes["model.1.weight"] == (64, 36, 7, 7)
    assert shapes["model.16.conv_block.1.weight"] == (1024, 1024, 3, 3)
    assert shapes["model.34.weight"] == (128, 64, 3, 3)
    assert "model.38.weight" not in shapes  # the global generator's output conv is dropped
    assert shapes["model1_1.1.weight"] == (32, 36, 7, 7)
    assert shapes["model1_1.4.weight"] == (64, 32, 3, 3)
    assert shapes["model1_2.0.conv_block.1.weight"] == shapes["model1_2.2.conv_block.5.weight"] == (64, 64, 3, 3)
    assert shapes["model1_2.3.weight"] == (64, 32, 3, 3)
    assert shapes["model1_2.7.weight"] == (3, 32, 7, 7)


def _tiny_enhancer_config(**kw) -> LocalEnhancerConfig:
    return LocalEnhancerConfig(
        **{"in_channels": 5, "base_channels": 4, "num_downsamplings_global": 2, "num_blocks_global": 1, "num_blocks_local": 1, **kw}
    )


@pytest.mark.parametrize("enhancers,size", [(1, (64, 64)), (2, (32, 48))])
def test_local_enhancer_shapes_and_checks(enhancers, size):
    g = LocalEnhancer(_tiny_enhancer_config(num_local_enhancers=enhancers))
    y = g(torch.randn(2, 5, *size))
    assert y.shape == (2, 3, *size) and y.abs().max() <= 1
    m = 2 ** (2 + enhancers)
    with pytest.raises(CimgenError, match=f"multiples of {m}"):
        g(torch.randn(1, 5, m + 4, m))
    with pytest.raises(CimgenError, match="expects N x 5"):
        g(torch.randn(1, 3, m, m))


def _reference_local_enhancer(sd: dict[str, torch.Tensor], x: torch.Tensor, *, downs: int, blocks_global: int, blocks_local: int):
    """One-enhancer pix2pixHD G2 written from the official key layout with torch.nn.functional only."""
    used: set[str] = set()

    def conv(h, key, stride=1, padding=0):
        used.update((f"{key}.weight", f"{key}.bias"))
        return F.conv2d(h, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=stride, padding=padding)

    def up(h, key):
        used.update((f"{key}.weight", f"{key}.bias"))
        y = F.conv_transpose2d(h, sd[f"{key}.weight"], sd[f"{key}.bias"], stride=2, padding=1, output_padding=1)
        return F.relu(F.instance_norm(y))

    def reflect(h, p):
        return F.pad(h, (p, p, p, p), mode="reflect")

    def res(h, key):
        y = F.relu(F.instance_norm(conv(reflect(h, 1), f"{key}.conv_block.1")))
        return h + F.instance_norm(conv(reflect(y, 1), f"{key}.conv_block.5"))

    # Global part on the 2x average-pooled input: layer 1 is the 7x7 conv, then 3 layers per down/up step.
    h = F.relu(F.instance_norm(conv(reflect(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), 3), "model.1")))
    i = 4
    for _ in range(downs):
        h = F.relu(F.instance_norm(conv(h, f"model.{i}", stride=2, padding=1)))
        i += 3
    for _ in range(blocks_global):
        h = res(h, f"model.{i}")
        i += 1
    for _ in range(downs):
        h = up(h, f"model.{i}")
        i += 3
    # Enhancer: encode the full-size input, add the global features, refine, upsample, output conv.
    e = F.relu(F.instance_norm(conv(reflect(x, 3), "model1_1.1")))
    h = h + F.relu(F.instance_norm(conv(e, "model1_1.4", stride=2, padding=1)))
    for j in range(blocks_local):
        h = res(h, f"model1_2.{j}")
    h = up(h, f"model1_2.{blocks_local}")
    out = torch.tanh(conv(reflect(h, 3), f"model1_2.{blocks_local + 4}"))
    assert used == set(sd), f"reference skipped {sorted(set(sd) - used)}"
    return out


def test_local_enhancer_matches_functional_reference():
    torch.manual_seed(0)
    g = LocalEnhancer(_tiny_enhancer_config()).eval()
    with torch.no_grad():
        for p in g.parameters():  # larger than the default init, so that every layer matters
            p.normal_(0, 0.3)
        x = torch.randn(2, 5, 32, 40)
        ref = _reference_local_enhancer(g.state_dict(), x, downs=2, blocks_global=1, blocks_local=1)
        assert torch.allclose(g(x), ref, atol=1e-5)


def test_local_enhancer_takes_a_trained_global_generator():
    torch.manual_seed(0)
    enh = LocalEnhancer(_tiny_enhancer_config())
    trained = GlobalGenerator(enh.config.global_config)  # 8 channels = base_channels * 2
    enh.load_global_generator(trained)
    x = torch.randn(1, 5, 16, 24)
    with torch.no_grad():
        assert torch.equal(enh.model(x), trained.model[:-3](x))
    with pytest.raises(CimgenError, match="does not match"):
        enh.load_global_generator(GlobalGenerator(GlobalGeneratorConfig(in_channels=5, base_channels=4, num_downsamplings=2, num_blocks=1)))


def test_local_enhancer_freezes_the_global_part():
    enh = LocalEnhancer(_tiny_enhancer_config())
    enh.set_global_trainable(False)
    frozen = {name for name, p in enh.named_parameters() if not p.requires_grad}
    assert frozen == {name for name, _ in enh.model.named_parameters(prefix="model")}
    enh(torch.randn(1, 5, 16, 16)).mean().backward()
    assert all(p.grad is None for p in enh.model.parameters())
    assert all(p.grad is not None for name, p in enh.named_parameters() if name.startswith("model1_"))
    enh.set_global_trainable(True)
    assert all(p.requires_grad for p in enh.parameters())
    # With two enhancers, the official niter_fix_global trains only the finest one (model2_*).
    two = LocalEnhancer(_tiny_enhancer_config(num_local_enhancers=2))
    two.set_global_trainable(False)
    assert {name.split(".")[0] for name, p in two.named_parameters() if p.requires_grad} == {"model2_1", "model2_2"}


def test_position_channels_enter_through_zero_weights_and_change_nothing_until_trained():
    from dataclasses import replace

    from cimgen.models.pix2pixhd import converted_generator_tensors, position_code

    old = GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=2, num_blocks=1)
    g = GlobalGenerator(old).eval()
    new = replace(old, position_frequencies=3)
    g2 = GlobalGenerator(new).eval()
    g2.load_state_dict(converted_generator_tensors(g.state_dict(), old, new), strict=True)
    assert g2.model[1].in_channels == 6 + 12
    x = torch.randn(2, 6, 32, 48)
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))
    code = position_code(32, 48, 3, like=x)
    assert code.shape == (1, 12, 32, 48) and code.abs().max() <= 1
    # each octave's (sin y, sin x, cos y, cos x) together name a pixel: no two pixels share a code
    flat = code[0].reshape(12, -1).T
    assert torch.cdist(flat, flat).add(torch.eye(flat.shape[0]) * 9).min() > 1e-3


def test_resize_upsampling_has_the_same_keys_but_for_its_convolutions_and_no_checkerboard_at_init():
    from dataclasses import replace

    from cimgen.models.pix2pixhd import converted_generator_tensors

    old = GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=3, num_blocks=1)
    new = replace(old, upsample="resize")
    g, g2 = GlobalGenerator(old), GlobalGenerator(new)
    k_old, k_new = set(g.state_dict()), set(g2.state_dict())
    assert {k.replace(".conv.", ".") for k in k_new} == k_old
    g2.load_state_dict(converted_generator_tensors(g.state_dict(), old, new), strict=True)
    with pytest.raises(CimgenError, match="cannot become a transposed"):
        converted_generator_tensors(g2.state_dict(), new, old)
    with pytest.raises(CimgenError, match="unknown upsample 'cubic'; choose transpose, resize, bilinear"):
        GlobalGenerator(replace(old, upsample="cubic"))
    with pytest.raises(CimgenError, match="not to other sizes"):
        converted_generator_tensors(g.state_dict(), old, replace(new, base_channels=8))


def test_bilinear_upsampling_shares_the_resize_tensors_and_leaves_no_ripple_where_nearest_does():
    """A resize generator's tensors load into a bilinear one (and back); fed a ramp, nearest-neighbour upsampling
    and a convolution leave stair steps (a 2-pixel ripple) where bilinear leaves a straight line."""
    from dataclasses import replace

    from cimgen.models.pix2pixhd import ResizeConv, converted_generator_tensors

    old = GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=2, num_blocks=1)
    near, bil = replace(old, upsample="resize"), replace(old, upsample="bilinear")
    g_t, g_n, g_b = GlobalGenerator(old), GlobalGenerator(near), GlobalGenerator(bil)
    assert set(g_n.state_dict()) == set(g_b.state_dict())
    g_b.load_state_dict(converted_generator_tensors(g_t.state_dict(), old, bil), strict=True)
    g_n.load_state_dict(converted_generator_tensors(g_b.state_dict(), bil, near), strict=True)
    with pytest.raises(CimgenError, match="cannot become a transposed"):
        converted_generator_tensors(g_b.state_dict(), bil, old)

    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, 32).reshape(1, 1, 1, 32).expand(1, 2, 32, 32).contiguous()

    def ripple(mode):
        up = ResizeConv(2, 1, mode)
        torch.nn.init.normal_(up.conv.weight)
        row = up(ramp)[0, 0, 20, 8:56].detach().double()  # away from the reflected borders
        bends = row[2:] - 2 * row[1:-1] + row[:-2]  # zero along a straight line
        return float(bends.abs().max() / (row.max() - row.min()))

    assert ripple("nearest") > 0.01  # stair steps: every other pixel bends
    assert ripple("bilinear") < 1e-5


def test_a_withheld_region_draws_from_the_map_alone_and_training_drops_the_code_in_boxes():
    from dataclasses import replace

    import numpy as np

    from cimgen.generators import generate

    cfg = GlobalGeneratorConfig(in_channels=4, base_channels=4, num_downsamplings=2, num_blocks=1, position_frequencies=2)
    g = GlobalGenerator(cfg).eval()
    torch.nn.init.normal_(g.model[1].weight)  # the code's weights non-zero, as after training
    blind = GlobalGenerator(replace(cfg, position_frequencies=0)).eval()
    state = g.state_dict()
    state["model.1.weight"] = state["model.1.weight"][:, :4]
    blind.load_state_dict(state)
    labels = np.random.default_rng(0).integers(0, 4, (32, 32)).astype(np.int32)
    everywhere = np.ones((32, 32), bool)
    # withheld everywhere, the code adds nothing: the generator is the same network without it
    assert np.array_equal(generate(g, labels, 4, withheld=everywhere), generate(blind, labels, 4))
    assert not np.array_equal(generate(g, labels, 4), generate(blind, labels, 4))
    with pytest.raises(CimgenError, match="withheld region is 8x8"):
        generate(g, labels, 4, withheld=np.ones((8, 8), bool))
    # in training mode the code is withheld in a random box of some inputs
    from cimgen.models.pix2pixhd import random_keep_boxes

    torch.manual_seed(0)
    keep = random_keep_boxes(64, 32, 32, 0.5, like=torch.zeros(1))
    dropped = (keep == 0).flatten(1).any(1)
    assert 16 < int(dropped.sum()) < 48
    areas = (keep == 0).flatten(1).float().mean(1)[dropped]
    assert areas.min() >= 0.1 * 0.1 * 0.8 and areas.max() <= 0.5 * 0.5 * 1.1


def test_context_channels_enter_through_zero_weights_and_the_generator_sees_the_image_outside_the_region():
    from dataclasses import replace

    import numpy as np

    from cimgen.generators import generate
    from cimgen.models.pix2pixhd import converted_generator_tensors, random_regions

    old = GlobalGeneratorConfig(in_channels=4, base_channels=4, num_downsamplings=2, num_blocks=1, position_frequencies=2)
    g = GlobalGenerator(old).eval()
    torch.nn.init.normal_(g.model[1].weight)  # a trained position code: non-zero weights
    new = replace(old, context=True, position_frequencies=3)
    g2 = GlobalGenerator(new).eval()
    g2.load_state_dict(converted_generator_tensors(g.state_dict(), old, new), strict=True)
    w_old, w_new = g.model[1].weight, g2.model[1].weight
    assert w_new.shape[1] == 4 + 12 + 4
    # maps, then the old code's octaves, then zeros for the new octave and for the context
    assert torch.equal(w_new[:, :12], w_old) and not w_new[:, 12:].any()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (32, 32)).astype(np.int32)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    region = np.zeros((32, 32), bool)
    region[8:20, 4:16] = True
    # until trained, the converted generator is the old one: the image changes nothing, the region withholds the code
    assert np.array_equal(generate(g2, labels, 4, withheld=region, image=image), generate(g, labels, 4, withheld=region))
    # trained context weights: the image is seen outside the region only
    torch.nn.init.normal_(g2.model[1].weight)
    other = image.copy()
    other[region] = 255 - other[region]
    same_outside = generate(g2, labels, 4, withheld=region, image=other)
    assert np.array_equal(generate(g2, labels, 4, withheld=region, image=image), same_outside)
    changed = image.copy()
    changed[0:4, 28:32] = 0
    assert not np.array_equal(generate(g2, labels, 4, withheld=region, image=changed), same_outside)
    # without an image, everything is drawn from the map, as with an image withheld everywhere
    everywhere = np.ones((32, 32), bool)
    assert np.array_equal(generate(g2, labels, 4), generate(g2, labels, 4, withheld=everywhere, image=image))
    with pytest.raises(CimgenError, match="context image is 8x8"):
        generate(g2, labels, 4, withheld=region, image=image[:8, :8])
    with pytest.raises(CimgenError, match="cannot become a map-only one"):
        converted_generator_tensors(g2.state_dict(), new, replace(new, context=False))
    # training regions: one to three boxes, the whole input one time in ten
    torch.manual_seed(0)
    r = random_regions(200, 32, 32, like=torch.zeros(1))
    share = r.flatten(1).mean(1)
    whole = (share == 1).float().mean().item()
    assert r.shape == (200, 1, 32, 32) and (share > 0).all() and 0.03 < whole < 0.2
    assert 0.02 < share[share < 1].mean().item() < 0.5
    # in training the generator draws its own regions: the blanked image differs between calls
    g2.train()
    x = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 4).permute(2, 0, 1)[None].float()
    img = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.manual_seed(1)
    a = g2(x, image=img)
    torch.manual_seed(2)
    assert not torch.equal(a, g2(x, image=img))


def test_a_detail_code_enters_through_zero_weights_learns_fast_and_belongs_to_one_image_size():
    from dataclasses import replace

    import numpy as np

    from cimgen.generators import generate
    from cimgen.models.limits import weight_count
    from cimgen.models.pix2pixhd import converted_generator_tensors
    from cimgen.train.pix2pixhd import generator_groups

    old = GlobalGeneratorConfig(in_channels=4, base_channels=4, num_downsamplings=2, num_blocks=1, position_frequencies=2)
    g = GlobalGenerator(old).eval()
    new = replace(old, detail_channels=3, detail_height=32, detail_width=40)
    g2 = GlobalGenerator(new).eval()
    tensors = converted_generator_tensors(g.state_dict(), old, new)
    g2.load_state_dict(tensors, strict=True)
    assert g2.detail.shape == (1, 3, 16, 20) and g2.detail.abs().max() > 0  # noise, so its weights get a gradient
    assert sum(p.numel() for p in g2.parameters()) == weight_count(new)
    labels = np.random.default_rng(0).integers(0, 4, (32, 40)).astype(np.int32)
    assert np.array_equal(generate(g2, labels, 4), generate(g, labels, 4))  # unchanged until trained
    # the code learns at DETAIL_LR_SCALE times the rate, through the loop's lr_scale
    groups = generator_groups(g2)
    assert len(groups) == 2 and groups[1]["params"][0] is g2.detail and groups[1]["lr_scale"] == 50.0
    # a few L1 steps towards a target the map does not explain move the output, through code and weights
    g2.train()
    opt = torch.optim.Adam([{"params": gr["params"], "lr": 1e-3 * gr.get("lr_scale", 1.0)} for gr in groups])
    x = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 4).permute(2, 0, 1)[None].float()
    target = torch.rand(1, 3, 32, 40) * 2 - 1
    first = None
    for _ in range(30):
        loss = (g2(x, withheld=torch.zeros(1, 1, 32, 40)) - target).abs().mean()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first and g2.model[-2].weight[:, -3:].abs().max() > 0
    g2.eval()
    # withheld everywhere, the code adds nothing: the output is the network without it
    everywhere = np.ones((32, 40), bool)
    with torch.no_grad():
        saved = g2.detail.clone()
        g2.detail.zero_()
        blank = generate(g2, labels, 4, withheld=everywhere)
        g2.detail.copy_(saved)
    assert np.array_equal(generate(g2, labels, 4, withheld=everywhere), blank)
    with pytest.raises(CimgenError, match="memorised one 40x32 image"):
        generate(g2, labels[:16], 4)
    with pytest.raises(CimgenError, match="belongs to one image"):
        converted_generator_tensors(g2.state_dict(), new, replace(new, detail_height=64))


def test_a_smoothed_full_resolution_detail_code_cannot_carry_a_two_pixel_checkerboard():
    """detail_smooth low-passes the code with the binomial filter, whose response at the 2-pixel period is 0: a code that
    is a pure checkerboard adds nothing to the output, while the same code unsmoothed changes it; a smooth code still
    gets through. The memorising recipe's checkpoints carry the setting."""
    from dataclasses import replace

    from cimgen.models.pix2pixhd import binomial_blur
    from cimgen.runs.manipulate import memorising_checkpoint
    from cimgen.runs.options import FINETUNE_DETAIL_SCALE, FINETUNE_DETAIL_SMOOTH
    from cimgen.train.pix2pixhd import converted_checkpoint

    cfg = GlobalGeneratorConfig(
        in_channels=3, base_channels=4, num_downsamplings=2, num_blocks=1, detail_channels=2, detail_scale=1,
        detail_smooth=True, detail_height=16, detail_width=24,
    )  # fmt: skip
    torch.manual_seed(0)
    smooth, plain = GlobalGenerator(cfg).eval(), GlobalGenerator(replace(cfg, detail_smooth=False)).eval()
    plain.load_state_dict(smooth.state_dict())
    x = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 16, 24)), 3).permute(0, 3, 1, 2).float()
    checker = ((torch.arange(16)[:, None] + torch.arange(24)[None, :]) % 2 * 2 - 1).float()
    with torch.no_grad():
        smooth.model[-2].weight[:, -2:] = 0.5  # the code's input weights, zero at conversion, as if trained
        plain.model[-2].weight[:, -2:] = 0.5
        smooth.detail.zero_()
        without = smooth(x)
        smooth.detail[:] = 3 * checker
        plain.detail[:] = 3 * checker
        assert torch.allclose(binomial_blur(smooth.detail), torch.zeros_like(smooth.detail), atol=1e-6)
        assert torch.allclose(smooth(x), without, atol=1e-5)
        assert (plain(x) - without).abs().max() > 0.1
        smooth.detail[:] = torch.linspace(-1, 1, 24)[None, None, None, :]
        assert (smooth(x) - without).abs().max() > 0.01
    # converting: a new code takes the scale and smoothing asked for; the memorising recipe asks for its defaults
    ck = GlobalGenerator(replace(cfg, detail_channels=0, detail_smooth=False, detail_scale=2)).state_dict()
    base = ({"model": "pix2pixhd", "label_nc": 3, "generator_type": "global", "generator": vars(replace(cfg, detail_channels=0))},
            {f"generator.{k}": v for k, v in ck.items()})  # fmt: skip
    conv, _ = converted_checkpoint(base, detail=(4, 16, 24), detail_scale=2, detail_smooth=False)
    assert (conv["generator"]["detail_scale"], conv["generator"]["detail_smooth"]) == (2, False)
    mem, tensors = memorising_checkpoint(base, position=0, detail=4, shape=(16, 24))
    assert (mem["generator"]["detail_scale"], mem["generator"]["detail_smooth"]) == (FINETUNE_DETAIL_SCALE, FINETUNE_DETAIL_SMOOTH)
    assert tensors["generator.detail"].shape == (1, 4, 16 // FINETUNE_DETAIL_SCALE, 24 // FINETUNE_DETAIL_SCALE)


def test_memorising_turns_a_resize_back_end_bilinear_and_leaves_transposed_weights_as_they_are():
    """The memorise recipe gives a resize-convolution generator FINETUNE_UPSAMPLE's interpolation (the same tensors, so the
    output moves only by the interpolation) and keeps an imported transposed-convolution generator's layout; None keeps
    the checkpoint's; a transposed back end is no choice here."""
    from dataclasses import replace

    from cimgen.runs.manipulate import memorising_checkpoint
    from cimgen.runs.options import FINETUNE_UPSAMPLE

    assert FINETUNE_UPSAMPLE == "bilinear"
    cfg = GlobalGeneratorConfig(in_channels=3, base_channels=4, num_downsamplings=2, num_blocks=1)

    def checkpoint(upsample):
        g = GlobalGenerator(replace(cfg, upsample=upsample)).state_dict()
        return ({"model": "pix2pixhd", "label_nc": 3, "generator_type": "global", "generator": vars(replace(cfg, upsample=upsample))},
                {f"generator.{k}": v for k, v in g.items()})  # fmt: skip

    resize = checkpoint("resize")
    mem, tensors = memorising_checkpoint(resize, position=0)
    assert mem["generator"]["upsample"] == "bilinear"
    assert all(torch.equal(tensors[k], v) for k, v in resize[1].items())
    generator = GlobalGenerator(GlobalGeneratorConfig(**mem["generator"]))
    generator.load_state_dict({k[len("generator.") :]: v for k, v in tensors.items()})
    assert {m.mode for m in generator.modules() if hasattr(m, "mode")} == {"bilinear"}
    kept, _ = memorising_checkpoint(resize, position=0, upsample=None)
    assert kept["generator"]["upsample"] == "resize"
    transposed, tensors = memorising_checkpoint(checkpoint("transpose"), position=2)
    assert transposed["generator"]["upsample"] == "transpose" and transposed["generator"]["position_frequencies"] == 2
    with pytest.raises(CimgenError, match="resize or bilinear"):
        memorising_checkpoint(resize, position=0, upsample="transpose")


@pytest.mark.parametrize(
    ("height", "width", "steps"),
    [
        (600, 600, 120),
        (1024, 1024, 120),
        (800, 500, 120),
        (700, 500, 123),
        (500, 500, 173),
        (400, 400, 270),
        (256, 512, 270),
        (45, 46, 270),
    ],
)
def test_a_smaller_image_is_memorised_for_more_steps_up_to_the_recipes_most(height, width, steps):
    """memorise_steps keeps the cost of a fine-tune about that of MEMORISE_STEPS on a 600x600 image: the Map2Sat pair gets
    120, a 500x500 image 120 * 360000 / 250000, Building2Sat's 400x400 tile 120 * 360000 / 160000 = 270, the most, as
    Cityscapes' 512x256 frame and a tiny one."""
    from cimgen.runs.options import MEMORISE_BUDGET_PIXELS, MEMORISE_MAX_STEPS, MEMORISE_STEPS, memorise_steps

    assert (MEMORISE_STEPS, MEMORISE_BUDGET_PIXELS, MEMORISE_MAX_STEPS) == (120, 600 * 600, 270)
    assert memorise_steps(height, width) == steps
