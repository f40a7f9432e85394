"""Small building blocks shared by the architectures."""

from __future__ import annotations

import torch
from torch import nn

from cimgen.errors import CimgenError

NORMS = {
    "instance": lambda ch: nn.InstanceNorm2d(ch, affine=False),
    "batch": lambda ch: nn.BatchNorm2d(ch, affine=True),
    "none": lambda ch: nn.Identity(),
}

PADDINGS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}


def check_norm(name: str) -> None:
    """Raise one sentence unless ``name`` is a key of ``NORMS``."""
    if name not in NORMS:
        raise CimgenError(f"unknown norm '{name}'; choose one of {', '.join(NORMS)}")


def make_norm(name: str, channels: int) -> nn.Module:
    """A normalisation layer by name (see ``NORMS``)."""
    check_norm(name)
    return NORMS[name](channels)


def check_input(x, channels: int, multiple: int, what: str) -> None:
    """Raise one sentence unless ``x`` is N x channels x H x W with H and W multiples of ``multiple``."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise CimgenError(f"the {what} expects N x {channels} x H x W input, got {tuple(x.shape)}")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise CimgenError(f"the {what} needs height and width that are multiples of {multiple}, got {x.shape[3]}x{x.shape[2]}")


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with normalisation and a skip connection (pad, conv, norm, ReLU, pad, conv, norm)."""

    def __init__(self, channels: int, *, norm: str = "instance", padding: str = "reflect"):
        super().__init__()
        if padding not in (*PADDINGS, "zeros"):
            raise CimgenError(f"unknown padding '{padding}'; choose reflect, replicate or zeros")

        def pad_conv() -> list[nn.Module]:
            if padding == "zeros":
                return [nn.Conv2d(channels, channels, 3, padding=1)]
            return [PADDINGS[padding](1), nn.Conv2d(channels, channels, 3)]

        # Named conv_block as in NVIDIA/pix2pixHD and junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py),
        # so that official checkpoints load without renaming (keys ``<i>.conv_block.1.weight`` / ``.5.weight``).
        self.conv_block = nn.Sequential(*pad_conv(), make_norm(norm, channels), nn.ReLU(True), *pad_conv(), make_norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)
