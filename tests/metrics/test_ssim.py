"""SSIM outside a mask agrees with scikit-image computed directly."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from cimgen.errors import CimgenError
from cimgen.metrics.ssim import ssim_outside


def test_matches_scikit_image_with_an_empty_mask():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    ref = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    got = ssim_outside(a, b, np.zeros((48, 40), bool))
    assert got["ssim"] == pytest.approx(ref, abs=1e-9) and got["pixels"] == 38 * 30


def test_mask_excludes_the_edited_region():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = a.copy()
    b[:, :20] = 0  # damage only the left part
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True  # cover it and the SSIM window's reach
    assert ssim_outside(a, b, mask)["ssim"] == pytest.approx(1.0)
    assert ssim_outside(a, b, np.zeros_like(mask))["ssim"] < 0.8
    with pytest.raises(CimgenError, match="covers the whole image"):
        ssim_outside(a, b, np.ones_like(mask))
