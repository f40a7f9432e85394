"""Blending generated pixels into the original inside a mask; outside it the original bytes are kept.

Every mode computes a blend only for mask pixels and copies them into a copy of the
original, so pixels outside the mask are the original bytes by construction.
"""

from __future__ import annotations

import cv2
import numpy as np

from cimgen.errors import CimgenError


def feather_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """Float HxW weights: 0 outside the mask, rising linearly over ``feather`` pixels inside it to 1."""
    if feather < 0:
        raise CimgenError(f"feather must be 0 or more, got {feather}")
    if feather < 1e-3:  # narrower than a thousandth of a pixel is a hard edge (and avoids dividing by ~0)
        return mask.astype(np.float32)
    # Distance from each mask pixel to the nearest pixel outside the mask (1 at the border).
    inside = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.where(mask, np.clip(inside / float(feather), 0.0, 1.0), 0.0).astype(np.float32)


def _check(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> None:
    if original.dtype != np.uint8 or generated.dtype != np.uint8:
        raise CimgenError("blending needs uint8 images")
    if original.shape != generated.shape:
        raise CimgenError(f"the generated image is {generated.shape[1]}x{generated.shape[0]} but the original is {original.shape[1]}x{original.shape[0]}")
    if mask.shape != original.shape[:2] or mask.dtype != bool:
        raise CimgenError("the mask must be a bool array of the image's height and width")


def blend_feather(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, *, feather: float = 6.0) -> np.ndarray:
    """Feathered alpha blend inside ``mask``; identical to ``original`` outside it."""
    _check(original, generated, mask)
    alpha = feather_alpha(mask, feather)[..., None]
    mixed = np.rint(alpha * generated.astype(np.float32) + (1.0 - alpha) * original.astype(np.float32))
    out = original.copy()
    out[mask] = np.clip(mixed, 0, 255).astype(np.uint8)[mask]
    return out


def blend_hard(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paste generated pixels inside ``mask``."""
    _check(original, generated, mask)
    out = original.copy()
    out[mask] = generated[mask]
    return out


BLENDS = {"feather": blend_feather, "hard": blend_hard}


def blend(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, *, mode: str = "feather", **kwargs) -> np.ndarray:
    """Blend with a mode from ``BLENDS``."""
    if mode not in BLENDS:
        raise CimgenError(f"unknown blend mode '{mode}'; choose one of {', '.join(BLENDS)}")
    return BLENDS[mode](original, generated, mask, **kwargs)
