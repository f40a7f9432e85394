"""Inpainting, editing and harmonization with a trained SinGAN, and OpenCV's inpainting behind the same interface.

SinGAN fills a region by injecting an image at a chosen scale: a clean reference (an adjacent frame)
for inpainting, or a naive paste/edit for editing and harmonization. The injected image is shrunk to
the scale below the chosen one, the pyramid runs from the chosen scale to the finest, and the result
is blended into the dilated, feathered mask. Every pixel outside the dilated mask keeps its value.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cimgen.edit.blend import blend_feather
from cimgen.edit.mask import dilate, user_mask
from cimgen.errors import CimgenError
from cimgen.metrics.inpainting import OPENCV_METHODS, check_image, opencv_inpaint
from cimgen.singan.model import SinGAN, image_tensor, to_image

METHODS = ("singan", *OPENCV_METHODS)
# A reference may differ from the image in aspect ratio by at most this factor (10%): an adjacent frame
# of the same view, cropped or scaled a little, passes; a portrait photo for a landscape scene does not.
MAX_ASPECT_CHANGE = 1.10
# White subtitles and white boxes: a pixel is damaged when all three channels reach this level.
DEFAULT_THRESHOLD = 240
# Dilation (pixels) of the region to fill: it covers the anti-aliased rim of subtitles and boxes, and the
# SinGAN output is feathered over it. SinGAN's own editing and harmonization scripts dilate by disks of
# 20 and 7 pixels (tamarott/SinGAN functions.dilate_mask); those are the defaults of those two uses.
DEFAULT_DILATION = {"inpaint": 3, "edit": 20, "harmonize": 7}
NOISE_MODES = ("random", "reconstruction")
# Inpainting's default: no new noise above the injection scale (the better on average in the study of docs/singan.md).
# Editing and harmonization keep SinGAN's random noise.
DEFAULT_NOISE = "reconstruction"


@dataclass
class Fill:
    """The result of a fill: ``result`` equals the input outside ``region``.

    Attributes:
        result: HxWx3 uint8 image.
        region: bool HxW, the dilated mask that was filled and blended.
        generated: HxWx3 uint8 output of the pyramid at the image's size (None for OpenCV).
        scale: the scale the reference was injected at (None for OpenCV).
    """

    result: np.ndarray
    region: np.ndarray
    generated: np.ndarray | None = None
    scale: int | None = None


def threshold_mask(image: np.ndarray, *, threshold: int = DEFAULT_THRESHOLD, min_area: int = 0) -> np.ndarray:
    """The pixels whose three channels all reach ``threshold`` (white text or boxes), without regions under ``min_area`` pixels."""
    check_image(image, name="image")
    if not 0 <= threshold <= 255:
        raise CimgenError(f"the mask threshold must lie between 0 and 255, got {threshold}")
    mask = (image >= threshold).all(axis=2)
    if min_area > 0 and mask.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        keep = np.zeros(count, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
        mask = keep[labels]
    if not mask.any():
        raise CimgenError(f"no pixel of the image reaches the threshold {threshold} in all channels; the mask is empty")
    return mask


def check_mask(mask: np.ndarray, shape: tuple[int, ...], *, source: str = "the mask") -> np.ndarray:
    """A bool HxW mask of the image's size that is neither empty nor the whole image."""
    mask = user_mask(mask, tuple(shape[:2]), source=source)
    if mask.all():
        raise CimgenError(f"{source} covers the whole image; nothing is left to fill it from")
    return mask


def _check_aspect(what: str, size: tuple[int, int], other: str, other_size: tuple[int, int]) -> None:
    """Refuse two (width, height) sizes whose aspect ratios differ by more than ``MAX_ASPECT_CHANGE``."""
    (w, h), (ow, oh) = size, other_size
    change = (w / h) / (ow / oh)
    if max(change, 1 / change) > MAX_ASPECT_CHANGE:
        raise CimgenError(
            f"{what} is {w}x{h} (aspect {w / h:.2f}) but {other} {ow}x{oh} (aspect {ow / oh:.2f}); "
            f"their aspect ratios may differ by at most {round((MAX_ASPECT_CHANGE - 1) * 100)}%"
        )


def fit_reference(reference: np.ndarray, shape: tuple[int, ...], *, name: str = "reference") -> np.ndarray:
    """The reference resized to the image's size, after checking it shows a view of the same shape."""
    check_image(reference, name=name)
    h, w = shape[:2]
    rh, rw = reference.shape[:2]
    _check_aspect(f"the {name}", (rw, rh), "the image is", (w, h))
    if (rh, rw) == (h, w):
        return reference
    shrink = rh > h or rw > w
    return cv2.resize(reference, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def default_scale(model: SinGAN) -> int:
    """The default injection scale: two below the finest (finest - 2), the best on average in the study of docs/singan.md."""
    return max(1, model.trained - 3)


def check_scale(model: SinGAN, scale: int | None) -> int:
    """The injection scale, default or checked against the trained pyramid."""
    if scale is None:
        return default_scale(model)
    if not 1 <= scale <= model.trained - 1:
        raise CimgenError(
            f"the injection scale must lie between 1 and {model.trained - 1} for this {model.trained}-scale model, got {scale}"
        )
    return scale


def singan_generate(model: SinGAN, injected: np.ndarray, *, scale: int, noise: str = "random", seed: int = 0) -> np.ndarray:
    """Inject ``injected`` (HxWx3 uint8) at ``scale``, run the finer scales, and return the output at the image's size."""
    if noise not in NOISE_MODES:
        raise CimgenError(f"unknown noise mode '{noise}'; choose one of: {', '.join(NOISE_MODES)}")
    h, w = injected.shape[:2]
    H, W = model.sizes[-1]
    _check_aspect("the image", (w, h), "the model was trained at", (W, H))
    if min(h, w) < model.cfg.min_size:
        raise CimgenError(f"the image is {w}x{h}, smaller than the model's coarsest scale ({model.cfg.min_size} pixels)")
    x = image_tensor(injected).to(model.device)
    out = model.generate(start=scale, inject=x, mode=noise, height=H, width=W, generator=torch.Generator().manual_seed(seed))
    out_img = to_image(out)
    if (H, W) != (h, w):
        out_img = cv2.resize(out_img, (w, h), interpolation=cv2.INTER_CUBIC)
    return out_img


def _blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, dilation: int) -> tuple[np.ndarray, np.ndarray]:
    region = dilate(mask, dilation)
    out = blend_feather(image, generated, region, feather=float(dilation))
    out[mask] = generated[mask]  # the damaged pixels themselves are always wholly replaced
    return out, region


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    method: str = "singan",
    model: SinGAN | None = None,
    reference: np.ndarray | None = None,
    scale: int | None = None,
    dilation: int = DEFAULT_DILATION["inpaint"],
    noise: str = DEFAULT_NOISE,
    radius: float = 3.0,
    seed: int = 0,
) -> Fill:
    """Fill the masked region of ``image``; pixels outside the mask dilated by ``dilation`` keep their values.

    Args:
        image: HxWx3 uint8 damaged image.
        mask: bool HxW damaged region.
        method: ``singan`` (needs ``model`` and ``reference``), ``telea`` or ``ns`` (OpenCV).
        model: a SinGAN trained on the damaged image (or on the scene).
        reference: a clean image of the same view (e.g. an adjacent frame), any size of about the same aspect.
        scale: the injection scale (default: ``default_scale``).
        dilation: pixels by which the mask grows; SinGAN's output is feathered over that rim.
        noise: ``reconstruction`` (no noise added above the injection; the default, the better on average in the
            study) or ``random`` (new noise at every scale, as SinGAN's editing).
        radius: the OpenCV methods' neighbourhood radius.
        seed: seeds the noise.
    """
    check_image(image, name="image")
    mask = check_mask(mask, image.shape)
    if method not in METHODS:
        raise CimgenError(f"unknown inpainting method '{method}'; choose one of: {', '.join(METHODS)}")
    if method in OPENCV_METHODS:
        region = dilate(mask, dilation)
        return Fill(opencv_inpaint(image, region, method=method, radius=radius), region)
    if model is None or reference is None:
        raise CimgenError("SinGAN inpainting needs a trained model and a clean reference image")
    scale = check_scale(model, scale)
    ref = fit_reference(reference, image.shape)
    generated = singan_generate(model, ref, scale=scale, noise=noise, seed=seed)
    out, region = _blend(image, generated, mask, dilation)
    return Fill(out, region, generated, scale)


def edit(
    model: SinGAN,
    naive: np.ndarray,
    mask: np.ndarray,
    *,
    kind: str = "edit",
    scale: int | None = None,
    dilation: int | None = None,
    noise: str = "random",
    seed: int = 0,
) -> Fill:
    """SinGAN editing or harmonization: the naive paste or edit ``naive`` injected at ``scale`` and blended into ``mask``.

    The model is trained on the background image (the one without the paste); ``naive`` is that image
    with the pasted object or the edit, and ``mask`` marks it. ``kind`` picks the default dilation.
    """
    if kind not in ("edit", "harmonize"):
        raise CimgenError(f"unknown kind '{kind}'; choose edit or harmonize")
    check_image(naive, name="edited image")
    mask = check_mask(mask, naive.shape)
    scale = check_scale(model, scale)
    dilation = DEFAULT_DILATION[kind] if dilation is None else dilation
    generated = singan_generate(model, naive, scale=scale, noise=noise, seed=seed)
    out, region = _blend(naive, generated, mask, dilation)
    return Fill(out, region, generated, scale)
