"""Map edit operations: remove objects of a class inside a box, replace one class by another in a region.

Each operation is a small frozen dataclass with ``apply(labels) -> new labels``; it never
changes its input. Boxes are (x0, y0, x1, y1) in pixels, x1 and y1 exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cimgen.errors import CimgenError

Box = tuple[int, int, int, int]


def box_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """A bool mask of ``shape`` that is True inside ``box``; the box must overlap the map."""
    h, w = shape
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (x0 < x1 and y0 < y1):
        raise CimgenError(f"box {box} is empty; it must be x0,y0,x1,y1 with x0 < x1 and y0 < y1")
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise CimgenError(f"box {box} lies outside the {w}x{h} map")
    m = np.zeros(shape, bool)
    m[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return m


def fill_from_surroundings(labels: np.ndarray, hole: np.ndarray, *, exclude: int | None = None, mode: str = "surrounding") -> np.ndarray:
    """Fill the ``hole`` pixels of a label map from what is around them.

    Args:
        labels: HxW integer labels.
        hole: HxW bool, the pixels to fill.
        exclude: a class never used as fill (the one being removed).
        mode: ``surrounding`` gives each connected part of the hole the most common class on a
            two-pixel ring around it (so a removed house becomes the lawn or lot it stood on,
            not the road beside it); ``nearest`` gives each pixel the class of the nearest
            pixel outside the hole.
    """
    out = labels.copy()
    source = ~hole
    if exclude is not None:
        source &= labels != exclude
    if not source.any():
        raise CimgenError("there is no pixel outside the edited region to take a fill class from")
    if mode == "nearest":
        _, (iy, ix) = ndimage.distance_transform_edt(~source, return_indices=True)
        out[hole] = labels[iy[hole], ix[hole]]
        return out
    if mode != "surrounding":
        raise CimgenError(f"unknown fill mode '{mode}'; choose surrounding or nearest")
    parts, n = ndimage.label(hole)
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
            out = fill_from_surroundings(out, parts == i, exclude=exclude, mode="nearest")
    return out


@dataclass(frozen=True)
class RemoveClass:
    """Remove every object of class ``cls`` that lies inside ``box`` (whole objects, even where they cross its edge)."""

    cls: int
    """The class whose objects are removed."""
    box: Box
    """Region that selects the objects."""
    fill: str = "surrounding"
    """How the hole is filled: surrounding or nearest (see ``fill_from_surroundings``)."""
    whole_objects: bool = True
    """Remove each touched connected object entirely, not just its part inside the box."""

    def apply(self, labels: np.ndarray) -> np.ndarray:
        inside = box_mask(labels.shape, self.box)
        target = labels == self.cls
        if self.whole_objects:
            parts, _ = ndimage.label(target)
            touched = np.unique(parts[inside & target])
            hole = np.isin(parts, touched[touched > 0])
        else:
            hole = inside & target
        return fill_from_surroundings(labels, hole, exclude=self.cls, mode=self.fill)


@dataclass(frozen=True)
class ReplaceClass:
    """Relabel class ``source`` as ``target`` inside a box or a given mask."""

    source: int
    """The class to replace."""
    target: int
    """The class it becomes."""
    box: Box | None = None
    """Region of the edit; give this or ``region``."""
    region: np.ndarray | None = None
    """Bool HxW region of the edit; give this or ``box``."""

    def apply(self, labels: np.ndarray) -> np.ndarray:
        if (self.box is None) == (self.region is None):
            raise CimgenError("replace needs exactly one of a box or a mask region")
        if self.region is not None:
            if self.region.shape != labels.shape:
                raise CimgenError(f"the edit mask is {self.region.shape[1]}x{self.region.shape[0]} but the map is {labels.shape[1]}x{labels.shape[0]}")
            where = self.region.astype(bool)
        else:
            where = box_mask(labels.shape, self.box)
        out = labels.copy()
        out[where & (labels == self.source)] = self.target
        return out


def apply_edits(labels: np.ndarray, edits: list, *, num_classes: int) -> np.ndarray:
    """Apply edits in order; an edit list that changes nothing is an error."""
    if not edits:
        raise CimgenError("no edit was given")
    for e in edits:
        for name in ("cls", "source", "target"):
            v = getattr(e, name, None)
            if v is not None and not 0 <= v < num_classes:
                raise CimgenError(f"class {v} is outside 0..{num_classes - 1}")
    out = labels
    for e in edits:
        out = e.apply(out)
    if np.array_equal(out, labels):
        raise CimgenError("the edit changed nothing in the map (no pixel of the chosen class lies in the chosen region)")
    return out
