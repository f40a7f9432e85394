"""Map edits and masks: removal with surrounding fill, replacement, dilation, and empty edits."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.data.synth import BUILDING, GROUND, ROAD, VEGETATION
from cimgen.edit.mask import dilate, edit_mask
from cimgen.edit.ops import RemoveClass, ReplaceClass, apply_edits, fill_from_surroundings
from cimgen.errors import CimgenError


def _scene():
    lab = np.full((40, 40), GROUND, np.int64)
    lab[:, 30:] = ROAD
    lab[0:20, 0:29] = VEGETATION
    lab[5:10, 5:10] = BUILDING  # a house on the lawn
    lab[25:35, 22:30] = BUILDING  # a house on the lot, touching the road
    lab[25:30, 0:3] = BUILDING  # a house outside the box
    return lab


def test_remove_fills_with_the_surrounding_class_not_the_road():
    lab = _scene()
    out = RemoveClass(cls=BUILDING, box=(4, 4, 32, 32)).apply(lab)
    assert (out[5:10, 5:10] == VEGETATION).all()
    assert (out[25:35, 22:30] == GROUND).all()  # whole object removed, though it crosses the box edge
    assert (out[25:30, 0:3] == BUILDING).all()  # untouched outside the box
    assert (out[:, 30:] == ROAD).all()
    assert np.array_equal(lab, _scene())  # the input is not modified


def test_remove_only_inside_box_and_nearest_fill():
    lab = _scene()
    out = RemoveClass(cls=BUILDING, box=(22, 25, 26, 35), whole_objects=False, fill="nearest").apply(lab)
    assert (out[25:35, 22:26] != BUILDING).all() and (out[25:35, 26:30] == BUILDING).all()


def test_replace_in_box_and_in_mask():
    lab = _scene()
    out = ReplaceClass(source=VEGETATION, target=GROUND, box=(0, 0, 10, 40)).apply(lab)
    assert (out[0:20, 0:10][lab[0:20, 0:10] == VEGETATION] == GROUND).all()
    assert (out[0:20, 10:29][lab[0:20, 10:29] == VEGETATION] == VEGETATION).all()
    region = np.zeros_like(lab, bool)
    region[25:35, 22:26] = True
    out = ReplaceClass(source=BUILDING, target=VEGETATION, region=region).apply(lab)
    assert (out[25:35, 22:26] == VEGETATION).all() and (out[25:35, 26:30] == BUILDING).all()
    with pytest.raises(CimgenError, match="exactly one of a box or a mask"):
        ReplaceClass(source=1, target=2).apply(lab)


def test_empty_edits_and_bad_boxes_are_errors():
    lab = _scene()
    with pytest.raises(CimgenError, match="changed nothing"):
        apply_edits(lab, [RemoveClass(cls=BUILDING, box=(12, 12, 20, 20))], num_classes=6)
    with pytest.raises(CimgenError, match="is empty"):
        RemoveClass(cls=BUILDING, box=(10, 10, 5, 20)).apply(lab)
    with pytest.raises(CimgenError, match="outside the 40x40 map"):
        RemoveClass(cls=BUILDING, box=(50, 50, 60, 60)).apply(lab)
    with pytest.raises(CimgenError, match="class 9 is outside"):
        apply_edits(lab, [RemoveClass(cls=9, box=(0, 0, 5, 5))], num_classes=6)
    with pytest.raises(CimgenError, match="no edit"):
        apply_edits(lab, [], num_classes=6)


def test_mask_is_changed_pixels_dilated_by_radius():
    lab = _scene()
    out = RemoveClass(cls=BUILDING, box=(4, 4, 12, 12)).apply(lab)
    m0 = edit_mask(lab, out, radius=0)
    assert np.array_equal(m0, lab != out) and m0.sum() == 25
    m3 = edit_mask(lab, out, radius=3)
    ys, xs = np.nonzero(m3)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (2, 12, 2, 12)
    assert m3[2, 7] and not m3[2, 2]  # a disk, not a square
    with pytest.raises(CimgenError, match="equals the original"):
        edit_mask(lab, lab.copy())
    with pytest.raises(CimgenError, match="radius must be 0 or more"):
        dilate(m0, -1)


def test_fill_of_a_hole_with_no_ring_uses_nearest():
    lab = np.full((5, 5), 1)
    hole = np.ones((5, 5), bool)
    hole[0, 0] = False
    out = fill_from_surroundings(lab, hole)
    assert (out == 1).all()


def test_remove_buildings_from_a_real_footprint_mask():
    from cimgen.io.images import read_label_map
    from tests.conftest import shared

    labels = read_label_map(shared("airtiler-samples/images/mask1.png"))
    out = RemoveClass(cls=1, box=(0, 0, 128, 128)).apply(labels)
    assert (out == 1).sum() < (labels == 1).sum()
    assert set(np.unique(out[labels != out]).tolist()) == {0}  # removed roofs become background
    # Buildings entirely outside the box are kept.
    from scipy import ndimage

    parts, n = ndimage.label(labels == 1)
    outside = [i for i in range(1, n + 1) if not (parts[:128, :128] == i).any()]
    assert outside and all((out[parts == i] == 1).all() for i in outside)
