"""Blending: outside the mask the result is byte-identical to the original, for any image, mask and mode; and the seam score."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimgen.edit.blend import (
    BLENDS,
    SEAM,
    SEAM_ORIGINAL,
    SEAM_RATIO,
    _laplacian_crop,
    _laplacian_levels,
    _mask_groups,
    blend,
    feather_alpha,
    mode_options,
    seam_cut,
    seam_report,
    seam_score,
)
from cimgen.errors import CimgenError


@st.composite
def scenes(draw):
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    kind = draw(st.sampled_from(["random", "empty", "full", "blob", "border", "pixel", "line"]))
    mask = np.zeros((h, w), bool)
    if kind == "random":
        mask = rng.random((h, w)) < draw(st.floats(0, 1))
    elif kind == "full":
        mask[:] = True
    elif kind == "blob":
        yy, xx = np.mgrid[0:h, 0:w]
        mask = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2
    elif kind == "border":  # a rectangle touching one or more image edges
        y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        mask[y0:, x0:] = True
        if draw(st.booleans()):
            mask = mask[::-1, ::-1].copy()
    elif kind == "pixel":
        mask[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = True
    elif kind == "line":  # one pixel wide: horizontal, vertical or diagonal
        direction = draw(st.sampled_from(["row", "column", "diagonal"]))
        if direction == "row":
            mask[draw(st.integers(0, h - 1)), :] = True
        elif direction == "column":
            mask[:, draw(st.integers(0, w - 1))] = True
        else:
            n = min(h, w)
            mask[np.arange(n), np.arange(n)] = True
    return original, generated, mask


@st.composite
def modes_with_options(draw):
    mode = draw(st.sampled_from(sorted(BLENDS)))
    kwargs = {}
    if "feather" in mode_options(mode) and draw(st.booleans()):
        kwargs["feather"] = draw(st.floats(0, 20))
    if "levels" in mode_options(mode) and draw(st.booleans()):
        kwargs["levels"] = draw(st.integers(0, 6))
    return mode, kwargs


@settings(max_examples=500, deadline=None)
@given(scenes(), modes_with_options())
def test_outside_the_mask_is_byte_identical(scene, mode_kwargs):
    original, generated, mask = scene
    mode, kwargs = mode_kwargs
    before = (original.copy(), generated.copy(), mask.copy())
    out = blend(original, generated, mask, mode=mode, **kwargs)
    assert out.dtype == np.uint8 and out.shape == original.shape
    assert np.array_equal(out[~mask], original[~mask])
    for given_array, copy in zip((original, generated, mask), before):
        assert np.array_equal(given_array, copy)  # inputs untouched (seamlessClone erodes its mask in place)
    if mode in ("hard", "feather"):  # convex mixes; Laplacian bands and Poisson solves may overshoot
        lo, hi = np.minimum(original, generated), np.maximum(original, generated)
        assert np.all(out[mask] >= lo[mask]) and np.all(out[mask] <= hi[mask])


def test_every_mode_is_tested_and_takes_its_options():
    assert set(BLENDS) == {"hard", "feather", "laplacian", "poisson", "poisson-mixed"}
    assert mode_options("hard") == () and mode_options("poisson") == () and mode_options("poisson-mixed") == ()
    assert mode_options("feather") == ("feather",)
    assert set(mode_options("laplacian")) == {"levels", "feather"}


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


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smoothed noise stretched to 0..255: every pixel differs from its neighbours, so a 1-pixel shift shows."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 1.5), None, 0, 255, cv2.NORM_MINMAX)


def _gradient_gap(image: np.ndarray, reference: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference of the horizontal and vertical differences of two images over ``region``."""
    a, b = image.astype(np.float64), reference.astype(np.float64)
    across = np.abs(np.diff(a, axis=1) - np.diff(b, axis=1))[region[:, 1:] & region[:, :-1]]
    down = np.abs(np.diff(a, axis=0) - np.diff(b, axis=0))[region[1:] & region[:-1]]
    return float(np.concatenate([across.ravel(), down.ravel()]).mean())


@pytest.mark.parametrize("mode", ["poisson", "poisson-mixed"])
def test_poisson_puts_the_clone_back_where_the_mask_is(mode):
    original = _texture(60, 80)
    mask = np.zeros((60, 80), bool)
    mask[15:40, 30:61] = True  # odd width and height: an off-by-one placement would shift by a pixel
    mask[25:50, 20:35] = True
    same = blend(original, original, mask, mode=mode)
    assert np.abs(same.astype(int) - original)[mask].max() <= 2

    # Generated content with more contrast than the original: deep inside the mask the result has
    # the generated gradients where they are (mixed cloning too, as they are the stronger ones).
    faint = (100 + original // 8).astype(np.uint8)
    generated = np.roll(_texture(60, 80, seed=1), 3, axis=1)
    out = blend(faint, generated, mask, mode=mode)
    deep = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert deep.sum() > 100
    gap = _gradient_gap(out, generated, deep)
    assert gap < 3
    for shift in [(0, 1), (0, -1), (1, 0), (-1, 0)]:
        assert 3 * gap < _gradient_gap(out, np.roll(generated, shift, axis=(0, 1)), deep)


def test_poisson_at_the_image_border_and_for_tiny_masks():
    original = _texture(40, 40)
    generated = _texture(40, 40, seed=3)
    corner = np.zeros((40, 40), bool)
    corner[:15, :12] = True
    out = blend(original, generated, corner, mode="poisson")
    # The mask is mirrored past the image's edge, so the generated gradients reach the edge itself.
    edge = np.zeros((40, 40), bool)
    edge[0, 2:10] = True
    assert 2 * _gradient_gap(out, generated, edge) < _gradient_gap(out, original, edge)
    for m in (np.eye(40, dtype=bool), np.pad(np.ones((1, 1), bool), ((0, 39), (39, 0))), np.pad(np.ones((2, 2), bool), 19)):
        out = blend(original, generated, m, mode="poisson")
        assert np.array_equal(out[~m], original[~m])


def test_laplacian_fades_to_the_original_at_the_edge_and_is_generated_deep_inside():
    original = np.zeros((240, 240, 3), np.uint8)
    generated = np.full((240, 240, 3), 200, np.uint8)
    mask = np.zeros((240, 240), bool)
    mask[20:220, 20:220] = True
    out = blend(original, generated, mask, mode="laplacian", levels=4, feather=8)
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert out[edge].max() <= 200 / 8 + 1  # the level-0 weight is 1/8 on the edge
    assert np.abs(out[90:150, 90:150].astype(int) - 200).max() <= 1
    # Low frequencies change over a wider band than the feather's, so 8 pixels in it is not there yet.
    assert out[120, 28, 0] < blend(original, generated, mask, mode="feather", feather=8)[120, 28, 0]


def _two_corner_scene():
    h, w = 300, 260
    original = _texture(h, w)
    generated = _texture(h, w, seed=5)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy - 30) ** 2 + (xx - 40) ** 2 < 25**2) | ((yy - h) ** 2 + (xx - (w - 20)) ** 2 < 30**2)  # the second touches the bottom edge
    return original, generated, mask


def test_crops_give_what_the_whole_image_gives():
    original, generated, mask = _two_corner_scene()
    groups = list(_mask_groups(mask, 20))
    assert len(groups) == 2
    assert sum(g.size for _, _, g in groups) < 0.25 * mask.size  # crops, not the whole image

    assert np.array_equal(blend(original, generated, mask, mode="hard"), np.where(mask[..., None], generated, original))
    alpha = feather_alpha(mask, 7.5)[..., None]
    whole = np.clip(np.rint(alpha * generated.astype(np.float32) + (1 - alpha) * original.astype(np.float32)), 0, 255).astype(np.uint8)
    assert np.array_equal(blend(original, generated, mask, mode="feather", feather=7.5), whole)

    levels = _laplacian_levels(groups[0][2], 3)
    assert levels == _laplacian_levels(groups[1][2], 3) == 3
    whole = _laplacian_crop(original, generated, mask, levels, 5.0)
    out = blend(original, generated, mask, mode="laplacian", levels=3, feather=5)
    assert np.array_equal(out, np.where(mask[..., None], whole, original))  # the same float operations per pixel


def test_bad_blend_inputs():
    a = np.zeros((4, 4, 3), np.uint8)
    m = np.zeros((4, 4), bool)
    with pytest.raises(CimgenError, match="unknown blend mode 'poisson2'; choose one of hard, feather, laplacian, poisson, poisson-mixed"):
        blend(a, a, m, mode="poisson2")
    with pytest.raises(CimgenError, match="generated image is 5x4"):
        blend(a, np.zeros((4, 5, 3), np.uint8), m)
    with pytest.raises(CimgenError, match="bool array"):
        blend(a, a, np.zeros((4, 4), np.uint8))
    with pytest.raises(CimgenError, match="uint8"):
        blend(a.astype(np.float32), a, m, mode="poisson")
    with pytest.raises(CimgenError, match="HxWx3"):
        blend(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), m, mode="hard")
    with pytest.raises(CimgenError, match="'poisson' has no option 'feather'; it takes none"):
        blend(a, a, m, mode="poisson", feather=3)
    with pytest.raises(CimgenError, match="'feather' has no option 'levels'; its options are feather"):
        blend(a, a, m, mode="feather", levels=3)
    with pytest.raises(CimgenError, match="levels must be a whole number"):
        blend(a, a, m, mode="laplacian", levels=2.5)
    with pytest.raises(CimgenError, match="feather must be 0 or more"):
        blend(a, a, m, mode="laplacian", feather=-1)
    with pytest.raises(CimgenError, match="finite"):
        blend(a, a, m, mode="feather", feather=float("nan"))


def _seam_by_pairs(image: np.ndarray, mask: np.ndarray) -> float:
    """Reference: every 4-neighbour pair visited once, in plain Python."""
    h, w = mask.shape
    diffs = []
    for y in range(h):
        for x in range(w):
            for ny, nx in ((y, x + 1), (y + 1, x)):
                if ny < h and nx < w and mask[y, x] != mask[ny, nx]:
                    diffs.append(np.mean([abs(int(image[y, x, c]) - int(image[ny, nx, c])) for c in range(3)]))
    return float(np.mean(diffs))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seam_score_matches_a_pair_by_pair_count(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    mask = rng.random((13, 17)) < 0.4
    assert seam_score(image, mask) == pytest.approx(_seam_by_pairs(image, mask), rel=1e-12)
    other = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    report = seam_report(image, other, mask)
    assert set(report) == {SEAM, SEAM_ORIGINAL, SEAM_RATIO}
    assert report[SEAM_ORIGINAL] == pytest.approx(_seam_by_pairs(other, mask), rel=1e-12)
    assert report[SEAM_RATIO] == pytest.approx(report[SEAM] / report[SEAM_ORIGINAL])


def test_seam_of_an_empty_or_full_mask():
    image = np.zeros((6, 6, 3), np.uint8)
    for mask in (np.zeros((6, 6), bool), np.ones((6, 6), bool)):
        with pytest.raises(CimgenError, match="no boundary"):
            seam_score(image, mask)
        assert seam_report(image, image, mask) == {SEAM: None, SEAM_ORIGINAL: None, SEAM_RATIO: None}


def test_a_hard_paste_leaves_the_largest_seam_on_a_smooth_image():
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    original = np.stack([60 + xx, 90 + 0.5 * yy, 120 + 0.3 * (xx + yy)], -1).astype(np.uint8)
    generated = np.clip(255.0 - original.astype(np.float32) + 10 * np.sin(xx / 4)[..., None], 0, 255).astype(np.uint8)
    mask = (yy - 48) ** 2 + (xx - 44) ** 2 < 26**2
    seams = {mode: seam_score(blend(original, generated, mask, mode=mode), mask) for mode in BLENDS}
    assert seams["hard"] > 30
    for mode in ("feather", "laplacian", "poisson", "poisson-mixed"):
        assert seams[mode] < seams["hard"] / 3, seams
    assert seams["poisson"] < seams["feather"]


def _textured_pair():
    """A 96x96 original, smooth (a gentle ramp with faint grain); the generated image the same except a 24x24
    block of another colour (rows and columns 36-60)."""
    rng = np.random.default_rng(3)
    ramp = np.linspace(60, 180, 96, dtype=np.float32)
    original = np.clip(ramp[None, :, None] + rng.normal(0, 2, (96, 96, 3)), 0, 255).astype(np.uint8)
    generated = original.copy()
    generated[36:60, 36:60] = (200, 40, 40)
    return original, generated


def test_the_seam_cut_keeps_what_must_be_blended_and_gives_back_where_the_images_agree():
    original, generated = _textured_pair()
    mask = np.zeros((96, 96), bool)
    mask[20:76, 20:76] = True  # the block grown by 16 px: its outer ring agrees with the original
    keep = np.zeros_like(mask)
    keep[40:56, 40:56] = True
    out = seam_cut(original, generated, mask, keep)
    assert out.dtype == bool and not (out & ~mask).any() and (out | ~keep).all()  # keep <= out <= mask
    near = np.zeros_like(mask)
    near[34:62, 34:62] = True
    assert not (out & ~near).any()  # the ring where the two images agree goes back to the original
    assert out[36:60, 36:60].mean() > 0.8  # on smooth ground the border follows the differing block (its edge)
    # as blended, every pixel outside the cut mask is the original's; inside, the block is drawn
    result = blend(original, generated, out, mode="hard")
    assert np.array_equal(result[~out], original[~out]) and np.array_equal(result[keep], generated[keep])


def test_the_seam_cut_of_a_mask_it_must_keep_whole_or_of_nothing_changes_nothing():
    original, generated = _textured_pair()
    mask = np.zeros((96, 96), bool)
    mask[20:76, 20:76] = True
    assert np.array_equal(seam_cut(original, generated, mask, mask), mask)
    assert np.array_equal(seam_cut(original, generated, np.zeros_like(mask), mask), np.zeros_like(mask))
    two = mask.copy()
    two[:10, :10] = True  # a second group, kept whole
    keep = np.zeros_like(mask)
    keep[:10, :10] = True
    keep[40:56, 40:56] = True
    out = seam_cut(original, generated, two, keep)
    assert out[:10, :10].all() and out[36:60, 36:60].mean() > 0.8 and not (out & ~two).any()


def test_bad_seam_cut_inputs():
    original, generated = _textured_pair()
    mask = np.zeros((96, 96), bool)
    with pytest.raises(CimgenError, match="pixels to keep"):
        seam_cut(original, generated, mask, np.zeros((8, 8), bool))
    with pytest.raises(CimgenError):
        seam_cut(original, generated[:8], mask, mask)
