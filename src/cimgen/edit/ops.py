"""Map edit operations: remove, insert, replace, paint, move, copy and paste objects in an integer label map.

Each operation is a small frozen dataclass with ``apply(labels, instances=None) -> new labels``;
it never changes its input. Coordinates are pixels with x to the right and y down. Boxes are
(x0, y0, x1, y1) with x1 and y1 exclusive; polygons are lists of (x, y) vertices; points are
(x, y). An "object" is the instance under a point when an instance map is given (Cityscapes
``*_instanceIds.png``), otherwise the 4-connected component of its class under the point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from cimgen.errors import CimgenError
from cimgen.palette import FILL_MODES

Box = tuple[int, int, int, int]
Point = tuple[int, int]
Polygon = tuple[tuple[float, float], ...]

SHAPES = ("rectangle", "ellipse", "polygon")
CHOICES = ("largest", "random")
# 4-connectivity: objects that meet only at a corner (neighbouring roofs in a footprint mask) stay separate.
_FOUR = ndimage.generate_binary_structure(2, 1)


# ----------------------------------------------------------------------------------------------
# Regions


def box_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """A bool mask of ``shape`` that is True inside ``box``; the box must overlap the map."""
    h, w = shape
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (x0 < x1 and y0 < y1):
        raise CimgenError(f"box {tuple(box)} is empty; it must be x0,y0,x1,y1 with x0 < x1 and y0 < y1")
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise CimgenError(f"box {tuple(box)} lies outside the {w}x{h} map")
    m = np.zeros(shape, bool)
    m[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return m


def polygon_mask(shape: tuple[int, int], polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """A bool mask of ``shape`` that is True inside ``polygon`` (its outline included); it must overlap the map."""
    h, w = shape
    pts = np.asarray(polygon, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise CimgenError(f"a polygon needs at least 3 (x, y) vertices, got {np.asarray(polygon).tolist()}")
    if not np.isfinite(pts).all():
        raise CimgenError("a polygon vertex is not a finite number")
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.rint(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
    if not m.any():
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        raise CimgenError(f"the polygon spanning x {x0:g}..{x1:g}, y {y0:g}..{y1:g} lies outside the {w}x{h} map")
    return m.astype(bool)


def ellipse_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """A bool mask of the ellipse inscribed in ``box``."""
    inside = box_mask(shape, box)  # checks the box
    x0, y0, x1, y1 = (int(v) for v in box)
    cy, cx = (y0 + y1 - 1) / 2.0, (x0 + x1 - 1) / 2.0
    ry, rx = (y1 - y0) / 2.0, (x1 - x0) / 2.0
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    ell = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    if not (ell & inside).any():
        raise CimgenError(f"the ellipse in box {tuple(box)} covers no pixel of the map")
    return ell & inside


@dataclass(frozen=True, eq=False)  # told apart by identity (an array does not compare as one value)
class RegionCrop:
    """A bool region of a map kept as the box that holds it: a region of a scene larger than memory costs its box, not the scene."""

    y: int
    """Top row of the box in the map."""
    x: int
    """Left column of the box in the map."""
    mask: np.ndarray
    """hxw bool: the region inside the box."""
    shape: tuple[int, int]
    """(height, width) of the whole map."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1) in the map."""
        return self.y, self.x, self.y + self.mask.shape[0], self.x + self.mask.shape[1]

    def window(self, y: int, x: int, height: int, width: int) -> np.ndarray:
        """The region as a bool array over the window at row ``y``, column ``x`` of the map (all of the map: ``window(0, 0, *shape)``)."""
        out = np.zeros((height, width), bool)
        y0, x0, y1, x1 = self.box
        ty0, tx0, ty1, tx1 = max(y0, y), max(x0, x), min(y1, y + height), min(x1, x + width)
        if ty0 < ty1 and tx0 < tx1:
            out[ty0 - y : ty1 - y, tx0 - x : tx1 - x] = self.mask[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0]
        return out


def as_array(region, shape: tuple[int, int]):
    """A ``RegionCrop`` of a map of ``shape`` as the whole-map bool array (anything else as it is)."""
    if isinstance(region, RegionCrop):
        if region.shape != tuple(shape):
            raise CimgenError(f"the region is for a {region.shape[1]}x{region.shape[0]} map, but the map is {shape[1]}x{shape[0]}")
        return region.window(0, 0, *shape)
    return region


def region_mask(
    shape: tuple[int, int], *, box: Box | None = None, polygon: Polygon | None = None, region: np.ndarray | None = None
) -> np.ndarray:
    """The bool region given by exactly one of a box, a polygon or a mask array."""
    given = [v is not None for v in (box, polygon, region)]
    if sum(given) != 1:
        raise CimgenError("a region needs exactly one of a box, a polygon or a mask")
    if box is not None:
        return box_mask(shape, box)
    if polygon is not None:
        return polygon_mask(shape, polygon)
    region = as_array(region, shape)
    if region.shape != shape:
        raise CimgenError(f"the region mask is {region.shape[1]}x{region.shape[0]} but the map is {shape[1]}x{shape[0]}")
    if not region.any():
        raise CimgenError("the region mask is empty")
    return region.astype(bool)


def check_point(shape: tuple[int, int], at: Point, what: str = "point") -> tuple[int, int]:
    """(x, y) as ints, checked to lie on the map."""
    try:
        x, y = (int(v) for v in at)
    except (TypeError, ValueError):
        raise CimgenError(f"{what} {at!r} must be two integers x, y") from None
    h, w = shape
    if not (0 <= x < w and 0 <= y < h):
        raise CimgenError(f"{what} (x={x}, y={y}) lies outside the {w}x{h} map")
    return x, y


# ----------------------------------------------------------------------------------------------
# Objects


def object_at(labels: np.ndarray, at: Point, instances: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of the object under ``at``: its instance when ``instances`` names one, else its connected component."""
    x, y = check_point(labels.shape, at)
    if instances is not None:
        if instances.shape != labels.shape:
            raise CimgenError(
                f"the instance map is {instances.shape[1]}x{instances.shape[0]} but the label map is {labels.shape[1]}x{labels.shape[0]}"
            )
        # Cityscapes stores thing instances as class*1000 + index; stuff pixels hold the bare class id,
        # which is not an object of its own, so those fall back to the connected component.
        inst = int(instances[y, x])
        if inst >= 1000:
            return instances == inst
    parts, _ = ndimage.label(labels == labels[y, x], structure=_FOUR)
    return parts == parts[y, x]


def pick_object(labels: np.ndarray, cls: int, choose: str, seed: int, region: np.ndarray | None = None) -> np.ndarray:
    """Bool mask of one object of class ``cls`` (inside ``region`` when given): the largest, or one at random."""
    if choose not in CHOICES:
        raise CimgenError(f"unknown choice '{choose}'; choose one of {', '.join(CHOICES)}")
    target = labels == cls
    parts, n = ndimage.label(target, structure=_FOUR)
    ids = np.arange(1, n + 1)
    if region is not None:
        ids = np.unique(parts[region & target])
        ids = ids[ids > 0]
    if len(ids) == 0:
        raise CimgenError(f"there is no object of class {cls} {'in the chosen region ' if region is not None else ''}to pick")
    if choose == "largest":
        sizes = ndimage.sum_labels(target, parts, ids)
        chosen = ids[int(np.argmax(sizes))]
    else:
        chosen = ids[int(np.random.default_rng(seed).integers(len(ids)))]
    return parts == chosen


def fill_from_surroundings(
    labels: np.ndarray,
    hole: np.ndarray,
    *,
    exclude: int | Sequence[int] | None = None,
    mode: str = "surrounding",
    never: Sequence[int] = (),
) -> np.ndarray:
    """Fill the ``hole`` pixels of a label map from what is around them.

    Args:
        labels: HxW integer labels.
        hole: HxW bool, the pixels to fill.
        exclude: a class (or classes) never used as fill (the one being removed).
        mode: ``surrounding`` gives each connected part of the hole the most common class on a
            two-pixel ring around it (so a removed house becomes the lawn or lot it stood on,
            not the road beside it); ``nearest`` gives each pixel the class of the nearest
            pixel outside the hole; ``rows`` gives each pixel the class of the nearest pixel
            outside the hole in its own row, left or right (in a view from the street the
            kerb, the pavement and the foot of the buildings run across the picture, so what
            stood behind a removed car continues across its place), and rows without such a
            pixel the nearest one.
        never: classes used as fill only when the map has no other class to fill with (objects
            beside the removed one: the palette's ``things``).
    """
    if mode not in FILL_MODES:
        raise CimgenError(f"unknown fill mode '{mode}'; choose {', '.join(FILL_MODES)}")
    out = labels.copy()
    source = ~hole
    if exclude is not None:
        source &= ~np.isin(labels, np.atleast_1d(np.asarray(exclude)))
    if not source.any():
        raise CimgenError("there is no pixel outside the edited region to take a fill class from")
    if never:
        preferred = source & ~np.isin(labels, np.asarray(never))
        source = preferred if preferred.any() else source
    if mode == "nearest":
        return _fill_nearest(labels, out, hole, source)
    if mode == "rows":
        return _fill_rows(labels, out, hole, source)
    parts, _ = ndimage.label(hole)
    for i, sl in enumerate(ndimage.find_objects(parts), start=1):
        pad = 3
        ys = slice(max(sl[0].start - pad, 0), sl[0].stop + pad)
        xs = slice(max(sl[1].start - pad, 0), sl[1].stop + pad)
        part = parts[ys, xs] == i
        ring = ndimage.binary_dilation(part, iterations=2) & ~part & source[ys, xs]
        if ring.any():
            vals, counts = np.unique(labels[ys, xs][ring], return_counts=True)
            out[ys, xs][part] = vals[counts.argmax()]
        else:  # a part enclosed by other removed pixels: nearest valid pixel
            out = fill_from_surroundings(out, parts == i, exclude=exclude, mode="nearest", never=never)
    return out


def _fill_rows(labels: np.ndarray, out: np.ndarray, hole: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``fill_from_surroundings``'s ``rows`` mode: each hole pixel takes the class of the nearest ``source`` pixel of its
    row (left or right; the left on a tie), and rows without one the nearest ``source`` pixel anywhere."""
    w = labels.shape[1]
    cols = np.arange(w)
    # per row, the column of the last source pixel at or left of each column, and of the first at or right of it
    left = np.maximum.accumulate(np.where(source, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(source, cols, w)[:, ::-1], axis=1)[:, ::-1]
    ys, xs = np.nonzero(hole)
    lx, rx = left[ys, xs], right[ys, xs]
    has_left, has_right = lx >= 0, rx < w
    use_left = has_left & (~has_right | (xs - lx <= rx - xs))
    found = has_left | has_right
    pick = np.where(use_left, lx, rx)
    out[ys[found], xs[found]] = labels[ys[found], pick[found]]
    if not found.all():
        rest = np.zeros_like(hole)
        rest[ys[~found], xs[~found]] = True
        _fill_nearest(labels, out, rest, source)
    return out


def _fill_nearest(labels: np.ndarray, out: np.ndarray, pixels: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``out`` with each ``pixels`` pixel given the class of the nearest ``source`` pixel of ``labels``."""
    _, (iy, ix) = ndimage.distance_transform_edt(~source, return_indices=True)
    out[pixels] = labels[iy[pixels], ix[pixels]]
    return out


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``mask`` moved by (dx, dy); what leaves the map is dropped."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)]
    return out


def _place(labels: np.ndarray, obj: np.ndarray, cls_map: np.ndarray, dx: int, dy: int, what: str) -> np.ndarray:
    """Write the object's labels (taken from ``cls_map``) into ``labels`` moved by (dx, dy)."""
    moved = _shifted(obj, dx, dy)
    if not moved.any():
        raise CimgenError(f"{what} would put the object entirely outside the {labels.shape[1]}x{labels.shape[0]} map")
    ys, xs = np.nonzero(moved)
    out = labels.copy()
    out[ys, xs] = cls_map[ys - dy, xs - dx]
    return out


def _offset(at: Point, by: Point | None, to: Point | None, what: str) -> tuple[int, int]:
    if (by is None) == (to is None):
        raise CimgenError(f"{what} needs exactly one of 'by' (an offset dx, dy) or 'to' (where the picked point goes)")
    if by is not None:
        dx, dy = (int(v) for v in by)
    else:
        dx, dy = int(to[0]) - int(at[0]), int(to[1]) - int(at[1])
    if dx == 0 and dy == 0:
        raise CimgenError(f"{what} moves the object by (0, 0); that changes nothing")
    return dx, dy


# ----------------------------------------------------------------------------------------------
# The operations


@dataclass(frozen=True)
class RemoveObject:
    """Remove one object, the one under ``at`` or one picked among the objects of ``cls``, and fill its hole."""

    at: Point | None = None
    """A pixel (x, y) of the object; give this or ``cls``."""
    cls: int | None = None
    """Pick the object among this class's objects (with ``choose``); give this or ``at``."""
    choose: str = "largest"
    """How an object of ``cls`` is picked: largest or random."""
    seed: int = 0
    """Seed of the random pick."""
    fill: str = "surrounding"
    """How the hole is filled: surrounding, nearest or rows (see ``fill_from_surroundings``)."""
    never_fill: tuple[int, ...] = ()
    """Classes the hole takes only when the map has no other class to fill it with (the palette's ``things``)."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        if (self.at is None) == (self.cls is None):
            raise CimgenError("remove needs exactly one of a point 'at' or a class to pick an object from")
        if self.at is not None:
            hole = object_at(labels, self.at, instances)
        else:
            hole = pick_object(labels, self.cls, self.choose, self.seed)
        cls = int(labels[hole][0])
        return fill_from_surroundings(labels, hole, exclude=cls, mode=self.fill, never=self.never_fill)


@dataclass(frozen=True)
class RemoveClass:
    """Remove every object of class ``cls`` that lies in a box, polygon or region mask (whole objects, even where they cross its edge)."""

    cls: int
    """The class whose objects are removed."""
    box: Box | None = None
    """Region that selects the objects; give exactly one of box, polygon, region."""
    polygon: Polygon | None = None
    """Region that selects the objects as a polygon in pixels."""
    region: np.ndarray | RegionCrop | None = field(default=None, compare=False)
    """Bool HxW region that selects the objects (e.g. a box in map coordinates, drawn on the grid; a ``RegionCrop`` for scenes larger than memory)."""
    fill: str = "surrounding"
    """How the hole is filled: surrounding, nearest or rows (see ``fill_from_surroundings``)."""
    never_fill: tuple[int, ...] = ()
    """Classes the hole takes only when the map has no other class to fill it with (the palette's ``things``)."""
    whole_objects: bool = True
    """Remove each touched connected object entirely, not just its part inside the region."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        inside = region_mask(labels.shape, box=self.box, polygon=self.polygon, region=self.region)
        target = labels == self.cls
        if self.whole_objects:
            parts, _ = ndimage.label(target, structure=_FOUR)
            touched = np.unique(parts[inside & target])
            hole = np.isin(parts, touched[touched > 0])
        else:
            hole = inside & target
        return fill_from_surroundings(labels, hole, exclude=self.cls, mode=self.fill, never=self.never_fill)


@dataclass(frozen=True)
class RemoveFeatures:
    """Remove vector features from the map: the pixels they own are filled from their surroundings, as ``RemoveObject`` fills."""

    region: np.ndarray | RegionCrop = field(compare=False)
    """Bool HxW: the pixels the features own in the map drawn from the vector layer (a ``RegionCrop`` for scenes larger than memory)."""
    classes: tuple[int, ...]
    """The features' classes, never used as fill."""
    features: tuple[int, ...]
    """The features' positions in the layer (so the edited layer can leave them out)."""
    ids: tuple = ()
    """The features' ids, for descriptions."""
    fill: str = "surrounding"
    """How the hole is filled: surrounding, nearest or rows (see ``fill_from_surroundings``)."""
    never_fill: tuple[int, ...] = ()
    """Classes the hole takes only when the map has no other class to fill it with (the palette's ``things``)."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        region = as_array(self.region, labels.shape)
        if region.shape != labels.shape:
            raise CimgenError(
                f"the features' region is {region.shape[1]}x{region.shape[0]} but the map is {labels.shape[1]}x{labels.shape[0]}"
            )
        if not region.any():
            raise CimgenError(self.no_pixel_sentence())
        return fill_from_surroundings(labels, region, exclude=self.classes, mode=self.fill, never=self.never_fill)

    def no_pixel_sentence(self) -> str:
        """What to say when the features own no pixel of the map."""
        return f"feature(s) {', '.join(map(str, self.ids[:5]))} own no pixel of the map (off the image, or painted over by later rules)"


@dataclass(frozen=True)
class InsertGeometry:
    """Draw a polygon given in map coordinates as class ``cls`` (its pixels drawn on the grid beforehand)."""

    cls: int
    """The class of the new polygon."""
    region: np.ndarray | RegionCrop = field(compare=False)
    """Bool HxW: the pixels whose centres lie inside the polygon (a ``RegionCrop`` for scenes larger than memory)."""
    wkt: str = ""
    """The polygon in the image's CRS, as WKT (it joins the edited vector layer)."""
    properties: dict = field(default_factory=dict, compare=False)
    """Attributes of the new feature in the edited vector layer."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        where = region_mask(labels.shape, region=self.region)
        out = labels.copy()
        out[where] = self.cls
        return out


@dataclass(frozen=True)
class InsertShape:
    """Draw a rectangle, ellipse (inscribed in a box) or polygon of class ``cls``."""

    cls: int
    """The class of the new shape."""
    shape: str = "rectangle"
    """rectangle or ellipse (both take ``box``), or polygon (takes ``polygon``)."""
    box: Box | None = None
    """The rectangle, or the box the ellipse is inscribed in."""
    polygon: Polygon | None = None
    """The polygon's vertices."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        if self.shape not in SHAPES:
            raise CimgenError(f"unknown shape '{self.shape}'; choose one of {', '.join(SHAPES)}")
        if self.shape == "polygon":
            if self.polygon is None or self.box is not None:
                raise CimgenError("a polygon shape needs 'polygon' (and no box)")
            where = polygon_mask(labels.shape, self.polygon)
        else:
            if self.box is None or self.polygon is not None:
                raise CimgenError(f"a {self.shape} needs 'box' (and no polygon)")
            where = box_mask(labels.shape, self.box) if self.shape == "rectangle" else ellipse_mask(labels.shape, self.box)
        out = labels.copy()
        out[where] = self.cls
        return out


@dataclass(frozen=True)
class ReplaceClass:
    """Relabel class ``source`` as ``target`` inside a box, a polygon or a given mask."""

    source: int
    """The class to replace."""
    target: int
    """The class it becomes."""
    box: Box | None = None
    """Region of the edit; give exactly one of box, polygon, region."""
    polygon: Polygon | None = None
    """Region of the edit as a polygon."""
    region: np.ndarray | RegionCrop | None = field(default=None, compare=False)
    """Bool HxW region of the edit (a ``RegionCrop`` for scenes larger than memory)."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        where = region_mask(labels.shape, box=self.box, polygon=self.polygon, region=self.region)
        out = labels.copy()
        out[where & (labels == self.source)] = self.target
        return out


@dataclass(frozen=True)
class PaintRegion:
    """Set every pixel of a bool region to class ``cls``: brush strokes painted in the web editor (``cimgen app``)."""

    cls: int
    """The class painted."""
    region: np.ndarray = field(compare=False)
    """Bool HxW: the painted pixels."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        where = region_mask(labels.shape, region=self.region)
        out = labels.copy()
        out[where] = self.cls
        return out


@dataclass(frozen=True)
class MoveObject:
    """Move (or, with ``copy``, duplicate) the object under ``at`` by an offset; a moved object's old place is filled."""

    at: Point
    """A pixel (x, y) of the object."""
    by: Point | None = None
    """Offset (dx, dy); give this or ``to``."""
    to: Point | None = None
    """Where the pixel ``at`` goes; give this or ``by``."""
    copy: bool = False
    """Keep the object where it was too."""
    fill: str = "surrounding"
    """How the vacated place is filled (moves only; see ``fill_from_surroundings``)."""
    never_fill: tuple[int, ...] = ()
    """Classes the vacated place takes only when the map has no other class to fill it with (the palette's ``things``)."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        what = "copy" if self.copy else "move"
        dx, dy = _offset(self.at, self.by, self.to, what)
        obj = object_at(labels, self.at, instances)
        base = (
            labels if self.copy else fill_from_surroundings(labels, obj, exclude=int(labels[obj][0]), mode=self.fill, never=self.never_fill)
        )
        return _place(base, obj, labels, dx, dy, what)


@dataclass(frozen=True)
class PasteObject:
    """Paste the object under ``at`` in another map (``source``) so that ``at`` lands on ``to``."""

    source: np.ndarray = field(compare=False)
    """The other HxW label map (same classes)."""
    at: Point
    """A pixel (x, y) of the object in ``source``."""
    to: Point
    """Where that pixel goes in the edited map."""
    source_instances: np.ndarray | None = field(default=None, compare=False)
    """The other map's instance ids, if any."""
    source_name: str = "the source map"
    """How to name the source map in messages."""

    def apply(self, labels: np.ndarray, instances: np.ndarray | None = None) -> np.ndarray:
        if self.source.ndim != 2 or not np.issubdtype(self.source.dtype, np.integer):
            raise CimgenError(f"{self.source_name} must be an integer HxW label map")
        check_point(self.source.shape, self.at, f"point in {self.source_name}")
        tx, ty = check_point(labels.shape, self.to, "paste target")
        obj = object_at(self.source, self.at, self.source_instances)
        dx, dy = tx - int(self.at[0]), ty - int(self.at[1])
        h, w = labels.shape
        # Put the source object on a canvas of the target's size, then reuse the move placement.
        canvas_obj = np.zeros((h, w), bool)
        canvas_cls = np.zeros((h, w), labels.dtype)
        ys, xs = np.nonzero(obj)
        ny, nx = ys + dy, xs + dx
        keep = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        if not keep.any():
            raise CimgenError(f"paste would put the object of {self.source_name} entirely outside the {w}x{h} map")
        canvas_obj[ny[keep], nx[keep]] = True
        canvas_cls[ny[keep], nx[keep]] = self.source[ys[keep], xs[keep]]
        return _place(labels, canvas_obj, canvas_cls, 0, 0, "paste")


OPERATIONS = (RemoveObject, RemoveClass, RemoveFeatures, InsertShape, InsertGeometry, ReplaceClass, PaintRegion, MoveObject, PasteObject)


def edit_classes(edit) -> list[int]:
    """The class ids an edit names (to check them against the map's classes)."""
    names = {
        RemoveObject: ("cls",), RemoveClass: ("cls",), InsertShape: ("cls",), InsertGeometry: ("cls",),
        ReplaceClass: ("source", "target"), PaintRegion: ("cls",),
    }  # fmt: skip
    if isinstance(edit, RemoveFeatures):
        return [int(c) for c in edit.classes]
    return [int(getattr(edit, n)) for n in names.get(type(edit), ()) if getattr(edit, n) is not None]


def apply_edits(labels: np.ndarray, edits: list, *, num_classes: int, instances: np.ndarray | None = None) -> np.ndarray:
    """Apply edits in order; an edit list that changes nothing is an error (arguments as for ``apply_edits_traced``)."""
    return apply_edits_traced(labels, edits, num_classes=num_classes, instances=instances)[0]


def apply_edits_traced(
    labels: np.ndarray, edits: list, *, num_classes: int, instances: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Apply edits in order and say which edit last changed each pixel; an edit list that changes nothing is an error.

    Returns:
        The edited map, and HxW int32 owners: 1 + the index of the last edit that changed the
        pixel, 0 where the edited map equals the original.

    Args:
        labels: HxW integer map.
        edits: operations of this module, applied one after the other.
        num_classes: the number of classes; an edit naming another class is refused.
        instances: HxW instance ids of ``labels`` (Cityscapes style), used to pick objects
            under a point; they describe the original map, so later edits see them too.
    """
    if not edits:
        raise CimgenError("no edit was given")
    for e in edits:
        if not isinstance(e, OPERATIONS):
            raise CimgenError(f"{type(e).__name__} is not a map edit operation")
        for v in edit_classes(e):
            if not 0 <= v < num_classes:
                raise CimgenError(f"class {v} is outside 0..{num_classes - 1}")
        if isinstance(e, PasteObject) and e.source.size and (e.source.min() < 0 or e.source.max() >= num_classes):
            raise CimgenError(f"{e.source_name} has labels outside 0..{num_classes - 1}")
    out = labels
    owners = np.zeros(labels.shape, np.int32)
    for i, e in enumerate(edits):
        before, out = out, e.apply(out, instances)
        owners[before != out] = i + 1
    changed = out != labels
    if not changed.any():
        raise CimgenError("the edit changed nothing in the map (no pixel of the chosen class lies in the chosen region)")
    owners[~changed] = 0
    return out, owners
