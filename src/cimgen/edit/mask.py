"""Masks of the edited region: the pixels whose label changed, dilated by a radius."""

from __future__ import annotations

import cv2
import numpy as np

from cimgen.errors import CimgenError

DEFAULT_RADIUS = 8
"""Dilation of the changed labels that makes the blend mask, in pixels."""


def disk(radius: int) -> np.ndarray:
    """A (2r+1)x(2r+1) uint8 disk structuring element."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a bool mask by a disk of ``radius`` pixels (0 returns a copy)."""
    if radius < 0:
        raise CimgenError(f"the dilation radius must be 0 or more, got {radius}")
    if radius == 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), disk(radius)) > 0


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode a bool mask by a disk of ``radius`` pixels (0 returns a copy); past the image's edge counts as inside."""
    if radius < 0:
        raise CimgenError(f"the erosion radius must be 0 or more, got {radius}")
    if radius == 0:
        return mask.copy()
    return cv2.erode(mask.astype(np.uint8), disk(radius)) > 0


def edit_mask(original: np.ndarray, edited: np.ndarray, *, radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """Bool HxW mask of pixels whose label changed, dilated by ``radius``; an empty change is an error."""
    if original.shape != edited.shape:
        raise CimgenError(
            f"the edited map is {edited.shape[1]}x{edited.shape[0]} but the original is {original.shape[1]}x{original.shape[0]}"
        )
    changed = original != edited
    if not changed.any():
        raise CimgenError("the edited map equals the original; there is nothing to manipulate")
    return dilate(changed, radius)


def user_mask(mask: np.ndarray, shape: tuple[int, int], *, source: str = "the mask") -> np.ndarray:
    """A mask given by the user, checked: bool-able HxW of the map's size and not empty."""
    if mask.ndim != 2:
        raise CimgenError(f"{source} must be a single-channel HxW mask, got shape {mask.shape}")
    if mask.shape != tuple(shape):
        raise CimgenError(f"{source} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}")
    out = mask.astype(bool)
    if not out.any():
        raise CimgenError(f"{source} is empty; it must mark the pixels to manipulate with non-zero values")
    return out


def mask_area(mask: np.ndarray) -> dict:
    """The mask's area in pixels and as a fraction of the image, and its number of separate regions."""
    n, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return {"pixels": int(mask.sum()), "fraction": round(float(mask.mean()), 6), "regions": int(n - 1)}


def busiest_box(mask: np.ndarray, side: int) -> tuple[int, int, int, int]:
    """The ``side``-square box (x0, y0, x1, y1) that covers the most True pixels of ``mask``."""
    h, w = mask.shape
    side = min(side, h, w)
    ii = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    counts = ii[side:, side:] - ii[:-side, side:] - ii[side:, :-side] + ii[:-side, :-side]
    y, x = np.unravel_index(int(counts.argmax()), counts.shape)
    return int(x), int(y), int(x + side), int(y + side)
