"""Test material for inpainting: synthetic damage (subtitles, an occluding box) and an adjacent-frame reference."""

from __future__ import annotations

import cv2
import numpy as np

from cimgen.metrics.inpainting import check_image

SUBTITLE = "we will meet again"


def adjacent_frame(
    clean: np.ndarray, *, shift: tuple[int, int] = (3, 2), gain: float = 1.04, noise: float = 2.0, seed: int = 0
) -> np.ndarray:
    """A stand-in for the next video frame: ``clean`` moved by ``shift`` (dx, dy) pixels (edges reflected),
    its brightness times ``gain``, plus Gaussian noise of ``noise`` levels."""
    check_image(clean, name="clean image")
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = cv2.warpAffine(clean, m, (clean.shape[1], clean.shape[0]), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = moved * gain + rng.normal(0.0, noise, moved.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def subtitles(clean: np.ndarray, *, text: str = SUBTITLE, rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """White subtitles with a thin dark outline across the lower part of the image; returns (damaged, mask)."""
    check_image(clean, name="clean image")
    h, w = clean.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 1.0
    (tw, th), _ = cv2.getTextSize(text, font, scale, 2)
    scale = 0.9 * w / tw
    thick = max(1, round(scale * 2))
    (tw, th), _base = cv2.getTextSize(text, font, scale, thick)
    out = clean.copy()
    mask = np.zeros((h, w), np.uint8)
    for r in range(rows):
        y = int(h * 0.92) - r * int(th * 1.6)
        org = ((w - tw) // 2, y)
        cv2.putText(mask, text, org, font, scale, 255, thick + 2, cv2.LINE_AA)
        cv2.putText(out, text, org, font, scale, (20, 20, 20), thick + 2, cv2.LINE_AA)
        cv2.putText(out, text, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    mask = mask > 0
    out[~mask] = clean[~mask]
    return out, mask


def occlusion(
    clean: np.ndarray, *, box: tuple[float, float, float, float] = (0.55, 0.3, 0.22, 0.3), color=(255, 255, 255)
) -> tuple[np.ndarray, np.ndarray]:
    """A solid box (x, y, width, height as fractions of the image) over the image; returns (damaged, mask)."""
    check_image(clean, name="clean image")
    h, w = clean.shape[:2]
    x0, y0 = int(box[0] * w), int(box[1] * h)
    x1, y1 = x0 + max(1, int(box[2] * w)), y0 + max(1, int(box[3] * h))
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    out = clean.copy()
    out[mask] = color
    return out, mask
