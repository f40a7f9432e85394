"""Adversarial objectives over multi-scale discriminator outputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError


def _lsgan(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))


def _vanilla(pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))


GAN_LOSSES = {"lsgan": _lsgan, "vanilla": _vanilla}


def gan_loss(outputs: list[list[torch.Tensor]], target_is_real: bool, *, mode: str = "lsgan") -> torch.Tensor:
    """Sum over scales of the loss of each scale's final score map against real or fake.

    Args:
        outputs: per discriminator scale, the list of layer outputs (the last is the score map).
        target_is_real: whether the scores should say "real".
        mode: ``lsgan`` (least squares, pix2pixHD's default) or ``vanilla`` (binary cross-entropy).
    """
    if mode not in GAN_LOSSES:
        raise CimgenError(f"unknown GAN loss '{mode}'; choose one of {', '.join(GAN_LOSSES)}")
    fn = GAN_LOSSES[mode]
    return sum(fn(scale[-1], target_is_real) for scale in outputs)
