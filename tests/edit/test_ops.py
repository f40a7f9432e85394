"""Map edits and masks: removal with surrounding fill, replacement, dilation, and empty edits."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.data.synth import BUILDING, GROUND, ROAD, VEGETATION, WATER
from cimgen.edit.mask import dilate, edit_mask
from cimgen.edit.ops import (
    InsertShape,
    MoveObject,
    PasteObject,
    RegionCrop,
    RemoveClass,
    RemoveObject,
    ReplaceClass,
    apply_edits,
    fill_from_surroundings,
)
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
    with pytest.raises(CimgenError, match="exactly one of a box, a polygon or a mask"):
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


# ---------------------------------------------------------------------------------------------
# Objects under a point, picks, shapes, moves, copies and pastes


def _two_houses():
    lab = np.full((30, 40), GROUND, np.int64)
    lab[5:10, 5:12] = BUILDING
    lab[18:25, 25:33] = BUILDING
    lab[:, 36:] = ROAD
    return lab


def test_remove_object_under_a_point_takes_only_that_object():
    lab = _two_houses()
    out = RemoveObject(at=(7, 6)).apply(lab)
    assert (out[5:10, 5:12] == GROUND).all()
    assert (out[18:25, 25:33] == BUILDING).all()
    with pytest.raises(CimgenError, match=r"point \(x=40, y=3\) lies outside the 40x30 map"):
        RemoveObject(at=(40, 3)).apply(lab)


def test_remove_object_uses_the_instance_under_the_point():
    lab = np.full((20, 20), GROUND, np.int64)
    lab[5:15, 2:18] = BUILDING  # two touching "cars" of one class: one component
    inst = lab.copy().astype(np.int32)
    inst[5:15, 2:10] = BUILDING * 1000 + 1
    inst[5:15, 10:18] = BUILDING * 1000 + 2
    out = RemoveObject(at=(12, 8)).apply(lab, inst)
    assert (out[5:15, 10:18] == GROUND).all() and (out[5:15, 2:10] == BUILDING).all()
    # Without instances the whole component goes.
    assert (RemoveObject(at=(12, 8)).apply(lab)[5:15, 2:18] == GROUND).all()
    with pytest.raises(CimgenError, match="instance map is 19x20"):
        RemoveObject(at=(12, 8)).apply(lab, inst[:, :19])


def test_pick_largest_and_random_objects():
    lab = _two_houses()
    largest = RemoveObject(cls=BUILDING, choose="largest").apply(lab)
    assert (largest[18:25, 25:33] == GROUND).all() and (largest[5:10, 5:12] == BUILDING).all()
    picks = {int((RemoveObject(cls=BUILDING, choose="random", seed=s).apply(lab)[5:10, 5:12] == BUILDING).all()) for s in range(12)}
    assert picks == {0, 1}  # both houses get picked over a few seeds
    assert np.array_equal(
        RemoveObject(cls=BUILDING, choose="random", seed=4).apply(lab), RemoveObject(cls=BUILDING, choose="random", seed=4).apply(lab)
    )
    with pytest.raises(CimgenError, match="no object of class 3"):
        RemoveObject(cls=3).apply(lab)
    with pytest.raises(CimgenError, match="unknown choice"):
        RemoveObject(cls=BUILDING, choose="smallest").apply(lab)


def test_remove_class_in_a_polygon_and_a_polygon_off_the_map():
    lab = _two_houses()
    out = RemoveClass(cls=BUILDING, polygon=((20, 15), (39, 15), (39, 29))).apply(lab)
    assert (out[18:25, 25:33] == GROUND).all() and (out[5:10, 5:12] == BUILDING).all()
    with pytest.raises(CimgenError, match="polygon spanning x 50..90, y 50..60 lies outside the 40x30 map"):
        RemoveClass(cls=BUILDING, polygon=((50, 50), (90, 50), (90, 60))).apply(lab)
    with pytest.raises(CimgenError, match="at least 3"):
        RemoveClass(cls=BUILDING, polygon=((1, 1), (5, 5))).apply(lab)


def test_insert_rectangle_ellipse_polygon():
    lab = np.full((30, 30), GROUND, np.int64)
    rect = InsertShape(cls=WATER, shape="rectangle", box=(2, 3, 12, 8)).apply(lab)
    assert (rect == WATER).sum() == 10 * 5 and (rect[3:8, 2:12] == WATER).all()
    ell = InsertShape(cls=WATER, shape="ellipse", box=(0, 0, 20, 20)).apply(lab)
    area = (ell == WATER).sum()
    assert abs(area - np.pi * 100) < 20 and ell[10, 10] == WATER and ell[0, 0] == GROUND
    poly = InsertShape(cls=WATER, shape="polygon", polygon=((0, 0), (29, 0), (0, 29))).apply(lab)
    assert poly[1, 1] == WATER and poly[28, 28] == GROUND
    with pytest.raises(CimgenError, match="unknown shape 'circle'"):
        InsertShape(cls=WATER, shape="circle", box=(0, 0, 5, 5)).apply(lab)
    with pytest.raises(CimgenError, match="needs 'polygon'"):
        InsertShape(cls=WATER, shape="polygon", box=(0, 0, 5, 5)).apply(lab)


def test_move_copy_and_their_limits():
    lab = _two_houses()
    moved = MoveObject(at=(6, 6), by=(10, 0)).apply(lab)
    assert (moved[5:10, 15:22] == BUILDING).all() and (moved[5:10, 5:15] == GROUND).all()
    copied = MoveObject(at=(6, 6), to=(16, 6), copy=True).apply(lab)
    assert (copied[5:10, 5:12] == BUILDING).all() and (copied[5:10, 15:22] == BUILDING).all()
    clipped = MoveObject(at=(6, 6), by=(30, 0)).apply(lab)  # partly off the map: the rest is dropped
    assert (clipped[5:10, 35:36] == BUILDING).all() and (clipped[5:10, 5:12] == GROUND).all()
    with pytest.raises(CimgenError, match="entirely outside"):
        MoveObject(at=(6, 6), by=(100, 0)).apply(lab)
    with pytest.raises(CimgenError, match="exactly one of 'by'"):
        MoveObject(at=(6, 6)).apply(lab)
    with pytest.raises(CimgenError, match=r"by \(0, 0\)"):
        MoveObject(at=(6, 6), by=(0, 0)).apply(lab)


def test_paste_an_object_from_another_map():
    lab = np.full((30, 40), GROUND, np.int64)
    other = np.full((20, 20), VEGETATION, np.int64)
    other[2:6, 3:9] = WATER
    out = PasteObject(source=other, at=(4, 3), to=(20, 20)).apply(lab)
    assert (out[19:23, 19:25] == WATER).all() and (out == WATER).sum() == 24 and (out[out != WATER] == GROUND).all()
    with pytest.raises(CimgenError, match="paste target"):
        PasteObject(source=other, at=(4, 3), to=(45, 20)).apply(lab)
    with pytest.raises(CimgenError, match="point in the source map"):
        PasteObject(source=other, at=(25, 3), to=(5, 5)).apply(lab)


def test_apply_edits_in_order_and_checks():
    lab = _two_houses()
    out = apply_edits(lab, [RemoveObject(at=(6, 6)), InsertShape(cls=WATER, box=(0, 0, 4, 4))], num_classes=6)
    assert (out[5:10, 5:12] == GROUND).all() and (out[:4, :4] == WATER).all()
    with pytest.raises(CimgenError, match="class 9 is outside 0..5"):
        apply_edits(lab, [InsertShape(cls=9, box=(0, 0, 4, 4))], num_classes=6)
    with pytest.raises(CimgenError, match="changed nothing"):
        apply_edits(lab, [InsertShape(cls=GROUND, box=(0, 0, 4, 4))], num_classes=6)
    with pytest.raises(CimgenError, match="no edit"):
        apply_edits(lab, [], num_classes=6)


def test_a_region_kept_as_its_box_acts_as_the_whole_map_mask():
    """``RegionCrop``: a region of a large map held as its box; an edit given one does what the whole-map mask does."""
    lab = _scene()
    inside = np.zeros((6, 8), bool)
    inside[1:5, 1:7] = True
    crop = RegionCrop(3, 2, inside, lab.shape)
    full = np.zeros(lab.shape, bool)
    full[4:8, 3:9] = True
    assert np.array_equal(crop.window(0, 0, 40, 40), full) and crop.box == (3, 2, 9, 10)
    assert np.array_equal(crop.window(5, 6, 4, 10), full[5:9, 6:16])  # a window cutting the box
    assert not crop.window(20, 20, 5, 5).any()
    assert np.array_equal(RemoveClass(cls=BUILDING, region=crop).apply(lab), RemoveClass(cls=BUILDING, region=full).apply(lab))
    with pytest.raises(CimgenError, match="the region is for a 40x40 map, but the map is 30x30"):
        RemoveClass(cls=BUILDING, region=crop).apply(lab[:30, :30])


def _street():
    """A view from the street: building above a hedge strip and a pavement, road below; a car parked across the
    hedge and the pavement, a bicycle against its right side."""
    lab = np.full((30, 40), 1, np.int64)  # 1 building
    lab[12:15] = 2  # 2 hedge
    lab[15:18] = 3  # 3 pavement
    lab[18:] = 4  # 4 road
    lab[10:22, 12:24] = 5  # 5 car
    lab[13:20, 24:27] = 6  # 6 bicycle
    return lab


def test_rows_fill_continues_what_stood_behind_and_never_extends_a_neighbouring_object():
    lab = _street()
    out = RemoveClass(cls=5, box=(12, 10, 24, 22), fill="rows", never_fill=(5, 6)).apply(lab)
    assert (out[10:12, 12:24] == 1).all() and (out[12:15, 12:24] == 2).all() and (out[15:18, 12:24] == 3).all()
    assert (out[18:22, 12:24] == 4).all() and (out == 6).sum() == (lab == 6).sum() and not (out == 5).any()
    # without 'never', the bicycle's rows lend it their right half
    assert (RemoveClass(cls=5, box=(12, 10, 24, 22), fill="rows").apply(lab)[13:20, 18:24] == 6).all()
    # surrounding gives the whole car one class: the strip behind it is lost
    assert len(np.unique(RemoveClass(cls=5, box=(12, 10, 24, 22)).apply(lab)[10:22, 12:24])) == 1
    # a row whose every other pixel is removed or excluded takes the nearest pixel's class
    wide = lab.copy()
    wide[0, :] = 5
    assert (RemoveClass(cls=5, box=(0, 0, 40, 22), fill="rows", never_fill=(6,)).apply(wide)[0] == 1).all()


def test_never_fill_classes_fill_when_nothing_else_is_there():
    lab = np.full((10, 10), 6, np.int64)
    lab[3:6, 3:6] = 5
    out = fill_from_surroundings(lab, lab == 5, exclude=5, mode="rows", never=(6,))
    assert (out == 6).all()
    with pytest.raises(CimgenError, match="choose surrounding, nearest, rows"):
        fill_from_surroundings(lab, lab == 5, exclude=5, mode="columns")
