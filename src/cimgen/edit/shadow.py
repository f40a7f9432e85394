"""The shadow a removed object casts on its surroundings, so that a removal takes it away too.

A map labels an object, not its shadow: a car's dark underside lies on pixels labelled road, a house's
shadow on pixels labelled lawn. An edit mask made from the changed labels therefore stops at the object
and the blend keeps its shadow, a dark patch where nothing stands any more (issue 27: the taxi of
Cityscapes aachen_000005, the house of SpaceNet img50).

Shadows of one picture fall one way (the sun's, or straight down for the contact shadow under a car),
so the way is read from every object of the removed classes within ``WINDOW`` pixels of the edit: walking
out of the objects in each of ``DIRECTIONS`` directions, the mean brightness of the surrounding classes
over the first ``SPANS`` pixels (each pixel divided by its class's median, so that a darker class along one
side, a facade behind a car, is no shadow) is lowest on the shadow side, against the opposite side. A view
from the street (``down``) looks below the objects only. Where no side is clearly darker
(``CONTRAST``), nothing is added. Otherwise the pixels on that side of the removed object, within the
shadow's length measured along that way, darker than ``DARKER`` times their class's brightness on the
lit sides, and connected to the object, are its shadow.

This is a brightness test, not a shadow detector trained on data (none ships, and none downloads):
a dark thing of the surrounding class lying on the shadow side next to the object (a dark tree on a lawn,
a gutter) is taken too. It only widens the region that is redrawn from the object's surroundings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from cimgen.errors import CimgenError

SHADOWS = ("off", "any", "down")
"""What a mask made from an edit's changed labels does with the removed objects' shadows: keeps them out
(``off``), takes them in wherever they fall (``any``: views from above), or only below the objects (``down``:
views from the street)."""
DIRECTIONS = 16
"""Directions tried for the shadow's way (every 22.5 degrees)."""
REACH = 32
"""The longest shadow looked for, in pixels from the object's edge."""
SPANS = (3, 6, 12)
"""Distances from the objects, in pixels, over which the sides' brightness is compared: a car's contact
shadow is a few pixels deep, a house's in an aerial tile about ten."""
CONTRAST = 0.9
"""The shadow side's mean brightness must be under this share of the opposite side's."""
DARKER = 0.8
"""A shadow pixel is darker than this share of its class's median brightness on the lit sides."""
MIN_PIXELS = 20
"""Fewest pixels a brightness is read from."""
WINDOW = 256
"""Pixels around the removed objects whose objects tell the shadows' way (a large scene is read near the edit only)."""


@dataclass
class Shadow:
    """The shadow of the removed objects of an edit, and how it was found."""

    mask: np.ndarray
    """HxW bool: pixels of the surroundings that the removed objects shade (empty where none was found)."""
    info: dict = field(default_factory=dict)
    """``found``, and where found the ``direction`` (degrees, 0 to the right, 90 down), the shadow's ``length``,
    the sides' brightness ``contrast`` and the ``pixels``; where not, ``why``."""


def _shifted(mask: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``mask`` moved by (dy, dx) pixels, rounded to the nearest pixel; what leaves the picture is lost."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(mask.astype(np.uint8), m, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST) > 0


def _fronts(mask: np.ndarray, angle: float, steps: int) -> list[np.ndarray]:
    """The pixels first reached at each of ``steps`` steps of one pixel when ``mask`` is swept along ``angle``."""
    dy, dx = np.sin(angle), np.cos(angle)
    reached = mask.copy()
    out = []
    for t in range(1, steps + 1):
        s = _shifted(mask, t * dy, t * dx)
        out.append(s & ~reached)
        reached |= s
    return out


def _angle(k: int) -> float:
    return 2 * np.pi * (k % DIRECTIONS) / DIRECTIONS


def cast_shadow(
    image: np.ndarray,
    labels: np.ndarray,
    edited: np.ndarray,
    removed: np.ndarray,
    *,
    reach: int = REACH,
    contrast: float = CONTRAST,
    darker: float = DARKER,
    down: bool = False,
) -> Shadow:
    """The shadow on the surroundings of the objects removed at ``removed`` (see the module's docstring).

    Args:
        image: HxWx3 uint8, the original picture.
        labels: HxW class ids of the original.
        edited: HxW class ids after the edit.
        removed: HxW bool, the pixels of removed objects (their label changed).
        reach: the longest shadow looked for, in pixels.
        contrast: how much darker the shadow side must be than the opposite side, as a share.
        darker: how much darker than its class a shadow pixel must be, as a share.
        down: a view from the street: shadows fall downwards in the picture (within 45 degrees of straight
            down), on the ground under the object, never up a facade behind it. Seen from above (False),
            they may fall any way.
    """
    if image.shape[:2] != labels.shape or labels.shape != edited.shape or removed.shape != labels.shape:
        raise CimgenError("the image, the maps and the removed pixels must have the same size")
    if reach < 1 or not 0 < contrast <= 1 or not 0 < darker <= 1:
        raise CimgenError(f"reach must be at least 1 and contrast and darker in (0, 1]; got {reach}, {contrast} and {darker}")
    removed = removed.astype(bool) & (labels != edited)
    if not removed.any():
        return Shadow(np.zeros(labels.shape, bool), {"found": False, "why": "the edit removes nothing"})
    ys, xs = np.nonzero(removed)
    pad = max(WINDOW, 4 * reach)
    h, w = labels.shape
    win = (
        slice(max(0, int(ys.min()) - pad), min(h, int(ys.max()) + pad + 1)),
        slice(max(0, int(xs.min()) - pad), min(w, int(xs.max()) + pad + 1)),
    )
    found = _cast(image[win], labels[win], edited[win], removed[win], reach, contrast, darker, down)
    mask = np.zeros(labels.shape, bool)
    mask[win] = found.mask
    return Shadow(mask, found.info)


def _cast(
    image: np.ndarray, labels: np.ndarray, edited: np.ndarray, removed: np.ndarray, reach: int, contrast: float, darker: float, down: bool
) -> Shadow:
    """``cast_shadow`` on a window that holds the removed pixels."""
    none = np.zeros(labels.shape, bool)
    objects = np.isin(labels, np.unique(labels[removed]))
    fills = np.unique(edited[removed])
    ground = np.isin(labels, fills) & ~objects
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # brightness relative to the class's median: a darker class on one side (a facade behind a car) is no shadow
    rel = np.ones_like(gray)
    for c in fills:
        of_c = ground & (labels == c)
        if of_c.sum() >= MIN_PIXELS:
            rel[of_c] = gray[of_c] / max(float(np.median(gray[of_c])), 1.0)

    # the way shadows fall: per direction, mean brightness of the surroundings at each step out of every object
    span = max(SPANS)
    profile = np.full((DIRECTIONS, span), np.nan)
    for k in range(DIRECTIONS):
        for t, front in enumerate(_fronts(objects, _angle(k), span)):
            sel = front & ground
            if sel.sum() >= MIN_PIXELS:
                profile[k, t] = rel[sel].mean()
    best = (np.inf, 0, 0)
    ways = range(DIRECTIONS // 8, 3 * DIRECTIONS // 8 + 1) if down else range(DIRECTIONS)
    for s in SPANS:
        for k in ways:
            dark, lit = profile[k, :s], profile[(k + DIRECTIONS // 2) % DIRECTIONS, :s]
            if np.isnan(dark).all() or np.isnan(lit).all():
                continue
            ratio = float(np.nanmean(dark) / max(np.nanmean(lit), 1e-6))
            if ratio < best[0]:
                best = (ratio, k, s)
    ratio, k, s = best
    if not ratio < contrast:
        why = "no side of the objects is darker" if np.isfinite(ratio) else "too few surrounding pixels to read"
        return Shadow(none, {"found": False, "why": why, "contrast": None if not np.isfinite(ratio) else round(ratio, 3)})

    # its length: where the brightness along that way climbs back half way from its darkest to the lit side's
    along = np.full(reach, np.nan)
    for t, front in enumerate(_fronts(objects, _angle(k), reach)):
        sel = front & ground
        if sel.sum() >= MIN_PIXELS:
            along[t] = rel[sel].mean()
    lit = float(np.nanmean(profile[(k + DIRECTIONS // 2) % DIRECTIONS, :s]))
    smooth = np.convolve(np.pad(np.nan_to_num(along, nan=lit), 1, mode="edge"), np.ones(3) / 3, mode="valid")
    deepest = int(np.argmin(smooth[: max(SPANS)]))
    back = np.nonzero(smooth[deepest:] >= (smooth[deepest] + lit) / 2)[0]
    length = min(reach, deepest + (int(back[0]) if back.size else reach) + 2)

    # the removed objects' own shadow: on that side (give or take one direction), within that length, dark, connected
    side = np.zeros_like(removed)
    for kk in (k - 1, k, k + 1):
        for front in _fronts(removed, _angle(kk), length):
            side |= front
    same = labels == edited
    side &= same & np.isin(labels, fills)
    around = cv2.dilate(removed.astype(np.uint8), np.ones((4 * reach + 1, 4 * reach + 1), np.uint8)).astype(bool)
    dark = np.zeros_like(removed)
    for c in fills:
        lit_c = around & same & (labels == c) & ~side & ~removed
        if lit_c.sum() >= MIN_PIXELS:
            dark |= (labels == c) & (gray < darker * float(np.median(gray[lit_c])))
    shade = side & dark
    shade = cv2.morphologyEx(shade.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool) & side
    _, comp = cv2.connectedComponents((shade | removed).astype(np.uint8), connectivity=8)
    touching = np.unique(comp[removed])
    shade &= np.isin(comp, touching[touching > 0])
    info = {
        "found": bool(shade.any()),
        "direction": round(float(np.degrees(_angle(k))), 1),
        "length": int(length),
        "contrast": round(ratio, 3),
        "pixels": int(shade.sum()),
    }
    if not shade.any():
        info["why"] = "nothing next to the removed objects is dark on the shadow side"
    return Shadow(shade, info)
