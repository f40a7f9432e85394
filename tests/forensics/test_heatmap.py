"""Heatmaps: patch grids, dense against per-patch evaluation, per-pixel scores and localisation scores against brute force."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from cimgen.errors import CimgenError
from cimgen.forensics.heatmap import (
    BEST_IOU,
    BEST_THRESHOLD,
    NOTE,
    PIXEL_AUC,
    Heatmap,
    dense_logits,
    heatmap,
    heatmap_picture,
    localisation_scores,
    overlay,
    patch_logits,
    patch_origins,
    patches_at,
    pixel_scores,
)
from cimgen.models.detectors import patchnet, resnet_small
from tests.models.test_detectors import TINY, randomise_batch_norm


@pytest.fixture(scope="module")
def tiny_patchnet():
    torch.manual_seed(0)
    return randomise_batch_norm(patchnet(patch_size=48, **TINY))


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (70, 61, 3), dtype=np.uint8)


def test_patch_origins():
    assert patch_origins(10, 4, 3).tolist() == [0, 3, 6]
    assert patch_origins(10, 4, 4).tolist() == [0, 4, 6]
    assert patch_origins(10, 4, 1).tolist() == list(range(7))
    assert patch_origins(4, 4, 5).tolist() == [0]
    assert patch_origins(10, 4, 100).tolist() == [0, 6]
    with pytest.raises(CimgenError, match="shorter than one 4-pixel patch"):
        patch_origins(3, 4, 1)
    with pytest.raises(CimgenError, match="positive"):
        patch_origins(10, 4, 0)


def test_patches_at_cuts_the_named_patches():
    t = torch.arange(3 * 9 * 8, dtype=torch.float32).reshape(3, 9, 8)
    out = patches_at(t, np.array([0, 5, 2]), np.array([3, 0, 4]), 4)
    assert out.shape == (3, 3, 4, 4)
    assert torch.equal(out[1], t[:, 5:9, 0:4]) and torch.equal(out[2], t[:, 2:6, 4:8])


def test_image_smaller_than_a_patch_is_an_error(tiny_patchnet):
    small = np.zeros((47, 90, 3), dtype=np.uint8)
    for run in (
        lambda: patch_logits(tiny_patchnet, small),
        lambda: dense_logits(tiny_patchnet, small),
        lambda: heatmap(tiny_patchnet, small),
    ):
        with pytest.raises(CimgenError, match="the image is 90x47, smaller than one 48x48 patch"):
            run()
    with pytest.raises(CimgenError, match="uint8 RGB"):
        heatmap(tiny_patchnet, np.zeros((60, 60, 3), dtype=np.float32))


def test_dense_equals_patch_by_patch_and_tiles_stitch_exactly(tiny_patchnet, image):
    grid, ys, xs = patch_logits(tiny_patchnet, image, stride=1, batch_size=97)
    dense, dys, dxs = dense_logits(tiny_patchnet, image)
    assert grid.dtype == np.float32 and grid.shape == (23, 14) == dense.shape
    assert np.array_equal(ys, dys) and np.array_equal(xs, dxs)
    assert grid.std() > 1e-2
    np.testing.assert_allclose(dense, grid, atol=1e-4, rtol=0)
    tiled, _, _ = dense_logits(tiny_patchnet, image, tile=5)
    np.testing.assert_allclose(tiled, dense, atol=1e-5, rtol=0)


def test_dense_heatmap_with_a_stride_subsamples_the_patch_grid(tiny_patchnet, image):
    start = time.perf_counter()
    hm = heatmap(tiny_patchnet, image, stride=5)
    elapsed = time.perf_counter() - start
    # the seconds of the pass itself: some work was timed, and no more than the call took
    assert hm.method == "dense" and hm.patch == 48 and isinstance(hm.seconds, float) and 0 < hm.seconds <= elapsed
    grid, ys, xs = patch_logits(tiny_patchnet, image, stride=5, batch_size=4)
    assert ys.tolist() == [0, 5, 10, 15, 20, 22] and xs.tolist() == [0, 5, 10, 13]
    assert np.array_equal(hm.ys, ys) and np.array_equal(hm.xs, xs)
    np.testing.assert_allclose(hm.probs, 1 / (1 + np.exp(-grid)), atol=1e-5)
    patches = heatmap(tiny_patchnet, image, stride=5, method="patches")
    assert patches.method == "patches"
    np.testing.assert_allclose(patches.probs, hm.probs, atol=1e-5)


def test_models_without_a_dense_pass(image):
    torch.manual_seed(0)
    model = resnet_small(patch_size=32)
    hm = heatmap(model, image, stride=16, batch_size=3)
    assert hm.method == "patches" and hm.probs.shape == (4, 3) and hm.probs.dtype == np.float32
    assert ((hm.probs > 0) & (hm.probs < 1)).all()
    with pytest.raises(CimgenError, match="no dense pass"):
        heatmap(model, image, method="dense")
    with pytest.raises(CimgenError, match="no dense pass"):
        dense_logits(model, image)
    with pytest.raises(CimgenError, match="choose one of auto, dense, patches"):
        heatmap(model, image, method="sliding")


def _brute_pixel_scores(hm: Heatmap, shape: tuple[int, int]) -> np.ndarray:
    total, count = np.zeros(shape), np.zeros(shape)
    for i, y in enumerate(hm.ys):
        for j, x in enumerate(hm.xs):
            total[y : y + hm.patch, x : x + hm.patch] += hm.probs[i, j]
            count[y : y + hm.patch, x : x + hm.patch] += 1
    with np.errstate(invalid="ignore"):
        return total / count


@pytest.mark.parametrize("stride", [1, 3, 5, 7])
def test_pixel_scores_equal_a_loop_over_patches(stride):
    h, w, p = 21, 17, 5
    ys, xs = patch_origins(h, p, stride), patch_origins(w, p, stride)
    probs = np.random.default_rng(stride).random((len(ys), len(xs))).astype(np.float32)
    hm = Heatmap(probs=probs, ys=ys, xs=xs, patch=p, method="patches", seconds=0.0)
    scores = pixel_scores(hm, (h, w))
    expected = _brute_pixel_scores(hm, (h, w))
    assert scores.dtype == np.float32 and scores.shape == (h, w)
    # Stride 7 > patch 5 leaves uncovered rows and columns: NaN in both.
    assert np.array_equal(np.isnan(scores), np.isnan(expected)) and np.isnan(scores).any() == (stride > p)
    np.testing.assert_allclose(scores, expected, atol=1e-6, equal_nan=True)
    with pytest.raises(CimgenError, match="covers a 17x21 image, not 18x21"):
        pixel_scores(hm, (h, w + 1))


def test_localisation_scores_equal_sklearn_and_brute_force():
    rng = np.random.default_rng(0)
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:20, 10:25] = True
    # Rounded scores, so that many pixels tie at each threshold.
    scores = np.round(rng.random(mask.shape) * 0.6 + mask * 0.35, 1).astype(np.float32)
    result = localisation_scores(scores, mask)
    assert result[NOTE] == ""
    assert result[PIXEL_AUC] == pytest.approx(roc_auc_score(mask.ravel(), scores.ravel()), abs=1e-12)
    best_iou, best_t = -1.0, None
    for t in sorted(np.unique(scores), reverse=True):
        pred = scores >= t
        iou = (pred & mask).sum() / (pred | mask).sum()
        if iou > best_iou:
            best_iou, best_t = iou, t
    assert result[BEST_IOU] == pytest.approx(best_iou, abs=1e-12)
    assert result[BEST_THRESHOLD] == pytest.approx(float(best_t), abs=1e-7)
    perfect = localisation_scores(mask.astype(np.float32), mask)
    assert perfect[PIXEL_AUC] == 1.0 and perfect[BEST_IOU] == 1.0 and perfect[BEST_THRESHOLD] == 1.0


def test_localisation_scores_edge_cases():
    scores = np.random.default_rng(0).random((8, 8))
    for mask, word in ((np.zeros((8, 8), bool), "nothing"), (np.ones((8, 8), bool), "everything")):
        result = localisation_scores(scores, mask)
        assert np.isnan(result[PIXEL_AUC]) and np.isnan(result[BEST_IOU]) and np.isnan(result[BEST_THRESHOLD])
        assert word in result[NOTE]
    with pytest.raises(CimgenError, match="bool"):
        localisation_scores(scores, np.ones((8, 8), np.uint8))
    with pytest.raises(CimgenError, match="one shape"):
        localisation_scores(scores, np.ones((8, 9), bool))
    scores[0, 0] = np.nan
    with pytest.raises(CimgenError, match="NaN"):
        localisation_scores(scores, np.eye(8, dtype=bool))


def test_overlay_and_picture(image):
    probs = np.linspace(0, 1, image.shape[0] * image.shape[1]).reshape(image.shape[:2])
    picture = heatmap_picture(probs)
    assert picture.dtype == np.uint8 and picture.shape == image.shape
    assert picture[-1, -1].sum() > picture[0, 0].sum()  # inferno runs from black to pale yellow
    assert np.array_equal(overlay(image, probs, alpha=0.0), image)
    assert np.array_equal(overlay(image, probs, alpha=1.0), picture)
    probs[:10] = np.nan
    mixed = overlay(image, probs)
    assert np.array_equal(mixed[:10], image[:10]) and not np.array_equal(mixed[10:], image[10:])
    with pytest.raises(CimgenError, match=r"\[0, 1\]"):
        heatmap_picture(probs * 2)
    with pytest.raises(CimgenError, match="must match"):
        overlay(image, probs[:5])
    with pytest.raises(CimgenError, match="colormap"):
        heatmap_picture(probs, colormap="no-such-map")
