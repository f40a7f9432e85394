"""Texture inside an edit against the image's own texture of the same classes beside it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cimgen.errors import CimgenError
from cimgen.metrics.texture import edit_positions, texture_report


def _scene(seed: int = 0):
    """A 192x192 picture: sharp noise on class 1 (left half), a smooth gradient on class 2 (right half)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((192, 192, 3), np.uint8)
    image[:, :96] = rng.integers(40, 220, (192, 96, 1))
    image[:, 96:] = np.linspace(90, 130, 96).astype(np.uint8)[None, :, None]
    labels = np.ones((192, 192), np.int64)
    labels[:, 96:] = 2
    mask = np.zeros((192, 192), bool)
    mask[64:112, 16:64] = True  # an edit inside the sharp class
    return image, labels, mask


def test_a_blurred_fill_scores_low_and_a_fill_like_its_neighbours_near_one():
    image, labels, mask = _scene()
    blurred = image.copy()
    blurred[mask] = ndimage.gaussian_filter(image.astype(float), (2, 2, 0))[mask].astype(np.uint8)
    low = texture_report(blurred, image, labels, labels, mask)
    assert low["hf_ratio"] < 0.3 and low["edit_patches"] >= 4 and low["pristine_patches"] >= 2, low
    redrawn = image.copy()
    redrawn[:, :96] = np.random.default_rng(1).integers(40, 220, (192, 96, 1))  # the same texture, other pixels
    same = texture_report(np.where(mask[..., None], redrawn, image), image, labels, labels, mask)
    assert 0.8 < same["hf_ratio"] < 1.25, same


def test_the_edit_is_compared_with_its_own_class_not_the_whole_image():
    image, labels, _ = _scene()
    mask = np.zeros((192, 192), bool)
    mask[64:112, 128:176] = True  # an edit inside the smooth class, filled as smoothly
    report = texture_report(image, image, labels, labels, mask)
    assert 0.8 < report["hf_ratio"] < 1.25, report  # the sharp half would have made it near 0
    # a class shown nowhere outside the edit is compared with the nearest patches of any class, and named
    edited = labels.copy()
    edited[mask] = 3
    assert texture_report(image, image, labels, edited, mask)["classes_seen_only_in_the_edit"] == [3]


def test_kid_with_an_extractor_and_the_reasons_for_no_score():
    image, labels, mask = _scene()
    calls = []

    def extractor(patches):  # any N x D features: here, each patch's mean and spread
        calls.append(len(patches))
        return np.stack([patches.reshape(len(patches), -1).mean(1), patches.reshape(len(patches), -1).std(1)], 1)

    report = texture_report(image, image, labels, labels, mask, extractor=extractor)
    assert "kid" in report and report["kid_std"] >= 0 and len(calls) == 2
    tiny = np.zeros((192, 192), bool)
    tiny[10:20, 10:20] = True
    assert "fewer than two 32-pixel patches" in texture_report(image, image, labels, labels, tiny)["why"]
    assert len(edit_positions(tiny)) == 0
    with pytest.raises(CimgenError, match="must have the same size"):
        texture_report(image[:64], image, labels, labels, mask)
