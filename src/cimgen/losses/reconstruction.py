"""CycleGAN's cycle-consistency and identity losses: L1 between an image and what comes back (Zhu et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError


def _l1(output: torch.Tensor, target: torch.Tensor, what: str) -> torch.Tensor:
    if output.shape != target.shape:
        raise CimgenError(f"the {what} loss compares batches of one shape, got {tuple(output.shape)} and {tuple(target.shape)}")
    # float32, so that bf16 activations from autocast do not round the small residuals away.
    return F.l1_loss(output.float(), target.float())


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between F(G(x)) and x (junyanz ``criterionCycle``; weight lambda_A / lambda_B outside).

    Args:
        reconstructed: the image after going to the other domain and back.
        original: the input image.
    """
    return _l1(reconstructed, original, "cycle")


def identity_loss(mapped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between G(y) and y for y already in G's target domain (junyanz ``criterionIdt``).

    Weight it outside by lambda_identity times the cycle weight of the target domain, as junyanz does.

    Args:
        mapped: the generator's output for an image of its own output domain.
        original: that image.
    """
    return _l1(mapped, original, "identity")
