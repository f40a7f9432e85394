"""Blending: outside the mask the result is byte-identical to the original, for any image, mask and mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimgen.edit.blend import BLENDS, blend, feather_alpha
from cimgen.errors import CimgenError


@st.composite
def scenes(draw):
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    kind = draw(st.sampled_from(["random", "empty", "full", "blob"]))
    if kind == "random":
        mask = rng.random((h, w)) < draw(st.floats(0, 1))
    elif kind == "empty":
        mask = np.zeros((h, w), bool)
    elif kind == "full":
        mask = np.ones((h, w), bool)
    else:
        yy, xx = np.mgrid[0:h, 0:w]
        mask = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    return original, generated, mask


@settings(max_examples=150, deadline=None)
@given(scenes(), st.sampled_from(sorted(BLENDS)), st.floats(0, 20))
def test_outside_the_mask_is_byte_identical(scene, mode, feather):
    original, generated, mask = scene
    kwargs = {"feather": feather} if mode == "feather" else {}
    before = original.copy()
    out = blend(original, generated, mask, mode=mode, **kwargs)
    assert out.dtype == np.uint8 and out.shape == original.shape
    assert np.array_equal(out[~mask], original[~mask])
    assert np.array_equal(original, before)  # input untouched
    # Inside the mask each value lies between the original and the generated one.
    lo, hi = np.minimum(original, generated), np.maximum(original, generated)
    assert np.all(out[mask] >= lo[mask]) and np.all(out[mask] <= hi[mask])


def test_feather_reaches_the_generated_image_in_the_core():
    original = np.zeros((30, 30, 3), np.uint8)
    generated = np.full((30, 30, 3), 200, np.uint8)
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True
    out = blend(original, generated, mask, mode="feather", feather=4)
    assert (out[10:20, 10:20] == 200).all()
    assert 0 < out[5, 15, 0] < 100  # soft edge
    alpha = feather_alpha(mask, 4)
    assert alpha.max() == 1 and alpha[~mask].max() == 0


def test_bad_blend_inputs():
    a = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(CimgenError, match="unknown blend mode"):
        blend(a, a, np.zeros((4, 4), bool), mode="poisson2")
    with pytest.raises(CimgenError, match="generated image is 5x4"):
        blend(a, np.zeros((4, 5, 3), np.uint8), np.zeros((4, 4), bool))
    with pytest.raises(CimgenError, match="bool array"):
        blend(a, a, np.zeros((4, 4), np.uint8))
