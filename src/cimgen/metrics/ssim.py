"""SSIM between two images restricted to a region, computed with scikit-image."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from cimgen.errors import CimgenError

# Wang et al. (2004) settings: 11x11 Gaussian window with sigma 1.5, population covariance.
SSIM_SETTINGS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
# scikit-image averages the SSIM map without a border of half the window (11 // 2 pixels), where the
# window reaches past the image; the masked mean leaves out the same border so the two agree.
BORDER = 5
KEY_SSIM = "ssim"
KEY_PIXELS = "pixels"


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two HxWx3 uint8 images, averaged over the colour channels."""
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8 or a.ndim != 3:
        raise CimgenError(f"SSIM needs two uint8 HxWx3 images of one size, got {a.shape} and {b.shape}")
    _, full = structural_similarity(a, b, channel_axis=2, full=True, **SSIM_SETTINGS)
    return full.mean(axis=2)


def ssim_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> dict:
    """Mean SSIM over the pixels outside ``mask`` (bool HxW) and off the image border, with the number of pixels used."""
    if mask.shape != a.shape[:2]:
        raise CimgenError("the mask must have the images' height and width")
    keep = ~mask
    keep[:BORDER] = keep[-BORDER:] = False
    keep[:, :BORDER] = keep[:, -BORDER:] = False
    if not keep.any():
        raise CimgenError("the mask covers the whole image (less its 5-pixel border); there is no pixel outside it to compare")
    return {KEY_SSIM: float(ssim_map(a, b)[keep].mean()), KEY_PIXELS: int(keep.sum())}
