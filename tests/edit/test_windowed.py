"""The windowed path: edits planned on windows equal the in-memory edit, pieces equal the in-memory tiled manipulation."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.edit.ops import InsertShape, MoveObject, PaintRegion, RemoveClass, RemoveFeatures, RemoveObject
from cimgen.edit.pipeline import plan_edit, render_edit
from cimgen.edit.tiled import generate_tiled
from cimgen.edit.windowed import plan_windowed, render_windowed
from cimgen.errors import CimgenError

COLOURS = np.array([[20, 30, 40], [200, 190, 180], [90, 160, 60], [240, 20, 120]], np.uint8)
BUILDING = 1
SIZE = 1024


def scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 1024x1024 map of ground (0), lawn (2) and road (3) patches with buildings (1), one of them a 900-pixel strip; and an image of it."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(60):
        y, x = rng.integers(0, SIZE - 80, 2)
        labels[y : y + rng.integers(20, 80), x : x + rng.integers(20, 80)] = rng.choice([2, 3])
    for _ in range(150):
        y, x = rng.integers(0, SIZE - 30, 2)
        labels[y : y + rng.integers(6, 30), x : x + rng.integers(6, 30)] = BUILDING
    labels[500:512, 60:960] = BUILDING  # a long building, far longer than a small window
    labels[498:514, 40:60] = 2
    labels[498:514, 960:980] = 2
    noise = rng.integers(0, 20, (SIZE, SIZE, 3), dtype=np.uint8)
    return labels, COLOURS[labels] // 2 + noise


def styled(t: np.ndarray) -> np.ndarray:
    """Colours plus a brightness that depends on the whole tile, as a GAN's per-tile statistics do."""
    offset = int(t.astype(np.int64).sum() % 41) - 20
    return np.clip(COLOURS[t].astype(np.int16) + offset, 0, 255).astype(np.uint8)


def readers(labels: np.ndarray, image: np.ndarray, log: list | None = None):
    def read_labels(y, x, h, w):
        if log is not None:
            log.append((h, w))
        return labels[y : y + h, x : x + w].copy()

    return read_labels, lambda y, x, h, w: image[y : y + h, x : x + w].copy()


def assemble(image: np.ndarray, pieces) -> tuple[np.ndarray, np.ndarray]:
    result, mask = image.copy(), np.zeros(image.shape[:2], bool)
    for p in pieces:
        y0, x0, y1, x1 = p.core
        result[p.y + y0 : p.y + y1, p.x + x0 : p.x + x1] = p.core_of(p.result)
        mask[p.y + y0 : p.y + y1, p.x + x0 : p.x + x1] |= p.core_of(p.mask)
    return result, mask


EDITS = {
    "corner": [RemoveClass(cls=BUILDING, box=(10, 10, 120, 120))],
    "long object across windows": [RemoveClass(cls=BUILDING, box=(480, 495, 520, 505))],
    "several, two meeting": [
        RemoveClass(cls=BUILDING, box=(10, 10, 120, 120)),
        InsertShape(cls=BUILDING, box=(700, 700, 760, 740)),
        RemoveClass(cls=BUILDING, box=(690, 690, 780, 760)),  # meets the insert: removes it again with its neighbours
        RemoveObject(at=(505, 505)),
    ],
    "move": [MoveObject(at=(505, 505), by=(0, 40))],
}


@pytest.mark.parametrize("name", list(EDITS))
def test_windowed_equals_in_memory(name):
    labels, image = scene()
    edits = EDITS[name]
    read_labels, read_image = readers(labels, image)
    plan = plan_windowed(read_labels, labels.shape, edits, num_classes=4, radius=8, context=32)
    pieces = list(render_windowed(plan, read_labels, read_image, styled, num_classes=4, tile_size=256, overlap=32))
    result, mask = assemble(image, pieces)

    ref_plan = plan_edit(image, labels, edits, num_classes=4, radius=8)
    ref = render_edit(image, labels, ref_plan, styled, tile_size=256, overlap=32)
    assert np.array_equal(mask, ref.mask)
    assert np.array_equal(result, ref.result)
    edited = labels.copy()
    for p in plan.patches:
        y0, x0, y1, x1 = p.box
        edited[y0:y1, x0:x1] = p.edited
    assert np.array_equal(edited, ref_plan.edited_labels)
    assert sum(len(p.tiles) for p in pieces) == ref.info["tiles_generated"]


def test_an_object_crossing_the_window_is_found_whole_and_the_window_grows():
    labels, image = scene()
    log = []
    read_labels, _ = readers(labels, image, log)
    plan = plan_windowed(read_labels, labels.shape, EDITS["long object across windows"], num_classes=4, context=16)
    (patch,) = plan.patches
    assert not (patch.edited == BUILDING)[500 - patch.y, 60 - patch.x : 960 - patch.x].any()  # all 900 pixels of the strip
    assert plan.info["windows"][0]["tries"] > 1
    assert max(h for h, _ in log) < 100  # the window grew along the strip only


def test_an_object_larger_than_the_window_limit_is_refused_in_one_sentence():
    labels, image = scene()
    read_labels, _ = readers(labels, image)
    with pytest.raises(CimgenError, match="more than the 256 a side the windowed path allows"):
        plan_windowed(read_labels, labels.shape, EDITS["long object across windows"], num_classes=4, context=16, max_window=256)


def test_edits_that_need_the_whole_map_are_refused():
    labels, image = scene()
    read_labels, _ = readers(labels, image)
    with pytest.raises(CimgenError, match="picks among every object"):
        plan_windowed(read_labels, labels.shape, [RemoveObject(cls=BUILDING)], num_classes=4)
    region = np.zeros(labels.shape, bool)
    with pytest.raises(CimgenError, match="needs the whole map at once"):
        plan_windowed(read_labels, labels.shape, [PaintRegion(cls=BUILDING, region=region)], num_classes=4)
    with pytest.raises(CimgenError, match="gives its region as a full-size mask"):
        plan_windowed(read_labels, labels.shape, [RemoveFeatures(region=region, classes=(1,), features=(0,))], num_classes=4)
    with pytest.raises(CimgenError, match="outside the 1024x1024 map"):
        plan_windowed(read_labels, labels.shape, [RemoveClass(cls=BUILDING, box=(2000, 2000, 2100, 2100))], num_classes=4)
    with pytest.raises(CimgenError, match="changed nothing"):
        plan_windowed(read_labels, labels.shape, [RemoveClass(cls=BUILDING, box=(0, 0, 1, 1))], num_classes=4)


def test_a_window_of_the_grid_renders_as_the_whole_image():
    labels, image = scene()
    mask = np.zeros(labels.shape, bool)
    mask[400:420, 500:700] = True
    whole = generate_tiled(labels, styled, tile_size=256, overlap=32, mask=mask, fill=image)
    y0, x0, y1, x1 = 200, 200, 800, 1024  # holds every tile the mask touches
    part = generate_tiled(
        labels[y0:y1, x0:x1], styled, tile_size=256, overlap=32, mask=mask[y0:y1, x0:x1], fill=image[y0:y1, x0:x1],
        origin=(y0, x0), full_shape=labels.shape,
    )  # fmt: skip
    assert [(y + y0, x + x0, h, w) for y, x, h, w in part.tiles] == whole.tiles
    assert np.array_equal(part.generated, whole.generated[y0:y1, x0:x1])
    with pytest.raises(CimgenError, match="does not lie inside"):
        generate_tiled(labels[:10, :10], styled, origin=(1020, 0), full_shape=labels.shape)


def test_memory_follows_the_edit_not_the_scene():
    """A 16384x16384 scene that exists only as window readers: planning and rendering two edits stays within a few MB."""
    import tracemalloc

    side = 16384

    def read_labels(y, x, h, w):
        yy, xx = np.ogrid[y : y + h, x : x + w]
        return np.where(((yy // 40) % 3 == 0) & ((xx // 40) % 3 == 0), BUILDING, 2).astype(np.uint8)

    def read_image(y, x, h, w):
        return COLOURS[read_labels(y, x, h, w)]

    edits = [RemoveClass(cls=BUILDING, box=(5, 5, 60, 60)), RemoveClass(cls=BUILDING, box=(9000, 12000, 9100, 12100))]
    tracemalloc.start()
    try:
        plan = plan_windowed(read_labels, (side, side), edits, num_classes=4)
        pieces = list(render_windowed(plan, read_labels, read_image, styled, num_classes=4, tile_size=256, overlap=32))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pieces) == 2 and all(p.core_of(p.mask).any() for p in pieces)
    assert peak < 32 * 2**20, peak  # the scene's map alone would be 256 MiB, its image 768 MiB
