"""The report folder: the files it writes, exact round trips of the full-size ones, the page, previews, and its picture helpers."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from cimgen.io.images import read_image, read_label_map, read_mask
from cimgen.palette import SYNTH_PALETTE, labels_to_colors
from cimgen.report.html import PREVIEW_MAX, edit_window, fit, mask_overlay, overview, side_by_side, write_report, zoom

H, W = 40, 56
METRICS = {
    "ssim_outside_mask": 0.91234567,
    "mask_area_pixels": 120,
    "outside_mask_identical": True,
    "seam": {"seam": 3.5, "seam_original": None},
    "blend": {"mode": "feather", "feather": 6.0},
}
FLAT_NAMES = [
    "ssim_outside_mask",
    "mask_area_pixels",
    "outside_mask_identical",
    "seam.seam",
    "seam.seam_original",
    "blend.mode",
    "blend.feather",
]
FULL_SIZE = ("result.png", "generated.png", "mask_raw.png", "edited_labels.png")
PAGE_PICTURES = ("original.png", "map.png", "edited_map.png", "mask.png", "generated.png", "result.png")


def _arrays(h: int = H, w: int = W) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    labels = np.zeros((h, w), np.uint8)
    labels[:, w // 2 :] = 1
    labels[h // 4 : h // 2, w // 8 : w // 3] = 2
    edited = labels.copy()
    edited[h // 4 : h // 2, w // 8 : w // 3] = 4
    mask = np.zeros((h, w), bool)
    mask[h // 4 - 2 : h // 2 + 2, w // 8 - 2 : w // 3 + 2] = True
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    result = np.where(mask[..., None], generated, original)
    return {"original": original, "labels": labels, "edited_labels": edited, "mask": mask, "generated": generated, "result": result}


def _write(out, arrays, **kwargs):
    return write_report(out, **arrays, palette=SYNTH_PALETTE, metrics=METRICS, **{"title": "a test", **kwargs})


def test_the_report_writes_every_file_and_full_size_ones_round_trip(tmp_path):
    a = _arrays()
    page = _write(tmp_path, a)
    assert page == tmp_path / "report.html"
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(FULL_SIZE) | set(PAGE_PICTURES) | {"zoom.png", "side_by_side.png", "overview.png", "metrics.json", "report.html"}

    assert np.array_equal(read_image(tmp_path / "result.png"), a["result"])
    assert np.array_equal(read_image(tmp_path / "generated.png"), a["generated"])
    assert np.array_equal(read_image(tmp_path / "mask_raw.png"), np.repeat(a["mask"][..., None].astype(np.uint8) * 255, 3, 2))
    assert np.array_equal(read_mask(tmp_path / "mask_raw.png"), a["mask"])
    assert np.array_equal(read_label_map(tmp_path / "edited_labels.png"), a["edited_labels"])
    # The page's pictures of a small image are full size too.
    assert np.array_equal(read_image(tmp_path / "original.png"), a["original"])
    assert np.array_equal(read_image(tmp_path / "map.png"), labels_to_colors(a["labels"], SYNTH_PALETTE))
    assert np.array_equal(read_image(tmp_path / "edited_map.png"), labels_to_colors(a["edited_labels"], SYNTH_PALETTE))
    assert np.array_equal(read_image(tmp_path / "mask.png"), mask_overlay(a["original"], a["mask"]))
    views = [a["original"], a["generated"], a["result"]]
    assert np.array_equal(read_image(tmp_path / "zoom.png"), zoom(views, a["mask"]))
    assert np.array_equal(read_image(tmp_path / "side_by_side.png"), side_by_side(*views, a["mask"]))
    # Six captioned panels of the image's size, 6 pixels apart.
    assert read_image(tmp_path / "overview.png").shape == (H + 22, 6 * W + 5 * 6, 3)
    assert json.loads((tmp_path / "metrics.json").read_text()) == METRICS


def test_the_page_names_every_metric_shows_every_picture_and_escapes_the_title(tmp_path):
    title = '<script>alert("x")</script> & more'
    page = _write(tmp_path, _arrays(), title=title).read_text()
    for name in FLAT_NAMES:
        assert f"<th>{name}</th>" in page, name
    assert "<td>0.9123</td>" in page  # floats to four significant digits
    assert "<td>True</td>" in page and "<td>None</td>" in page
    assert "<script>" not in page
    assert page.count(f"<title>{html.escape(title)}</title>") == 1
    assert f"<h1>{html.escape(title)}</h1>" in page
    shown = re.findall(r'<img src="([^"]+)"', page)
    assert shown == [*PAGE_PICTURES, "zoom.png"]
    for name in SYNTH_PALETTE.names:
        assert name in page


def test_a_large_image_gets_previews_and_keeps_full_size_outputs(tmp_path):
    h, w = 16, PREVIEW_MAX + 12
    a = _arrays(h, w)
    page = _write(tmp_path, a).read_text()
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    previews = {f"preview/{name}" for name in PAGE_PICTURES}
    assert written == set(FULL_SIZE) | previews | {"zoom.png", "side_by_side.png", "overview.png", "metrics.json", "report.html"}
    assert np.array_equal(read_image(tmp_path / "result.png"), a["result"])
    assert np.array_equal(read_label_map(tmp_path / "edited_labels.png"), a["edited_labels"])
    small = (round(h * 1024 / w), 1024)
    for name in PAGE_PICTURES:
        assert read_image(tmp_path / "preview" / name).shape == (*small, 3), name
    assert np.array_equal(read_image(tmp_path / "preview/original.png"), fit(a["original"], 1024))
    # Maps are scaled by nearest neighbour: only palette colours, no blends of two classes.
    colours = {tuple(c) for c in read_image(tmp_path / "preview/map.png").reshape(-1, 3)}
    assert colours <= {tuple(c) for c in SYNTH_PALETTE.colors}
    assert re.findall(r'<img src="([^"]+)"', page) == [*(f"preview/{n}" for n in PAGE_PICTURES), "zoom.png"]


# ----------------------------------------------------------------------------- helpers


def test_mask_overlay_tints_the_mask_red_and_outlines_it():
    image = np.full((7, 7, 3), 100, np.uint8)
    mask = np.zeros((7, 7), bool)
    mask[2:5, 2:5] = True
    out = mask_overlay(image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, np.full((7, 7, 3), 100, np.uint8))  # the input is left alone
    assert np.array_equal(out[~mask], image[~mask])
    ring = mask.copy()
    ring[3, 3] = False
    assert (out[ring] == [255, 255, 0]).all()  # the outline, in yellow
    assert out[3, 3].tolist() == [177, 50, 50]  # half the image, half pure red


def test_edit_window_is_the_masks_box_plus_a_clipped_margin():
    mask = np.zeros((20, 30), bool)
    mask[5:8, 10:13] = True
    assert edit_window(mask, margin=2) == (slice(3, 10), slice(8, 15))
    assert edit_window(mask, margin=0) == (slice(5, 8), slice(10, 13))
    assert edit_window(mask, margin=16) == (slice(0, 20), slice(0, 29))
    assert edit_window(np.zeros((20, 30), bool)) == (slice(0, 20), slice(0, 30))


def test_fit_scales_down_only_and_keeps_the_aspect():
    image = np.full((100, 50, 3), 77, np.uint8)
    assert fit(image, 100) is image and fit(image, 500) is image
    small = fit(image, 20)
    assert small.shape == (20, 10, 3) and (small == 77).all()
    assert fit(np.zeros((3, 1000, 3), np.uint8), 10).shape == (1, 10, 3)  # never below one pixel


def test_side_by_side_shows_three_captioned_crops_around_the_edit():
    rng = np.random.default_rng(2)
    original, generated, result = (rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(3))
    mask = np.zeros((60, 80), bool)
    mask[20:25, 30:40] = True
    sheet = side_by_side(original, generated, result, mask, margin=4)
    ph, pw = 5 + 8, 10 + 8
    assert sheet.shape == (ph + 22, 3 * pw + 2 * 6, 3)
    for i, im in enumerate((original, generated, result)):
        x = i * (pw + 6)
        assert np.array_equal(sheet[22:, x : x + pw], im[16:29, 26:44])
    assert (sheet[22:, pw : pw + 6] == 255).all()  # white gap between panels
    assert side_by_side(original, generated, result, mask, margin=4, longest=9).shape == (9 * ph // pw + 22, 3 * 9 + 2 * 6, 3)


def test_overview_places_images_under_their_captions():
    images = [np.full((10, 12, 3), v, np.uint8) for v in (0, 128)]
    sheet = overview(images, ["a", "b"], gap=3, caption_height=15)
    assert sheet.shape == (25, 27, 3)
    assert (sheet[15:, :12] == 0).all() and (sheet[15:, 15:] == 128).all() and (sheet[15:, 12:15] == 255).all()


def test_zoom_enlarges_the_crops_by_nearest_neighbour():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    mask = np.zeros((6, 8), bool)
    mask[2, 3] = True
    out = zoom([image, image], mask, margin=1, scale=2)
    crop = image[1:4, 2:5]
    big = crop.repeat(2, 0).repeat(2, 1)
    assert out.shape == (6, 2 * 6 + 4, 3)
    assert np.array_equal(out[:, :6], big) and np.array_equal(out[:, 10:], big) and (out[:, 6:10] == 255).all()


@pytest.mark.parametrize("bad_title", ["<b>bold</b>", "a & b"])
def test_the_title_is_text_not_markup(tmp_path, bad_title):
    page = _write(tmp_path, _arrays(), title=bad_title).read_text()
    assert bad_title not in page and html.escape(bad_title) in page


def test_the_mask_is_captioned_with_what_it_was_made_from(tmp_path):
    a = _arrays()
    plain = write_report(tmp_path / "plain", **a, palette=SYNTH_PALETTE, metrics=METRICS, title="t").read_text()
    assert "Mask (changed labels, dilated)" in plain
    made = {**METRICS, "mask_from": "changed labels and the removed objects' shadows, dilated"}
    page = write_report(tmp_path / "shadows", **a, palette=SYNTH_PALETTE, metrics=made, title="t").read_text()
    assert html.escape("Mask (changed labels and the removed objects' shadows, dilated)") in page
    cut = {**METRICS, "seam_cut": {"pixels": 4, "mask_pixels_before": 900, "mask_pixels": 800, "seconds": 0.01}}
    page = write_report(tmp_path / "cut", **a, palette=SYNTH_PALETTE, metrics=cut, title="t").read_text()
    assert html.escape("Mask (changed labels, dilated; its border moved up to 4 px in, to where") in page
