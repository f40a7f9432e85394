"""Rendering label maps larger than a generator can take at once: overlapping tiles merged without seams.

The map is cut into ``tile_size`` squares on a grid of stride ``tile_size - overlap``; the last
row and column of tiles are moved back to end flush with the image border (so they overlap
their neighbour by more than ``overlap``). Each tile is rendered on its own and weighted by a
separable linear ramp that rises across its overlap with each neighbour (and stays 1 at the
image border); dividing by the summed weights makes the merge a partition of unity, so two
tiles cross-fade over their whole shared strip instead of meeting at a line.

Only tiles that touch the edit mask (grown by ``margin``) are rendered. A pixel's value depends
only on the tiles that contain it, and every tile containing a mask pixel is rendered, so inside
the mask the merge is the same, bit for bit, as rendering every tile.

Memory stays bounded by the tile size: tile rows are rendered top to bottom into a float32
accumulator one tile high (and as wide as the rendered columns); rows that no later tile can
reach are divided out and written into the uint8 output, and the accumulator moves down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from cimgen.data.tiles import tile_starts
from cimgen.errors import CimgenError

TileBox = tuple[int, int, int, int]
"""A tile as (y, x, height, width) in pixels."""

# Result keys of ``tile_seam_score``.
SEAM_EDGE = "edge"
SEAM_NEAR = "near"
SEAM_OVERLAP = "overlap"
SEAM_CORE = "core"
SEAM_RATIO = "ratio"
SEAM_RATIO_NEAR = "ratio_near"

# Offsets, in pixels, of the lines parallel to each tile edge that ``near`` compares it with.
NEAR_OFFSETS = (2, 3, 4)


@dataclass
class TiledResult:
    """What ``generate_tiled`` produced."""

    generated: np.ndarray
    """HxWx3 uint8: merged tiles where a tile was rendered, ``fill`` elsewhere."""
    tiles: list[TileBox] = field(default_factory=list)
    """The rendered tiles as (y, x, height, width), in rendering order (row by row)."""
    tiles_total: int = 0
    """Tiles in the whole grid (rendering all of them would cost this many calls)."""
    seconds: float = 0.0
    """Wall time of the whole call."""


def _axis_starts(length: int, tile_size: int, overlap: int) -> tuple[list[int], int]:
    """Tile starts along one axis (the last flush with the border) and the tile extent there."""
    return tile_starts(length, tile_size, tile_size - overlap, "shift"), min(tile_size, length)


def _axis_weights(starts: list[int], size: int) -> list[np.ndarray]:
    """Per tile along one axis: 1 inside, a linear ramp across the actual overlap with each neighbour.

    The ramps of two neighbours run over the same pixels in opposite directions and sum to 1
    there; half-pixel offsets keep every weight above 0, so each covered pixel has weight.
    """
    weights = []
    for i, s in enumerate(starts):
        w = np.ones(size, np.float32)
        if i > 0:
            k = starts[i - 1] + size - s  # overlap with the previous tile (larger for a flush last tile)
            if k > 0:
                w[:k] *= (np.arange(k, dtype=np.float32) + 0.5) / k
        if i < len(starts) - 1:
            k = s + size - starts[i + 1]
            if k > 0:
                w[size - k :] *= (np.arange(k, 0, -1, dtype=np.float32) - 0.5) / k
        weights.append(w)
    return weights


def _check_options(tile_size: int, overlap: int, margin: int) -> None:
    if int(tile_size) != tile_size or tile_size < 1:
        raise CimgenError(f"tile_size must be a whole number of pixels of at least 1, got {tile_size}")
    if int(overlap) != overlap or not 0 <= overlap < tile_size:
        raise CimgenError(f"overlap must be at least 0 and smaller than tile_size ({tile_size}), got {overlap}")
    if int(margin) != margin or margin < 0:
        raise CimgenError(f"margin must be 0 or more pixels, got {margin}")


def tile_boxes(height: int, width: int, *, tile_size: int = 512, overlap: int = 64) -> list[TileBox]:
    """Every tile of the grid ``generate_tiled`` uses, row by row, as (y, x, height, width).

    Args:
        height, width: image size.
        tile_size: side of a tile; an image smaller than a tile along an axis is one tile there.
        overlap: pixels shared by neighbouring tiles (more for the flush last row and column).
    """
    _check_options(tile_size, overlap, 0)
    if height < 1 or width < 1:
        raise CimgenError(f"the image must have at least one pixel, got {width}x{height}")
    ys, th = _axis_starts(height, tile_size, overlap)
    xs, tw = _axis_starts(width, tile_size, overlap)
    return [(y, x, th, tw) for y in ys for x in xs]


def _window_grid(
    height: int, width: int, tile_size: int, overlap: int, origin: tuple[int, int], full_shape: tuple[int, int] | None
) -> tuple[list[int], list[int], list[np.ndarray], list[np.ndarray], int, int, int]:
    """Tile starts (in window coordinates) and weights of the scene grid's tiles inside a window, tile extent, tiles in the scene."""
    oy, ox = (int(v) for v in origin)
    full_h, full_w = (height, width) if full_shape is None else (int(full_shape[0]), int(full_shape[1]))
    if oy < 0 or ox < 0 or oy + height > full_h or ox + width > full_w:
        raise CimgenError(f"a {width}x{height} window at (x={ox}, y={oy}) does not lie inside the {full_w}x{full_h} scene")
    ys, th = _axis_starts(full_h, tile_size, overlap)
    xs, tw = _axis_starts(full_w, tile_size, overlap)
    wy, wx = _axis_weights(ys, th), _axis_weights(xs, tw)
    keep_y = [i for i, y in enumerate(ys) if oy <= y and y + th <= oy + height]
    keep_x = [j for j, x in enumerate(xs) if ox <= x and x + tw <= ox + width]
    return (
        [ys[i] - oy for i in keep_y], [xs[j] - ox for j in keep_x], [wy[i] for i in keep_y], [wx[j] for j in keep_x],
        th, tw, len(ys) * len(xs),
    )  # fmt: skip


def tiles_touching(
    mask: np.ndarray, origin: tuple[int, int], full_shape: tuple[int, int], *, tile_size: int, overlap: int, margin: int
) -> list[TileBox]:
    """The scene grid's tiles (scene coordinates) within ``margin`` of a True pixel of ``mask``, a window at ``origin``.

    These are the tiles ``generate_tiled`` renders for that mask; a window that holds them all
    (``origin``/``full_shape``) renders them as the whole scene would.
    """
    _check_options(tile_size, overlap, margin)
    oy, ox = origin
    h, w = mask.shape
    out = []
    for y, x, th, tw in tile_boxes(*full_shape, tile_size=tile_size, overlap=overlap):
        y0, y1 = max(y - margin - oy, 0), min(y + th + margin - oy, h)
        x0, x1 = max(x - margin - ox, 0), min(x + tw + margin - ox, w)
        if y0 < y1 and x0 < x1 and mask[y0:y1, x0:x1].any():
            out.append((y, x, th, tw))
    return out


def generate_tiled(
    labels: np.ndarray,
    render: Callable[[np.ndarray], np.ndarray],
    *,
    tile_size: int = 512,
    overlap: int = 64,
    mask: np.ndarray | None = None,
    margin: int = 32,
    fill: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    origin: tuple[int, int] = (0, 0),
    full_shape: tuple[int, int] | None = None,
) -> TiledResult:
    """Render a large label map tile by tile and merge the tiles with linear overlap ramps.

    Args:
        labels: HxW integer label map (any size; e.g. 8192x8192 uint8).
        render: callable(label tile hxw) -> hxwx3 uint8, e.g.
            ``lambda t: generate(generator, t, label_nc)``.
        tile_size: side of a tile in pixels.
        overlap: pixels shared by neighbouring tiles; 0 gives abutting tiles (visible seams).
        mask: HxW bool; only tiles within ``margin`` pixels of a True pixel are rendered
            (None renders every tile).
        margin: how far around the mask, in pixels (a square neighbourhood), tiles are still rendered.
        fill: HxWx3 uint8 kept where no tile was rendered (typically the original image);
            None means black.
        progress: callable(done, total) called after each rendered tile.
        origin: (y, x) of ``labels`` (and ``mask``, ``fill``) in a larger scene of ``full_shape``:
            the tiles are then those of the scene's grid that lie wholly inside this window, with the
            scene grid's weights, so a window holding every tile an edit touches renders, pixel for
            pixel, what the whole scene would (the windowed path, ``cimgen.edit.windowed``).
            ``TiledResult.tiles`` stay in the window's own coordinates.
        full_shape: (height, width) of that scene; None: ``labels`` is the whole image.

    Returns:
        A ``TiledResult``; inside ``mask`` its pixels equal those of rendering every tile.
    """
    t0 = time.perf_counter()
    _check_options(tile_size, overlap, margin)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise CimgenError(f"the label map must be an integer HxW array, got dtype {labels.dtype} and shape {labels.shape}")
    height, width = labels.shape
    if height < 1 or width < 1:
        raise CimgenError(f"the label map must have at least one pixel, got {width}x{height}")
    if mask is not None and (mask.dtype != bool or mask.shape != labels.shape):
        raise CimgenError(f"the mask must be a bool array of the map's size {width}x{height}, got {mask.dtype} {mask.shape}")
    if fill is not None and (fill.dtype != np.uint8 or fill.shape != (height, width, 3)):
        raise CimgenError(f"fill must be a {width}x{height}x3 uint8 image, got {fill.dtype} {fill.shape}")
    if progress is not None and not callable(progress):
        raise CimgenError("progress must be a callable(done, total) or None")

    ys, xs, wy, wx, th, tw, tiles_total = _window_grid(height, width, tile_size, overlap, origin, full_shape)
    rows: list[tuple[int, list[int]]] = []  # (row index, column indices to render)
    for i, y in enumerate(ys):
        cols = [
            j
            for j, x in enumerate(xs)
            if mask is None or mask[max(y - margin, 0) : y + th + margin, max(x - margin, 0) : x + tw + margin].any()
        ]
        if cols:
            rows.append((i, cols))
    todo = sum(len(c) for _, c in rows)

    generated = np.zeros((height, width, 3), np.uint8) if fill is None else fill.copy()
    result = TiledResult(generated=generated, tiles_total=tiles_total)
    if not rows:
        result.seconds = time.perf_counter() - t0
        return result
    # The accumulator spans the rendered columns only and one tile height.
    c0 = min(xs[j] for _, cols in rows for j in cols)
    c1 = max(xs[j] + tw for _, cols in rows for j in cols)
    acc = np.zeros((th, c1 - c0, 3), np.float32)
    weight = np.zeros((th, c1 - c0), np.float32)
    out = generated[:, c0:c1]

    def finalise(top: int, n: int) -> None:
        """Divide out the first ``n`` accumulator rows (image rows top..top+n) into the output.

        Works in place: these rows are overwritten or cleared before the accumulator is used again.
        """
        w, values = weight[:n], acc[:n]
        covered = w > 0
        w[~covered] = 1.0
        np.divide(values, w[..., None], out=values)
        np.rint(values, out=values)
        np.clip(values, 0, 255, out=values)
        out[top : top + n][covered] = values[covered].astype(np.uint8)

    top = ys[rows[0][0]]
    for i, cols in rows:
        y = ys[i]
        # Tile rows start in increasing order, so rows above y are final.
        shift = y - top
        if shift >= th:
            finalise(top, th)
            acc[:] = 0
            weight[:] = 0
        elif shift > 0:
            finalise(top, shift)
            acc[: th - shift] = acc[shift:]
            weight[: th - shift] = weight[shift:]
            acc[th - shift :] = 0
            weight[th - shift :] = 0
        top = y
        for j in cols:
            x = xs[j]
            tile = render(labels[y : y + th, x : x + tw])
            if not isinstance(tile, np.ndarray) or tile.dtype != np.uint8 or tile.shape != (th, tw, 3):
                got = f"{tile.dtype} {tile.shape}" if isinstance(tile, np.ndarray) else type(tile).__name__
                raise CimgenError(f"the renderer must return a {tw}x{th}x3 uint8 image for a {tw}x{th} tile, got {got}")
            w2 = wy[i][:, None] * wx[j][None, :]
            acc[:, x - c0 : x - c0 + tw] += tile.astype(np.float32) * w2[..., None]
            weight[:, x - c0 : x - c0 + tw] += w2
            result.tiles.append((y, x, th, tw))
            if progress is not None:
                progress(len(result.tiles), todo)
    finalise(top, min(th, height - top))
    result.seconds = time.perf_counter() - t0
    return result


def tile_seam_score(image: np.ndarray, tiles: list[TileBox], *, region: np.ndarray | None = None) -> dict:
    """How much more the image changes across tile edges than inside tiles.

    Every pair of 4-neighbouring pixels that both lie in a tile (and in ``region``) is put in
    one of three groups by the tiles that cover its two pixels:

    - ``edge``: the two pixels are covered by different sets of tiles, i.e. the pair straddles
      the border line of some tile (where a hard seam would be);
    - ``overlap``: both pixels are covered by the same two or more tiles (the blended strips);
    - ``core``: both pixels are covered by one and the same tile only (a tile's interior).

    ``near`` is a local control: the non-edge pairs on the lines parallel to a tile edge at
    ``NEAR_OFFSETS`` (2-4) pixels from it, which cross about the same content as the edge line.

    Each group's score is the mean absolute difference of the pair, averaged over the RGB
    channels, in 8-bit levels. ``ratio`` = edge / core: about 1 or less means the tile edges
    are no rougher than tile interiors (no visible seam); hard seams give clearly more than 1.
    Few edge lines over uneven content make ``ratio`` move with what the lines happen to
    cross; ``ratio_near`` = edge / near cancels most of that.

    Args:
        image: HxWx3 uint8, e.g. ``TiledResult.generated``.
        tiles: the rendered tiles (``TiledResult.tiles``).
        region: optional HxW bool; only pairs with both pixels inside it count.

    Returns:
        ``edge``, ``near``, ``overlap``, ``core`` (None for an empty group), ``ratio`` and
        ``ratio_near`` (None where a group is empty) and the pair count of each group
        (``edge_pairs``, ...).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CimgenError(f"the image must be HxWx3 uint8, got {image.dtype} {image.shape}")
    if region is not None and (region.dtype != bool or region.shape != image.shape[:2]):
        raise CimgenError("the region must be a bool array of the image's height and width")
    height, width = image.shape[:2]
    for y, x, h, w in tiles:
        if h < 1 or w < 1 or y < 0 or x < 0 or y + h > height or x + w > width:
            raise CimgenError(f"tile (y={y}, x={x}, h={h}, w={w}) does not lie inside the {width}x{height} image")
    sums = dict.fromkeys((SEAM_EDGE, SEAM_NEAR, SEAM_OVERLAP, SEAM_CORE), 0.0)
    counts = dict.fromkeys(sums, 0)
    # Pairs along x on the image itself, pairs along y on its transposed view with transposed tiles.
    for view, boxes, reg in (
        (image, tiles, region),
        (image.swapaxes(0, 1), [(x, y, w, h) for y, x, h, w in tiles], None if region is None else region.T),
    ):
        _count_pairs(view, boxes, reg, sums, counts)
    scores = {k: (sums[k] / counts[k] if counts[k] else None) for k in sums}

    def ratio(other: str) -> float | None:
        return scores[SEAM_EDGE] / scores[other] if scores[SEAM_EDGE] is not None and scores[other] else None

    return {**scores, SEAM_RATIO: ratio(SEAM_CORE), SEAM_RATIO_NEAR: ratio(SEAM_NEAR), **{f"{k}_pairs": counts[k] for k in counts}}


def _count_pairs(view: np.ndarray, boxes: list[TileBox], region: np.ndarray | None, sums: dict, counts: dict, chunk: int = 64) -> None:
    """Add the pairs (r, c-1)-(r, c) of ``view`` to the group sums, band by band of equal tile cover."""
    n_rows, n_cols = view.shape[:2]
    breaks = sorted({0, n_rows} | {b[0] for b in boxes} | {b[0] + b[2] for b in boxes})
    for a, b in pairwise(breaks):
        band = [t for t in boxes if t[0] <= a and t[0] + t[2] >= b]
        if not band:
            continue
        # Along the columns the covering set changes only at the band tiles' edges.
        cuts = sorted({0, n_cols} | {t[1] for t in band} | {t[1] + t[3] for t in band})
        cover = np.zeros(n_cols, np.int32)
        for u, v in pairwise(cuts):
            cover[u:v] = sum(1 for t in band if t[1] <= u and t[1] + t[3] >= v)
        inner = cover[1:] > 0
        inner &= cover[:-1] > 0
        straddle = np.zeros(n_cols - 1, bool)
        straddle[[c - 1 for c in cuts[1:-1]]] = True
        edge = inner & straddle
        plain = inner & ~straddle
        near = np.zeros_like(edge)
        for k in NEAR_OFFSETS:
            near[k:] |= edge[:-k]
            near[:-k] |= edge[k:]
        pair_group = {
            SEAM_EDGE: edge,
            SEAM_NEAR: plain & near,
            SEAM_OVERLAP: plain & (cover[1:] >= 2),
            SEAM_CORE: plain & (cover[1:] == 1),
        }
        for r0 in range(a, b, chunk):
            r1 = min(r0 + chunk, b)
            rows = view[r0:r1].astype(np.int16)
            diff = np.abs(rows[:, 1:] - rows[:, :-1]).mean(axis=2, dtype=np.float32)
            ok = None if region is None else (region[r0:r1, 1:] & region[r0:r1, :-1])
            for name, cols in pair_group.items():
                if not cols.any():
                    continue
                d = diff[:, cols]
                if ok is not None:
                    keep = ok[:, cols]
                    sums[name] += float(d[keep].sum(dtype=np.float64))
                    counts[name] += int(keep.sum())
                else:
                    sums[name] += float(d.sum(dtype=np.float64))
                    counts[name] += d.size
