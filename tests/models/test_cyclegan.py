"""CycleGAN / pix2pix networks: official key names and counts, shapes, and outputs against functional references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError
from cimgen.models.cyclegan import (
    DISCRIMINATORS,
    GENERATORS,
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    UnetGenerator,
    UnetGeneratorConfig,
    build_discriminator,
    build_generator,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(k: int, cin: int, cout: int, bias: bool) -> int:
    """Parameters of a k x k (transposed) convolution."""
    return k * k * cin * cout + (cout if bias else 0)


def batch_norm(c: int) -> int:
    return 2 * c  # weight and bias; the running statistics are buffers


# ---------------------------------------------------------------------------------------------
# Counts: published numbers (the official code prints them as 11.378 M, 7.838 M, 54.414 M, 2.769 M
# and 2.765 M) and the same numbers summed layer by layer from the official layout.


def test_resnet_generator_counts():
    # Instance norm: every conv has a bias, the norms have no tensors.
    fixed = conv(7, 3, 64, True) + conv(3, 64, 128, True) + conv(3, 128, 256, True)
    fixed += conv(3, 256, 128, True) + conv(3, 128, 64, True) + conv(7, 64, 3, True)
    block = 2 * conv(3, 256, 256, True)
    for blocks, published, tensors in ((9, 11_378_179, 48), (6, 7_837_699, 36)):
        g = ResnetGenerator(ResnetGeneratorConfig(num_blocks=blocks))
        assert n_params(g) == published == fixed + blocks * block
        assert len(g.state_dict()) == tensors == 2 * (6 + 2 * blocks)


def test_unet_256_counts():
    g = UnetGenerator(UnetGeneratorConfig(num_downs=8, norm="batch"))
    # Batch norm: only the outermost up-conv (before tanh) has a bias.
    outer = conv(4, 3, 64, False) + conv(4, 128, 3, True)
    levels = [(64, 128), (128, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    middle = sum(conv(4, o, i, False) + batch_norm(i) + conv(4, 2 * i, o, False) + batch_norm(o) for o, i in levels)
    inner = conv(4, 512, 512, False) + conv(4, 512, 512, False) + batch_norm(512)
    assert n_params(g) == 54_413_955 == outer + middle + inner
    # outermost: 3 tensors; middle: conv, norm (5 with running stats), up-conv, norm (5); innermost: 2 convs and a norm.
    assert len(g.state_dict()) == 3 + 6 * 12 + 7


def test_patchgan_counts():
    pix2pix = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, norm="batch"))
    expected = conv(4, 6, 64, True) + conv(4, 64, 128, False) + batch_norm(128) + conv(4, 128, 256, False) + batch_norm(256)
    expected += conv(4, 256, 512, False) + batch_norm(512) + conv(4, 512, 1, True)
    assert n_params(pix2pix) == expected == 2_768_705
    assert len(pix2pix.state_dict()) == 2 + 3 * (1 + 5) + 2

    cyclegan = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=3, norm="instance"))
    expected = conv(4, 3, 64, True) + conv(4, 64, 128, True) + conv(4, 128, 256, True) + conv(4, 256, 512, True) + conv(4, 512, 1, True)
    assert n_params(cyclegan) == expected == 2_764_737
    assert len(cyclegan.state_dict()) == 10


def test_pixel_discriminator_counts():
    d = PixelDiscriminator(PixelDiscriminatorConfig(in_channels=3, norm="instance"))
    assert n_params(d) == conv(1, 3, 64, True) + conv(1, 64, 128, True) + conv(1, 128, 1, True) == 8705
    d = PixelDiscriminator(PixelDiscriminatorConfig(in_channels=6, norm="batch"))
    # Official quirk: the last 1x1 conv drops its bias under batch norm too.
    assert n_params(d) == conv(1, 6, 64, True) + conv(1, 64, 128, False) + batch_norm(128) + conv(1, 128, 1, False) == 9024
    assert set(d.state_dict()) == {
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.3.weight",
        "net.3.bias",
        "net.3.running_mean",
        "net.3.running_var",
        "net.3.num_batches_tracked",
        "net.5.weight",
    }


# ---------------------------------------------------------------------------------------------
# Key names and shapes, as the official Sequential indices give them.


def test_resnet_keys_match_official_layout():
    sd = ResnetGenerator(ResnetGeneratorConfig()).state_dict()
    shapes = {
        "model.1.weight": (64, 3, 7, 7),
        "model.1.bias": (64,),
        "model.4.weight": (128, 64, 3, 3),
        "model.7.weight": (256, 128, 3, 3),
        "model.10.conv_block.1.weight": (256, 256, 3, 3),
        "model.10.conv_block.5.weight": (256, 256, 3, 3),
        "model.18.conv_block.5.bias": (256,),
        "model.19.weight": (256, 128, 3, 3),  # transposed conv: (in, out, k, k)
        "model.22.weight": (128, 64, 3, 3),
        "model.26.weight": (3, 64, 7, 7),
        "model.26.bias": (3,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert "model.19.conv_block.1.weight" not in sd and not any("running" in k for k in sd)


def test_resnet_key_variants():
    def keys(**kw):
        return set(ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=1, **kw)).state_dict())

    # Dropout sits between ReLU and the second pad, so the second conv moves from index 5 to 6.
    assert "model.10.conv_block.6.weight" in keys(dropout=True) and "model.10.conv_block.5.weight" not in keys(dropout=True)
    # Zero padding has no pad layers: conv, norm, ReLU, conv, norm.
    assert {"model.10.conv_block.0.weight", "model.10.conv_block.3.weight"} <= keys(padding="zero")
    bn = keys(norm="batch")
    # One block: transposed convs at 11 and 14, final conv at 18; only the final conv keeps its bias.
    assert "model.1.bias" not in bn and "model.2.running_mean" in bn and "model.11.bias" not in bn and "model.18.bias" in bn
    none = keys(norm="none")
    assert "model.1.bias" not in none and "model.2.weight" not in none and "model.18.bias" in none


def test_unet_keys_match_official_nesting():
    g = UnetGenerator(UnetGeneratorConfig(num_downs=8, base_channels=8))
    sd = g.state_dict()
    assert tuple(sd["model.model.0.weight"].shape) == (8, 3, 4, 4) and "model.model.0.bias" not in sd
    assert tuple(sd["model.model.3.weight"].shape) == (16, 3, 4, 4) and tuple(sd["model.model.3.bias"].shape) == (3,)
    assert tuple(sd["model.model.1.model.1.weight"].shape) == (16, 8, 4, 4)
    assert tuple(sd["model.model.1.model.5.weight"].shape) == (32, 8, 4, 4)
    assert "model.model.1.model.6.running_var" in sd
    innermost = "model.model.1" + ".model.3" * 6
    assert tuple(sd[innermost + ".model.1.weight"].shape) == (64, 64, 4, 4)
    assert tuple(sd[innermost + ".model.3.weight"].shape) == (64, 64, 4, 4)
    assert innermost + ".model.4.running_mean" in sd and innermost + ".model.2.weight" not in sd
    # Dropout is appended after the up-norm, so it changes no key.
    with_dropout = UnetGenerator(UnetGeneratorConfig(num_downs=8, base_channels=8, dropout=True))
    assert set(with_dropout.state_dict()) == set(sd)
    assert sum(isinstance(m, torch.nn.Dropout) for m in with_dropout.modules()) == 3
    instance = set(UnetGenerator(UnetGeneratorConfig(num_downs=7, base_channels=8, norm="instance")).state_dict())
    assert "model.model.0.bias" in instance and not any("running" in k for k in instance)


def test_patchgan_keys_match_official_layout():
    sd = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, norm="batch")).state_dict()
    assert tuple(sd["model.0.weight"].shape) == (64, 6, 4, 4) and "model.0.bias" in sd
    assert tuple(sd["model.2.weight"].shape) == (128, 64, 4, 4) and "model.2.bias" not in sd
    assert tuple(sd["model.8.weight"].shape) == (512, 256, 4, 4) and "model.9.running_mean" in sd
    assert tuple(sd["model.11.weight"].shape) == (1, 512, 4, 4) and "model.11.bias" in sd
    deep = NLayerDiscriminator(NLayerDiscriminatorConfig(num_layers=5, base_channels=4)).state_dict()
    assert tuple(deep["model.14.weight"].shape) == (32, 32, 4, 4)  # channel multiplier capped at 8
    assert tuple(deep["model.17.weight"].shape) == (1, 32, 4, 4)


# ---------------------------------------------------------------------------------------------
# Shapes with tiny configurations.


@pytest.mark.parametrize("norm,dropout,padding", [("instance", False, "reflect"), ("batch", True, "replicate"), ("none", False, "zero")])
def test_resnet_forward_shapes(norm, dropout, padding):
    g = ResnetGenerator(
        ResnetGeneratorConfig(in_channels=2, out_channels=3, base_channels=4, num_blocks=2, norm=norm, dropout=dropout, padding=padding)
    )
    y = g(torch.randn(2, 2, 16, 24))
    assert y.shape == (2, 3, 16, 24) and y.abs().max() <= 1


@pytest.mark.parametrize("num_downs,size", [(7, 128), (8, 256)])
def test_unet_forward_shapes(num_downs, size):
    g = UnetGenerator(UnetGeneratorConfig(in_channels=1, out_channels=3, num_downs=num_downs, base_channels=4, dropout=True))
    y = g(torch.randn(2, 1, size, size))
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1


def test_discriminator_forward_shapes():
    d = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, base_channels=4, norm="batch"))
    assert d(torch.randn(2, 6, 256, 256)).shape == (2, 1, 30, 30)  # the 70x70 PatchGAN's 30x30 map on 256x256
    p = PixelDiscriminator(PixelDiscriminatorConfig(in_channels=3, base_channels=4))
    assert p(torch.randn(1, 3, 9, 7)).shape == (1, 1, 9, 7)


def test_inputs_are_checked():
    g = ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=1))
    with pytest.raises(CimgenError, match="multiples of 4"):
        g(torch.randn(1, 3, 10, 12))
    with pytest.raises(CimgenError, match="expects N x 3"):
        g(torch.randn(1, 1, 8, 8))
    with pytest.raises(CimgenError, match="multiples of 128"):
        UnetGenerator(UnetGeneratorConfig(num_downs=7, base_channels=4))(torch.randn(1, 3, 64, 64))
    with pytest.raises(CimgenError, match="at least 5"):
        UnetGenerator(UnetGeneratorConfig(num_downs=4))
    with pytest.raises(CimgenError, match="unknown norm"):
        NLayerDiscriminator(NLayerDiscriminatorConfig(norm="group"))
    with pytest.raises(CimgenError, match="unknown padding"):
        ResnetGenerator(ResnetGeneratorConfig(base_channels=4, padding="zeros"))


# ---------------------------------------------------------------------------------------------
# Registry.


def test_registry_names_and_errors():
    assert list(GENERATORS) == ["resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"]
    assert list(DISCRIMINATORS) == ["basic", "n_layers", "pixel"]
    g = build_generator("resnet_6blocks", base_channels=4)
    assert isinstance(g, ResnetGenerator) and g.config.num_blocks == 6 and g.config.norm == "instance"
    u = build_generator("unet_128", in_channels=1, base_channels=4)
    assert isinstance(u, UnetGenerator) and u.config.num_downs == 7 and u.config.norm == "batch"
    assert build_discriminator("n_layers", base_channels=4, num_layers=2).config.num_layers == 2
    assert build_discriminator("basic", base_channels=4).config.num_layers == 3
    assert isinstance(build_discriminator("pixel", base_channels=4), PixelDiscriminator)
    with pytest.raises(CimgenError, match="resnet_9blocks, resnet_6blocks, unet_128, unet_256"):
        build_generator("resnet_12blocks")
    with pytest.raises(CimgenError, match="basic, n_layers, pixel"):
        build_discriminator("multiscale")


# ---------------------------------------------------------------------------------------------
# Outputs against functional references that read the weights by their official key names.


def _randomise_norms(module: torch.nn.Module) -> None:
    """Give batch norms non-trivial affine parameters and running statistics."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 1 + 0.2 * torch.randn(m.num_features, generator=g)
            m.bias.data = 0.2 * torch.randn(m.num_features, generator=g)
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


def _norm(sd: dict, key: str, x: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "instance":
        return F.instance_norm(x)
    if norm == "batch":
        w, b = sd[f"{key}.weight"], sd[f"{key}.bias"]
        return F.batch_norm(x, sd[f"{key}.running_mean"], sd[f"{key}.running_var"], w, b, training=False)
    return x


def _conv(sd: dict, key: str, x: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    return F.conv2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), stride=stride, padding=padding)


def _up(sd: dict, key: str, x: torch.Tensor, kernel: int) -> torch.Tensor:
    padding, out_pad = (1, 1) if kernel == 3 else (1, 0)
    return F.conv_transpose2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), stride=2, padding=padding, output_padding=out_pad)


def resnet_reference(sd: dict, x: torch.Tensor, num_blocks: int) -> torch.Tensor:
    """The official ResnetGenerator with instance norm and reflect padding, from key names alone."""
    h = F.relu(F.instance_norm(_conv(sd, "model.1", F.pad(x, (3, 3, 3, 3), mode="reflect"))))
    h = F.relu(F.instance_norm(_conv(sd, "model.4", h, stride=2, padding=1)))
    h = F.relu(F.instance_norm(_conv(sd, "model.7", h, stride=2, padding=1)))
    for i in range(num_blocks):
        key = f"model.{10 + i}.conv_block"
        r = F.relu(F.instance_norm(_conv(sd, f"{key}.1", F.pad(h, (1, 1, 1, 1), mode="reflect"))))
        h = h + F.instance_norm(_conv(sd, f"{key}.5", F.pad(r, (1, 1, 1, 1), mode="reflect")))
    up = 10 + num_blocks  # the first transposed conv follows the blocks
    h = F.relu(F.instance_norm(_up(sd, f"model.{up}", h, 3)))
    h = F.relu(F.instance_norm(_up(sd, f"model.{up + 3}", h, 3)))
    return torch.tanh(_conv(sd, f"model.{up + 7}", F.pad(h, (3, 3, 3, 3), mode="reflect")))


def test_resnet_matches_functional_reference():
    torch.manual_seed(0)
    g = ResnetGenerator(ResnetGeneratorConfig(in_channels=3, out_channels=2, base_channels=4, num_blocks=2, norm="instance")).eval()
    x = torch.randn(2, 3, 20, 16)
    with torch.no_grad():
        ours = g(x)
        ref = resnet_reference(g.state_dict(), x, num_blocks=2)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def patchgan_reference(sd: dict, x: torch.Tensor, num_layers: int, norm: str) -> torch.Tensor:
    """The official NLayerDiscriminator from key names alone: a conv/norm/LeakyReLU triple per layer."""
    h = F.leaky_relu(_conv(sd, "model.0", x, stride=2, padding=1), 0.2)
    for n in range(1, num_layers + 1):
        idx = 2 + 3 * (n - 1)
        h = _conv(sd, f"model.{idx}", h, stride=2 if n < num_layers else 1, padding=1)
        h = F.leaky_relu(_norm(sd, f"model.{idx + 1}", h, norm), 0.2)
    return _conv(sd, f"model.{2 + 3 * num_layers}", h, padding=1)


@pytest.mark.parametrize("norm,num_layers", [("instance", 3), ("batch", 3), ("batch", 2)])
def test_patchgan_matches_functional_reference(norm, num_layers):
    torch.manual_seed(0)
    d = NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=6, base_channels=4, num_layers=num_layers, norm=norm))
    _randomise_norms(d)
    d.eval()
    x = torch.randn(2, 6, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(d(x), patchgan_reference(d.state_dict(), x, num_layers, norm), atol=1e-5, rtol=0)


def unet_reference(sd: dict, x: torch.Tensor, key: str, level: int, num_downs: int, norm: str) -> torch.Tensor:
    """One official U-Net level from key names alone; level 1 is the outermost, num_downs the innermost."""
    if level == 1:
        inner = unet_reference(sd, _conv(sd, f"{key}.0", x, stride=2, padding=1), f"{key}.1.model", 2, num_downs, norm)
        return torch.tanh(_up(sd, f"{key}.3", F.relu(inner), 4))
    x = F.leaky_relu(x, 0.2)  # in place in the official block, so the skip carries it (the parent's ReLU makes that moot)
    down = _conv(sd, f"{key}.1", x, stride=2, padding=1)
    if level == num_downs:
        return torch.cat([x, _norm(sd, f"{key}.4", _up(sd, f"{key}.3", F.relu(down), 4), norm)], 1)
    inner = unet_reference(sd, _norm(sd, f"{key}.2", down, norm), f"{key}.3.model", level + 1, num_downs, norm)
    return torch.cat([x, _norm(sd, f"{key}.6", _up(sd, f"{key}.5", F.relu(inner), 4), norm)], 1)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_matches_functional_reference(norm):
    torch.manual_seed(0)
    g = UnetGenerator(UnetGeneratorConfig(in_channels=3, out_channels=3, num_downs=6, base_channels=2, norm=norm, dropout=True))
    _randomise_norms(g)
    g.eval()
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        torch.testing.assert_close(g(x), unet_reference(g.state_dict(), x, "model.model", 1, 6, norm), atol=1e-5, rtol=0)
