"""Projected gradient descent (Madry et al. 2018) against patch detectors, for adversarial training and for attacks.

Pixels are in [0, 1] here and the L-inf bound is given in 8-bit pixel levels: the CIMGEN paper
hardens its detector with PGD at a bound of one pixel level (epsilon = 1/255), the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cimgen.errors import CimgenError


@dataclass(frozen=True)
class AttackConfig:
    """PGD settings."""

    epsilon: float = 1.0
    """L-inf bound in 8-bit pixel levels (1 = 1/255, the paper's)."""
    steps: int = 5
    """Gradient-sign steps per attack."""
    step_size: float = 0.0
    """Step in pixel levels; 0 takes 2.5 * epsilon / steps (Madry et al.'s rule, so the walk can cross the ball)."""
    random_start: bool = True
    """Start from a uniform random point of the ball instead of the clean input."""
    fraction: float = 1.0
    """Share of each training batch replaced by its adversarial version (1: all, as Madry et al. and the paper; 0.5: Goodfellow et al.'s half-and-half)."""


def check_attack(cfg: AttackConfig) -> None:
    """One sentence for settings that cannot work."""
    if cfg.epsilon <= 0:
        raise CimgenError(f"attack.epsilon must be positive (pixel levels), got {cfg.epsilon}")
    if cfg.steps < 1:
        raise CimgenError(f"attack.steps must be at least 1, got {cfg.steps}")
    if not 0.0 < cfg.fraction <= 1.0:
        raise CimgenError(f"attack.fraction must be in (0, 1], got {cfg.fraction}")
    if cfg.step_size < 0:
        raise CimgenError(f"attack.step_size must be non-negative, got {cfg.step_size}")


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    cfg: AttackConfig = AttackConfig(),
    *,
    generator: torch.Generator | None = None,
    autocast=None,
) -> torch.Tensor:
    """Adversarial versions of ``x`` that raise the detector's loss, within ``epsilon`` of ``x`` and inside [0, 1].

    Args:
        model: a detector taking [-1, 1] patches and returning one logit each; its mode is left
            as it is (callers put it in eval mode so batch-norm statistics do not move).
        x: N x 3 x P x P patches in [0, 1].
        labels: N targets (0 pristine, 1 generated).
        cfg: bound, steps, step size and random start.
        generator: random source of the start point (on ``x``'s device).
        autocast: a context-manager factory for the forward passes (mixed precision).
    """
    check_attack(cfg)
    eps = cfg.epsilon / 255.0
    alpha = (cfg.step_size or 2.5 * cfg.epsilon / cfg.steps) / 255.0
    x = x.detach()
    y = labels.detach().float()
    if cfg.random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        adv = (x + (2 * noise - 1) * eps).clamp(0, 1)
    else:
        adv = x.clone()
    for _ in range(cfg.steps):
        adv.requires_grad_(True)
        if autocast is not None:
            with autocast():
                logits = model(adv * 2 - 1)
        else:
            logits = model(adv * 2 - 1)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + alpha * grad.sign()
            adv = torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach()
