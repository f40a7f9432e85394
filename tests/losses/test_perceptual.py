"""pix2pixHD's VGG loss: layer weights, detached targets, the optional ImageNet normalisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError
from cimgen.losses.perceptual import IMAGENET_MEAN, IMAGENET_STD, VGG_LAYER_WEIGHTS, PerceptualLoss, perceptual_loss
from cimgen.models.vgg import VGG19


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return VGG19().eval().requires_grad_(False)


def test_weighted_l1_of_five_activations(vgg):
    torch.manual_seed(1)
    fake, real = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    want = sum(w * (f - r).abs().mean() for w, f, r in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0), vgg(fake), vgg(real)))
    loss = PerceptualLoss(vgg)
    assert loss(fake, real).item() == pytest.approx(want.item(), rel=1e-5)
    assert loss(real, real).item() == 0.0
    assert VGG_LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def test_gradients_reach_the_fake_only(vgg):
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    real = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = PerceptualLoss(vgg)
    loss.train()  # the VGG inside stays in eval mode
    assert not loss.vgg.training
    loss(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None
    assert all(p.grad is None for p in vgg.parameters())


def test_imagenet_normalisation_is_optional(vgg):
    fake, real = torch.rand(1, 3, 16, 16) * 2 - 1, torch.zeros(1, 3, 16, 16)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def norm(x):
        return ((x + 1) / 2 - mean) / std

    got = perceptual_loss(vgg, fake, real, normalize=True)
    assert got.item() == pytest.approx(perceptual_loss(vgg, norm(fake), norm(real)).item(), rel=1e-5)
    assert got.item() != pytest.approx(perceptual_loss(vgg, fake, real).item(), rel=1e-3)
    one = perceptual_loss(vgg, fake, real, layer_weights=(1, 0, 0, 0, 0))
    assert one.item() == pytest.approx(F.l1_loss(vgg(fake)[0], vgg(real)[0]).item(), rel=1e-5)


def test_shape_errors(vgg):
    with pytest.raises(CimgenError, match="two N x 3 x H x W batches"):
        perceptual_loss(vgg, torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(CimgenError, match="2 layer weights for 5 VGG activations"):
        perceptual_loss(vgg, torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16), layer_weights=(1, 1))
    with pytest.raises(CimgenError, match="at least 16x16 pixels, got 12x8"):
        perceptual_loss(vgg, torch.zeros(1, 3, 8, 12), torch.zeros(1, 3, 8, 12))
