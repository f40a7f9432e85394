"""Blending generated pixels into the original inside a mask (hard, feather, Laplacian, Poisson) and scoring the seam it leaves.

Every mode starts from a copy of the original and writes mask pixels only, so every pixel
outside the mask keeps the original bytes by construction. Modes work on crops: the mask's
connected components are grouped (components whose bounding boxes, widened by the margin the
mode needs, overlap go together) and each group is blended on its own box plus that margin,
so an 8192x8192 scene with a few small edits costs memory in proportion to the edits.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator

import cv2
import numpy as np

from cimgen.errors import CimgenError

DEFAULT_FEATHER = 8.0
"""Soft-edge width inside the mask for the feather and Laplacian blends, in pixels: the mask's default dilation
(``cimgen.edit.mask.DEFAULT_RADIUS``), so the blend ramps over the whole ring the dilation added and reaches the
generated image exactly where the map changed. On the three real pairs of benchmarks/fidelity.py a width of 8
instead of 6 lowered the seam ratio (Building2Sat 1.062 -> 1.024) and changed neither the SSIM outside the edit
nor faithful beyond 0.007 (docs/manipulation.md). Wider than the dilation, part of the removed object shows through."""
_CELL = 64
"""Side, in pixels, of the coarse cells that locate mask regions without full-size label arrays."""
MAX_LEVELS = 10
"""Most Laplacian pyramid levels a caller may ask for (2**10 pixels is past any useful band)."""
_POISSON_MARGIN = 2
"""Pixels of context around each Poisson group before padding (the solve itself only reads the mask's box)."""
_POISSON_PAD = 8
"""Reflected border around each Poisson crop: the mask never touches the array seamlessClone sees, and
a mask at the image's edge is mirrored 7 pixels past it, far enough from the solve's fixed boundary
that the generated gradients reach the edge (4 pixels measurably pulled the edge rows to the original)."""
_POISSON_MIN_SIDE = 3
"""seamlessClone fails on mask boxes narrower than this; such a group has no interior, so it keeps the original."""

SEAM = "seam"
"""Key of ``seam_report``: seam score of the blended result."""
SEAM_ORIGINAL = "seam_original"
"""Key of ``seam_report``: the same pixel pairs scored in the original (its natural gradient there)."""
SEAM_RATIO = "seam_ratio"
"""Key of ``seam_report``: ``seam / max(seam_original, SEAM_FLOOR)``; 1 means the boundary looks like the image."""
SEAM_FLOOR = 1e-3
"""Smallest ``seam_original`` (8-bit levels) used as a divisor, so a flat original gives a finite ratio."""


# ----------------------------------------------------------------------------- checks


def _check(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> None:
    if not all(isinstance(a, np.ndarray) for a in (original, generated, mask)):
        raise CimgenError("blending needs numpy arrays for the original, the generated image and the mask")
    if original.dtype != np.uint8 or generated.dtype != np.uint8:
        raise CimgenError(f"blending needs uint8 images, got {original.dtype} and {generated.dtype}")
    if original.ndim != 3 or original.shape[2] != 3 or original.shape[0] == 0 or original.shape[1] == 0:
        raise CimgenError(f"blending needs HxWx3 images, got the shape {original.shape}")
    if original.shape != generated.shape:
        raise CimgenError(
            f"the generated image is {generated.shape[1]}x{generated.shape[0]} but the original is {original.shape[1]}x{original.shape[0]}"
        )
    if mask.shape != original.shape[:2] or mask.dtype != bool:
        raise CimgenError("the mask must be a bool array of the image's height and width")


def _check_feather(feather: float) -> float:
    if isinstance(feather, bool) or not isinstance(feather, (int, float, np.integer, np.floating)) or not math.isfinite(feather):
        raise CimgenError(f"feather must be a finite number of pixels, got {feather!r}")
    if feather < 0:
        raise CimgenError(f"feather must be 0 or more, got {feather}")
    return float(feather)


def _check_levels(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or not 0 <= levels <= MAX_LEVELS:
        raise CimgenError(f"levels must be a whole number from 0 to {MAX_LEVELS}, got {levels!r}")
    return int(levels)


# ----------------------------------------------------------------------------- crops


def _occupied_cells(mask: np.ndarray) -> np.ndarray:
    """Bool grid with one entry per ``_CELL``-pixel cell: does the cell hold a mask pixel."""
    starts = np.arange(0, mask.shape[1], _CELL)
    # One band of rows at a time, so no temporary is larger than a band.
    return np.array([np.logical_or.reduceat(mask[y : y + _CELL].any(axis=0), starts) for y in range(0, mask.shape[0], _CELL)])


def _mask_groups(mask: np.ndarray, margin: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(y0, x0, group_mask)`` per group of mask components, on its box widened by ``margin``.

    ``group_mask`` is True on the group's pixels only; other groups' pixels inside the box are
    False there and are blended with their own group. Components whose widened bounding boxes
    overlap form one group. Memory stays in proportion to the boxes: regions are first found on
    a grid of coarse cells, and exact connected components are labelled inside each region only.
    """
    h, w = mask.shape
    cells = _occupied_cells(mask)
    if not cells.any():
        return
    # Cells closer than the margin join one region, so a region's pixels are > 2*margin from any other's.
    reach = -(-margin // _CELL)
    grown = cv2.dilate(cells.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) if reach else cells.view(np.uint8)
    n_regions, region_of_cell = cv2.connectedComponents(grown, connectivity=8)
    for region in range(1, n_regions):
        own = cells & (region_of_cell == region)
        rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        y0, y1 = max(rows[0] * _CELL - margin, 0), min((rows[-1] + 1) * _CELL + margin, h)
        x0, x1 = max(cols[0] * _CELL - margin, 0), min((cols[-1] + 1) * _CELL + margin, w)
        sub = mask[y0:y1, x0:x1]
        if n_regions > 2:  # the box may reach into another region's cells; keep this region's pixels only
            sub = sub & own[np.ix_(np.arange(y0, y1) // _CELL, np.arange(x0, x1) // _CELL)]
        yield from _group_components(sub, margin, y0, x0)


def _group_components(sub: np.ndarray, margin: int, oy: int, ox: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Group the components of a region's mask by overlapping widened boxes (see ``_mask_groups``)."""
    h, w = sub.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(sub.astype(np.uint8), connectivity=8)
    boxes = [
        (max(y - margin, 0), min(y + bh + margin, h), max(x - margin, 0), min(x + bw + margin, w))
        for x, y, bw, bh in stats[1:, :4].tolist()
    ]
    if n == 2:
        y0, y1, x0, x1 = boxes[0]
        yield oy + y0, ox + x0, sub[y0:y1, x0:x1].copy()
        return
    # Paint every widened box; overlapping boxes become one connected blob, i.e. one group.
    canvas = np.zeros((h, w), np.uint8)
    for y0, y1, x0, x1 in boxes:
        canvas[y0:y1, x0:x1] = 1
    n_groups, group_of, gstats, _ = cv2.connectedComponentsWithStats(canvas, connectivity=4)
    for g in range(1, n_groups):
        x0, y0, bw, bh = gstats[g, :4].tolist()
        sl = (slice(y0, y0 + bh), slice(x0, x0 + bw))
        yield oy + y0, ox + x0, sub[sl] & (group_of[sl] == g)


def _crop(y0: int, x0: int, gm: np.ndarray) -> tuple[slice, slice]:
    return slice(y0, y0 + gm.shape[0]), slice(x0, x0 + gm.shape[1])


# ----------------------------------------------------------------------------- modes


_BAND_ROWS = 512
"""Rows mixed at a time by the feather blend (bounds its float temporaries)."""


def feather_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """Float HxW weights: 0 outside the mask, rising linearly over ``feather`` pixels inside it to 1."""
    feather = _check_feather(feather)
    if feather < 1e-3:  # narrower than a thousandth of a pixel is a hard edge (and avoids dividing by ~0)
        return mask.astype(np.float32)
    # Distance from each mask pixel to the nearest pixel outside the mask (1 at the border).
    inside = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.where(mask, np.clip(inside / float(feather), 0.0, 1.0), 0.0).astype(np.float32)


def _feather_margin(feather: float) -> int:
    # The 5x5 chamfer distance is within ~2% of the true distance, so no pixel farther than
    # 1.1*feather can set a weight below 1; the +2 keeps one untouched ring around the group.
    return math.ceil(1.1 * feather) + 2


def blend_hard(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paste generated pixels inside ``mask``; identical to ``original`` outside it.

    Args:
        original: HxWx3 uint8 image kept outside the mask.
        generated: HxWx3 uint8 image pasted inside the mask.
        mask: HxW bool region to replace.
    """
    _check(original, generated, mask)
    out = original.copy()
    for y0, x0, gm in _mask_groups(mask, 0):  # crops: a full-image masked copy reads every pixel
        sl = _crop(y0, x0, gm)
        out[sl][gm] = generated[sl][gm]
    return out


def blend_feather(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, *, feather: float = DEFAULT_FEATHER) -> np.ndarray:
    """Feathered alpha blend inside ``mask``; identical to ``original`` outside it.

    Args:
        original: HxWx3 uint8 image kept outside the mask.
        generated: HxWx3 uint8 image blended in.
        mask: HxW bool region to blend.
        feather: width in pixels over which the weight of ``generated`` rises from the mask's
            edge to 1 (see ``feather_alpha``); 0 is a hard paste.
    """
    _check(original, generated, mask)
    feather = _check_feather(feather)
    out = original.copy()
    for y0, x0, gm in _mask_groups(mask, _feather_margin(feather)):
        sl = _crop(y0, x0, gm)
        alpha = feather_alpha(gm, feather)
        # Mixed in bands of rows: a scene-wide mask would otherwise need several full-size float copies.
        for r in range(0, gm.shape[0], _BAND_ROWS):
            rows = slice(r, r + _BAND_ROWS)
            band = (slice(sl[0].start + r, min(sl[0].start + r + _BAND_ROWS, sl[0].stop)), sl[1])
            a = alpha[rows][..., None]
            mixed = np.rint(a * generated[band].astype(np.float32) + (1.0 - a) * original[band].astype(np.float32))
            out[band][gm[rows]] = np.clip(mixed, 0, 255).astype(np.uint8)[gm[rows]]
    return out


def _laplacian_levels(gm: np.ndarray, levels: int) -> int:
    """Levels for one group: at most ``levels``, and the group's box still spans >= 2 pixels at the coarsest."""
    rows, cols = np.flatnonzero(gm.any(axis=1)), np.flatnonzero(gm.any(axis=0))
    side = min(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    return max(0, min(levels, int(math.log2(side)) - 1))


def _laplacian_margin(levels: int, feather: float) -> int:
    # One pyrDown reads +-2 pixels and one pyrUp +-1 pixel of its own level, so n levels reach
    # 2*(2**n - 1) + 2*(2**n - 1) level-0 pixels; the rest is the feather weight's own margin.
    return 4 * (2**levels - 1) + _feather_margin(feather)


def _laplacian_crop(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, levels: int, feather: float) -> np.ndarray:
    """Laplacian blend of one crop (uint8 HxWx3); the whole image is the crop in the reference tests."""
    alpha = feather_alpha(mask, feather)
    diff = generated.astype(np.float32) - original.astype(np.float32)
    # Burt & Adelson blend each band with the weight's Gaussian pyramid. The blend is linear, so
    # blending generated and original equals original + the blend of their difference with 0.
    gauss, weights = [diff], [alpha]
    for _ in range(levels):
        gauss.append(cv2.pyrDown(gauss[-1]))
        weights.append(cv2.pyrDown(weights[-1]))
    delta = gauss[-1] * weights[-1][..., None]
    for lvl in range(levels - 1, -1, -1):
        size = (gauss[lvl].shape[1], gauss[lvl].shape[0])
        band = gauss[lvl] - cv2.pyrUp(gauss[lvl + 1], dstsize=size)
        delta = cv2.pyrUp(delta, dstsize=size) + weights[lvl][..., None] * band
    # The coarse weights spread past the mask, where pixels must stay original; fading the blend in
    # with the level-0 weight makes it reach the original exactly at the mask's edge.
    mixed = original.astype(np.float32) + alpha[..., None] * delta
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def blend_laplacian(
    original: np.ndarray, generated: np.ndarray, mask: np.ndarray, *, levels: int = 4, feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """Laplacian-pyramid (multi-band) blend inside ``mask``; identical to ``original`` outside it.

    Each frequency band is mixed with its own weight: the feathered alpha at full resolution and
    its Gaussian pyramid below, so colour (low frequencies) changes over a wide band while detail
    stays sharp (Burt & Adelson 1983). The result is then faded in with the feathered alpha, so it
    equals the original at the mask's edge.

    Args:
        original: HxWx3 uint8 image kept outside the mask.
        generated: HxWx3 uint8 image blended in.
        mask: HxW bool region to blend.
        levels: pyramid levels below full resolution; each group of the mask uses fewer when its
            bounding box's shorter side is under ``2 ** (levels + 1)`` pixels; 0 is a feather blend.
        feather: width in pixels of the level-0 weight's ramp (see ``feather_alpha``).
    """
    _check(original, generated, mask)
    levels, feather = _check_levels(levels), _check_feather(feather)
    step = 2**levels
    out = original.copy()
    for y0, x0, gm in _mask_groups(mask, _laplacian_margin(levels, feather)):
        # Start the crop on the pyramid's grid so that a crop gives what the whole image would.
        dy, dx = y0 % step, x0 % step
        gm = np.pad(gm, ((dy, 0), (dx, 0)))
        sl = _crop(y0 - dy, x0 - dx, gm)
        mixed = _laplacian_crop(original[sl], generated[sl], gm, _laplacian_levels(gm, levels), feather)
        out[sl][gm] = mixed[gm]
    return out


def _poisson(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, flag: int) -> np.ndarray:
    out = original.copy()
    pad = _POISSON_PAD
    for y0, x0, gm in _mask_groups(mask, _POISSON_MARGIN):
        sl = _crop(y0, x0, gm)
        # Reflected padding: the mask never touches the array's border (where seamlessClone clips
        # it), and a mask at the image's edge is mirrored, so generated content reaches that edge.
        src = cv2.copyMakeBorder(generated[sl], pad, pad, pad, pad, cv2.BORDER_REFLECT)
        dst = cv2.copyMakeBorder(original[sl], pad, pad, pad, pad, cv2.BORDER_REFLECT)
        region = cv2.copyMakeBorder(gm.view(np.uint8) * np.uint8(255), pad, pad, pad, pad, cv2.BORDER_REFLECT)
        region[[0, -1], :] = 0  # seamlessClone zeroes this ring itself; do it first so the box below is its box
        region[:, [0, -1]] = 0
        x, y, bw, bh = cv2.boundingRect(region)
        if min(bw, bh) < _POISSON_MIN_SIDE:
            continue  # every pixel lies on the solve's fixed boundary, which holds the original
        # OpenCV places the mask's box with its top-left at (p.x - w//2, p.y - h//2), so this p
        # puts it back where it was. seamlessClone erodes the mask it is given in place: pass a copy.
        # The mask goes in as it is: grown by 2 or 4 pixels it left larger seams on every sample of
        # benchmarks/blending.py.
        cloned = cv2.seamlessClone(src, dst, region.copy(), (x + bw // 2, y + bh // 2), flag)
        out[sl][gm] = cloned[pad:-pad, pad:-pad][gm]
    return out


def blend_poisson(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson (gradient-domain) blend inside ``mask`` with OpenCV's seamlessClone, NORMAL_CLONE; identical to ``original`` outside it.

    Inside the mask the result keeps the generated image's gradients and takes its level from the
    original around the mask (Pérez et al. 2003). OpenCV solves on the mask's bounding box with
    the original fixed on the box's edge, and uses the original's gradients in the mask's outer
    three pixels, so mask parts thinner than about seven pixels stay close to the original.

    Args:
        original: HxWx3 uint8 image kept outside the mask.
        generated: HxWx3 uint8 image whose gradients are cloned.
        mask: HxW bool region to blend.
    """
    _check(original, generated, mask)
    return _poisson(original, generated, mask, cv2.NORMAL_CLONE)


def blend_poisson_mixed(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson blend with MIXED_CLONE: at each pixel the stronger of the generated and original gradients.

    Like ``blend_poisson`` but original texture that is stronger than the generated one shows
    through (useful to keep road markings or field patterns); identical to ``original`` outside ``mask``.

    Args:
        original: HxWx3 uint8 image kept outside the mask.
        generated: HxWx3 uint8 image whose gradients compete with the original's.
        mask: HxW bool region to blend.
    """
    _check(original, generated, mask)
    return _poisson(original, generated, mask, cv2.MIXED_CLONE)


BLENDS = {
    "hard": blend_hard,
    "feather": blend_feather,
    "laplacian": blend_laplacian,
    "poisson": blend_poisson,
    "poisson-mixed": blend_poisson_mixed,
}


def mode_options(mode: str) -> tuple[str, ...]:
    """The keyword options a mode of ``BLENDS`` takes (an unknown mode is an error)."""
    if mode not in BLENDS:
        raise CimgenError(f"unknown blend mode '{mode}'; choose one of {', '.join(BLENDS)}")
    params = inspect.signature(BLENDS[mode]).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def blend(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, *, mode: str = "feather", **kwargs) -> np.ndarray:
    """Blend ``generated`` into ``original`` inside ``mask`` with a mode of ``BLENDS``.

    Args:
        original: HxWx3 uint8 image; the result equals it byte for byte outside the mask.
        generated: HxWx3 uint8 image to bring in.
        mask: HxW bool region that may change.
        mode: hard, feather, laplacian, poisson or poisson-mixed.
        **kwargs: the mode's options (``mode_options(mode)``): ``feather`` for feather and
            laplacian, ``levels`` for laplacian.
    """
    allowed = mode_options(mode)
    for name in kwargs:
        if name not in allowed:
            takes = f"its options are {', '.join(allowed)}" if allowed else "it takes none"
            raise CimgenError(f"blend mode '{mode}' has no option '{name}'; {takes}")
    return BLENDS[mode](original, generated, mask, **kwargs)


# ----------------------------------------------------------------------------- seam cut

SEAM_CUT = 4
"""Pixels by which ``seam_cut`` may move a derived mask's border inward (``cimgen manipulate --seam-cut``): a
derived mask is the changed labels (and the removed objects' shadows) grown by ``DEFAULT_RADIUS`` (8), so 4 keeps
at least 4 of those pixels around every changed one. Measured 2026-12-05 on the paper table's seven edits and the
fidelity benchmark's three (docs/benchmarks.md, "A blend border that runs where the two images agree")."""


def seam_cut(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The part of ``mask`` to blend, whose border runs where ``generated`` and ``original`` look alike.

    A mask grown around an edit by a fixed radius crosses whatever lies there, and where the generated texture
    differs from the original at its border a person sees the outline of the edit. As in graph-cut texture
    synthesis and photomontage (Kwatra et al., "Graphcut textures", SIGGRAPH 2003; Agarwala et al., "Interactive
    digital photomontage", SIGGRAPH 2004), each pixel between ``keep`` and the border of ``mask`` goes to the
    generated image or the original so that the border costs least: OpenCV's graph-cut seam finder (the
    stitching module's ``GraphCutSeamFinder``, cost ``COST_COLOR_GRAD``: the two images' colour difference at the
    border's pixels divided by their gradients there, as a difference inside texture is seen less than on a flat
    area; the seam score of ``seam_report`` divides by the original's gradient alike), run on each group of the
    mask's components on its own box. On flat ground the border goes round what differs; in texture it may cut
    through it, which is why ``keep`` must hold what has to go (measured 2026-12-05 against the cost of colour
    alone, docs/benchmarks.md).

    Args:
        original: HxWx3 uint8, the original image.
        generated: HxWx3 uint8, the generated image.
        mask: HxW bool, the largest region to blend.
        keep: HxW bool, the pixels that must be blended (within ``mask``).

    Returns:
        HxW bool: ``keep``, and the pixels of ``mask`` the cut gives to the generated image.
    """
    _check(original, generated, mask)
    if not isinstance(keep, np.ndarray) or keep.dtype != bool or keep.shape != mask.shape:
        raise CimgenError("the pixels to keep must be a bool array of the mask's height and width")
    keep = keep & mask
    out = mask.copy()
    finder = cv2.detail_GraphCutSeamFinder("COST_COLOR_GRAD")
    for y0, x0, gm in _mask_groups(mask, 1):
        sl = _crop(y0, x0, gm)
        kept = keep[sl] & gm
        if not kept.any() or kept.sum() == gm.sum():
            continue
        images = [original[sl].astype(np.float32), generated[sl].astype(np.float32)]
        masks = [cv2.UMat(np.where(kept, 0, 255).astype(np.uint8)), cv2.UMat(np.where(gm, 255, 0).astype(np.uint8))]
        found = finder.find(images, [(0, 0), (0, 0)], masks)
        took = np.asarray(found[1].get() if isinstance(found[1], cv2.UMat) else found[1]) > 0
        out[sl][gm] = (took | kept)[gm]
    return out


# ----------------------------------------------------------------------------- seam score


def _check_seam_inputs(images: list[np.ndarray], mask: np.ndarray) -> None:
    for image in images:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
            raise CimgenError("the seam score needs HxWxC uint8 images")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise CimgenError(f"the seam score needs a non-empty image, got the shape {image.shape}")
        if image.shape != images[0].shape:
            raise CimgenError(f"the images to score are {images[0].shape} and {image.shape}; they must match")
    if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.shape != images[0].shape[:2]:
        raise CimgenError("the mask must be a bool array of the image's height and width")


def _seam_sums(images: list[np.ndarray], mask: np.ndarray) -> tuple[list[float], int]:
    """Per image, the sum over boundary pairs of the channel-mean absolute difference; and the pair count."""
    sums, pairs = [0.0] * len(images), 0
    # Margin 1: every neighbour of a group's pixel is in its crop, and 4-neighbours of a mask
    # pixel that are mask pixels belong to the same component, so each pair is counted once.
    for y0, x0, gm in _mask_groups(mask, 1):
        sl = _crop(y0, x0, gm)
        across = gm[:, 1:] != gm[:, :-1]
        down = gm[1:, :] != gm[:-1, :]
        pairs += int(across.sum()) + int(down.sum())
        for i, image in enumerate(images):
            crop = image[sl].astype(np.int16)
            sums[i] += float(np.abs(crop[:, 1:] - crop[:, :-1]).mean(axis=2)[across].sum())
            sums[i] += float(np.abs(crop[1:, :] - crop[:-1, :]).mean(axis=2)[down].sum())
    return sums, pairs


def seam_score(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference (8-bit levels, averaged over channels) across the mask's boundary; lower is smoother.

    The pairs are the 4-neighbour pixel pairs with one pixel inside the mask and one outside;
    pairs beyond the image's edge do not exist. Only crops around the mask are read.

    Args:
        image: HxWxC uint8 image (usually a blend result).
        mask: HxW bool mask.

    Raises:
        CimgenError: when the mask has no boundary pair (it is empty or covers the whole image).
    """
    _check_seam_inputs([image], mask)
    (total,), pairs = _seam_sums([image], mask)
    if pairs == 0:
        raise CimgenError("the mask has no boundary (it is empty or covers the whole image), so there is no seam to score")
    return total / pairs


def seam_report(result: np.ndarray, original: np.ndarray, mask: np.ndarray) -> dict[str, float | None]:
    """Seam of a blend next to the original's own gradient on the same pixel pairs.

    Args:
        result: HxWxC uint8 blend result.
        original: HxWxC uint8 original image.
        mask: HxW bool blend mask.

    Returns:
        ``{SEAM: seam_score(result, mask), SEAM_ORIGINAL: the same pairs in the original,
        SEAM_RATIO: seam / max(seam_original, SEAM_FLOOR)}``; all three are None when the mask
        has no boundary pair (empty or full), where ``seam_score`` raises instead.
    """
    _check_seam_inputs([result, original], mask)
    (seam, natural), pairs = _seam_sums([result, original], mask)
    if pairs == 0:
        return {SEAM: None, SEAM_ORIGINAL: None, SEAM_RATIO: None}
    seam, natural = seam / pairs, natural / pairs
    return {SEAM: seam, SEAM_ORIGINAL: natural, SEAM_RATIO: seam / max(natural, SEAM_FLOOR)}
