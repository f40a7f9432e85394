"""benchmarks/lattice_anatomy.py's core on synthetic pictures whose lattice pattern and place are known."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lattice_anatomy as bench


def _pictures(size: int = 128):
    """A textured photo; a 'generator' image that is the photo blurred with a faint period-(2, 4) pattern planted in a
    square region; the same image with the photo's own pixels in that region (as an edit with the photo's detail)."""
    rng = np.random.default_rng(0)
    photo = np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)), (0, 0), 1.5) * 1.6 - 76, 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), bool)
    mask[32:96, 32:96] = True
    y, x = np.indices((size, size))
    pattern = 3.0 * np.cos(2 * np.pi * (y / 2 + x / 4))[..., None] * mask[..., None]
    bare_float = cv2.GaussianBlur(photo.astype(np.float64), (0, 0), 2.0) + pattern
    bare = np.clip(np.rint(bare_float), 0, 255).astype(np.uint8)
    edit = bare.copy()
    edit[mask] = photo[mask]
    return bare, bare_float, edit, photo, mask


def test_a_planted_pattern_shows_in_the_bare_image_and_leaves_with_its_region():
    bare, bare_float, edit, photo, mask = _pictures()
    r = bench.anatomy(bare, bare_float, edit, photo, mask)
    assert r["bare"] > 1.5 and r["bare_float"] > 1.5  # the pattern, with or without the rounding
    assert r["bare_by_lattice"]["period 4"] > r["bare_by_lattice"]["period 2"]  # (1/2, 1/4) is a period-4 point
    assert r["edit"] < r["bare"] / 1.5 and r["bare_with_edit_region"] < r["bare"] / 1.5
    assert r["bare_with_region_blurred"] < r["bare"]  # the pattern lived in the region
    assert r["mask_fraction"] == 0.25
    amp = r["band_amplitude"]["0.5, 0.25"]
    assert amp["generator"] > 0 and amp["photo"] > 0


def test_band_amplitude_finds_a_pure_tone_and_ignores_another():
    y, x = np.indices((96, 96))
    tone = 10.0 * np.cos(2 * np.pi * (y / 2 + x / 4))
    assert abs(bench.band_amplitude(tone, 0.5, 0.25) - 5.0) < 0.5  # a cosine of amplitude 10 is two tones of 5
    assert bench.band_amplitude(tone, 0.625, 0.375) < 0.5
