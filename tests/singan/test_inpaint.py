"""Inpainting, editing and harmonization: pixels outside the region unchanged, the OpenCV baselines, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.io.images import read_image, read_mask
from cimgen.singan.damage import adjacent_frame, occlusion, subtitles
from cimgen.singan.inpaint import default_scale, edit, fit_reference, inpaint, threshold_mask
from tests.conftest import shared


def _damaged(image):
    return occlusion(image, box=(0.3, 0.3, 0.35, 0.35))


@pytest.mark.parametrize("method", ["singan", "telea", "ns"])
def test_pixels_outside_the_region_are_unchanged(tiny_run, tiny_image, method):
    _, model = tiny_run
    damaged, mask = _damaged(tiny_image)
    fill = inpaint(damaged, mask, method=method, model=model, reference=adjacent_frame(tiny_image), dilation=2)
    assert fill.region[mask].all() and fill.region.sum() > mask.sum()
    assert np.array_equal(fill.result[~fill.region], damaged[~fill.region])
    assert not (fill.result[mask] == 255).all(axis=1).all()  # the white box is gone
    if method == "singan":
        assert np.array_equal(fill.result[mask], fill.generated[mask])  # the damaged pixels are wholly replaced
        assert fill.scale == default_scale(model) == 1


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("noise", ["random", "reconstruction"])
def test_every_valid_scale_and_noise_mode(tiny_run, tiny_image, scale, noise):
    _, model = tiny_run
    damaged, mask = _damaged(tiny_image)
    fill = inpaint(damaged, mask, model=model, reference=tiny_image, scale=scale, noise=noise)
    assert fill.scale == scale and fill.result.shape == damaged.shape


def test_reference_of_another_size_is_resized_and_a_reference_of_another_aspect_refused(tiny_run, tiny_image):
    _, model = tiny_run
    damaged, mask = _damaged(tiny_image)
    big = np.repeat(np.repeat(tiny_image, 3, axis=0), 3, axis=1)
    assert inpaint(damaged, mask, model=model, reference=big).result.shape == damaged.shape
    assert fit_reference(big, tiny_image.shape).shape == tiny_image.shape
    with pytest.raises(CimgenError, match="aspect ratios may differ by at most 10%"):
        inpaint(damaged, mask, model=model, reference=np.zeros((80, 30, 3), np.uint8))


def test_bad_masks_scales_and_images(tiny_run, tiny_image):
    _, model = tiny_run
    damaged, mask = _damaged(tiny_image)
    with pytest.raises(CimgenError, match="empty"):
        inpaint(damaged, np.zeros_like(mask), model=model, reference=tiny_image)
    with pytest.raises(CimgenError, match="whole image"):
        inpaint(damaged, np.ones_like(mask), method="telea")
    with pytest.raises(CimgenError, match="injection scale must lie between 1 and 2"):
        inpaint(damaged, mask, model=model, reference=tiny_image, scale=3)
    with pytest.raises(CimgenError, match="unknown inpainting method"):
        inpaint(damaged, mask, method="patchmatch")
    with pytest.raises(CimgenError, match="needs a trained model and a clean reference"):
        inpaint(damaged, mask, model=model)
    small = tiny_image[:12, :14]
    small_mask = np.zeros(small.shape[:2], bool)
    small_mask[4:6, 4:6] = True
    with pytest.raises(CimgenError, match="smaller than the model's coarsest scale"):
        inpaint(small, small_mask, model=model, reference=small)


@pytest.mark.parametrize("kind", ["edit", "harmonize"])
def test_edit_and_harmonize_keep_the_outside(tiny_run, tiny_image, kind):
    _, model = tiny_run
    naive = tiny_image.copy()
    mask = np.zeros(naive.shape[:2], bool)
    mask[5:15, 20:34] = True
    naive[mask] = tiny_image[20:30, 4:18].reshape(-1, 3)  # a pasted patch
    fill = edit(model, naive, mask, kind=kind, dilation=3)
    assert np.array_equal(fill.result[~fill.region], naive[~fill.region])
    with pytest.raises(CimgenError, match="aspect"):
        edit(model, np.zeros((40, 120, 3), np.uint8), np.pad(np.ones((20, 20), bool), 10)[:40, :120].repeat(3, axis=1)[:, :120], kind=kind)


def test_threshold_mask_finds_white_subtitles(tiny_image):
    wide = np.repeat(np.repeat(tiny_image, 4, axis=0), 4, axis=1)
    damaged, truth = subtitles(wide)
    found = threshold_mask(damaged, threshold=240)
    assert found.any() and (found & truth).sum() == found.sum()  # every white pixel found lies on the text
    with pytest.raises(CimgenError, match="mask is empty"):
        threshold_mask(np.zeros((20, 20, 3), np.uint8))


def test_adjacent_frame_is_a_shifted_brighter_copy(tiny_image):
    ref = adjacent_frame(tiny_image, shift=(2, 1), gain=1.0, noise=0.0)
    assert np.array_equal(ref[1:, 2:], tiny_image[:-1, :-2])


def test_threshold_recovers_the_fork_masks():
    folder = shared("singan-inpainting-fork/Inpainting")
    for name in ("0278", "0283", "0329", "0433", "0657", "0993"):
        img, mask = read_image(folder / f"{name}_inp.png"), read_mask(folder / f"{name}_inp_mask.png")
        assert np.array_equal(threshold_mask(img, threshold=250, min_area=20), mask), name


def test_fork_damage_lies_only_inside_its_mask():
    folder = shared("singan-inpainting-fork/Inpainting")
    clean = read_image(shared("singan-inputs/Images") / "balloons.png")
    damaged, mask = read_image(folder / "balloons.png"), read_mask(folder / "balloons_mask.png")
    assert np.array_equal(damaged[~mask], clean[~mask])
    fill = inpaint(damaged, mask, method="telea")
    assert np.array_equal(fill.result[~fill.region], damaged[~fill.region])
