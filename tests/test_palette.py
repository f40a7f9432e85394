"""Palettes: colour maps to labels and back, and clear errors for unknown colours and labels."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE, Palette, check_labels, colors_to_labels, labels_to_colors


def test_round_trip():
    labels = np.random.default_rng(0).integers(0, 6, (20, 30))
    assert np.array_equal(colors_to_labels(labels_to_colors(labels, SYNTH_PALETTE), SYNTH_PALETTE), labels)


def test_near_colours_snap_within_tolerance_and_fail_beyond():
    rgb = labels_to_colors(np.array([[0, 1], [2, 3]]), SYNTH_PALETTE).copy()
    rgb[0, 1] = (250, 252, 249)  # anti-aliased road white
    assert colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)[0, 1] == 1
    rgb[1, 0] = (255, 0, 0)
    with pytest.raises(CimgenError, match=r"colour \(255, 0, 0\) at pixel \(x=0, y=1\)"):
        colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)


def test_label_out_of_range_names_label_and_place():
    labels = np.zeros((4, 5), np.int64)
    labels[2, 3] = 9
    with pytest.raises(CimgenError, match=r"label 9 at pixel \(x=3, y=2\), outside the configured 6 classes"):
        check_labels(labels, 6)


def test_class_lookup_and_validation():
    assert SYNTH_PALETTE.class_id("building") == 2 and SYNTH_PALETTE.class_id("3") == 3
    with pytest.raises(CimgenError, match="unknown class 'house'"):
        SYNTH_PALETTE.class_id("house")
    with pytest.raises(CimgenError, match="one colour per class"):
        Palette(names=("a", "b"), colors=((0, 0, 0),))
    assert Palette.from_dict(SYNTH_PALETTE.to_dict()) == SYNTH_PALETTE


# ---------------------------------------------------------------------------------------------
# Maps painted in GIMP or Photoshop: near and anti-aliased colours snap, strangers are refused


def _painted():
    from cimgen.palette import CITYSCAPES_PALETTE

    lab = np.full((40, 60), 7, np.int64)  # road
    lab[8:30, 10:30] = 26  # car
    lab[5:35, 40:55] = 21  # vegetation
    return lab, CITYSCAPES_PALETTE


def test_antialiased_brush_edges_snap_to_one_of_the_two_classes():
    import cv2

    from cimgen.palette import labels_to_colors, snap_colors

    lab, pal = _painted()
    rgb = labels_to_colors(lab, pal)
    soft = cv2.GaussianBlur(rgb, (5, 5), 1.2)  # an anti-aliased, soft-edged painting
    soft[0, 0] = np.clip(soft[0, 0].astype(int) + 9, 0, 255)  # a slightly-off colour (JPEG-like)
    out, counts = snap_colors(soft, pal)
    assert counts["blended"] > 0 and counts["exact"] > 0
    # Every pixel becomes one of the two classes that meet there, and the interiors are exact.
    edge = (
        cv2.dilate((lab != np.roll(lab, 1, 0)).astype(np.uint8) | (lab != np.roll(lab, 1, 1)).astype(np.uint8), np.ones((5, 5), np.uint8))
        > 0
    )
    assert np.array_equal(out[~edge], lab[~edge])
    assert np.isin(out, [7, 26, 21]).all()
    assert (out != lab).mean() < 0.02  # the edge moves by at most a pixel here and there


def test_a_colour_far_from_every_class_is_refused_with_where_it_is():
    from cimgen.palette import labels_to_colors, snap_colors

    lab, pal = _painted()
    rgb = labels_to_colors(lab, pal)
    rgb[12:14, 33:35] = (255, 140, 255)
    with pytest.raises(CimgenError) as e:
        snap_colors(rgb, pal, source="gimp.png")
    msg = str(e.value)
    assert "gimp.png has colour (255, 140, 255) in 4 pixel(s), e.g. at (x=33, y=12)" in msg and "nearest class is" in msg
    out, _ = snap_colors(rgb, pal, tolerance=300)  # with a huge tolerance everything is near something
    assert out.shape == lab.shape


def test_edited_label_file_is_checked_against_the_classes(tmp_path):
    from cimgen.io.images import read_edited_map, write_label_map
    from cimgen.palette import SYNTH_PALETTE

    lab = np.zeros((5, 6), np.int64)
    lab[2, 3] = 9
    write_label_map(tmp_path / "l.png", lab)
    with pytest.raises(CimgenError, match=r"label 9 at pixel \(x=3, y=2\)"):
        read_edited_map(tmp_path / "l.png", SYNTH_PALETTE)


def test_a_real_cityscapes_map_painted_and_antialiased_snaps_back():
    import cv2

    from cimgen.io.images import read_label_map
    from cimgen.palette import CITYSCAPES_PALETTE, canonical_ids, labels_to_colors, snap_colors
    from tests.conftest import shared

    path = shared("cityscapes-samples/train_label/aachen_000000_000019_gtFine_labelIds.png")
    lab = cv2.resize(read_label_map(path).astype(np.uint8), (512, 256), interpolation=cv2.INTER_NEAREST).astype(np.int64)
    lab[100:160, 300:380] = 26  # a car painted in
    want = canonical_ids(CITYSCAPES_PALETTE)[lab]
    soft = cv2.GaussianBlur(labels_to_colors(lab, CITYSCAPES_PALETTE), (3, 3), 0.8)
    out, counts = snap_colors(soft, CITYSCAPES_PALETTE)
    assert counts["blended"] > 0
    assert (out != want).mean() < 0.03  # only edge pixels may move, to a neighbouring class
    assert np.array_equal(out[100 + 3 : 160 - 3, 300 + 3 : 380 - 3], want[103:157, 303:377])
