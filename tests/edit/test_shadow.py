"""Removed objects' shadows: found on the side where the surroundings are darker, taken into the mask."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.edit.ops import InsertShape, MoveObject, RemoveClass
from cimgen.edit.pipeline import plan_edit, removed_pixels
from cimgen.edit.shadow import cast_shadow
from cimgen.errors import CimgenError

GROUND, HOUSE, TREE = 0, 1, 2
H = W = 96
HOUSES = [(10, 10), (10, 56), (56, 10), (56, 56)]  # top-left corners of 16x16 houses
SIDE, CAST = 16, 6


def scene(dy: int, dx: int, *, shade: int = 50, light: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Four houses on lit ground, each casting a ``CAST``-pixel shadow towards (dy, dx) (unit steps)."""
    labels = np.full((H, W), GROUND, np.int64)
    gray = np.full((H, W), float(light))
    rng = np.random.default_rng(0)
    for y, x in HOUSES:
        for t in range(1, CAST + 1):  # the shadow: the house's footprint moved t pixels along the way
            gray[y + t * dy : y + SIDE + t * dy, x + t * dx : x + SIDE + t * dx] = shade
    for y, x in HOUSES:
        labels[y : y + SIDE, x : x + SIDE] = HOUSE
        gray[y : y + SIDE, x : x + SIDE] = 200
    gray += rng.normal(0, 4, gray.shape)
    image = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return image, labels


def remove_first(labels: np.ndarray) -> np.ndarray:
    """The map with the first house taken away (ground where it stood)."""
    edited = labels.copy()
    y, x = HOUSES[0]
    edited[y : y + SIDE, x : x + SIDE] = GROUND
    return edited


@pytest.mark.parametrize(("dy", "dx", "degrees"), [(1, 1, 45.0), (0, -1, 180.0), (1, 0, 90.0)])
def test_the_shadow_side_is_found_and_its_pixels_taken(dy, dx, degrees):
    image, labels = scene(dy, dx)
    edited = remove_first(labels)
    shadow = cast_shadow(image, labels, edited, labels != edited)
    assert shadow.info["found"] and shadow.info["direction"] == degrees
    assert CAST <= shadow.info["length"] <= CAST + 4
    y, x = HOUSES[0]
    truth = np.zeros((H, W), bool)
    for t in range(1, CAST + 1):
        truth[y + t * dy : y + SIDE + t * dy, x + t * dx : x + SIDE + t * dx] = True
    truth &= labels == GROUND
    # nearly all of the first house's shadow, and nothing of the other houses' shadows or the lit ground
    assert (shadow.mask & truth).sum() >= 0.9 * truth.sum()
    assert not (shadow.mask & ~truth).any()


def test_no_darker_side_means_no_shadow():
    image, labels = scene(1, 1, shade=120)
    edited = remove_first(labels)
    shadow = cast_shadow(image, labels, edited, labels != edited)
    assert not shadow.info["found"] and not shadow.mask.any()
    assert "darker" in shadow.info["why"]


def test_a_street_view_looks_below_the_objects_only():
    image, labels = scene(-1, 0)  # dark above the houses: a facade behind a car, not its shadow
    edited = remove_first(labels)
    assert cast_shadow(image, labels, edited, labels != edited).info["direction"] == 270.0
    down = cast_shadow(image, labels, edited, labels != edited, down=True)
    assert not down.mask.any()


def test_a_dark_class_of_its_own_is_no_shadow():
    """A darker class along one side (trees left of every house) is judged against its own brightness."""
    image, labels = scene(1, 1, shade=120)
    for y, x in HOUSES:
        labels[y : y + SIDE, x - 6 : x] = TREE
        image[y : y + SIDE, x - 6 : x] = 40
    edited = remove_first(labels)
    shadow = cast_shadow(image, labels, edited, labels != edited)
    assert not shadow.mask.any()


def test_bad_arguments_are_one_sentence():
    image, labels = scene(1, 1)
    edited = remove_first(labels)
    with pytest.raises(CimgenError, match="same size"):
        cast_shadow(image[:10], labels, edited, labels != edited)
    with pytest.raises(CimgenError, match="reach"):
        cast_shadow(image, labels, edited, labels != edited, reach=0)
    assert cast_shadow(image, labels, labels, np.zeros_like(labels, bool)).info["why"] == "the edit removes nothing"


def test_plan_edit_takes_the_shadow_into_the_mask():
    image, labels = scene(1, 1)
    y, x = HOUSES[0]
    box = (x - 2, y - 2, x + SIDE + 2, y + SIDE + 2)
    removal = RemoveClass(HOUSE, box=box, whole_objects=True)
    off = plan_edit(image, labels, [removal], num_classes=3, radius=2)
    on = plan_edit(image, labels, [removal], num_classes=3, radius=2, shadows="any")
    assert "shadow" not in off.info and on.info["shadow"]["found"]
    assert off.mask.sum() < on.mask.sum() and not (off.mask & ~on.mask).any()
    shade_corner = (y + SIDE + CAST - 1, x + SIDE + CAST - 1)
    assert on.mask[shade_corner] and not off.mask[shade_corner]
    # a mask the user gives is used as it is
    given = plan_edit(image, labels, [removal], num_classes=3, mask=off.mask, shadows="any")
    assert np.array_equal(given.mask, off.mask)
    with pytest.raises(CimgenError, match="shadows must be one of"):
        plan_edit(image, labels, [removal], num_classes=3, shadows="sideways")


def test_only_removed_objects_cast_shadows_that_go():
    image, labels = scene(1, 1)
    insert = InsertShape(HOUSE, box=(40, 80, 50, 90))
    plan = plan_edit(image, labels, [insert], num_classes=3, shadows="any")
    assert plan.info["shadow"] == {"found": False, "why": "the edit removes nothing"}
    y, x = HOUSES[0]
    move = MoveObject(at=(x + 1, y + 1), by=(30, 0))
    edited = move.apply(labels)
    owners = (edited != labels).astype(np.int32)
    gone = removed_pixels(labels, edited, owners, [move])
    assert gone[y + 1, x + 1] and not gone[y + 1, x + 31 + SIDE - 2]
    assert np.array_equal(removed_pixels(labels, edited, owners, None), labels != edited)


def _tiled_scene(rows: int = 4, cols: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The four-house scene repeated as a grid (rows x cols copies): shadows down and to the right."""
    image, labels = scene(1, 1)
    return np.tile(image, (rows, cols, 1)), np.tile(labels, (rows, cols))


@pytest.mark.parametrize("context", [256, 24])
def test_windowed_plans_take_the_shadows_in_as_the_in_memory_plan_does(context):
    from cimgen.edit.windowed import plan_windowed

    image, labels = _tiled_scene()
    edits = [RemoveClass(cls=HOUSE, box=(150, 150, 230, 230)), MoveObject(at=(300 + 4, 10 + 4), by=(0, 30))]
    plan = plan_windowed(
        lambda y, x, h, w: labels[y : y + h, x : x + w].copy(), labels.shape, edits, num_classes=3, radius=4, context=context,
        read_image=lambda y, x, h, w: image[y : y + h, x : x + w].copy(), shadows="any",
    )  # fmt: skip
    mask = np.zeros(labels.shape, bool)
    for p in plan.patches:
        mask[p.y : p.y + p.labels.shape[0], p.x : p.x + p.labels.shape[1]] |= p.mask
    ref = plan_edit(image, labels, edits, num_classes=3, radius=4, shadows="any")
    assert ref.info["shadow"]["found"] and ref.info["shadow"]["direction"] == 45.0
    assert all(s["found"] and s["direction"] == 45.0 for s in plan.info["shadow"])
    assert np.array_equal(mask, ref.mask)
    assert plan.info["mask_pixels"] == int(mask.sum())
    off = plan_windowed(lambda y, x, h, w: labels[y : y + h, x : x + w].copy(), labels.shape, edits, num_classes=3, radius=4)
    assert "shadow" not in off.info and off.info["mask_pixels"] < plan.info["mask_pixels"]


def test_windowed_shadows_need_the_picture_and_a_known_mode():
    from cimgen.edit.windowed import plan_windowed

    image, labels = _tiled_scene(1, 1)
    read = lambda y, x, h, w: labels[y : y + h, x : x + w].copy()
    edits = [RemoveClass(cls=HOUSE, box=(0, 0, 40, 40))]
    with pytest.raises(CimgenError, match="needs the picture"):
        plan_windowed(read, labels.shape, edits, num_classes=3, shadows="any")
    with pytest.raises(CimgenError, match="shadows must be one of"):
        plan_windowed(read, labels.shape, edits, num_classes=3, shadows="sideways", read_image=lambda *a: image)


def test_a_move_whose_point_lies_outside_the_map_owns_nothing_there():
    """A windowed plan hands each window the moves in its coordinates; a move read in another window is skipped."""
    _, labels = scene(1, 1)
    edited = remove_first(labels)
    owners = (labels != edited).astype(np.int32)
    away = MoveObject(at=(W + 50, 5), by=(0, 10))
    assert not removed_pixels(labels, edited, owners, [away]).any()
    assert np.array_equal(removed_pixels(labels, edited, owners, [RemoveClass(cls=HOUSE, box=(0, 0, 30, 30))]), labels != edited)
