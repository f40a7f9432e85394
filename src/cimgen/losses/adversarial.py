"""Adversarial objectives (LSGAN, vanilla, WGAN-GP, hinge) over one score map or multi-scale discriminator outputs.

Facts: lsgan and vanilla are junyanz/pytorch-CycleGAN-and-pix2pix ``GANLoss`` (MSE to 1/0;
binary cross-entropy on logits) and NVIDIA/pix2pixHD's ``GANLoss`` (which sums over the
scales of a multi-scale discriminator, using the last output of each). wgangp is junyanz's
``gan_mode='wgangp'``: -mean(real) and mean(fake) for D, -mean(fake) for G (the gradient
penalty is separate, ``cimgen.losses.gradient_penalty``). hinge is the SAGAN/SPADE hinge loss:
mean(relu(1 - real)) and mean(relu(1 + fake)) for D, -mean(fake) for G.

Every loss is computed in (at least) float32, so that bf16/fp16 scores from autocast do not lose the
small differences the objective lives on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError

# One score map, one score map per scale, or per scale the list of layer outputs (the last is the score map).
Scores = torch.Tensor | Sequence[torch.Tensor | Sequence[torch.Tensor]]


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is a 16-bit float (autocast output); float32 and float64 stay as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _lsgan(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    pred = at_least_float32(pred)
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))


def _vanilla(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    pred = at_least_float32(pred)
    return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))


def _wgan(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    pred = at_least_float32(pred)
    return -pred.mean() if target_is_real else pred.mean()


def _hinge(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    pred = at_least_float32(pred)
    return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()


def _raise_scores(pred: torch.Tensor) -> torch.Tensor:
    # The generator's side of the WGAN and hinge objectives: push the critic's scores up without a margin.
    return -at_least_float32(pred).mean()


def _lsgan_g(pred: torch.Tensor) -> torch.Tensor:
    return _lsgan(pred, True)


def _vanilla_g(pred: torch.Tensor) -> torch.Tensor:
    # The non-saturating form (-log D(G(z))) that junyanz and pix2pixHD use, not the minimax log(1 - D(G(z))).
    return _vanilla(pred, True)


@dataclass(frozen=True)
class GanObjective:
    """The two sides of one adversarial objective, each on a single score map."""

    discriminator: Callable[[torch.Tensor, bool], torch.Tensor]
    """D's loss on scores that should say real (True) or fake (False)."""
    generator: Callable[[torch.Tensor], torch.Tensor]
    """G's loss on D's scores of generated images."""


GAN_MODES: dict[str, GanObjective] = {
    "lsgan": GanObjective(discriminator=_lsgan, generator=_lsgan_g),
    "vanilla": GanObjective(discriminator=_vanilla, generator=_vanilla_g),
    "wgangp": GanObjective(discriminator=_wgan, generator=_raise_scores),
    "hinge": GanObjective(discriminator=_hinge, generator=_raise_scores),
}
"""Every adversarial objective by name; recipes validate their ``loss.gan`` option against it."""

# The original pair, kept for callers that index it: modes whose generator loss is the
# discriminator's loss with the target "real" (pix2pixHD's lsgan and vanilla).
GAN_LOSSES = {"lsgan": _lsgan, "vanilla": _vanilla}


def _objective(mode: str) -> GanObjective:
    if mode not in GAN_MODES:
        raise CimgenError(f"unknown GAN loss '{mode}'; choose one of {', '.join(GAN_MODES)}")
    return GAN_MODES[mode]


def score_maps(pred: Scores) -> list[torch.Tensor]:
    """The score maps in a discriminator's output: the tensor itself, or the last output of each scale.

    Args:
        pred: a score map (CycleGAN/pix2pix PatchGAN); a list with one score map per scale; or
            per scale the list of layer outputs, whose last element is the score map (pix2pixHD).
    """
    if isinstance(pred, torch.Tensor):
        return [pred]
    if not isinstance(pred, (list, tuple)) or not pred:
        raise CimgenError(f"discriminator output must be a tensor or a non-empty list of scales, got {type(pred).__name__}")
    maps = []
    for scale in pred:
        if isinstance(scale, (list, tuple)) and scale and isinstance(scale[-1], torch.Tensor):
            maps.append(scale[-1])
        elif isinstance(scale, torch.Tensor):
            maps.append(scale)
        else:
            raise CimgenError("each scale of a discriminator output must be a score map or a non-empty list ending in one")
    return maps


def discriminator_loss(pred: Scores, target_is_real: bool, *, mode: str = "lsgan") -> torch.Tensor:
    """D's loss for scores that should say real or fake, summed over scales (as pix2pixHD sums them).

    Args:
        pred: discriminator output (see ``score_maps``).
        target_is_real: whether these scores belong to real images.
        mode: a key of ``GAN_MODES``.

    Returns:
        A scalar, float32 for 16-bit scores.
    """
    fn = _objective(mode).discriminator
    return sum(fn(m, target_is_real) for m in score_maps(pred))


def generator_loss(pred: Scores, *, mode: str = "lsgan") -> torch.Tensor:
    """G's loss on D's scores of generated images, summed over scales.

    For lsgan and vanilla it equals ``discriminator_loss(pred, True)``; for wgangp and hinge it is
    -mean(scores), without hinge's margin.

    Args:
        pred: discriminator output for generated images (see ``score_maps``).
        mode: a key of ``GAN_MODES``.

    Returns:
        A scalar, float32 for 16-bit scores.
    """
    fn = _objective(mode).generator
    return sum(fn(m) for m in score_maps(pred))


def gan_loss(outputs: Scores, target_is_real: bool, *, mode: str = "lsgan") -> torch.Tensor:
    """Sum over scales of the loss of each scale's final score map against real or fake.

    This is the discriminator's side (``discriminator_loss``); for lsgan and vanilla it is also
    the generator's loss with ``target_is_real=True``. Use ``generator_loss`` for G under hinge.

    Args:
        outputs: per discriminator scale, the list of layer outputs (the last is the score map),
            or any other form ``score_maps`` accepts.
        target_is_real: whether the scores should say "real".
        mode: ``lsgan`` (least squares, pix2pixHD's default), ``vanilla`` (binary cross-entropy),
            ``wgangp`` or ``hinge``.
    """
    return discriminator_loss(outputs, target_is_real, mode=mode)
