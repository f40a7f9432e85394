"""The CycleGAN and pix2pix networks, laid out so their state_dict keys equal those of the official checkpoints.

Layouts, key names and defaults are facts taken from junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py (``ResnetGenerator``, ``ResnetBlock``, ``UnetGenerator``,
``UnetSkipConnectionBlock``, ``NLayerDiscriminator``, ``PixelDiscriminator``, ``get_norm_layer``,
``define_G``, ``define_D``). Module attributes are named ``model``, ``conv_block`` and ``net`` as
there, and every layer sits at the same index of its ``nn.Sequential``, so an official
``latest_net_G.pth`` loads with ``strict=True`` once its stale InstanceNorm buffers are dropped.

Code names map to the official option names as: base_channels (ngf / ndf), num_blocks (n_blocks),
num_downs (num_downs), num_layers (n_layers_D), dropout (not no_dropout), padding (padding_type).

Two quirks of the official code are kept because checkpoints depend on them: a convolution followed
by a normalisation layer has a bias only with instance norm (batch norm has its own shift, and with
norm 'none' the official code also leaves the bias out), and the norm 'none' keeps an ``Identity``
in the normalisation slot so later indices do not move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.nn.blocks import check_input, check_norm, make_norm

# The official ResnetBlock names its zero padding 'zero' (padding_type), not 'zeros'.
RESNET_PADDINGS = ("reflect", "replicate", "zero")


def _conv_bias(norm: str) -> bool:
    # Official rule (networks.py, use_bias): True only when the layer after the conv is InstanceNorm2d.
    return norm == "instance"


# ----------------------------------------------------------------------------------------------
# ResNet generator (CycleGAN default: resnet_9blocks, instance norm, no dropout)


@dataclass(frozen=True)
class ResnetGeneratorConfig:
    """Options of the ResNet generator (official netG 'resnet_9blocks' / 'resnet_6blocks')."""

    in_channels: int = 3
    """Input image channels (input_nc)."""
    out_channels: int = 3
    """Output image channels (output_nc)."""
    base_channels: int = 64
    """Channels after the first 7x7 convolution; doubled by each of the two downsamplings (ngf)."""
    num_blocks: int = 9
    """Residual blocks at 1/4 resolution: 9 for resnet_9blocks, 6 for resnet_6blocks (n_blocks)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none (norm)."""
    dropout: bool = False
    """Dropout 0.5 between the two convolutions of each block; shifts the second conv's key index (not no_dropout)."""
    padding: str = "reflect"
    """Padding of the residual blocks' 3x3 convolutions: reflect, replicate or zero (padding_type)."""


class ResnetBlock(nn.Module):
    """Residual block whose ``conv_block`` holds pad, conv, norm, ReLU, [dropout], pad, conv, norm."""

    def __init__(self, channels: int, *, norm: str, dropout: bool, padding: str):
        super().__init__()
        if padding not in RESNET_PADDINGS:
            raise CimgenError(f"unknown padding '{padding}'; choose one of {', '.join(RESNET_PADDINGS)}")
        bias = _conv_bias(norm)

        def padded_conv() -> list[nn.Module]:
            # 'zero' pads inside the conv, so that block has no separate padding layer (one index fewer).
            if padding == "zero":
                return [nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=bias)]
            pad = nn.ReflectionPad2d(1) if padding == "reflect" else nn.ReplicationPad2d(1)
            return [pad, nn.Conv2d(channels, channels, kernel_size=3, bias=bias)]

        layers = [*padded_conv(), make_norm(norm, channels), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*padded_conv(), make_norm(norm, channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7x7 conv, two stride-2 convs, residual blocks, two transposed convs, 7x7 conv, tanh (Johnson et al. 2016)."""

    num_downsamplings = 2
    """Fixed in the official code (n_downsampling); input sides must be multiples of 2**2."""

    def __init__(self, config: ResnetGeneratorConfig):
        super().__init__()
        c = config
        check_norm(c.norm)
        if c.num_blocks < 0 or c.base_channels < 1 or c.in_channels < 1 or c.out_channels < 1:
            raise CimgenError("generator sizes must be positive (num_blocks may be 0)")
        self.config = c
        bias = _conv_bias(c.norm)
        ch = c.base_channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.in_channels, ch, kernel_size=7, bias=bias),
            make_norm(c.norm, ch),
            nn.ReLU(True),
        ]
        for _ in range(self.num_downsamplings):
            layers += [nn.Conv2d(ch, ch * 2, kernel_size=3, stride=2, padding=1, bias=bias), make_norm(c.norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm=c.norm, dropout=c.dropout, padding=c.padding) for _ in range(c.num_blocks)]
        for _ in range(self.num_downsamplings):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias),
                make_norm(c.norm, ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        # The last conv feeds tanh, not a norm, so it always has a bias.
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, c.out_channels, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch of images in [-1, 1].

        Args:
            x: N x in_channels x H x W, with H and W multiples of 4.

        Returns:
            N x out_channels x H x W in [-1, 1].
        """
        check_input(x, self.config.in_channels, 2**self.num_downsamplings, "ResNet generator")
        return self.model(x)


# ----------------------------------------------------------------------------------------------
# U-Net generator (pix2pix default: unet_256, batch norm, dropout)


@dataclass(frozen=True)
class UnetGeneratorConfig:
    """Options of the U-Net generator (official netG 'unet_256' / 'unet_128')."""

    in_channels: int = 3
    """Input image channels (input_nc)."""
    out_channels: int = 3
    """Output image channels (output_nc)."""
    num_downs: int = 8
    """Stride-2 levels: 8 for unet_256, 7 for unet_128; the input side must be a multiple of 2**num_downs."""
    base_channels: int = 64
    """Channels of the outermost level, doubled per level up to 8x (ngf)."""
    norm: str = "batch"
    """Normalisation layer: batch (pix2pix), instance or none (norm)."""
    dropout: bool = False
    """Dropout 0.5 in the num_downs - 5 deepest non-innermost levels; pix2pix trains with it on (not no_dropout)."""

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.num_downs


class UnetSkipBlock(nn.Module):
    """One U-Net level: down, the inner levels, up; all but the outermost concatenate their input to the output.

    The ``model`` Sequential holds, by index (official UnetSkipConnectionBlock):
    outermost: conv, inner, ReLU, transposed conv, tanh;
    middle: LeakyReLU, conv, norm, inner, ReLU, transposed conv, norm, [dropout];
    innermost: LeakyReLU, conv, ReLU, transposed conv, norm.
    """

    def __init__(
        self,
        *,
        outer_channels: int,
        inner_channels: int,
        in_channels: int | None = None,
        inner: UnetSkipBlock | None = None,
        position: str = "middle",
        norm: str = "batch",
        dropout: bool = False,
    ):
        super().__init__()
        if position not in ("outermost", "middle", "innermost"):
            raise CimgenError(f"unknown U-Net position '{position}'; choose outermost, middle or innermost")
        if (inner is None) != (position == "innermost"):
            raise CimgenError("only the innermost U-Net level has no inner level")
        self.outermost = position == "outermost"
        bias = _conv_bias(norm)
        down_in = outer_channels if in_channels is None else in_channels
        down = nn.Conv2d(down_in, inner_channels, kernel_size=4, stride=2, padding=1, bias=bias)
        # Below the innermost level nothing is concatenated, so its up path sees inner_channels only.
        up_in = inner_channels if position == "innermost" else inner_channels * 2
        if position == "outermost":
            # Feeds tanh, so the official code keeps the default bias here whatever the norm.
            up = nn.ConvTranspose2d(up_in, outer_channels, kernel_size=4, stride=2, padding=1)
            layers = [down, inner, nn.ReLU(True), up, nn.Tanh()]
        elif position == "innermost":
            up = nn.ConvTranspose2d(up_in, outer_channels, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(norm, outer_channels)]
        else:
            up = nn.ConvTranspose2d(up_in, outer_channels, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True),
                down,
                make_norm(norm, inner_channels),
                inner,
                nn.ReLU(True),
                up,
                make_norm(norm, outer_channels),
            ]
            if dropout:
                # Appended last, so it moves no parameter's index.
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # The first layer is an in-place LeakyReLU, as in the official block, so the skip carries
        # LeakyReLU(x); harmless, because the parent level applies ReLU next and ReLU(LeakyReLU(x)) = ReLU(x).
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net built from the innermost level outwards, each level nested in the ``model`` of the next."""

    def __init__(self, config: UnetGeneratorConfig):
        super().__init__()
        c = config
        check_norm(c.norm)
        # The official loop runs num_downs - 5 times, so fewer than 5 levels cannot be expressed.
        if c.num_downs < 5:
            raise CimgenError(f"the U-Net needs num_downs of at least 5, got {c.num_downs}")
        if c.base_channels < 1 or c.in_channels < 1 or c.out_channels < 1:
            raise CimgenError("generator channel counts must be positive")
        self.config = c
        b = c.base_channels
        block = UnetSkipBlock(outer_channels=b * 8, inner_channels=b * 8, position="innermost", norm=c.norm)
        for _ in range(c.num_downs - 5):
            block = UnetSkipBlock(outer_channels=b * 8, inner_channels=b * 8, inner=block, norm=c.norm, dropout=c.dropout)
        for outer, inner_ch in ((b * 4, b * 8), (b * 2, b * 4), (b, b * 2)):
            block = UnetSkipBlock(outer_channels=outer, inner_channels=inner_ch, inner=block, norm=c.norm)
        self.model = UnetSkipBlock(
            outer_channels=c.out_channels, inner_channels=b, in_channels=c.in_channels, inner=block, position="outermost", norm=c.norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch of images in [-1, 1].

        Args:
            x: N x in_channels x H x W, with H and W multiples of 2**num_downs.

        Returns:
            N x out_channels x H x W in [-1, 1].
        """
        check_input(x, self.config.in_channels, self.config.size_multiple, "U-Net generator")
        return self.model(x)


# ----------------------------------------------------------------------------------------------
# Discriminators


@dataclass(frozen=True)
class NLayerDiscriminatorConfig:
    """Options of the PatchGAN discriminator (official netD 'basic' = 3 layers, or 'n_layers')."""

    in_channels: int = 3
    """Input channels: the image (CycleGAN, 3) or input and output images stacked (pix2pix, 6) (input_nc)."""
    base_channels: int = 64
    """Channels of the first layer, doubled per layer up to 8x (ndf)."""
    num_layers: int = 3
    """Stride-2 convolutions; 3 gives the 70x70 PatchGAN (n_layers_D)."""
    norm: str = "instance"
    """Normalisation layer: instance (CycleGAN), batch (pix2pix) or none (norm)."""


class NLayerDiscriminator(nn.Module):
    """PatchGAN: conv + LeakyReLU, num_layers - 1 stride-2 conv/norm/LeakyReLU, one stride-1 such block, a 1-channel conv."""

    def __init__(self, config: NLayerDiscriminatorConfig):
        super().__init__()
        c = config
        check_norm(c.norm)
        if c.num_layers < 1 or c.base_channels < 1 or c.in_channels < 1:
            raise CimgenError("discriminator sizes must be positive")
        self.config = c
        bias = _conv_bias(c.norm)
        # 4x4 kernels with padding 1 throughout (kw, padw); the first conv has no norm after it, hence its bias.
        layers: list[nn.Module] = [nn.Conv2d(c.in_channels, c.base_channels, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        ch = c.base_channels
        for n in range(1, c.num_layers + 1):
            nxt = c.base_channels * min(2**n, 8)
            stride = 2 if n < c.num_layers else 1
            layers += [
                nn.Conv2d(ch, nxt, kernel_size=4, stride=stride, padding=1, bias=bias),
                make_norm(c.norm, nxt),
                nn.LeakyReLU(0.2, True),
            ]
            ch = nxt
        layers.append(nn.Conv2d(ch, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score every patch of the input.

        Args:
            x: N x in_channels x H x W.

        Returns:
            N x 1 x h x w raw scores (no sigmoid; the loss applies it).
        """
        check_input(x, self.config.in_channels, 1, "PatchGAN discriminator")
        return self.model(x)


@dataclass(frozen=True)
class PixelDiscriminatorConfig:
    """Options of the 1x1 PatchGAN discriminator (official netD 'pixel')."""

    in_channels: int = 3
    """Input channels (input_nc)."""
    base_channels: int = 64
    """Channels of the first 1x1 convolution; the second has twice as many (ndf)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none (norm)."""


class PixelDiscriminator(nn.Module):
    """PixelGAN: three 1x1 convolutions, so every pixel is judged on its own colour."""

    def __init__(self, config: PixelDiscriminatorConfig):
        super().__init__()
        c = config
        check_norm(c.norm)
        if c.base_channels < 1 or c.in_channels < 1:
            raise CimgenError("discriminator sizes must be positive")
        self.config = c
        bias = _conv_bias(c.norm)
        b = c.base_channels
        # Unlike NLayerDiscriminator, the official last conv here also follows the norm's bias rule.
        self.net = nn.Sequential(
            nn.Conv2d(c.in_channels, b, kernel_size=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(b, b * 2, kernel_size=1, bias=bias),
            make_norm(c.norm, b * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(b * 2, 1, kernel_size=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score every pixel of the input.

        Args:
            x: N x in_channels x H x W.

        Returns:
            N x 1 x H x W raw scores.
        """
        check_input(x, self.config.in_channels, 1, "pixel discriminator")
        return self.net(x)


# ----------------------------------------------------------------------------------------------
# Registries by the official names (networks.py, define_G's netG and define_D's netD)


def resnet_9blocks(
    *, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, norm: str = "instance", dropout: bool = False
) -> ResnetGenerator:
    """The CycleGAN generator: ResNet with 9 blocks."""
    return ResnetGenerator(
        ResnetGeneratorConfig(
            in_channels=in_channels, out_channels=out_channels, base_channels=base_channels, num_blocks=9, norm=norm, dropout=dropout
        )
    )


def resnet_6blocks(
    *, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, norm: str = "instance", dropout: bool = False
) -> ResnetGenerator:
    """ResNet generator with 6 blocks (the paper's choice for 128x128 images)."""
    return ResnetGenerator(
        ResnetGeneratorConfig(
            in_channels=in_channels, out_channels=out_channels, base_channels=base_channels, num_blocks=6, norm=norm, dropout=dropout
        )
    )


def unet_256(
    *, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, norm: str = "batch", dropout: bool = False
) -> UnetGenerator:
    """The pix2pix generator: U-Net with 8 levels (256 -> 1 pixel at the bottleneck)."""
    return UnetGenerator(
        UnetGeneratorConfig(
            in_channels=in_channels, out_channels=out_channels, num_downs=8, base_channels=base_channels, norm=norm, dropout=dropout
        )
    )


def unet_128(
    *, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, norm: str = "batch", dropout: bool = False
) -> UnetGenerator:
    """U-Net with 7 levels, for 128x128 images."""
    return UnetGenerator(
        UnetGeneratorConfig(
            in_channels=in_channels, out_channels=out_channels, num_downs=7, base_channels=base_channels, norm=norm, dropout=dropout
        )
    )


def basic(*, in_channels: int = 3, base_channels: int = 64, norm: str = "instance") -> NLayerDiscriminator:
    """The 70x70 PatchGAN (3 layers)."""
    return NLayerDiscriminator(NLayerDiscriminatorConfig(in_channels=in_channels, base_channels=base_channels, num_layers=3, norm=norm))


def n_layers(*, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3, norm: str = "instance") -> NLayerDiscriminator:
    """PatchGAN with a chosen number of stride-2 layers (n_layers_D)."""
    return NLayerDiscriminator(
        NLayerDiscriminatorConfig(in_channels=in_channels, base_channels=base_channels, num_layers=num_layers, norm=norm)
    )


def pixel(*, in_channels: int = 3, base_channels: int = 64, norm: str = "instance") -> PixelDiscriminator:
    """The 1x1 PatchGAN (pixelGAN)."""
    return PixelDiscriminator(PixelDiscriminatorConfig(in_channels=in_channels, base_channels=base_channels, norm=norm))


GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks": resnet_9blocks,
    "resnet_6blocks": resnet_6blocks,
    "unet_128": unet_128,
    "unet_256": unet_256,
}

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "basic": basic,
    "n_layers": n_layers,
    "pixel": pixel,
}


def build_generator(name: str, **options) -> nn.Module:
    """A generator by its official netG name.

    Args:
        name: One of ``GENERATORS``.
        **options: Keyword arguments of that constructor (in_channels, out_channels, base_channels, norm, dropout).

    Returns:
        The freshly initialised module.
    """
    if name not in GENERATORS:
        raise CimgenError(f"unknown generator '{name}'; choose one of {', '.join(GENERATORS)}")
    return GENERATORS[name](**options)


def build_discriminator(name: str, **options) -> nn.Module:
    """A discriminator by its official netD name.

    Args:
        name: One of ``DISCRIMINATORS``.
        **options: Keyword arguments of that constructor (in_channels, base_channels, norm; num_layers for n_layers).

    Returns:
        The freshly initialised module.
    """
    if name not in DISCRIMINATORS:
        raise CimgenError(f"unknown discriminator '{name}'; choose one of {', '.join(DISCRIMINATORS)}")
    return DISCRIMINATORS[name](**options)


@dataclass(frozen=True)
class NetworkConfig:
    """A network from ``cimgen.models.cyclegan``'s registries, by name, with its constructor's options."""

    name: str = ""
    """Registry name: GENERATORS (resnet_9blocks, resnet_6blocks, unet_128, unet_256) or DISCRIMINATORS (basic, n_layers, pixel)."""
    options: dict = field(default_factory=dict)
    """Keyword arguments of that constructor; the resolved config lists every one, defaults included."""


def build_network(kind: str, spec: NetworkConfig) -> nn.Module:
    """The generator or discriminator a spec names, freshly initialised by its constructor."""
    build = build_generator if kind == "generator" else build_discriminator
    try:
        return build(spec.name, **spec.options)
    except TypeError as e:  # a checkpoint or hand-made config with options the constructor does not take
        raise CimgenError(f"the {kind} options do not fit {spec.name} ({e})") from None


def size_multiple(generator: nn.Module) -> int:
    """The number the generator's input height and width must be multiples of."""
    multiple = getattr(getattr(generator, "config", None), "size_multiple", None)
    if multiple:
        return int(multiple)
    return 2 ** int(getattr(generator, "num_downsamplings", 0))
