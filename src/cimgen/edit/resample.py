"""Where a memorising generator reads its position and detail codes inside an edit (``code_inside: resample``).

A generator fine-tuned with a position code and a detail code reproduces its one image by place: the codes
say what the map does not (the texture of this lawn, the cars on this road). Inside an edited region the
codes at that place describe the object that was removed, so they cannot be kept; withheld (zeroed) they
leave the generator only the map, and it draws a flat, average texture a person sees at once. Resampled,
each region reads its codes from another place of the same image whose map agrees with the edited map
there: the generator then draws real texture of the edited class, continuous with its surroundings (like
texture synthesis by copying, Efros and Freeman, SIGGRAPH 2001, done here on the generator's codes, so
the generator still follows the edited map and blends the borders).

The region is cut into ``patch``-square pieces. The source of each piece is the offset, within ``search``
pixels, that maximises the agreement of the original map at the offset with the edited map over the piece
(weight 1) and a ring of ``ring`` pixels around it (weight ``RING_WEIGHT``, so the source's surroundings
match too), less the image difference over the ring's known pixels, plus a bonus for continuing a
neighbour's offset, among the offsets whose source does not touch any edited region. A pixel whose source
class still differs from its edited class reads instead, within ``reach`` pixels, from the nearest pixel of its
class that has codes of that class (outside the edit, or resampled): that pixel's source continued by the
offset between the two, else mirrored, whichever is of the class and outside the edit. Where neither is, the
pixels move by connected groups to the nearest place that fits them (``shared_offsets``), so a group keeps a
texture of its own; read from one source each, they drew a flat block (measured 2026-12-05: the dark block at a
removed van's foot on Cityscapes aachen_000006, docs/benchmarks.md). Pixels with no such pixel in reach are
withheld (drawn from the map alone), so no code of another class is copied in.

Measured on the Map2Sat pair (benchmarks/fidelity.py, docs/benchmarks.md): whole-region sources copied
whatever lay at the best-matching place (a red roof into a road crossing); 16-pixel pieces matched to
their surroundings give textured ground where withheld codes gave flat patches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from cimgen.errors import CimgenError

CODE_INSIDE = ("resample", "withhold")
"""What a position- or detail-coded generator reads inside an edit: codes copied from a matching place of the
same image (``resample``), or none (``withhold``: the region drawn from the map alone)."""
DETAIL_INSIDE = ("source", "generated")
"""Whose fine detail an edit with resampled codes shows: the original image's at each pixel's code source (``source``,
``with_source_detail``), or the generator's own (``generated``)."""
RING = 16
"""Pixels of context around each region that its source's surroundings should match."""
RING_WEIGHT = 0.5
"""Weight of the ring against the region itself in the agreement."""
IMAGE_WEIGHT = 1.0
"""Weight of the ring's root-mean-square image difference (0-1) against the map agreement (0-1)."""
SEARCH = 256
"""How far (pixels) from a region its source may lie: near sources share the light and the season."""
PATCH = 16
"""The side of the pieces a region is resampled in."""
COHERENCE = 0.05
"""Bonus to a piece's score for continuing a placed neighbour's offset (fewer seams in the texture)."""
CLEARANCE = 3
"""Pixels around the classes an edit removes (anywhere in the map) that an edited pixel should not take its codes
from: where a map is registered a few pixels off its photo, the ground beside a building shows part of the
building, and a generator that memorised the photo draws that part again wherever those codes are copied."""
REACH = 32
"""How far (pixels) a pixel whose piece's source is of another class looks for the nearest pixel of its class."""
SHARED_TRIES = 8
"""Offsets a group of pixels that no nearby source continues may take in turn (``shared_offsets``)."""
SHARED_NEARNESS = 0.1
"""How much share of a group landing on its class an offset gives up per ``SEARCH`` pixels of distance: of offsets
that land about as much of the group, the nearest wins."""
BAND_AGREEMENT = 0.95
"""Share of a whole band's pixels whose source (on nearly the same rows, ``BAND_SLACK``) must be of their edited
class, and clear of the removed classes (``CLEARANCE``), for the band to be moved whole (``code_sources(bands=True)``):
the band takes the best-matching such place, or is pieced where there is none. Measured 2026-12-05 on the paper
table's Cityscapes fine-tunes: the road bands under removed cars reach 0.98-1.00, bands that cross a facade at an
angle or a pavement beside a taxi 0.01-0.42, a kerb band 0.80-0.87 (docs/benchmarks.md, "Removed objects' shadows,
and bands for street views")."""
STREET_PIECES = False
"""Whether a street view's pieces (``code_sources(bands=True)``) look along their own rows first (``ROW_AGREEMENT``),
keep ``STREET_CLEARANCE`` pixels from the removed classes and weigh how their sources look (``LOOK_WEIGHT``). Off:
measured 2026-12-05 (docs/benchmarks.md, "A street view's pieces on their own rows, and the look of a source"), they
made aachen_000003's shop-front foot continue its plinth and pillars instead of a mosaic and took away aachen_000005's
blue block, but lowered faithful on the fidelity benchmark's Cityscapes edit over eight fine-tunes (mean 0.814 to
0.794) and on aachen_000005 (0.749 to 0.714). ``benchmarks/redraw_edits.py`` draws them as its ``rows`` column."""
ROW_AGREEMENT = 0.9
"""Share of a piece's pixels whose source on nearly its own rows (``BAND_SLACK``) must be of their edited class, and
clear of the removed classes, for a piece of a view from the street to take it before it looks anywhere within
``SEARCH`` (``code_sources(bands=True)`` with ``STREET_PIECES``): a shop front's foot, a kerb or a hedge continues
along its rows, where a source from other rows brings a piece of another height (a mosaic of the shop front's
pillars and doors). Measured 2026-12-05 with a throwaway script on the paper table's fine-tunes (runs/paper-1206;
docs/benchmarks.md, "A street view's pieces on their own rows, and the look of a source"): at 0.8 aachen_000003's
lattice rose to 1.42, at 0.95 its removed car was painted back (0.014 against 0.010)."""
STREET_CLEARANCE = 8
"""``CLEARANCE`` for a view from the street (``code_sources(bands=True)`` with ``STREET_PIECES``): the other parked
cars stand on the rows a piece then takes its source from first (``ROW_AGREEMENT``), with their shadows and the dark
road under them a few pixels beyond their labels. With 3, pieces beside them brought them back (aachen_000003,
painted back 0.023 against 0.010); 12 raised its lattice to 1.45."""
LOOK_WEIGHT = 1.0
"""Weight of a source's look in a piece's score: the root-mean-square difference (0-1) between the mean colour of the
source's pixels and that of the known pixels around the piece, class by class (classes with at least ``LOOK_MIN``
such pixels). The map says where a facade is, not whether it is stone or glass: a piece of a stone facade could take
its source in a blue shop window (aachen_000005's blue block). 2 raised aachen_000003's lattice to 1.38."""
LOOK_MIN = 8
"""Known pixels of a class around a piece that ``LOOK_WEIGHT`` needs before it compares that class."""
BAND_SLACK = 8
"""Rows a band may move up or down as it moves along its rows: a band under a car rarely has its exact shape on
exactly its own rows, and 8 rows change the depth, and the size of the markings, little. Measured 2026-12-05 on the
Cityscapes fine-tunes (docs/benchmarks.md, "Bands that may move a few rows"): 0 rows left aachen_000003's upper road
a mosaic with a dark smudge (lattice 1.350), 4 gave 1.322, 8 gave 1.194, 16 raised its seam to 1.093."""


@dataclass
class CodeSources:
    """Where each pixel reads its codes: ``rows``/``cols`` (HxW int32; a pixel's own place outside the edit),
    and ``withheld`` (HxW bool: edited pixels without a matching source, drawn from the map alone)."""

    rows: np.ndarray
    cols: np.ndarray
    withheld: np.ndarray
    regions: list[dict] = field(default_factory=list)
    """Per piece: its box, its connected part, the chosen offset (dy, dx) and score, or why there is none."""
    filled: int = 0
    """Pixels whose piece's source was of another class, given the codes of the nearest pixel of their class."""

    def summary(self) -> dict:
        """For metrics.json: pieces placed and not, the bands and the pieces placed along their own rows, the mean
        agreement, and the share of pixels that read moved codes."""
        moved = (self.rows != np.arange(self.rows.shape[0])[:, None]) | (self.cols != np.arange(self.cols.shape[1])[None, :])
        total = int(moved.sum() + self.withheld.sum())
        placed = [r for r in self.regions if "offset" in r]
        return {
            "pieces": len(self.regions),
            "pieces_without_source": len(self.regions) - len(placed),
            "bands": sum(1 for r in self.regions if r.get("band")),
            "row_pieces": sum(1 for r in self.regions if r.get("rows")),
            "mean_agreement": round(float(np.mean([r["agreement"] for r in placed])), 4) if placed else None,
            "resampled_fraction": round(float(moved.sum() / total), 4) if total else 0.0,
            "withheld_pixels": int(self.withheld.sum()),
            "filled_pixels": self.filled,
        }


def identity_sources(shape: tuple[int, int]) -> CodeSources:
    """Every pixel reads its own codes."""
    h, w = shape
    rows, cols = np.indices((h, w), dtype=np.int32)
    return CodeSources(rows, cols, np.zeros((h, w), bool))


def withheld_sources(region: np.ndarray) -> CodeSources:
    """The codes withheld in ``region`` (the ``withhold`` treatment)."""
    s = identity_sources(region.shape)
    s.withheld = region.astype(bool).copy()
    return s


def code_sources(
    labels: np.ndarray,
    edited: np.ndarray,
    region: np.ndarray,
    *,
    image: np.ndarray | None = None,
    ring: int = RING,
    search: int = SEARCH,
    patch: int = PATCH,
    reach: int = REACH,
    clearance: int | None = None,
    bands: bool = False,
) -> CodeSources:
    """For each ``patch``-square piece of ``region``, the place of ``labels`` whose map best matches ``edited`` there.

    Pieces are taken in raster order within each connected part; like image quilting (Efros and Freeman, 2001),
    a piece's surroundings include the pieces already placed (the image at their sources).

    Args:
        labels: HxW original class ids (what the codes were learnt on).
        edited: HxW edited class ids.
        region: HxW bool, the edit's region (the blend mask).
        image: HxWx3 uint8, the original image: when given, the source's surroundings must also look like the
            piece's (the root-mean-square difference over the ring, weighted by ``IMAGE_WEIGHT``), as exemplar
            inpainting matches the pixels it already has (Criminisi et al., 2004).
        ring: context pixels around each piece that the source's surroundings should match.
        search: the largest offset, in pixels, at which a source is looked for.
        patch: the side of the pieces, in pixels.
        reach: how far a pixel whose piece's source is of another class looks for the nearest pixel of its class
            with codes of it (0: such pixels are withheld).
        clearance: pixels around the classes the edit removes (those of ``labels`` that ``edited`` changes in
            ``region``) that count as matching no class under a piece (0: none; None: ``CLEARANCE``, or
            ``STREET_CLEARANCE`` with ``bands`` and ``STREET_PIECES``).
        bands: a view from the street: each ``patch``-tall band of rows of a part is first tried whole,
            moved along its own rows (give or take ``BAND_SLACK``: the same depth, so lane markings and kerbs keep
            their size and run on) to the best-matching place where at least ``BAND_AGREEMENT`` of its pixels land on
            their edited class; bands without such a place are pieced. With ``STREET_PIECES`` (off), each piece
            first looks along its own rows (``ROW_AGREEMENT``) and, with ``image``, weighs its sources' look
            (``LOOK_WEIGHT``).
    """
    if not (labels.shape == edited.shape == region.shape):
        raise CimgenError("the map, the edited map and the region must have the same size")
    if image is not None and image.shape[:2] != labels.shape:
        raise CimgenError(f"the image is {image.shape[1]}x{image.shape[0]} but the map is {labels.shape[1]}x{labels.shape[0]}")
    street = bands and STREET_PIECES  # pieces on their own rows first, the street clearance, the sources' look
    if clearance is None:
        clearance = STREET_CLEARANCE if street else CLEARANCE
    if ring < 0 or search < 1 or patch < 1 or clearance < 0:
        raise CimgenError(
            f"ring and clearance must be 0 or more, search and patch at least 1; got {ring}, {clearance}, {search} and {patch}"
        )
    h, w = labels.shape
    out = identity_sources((h, w))
    region = region.astype(bool)
    filled = None if image is None else image.astype(np.float32) / 255  # as drawn so far: placed pieces show their sources
    known = ~region
    clear = removal_clearance(labels, edited, region, clearance)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    done = np.zeros((h, w), bool)

    def take(info: dict, ys: np.ndarray, xs: np.ndarray) -> None:
        """Give the pixels (ys, xs) of a placed piece the codes at its offset (withheld where the class differs)."""
        dy, dx = info["offset"]
        mismatch = labels[ys + dy, xs + dx] != edited[ys, xs]
        good = ~mismatch
        out.rows[ys[good], xs[good]] = ys[good] + dy
        out.cols[ys[good], xs[good]] = xs[good] + dx
        out.withheld[ys[mismatch], xs[mismatch]] = True
        info["withheld_pixels"] = int(mismatch.sum())
        if filled is not None:
            filled[ys, xs] = filled[ys + dy, xs + dx]
        known[ys, xs] = True
        done[ys, xs] = True

    for k in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        if bands:  # first, whole bands of rows moved along their rows, where those rows hold the edited classes
            for ty in range(y, y + bh, patch):
                box = (x, ty, bw, min(patch, y + bh - ty))
                piece = comp[ty : ty + box[3], x : x + bw] == k
                if not piece.any():
                    continue
                info = place(
                    labels, edited, region, piece, box, filled=filled, known=known, ring=ring, search=search, near=[], clear=clear,
                    along_rows=True, need=BAND_AGREEMENT, look=street,
                )  # fmt: skip
                if "offset" not in info:
                    continue
                ys, xs = np.nonzero(piece)
                ys, xs = ys + ty, xs + x
                dy, dx = info["offset"]
                agreement = float((labels[ys + dy, xs + dx] == edited[ys, xs]).mean())
                info.update(part=k, band=True, label_agreement=round(agreement, 4))
                out.regions.append(info)
                take(info, ys, xs)
        placed: dict[tuple[int, int], tuple[int, int]] = {}
        for ty in range(y, y + bh, patch):
            for tx in range(x, x + bw, patch):
                box = (tx, ty, min(patch, x + bw - tx), min(patch, y + bh - ty))
                piece = (comp[ty : ty + box[3], tx : tx + box[2]] == k) & ~done[ty : ty + box[3], tx : tx + box[2]]
                if not piece.any():
                    continue
                near = [placed[t] for t in ((ty - patch, tx), (ty, tx - patch), (ty - patch, tx + patch), (ty + patch, tx)) if t in placed]
                args = (labels, edited, region, piece, box)
                kwargs = {"filled": filled, "known": known, "ring": ring, "search": search, "near": near, "clear": clear, "look": street}
                info = place(*args, **kwargs, along_rows=True, need=ROW_AGREEMENT) if street else {}
                if "offset" in info:  # a street view's piece on its own rows
                    info["rows"] = True
                else:
                    info = place(*args, **kwargs)
                info["part"] = k
                out.regions.append(info)
                ys, xs = np.nonzero(piece)
                ys, xs = ys + ty, xs + tx
                if "offset" not in info:
                    out.withheld[ys, xs] = True
                    continue
                placed[(ty, tx)] = tuple(info["offset"])
                take(info, ys, xs)
    if reach > 0:
        out.filled = fill_withheld(out, labels, edited, region, reach, search=search, clear=clear)
    return out


def removal_clearance(labels: np.ndarray, edited: np.ndarray, region: np.ndarray, clearance: int) -> np.ndarray | None:
    """HxW bool: the pixels within ``clearance`` pixels (a square) of a class that ``edited`` replaces in ``region``,
    anywhere in ``labels``, that are not of such a class themselves; None where there are none."""
    removed_classes = np.unique(labels[region & (labels != edited)])
    if clearance == 0 or removed_classes.size == 0:
        return None
    removed = np.isin(labels, removed_classes)
    side = 2 * clearance + 1
    near = cv2.dilate(removed.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool) & ~removed
    return near if near.any() else None


def fill_withheld(
    sources: CodeSources,
    labels: np.ndarray,
    edited: np.ndarray,
    region: np.ndarray,
    reach: int,
    *,
    search: int = SEARCH,
    clear: np.ndarray | None = None,
) -> int:
    """Give withheld pixels of ``sources`` the codes of the nearest pixel of their edited class, within ``reach``
    pixels, that reads codes of that class: outside ``region`` (its own) or resampled inside it. The source is that
    pixel's source continued by the offset between them, else mirrored, the first of them that lies in the image,
    outside the region and on the class. The pixels where neither is take, group by group (``shared_offsets``), the
    nearest offset within ``search`` that puts most of the group on its class, outside the region and off ``clear``;
    the few left after that read the nearest pixel's source itself. Changes ``sources`` in place; returns the pixels
    given a source."""
    h, w = labels.shape
    given = 0
    resampled = region & ~sources.withheld
    for c in np.unique(edited[sources.withheld]):
        ys, xs = np.nonzero(sources.withheld & (edited == c))
        y0, y1 = max(0, int(ys.min()) - reach), min(h, int(ys.max()) + reach + 1)
        x0, x1 = max(0, int(xs.min()) - reach), min(w, int(xs.max()) + reach + 1)
        window = (slice(y0, y1), slice(x0, x1))
        has = (~region[window] & (labels[window] == c)) | (resampled[window] & (edited[window] == c))
        if not has.any():
            continue
        dist, (iy, ix) = ndimage.distance_transform_edt(~has, return_indices=True)
        near = dist[ys - y0, xs - x0] <= reach
        ys, xs = ys[near], xs[near]
        ny, nx = iy[ys - y0, xs - x0] + y0, ix[ys - y0, xs - x0] + x0
        sy, sx = sources.rows[ny, nx], sources.cols[ny, nx]
        ry, rx = sy.copy(), sx.copy()
        todo = np.ones(len(ys), bool)
        for sign in (1, -1):  # continued, then mirrored
            cy, cx = sy + sign * (ys - ny), sx + sign * (xs - nx)
            inside = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
            cyc, cxc = np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)
            ok = todo & inside & (labels[cyc, cxc] == c) & ~region[cyc, cxc]
            ry[ok], rx[ok] = cy[ok], cx[ok]
            todo &= ~ok
        if todo.any():  # one source for many pixels draws a flat block: move whole groups by a shared offset instead
            valid = (labels == c) & ~region
            if clear is not None:
                valid &= ~clear
            oy, ox, ok = shared_offsets(ys[todo], xs[todo], valid, search)
            t = np.nonzero(todo)[0][ok]
            ry[t], rx[t] = ys[t] + oy[ok], xs[t] + ox[ok]
        sources.rows[ys, xs], sources.cols[ys, xs] = ry, rx
        sources.withheld[ys, xs] = False
        given += len(ys)
    return given


def shared_offsets(ys: np.ndarray, xs: np.ndarray, valid: np.ndarray, search: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets that move the pixels (ys, xs) onto ``valid`` (HxW bool) by groups, as texture synthesis copies a patch
    whole: each connected group of the pixels takes the offset within ``search`` pixels that lands the most of them
    on ``valid``, the nearest of those (less ``SHARED_NEARNESS`` of the share per ``search`` pixels away); the
    connected groups of its pixels that land elsewhere try again, up to ``SHARED_TRIES`` times. Returns the offsets
    (dy, dx) per pixel and where one was found."""
    oy, ox = np.zeros(len(ys), np.int64), np.zeros(len(ys), np.int64)
    found = np.zeros(len(ys), bool)
    if not len(ys) or not valid.any():
        return oy, ox, found
    # only the pixels' box and ``search`` around it is read: a large scene's full-size copies are not needed
    cy0, cx0 = max(0, int(ys.min()) - search), max(0, int(xs.min()) - search)
    valid = valid[cy0 : int(ys.max()) + search + 1, cx0 : int(xs.max()) + search + 1]
    ys, xs = ys - cy0, xs - cx0
    h, w = valid.shape
    target = valid.astype(np.float32)
    left = np.arange(len(ys))
    for _ in range(SHARED_TRIES):
        at = np.zeros((h, w), np.uint8)
        at[ys[left], xs[left]] = 1
        n, comp = cv2.connectedComponents(at, connectivity=8)
        group = comp[ys[left], xs[left]]
        missed = []
        for g in range(1, n):
            mine = left[group == g]
            py, px = ys[mine], xs[mine]
            y0, x0 = int(py.min()), int(px.min())
            tpl = np.zeros((int(py.max()) - y0 + 1, int(px.max()) - x0 + 1), np.float32)
            tpl[py - y0, px - x0] = 1
            wy0, wx0 = max(0, y0 - search), max(0, x0 - search)
            wy1, wx1 = min(h, y0 + tpl.shape[0] + search), min(w, x0 + tpl.shape[1] + search)
            if wy1 - wy0 < tpl.shape[0] or wx1 - wx0 < tpl.shape[1]:
                continue
            hits = cv2.matchTemplate(target[wy0:wy1, wx0:wx1], tpl, cv2.TM_CCORR)  # pixels landing on valid, per offset
            dy = np.arange(hits.shape[0])[:, None] + wy0 - y0
            dx = np.arange(hits.shape[1])[None, :] + wx0 - x0
            score = hits / len(mine) - SHARED_NEARNESS * np.hypot(dy, dx) / search
            i, j = np.unravel_index(int(np.argmax(score)), score.shape)
            if hits[i, j] < 0.5:
                continue
            land = valid[py + dy[i, 0], px + dx[0, j]]
            oy[mine[land]], ox[mine[land]], found[mine[land]] = dy[i, 0], dx[0, j], True
            missed.append(mine[~land])
        left = np.concatenate(missed) if missed else left[:0]
        if not len(left):
            break
    return oy, ox, found


def place(
    labels: np.ndarray,
    edited: np.ndarray,
    region: np.ndarray,
    piece: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    filled: np.ndarray | None,
    known: np.ndarray,
    ring: int,
    search: int,
    near: list[tuple[int, int]],
    clear: np.ndarray | None = None,
    along_rows: bool = False,
    need: float = 0.0,
    look: bool = False,
) -> dict:
    """The best source offset (dy, dx) of one piece: ``piece`` is its bool mask within ``box`` (x, y, w, h) of the
    map. Returns its info dict, with ``offset`` and ``agreement`` (the score: map agreement 0-1, less the ring's
    image difference, plus the neighbour bonus) or a ``source`` saying why there is none. Pixels of ``clear`` (HxW
    bool, ``removal_clearance``) that would lie under the piece count as matching no class. ``along_rows`` looks
    for sources on the piece's own rows, give or take ``BAND_SLACK``, anywhere along them (``search`` then bounds
    nothing). ``need`` (0-1) keeps only the places where at least that share of the piece's own pixels land on their
    edited class and off ``clear``. ``look`` weighs the source's look against the piece's surroundings (``LOOK_WEIGHT``).

    The correlations are OpenCV's ``matchTemplate`` (TM_CCORR, and TM_SQDIFF with a mask for the ring)."""
    h, w = labels.shape
    x, y, bw, bh = box
    y0, y1, x0, x1 = max(0, y - ring), min(h, y + bh + ring), max(0, x - ring), min(w, x + bw + ring)
    sy0, sy1 = (max(0, y0 - BAND_SLACK), min(h, y1 + BAND_SLACK)) if along_rows else (max(0, y0 - search), min(h, y1 + search))
    sx0, sx1 = (0, w) if along_rows else (max(0, x0 - search), min(w, x1 + search))
    info: dict = {"box": [x, y, x + bw, y + bh]}
    if sy1 - sy0 < y1 - y0 + 1 and sx1 - sx0 < x1 - x0 + 1:
        info["source"] = "none: the piece's surroundings are as large as the image"
        return info
    inner = np.zeros((y1 - y0, x1 - x0), bool)
    inner[y - y0 : y - y0 + bh, x - x0 : x - x0 + bw] = piece
    around = known[y0:y1, x0:x1] & ~inner
    weight = np.where(inner, 1.0, np.where(around, RING_WEIGHT, 0.0)).astype(np.float32)
    template = edited[y0:y1, x0:x1]
    area = labels[sy0:sy1, sx0:sx1]
    score = np.zeros((area.shape[0] - template.shape[0] + 1, area.shape[1] - template.shape[1] + 1), np.float32)
    landed = np.zeros_like(score) if need else None  # the piece's own pixels that land on their class
    for c in np.unique(template[weight > 0]):
        on_c = (area == c).astype(np.float32)
        score += cv2.matchTemplate(on_c, weight * (template == c), cv2.TM_CCORR)
        if landed is not None and (inner & (template == c)).any():
            landed += cv2.matchTemplate(on_c, (inner & (template == c)).astype(np.float32), cv2.TM_CCORR)
    if clear is not None:  # one point off for each cleared pixel under the piece, as if it matched nothing
        cleared = cv2.matchTemplate(clear[sy0:sy1, sx0:sx1].astype(np.float32), inner.astype(np.float32), cv2.TM_CCORR)
        score -= cleared
        if landed is not None:
            landed -= cleared
    score /= weight.sum()
    if filled is not None and around.any():
        sq = cv2.matchTemplate(
            filled[sy0:sy1, sx0:sx1], filled[y0:y1, x0:x1], cv2.TM_SQDIFF, mask=np.repeat(around[..., None], 3, 2).astype(np.float32)
        )
        score -= IMAGE_WEIGHT * np.sqrt(np.clip(sq, 0, None) / (3 * around.sum()))
    if look and filled is not None and LOOK_WEIGHT > 0:
        score -= LOOK_WEIGHT * look_difference(filled, template, inner, around, (y0, y1, x0, x1), (sy0, sy1, sx0, sx1), score.shape)
    # a source must not touch an edited region (it would copy the codes of what was removed)
    touches = cv2.matchTemplate(region[sy0:sy1, sx0:sx1].astype(np.float32), inner.astype(np.float32), cv2.TM_CCORR)
    score[touches > 0.5] = -np.inf
    if not np.isfinite(score).any():
        info["source"] = "none: every nearby place touches an edit"
        return info
    if landed is not None:
        score[landed < need * inner.sum() - 0.5] = -np.inf
        if not np.isfinite(score).any():
            info["source"] = f"none: no place lands {need:.0%} of the piece on its classes"
            return info
    oy, ox = np.indices(score.shape)
    score -= 1e-6 * np.hypot(oy + sy0 - y0, ox + sx0 - x0)  # nearer sources win ties
    for dy, dx in near:  # the neighbours' offsets continue their texture
        iy, ix = dy - (sy0 - y0), dx - (sx0 - x0)
        if 0 <= iy < score.shape[0] and 0 <= ix < score.shape[1] and np.isfinite(score[iy, ix]):
            score[iy, ix] += COHERENCE
    best = np.unravel_index(np.argmax(score), score.shape)
    info.update(offset=[int(best[0] + sy0 - y0), int(best[1] + sx0 - x0)], agreement=round(float(score[best]), 4))
    return info


def look_difference(
    filled: np.ndarray,
    template: np.ndarray,
    inner: np.ndarray,
    around: np.ndarray,
    window: tuple[int, int, int, int],
    area: tuple[int, int, int, int],
    shape: tuple[int, int],
) -> np.ndarray:
    """Per offset of ``place``'s search area, the root-mean-square difference (0-1) between the mean colour of the
    source's pixels under the piece and the mean colour of the known pixels around it, class by class (``LOOK_WEIGHT``);
    zeros where no class of the piece has ``LOOK_MIN`` known pixels around it."""
    y0, y1, x0, x1 = window
    sy0, sy1, sx0, sx1 = area
    here = filled[y0:y1, x0:x1]
    there = [np.ascontiguousarray(filled[sy0:sy1, sx0:sx1, ch]) for ch in range(filled.shape[2])]  # once, not per class
    squared = np.zeros(shape, np.float32)
    counted = 0.0
    for c in np.unique(template[inner]):
        seen = around & (template == c)
        if seen.sum() < LOOK_MIN:
            continue
        mine = (inner & (template == c)).astype(np.float32)
        n = float(mine.sum())
        target = here[seen].mean(0)
        for ch, channel in enumerate(there):  # the mean colour of the source's pixels of the class, per offset
            mean = cv2.matchTemplate(channel, mine, cv2.TM_CCORR) / n
            squared += n * (mean - target[ch]) ** 2
        counted += filled.shape[2] * n
    return np.sqrt(squared / counted) if counted else squared


DETAIL_SIGMA = 3.0
"""Standard deviation, in pixels, of the Gaussian that splits an image into its coarse part and its fine detail
(``with_source_detail``): what it removes is the grain, small edges and strips a few pixels wide that a generator
with a bottleneck at 1/8 of the image draws too softly. It was 1.5 until 2026-12-05: on the Cityscapes edit of
benchmarks/fidelity.py, thin strips of the edited map (terrain, sidewalk, hedge, 3-8 pixels tall) came out in the
road's or the sidewalk's colour, and three fine-tunes (seeds 0-2) read faithful 0.818 / 0.782 / 0.794 with 1.5,
0.834 / 0.825 / 0.823 with 3 and 0.844 / 0.836 / 0.839 with 4.5, nothing painted back at any; 4.5 raised the seam to
1.025-1.029 (docs/manipulation.md)."""


def fine_detail(image: np.ndarray, sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """An image's fine detail: the image minus its Gaussian blur of ``sigma`` pixels (float32)."""
    src = image.astype(np.float32)
    return src - cv2.GaussianBlur(src, (0, 0), sigma)


def with_source_detail(
    generated: np.ndarray, image: np.ndarray, sources: CodeSources, region: np.ndarray, sigma: float = DETAIL_SIGMA
) -> np.ndarray:
    """``generated`` with, inside ``region``, its fine detail replaced by the original image's at each pixel's code source.

    Fine detail is an image minus its Gaussian blur (``sigma``): the coarse part stays the generator's (what the edited
    map asks for) and the grain and small edges come from the place of the photo whose map matched there
    (``code_sources``), where the generator draws them too softly. Pixels without a source outside the region (withheld)
    keep the generated image, as do all pixels outside the region.

    Args:
        generated: HxWx3 uint8, the generated image.
        image: HxWx3 uint8, the original image.
        sources: where each pixel reads its codes (``code_sources``).
        region: HxW bool, the edit's region.
        sigma: the Gaussian's standard deviation in pixels (> 0).
    """
    if generated.shape != image.shape or generated.shape[:2] != region.shape or sources.rows.shape != region.shape:
        raise CimgenError("the generated image, the original, the region and the code sources must have the same size")
    if not sigma > 0:
        raise CimgenError(f"the detail's sigma must be positive; got {sigma}")
    region = region.astype(bool)
    take = region & ~sources.withheld
    take &= ~region[sources.rows, sources.cols]  # a source inside the region would be the removed object's
    if not take.any():
        return generated
    gen = generated.astype(np.float32)
    detail = fine_detail(image, sigma)
    out = gen.copy()
    out[take] = cv2.GaussianBlur(gen, (0, 0), sigma)[take] + detail[sources.rows[take], sources.cols[take]]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
