"""PGD: stays in the L-inf ball and in [0, 1], raises the loss, is seeded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cimgen.errors import CimgenError
from cimgen.forensics.pgd import AttackConfig, pgd


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.w = nn.Parameter(torch.randn(3 * 8 * 8) * 0.05)

    def forward(self, x):
        return x.flatten(1) @ self.w


def test_pgd_respects_the_bound_and_raises_the_loss():
    model = Linear()
    x = torch.rand(16, 3, 8, 8)
    y = (torch.rand(16) > 0.5).float()
    cfg = AttackConfig(epsilon=1.0, steps=5)
    adv = pgd(model, x, y, cfg, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 1 / 255 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    clean = F.binary_cross_entropy_with_logits(model(x * 2 - 1), y)
    attacked = F.binary_cross_entropy_with_logits(model(adv * 2 - 1), y)
    assert attacked > clean
    # For a linear model the worst case in the ball is x + eps * sign(gradient), wherever it is not clipped.
    worst = (x + (1 / 255) * torch.sign(model.w.detach().view(1, 3, 8, 8)) * (1 - 2 * y).view(-1, 1, 1, 1)).clamp(0, 1)
    assert torch.allclose(adv, worst, atol=1e-6)
    again = pgd(model, x, y, cfg, generator=torch.Generator().manual_seed(0))
    assert torch.equal(adv, again)
    assert not any(p.grad is not None for p in model.parameters())


def test_bad_attack_settings():
    model, x, y = Linear(), torch.rand(2, 3, 8, 8), torch.zeros(2)
    for cfg, msg in ((AttackConfig(epsilon=0), "epsilon"), (AttackConfig(steps=0), "steps"), (AttackConfig(step_size=-1), "step_size")):
        with pytest.raises(CimgenError, match=msg):
            pgd(model, x, y, cfg)
