"""The WGAN-GP gradient penalty (Gulrajani et al. 2017), as junyanz's ``cal_gradient_penalty`` computes it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from cimgen.errors import CimgenError
from cimgen.losses.adversarial import at_least_float32, score_maps

PENALTY_KINDS = ("mixed", "real", "fake")


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], object],
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    kind: str = "mixed",
    constant: float = 1.0,
    lambda_gp: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """lambda_gp * mean over samples of (||grad_x D(x)||_2 - constant)^2.

    Follows junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (``cal_gradient_penalty``):
    x is a random per-sample interpolation of real and fake (``mixed``), or the real or fake
    batch itself; the gradient of the summed scores is taken with ``create_graph=True`` so the
    penalty trains D; 1e-16 is added to the gradient before its norm, which keeps the norm's own
    gradient finite where the gradient vanishes.

    Args:
        discriminator: D; its output may be a score map or multi-scale lists (all score maps are summed).
        real: N x C x H x W real batch (detached here: the penalty trains D only).
        fake: generated batch of the same shape (detached here).
        kind: ``mixed``, ``real`` or ``fake``.
        constant: the target gradient norm.
        lambda_gp: the weight; 0 returns a zero tensor without running D.
        generator: random source of the interpolation weights (default: torch's global one).

    Returns:
        A scalar, float32 for 16-bit inputs.
    """
    if kind not in PENALTY_KINDS:
        raise CimgenError(f"unknown gradient penalty kind '{kind}'; choose one of {', '.join(PENALTY_KINDS)}")
    if real.shape != fake.shape:
        raise CimgenError(f"the gradient penalty needs real and fake batches of one shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if lambda_gp <= 0:
        return real.new_zeros((), dtype=torch.float32)
    real, fake = real.detach(), fake.detach()
    if kind == "real":
        x = real.clone()
    elif kind == "fake":
        x = fake.clone()
    else:
        shape = (real.shape[0],) + (1,) * (real.ndim - 1)
        alpha = torch.rand(shape, generator=generator, device=real.device if generator is None else generator.device)
        alpha = alpha.to(device=real.device, dtype=real.dtype)
        x = alpha * real + (1.0 - alpha) * fake
    x.requires_grad_(True)
    # Summing the scores is the same as junyanz's grad_outputs of ones.
    total = sum(at_least_float32(m).sum() for m in score_maps(discriminator(x)))
    (grad,) = torch.autograd.grad(outputs=total, inputs=x, create_graph=True)
    grad = at_least_float32(grad).reshape(grad.shape[0], -1)
    return (((grad + 1e-16).norm(2, dim=1) - constant) ** 2).mean() * lambda_gp
