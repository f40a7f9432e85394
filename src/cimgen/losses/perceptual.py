"""pix2pixHD's VGG perceptual loss: weighted L1 between VGG19 activations of generated and real images.

Facts from NVIDIA/pix2pixHD ``models/networks.py`` (``VGGLoss``, ``Vgg19``): activations relu1_1,
relu2_1, relu3_1, relu4_1 and relu5_1, weighted 1/32, 1/16, 1/8, 1/4 and 1; the real image's
activations are detached; and the generator's [-1, 1] output goes into VGG19 as it is, without
the ImageNet mean/std normalisation the weights were trained with. cimgen follows that by
default so that loss values and lambda_feat (10) mean what they mean there; ``normalize=True``
maps [-1, 1] to ImageNet statistics first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cimgen.errors import CimgenError
from cimgen.models.vgg import VGG19

VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
"""pix2pixHD's weights of relu1_1 ... relu5_1."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""torchvision's ImageNet channel means (for images in [0, 1])."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet channel standard deviations."""


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> (x01 - mean) / std with ImageNet statistics, the input VGG19 was trained on."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1.0) * 0.5 - mean) / std


def perceptual_loss(
    vgg: nn.Module,
    fake: torch.Tensor,
    real: torch.Tensor,
    *,
    layer_weights: Sequence[float] = VGG_LAYER_WEIGHTS,
    normalize: bool = False,
) -> torch.Tensor:
    """Sum over VGG layers of weight * mean |vgg(fake) - vgg(real)|, with real's activations detached.

    Args:
        vgg: a network returning the list of activations (``VGG19``), usually frozen.
        fake: N x 3 x H x W generated images in [-1, 1]; gradients flow back into them.
        real: the target images, same shape.
        layer_weights: one weight per returned activation.
        normalize: apply ImageNet normalisation first (pix2pixHD does not).

    Returns:
        A float32 scalar (multiply by lambda_feat outside; pix2pixHD uses 10).
    """
    if fake.shape != real.shape or fake.ndim != 4 or fake.shape[1] != 3:
        raise CimgenError(f"the perceptual loss compares two N x 3 x H x W batches, got {tuple(fake.shape)} and {tuple(real.shape)}")
    if normalize:
        fake, real = imagenet_normalize(fake), imagenet_normalize(real)
    fake_feats = vgg(fake)
    with torch.no_grad():  # the same as pix2pixHD's detach, without keeping real's graph
        real_feats = vgg(real)
    if len(fake_feats) != len(layer_weights):
        raise CimgenError(f"the perceptual loss has {len(layer_weights)} layer weights for {len(fake_feats)} VGG activations")
    loss = fake.new_zeros((), dtype=torch.float32)
    for w, f, r in zip(layer_weights, fake_feats, real_feats):
        loss = loss + w * F.l1_loss(f.float(), r.float())
    return loss


class PerceptualLoss(nn.Module):
    """``perceptual_loss`` as a module holding its frozen VGG19, so that ``.to(device)`` moves the network.

    Args:
        vgg: the activations network, e.g. ``cimgen.models.vgg.load_vgg19()``.
        layer_weights: one weight per activation (pix2pixHD's by default).
        normalize: apply ImageNet normalisation to the [-1, 1] inputs (off, as in pix2pixHD).
    """

    def __init__(self, vgg: VGG19, *, layer_weights: Sequence[float] = VGG_LAYER_WEIGHTS, normalize: bool = False):
        super().__init__()
        self.vgg = vgg.eval().requires_grad_(False)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.normalize = normalize

    def train(self, mode: bool = True) -> PerceptualLoss:
        # The VGG stays in eval mode whatever its owner does, like a frozen feature extractor should.
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The weighted L1 between activations of ``fake`` and ``real`` (see ``perceptual_loss``)."""
        return perceptual_loss(self.vgg, fake, real, layer_weights=self.layer_weights, normalize=self.normalize)
