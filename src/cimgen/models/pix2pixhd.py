"""pix2pixHD's global generator and multi-scale PatchGAN discriminator (Wang et al., CVPR 2018).

Defaults follow the official NVIDIA/pix2pixHD options: ngf=64, n_downsample_global=4,
n_blocks_global=9, instance norm, reflect padding; ndf=64, n_layers_D=3, num_D=2.
Code names map to the official option names as: base_channels (ngf / ndf),
num_downsamplings (n_downsample_global), num_blocks (n_blocks_global),
num_layers (n_layers_D), num_discriminators (num_D).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.nn.blocks import ResnetBlock, make_norm


@dataclass(frozen=True)
class GlobalGeneratorConfig:
    """Options of the global generator."""

    in_channels: int = 35
    """Input channels: label classes (one-hot), plus 1 when an instance edge map is given."""
    out_channels: int = 3
    """Output image channels."""
    base_channels: int = 64
    """Channels after the first convolution; doubled at each downsampling (ngf)."""
    num_downsamplings: int = 4
    """Stride-2 convolutions in the front end (n_downsample_global)."""
    num_blocks: int = 9
    """Residual blocks at the lowest resolution (n_blocks_global)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none."""
    padding: str = "reflect"
    """Padding mode of the residual blocks: reflect, replicate or zeros."""

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.num_downsamplings


class GlobalGenerator(nn.Module):
    """Conv front end, stride-2 downsamplings, residual blocks, transposed-conv back end, tanh."""

    def __init__(self, config: GlobalGeneratorConfig):
        super().__init__()
        c = config
        if c.num_downsamplings < 0 or c.num_blocks < 0 or c.base_channels < 1:
            raise CimgenError("generator sizes must be non-negative and base_channels at least 1")
        self.config = c
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.in_channels, c.base_channels, kernel_size=7),
            make_norm(c.norm, c.base_channels),
            nn.ReLU(True),
        ]
        ch = c.base_channels
        for _ in range(c.num_downsamplings):
            layers += [nn.Conv2d(ch, ch * 2, kernel_size=3, stride=2, padding=1), make_norm(c.norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm=c.norm, padding=c.padding) for _ in range(c.num_blocks)]
        for _ in range(c.num_downsamplings):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, kernel_size=3, stride=2, padding=1, output_padding=1),
                make_norm(c.norm, ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, c.out_channels, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.config.size_multiple
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise CimgenError(f"the generator expects N x {self.config.in_channels} x H x W input, got {tuple(x.shape)}")
        if x.shape[2] % m or x.shape[3] % m:
            raise CimgenError(f"the generator needs height and width that are multiples of {m}, got {x.shape[3]}x{x.shape[2]}")
        return self.model(x)


@dataclass(frozen=True)
class MultiscaleDiscriminatorConfig:
    """Options of the multi-scale PatchGAN discriminator."""

    in_channels: int = 38
    """Input channels: the generator's input channels plus the image channels (conditional D)."""
    base_channels: int = 64
    """Channels of the first layer, doubled per layer up to 512 (ndf)."""
    num_layers: int = 3
    """Stride-2 layers of each PatchGAN (n_layers_D)."""
    num_discriminators: int = 2
    """Number of scales; each one sees the input average-pooled once more (num_D)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none."""


class NLayerDiscriminator(nn.Module):
    """A PatchGAN that returns the output of every layer, for feature matching."""

    def __init__(self, in_channels: int, base_channels: int, num_layers: int, norm: str):
        super().__init__()
        k, pad = 4, math.ceil((4 - 1) / 2)
        blocks: list[nn.Sequential] = [nn.Sequential(nn.Conv2d(in_channels, base_channels, k, 2, pad), nn.LeakyReLU(0.2, True))]
        ch = base_channels
        for _ in range(1, num_layers):
            nxt = min(ch * 2, 512)
            blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, k, 2, pad), make_norm(norm, nxt), nn.LeakyReLU(0.2, True)))
            ch = nxt
        nxt = min(ch * 2, 512)
        blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, k, 1, pad), make_norm(norm, nxt), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(nxt, 1, k, 1, pad)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_discriminators`` PatchGANs on successively 2x average-pooled copies of the input."""

    def __init__(self, config: MultiscaleDiscriminatorConfig):
        super().__init__()
        c = config
        self.config = c
        self.discriminators = nn.ModuleList(
            NLayerDiscriminator(c.in_channels, c.base_channels, c.num_layers, c.norm) for _ in range(c.num_discriminators)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale (finest first), the list of layer outputs; the last one is the patch score map."""
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise CimgenError(f"the discriminator expects N x {self.config.in_channels} x H x W input, got {tuple(x.shape)}")
        outs = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.downsample(x)
            outs.append(d(x))
        return outs
