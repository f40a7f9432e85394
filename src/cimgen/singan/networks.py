"""The per-scale networks of SinGAN: a fully convolutional generator that adds detail to its input, and a
Markovian (patch) discriminator; module names and initialisation follow tamarott/SinGAN ``models.py``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Sequential):
    """Convolution (no padding), batch norm and LeakyReLU(0.2)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, kernel, stride=1, padding=0))
        self.add_module("norm", nn.BatchNorm2d(cout))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


def init_weights(module: nn.Module) -> None:
    """SinGAN's ``weights_init``: convolutions N(0, 0.02), norm weights N(1, 0.02) and biases 0."""
    if isinstance(module, nn.Conv2d):
        module.weight.data.normal_(0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        module.weight.data.normal_(1.0, 0.02)
        module.bias.data.fill_(0)


class ScaleGenerator(nn.Module):
    """G_n: ``tanh(convs(pad(x))) + prev``, where ``x`` is the noisy input and ``prev`` the upsampled coarser output."""

    def __init__(self, channels: int, num_layer: int, kernel: int) -> None:
        super().__init__()
        self.pad = num_layer * (kernel - 1) // 2
        self.head = ConvBlock(3, channels, kernel)
        self.body = nn.Sequential()
        for i in range(num_layer - 2):
            self.body.add_module(f"block{i + 1}", ConvBlock(channels, channels, kernel))
        self.tail = nn.Sequential(nn.Conv2d(channels, 3, kernel, stride=1, padding=0), nn.Tanh())

    def forward(self, x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        out = self.tail(self.body(self.head(F.pad(x, [self.pad] * 4))))
        return out.float() + prev


class ScaleDiscriminator(nn.Module):
    """D_n: an unpadded patch critic; its output map is ``2 * pad`` pixels smaller than its input."""

    def __init__(self, channels: int, num_layer: int, kernel: int) -> None:
        super().__init__()
        self.head = ConvBlock(3, channels, kernel)
        self.body = nn.Sequential()
        for i in range(num_layer - 2):
            self.body.add_module(f"block{i + 1}", ConvBlock(channels, channels, kernel))
        self.tail = nn.Conv2d(channels, 1, kernel, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x))).float()


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float, generator: torch.Generator) -> torch.Tensor:
    """SinGAN's ``calc_gradient_penalty``: one random mix of real and fake, the gradient's norm over channels at every pixel."""
    a = torch.rand((), generator=generator, device="cpu").to(real.device)
    mixed = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    out = netD(mixed)
    (grad,) = torch.autograd.grad(out, mixed, grad_outputs=torch.ones_like(out), create_graph=True)
    return weight * ((grad.norm(2, dim=1) - 1) ** 2).mean()
