"""Adversarial objectives: each mode's D and G formulas on hand-made scores, multi-scale forms, float32 under bf16."""

from __future__ import annotations

import math

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.losses.adversarial import GAN_LOSSES, GAN_MODES, discriminator_loss, gan_loss, generator_loss, score_maps

SCORES = torch.tensor([[-2.0, -0.5], [0.5, 3.0]]).view(1, 1, 2, 2)
VALUES = [-2.0, -0.5, 0.5, 3.0]


def mean(xs):
    return sum(xs) / len(xs)


def softplus(x):
    return math.log1p(math.exp(x))


# Closed forms per mode: (D on real, D on fake, G), each a mean over the four scores.
EXPECTED = {
    "lsgan": (mean([(s - 1) ** 2 for s in VALUES]), mean([s**2 for s in VALUES]), mean([(s - 1) ** 2 for s in VALUES])),
    # BCE with logits: -log sigmoid(s) = softplus(-s) for real, -log(1 - sigmoid(s)) = softplus(s) for fake.
    "vanilla": (mean([softplus(-s) for s in VALUES]), mean([softplus(s) for s in VALUES]), mean([softplus(-s) for s in VALUES])),
    "wgangp": (-mean(VALUES), mean(VALUES), -mean(VALUES)),
    "hinge": (mean([max(0.0, 1 - s) for s in VALUES]), mean([max(0.0, 1 + s) for s in VALUES]), -mean(VALUES)),
}


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_mode_matches_its_formula_on_both_sides(mode):
    d_real, d_fake, g = EXPECTED[mode]
    assert discriminator_loss(SCORES, True, mode=mode).item() == pytest.approx(d_real, rel=1e-6)
    assert discriminator_loss(SCORES, False, mode=mode).item() == pytest.approx(d_fake, rel=1e-6)
    assert generator_loss(SCORES, mode=mode).item() == pytest.approx(g, rel=1e-6)


def test_hinge_values_by_hand():
    # relu(1 - s): 3, 1.5, 0.5, 0 -> 1.25; relu(1 + s): 0, 0.5, 1.5, 4 -> 1.5; G: -(1/4) = -0.25.
    assert discriminator_loss(SCORES, True, mode="hinge").item() == pytest.approx(1.25)
    assert discriminator_loss(SCORES, False, mode="hinge").item() == pytest.approx(1.5)
    assert generator_loss(SCORES, mode="hinge").item() == pytest.approx(-0.25)
    assert set(GAN_MODES) == {"lsgan", "vanilla", "wgangp", "hinge"}


def test_multiscale_outputs_sum_the_last_map_of_each_scale():
    features = torch.full((1, 2, 4, 4), 7.0)  # intermediate layers must be ignored
    nested = [[features, SCORES], [features, SCORES * 2]]
    flat = [SCORES, SCORES * 2]
    for mode in GAN_MODES:
        want = discriminator_loss(SCORES, False, mode=mode) + discriminator_loss(SCORES * 2, False, mode=mode)
        assert torch.allclose(discriminator_loss(nested, False, mode=mode), want)
        assert torch.allclose(discriminator_loss(flat, False, mode=mode), want)
        assert torch.allclose(generator_loss(nested, mode=mode), generator_loss(SCORES, mode=mode) + generator_loss(SCORES * 2, mode=mode))
    assert len(score_maps(nested)) == 2 and score_maps(SCORES)[0] is SCORES


def test_gan_loss_keeps_its_old_meaning():
    ones = [[torch.ones(1, 2, 4, 4), torch.ones(1, 1, 4, 4)]] * 2
    assert gan_loss(ones, True).item() == pytest.approx(0.0)
    assert gan_loss(ones, False).item() == pytest.approx(2.0)
    assert gan_loss(ones, True, mode="vanilla").item() == pytest.approx(2 * softplus(-1.0), rel=1e-6)
    assert set(GAN_LOSSES) == {"lsgan", "vanilla"}
    for mode, fn in GAN_LOSSES.items():
        assert fn(SCORES, True).item() == pytest.approx(EXPECTED[mode][0], rel=1e-6)


def test_losses_are_float32_for_bf16_scores_and_carry_gradients():
    pred = SCORES.clone().to(torch.bfloat16).requires_grad_(True)
    for mode in GAN_MODES:
        loss = discriminator_loss(pred, True, mode=mode) + generator_loss(pred, mode=mode)
        assert loss.dtype == torch.float32
        (grad,) = torch.autograd.grad(loss, pred)
        assert grad.dtype == torch.bfloat16 and torch.isfinite(grad.float()).all()


def test_bad_modes_and_outputs_are_one_sentence_errors():
    with pytest.raises(CimgenError, match="unknown GAN loss 'hinge2'; choose one of lsgan, vanilla, wgangp, hinge"):
        generator_loss(SCORES, mode="hinge2")
    with pytest.raises(CimgenError, match="unknown GAN loss"):
        gan_loss([[SCORES]], True, mode="wgan")
    with pytest.raises(CimgenError, match="non-empty list"):
        discriminator_loss([], True)
    with pytest.raises(CimgenError, match="each scale"):
        discriminator_loss([[]], True)
