"""Classical baselines: they find a noisier rectangle and a pasted uncompressed region, and reject what they cannot score."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cimgen.errors import CimgenError
from cimgen.forensics.baselines import BASELINES, baseline_scores, error_level_analysis, noise_inconsistency

H, W = 192, 256


def rectangle() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[64:128, 96:176] = True  # on the 8x8 JPEG grid, so only the compression history differs
    return mask


def smooth() -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    grey = 128 + 60 * np.sin(xx / 40.0) * np.cos(yy / 30.0)
    return np.repeat(grey[..., None], 3, axis=2)


def textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (H, W, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(smooth() + noise, 0, 255).round().astype(np.uint8)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    _, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def auc(scores: np.ndarray, mask: np.ndarray) -> float:
    return roc_auc_score(mask.ravel(), scores.ravel())


@pytest.fixture(scope="module")
def noisier_rectangle() -> np.ndarray:
    """A smooth image with noise of sigma 1 everywhere but in the rectangle, where it is 8."""
    rng = np.random.default_rng(0)
    image = smooth() + rng.normal(0, 1, (H, W, 3))
    mask = rectangle()
    image[mask] += rng.normal(0, np.sqrt(8**2 - 1), (mask.sum(), 3))
    return np.clip(image.round(), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", list(BASELINES))
def test_maps_have_the_image_size_and_unit_range_and_are_deterministic(name, noisier_rectangle):
    scores = baseline_scores(name, noisier_rectangle)
    assert scores.shape == (H, W) and scores.dtype == np.float32
    assert scores.min() >= 0 and scores.max() == 1
    np.testing.assert_array_equal(baseline_scores(name, noisier_rectangle), scores)


def test_noise_inconsistency_finds_the_noisier_rectangle(noisier_rectangle):
    mask = rectangle()
    scores = noise_inconsistency(noisier_rectangle)
    assert scores[mask].mean() > 10 * scores[~mask].mean()
    assert auc(scores, mask) > 0.9


@pytest.mark.parametrize(("block", "wavelet"), [(8, "db8"), (16, "haar"), (32, "db4")])
def test_noise_inconsistency_handles_blocks_that_do_not_divide_the_image(block, wavelet, noisier_rectangle):
    image = noisier_rectangle[:181, :250]  # odd height, neither side a multiple of the block
    scores = noise_inconsistency(image, block=block, wavelet=wavelet)
    assert scores.shape == image.shape[:2]
    assert auc(scores, rectangle()[:181, :250]) > 0.9


def test_noise_inconsistency_of_a_flat_image_is_zero():
    assert not noise_inconsistency(np.full((64, 64, 3), 90, np.uint8)).any()


def test_ela_finds_an_uncompressed_paste_in_a_jpeg():
    mask = rectangle()
    forged = jpeg(textured(1), 90)
    forged[mask] = textured(2)[mask]
    scores = error_level_analysis(forged, quality=90)
    assert auc(scores, mask) > 0.8


def test_ela_separates_a_region_with_another_compression_history():
    # A region from a quality-50 copy in a never-compressed image: its error level is the lower one,
    # as coarse quantisation already removed what a re-save at 90 would remove.
    mask = rectangle()
    image = textured(1)
    forged = image.copy()
    forged[mask] = jpeg(image, 50)[mask]
    assert auc(error_level_analysis(forged, quality=90), mask) < 0.2


def test_ela_options_change_the_map(noisier_rectangle):
    raw = error_level_analysis(noisier_rectangle, smoothing=0)
    smoothed = error_level_analysis(noisier_rectangle, smoothing=3.0)

    def roughness(m):  # mean step between neighbours, relative to the map's mean
        return np.abs(np.diff(m, axis=1)).mean() / m.mean()

    assert roughness(raw) > 5 * roughness(smoothed)
    assert not np.array_equal(error_level_analysis(noisier_rectangle, quality=70), error_level_analysis(noisier_rectangle, quality=95))


def test_errors():
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(CimgenError, match="choose from noise, ela"):
        baseline_scores("dct", image)
    with pytest.raises(CimgenError, match="no option 'blocks'; its options are block, wavelet"):
        baseline_scores("noise", image, blocks=8)
    with pytest.raises(CimgenError, match="at least 2 blocks of 16"):
        baseline_scores("noise", np.zeros((24, 64, 3), np.uint8))
    with pytest.raises(CimgenError, match="at least 2 JPEG blocks"):
        baseline_scores("ela", np.zeros((64, 12, 3), np.uint8))
    with pytest.raises(CimgenError, match="uint8"):
        baseline_scores("ela", image.astype(np.float32))
    with pytest.raises(CimgenError, match="H x W x 3"):
        baseline_scores("noise", image[..., 0])
    with pytest.raises(CimgenError, match="block must be"):
        noise_inconsistency(image, block=7)
    with pytest.raises(CimgenError, match="wavelet"):
        noise_inconsistency(image, wavelet="morl")
    with pytest.raises(CimgenError, match="quality"):
        error_level_analysis(image, quality=0)
    with pytest.raises(CimgenError, match="smoothing"):
        error_level_analysis(image, smoothing=-1.0)
