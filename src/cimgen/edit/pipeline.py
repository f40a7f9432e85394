"""The manipulation pipeline: edit the map, derive the mask, generate the edited map's image, blend it in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cimgen.edit.blend import DEFAULT_FEATHER, blend, seam_cut, seam_report
from cimgen.edit.mask import DEFAULT_RADIUS, dilate, edit_mask, erode, user_mask
from cimgen.edit.ops import MoveObject, RemoveClass, RemoveFeatures, RemoveObject, ReplaceClass, apply_edits_traced
from cimgen.edit.shadow import SHADOWS, cast_shadow
from cimgen.edit.tiled import generate_tiled
from cimgen.errors import CimgenError
from cimgen.io.images import JpegCompression, recompress_jpeg
from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.metrics.faithful import inside_report, recall_report
from cimgen.metrics.ssim import SSIM_SETTINGS, ssim_outside
from cimgen.metrics.texture import texture_report
from cimgen.palette import check_labels

# Images with a side longer than this are generated in tiles when no tile size is given.
AUTO_TILE_ABOVE = 2048
AUTO_TILE_SIZE = 1024
AUTO_TILE_OVERLAP = 128
# Generated pixels a blend mode reads around the mask, so tiles that close to it are generated too:
# hard and feather read only mask pixels, Poisson the one-pixel ring around the mask, and the
# Laplacian pyramid reaches further (outside the tiles it sees the original, a zero difference).
TILE_MARGIN = {"hard": 0, "feather": 0, "poisson": 2, "poisson-mixed": 2, "laplacian": 32}
REMOVALS = (RemoveObject, RemoveClass, RemoveFeatures, ReplaceClass)
"""Edits whose changed pixels are all a removed object's; a move removes the object from its old place only."""


@dataclass
class Manipulation:
    """Everything one manipulation produced (uint8 images, integer maps, bool mask)."""

    original: np.ndarray
    """The input image."""
    labels: np.ndarray
    """The input label map."""
    edited_labels: np.ndarray
    """The label map after the edits."""
    mask: np.ndarray
    """Pixels that may differ from the original (changed labels, dilated; or the user's mask)."""
    generated: np.ndarray
    """The generator's rendering of the edited map (tiled runs: the original outside the generated tiles)."""
    result: np.ndarray
    """The manipulated image: ``generated`` blended into ``original`` inside ``mask``."""
    tiles: list[tuple[int, int, int, int]] | None = None
    """Tiled runs: the (y, x, height, width) windows that were generated; None when the whole map was."""
    info: dict = field(default_factory=dict)
    """Plain facts about the run: timings, tile counts, blend mode, changed pixels outside a user mask."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The six full-size arrays by name, as ``cimgen.report.html.write_report`` takes them."""
        return {
            "original": self.original,
            "labels": self.labels,
            "edited_labels": self.edited_labels,
            "mask": self.mask,
            "generated": self.generated,
            "result": self.result,
        }


def tiling_for(shape: tuple[int, int], tile_size: int | None, overlap: int | None) -> tuple[int, int] | None:
    """(tile size, overlap) for an image: as given, automatic for large images (tile_size None), or none (tile_size 0)."""
    if tile_size == 0:
        return None
    if tile_size is None:
        if max(shape) <= AUTO_TILE_ABOVE:
            return None
        return AUTO_TILE_SIZE, AUTO_TILE_OVERLAP if overlap is None else overlap
    return tile_size, (AUTO_TILE_OVERLAP if overlap is None else overlap)


def manipulate(
    image: np.ndarray,
    labels: np.ndarray,
    edits: list | None,
    render: Callable[[np.ndarray], np.ndarray],
    *,
    num_classes: int,
    edited_labels: np.ndarray | None = None,
    instances: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    radius: int = DEFAULT_RADIUS,
    shadows: str = "off",
    blend_mode: str = "feather",
    feather: float = DEFAULT_FEATHER,
    blend_options: dict | None = None,
    tile_size: int | None = 0,
    overlap: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cut: int = 0,
) -> Manipulation:
    """Apply ``edits`` to ``labels`` (or take ``edited_labels``), render the edited map and blend it into ``image``.

    Args:
        image: HxWx3 uint8 original.
        labels: HxW integer map of the original.
        edits: edit operations (see ``cimgen.edit.ops``); None when ``edited_labels`` is given.
        render: callable(labels HxW) -> HxWx3 uint8, e.g. a fine-tuned generator.
        num_classes: number of label classes.
        edited_labels: the edited map, when it was made elsewhere (e.g. painted in GIMP).
        instances: HxW instance ids of ``labels``, for picking objects under a point.
        mask: HxW bool blend region given by the user; None derives it from the map difference.
        radius: dilation of the changed pixels, in pixels (derived masks only).
        shadows: one of ``SHADOWS``: whether a derived mask takes in the removed objects' shadows.
        blend_mode: a mode of ``cimgen.edit.blend.BLENDS``.
        feather: width of the soft edge inside the mask, for the modes that have one.
        blend_options: further keyword options of the blend mode.
        tile_size: generate in overlapping tiles of this size (only those touching the mask);
            0 renders the whole map at once, None tiles automatically above 2048 pixels a side.
        overlap: tile overlap in pixels (default 128).
        progress: callable(done, total) called as tiles are generated.
        cut: pixels a derived mask may give up at its border so that the blend's border runs where the generated
            image and the original differ least (``render_edit``; 0: none).
    """
    plan = plan_edit(
        image, labels, edits, num_classes=num_classes, edited_labels=edited_labels, instances=instances, mask=mask, radius=radius,
        shadows=shadows,
    )  # fmt: skip
    return render_edit(
        image, labels, plan, render, blend_mode=blend_mode, feather=feather, blend_options=blend_options,
        tile_size=tile_size, overlap=overlap, progress=progress, cut=cut,
    )  # fmt: skip


@dataclass
class EditPlan:
    """An edit decided before anything is generated: the edited map and the region to blend."""

    edited_labels: np.ndarray
    """The label map after the edits."""
    mask: np.ndarray
    """Pixels that may differ from the original (changed labels, dilated; or the user's mask)."""
    info: dict = field(default_factory=dict)
    """Timings, and changed pixels outside a user mask."""
    owners: np.ndarray | None = None
    """HxW int32: 1 + the index of the edit that last changed each label (1 for an edited map), 0 where none did."""
    radius: int | None = None
    """Pixels the changed labels (and shadows) were grown by to make ``mask``; None for the user's mask."""


def plan_edit(
    image: np.ndarray,
    labels: np.ndarray,
    edits: list | None,
    *,
    num_classes: int,
    edited_labels: np.ndarray | None = None,
    instances: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    radius: int = DEFAULT_RADIUS,
    shadows: str = "off",
) -> EditPlan:
    """Check the inputs, apply ``edits`` (or take ``edited_labels``) and derive the blend region, once.

    Arguments as for ``manipulate``. A caller that needs the region before generating (to fine-tune
    around it) plans first and hands the plan to ``render_edit``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CimgenError(f"the image must be HxWx3 uint8, got {image.dtype} {image.shape}")
    if image.shape[:2] != labels.shape:
        raise CimgenError(f"the image is {image.shape[1]}x{image.shape[0]} but its map is {labels.shape[1]}x{labels.shape[0]}")
    check_labels(labels, num_classes)
    t0 = time.perf_counter()
    if (edits is None) == (edited_labels is None):
        raise CimgenError("give either edit operations or an edited map, not both")
    if edited_labels is not None:
        if edited_labels.shape != labels.shape:
            raise CimgenError(
                f"the edited map is {edited_labels.shape[1]}x{edited_labels.shape[0]} but the original is {labels.shape[1]}x{labels.shape[0]}"
            )
        check_labels(edited_labels, num_classes, source="edited map")
        edited = edited_labels
        if np.array_equal(edited, labels):
            raise CimgenError("the edited map equals the original; there is nothing to manipulate")
        owners = (edited != labels).astype(np.int32)
    else:
        edited, owners = apply_edits_traced(labels, edits, num_classes=num_classes, instances=instances)
    info: dict = {}
    if shadows not in SHADOWS:
        raise CimgenError(f"shadows must be one of {', '.join(SHADOWS)}, got '{shadows}'")
    if mask is None:
        region = edit_mask(labels, edited, radius=radius)
        if shadows != "off":
            shaded, info["shadow"] = removal_shadow(image, labels, edited, owners, edits, radius=radius, down=shadows == "down")
            region |= shaded
    else:
        region = user_mask(mask, labels.shape)
        info["changed_pixels_outside_mask"] = int(((labels != edited) & ~region).sum())
    info["edit_seconds"] = round(time.perf_counter() - t0, 3)
    return EditPlan(edited, region, info, owners, radius if mask is None else None)


def removal_shadow(
    image: np.ndarray, labels: np.ndarray, edited: np.ndarray, owners: np.ndarray, edits: list | None, *, radius: int, down: bool
) -> tuple[np.ndarray, dict]:
    """HxW bool: the shadow the edits' removed objects cast (``cast_shadow`` of their ``removed_pixels``), dilated by
    ``radius`` as a derived mask is; and how it was found (``Shadow.info``)."""
    shadow = cast_shadow(image, labels, edited, removed_pixels(labels, edited, owners, edits), down=down)
    return (dilate(shadow.mask, radius) if shadow.mask.any() else shadow.mask), shadow.info


def removed_pixels(labels: np.ndarray, edited: np.ndarray, owners: np.ndarray, edits: list | None) -> np.ndarray:
    """HxW bool: the changed pixels where an object was taken away (by a removal, a replacement, or a move's
    old place), not where one was drawn; every changed pixel of an edited map made elsewhere."""
    changed = labels != edited
    if edits is None:
        return changed
    out = np.zeros_like(changed)
    for i, e in enumerate(edits):
        mine = owners == i + 1
        if isinstance(e, REMOVALS):
            out |= mine
        elif isinstance(e, MoveObject) and not e.copy:
            x, y = e.at
            if not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]):
                continue  # a windowed plan's move whose point lies in another window: it owns no pixel of this one
            moved = labels[y, x]
            out |= mine & (labels == moved) & (edited != moved)
    return out & changed


def render_edit(
    image: np.ndarray,
    labels: np.ndarray,
    plan: EditPlan,
    render: Callable[[np.ndarray], np.ndarray],
    *,
    blend_mode: str = "feather",
    feather: float = DEFAULT_FEATHER,
    blend_options: dict | None = None,
    tile_size: int | None = 0,
    overlap: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cut: int = 0,
) -> Manipulation:
    """Render a planned edit's map (whole, or in the tiles that touch its region) and blend it into ``image``.

    ``cut`` (pixels, 0: off): a mask the plan derived may give up to that many pixels of its border (at most its
    radius), so that the blend's border runs where the generated image and the original differ least for their
    texture (``cimgen.edit.blend.seam_cut``); the mask the result was blended in is the manipulation's ``mask``.
    A user's mask is blended as drawn."""
    edited, region, info = plan.edited_labels, plan.mask, dict(plan.info)
    t0 = time.perf_counter()
    tiling = tiling_for(labels.shape, tile_size, overlap)
    tiles = None
    if tiling is None:
        generated = render(edited)
        if generated.shape != image.shape or generated.dtype != np.uint8:
            raise CimgenError(f"the generator returned {generated.dtype} {generated.shape} for a {image.shape[1]}x{image.shape[0]} map")
    else:
        size, ov = tiling
        margin = TILE_MARGIN.get(blend_mode, 32)
        tiled = generate_tiled(edited, render, tile_size=size, overlap=ov, mask=region, margin=margin, fill=image, progress=progress)
        generated, tiles = tiled.generated, list(tiled.tiles)
        info.update(tile_size=size, overlap=ov, tiles_generated=len(tiles), tiles_total=tiled.tiles_total)
    info["generate_seconds"] = round(time.perf_counter() - t0, 3)
    if cut < 0:
        raise CimgenError(f"the seam cut must be 0 or more pixels, got {cut}")
    if cut and plan.radius:
        region, info["seam_cut"] = cut_region(image, generated, region, min(cut, plan.radius))
    t0 = time.perf_counter()
    options = dict(blend_options or {})
    if blend_mode in ("feather", "laplacian"):
        options.setdefault("feather", feather)
    result = blend(image, generated, region, mode=blend_mode, **options)
    info["blend_seconds"] = round(time.perf_counter() - t0, 3)
    info["blend"] = {"mode": blend_mode, **options}
    return Manipulation(
        original=image, labels=labels, edited_labels=edited, mask=region, generated=generated, result=result, tiles=tiles, info=info
    )


def cut_region(image: np.ndarray, generated: np.ndarray, region: np.ndarray, cut: int) -> tuple[np.ndarray, dict]:
    """``seam_cut`` of ``region`` keeping it eroded by ``cut`` pixels; and what it did (for ``metrics.json``)."""
    t0 = time.perf_counter()
    out = seam_cut(image, generated, region, erode(region, cut))
    return out, {
        "pixels": cut, "mask_pixels_before": int(region.sum()), "mask_pixels": int(out.sum()),
        "seconds": round(time.perf_counter() - t0, 3),
    }  # fmt: skip


def identical_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray, *, rows: int = 512) -> bool:
    """Whether two images are byte-identical outside ``mask``, checked in bands of rows (no full-size copies)."""
    for y in range(0, mask.shape[0], rows):
        differs = (a[y : y + rows] != b[y : y + rows]).any(axis=-1) & ~mask[y : y + rows]
        if differs.any():
            return False
    return True


def _ssim_outside(m: Manipulation) -> dict:
    """SSIM of generated vs original outside the mask: over the whole image, or over the generated tiles."""
    windows = m.tiles or [(0, 0, m.mask.shape[0], m.mask.shape[1])]
    total, pixels = 0.0, 0
    for y, x, h, w in windows:
        sl = (slice(y, y + h), slice(x, x + w))
        try:
            s = ssim_outside(m.generated[sl], m.original[sl], m.mask[sl])
        except CimgenError:  # the mask covers all of this window but its border
            continue
        total += s["ssim"] * s["pixels"]
        pixels += s["pixels"]
    return {"ssim": total / pixels if pixels else None, "pixels": pixels}


def match_jpeg(m: Manipulation, compression: JpegCompression) -> None:
    """Give the edit the compression traces of the rest of a JPEG image: the result is JPEG-compressed with the image
    file's own quantisation tables and chroma subsampling, on its own 8x8 grid, and the mask's pixels take the
    decoded values (``m.info["jpeg"]`` records it). Outside the mask nothing changes.

    A generated region has none of the quantisation a JPEG photo's pixels carry, and error level analysis finds
    it at once (pixel AUC 0.94-1.00 on the Map2Sat edit, docs/manipulation.md); blocks the mask's edge crosses
    still mix both, since the pixels outside the mask stay the original's."""
    again = recompress_jpeg(m.result, compression)
    change = float(np.abs(again[m.mask].astype(np.int16) - m.result[m.mask]).mean()) if m.mask.any() else 0.0
    m.result[m.mask] = again[m.mask]
    m.info["jpeg"] = {"matched": True, **compression.summary(), "mean_change_in_mask": round(change, 3)}


def manipulation_metrics(m: Manipulation) -> dict:
    """What every manipulation reports: SSIM of generated vs original outside the mask, the mask's size, the seam.

    ``ssim_outside_mask`` is None when the mask leaves no pixel to compare. Tiled runs compare
    inside the generated tiles only (elsewhere nothing was generated).
    """
    ssim = _ssim_outside(m)
    compared = "generated vs original, mean of the SSIM map over pixels outside the mask"
    if m.tiles:
        compared += ", inside the generated tiles"
    seam = seam_report(m.result, m.original, m.mask)
    return {
        "ssim_outside_mask": None if ssim["ssim"] is None else round(ssim["ssim"], 4),
        "ssim_settings": {**SSIM_SETTINGS, "compared": compared},
        "pixels_outside_mask": ssim["pixels"],
        "mask_area_pixels": int(m.mask.sum()),
        "mask_area_fraction": round(float(m.mask.mean()), 6),
        "changed_label_pixels": int((m.labels != m.edited_labels).sum()),
        "seam": {k: (None if v is None else round(float(v), 3)) for k, v in seam.items()},
        "outside_mask_identical": identical_outside(m.result, m.original, m.mask),
        "checkerboard": _checkerboard(m),
        **m.info,
    }


def _checkerboard(m: Manipulation) -> dict:
    """The checkerboard score of the generated image against the original (tiled runs: in the first generated tile)."""
    gen, orig = m.generated, m.original
    if m.tiles:
        y, x, h, w = m.tiles[0]
        gen, orig = gen[y : y + h, x : x + w], orig[y : y + h, x : x + w]
    report = checkerboard_report(gen, orig)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in report.items()}


INSIDE_CONTEXT = 128
"""Pixels around the mask's bounding box that the inside scores fit their segmenter on."""


def inside_context(mask: np.ndarray) -> tuple[slice, slice]:
    """The window the inside scores look at: ``mask``'s bounding box and ``INSIDE_CONTEXT`` pixels around it, within
    the image (``mask`` must have a pixel set)."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (
        slice(max(0, ys.min() - INSIDE_CONTEXT), min(h, ys.max() + 1 + INSIDE_CONTEXT)),
        slice(max(0, xs.min() - INSIDE_CONTEXT), min(w, xs.max() + 1 + INSIDE_CONTEXT)),
    )


def inside_metrics(m: Manipulation, extractor=None) -> dict:
    """The inside-the-edit scores of ``cimgen.metrics.faithful`` (faithful, painted back, the segmenter's accuracy)
    and of ``cimgen.metrics.texture`` (``texture``: the edit's high-frequency energy against the image's own texture
    of the same classes, and their KID when a feature ``extractor`` is given).

    Both look at the original within ``INSIDE_CONTEXT`` pixels of the mask's bounding box, so the cost does
    not grow with the scene.
    """
    if not m.mask.any():
        return inside_report(m.result, m.original, m.labels, m.edited_labels, m.mask)
    crop = inside_context(m.mask)
    parts = (m.result[crop], m.original[crop], m.labels[crop], m.edited_labels[crop], m.mask[crop])
    report = inside_report(*parts)
    return {
        **report,
        "recall": recall_report(m.result[crop], m.original[crop], m.generated[crop], (m.labels != m.edited_labels)[crop], m.mask[crop]),
        "fitted_on": f"the original within {INSIDE_CONTEXT} px of the mask's bounding box, outside the mask",
        "texture": texture_report(*parts, extractor=extractor),
    }
