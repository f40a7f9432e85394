"""Patch grids and the patches that stay clear of a mask, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimgen.errors import CimgenError
from cimgen.metrics.patches import crop_patches, dilate_mask, patch_positions, positions_outside


def test_grid_covers_every_pixel():
    pos = patch_positions(100, 150, size=64, stride=32)
    covered = np.zeros((100, 150), bool)
    for y, x in pos:
        covered[y : y + 64, x : x + 64] = True
    assert covered.all()
    assert set(pos[:, 0]) == {0, 32, 36} and set(pos[:, 1]) == {0, 32, 64, 86}


def test_grid_errors():
    with pytest.raises(CimgenError, match="smaller than one 64x64 patch"):
        patch_positions(40, 200, size=64, stride=32)
    with pytest.raises(CimgenError, match="positive"):
        patch_positions(100, 100, size=64, stride=0)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(16, 60), w=st.integers(16, 60), size=st.integers(4, 16), stride=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_positions_outside_match_brute_force(h, w, size, stride, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < 0.01
    pos = patch_positions(h, w, size=size, stride=stride)
    kept = {tuple(p) for p in positions_outside(pos, mask, size=size)}
    brute = {(y, x) for y, x in pos if not mask[y : y + size, x : x + size].any()}
    assert kept == brute


def test_crop_and_dilate():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    patches = crop_patches(img, np.array([[2, 3]]), size=4)
    assert np.array_equal(patches[0], img[2:6, 3:7])
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    assert dilate_mask(m, 2).sum() == 13 and dilate_mask(m, 0).sum() == 1
