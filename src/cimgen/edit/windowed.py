"""Manipulating scenes larger than memory: edits planned on windows of the map, masks and generation on the tiles they touch.

The in-memory pipeline (``cimgen.edit.pipeline``) holds the whole image, map, edited map and mask;
for a 32768x32768 scene that is gigabytes before anything is generated, and removing the objects
that touch a box labels the connected components of the whole map. Here nothing scene-sized is
ever made. The map and the image are read through callables that return one window
(``read_labels(row, col, height, width)``), and

1. each edit is applied to a window around its box, point or region crop (``plan_windowed``). An edit that
   takes whole objects (remove the buildings touching a box, the object under a point, a move)
   changes pixels up to wherever those objects end, so when a changed pixel comes within
   ``radius + 3`` pixels of a window side that is not the scene's border, that side moves out (its
   margin doubles) and the edit is applied again, up to ``max_window`` pixels a side, past which
   the edit is refused with one sentence. Edits whose windows meet are applied on one merged
   window, in order, so a later edit sees an earlier one;
2. each window's mask is its changed labels, with the shadows its removed objects cast when asked
   (``cimgen.edit.shadow``, on the window's picture), dilated by ``radius`` (it never reaches the window's
   side, so the masks of all windows together are the whole-scene mask);
3. the scene grid's tiles within the blend's margin of a mask are rendered
   (``cimgen.edit.tiled.generate_tiled`` with ``origin``/``full_shape``) on a window holding all
   of them plus ``BLEND_PAD`` pixels, windows whose tiles meet rendered together, and blended
   there (``render_windowed``). A pixel's value depends only on the tiles that cover it, so each
   piece equals, pixel for pixel, what the in-memory tiled pipeline gives at the same place.

Memory and time follow the edits and the tiles they touch, not the scene. Writing the result
(the source copied block by block, the pieces over it) is ``cimgen.io.geotiff.write_patched_geotiff``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from cimgen.edit.blend import DEFAULT_FEATHER, blend
from cimgen.edit.mask import DEFAULT_RADIUS, dilate
from cimgen.edit.ops import (
    InsertGeometry,
    InsertShape,
    MoveObject,
    RegionCrop,
    RemoveClass,
    RemoveFeatures,
    RemoveObject,
    ReplaceClass,
    edit_classes,
)
from cimgen.edit.pipeline import TILE_MARGIN, cut_region, removal_shadow
from cimgen.edit.shadow import REACH as SHADOW_REACH
from cimgen.edit.shadow import SHADOWS
from cimgen.edit.tiled import TileBox, generate_tiled, tiles_touching
from cimgen.errors import CimgenError

WindowReader = Callable[[int, int, int, int], np.ndarray]
"""(row, column, height, width) -> that window of the map (HxW integers) or of the image (HxWx3 uint8)."""

CONTEXT = 256
"""First margin, in pixels, around an edit's box or point; it doubles while the edit's objects reach the window's side."""
MAX_WINDOW = 8192
"""Largest window side an edit may need (8192 x 8192 uint8 labels and their components: about 0.5 GiB)."""
FILL_RING = 3
"""Pixels around a hole that filling reads (``fill_from_surroundings``: a 2-pixel ring in a 3-pixel pad)."""
BLEND_PAD = 64
"""Pixels of the original around the rendered tiles that a piece also holds, so every blend mode sees what it reads."""
WINDOWED_OPS = (RemoveClass, RemoveObject, RemoveFeatures, InsertShape, InsertGeometry, ReplaceClass, MoveObject)


@dataclass(eq=False)  # patches are told apart by identity (their arrays do not compare as one value)
class Patch:
    """One window of the map that the edits changed."""

    y: int
    """Top row in the scene."""
    x: int
    """Left column in the scene."""
    labels: np.ndarray
    """HxW: the original map there."""
    edited: np.ndarray
    """HxW: the map there after the edits."""
    owners: np.ndarray
    """HxW int32: 1 + the index of the edit that last changed each label, 0 where none did."""
    mask: np.ndarray | None = None
    """HxW bool: the changed labels dilated (set by ``plan_windowed``)."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1) in the scene."""
        return self.y, self.x, self.y + self.labels.shape[0], self.x + self.labels.shape[1]


@dataclass
class WindowedPlan:
    """Edits planned on windows: the changed windows of the map and their masks."""

    shape: tuple[int, int]
    """(height, width) of the scene."""
    patches: list[Patch]
    """Disjoint windows holding every changed label and every mask pixel."""
    info: dict = field(default_factory=dict)
    """Windows read per edit, their sides, changed and mask pixels, seconds."""


@dataclass(eq=False)
class Piece:
    """A rendered and blended window of the scene: everything the in-memory pipeline holds, for this window only."""

    y: int
    """Top row in the scene."""
    x: int
    """Left column in the scene."""
    original: np.ndarray
    """HxWx3 uint8."""
    labels: np.ndarray
    """HxW original map."""
    edited: np.ndarray
    """HxW edited map."""
    mask: np.ndarray
    """HxW bool blend region."""
    owners: np.ndarray
    """HxW int32: which edit changed each label (see ``Patch.owners``)."""
    generated: np.ndarray
    """HxWx3 uint8: the merged tiles, the original elsewhere."""
    result: np.ndarray
    """HxWx3 uint8: ``generated`` blended into ``original`` inside ``mask``."""
    tiles: list[TileBox]
    """The rendered tiles in this window's coordinates."""
    core: tuple[int, int, int, int]
    """(y0, x0, y1, x1) in this window: the box of its rendered tiles, which holds every pixel the piece changed.

    Pieces' cores never overlap (the pad around them may), so a writer writes the cores."""

    def core_of(self, array: np.ndarray) -> np.ndarray:
        """``array`` (one of this piece's) cut to the core."""
        y0, x0, y1, x1 = self.core
        return array[y0:y1, x0:x1]


# ----------------------------------------------------------------------------------------------
# Planning


def _edit_box(edit, shape: tuple[int, int], number: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) that an edit's own region or point covers, checked to meet the scene."""
    h, w = shape
    name = type(edit).__name__
    if not isinstance(edit, WINDOWED_OPS):
        raise CimgenError(
            f"edit {number} ({name}) needs the whole map at once; the windowed path takes remove, insert, replace and move edits "
            "given by a box, polygon or point (in pixels or map coordinates) and removals of vector features"
        )
    region = getattr(edit, "region", None)
    if region is not None and not isinstance(region, RegionCrop):
        raise CimgenError(f"edit {number} ({name}) gives its region as a full-size mask; give a box or polygon for the windowed path")
    if isinstance(edit, RemoveObject) and edit.at is None:
        raise CimgenError(f"edit {number} (remove) picks among every object of the map; give a point 'at' or a box for the windowed path")
    points = []
    if region is not None:
        if region.shape != (h, w):
            raise CimgenError(f"edit {number} ({name}) has a region of a {region.shape[1]}x{region.shape[0]} map, not of this {w}x{h} one")
        ys, xs = np.nonzero(region.mask)
        if not len(ys):
            raise CimgenError(
                edit.no_pixel_sentence() if isinstance(edit, RemoveFeatures) else f"edit {number} ({name}) covers no pixel of the map"
            )
        points += [(region.x + int(xs.min()), region.y + int(ys.min())), (region.x + int(xs.max()), region.y + int(ys.max()))]
    if getattr(edit, "box", None) is not None:
        x0, y0, x1, y1 = (int(v) for v in edit.box)
        if not (x0 < x1 and y0 < y1):
            raise CimgenError(f"box {tuple(edit.box)} is empty; it must be x0,y0,x1,y1 with x0 < x1 and y0 < y1")
        points += [(x0, y0), (x1 - 1, y1 - 1)]
    if getattr(edit, "polygon", None) is not None:
        pts = np.asarray(edit.polygon, dtype=np.float64).reshape(-1, 2)
        points += [tuple(np.floor(pts.min(0)).astype(int)), tuple(np.ceil(pts.max(0)).astype(int))]
    if getattr(edit, "at", None) is not None:
        x, y = (int(v) for v in edit.at)
        if not (0 <= x < w and 0 <= y < h):
            raise CimgenError(f"point (x={x}, y={y}) lies outside the {w}x{h} map")
        points.append((x, y))
        if isinstance(edit, MoveObject):
            dx, dy = edit.by if edit.by is not None else (int(edit.to[0]) - x, int(edit.to[1]) - y) if edit.to is not None else (0, 0)
            points.append((x + int(dx), y + int(dy)))
    if not points:
        raise CimgenError(f"edit {number} ({name}) gives no box, polygon or point")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0, x1, y1 = max(min(xs), 0), max(min(ys), 0), min(max(xs) + 1, w), min(max(ys) + 1, h)
    if x0 >= x1 or y0 >= y1:
        raise CimgenError(f"edit {number} ({name}) spans x {min(xs)}..{max(xs)}, y {min(ys)}..{max(ys)}, outside the {w}x{h} map")
    return y0, x0, y1, x1


def _shifted(edit, window: tuple[int, int, int, int]):
    """The edit in the coordinates of ``window`` (y0, x0, y1, x1 in the scene)."""
    dy, dx = window[0], window[1]
    changes = {}
    if isinstance(getattr(edit, "region", None), RegionCrop):
        changes["region"] = edit.region.window(dy, dx, window[2] - dy, window[3] - dx)
    if getattr(edit, "box", None) is not None:
        x0, y0, x1, y1 = edit.box
        changes["box"] = (int(x0) - dx, int(y0) - dy, int(x1) - dx, int(y1) - dy)
    if getattr(edit, "polygon", None) is not None:
        changes["polygon"] = tuple((float(px) - dx, float(py) - dy) for px, py in edit.polygon)
    if getattr(edit, "at", None) is not None:
        changes["at"] = (int(edit.at[0]) - dx, int(edit.at[1]) - dy)
    if getattr(edit, "to", None) is not None:
        changes["to"] = (int(edit.to[0]) - dx, int(edit.to[1]) - dy)
    return replace(edit, **changes)


def _sides_reached(changed: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int], guard: int) -> list[bool]:
    """For the top, left, bottom and right side of the window ``box``: is a changed pixel within ``guard`` of it (scene borders never count)."""
    y0, x0, y1, x1 = box
    return [
        y0 > 0 and bool(changed[:guard].any()),
        x0 > 0 and bool(changed[:, :guard].any()),
        y1 < shape[0] and bool(changed[-guard:].any()),
        x1 < shape[1] and bool(changed[:, -guard:].any()),
    ]


def _meets(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(boxes) -> tuple[int, int, int, int]:
    boxes = list(boxes)
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _compose(
    read_labels: WindowReader, box: tuple[int, int, int, int], patches: list[Patch], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(original, current, owners) of a window: the source map with the earlier patches' edits laid over it."""
    y0, x0, y1, x1 = box
    original = np.asarray(read_labels(y0, x0, y1 - y0, x1 - x0))
    if original.shape != (y1 - y0, x1 - x0) or not np.issubdtype(original.dtype, np.integer):
        raise CimgenError(f"the map reader returned {original.dtype} {original.shape} for a {x1 - x0}x{y1 - y0} window")
    low, high = int(original.min()), int(original.max())
    if low < 0 or high >= num_classes:
        raise CimgenError(
            f"the map holds labels {low}..{high} in the window x {x0}..{x1}, y {y0}..{y1}, outside the generator's 0..{num_classes - 1}"
        )
    current, owners = original.copy(), np.zeros(original.shape, np.int32)
    for p in patches:
        if _meets(box, p.box):
            dst, src = _overlap(box, p.box)
            current[dst] = p.edited[src]
            owners[dst] = p.owners[src]
    return original, current, owners


def _overlap(window: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of the part two meeting boxes (y0, x0, y1, x1) share: in ``window``'s array, then in ``box``'s."""
    y0, x0 = max(window[0], box[0]), max(window[1], box[1])
    y1, x1 = min(window[2], box[2]), min(window[3], box[3])
    return (
        (slice(y0 - window[0], y1 - window[0]), slice(x0 - window[1], x1 - window[1])),
        (slice(y0 - box[0], y1 - box[0]), slice(x0 - box[1], x1 - box[1])),
    )


def plan_windowed(
    read_labels: WindowReader,
    shape: tuple[int, int],
    edits: list,
    *,
    num_classes: int,
    radius: int = DEFAULT_RADIUS,
    context: int = CONTEXT,
    max_window: int = MAX_WINDOW,
    read_image: WindowReader | None = None,
    shadows: str = "off",
) -> WindowedPlan:
    """Apply ``edits`` on windows of the map read through ``read_labels`` and derive each window's mask.

    Args:
        read_labels: (row, column, height, width) -> that window of the map.
        shape: (height, width) of the scene.
        edits: ``RemoveClass`` (box, polygon or ``RegionCrop``), ``RemoveObject`` (point), ``RemoveFeatures``
            and ``InsertGeometry`` (``RegionCrop``), ``InsertShape``, ``ReplaceClass`` (box, polygon or
            ``RegionCrop``) and ``MoveObject`` operations, applied in order. A ``RegionCrop`` is a region
            drawn once for the whole scene on the box that holds it (map coordinates, vector features).
        num_classes: classes of the map; an edit naming another is refused.
        radius: dilation of the changed labels, in pixels.
        context: first margin around each edit's box or point (it doubles while needed).
        max_window: largest window side an edit may grow to.
        read_image: (row, column, height, width) -> that window of the picture (HxWx3 uint8); needed for shadows.
        shadows: one of ``SHADOWS``: whether each window's mask also takes in the shadows its removed objects cast
            (``cimgen.edit.shadow.cast_shadow`` on the window's picture, as ``plan_edit`` does on a whole picture).
            Windows then keep the changed labels ``SHADOW_REACH`` pixels further from their sides, so a shadow
            and its dilation never reach a side.

    Returns:
        A ``WindowedPlan``; its patches together change the labels the in-memory edit would.
    """
    t0 = time.perf_counter()
    h, w = (int(v) for v in shape)
    if h < 1 or w < 1:
        raise CimgenError(f"the scene must have at least one pixel, got {w}x{h}")
    if not edits:
        raise CimgenError("no edit was given")
    for name, value, low in (("context", context, 1), ("max_window", max_window, 16), ("radius", radius, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise CimgenError(f"{name} must be a whole number of at least {low} pixels, got {value!r}")
    if shadows not in SHADOWS:
        raise CimgenError(f"shadows must be one of {', '.join(SHADOWS)}, got '{shadows}'")
    if shadows != "off" and read_image is None:
        raise CimgenError("finding the removed objects' shadows needs the picture (read_image)")
    for i, e in enumerate(edits, start=1):
        for v in edit_classes(e):
            if not 0 <= v < num_classes:
                raise CimgenError(f"class {v} is outside 0..{num_classes - 1}")
    guard = radius + FILL_RING + 1 + (SHADOW_REACH if shadows != "off" else 0)
    patches: list[Patch] = []
    windows = []
    for i, edit in enumerate(edits, start=1):
        ey0, ex0, ey1, ex1 = _edit_box(edit, (h, w), i)
        pads, tries = [int(context)] * 4, 0  # top, left, bottom, right: each side grows while objects reach it
        while True:
            tries += 1
            box = (max(ey0 - pads[0], 0), max(ex0 - pads[1], 0), min(ey1 + pads[2], h), min(ex1 + pads[3], w))
            merged = [p for p in patches if _meets(box, p.box)]
            while merged:  # windows that meet are edited as one, so this edit sees the earlier ones
                grown = _union([box, *(p.box for p in merged)])
                if grown == box:
                    break
                box = grown
                merged = [p for p in patches if _meets(box, p.box)]
            side = max(box[2] - box[0], box[3] - box[1])
            if side > max_window:
                raise CimgenError(
                    f"edit {i} ({type(edit).__name__}) needs a window of {box[3] - box[1]}x{box[2] - box[0]} pixels, more than the "
                    f"{max_window} a side the windowed path allows (its region, the objects it changes and {guard} pixels around them); "
                    "give a smaller region or raise the window limit (--window-limit)"
                )
            original, current, owners = _compose(read_labels, box, merged, num_classes)
            out = _shifted(edit, box).apply(current)
            changed = out != current
            reached = _sides_reached(changed, box, (h, w), guard)
            if not any(reached):
                break
            pads = [2 * p if r else p for p, r in zip(pads, reached, strict=True)]
        owners[changed] = i
        windows.append({"edit": i, "window": [box[1], box[0], box[3], box[2]], "tries": tries})
        patches = [p for p in patches if all(p is not m for m in merged)]
        patches.append(Patch(box[0], box[1], original, out, owners))
    kept = []
    for p in patches:
        changed = p.labels != p.edited
        if changed.any():
            p.owners[~changed] = 0
            p.mask = dilate(changed, radius)
            kept.append(p)
    if not kept:
        raise CimgenError("the edit changed nothing in the map (no pixel of the chosen class lies in the chosen region)")
    found = [_cast_on(p, edits, read_image, radius, down=shadows == "down") for p in kept] if shadows != "off" else None
    info = {
        "windows": windows,
        "patches": [[p.x, p.y, p.x + p.labels.shape[1], p.y + p.labels.shape[0]] for p in kept],
        "changed_label_pixels": int(sum(int((p.labels != p.edited).sum()) for p in kept)),
        "mask_pixels": int(sum(int(p.mask.sum()) for p in kept)),
        "edit_seconds": round(time.perf_counter() - t0, 3),
    }
    if found is not None:
        info["shadow"] = found
    return WindowedPlan((h, w), kept, info)


def _cast_on(p: Patch, edits: list, read_image: WindowReader, radius: int, *, down: bool) -> dict:
    """Widen patch ``p``'s mask by the shadows of the objects its edits removed (``removal_shadow``); returns
    the shadow's info with the window's box."""
    hh, ww = p.labels.shape
    image = read_image(p.y, p.x, hh, ww)
    # a move is read at its point, so in the window's coordinates (a point in another window owns no pixel here)
    local = [replace(e, at=(int(e.at[0]) - p.x, int(e.at[1]) - p.y)) if isinstance(e, MoveObject) else e for e in edits]
    shaded, info = removal_shadow(image, p.labels, p.edited, p.owners, local, radius=radius, down=down)
    p.mask = p.mask | shaded
    return {**info, "window": [p.x, p.y, p.x + ww, p.y + hh]}


# ----------------------------------------------------------------------------------------------
# Rendering


def _clusters(boxes: list[tuple[int, int, int, int]]) -> list[list[int]]:
    """Groups of indices whose boxes meet, directly or through others."""
    groups: list[tuple[tuple[int, int, int, int], list[int]]] = []
    for i, b in enumerate(boxes):
        box, members = b, [i]
        changed = True
        while changed:
            changed = False
            for g in list(groups):
                if _meets(box, g[0]):
                    groups.remove(g)
                    box, members = _union([box, g[0]]), members + g[1]
                    changed = True
        groups.append((box, members))
    return [sorted(m) for _, m in groups]


def render_windowed(
    plan: WindowedPlan,
    read_labels: WindowReader,
    read_image: WindowReader,
    render: Callable[[np.ndarray], np.ndarray],
    *,
    num_classes: int,
    tile_size: int = 1024,
    overlap: int = 128,
    blend_mode: str = "feather",
    feather: float = DEFAULT_FEATHER,
    blend_options: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    cut: int = 0,
) -> Iterator[Piece]:
    """Render the tiles a plan's masks touch and blend them in, one piece (a window of the scene) at a time.

    Args:
        plan: from ``plan_windowed``.
        read_labels: (row, column, height, width) -> that window of the original map.
        read_image: (row, column, height, width) -> that window of the image, HxWx3 uint8.
        num_classes: classes of the map.
        render: callable(label tile hxw) -> hxwx3 uint8.
        tile_size, overlap: the scene's tile grid (as ``generate_tiled``).
        blend_mode, feather, blend_options: as ``cimgen.edit.blend.blend``; the tiles within the
            margin the mode reads around the mask are rendered (``TILE_MARGIN``).
        progress: callable(done, total) over all tiles of all pieces.
        cut: pixels each window's mask may give up at its border so that the blend's border runs where the generated
            image and the original differ least (``cimgen.edit.pipeline.cut_region``; 0: off; at most the plan's radius).

    Yields:
        ``Piece`` objects, in an order fixed by the plan; they do not overlap.
    """
    height, width = plan.shape
    margin = TILE_MARGIN.get(blend_mode, 32)
    touched = [tiles_touching(p.mask, (p.y, p.x), plan.shape, tile_size=tile_size, overlap=overlap, margin=margin) for p in plan.patches]
    # Every mask pixel lies in a touched tile, so a patch's mask lies inside its tiles' box.
    boxes = [_union((t[0], t[1], t[0] + t[2], t[1] + t[3]) for t in tiles) for tiles in touched]
    total = len({t for tiles in touched for t in tiles})
    done = 0
    for members in _clusters(boxes):
        ty0, tx0, ty1, tx1 = _union(boxes[i] for i in members)
        y0, x0, y1, x1 = max(ty0 - BLEND_PAD, 0), max(tx0 - BLEND_PAD, 0), min(ty1 + BLEND_PAD, height), min(tx1 + BLEND_PAD, width)
        window = (y0, x0, y1, x1)
        members_patches = [plan.patches[i] for i in members]
        # Other pieces' edits may reach into the pad (never into the tiles): the map there is as edited too.
        labels, edited, owners = _compose(read_labels, window, plan.patches, num_classes)
        mask = np.zeros(labels.shape, bool)
        for p in members_patches:  # a patch's mask lies inside its tiles, so inside this window; its pad may not
            dst, src = _overlap(window, p.box)
            mask[dst] |= p.mask[src]
        original = np.asarray(read_image(y0, x0, y1 - y0, x1 - x0))
        if original.shape != (*labels.shape, 3) or original.dtype != np.uint8:
            raise CimgenError(f"the image reader returned {original.dtype} {original.shape} for a {x1 - x0}x{y1 - y0} window")
        offset = done

        def tick(n: int, _total: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset + n, total)

        tiled = generate_tiled(
            edited, render, tile_size=tile_size, overlap=overlap, mask=mask, margin=margin, fill=original,
            progress=tick, origin=(y0, x0), full_shape=plan.shape,
        )  # fmt: skip
        done += len(tiled.tiles)
        options = dict(blend_options or {})
        if blend_mode in ("feather", "laplacian"):
            options.setdefault("feather", feather)
        if cut:
            mask, _ = cut_region(original, tiled.generated, mask, cut)
        result = blend(original, tiled.generated, mask, mode=blend_mode, **options)
        core = (ty0 - y0, tx0 - x0, ty1 - y0, tx1 - x0)
        yield Piece(y0, x0, original, labels, edited, mask, owners, tiled.generated, result, list(tiled.tiles), core)
