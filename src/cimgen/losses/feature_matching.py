"""pix2pixHD's discriminator feature-matching loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the intermediate discriminator features of fake and real inputs.

    Weighted as in pix2pixHD: each layer by 4 / (num_layers + 1) and each scale by
    1 / num_scales; the final score map is not matched. Multiply by lambda_feat (10) outside.
    """
    num_scales = len(fake)
    loss = fake[0][0].new_zeros(())
    for f_scale, r_scale in zip(fake, real):
        # A scale returns num_layers + 2 outputs; all but the score map (num_layers + 1) are matched.
        layer_weight = 4.0 / (len(f_scale) - 1)
        for f, r in zip(f_scale[:-1], r_scale[:-1]):
            loss = loss + layer_weight / num_scales * F.l1_loss(f.float(), r.detach().float())
    return loss
