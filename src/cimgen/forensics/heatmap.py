"""Patch probability maps of a detector over a whole image, per-pixel scores, localisation scores against a mask, and pictures.

A heatmap is the grid of "generated" probabilities of the P x P patches whose top-left corners
lie on ``ys`` x ``xs``. ``patch_logits`` evaluates the patches one batch at a time (the exact
reference, any detector); ``dense_logits`` runs a dense-capable detector (``PatchNet``) once over
the image and gets the same stride-1 grid much faster. ``pixel_scores`` turns a grid into one
score per pixel (the mean over the patches that cover it) and ``localisation_scores`` compares
that with the true manipulation mask.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor

METHODS = ("auto", "dense", "patches")
"""How ``heatmap`` evaluates: dense when the model supports it (auto), the dense pass, or patch by patch."""

PIXEL_AUC = "pixel_auc"
"""Key of the area under the ROC curve of per-pixel scores against the mask."""
BEST_IOU = "best_iou"
"""Key of the best intersection over union of ``scores >= t`` with the mask, over all thresholds t."""
BEST_THRESHOLD = "best_threshold"
"""Key of the threshold t that gives ``BEST_IOU`` (the highest such t on ties)."""
NOTE = "note"
"""Key of a sentence saying why the scores are NaN; empty when they are not."""


@dataclass(frozen=True)
class Heatmap:
    """A detector's probabilities on a grid of patches of one image."""

    probs: np.ndarray
    """len(ys) x len(xs) float32 probabilities that the patch is generated (sigmoid of the logits)."""
    ys: np.ndarray
    """Top rows of the patches (``patch_origins`` of the image height)."""
    xs: np.ndarray
    """Left columns of the patches (``patch_origins`` of the image width)."""
    patch: int
    """Side of the square patches, P."""
    method: str
    """How the grid was computed: dense or patches."""
    seconds: float
    """Wall time of the evaluation."""


def _check_image(image: np.ndarray, patch: int) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise CimgenError(f"expected an HxWx3 uint8 RGB image, got {got}")
    h, w = image.shape[:2]
    if h < patch or w < patch:
        raise CimgenError(f"the image is {w}x{h}, smaller than one {patch}x{patch} patch")


def _patch_size(model: nn.Module) -> int:
    patch = getattr(model, "patch_size", None)
    if not isinstance(patch, int) or patch < 1:
        raise CimgenError(f"the model ({type(model).__name__}) has no patch_size; build it with cimgen.models.detectors.build_detector")
    return patch


def patch_origins(length: int, patch: int, stride: int) -> np.ndarray:
    """Start positions of patches along one side: 0, stride, 2 * stride, ... and a last one flush with the end.

    Args:
        length: side of the image in pixels.
        patch: side of a patch.
        stride: step between patches (>= 1).

    Returns:
        Increasing int64 origins without duplicates, the last being ``length - patch``.
    """
    if patch < 1 or stride < 1:
        raise CimgenError(f"patch size and stride must be positive, got {patch} and {stride}")
    if length < patch:
        raise CimgenError(f"a side of {length} pixels is shorter than one {patch}-pixel patch")
    origins = np.arange(0, length - patch + 1, stride, dtype=np.int64)
    if origins[-1] != length - patch:
        # Without the flush origin the last rows or columns would never be scored.
        origins = np.append(origins, length - patch)
    return origins


def patches_at(tensor: torch.Tensor, ys: np.ndarray, xs: np.ndarray, patch: int) -> torch.Tensor:
    """Copy the patches whose top-left corners are (ys[i], xs[i]) out of one image.

    Args:
        tensor: 3 x H x W image.
        ys: N top rows.
        xs: N left columns.
        patch: side of the patches.

    Returns:
        N x 3 x patch x patch, contiguous, on the tensor's device.
    """
    # Stacking slices (views) copies each patch once; on the CPU it measured 2-3x faster than
    # advanced indexing into an unfolded view, and on a GPU it is one concatenation kernel.
    return torch.stack([tensor[:, y : y + patch, x : x + patch] for y, x in zip(np.asarray(ys).tolist(), np.asarray(xs).tolist())])


def patch_logits(
    model: nn.Module,
    image: np.ndarray,
    *,
    stride: int = 1,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of every patch on the stride grid, evaluated batch by batch: exact for any detector.

    Only one batch of patches exists at a time (a 512 x 512 image has 201,601 patches at stride 1).
    The model is put in eval mode and moved to ``device``.

    Args:
        model: a detector (``patch_size`` attribute; N x 3 x P x P in, N logits out).
        image: HxWx3 uint8 RGB image, H and W at least P.
        stride: step between patch origins; the last row and column of patches are flush with the edges.
        batch_size: patches per forward pass.
        device: where to run, e.g. "cuda".
        progress: show a progress bar.

    Returns:
        (grid, ys, xs): len(ys) x len(xs) float32 logits and the patches' top rows and left columns.
    """
    patch = _patch_size(model)
    _check_image(image, patch)
    if batch_size < 1:
        raise CimgenError(f"batch_size must be positive, got {batch_size}")
    h, w = image.shape[:2]
    ys, xs = patch_origins(h, patch, stride), patch_origins(w, patch, stride)
    total = len(ys) * len(xs)
    out = np.empty(total, dtype=np.float32)
    model.to(device).eval()
    tensor = image_to_tensor(image).to(device)
    starts = range(0, total, batch_size)
    if progress:

        starts = tqdm(starts, desc="patches", unit="batch")
    with torch.inference_mode():
        for start in starts:
            index = np.arange(start, min(start + batch_size, total))
            batch = patches_at(tensor, ys[index // len(xs)], xs[index % len(xs)], patch)
            out[index] = model(batch).float().cpu().numpy().reshape(-1)
    return out.reshape(len(ys), len(xs)), ys, xs


def dense_logits(
    model: nn.Module, image: np.ndarray, *, device: str | torch.device = "cpu", tile: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits of every stride-1 patch from a detector's dense pass (``model.supports_dense``).

    Args:
        model: a dense-capable detector (``PatchNet``); it is put in eval mode and moved to ``device``.
        image: HxWx3 uint8 RGB image, H and W at least P.
        device: where to run, e.g. "cuda".
        tile: 0 runs the whole image at once; T > 0 computes T x T blocks of the output from
            (T + P - 1)-pixel input tiles, which bounds memory and gives the same numbers.

    Returns:
        (grid, ys, xs): (H - P + 1) x (W - P + 1) float32 logits, ys = arange(H - P + 1), xs = arange(W - P + 1).
    """
    patch = _patch_size(model)
    if not getattr(model, "supports_dense", False):
        raise CimgenError(f"{type(model).__name__} has no dense pass; use method 'patches' (or a patchnet detector)")
    _check_image(image, patch)
    if tile < 0:
        raise CimgenError(f"tile must be 0 (whole image) or a positive output size, got {tile}")
    h, w = image.shape[:2]
    out_h, out_w = h - patch + 1, w - patch + 1
    model.to(device).eval()
    tensor = image_to_tensor(image).to(device)[None]
    step_y, step_x = (tile, tile) if tile else (out_h, out_w)
    grid = np.empty((out_h, out_w), dtype=np.float32)
    with torch.inference_mode():
        for y0 in range(0, out_h, step_y):
            y1 = min(y0 + step_y, out_h)
            for x0 in range(0, out_w, step_x):
                x1 = min(x0 + step_x, out_w)
                # Output (y, x) reads input rows y .. y + P - 1, so a tile needs P - 1 extra rows and columns.
                crop = tensor[:, :, y0 : y1 + patch - 1, x0 : x1 + patch - 1]
                grid[y0:y1, x0:x1] = model.dense(crop).float().cpu().numpy()
    return grid, np.arange(out_h, dtype=np.int64), np.arange(out_w, dtype=np.int64)


def heatmap(
    model: nn.Module,
    image: np.ndarray,
    *,
    stride: int = 1,
    method: str = "auto",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> Heatmap:
    """The detector's probability that each patch on the stride grid is generated.

    Args:
        model: a detector from ``build_detector``.
        image: HxWx3 uint8 RGB image, H and W at least P.
        stride: step between patch origins; the dense method computes stride 1 and keeps the grid's
            rows and columns (the flush last ones included).
        method: auto (dense when the model supports it), dense, or patches (see ``METHODS``).
        batch_size: patches per forward pass (patches method).
        device: where to run, e.g. "cuda".
        progress: show a progress bar (patches method).

    Returns:
        A ``Heatmap``.
    """
    if method not in METHODS:
        raise CimgenError(f"unknown heatmap method '{method}'; choose one of {', '.join(METHODS)}")
    patch = _patch_size(model)
    _check_image(image, patch)
    if stride < 1:
        raise CimgenError(f"stride must be positive, got {stride}")
    supports_dense = bool(getattr(model, "supports_dense", False))
    if method == "dense" and not supports_dense:
        raise CimgenError(f"{type(model).__name__} has no dense pass, so method 'dense' is not available; use 'patches' or 'auto'")
    used = "dense" if method == "dense" or (method == "auto" and supports_dense) else "patches"
    start = time.perf_counter()
    if used == "dense":
        dense, _, _ = dense_logits(model, image, device=device)
        ys, xs = patch_origins(image.shape[0], patch, stride), patch_origins(image.shape[1], patch, stride)
        logits = dense[np.ix_(ys, xs)]
    else:
        logits, ys, xs = patch_logits(model, image, stride=stride, batch_size=batch_size, device=device, progress=progress)
    probs = torch.sigmoid(torch.from_numpy(logits)).numpy().astype(np.float32)
    return Heatmap(probs=probs, ys=ys, xs=xs, patch=patch, method=used, seconds=time.perf_counter() - start)


def pixel_scores(hm: Heatmap, shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's mean probability over the evaluated patches that cover it.

    Sums and counts are spread with a 2-D difference array and integrated by cumulative sums,
    so the cost is O(H W + patches) whatever the patch size.

    Args:
        hm: a heatmap of an image of this shape.
        shape: (H, W) of that image.

    Returns:
        H x W float32 scores; NaN where no patch covers the pixel (only when the stride exceeds the patch).
    """
    h, w = int(shape[0]), int(shape[1])
    p = hm.patch
    if hm.probs.shape != (len(hm.ys), len(hm.xs)) or len(hm.ys) == 0 or len(hm.xs) == 0:
        raise CimgenError(f"the heatmap's probabilities {hm.probs.shape} do not match its {len(hm.ys)} x {len(hm.xs)} origins")
    if hm.ys[-1] + p != h or hm.xs[-1] + p != w:
        raise CimgenError(f"the heatmap covers a {hm.xs[-1] + p}x{hm.ys[-1] + p} image, not {w}x{h}")
    probs = hm.probs.astype(np.float64)
    # Origins are unique and sorted, so each fancy-index update below touches distinct cells.
    total = np.zeros((h + 1, w + 1))
    count = np.zeros((h + 1, w + 1))
    ones = np.ones_like(probs)
    for rows, cols, sign in ((hm.ys, hm.xs, 1), (hm.ys, hm.xs + p, -1), (hm.ys + p, hm.xs, -1), (hm.ys + p, hm.xs + p, 1)):
        total[np.ix_(rows, cols)] += sign * probs
        count[np.ix_(rows, cols)] += sign * ones
    total = total.cumsum(0).cumsum(1)[:h, :w]
    count = np.rint(count.cumsum(0).cumsum(1)[:h, :w])
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(count > 0, total / count, np.nan)
    return scores.astype(np.float32)


def localisation_scores(scores: np.ndarray, mask: np.ndarray) -> dict[str, float | str]:
    """How well per-pixel scores find the manipulated region: pixel AUC and the best IoU over thresholds.

    The best IoU is exact: pixels are sorted by score once, and cumulative counts give the
    intersection and union for every distinct score as the threshold.

    Args:
        scores: H x W finite scores, higher meaning more likely generated.
        mask: H x W bool, True where the image was manipulated.

    Returns:
        ``{PIXEL_AUC, BEST_IOU, BEST_THRESHOLD, NOTE}``; the three numbers are NaN, with ``NOTE``
        saying why, when the mask is all true or all false.
    """
    scores = np.asarray(scores)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise CimgenError(f"the mask must be a bool array, got {mask.dtype}")
    if scores.ndim != 2 or scores.shape != mask.shape:
        raise CimgenError(f"scores and mask must be H x W arrays of one shape, got {scores.shape} and {mask.shape}")
    s = scores.astype(np.float64).ravel()
    if not np.isfinite(s).all():
        raise CimgenError("the scores contain NaN or infinity (pixels no patch covered?); localisation needs a score everywhere")
    m = mask.ravel()
    positives = int(m.sum())
    if positives in (0, m.size):
        what = "nothing" if positives == 0 else "everything"
        note = f"the mask marks {what} as manipulated, so AUC and IoU are undefined"
        return {PIXEL_AUC: float("nan"), BEST_IOU: float("nan"), BEST_THRESHOLD: float("nan"), NOTE: note}
    # Imported here: scikit-learn is slow to import and only this score needs it.

    auc = float(roc_auc_score(m, s))
    order = np.argsort(-s, kind="stable")
    s_sorted, m_sorted = s[order], m[order]
    hits = np.cumsum(m_sorted)
    # Threshold t = a distinct score selects everything up to the last pixel with that score.
    ends = np.append(np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s.size - 1)
    selected = ends + 1
    iou = hits[ends] / (selected + positives - hits[ends])
    best = int(np.argmax(iou))
    return {PIXEL_AUC: auc, BEST_IOU: float(iou[best]), BEST_THRESHOLD: float(s_sorted[ends[best]]), NOTE: ""}


def _colours(probs_pixel: np.ndarray, colormap: str) -> np.ndarray:
    """H x W x 4 float RGBA of probabilities in [0, 1]; NaN gets alpha 0."""
    probs = np.asarray(probs_pixel, dtype=np.float64)
    if probs.ndim != 2:
        raise CimgenError(f"expected an H x W probability map, got shape {probs.shape}")
    finite = probs[np.isfinite(probs)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise CimgenError(f"probabilities must lie in [0, 1], got values from {finite.min():.3g} to {finite.max():.3g}")
    # Imported here: matplotlib is slow to import and only the pictures need it.
    from matplotlib import colormaps

    if colormap not in colormaps:
        raise CimgenError(f"unknown matplotlib colormap '{colormap}'")
    cmap = colormaps[colormap].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    return cmap(np.ma.masked_invalid(probs))


def heatmap_picture(probs_pixel: np.ndarray, *, colormap: str = "inferno") -> np.ndarray:
    """A probability map as a colour picture.

    Args:
        probs_pixel: H x W probabilities in [0, 1] (e.g. ``pixel_scores``); NaN shows black.
        colormap: a matplotlib colormap name.

    Returns:
        H x W x 3 uint8 RGB.
    """
    rgba = _colours(probs_pixel, colormap)
    return np.rint(rgba[..., :3] * rgba[..., 3:] * 255).astype(np.uint8)


def overlay(image: np.ndarray, probs_pixel: np.ndarray, *, alpha: float = 0.5, colormap: str = "inferno") -> np.ndarray:
    """A probability map in colour, blended over the image.

    Args:
        image: HxWx3 uint8 RGB image.
        probs_pixel: H x W probabilities in [0, 1]; where NaN the image shows through unchanged.
        alpha: weight of the colours (0 shows the image, 1 only the map).
        colormap: a matplotlib colormap name.

    Returns:
        H x W x 3 uint8 RGB.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CimgenError("overlay expects an HxWx3 uint8 RGB image")
    if not 0 <= alpha <= 1:
        raise CimgenError(f"alpha must lie in [0, 1], got {alpha}")
    if np.shape(probs_pixel) != image.shape[:2]:
        raise CimgenError(f"the probability map is {np.shape(probs_pixel)}, the image {image.shape[:2]}; they must match")
    rgba = _colours(probs_pixel, colormap)
    weight = alpha * rgba[..., 3:]
    mixed = (1 - weight) * image.astype(np.float64) + weight * rgba[..., :3] * 255
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
