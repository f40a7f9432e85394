"""Overlapping square patches on a grid, and the ones that stay clear of a mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cimgen.errors import CimgenError


def patch_positions(height: int, width: int, *, size: int, stride: int) -> np.ndarray:
    """Top-left corners (y, x) of ``size`` x ``size`` patches every ``stride`` pixels, as an N x 2 int array.

    The last row and column of patches are moved flush with the bottom and right edges, so every
    pixel is covered whatever the image size.
    """
    if size < 1 or stride < 1:
        raise CimgenError(f"patch size and stride must be positive, got {size} and {stride}")
    if height < size or width < size:
        raise CimgenError(f"the image ({width}x{height}) is smaller than one {size}x{size} patch")

    def starts(n: int) -> list[int]:
        s = list(range(0, n - size + 1, stride))
        if s[-1] != n - size:
            s.append(n - size)
        return s

    ys, xs = starts(height), starts(width)
    return np.array([(y, x) for y in ys for x in xs], dtype=np.int64)


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a disk); radius 0 returns a copy."""
    if radius <= 0:
        return mask.copy()
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return ndimage.binary_dilation(mask, structure=(yy**2 + xx**2) <= radius**2)


def positions_outside(positions: np.ndarray, mask: np.ndarray, *, size: int) -> np.ndarray:
    """The patches (rows of ``positions``) that contain no pixel of ``mask``."""
    if mask.dtype != bool or mask.ndim != 2:
        raise CimgenError(f"the mask must be a boolean H x W array, got {mask.dtype} {mask.shape}")
    # Summed-area table: the masked-pixel count of any window in four lookups.
    sat = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = mask.cumsum(0).cumsum(1)
    y, x = positions[:, 0], positions[:, 1]
    count = sat[y + size, x + size] - sat[y, x + size] - sat[y + size, x] + sat[y, x]
    return positions[count == 0]


def crop_patches(image: np.ndarray, positions: np.ndarray, *, size: int) -> np.ndarray:
    """N x size x size x C patches of ``image`` at ``positions``."""
    out = np.empty((len(positions), size, size, image.shape[2]), dtype=image.dtype)
    for i, (y, x) in enumerate(positions):
        out[i] = image[y : y + size, x : x + size]
    return out
