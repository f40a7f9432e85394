"""Resize policies: TF1 bilinear against a per-pixel reading of its definition, clean against PIL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from cimgen.errors import CimgenError
from cimgen.metrics.resize import resize_for_inception


def _tf1_reference(img: np.ndarray, out: int) -> np.ndarray:
    """TF 1.x resize_bilinear, align_corners=False, written out pixel by pixel."""
    h, w = img.shape[:2]
    res = np.zeros((out, out, img.shape[2]))
    for i in range(out):
        sy = i * h / out
        y0, fy = int(math.floor(sy)), sy - math.floor(sy)
        y1 = min(y0 + 1, h - 1)
        for j in range(out):
            sx = j * w / out
            x0, fx = int(math.floor(sx)), sx - math.floor(sx)
            x1 = min(x0 + 1, w - 1)
            top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
            bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
            res[i, j] = top * (1 - fy) + bottom * fy
    return res


def test_tf1_bilinear_matches_definition():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (1, 7, 9, 3), dtype=np.uint8)
    ours = resize_for_inception(img, size=23)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - _tf1_reference(img[0].astype(np.float64), 23)).max() < 1e-3


def test_tf1_identity_at_target_size():
    img = np.random.default_rng(2).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    assert np.array_equal(resize_for_inception(img).permute(0, 2, 3, 1).numpy(), img.astype(np.float32))


def test_clean_is_pil_bicubic_per_channel():
    img = np.random.default_rng(3).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    ours = resize_for_inception(img, policy="clean")[0, 1].numpy()
    ref = np.asarray(Image.fromarray(img[0, :, :, 1].astype(np.float32)).resize((299, 299), Image.Resampling.BICUBIC))
    assert np.allclose(ours, np.clip(ref, 0, 255))


def test_policies_differ_and_unknown_is_refused():
    img = np.random.default_rng(4).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    assert (resize_for_inception(img) - resize_for_inception(img, policy="clean")).abs().mean() > 1
    with pytest.raises(CimgenError, match="unknown resize policy 'nearest'; choose one of tf1-bilinear, clean"):
        resize_for_inception(img, policy="nearest")
