"""The manipulation pipeline on a tiny map with a per-pixel fake renderer: plan, render, blend, metrics."""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from cimgen.edit.blend import BLENDS, DEFAULT_FEATHER
from cimgen.edit.mask import edit_mask
from cimgen.edit.ops import ReplaceClass
from cimgen.edit.pipeline import (
    AUTO_TILE_ABOVE,
    AUTO_TILE_OVERLAP,
    AUTO_TILE_SIZE,
    Manipulation,
    identical_outside,
    manipulate,
    manipulation_metrics,
    plan_edit,
    render_edit,
    tiling_for,
)
from cimgen.errors import CimgenError
from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.metrics.ssim import BORDER, SSIM_SETTINGS

NUM_CLASSES = 4
H, W = 48, 64
COLOURS = np.array([[30, 120, 40], [200, 200, 210], [40, 60, 200], [250, 220, 20]], np.uint8)
# The edit turns the class-1 block (rows 8:16, columns 8:20) into class 3: 8 * 12 changed pixels.
BLOCK = (slice(8, 16), slice(8, 20))
CHANGED = 8 * 12
EDIT = ReplaceClass(source=1, target=3, box=(0, 0, 32, 24))


def _labels() -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[BLOCK] = 1
    labels[30:40, 40:56] = 2
    return labels


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def colour_of(labels: np.ndarray) -> np.ndarray:
    """A deterministic renderer: one colour per class, each pixel from its own label only."""
    return COLOURS[labels]


class Counting:
    """A renderer that records the shape of every map it was asked to render."""

    def __init__(self, inner=colour_of):
        self.inner, self.calls = inner, []

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        self.calls.append(labels.shape)
        return self.inner(labels)


def _without_timings(info: dict) -> dict:
    return {k: v for k, v in info.items() if not k.endswith("_seconds")}


# ----------------------------------------------------------------------------- plan


@pytest.mark.parametrize("radius", [0, 2, 5])
def test_the_mask_is_the_changed_labels_dilated_by_the_radius(radius):
    labels = _labels()
    plan = plan_edit(_image(), labels, [EDIT], num_classes=NUM_CLASSES, radius=radius)
    expected_edit = labels.copy()
    expected_edit[BLOCK] = 3
    assert np.array_equal(plan.edited_labels, expected_edit)
    assert plan.mask.dtype == bool
    assert np.array_equal(plan.mask, edit_mask(labels, plan.edited_labels, radius=radius))
    if radius == 0:
        assert int(plan.mask.sum()) == CHANGED
    else:  # a disk of the radius around the block: the block's box grown by the radius along each axis, corners cut
        ys, xs = np.nonzero(plan.mask)
        assert (ys.min(), ys.max(), xs.min(), xs.max()) == (8 - radius, 15 + radius, 8 - radius, 19 + radius)
        assert not plan.mask[8 - radius, 8 - radius] and plan.mask[12, 8 - radius]
    assert "changed_pixels_outside_mask" not in plan.info
    assert np.array_equal(labels, _labels())  # the input map is left alone


def test_an_edited_map_is_taken_as_given():
    labels = _labels()
    edited = labels.copy()
    edited[0:4, 60:64] = 2
    plan = plan_edit(_image(), labels, None, num_classes=NUM_CLASSES, edited_labels=edited, radius=0)
    assert plan.edited_labels is edited
    assert np.array_equal(plan.mask, labels != edited) and int(plan.mask.sum()) == 16


def test_a_user_mask_is_used_as_given_and_changes_outside_it_are_counted():
    labels = _labels()
    user = np.zeros((H, W), np.uint8)
    user[8:12, :] = 255  # covers the upper half of the changed block: rows 12:16 change outside it
    plan = plan_edit(_image(), labels, [EDIT], num_classes=NUM_CLASSES, mask=user, radius=5)
    assert plan.mask.dtype == bool and np.array_equal(plan.mask, user > 0)
    assert plan.info["changed_pixels_outside_mask"] == 4 * 12

    m = render_edit(_image(), labels, plan, colour_of, blend_mode="hard")
    assert np.array_equal(m.mask, user > 0)
    assert np.array_equal(m.result[8:12], colour_of(m.edited_labels)[8:12])  # the whole band is pasted, unchanged labels too
    assert np.array_equal(m.result[12:], _image()[12:])  # the changed rows below the mask keep the original
    assert manipulation_metrics(m)["changed_pixels_outside_mask"] == 48


def test_a_user_mask_that_holds_every_change_counts_none_outside():
    user = np.zeros((H, W), bool)
    user[BLOCK] = True
    plan = plan_edit(_image(), _labels(), [EDIT], num_classes=NUM_CLASSES, mask=user)
    assert np.array_equal(plan.mask, user)
    assert plan.info["changed_pixels_outside_mask"] == 0


def test_an_edited_map_equal_to_the_original_fails_with_its_sentence():
    labels = _labels()
    message = "the edited map equals the original; there is nothing to manipulate"
    with pytest.raises(CimgenError, match=f"^{re.escape(message)}$"):
        plan_edit(_image(), labels, None, num_classes=NUM_CLASSES, edited_labels=labels.copy())


@pytest.mark.parametrize("both", [True, False])
def test_edits_and_an_edited_map_together_or_neither_fail_with_their_sentence(both):
    labels = _labels()
    edited = labels.copy()
    edited[BLOCK] = 3
    message = "give either edit operations or an edited map, not both"
    with pytest.raises(CimgenError, match=f"^{re.escape(message)}$"):
        if both:
            plan_edit(_image(), labels, [EDIT], num_classes=NUM_CLASSES, edited_labels=edited)
        else:
            plan_edit(_image(), labels, None, num_classes=NUM_CLASSES)


def test_bad_inputs_fail_in_one_sentence():
    labels = _labels()
    with pytest.raises(CimgenError, match="the image must be HxWx3 uint8"):
        plan_edit(_image().astype(np.float32), labels, [EDIT], num_classes=NUM_CLASSES)
    with pytest.raises(CimgenError, match=re.escape("the image is 64x48 but its map is 63x48")):
        plan_edit(_image(), labels[:, :63], [EDIT], num_classes=NUM_CLASSES)
    with pytest.raises(CimgenError, match=re.escape("the edited map is 63x48 but the original is 64x48")):
        plan_edit(_image(), labels, None, num_classes=NUM_CLASSES, edited_labels=labels[:, :63])
    with pytest.raises(CimgenError, match="edited map has label 7"):
        plan_edit(_image(), labels, None, num_classes=NUM_CLASSES, edited_labels=np.full_like(labels, 7))


# ----------------------------------------------------------------------------- render and blend


@pytest.mark.parametrize("mode", list(BLENDS))
@pytest.mark.parametrize("tile_size", [0, 16])
def test_pixels_outside_the_mask_are_the_original_bytes_for_every_blend_mode(mode, tile_size):
    image = _image()
    m = manipulate(image, _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, radius=2, blend_mode=mode, tile_size=tile_size, overlap=4)
    assert m.result.dtype == np.uint8 and m.result.shape == image.shape
    assert np.array_equal(m.result[~m.mask], image[~m.mask])
    assert not np.array_equal(m.result[m.mask], image[m.mask])  # the edit did arrive inside the mask
    assert identical_outside(m.result, image, m.mask)
    assert m.info["blend"]["mode"] == mode
    if mode == "hard":
        assert np.array_equal(m.result[m.mask], colour_of(m.edited_labels)[m.mask])


def test_feather_width_is_passed_to_the_modes_that_have_one():
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, blend_mode="feather", feather=3.0)
    assert m.info["blend"] == {"mode": "feather", "feather": 3.0}
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, blend_mode="laplacian", blend_options={"levels": 2})
    assert m.info["blend"] == {"mode": "laplacian", "levels": 2, "feather": DEFAULT_FEATHER} and DEFAULT_FEATHER == 8.0
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, blend_mode="hard", feather=3.0)
    assert m.info["blend"] == {"mode": "hard"}


@pytest.mark.parametrize("tile_size", [0, 16])
def test_manipulate_is_plan_then_render(tile_size):
    image, labels = _image(), _labels()
    options = {"blend_mode": "poisson", "tile_size": tile_size, "overlap": 4}
    whole = manipulate(image, labels, [EDIT], colour_of, num_classes=NUM_CLASSES, radius=3, **options)
    plan = plan_edit(image, labels, [EDIT], num_classes=NUM_CLASSES, radius=3)
    parts = render_edit(image, labels, plan, colour_of, **options)
    for name, array in whole.arrays().items():
        assert np.array_equal(array, parts.arrays()[name]), name
    assert whole.tiles == parts.tiles
    assert _without_timings(whole.info) == _without_timings(parts.info)


def test_rendering_the_whole_map_calls_the_renderer_once():
    render = Counting()
    m = manipulate(_image(), _labels(), [EDIT], render, num_classes=NUM_CLASSES, tile_size=0)
    assert render.calls == [(H, W)]
    assert m.tiles is None and "tiles_generated" not in m.info
    assert np.array_equal(m.generated, colour_of(m.edited_labels))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # The mask (rows 8:16, columns 8:20) touches the tiles at x 0 and 16 of the top row.
        ("hard", [(0, 0, 16, 16), (0, 16, 16, 16)]),
        # Poisson reads 2 pixels around the mask: rows 6:18 reach the second tile row too.
        ("poisson", [(0, 0, 16, 16), (0, 16, 16, 16), (16, 0, 16, 16), (16, 16, 16, 16)]),
    ],
)
def test_tiled_generation_renders_only_the_tiles_near_the_mask(mode, expected):
    image, labels = _image(), _labels()
    render, done = Counting(), []
    m = manipulate(
        image, labels, [EDIT], render, num_classes=NUM_CLASSES, radius=0, blend_mode=mode, tile_size=16, overlap=0,
        progress=lambda i, n: done.append((i, n)),
    )  # fmt: skip
    assert render.calls == [(16, 16)] * len(expected)
    assert m.tiles == expected
    assert done == [(i + 1, len(expected)) for i in range(len(expected))]
    assert {k: m.info[k] for k in ("tile_size", "overlap", "tiles_generated", "tiles_total")} == {
        "tile_size": 16, "overlap": 0, "tiles_generated": len(expected), "tiles_total": 12,
    }  # fmt: skip
    rendered = np.zeros((H, W), bool)
    for y, x, h, w in expected:
        rendered[y : y + h, x : x + w] = True
    # Where no tile was rendered the generated image is the original; where one was, the per-pixel rendering.
    assert np.array_equal(m.generated[~rendered], image[~rendered])
    assert np.array_equal(m.generated[rendered], colour_of(m.edited_labels)[rendered])
    assert np.array_equal(m.result[~m.mask], image[~m.mask])
    untiled = manipulate(image, labels, [EDIT], colour_of, num_classes=NUM_CLASSES, radius=0, blend_mode=mode, tile_size=0)
    assert np.array_equal(m.result[m.mask], untiled.result[m.mask])


def test_a_generator_that_returns_the_wrong_image_fails_in_one_sentence():
    with pytest.raises(CimgenError, match=re.escape("the generator returned uint8 (48, 64) for a 64x48 map")):
        manipulate(_image(), _labels(), [EDIT], lambda t: colour_of(t)[..., 0], num_classes=NUM_CLASSES)


def test_arrays_names_the_six_full_size_arrays():
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES)
    arrays = m.arrays()
    assert list(arrays) == ["original", "labels", "edited_labels", "mask", "generated", "result"]
    for name, array in arrays.items():
        assert array is getattr(m, name)


# ----------------------------------------------------------------------------- tiling_for


@pytest.mark.parametrize(
    ("shape", "tile_size", "overlap", "expected"),
    [
        ((H, W), 0, None, None),  # 0: never tiled
        ((8192, 8192), 0, 64, None),
        ((AUTO_TILE_ABOVE, AUTO_TILE_ABOVE), None, None, None),  # None: automatic, up to the threshold whole
        ((AUTO_TILE_ABOVE + 1, 10), None, None, (AUTO_TILE_SIZE, AUTO_TILE_OVERLAP)),
        ((10, 5000), None, 64, (AUTO_TILE_SIZE, 64)),
        ((H, W), 256, None, (256, AUTO_TILE_OVERLAP)),  # given: tiled even when small
        ((H, W), 16, 4, (16, 4)),
        ((8192, 8192), 512, 0, (512, 0)),
    ],
)
def test_tiling_for(shape, tile_size, overlap, expected):
    assert tiling_for(shape, tile_size, overlap) == expected


def test_the_automatic_tiling_constants():
    assert (AUTO_TILE_ABOVE, AUTO_TILE_SIZE, AUTO_TILE_OVERLAP) == (2048, 1024, 128)


# ----------------------------------------------------------------------------- identical_outside


@pytest.mark.parametrize("rows", [512, 4, 1])
def test_identical_outside_sees_one_pixel_outside_the_mask_and_ignores_one_inside(rows):
    a = _image()
    mask = np.zeros((H, W), bool)
    mask[BLOCK] = True
    assert identical_outside(a, a.copy(), mask, rows=rows)
    inside = a.copy()
    inside[10, 10, 1] ^= 1
    assert identical_outside(a, inside, mask, rows=rows)
    outside = a.copy()
    outside[H - 1, 0, 2] ^= 1  # in the last band of rows
    assert not identical_outside(a, outside, mask, rows=rows)
    just_outside = a.copy()
    just_outside[16, 10, 0] ^= 1  # the row below the block
    assert not identical_outside(a, just_outside, mask, rows=rows)


# ----------------------------------------------------------------------------- metrics


def _reference_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    _, full = structural_similarity(a, b, channel_axis=2, full=True, **SSIM_SETTINGS)
    keep = ~mask
    keep[:BORDER], keep[-BORDER:], keep[:, :BORDER], keep[:, -BORDER:] = False, False, False, False
    return float(full.mean(axis=2)[keep].mean())


def _reference_seam(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean channel-averaged absolute difference over every 4-neighbour pair with one pixel in the mask."""
    values = []
    for y in range(H):
        for x in range(W):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy < H and x + dx < W and mask[y, x] != mask[y + dy, x + dx]:
                    values.append(np.abs(image[y, x].astype(int) - image[y + dy, x + dx].astype(int)).mean())
    return float(np.mean(values))


METRIC_KEYS = {
    "ssim_outside_mask", "ssim_settings", "pixels_outside_mask", "mask_area_pixels", "mask_area_fraction",
    "changed_label_pixels", "seam", "outside_mask_identical", "edit_seconds", "generate_seconds", "blend_seconds", "blend",
    "checkerboard",
}  # fmt: skip


def test_manipulation_metrics_keys_and_values():
    image, labels = _image(), _labels()
    start = time.perf_counter()
    m = manipulate(image, labels, [EDIT], colour_of, num_classes=NUM_CLASSES, radius=0, blend_mode="hard")
    elapsed = time.perf_counter() - start
    metrics = manipulation_metrics(m)
    assert set(metrics) == METRIC_KEYS
    assert metrics["changed_label_pixels"] == CHANGED
    assert metrics["mask_area_pixels"] == CHANGED
    assert metrics["mask_area_fraction"] == round(CHANGED / (H * W), 6)
    assert metrics["outside_mask_identical"] is True
    # Off the 5-pixel border: 38 x 54 pixels, less the 96 of the mask (all inside it).
    assert metrics["pixels_outside_mask"] == (H - 2 * BORDER) * (W - 2 * BORDER) - CHANGED
    assert metrics["ssim_outside_mask"] == round(_reference_ssim(m.generated, image, m.mask), 4)
    assert metrics["ssim_settings"] == {
        **SSIM_SETTINGS,
        "compared": "generated vs original, mean of the SSIM map over pixels outside the mask",
    }
    seam = _reference_seam(m.result, m.mask)
    natural = _reference_seam(image, m.mask)
    assert metrics["seam"] == {"seam": round(seam, 3), "seam_original": round(natural, 3), "seam_ratio": round(seam / natural, 3)}
    assert metrics["blend"] == {"mode": "hard"}
    board = checkerboard_report(m.generated, image)
    assert metrics["checkerboard"]["ratio"] == round(board["ratio"], 6) and metrics["checkerboard"]["periods"] == [2, 4, 8]
    # Seconds of each stage, rounded to milliseconds as documented; together they fit inside the call they were timed in.
    stages = [metrics[k] for k in ("edit_seconds", "generate_seconds", "blend_seconds")]
    assert all(isinstance(s, float) and s >= 0 and s == round(s, 3) for s in stages)
    assert sum(stages) <= elapsed + 0.0015


def test_metrics_of_a_generator_that_gives_back_the_original_are_perfect():
    image = _image()
    m = manipulate(image, _labels(), [EDIT], lambda t: image.copy(), num_classes=NUM_CLASSES, radius=4, blend_mode="feather")
    metrics = manipulation_metrics(m)
    assert metrics["ssim_outside_mask"] == 1.0
    assert np.array_equal(m.result, image)
    assert metrics["seam"]["seam"] == metrics["seam"]["seam_original"] and metrics["seam"]["seam_ratio"] == 1.0


def test_ssim_is_none_when_the_mask_covers_everything():
    everything = np.ones((H, W), bool)
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, mask=everything, blend_mode="hard")
    metrics = manipulation_metrics(m)
    assert set(metrics) == METRIC_KEYS | {"changed_pixels_outside_mask"}
    assert metrics["ssim_outside_mask"] is None
    assert metrics["pixels_outside_mask"] == 0
    assert metrics["mask_area_pixels"] == H * W and metrics["mask_area_fraction"] == 1.0
    assert metrics["changed_pixels_outside_mask"] == 0
    assert metrics["seam"] == {"seam": None, "seam_original": None, "seam_ratio": None}
    assert metrics["outside_mask_identical"] is True
    assert np.array_equal(m.result, colour_of(m.edited_labels))


def test_ssim_is_none_when_the_mask_leaves_only_the_border():
    mask = np.zeros((H, W), bool)
    mask[BORDER:-BORDER, BORDER:-BORDER] = True
    m = manipulate(_image(), _labels(), [EDIT], colour_of, num_classes=NUM_CLASSES, mask=mask, blend_mode="hard")
    metrics = manipulation_metrics(m)
    assert metrics["ssim_outside_mask"] is None and metrics["pixels_outside_mask"] == 0
    assert metrics["mask_area_pixels"] == (H - 2 * BORDER) * (W - 2 * BORDER)


def test_tiled_metrics_compare_inside_the_generated_tiles_only():
    image, labels = _image(), _labels()
    m = manipulate(image, labels, [EDIT], colour_of, num_classes=NUM_CLASSES, radius=0, blend_mode="hard", tile_size=16, overlap=0)
    metrics = manipulation_metrics(m)
    assert set(metrics) == METRIC_KEYS | {"tile_size", "overlap", "tiles_generated", "tiles_total"}
    assert metrics["ssim_settings"]["compared"].endswith(", inside the generated tiles")
    assert metrics["tiles_generated"] == 2 and metrics["tiles_total"] == 12
    # Each 16x16 tile loses its 5-pixel border: 6x6 pixels, less the mask pixels inside those cores.
    cores = np.zeros((H, W), bool)
    for y, x, h, w in m.tiles:
        cores[y + BORDER : y + h - BORDER, x + BORDER : x + w - BORDER] = True
    assert metrics["pixels_outside_mask"] == int((cores & ~m.mask).sum())
    assert metrics["outside_mask_identical"] is True


def test_a_manipulation_can_be_built_by_hand():
    image, labels = _image(), _labels()
    edited = labels.copy()
    edited[BLOCK] = 3
    mask = labels != edited
    m = Manipulation(original=image, labels=labels, edited_labels=edited, mask=mask, generated=image, result=image)
    metrics = manipulation_metrics(m)
    assert metrics["ssim_outside_mask"] == 1.0 and metrics["changed_label_pixels"] == CHANGED
    assert m.tiles is None and m.info == {}


def test_matching_a_jpegs_compression_changes_the_mask_only_and_leaves_it_as_compressed_as_the_rest(tmp_path):
    from PIL import Image

    from cimgen.edit.pipeline import match_jpeg
    from cimgen.io.images import read_image, read_jpeg_compression, recompress_jpeg

    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), (0, 0), 1.5)
    Image.fromarray(smooth).save(tmp_path / "photo.jpg", quality=60)
    photo, compression = read_image(tmp_path / "photo.jpg"), read_jpeg_compression(tmp_path / "photo.jpg")
    labels = np.zeros((128, 128), np.uint8)
    labels[32:96, 32:96] = 1
    texture = cv2.GaussianBlur(rng.integers(40, 216, (128, 128, 3), dtype=np.uint8), (0, 0), 1.5)  # never compressed
    edit = ReplaceClass(source=1, target=3, box=(0, 0, 128, 128))
    m = manipulate(photo, labels, [edit], lambda _: texture, num_classes=NUM_CLASSES)
    before = m.result.copy()
    match_jpeg(m, compression)
    assert np.array_equal(m.result[~m.mask], before[~m.mask]) and not np.array_equal(m.result[m.mask], before[m.mask])
    assert m.info["jpeg"]["matched"] and m.info["jpeg"]["mean_change_in_mask"] > 0

    # what error level analysis looks at: how much a pixel moves when compressed again as the file was
    def moved(image):
        return np.abs(recompress_jpeg(image, compression).astype(int) - image).mean(-1)

    core = cv2.erode(m.mask.astype(np.uint8), np.ones((33, 33), np.uint8)) > 0  # off the blocks the mask's edge crosses
    assert core.any() and moved(before)[core].mean() > 3 * moved(m.result)[core].mean()
    assert moved(m.result)[core].mean() < 2 * moved(photo).mean() + 0.5  # as settled as the photo around it


def test_a_derived_mask_gives_up_at_most_cut_pixels_of_its_border_where_the_generated_image_agrees():
    image, labels = _image(), _labels()

    def like_the_photo(edited: np.ndarray) -> np.ndarray:  # the original, but the replaced block in its new colour
        return np.where((edited == 3)[..., None], COLOURS[3], image)

    plan = plan_edit(image, labels, [EDIT], num_classes=NUM_CLASSES, radius=5)
    whole = render_edit(image, labels, plan, like_the_photo, blend_mode="hard")
    assert np.array_equal(whole.mask, plan.mask) and "seam_cut" not in whole.info
    m = render_edit(image, labels, plan, like_the_photo, blend_mode="hard", cut=3)
    assert not (m.mask & ~plan.mask).any() and (m.mask | ~edit_mask(labels, m.edited_labels, radius=2)).all()
    assert m.mask.sum() < plan.mask.sum() and m.mask[BLOCK].all()
    assert m.info["seam_cut"] == {
        "pixels": 3,
        "mask_pixels_before": int(plan.mask.sum()),
        "mask_pixels": int(m.mask.sum()),
        "seconds": m.info["seam_cut"]["seconds"],
    }
    assert identical_outside(m.result, image, m.mask) and np.array_equal(m.result, whole.result)  # given back where equal
    # at most the radius: a cut of 50 keeps the changed labels themselves
    wide = render_edit(image, labels, plan, like_the_photo, blend_mode="hard", cut=50)
    assert wide.info["seam_cut"]["pixels"] == 5 and wide.mask[BLOCK].all()
    # a user's mask is blended as drawn
    user = plan_edit(image, labels, [EDIT], num_classes=NUM_CLASSES, mask=plan.mask.astype(np.uint8) * 255)
    drawn = render_edit(image, labels, user, like_the_photo, blend_mode="hard", cut=3)
    assert np.array_equal(drawn.mask, plan.mask) and "seam_cut" not in drawn.info
    with pytest.raises(CimgenError, match="seam cut must be 0 or more"):
        render_edit(image, labels, plan, like_the_photo, cut=-1)
