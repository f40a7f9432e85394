"""Saliency maps, ASVS, SSIM against a reference and the OpenCV baseline, checked against direct computations and real data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from cimgen.errors import CimgenError
from cimgen.io.images import read_image
from cimgen.metrics.inpainting import (
    EMPTY_MASK,
    KEY_ASVS,
    KEY_MASK_FRACTION,
    KEY_MASK_PIXELS,
    KEY_SALIENCY,
    KEY_SSIM,
    KEY_SSIM_FILLED,
    KEY_SSIM_FILLED_PIXELS,
    KEY_SSIM_SETTINGS,
    asvs,
    inpainting_scores,
    opencv_inpaint,
    ssim_to_reference,
)
from cimgen.metrics.saliency import DEFAULT_SALIENCY, SALIENCY_MODELS, normalise_map, saliency_map
from tests.conftest import shared

NUMBERED_SETS = ("0278", "0283", "0300", "0329", "0433", "0530", "0657", "0671", "0943", "0992", "0993")
OPENCV_FACTORIES = {
    "spectral-residual": lambda: cv2.saliency.StaticSaliencySpectralResidual_create(),
    "fine-grained": lambda: cv2.saliency.StaticSaliencyFineGrained_create(),
}


def _scene(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with a bright disc and mild noise: something with a salient spot."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    img = np.stack([x * 200 / width, y * 200 / height, (x + y) * 100 / (height + width)], axis=2) + 20
    img[(y - height // 3) ** 2 + (x - width // 4) ** 2 < 49] = [250, 240, 30]
    img += rng.normal(0, 3, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _hole(shape: tuple[int, ...], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[top : top + size, left : left + size] = True
    return mask


def _reference_saliency(image: np.ndarray, model: str) -> np.ndarray:
    """OpenCV's map for the BGR image, min-max normalised in float64: the straightforward way."""
    ok, raw = OPENCV_FACTORIES[model]().computeSaliency(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    raw = raw.astype(np.float64)
    return (raw - raw.min()) / (raw.max() - raw.min())


@pytest.mark.parametrize("model", sorted(SALIENCY_MODELS))
def test_saliency_map_spans_zero_to_one(model):
    img = _scene()
    sal = saliency_map(img, model=model)
    assert sal.dtype == np.float32 and sal.shape == img.shape[:2]
    assert sal.min() == 0.0 and sal.max() == 1.0


@pytest.mark.parametrize("model", sorted(SALIENCY_MODELS))
def test_saliency_map_reads_rgb_as_opencv_reads_bgr(model):
    img = _scene(seed=2)
    np.testing.assert_allclose(saliency_map(img, model=model), _reference_saliency(img, model), atol=1e-6)


@pytest.mark.parametrize("model", sorted(SALIENCY_MODELS))
def test_flat_image_and_constant_map_give_zeros(model):
    flat = np.full((30, 40, 3), 128, np.uint8)
    assert not saliency_map(flat, model=model).any()
    assert not normalise_map(np.full((5, 6), 0.7, np.float32)).any()


def test_unknown_saliency_model_names_the_valid_ones():
    with pytest.raises(CimgenError, match="unknown saliency model 'itti'; choose one of: spectral-residual, fine-grained"):
        saliency_map(_scene(), model="itti")
    with pytest.raises(CimgenError, match="unknown saliency model"):
        asvs(_scene(), _hole((64, 80), 10, 10, 8), model="itti")


@pytest.mark.parametrize("model", sorted(SALIENCY_MODELS))
def test_asvs_matches_a_loop_over_the_masked_pixels(model):
    img = _scene(seed=3)
    mask = np.zeros(img.shape[:2], bool)
    mask[10:30, 20:50] = True
    mask[40, 5] = True  # a second, disconnected piece
    sal = _reference_saliency(img, model)
    total, count = 0.0, 0
    for row in range(mask.shape[0]):
        for col in range(mask.shape[1]):
            if mask[row, col]:
                total += sal[row, col] ** 2
                count += 1
    assert asvs(img, mask, model=model) == pytest.approx(total / count, rel=1e-6)


@pytest.mark.parametrize("model", sorted(SALIENCY_MODELS))
def test_asvs_bounds(model):
    img = _scene(seed=4)
    sal = saliency_map(img, model=model)
    peak = np.zeros(img.shape[:2], bool)
    peak[np.unravel_index(np.argmax(sal), sal.shape)] = True
    trough = np.zeros_like(peak)
    trough[np.unravel_index(np.argmin(sal), sal.shape)] = True
    assert asvs(img, peak, model=model) == pytest.approx(1.0)
    assert asvs(img, trough, model=model) == pytest.approx(0.0)
    assert 0.0 < asvs(img, np.ones_like(peak), model=model) < 1.0


def test_ssim_matches_scikit_image_over_the_image_and_inside_the_hole():
    clean = _scene(seed=5)
    rng = np.random.default_rng(6)
    result = np.clip(clean.astype(int) + rng.integers(-25, 25, clean.shape), 0, 255).astype(np.uint8)
    mask = _hole(clean.shape, 2, 30, 20)  # reaches into the top border, which SSIM leaves out
    settings = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    whole, full = structural_similarity(result, clean, channel_axis=2, full=True, **settings)
    inside = mask.copy()
    inside[:5], inside[-5:], inside[:, :5], inside[:, -5:] = False, False, False, False
    per_pixel = full.mean(axis=2)
    expected_inside = sum(per_pixel[r, c] for r, c in zip(*np.nonzero(inside))) / inside.sum()

    got = ssim_to_reference(result, clean, mask=mask)
    assert got[KEY_SSIM] == pytest.approx(whole, abs=1e-9)
    assert got[KEY_SSIM_FILLED] == pytest.approx(expected_inside, abs=1e-9)
    assert got[KEY_SSIM_FILLED_PIXELS] == 17 * 20
    assert ssim_to_reference(result, clean) == {KEY_SSIM: got[KEY_SSIM]}
    assert ssim_to_reference(clean, clean, mask=mask)[KEY_SSIM_FILLED] == pytest.approx(1.0)


def test_inpainting_scores_record_their_settings():
    clean = _scene(seed=7)
    mask = _hole(clean.shape, 20, 30, 16)
    damaged = clean.copy()
    damaged[mask] = 255
    scores = inpainting_scores(damaged, clean, mask, saliency="spectral-residual")
    assert scores[KEY_SALIENCY] == "spectral-residual"
    assert scores[KEY_MASK_PIXELS] == 256 and scores[KEY_MASK_FRACTION] == pytest.approx(256 / (64 * 80))
    assert scores[KEY_SSIM_SETTINGS]["sigma"] == 1.5 and scores[KEY_SSIM_SETTINGS]["excluded_border"] == 5
    assert scores[KEY_ASVS] == pytest.approx(asvs(damaged, mask, model="spectral-residual"))
    assert inpainting_scores(damaged, clean, mask)[KEY_SALIENCY] == DEFAULT_SALIENCY
    assert set(scores) == {KEY_SSIM, KEY_SSIM_FILLED, KEY_SSIM_FILLED_PIXELS, KEY_ASVS, KEY_MASK_PIXELS, KEY_MASK_FRACTION,
                           KEY_SALIENCY, KEY_SSIM_SETTINGS}  # fmt: skip


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_opencv_inpaint_changes_only_the_hole(method):
    clean = _scene(seed=8)
    mask = _hole(clean.shape, 20, 30, 14)
    mask[50:53, 3:70] = True
    damaged = clean.copy()
    damaged[mask] = 255
    filled = opencv_inpaint(damaged, mask, method=method, radius=3)
    assert filled.dtype == np.uint8 and filled.shape == clean.shape
    assert np.array_equal(filled[~mask], damaged[~mask])
    assert not np.array_equal(filled[mask], damaged[mask])
    # on a smooth scene a diffusion fill is much closer to the truth than the white hole
    error = np.abs(filled.astype(int) - clean.astype(int))[mask].mean()
    assert error < np.abs(damaged.astype(int) - clean.astype(int))[mask].mean() / 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda img, m: asvs(img, np.zeros_like(m)), EMPTY_MASK),
        (lambda img, m: ssim_to_reference(img, img, mask=np.zeros_like(m)), EMPTY_MASK),
        (lambda img, m: opencv_inpaint(img, np.zeros_like(m)), EMPTY_MASK),
        (lambda img, m: asvs(img, m.astype(np.uint8)), "the mask must be a bool HxW array, got uint8"),
        (lambda img, m: asvs(img, m[:, :-1]), "the mask is 79x64 but the image is 80x64"),
        (lambda img, m: ssim_to_reference(img, img[:-1]), "the result is 80x64 but the reference is 80x63"),
        (lambda img, m: ssim_to_reference(img.astype(np.float32), img), "the result must be a uint8 HxWx3 image, got float32"),
        (lambda img, m: ssim_to_reference(img, img[..., 0]), "the reference must be a uint8 HxWx3 image"),
        (lambda img, m: ssim_to_reference(img[:8], img[:8]), "SSIM needs images of at least 11x11 pixels"),
        (lambda img, m: ssim_to_reference(img, img, mask=_hole(img.shape, 0, 0, 4)), "wholly in the 5-pixel image border"),
        (lambda img, m: inpainting_scores(img, img, m, saliency="nope"), "unknown saliency model 'nope'"),
        (
            lambda img, m: opencv_inpaint(img, m, method="patchmatch"),
            "unknown OpenCV inpainting method 'patchmatch'; choose one of: telea, ns",
        ),
        (lambda img, m: opencv_inpaint(img, m, radius=0), "the inpainting radius must be positive"),
    ],
)
def test_bad_input_is_one_clear_sentence(call, message):
    img = _scene()
    with pytest.raises(CimgenError, match=message.replace("(", r"\(")) as info:
        call(img, _hole(img.shape, 20, 20, 10))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("stem", NUMBERED_SETS)
def test_opencv_telea_beats_the_unfilled_hole_on_real_sets(stem):
    clean = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_gth.png"))
    damaged = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_inp.png"))
    mask = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_inp_mask.png")).max(axis=2) > 0
    filled = opencv_inpaint(damaged, mask, method="telea")
    assert np.array_equal(filled[~mask], clean[~mask])
    before = ssim_to_reference(damaged, clean, mask=mask)
    after = ssim_to_reference(filled, clean, mask=mask)
    assert after[KEY_SSIM] > before[KEY_SSIM]
    assert after[KEY_SSIM_FILLED] > before[KEY_SSIM_FILLED]


def test_default_saliency_finds_the_unfilled_hole_salient_on_real_sets():
    # The reason for the default model (docs/inpainting-metrics.md): on average the white hole
    # stands out more than the true content it hides.
    hole, truth = [], []
    for stem in NUMBERED_SETS:
        clean = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_gth.png"))
        damaged = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_inp.png"))
        mask = read_image(shared(f"singan-inpainting-fork/Inpainting/{stem}_inp_mask.png")).max(axis=2) > 0
        hole.append(asvs(damaged, mask))
        truth.append(asvs(clean, mask))
    assert np.mean(hole) > np.mean(truth)
