"""VGG19's convolutional part with torchvision's parameter names, built from torchvision's weights file.

Layout facts: torchvision ``models/vgg.py`` builds VGG19 from configuration "E" (channels 64, 64,
M, 128, 128, M, 256 x 4, M, 512 x 4, M, 512 x 4, M; 3x3 convolutions with padding 1, ReLU after
each, 2x2 max pooling at M), so the ``features`` Sequential has 37 layers and its convolutions
sit at indices 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34 (keys
``features.0.weight`` ... ``features.34.bias``; 20,024,384 parameters). Its ImageNet weights are
published as ``vgg19-dcbb9e9d.pth``, a plain state dict that also holds ``classifier.*``.

The perceptual loss reads five activations, cut where NVIDIA/pix2pixHD's ``Vgg19`` cuts
(``models/networks.py``): relu1_1 = features[:2], relu2_1 = [2:7], relu3_1 = [7:12],
relu4_1 = [12:21], relu5_1 = [21:30]. Nothing is ever downloaded: the file has to be on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import state_dict_mismatch
from cimgen.io.weights import read_vgg19_state_dict

VGG19_FILE = "vgg19-dcbb9e9d.pth"
"""torchvision's name for the ImageNet VGG19 weights (the hash prefix is part of the name)."""
ENV_WEIGHTS = "CIMGEN_VGG19_WEIGHTS"
"""Environment variable naming the weights file; searched first."""
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
"""Where torchvision publishes the file (for the error message; cimgen never fetches it)."""

# torchvision cfgs["E"]: output channels of each 3x3 convolution, "M" for a 2x2 max pooling.
VGG19_LAYOUT: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
RELU_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Cut points of pix2pixHD's Vgg19 slices (half-open index ranges into ``features``).
RELU_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))


class VGG19(nn.Module):
    """VGG19 ``features`` (convolutions, ReLUs, max pooling), returning the activations the perceptual loss reads.

    The classifier is left out; a loaded network is frozen (see ``load_vgg19``).
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 activations of an image batch.

        Args:
            x: N x 3 x H x W (pix2pixHD feeds images in [-1, 1] as they are; see ``PerceptualLoss``).

        Returns:
            Five tensors with 64, 128, 256, 512 and 512 channels at 1, 1/2, 1/4, 1/8 and 1/16 of the input size.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise CimgenError(f"VGG19 expects N x 3 x H x W input, got {tuple(x.shape)}")
        if min(x.shape[2:]) < 16:
            # relu5_1 comes after four 2x2 poolings.
            raise CimgenError(f"VGG19 needs images of at least 16x16 pixels, got {x.shape[3]}x{x.shape[2]}")
        outputs = []
        for start, stop in RELU_SLICES:
            # Layers 30..36 (relu5_2 onwards) feed nothing the loss reads, so they are never run.
            for layer in self.features[start:stop]:
                x = layer(x)
            outputs.append(x)
        return outputs


def vgg19_candidate_paths() -> list[Path]:
    """The places searched for weights when none is named, in order.

    $CIMGEN_VGG19_WEIGHTS; torch's hub cache, where torchvision keeps the file
    ($TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch or ~/.cache/torch,
    as ``torch.hub`` resolves it); cimgen's cache (~/.cache/cimgen).
    """
    places: list[Path] = []
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        places.append(Path(env).expanduser())
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    torch_home = Path(os.environ.get("TORCH_HOME", cache / "torch")).expanduser()
    places.append(torch_home / "hub" / "checkpoints" / VGG19_FILE)
    places.append(Path("~/.cache/cimgen").expanduser() / VGG19_FILE)
    return places


def find_vgg19_weights(path: str | Path | None = None) -> Path | None:
    """The VGG19 weights file to use: ``path`` when given (it must exist), else the first existing candidate, else None.

    A file named by $CIMGEN_VGG19_WEIGHTS must exist too: naming a file and silently training
    without it would hide the mistake.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise CimgenError(f"VGG19 weights file {p} does not exist")
        return p
    env = os.environ.get(ENV_WEIGHTS)
    if env and not Path(env).expanduser().is_file():
        raise CimgenError(f"${ENV_WEIGHTS} names {env}, which is not a file")
    for p in vgg19_candidate_paths():
        if p.is_file():
            return p
    return None


def load_vgg19(path: str | Path | None = None) -> VGG19:
    """torchvision's ImageNet VGG19 features, loaded strictly, frozen and in eval mode.

    Args:
        path: the weights file; None searches ``vgg19_candidate_paths()``.

    Returns:
        A VGG19 on the CPU whose parameters do not require gradients.
    """
    found = find_vgg19_weights(path)
    if found is None:
        looked = "; ".join(str(p) for p in vgg19_candidate_paths())
        if not os.environ.get(ENV_WEIGHTS):
            looked = f"${ENV_WEIGHTS} (unset); {looked}"
        raise CimgenError(
            f"no VGG19 weights found; put torchvision's {VGG19_FILE} ({VGG19_URL}) in one of these places "
            f"or name it with ${ENV_WEIGHTS}. Looked in: {looked}"
        )
    return vgg19_from_state_dict(read_vgg19_state_dict(found), source=str(found))


def vgg19_from_state_dict(tensors: dict[str, torch.Tensor], *, source: str) -> VGG19:
    """A VGG19 holding ``tensors`` (torchvision's ``features.*`` names), loaded strictly, frozen and in eval mode.

    Args:
        tensors: the ``features.*`` tensors, e.g. from ``cimgen.io.weights.read_vgg19_state_dict``.
        source: where they came from, for the error when they do not fit.
    """
    model = VGG19()
    problem = state_dict_mismatch(model.state_dict(), tensors)
    if problem:
        raise CimgenError(f"{source} is not torchvision VGG19 weights: {problem}")
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model.eval().requires_grad_(False)
