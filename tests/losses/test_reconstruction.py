"""Cycle and identity losses: L1 means, float32, and shape errors."""

from __future__ import annotations

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.losses.reconstruction import cycle_loss, identity_loss


def test_l1_means():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.full((2, 3, 4, 4), 0.5)
    b[0] = -1.0
    assert cycle_loss(b, a).item() == pytest.approx(0.75)
    assert identity_loss(a, b).item() == pytest.approx(0.75)
    assert cycle_loss(b.to(torch.bfloat16), a).dtype == torch.float32


def test_shapes_must_match():
    with pytest.raises(CimgenError, match="cycle loss compares batches of one shape"):
        cycle_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(CimgenError, match="identity loss"):
        identity_loss(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3, 4, 4))
