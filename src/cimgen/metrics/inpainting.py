"""Inpainting scores (SSIM against a clean reference, ASVS over the filled region) and OpenCV's classical inpainting as a baseline."""

from __future__ import annotations

import cv2
import numpy as np

from cimgen.errors import CimgenError
from cimgen.metrics.saliency import DEFAULT_SALIENCY, check_saliency_model, saliency_map
from cimgen.metrics.ssim import BORDER, SSIM_SETTINGS, ssim_map

KEY_SSIM = "ssim"
KEY_SSIM_FILLED = "ssim_filled"
KEY_SSIM_FILLED_PIXELS = "ssim_filled_pixels"
KEY_ASVS = "asvs"
KEY_MASK_PIXELS = "mask_pixels"
KEY_MASK_FRACTION = "mask_fraction"
KEY_SALIENCY = "saliency_model"
KEY_SSIM_SETTINGS = "ssim_settings"

# cv2.inpaint's two methods: Telea (2004), the fast-marching method, and Bertalmio et al. (2001), Navier-Stokes.
OPENCV_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
# The smallest side SSIM's 11x11 window fits in.
MIN_SIDE = 2 * BORDER + 1
EMPTY_MASK = "the mask is empty; there is no filled region to score"


def check_image(image: np.ndarray, *, name: str) -> None:
    """Raise one sentence unless ``image`` is a uint8 HxWx3 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise CimgenError(f"the {name} must be a uint8 HxWx3 image, got {got}")


def check_pair(result: np.ndarray, reference: np.ndarray) -> None:
    """Raise one sentence unless result and reference are uint8 HxWx3 images of one size that SSIM's window fits in."""
    check_image(result, name="result")
    check_image(reference, name="reference")
    if result.shape != reference.shape:
        raise CimgenError(
            f"the result is {result.shape[1]}x{result.shape[0]} but the reference is {reference.shape[1]}x{reference.shape[0]}; "
            "they must be the same size"
        )
    if min(result.shape[:2]) < MIN_SIDE:
        raise CimgenError(f"SSIM needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {result.shape[1]}x{result.shape[0]}")


def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise one sentence unless ``mask`` is a non-empty bool array with the height and width of ``shape``."""
    if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 2:
        got = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise CimgenError(f"the mask must be a bool HxW array, got {got}")
    if mask.shape != tuple(shape[:2]):
        raise CimgenError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}; they must be the same size")
    if not mask.any():
        raise CimgenError(EMPTY_MASK)


def ssim_settings() -> dict:
    """The SSIM settings in force, for the record beside every score."""
    return {**SSIM_SETTINGS, "window": MIN_SIDE, "excluded_border": BORDER, "channels": "mean of the per-channel SSIM maps"}


def ssim_to_reference(result: np.ndarray, reference: np.ndarray, *, mask: np.ndarray | None = None) -> dict:
    """SSIM of an inpainted result against the clean reference, over the whole image and inside the filled region.

    Both are means of one per-pixel SSIM map (``metrics.ssim.ssim_map``, Wang et al. 2004
    settings) without its 5-pixel border, so the whole-image value equals scikit-image's
    ``structural_similarity``. Pixels of the filled region inside that border are left out too.

    Args:
        result: HxWx3 uint8 inpainted image.
        reference: HxWx3 uint8 clean image of the same size.
        mask: bool HxW, True on the filled region; without it only the whole-image SSIM is given.

    Returns:
        ``{KEY_SSIM: float}``, plus ``KEY_SSIM_FILLED`` and ``KEY_SSIM_FILLED_PIXELS`` when a mask is given.
    """
    check_pair(result, reference)
    full = ssim_map(result, reference)
    scores = {KEY_SSIM: float(full[BORDER:-BORDER, BORDER:-BORDER].mean())}
    if mask is None:
        return scores
    check_mask(mask, result.shape)
    inside = mask.copy()
    inside[:BORDER] = inside[-BORDER:] = False
    inside[:, :BORDER] = inside[:, -BORDER:] = False
    if not inside.any():
        raise CimgenError(f"the mask lies wholly in the {BORDER}-pixel image border, where SSIM is not measured")
    scores[KEY_SSIM_FILLED] = float(full[inside].mean())
    scores[KEY_SSIM_FILLED_PIXELS] = int(inside.sum())
    return scores


def asvs(image: np.ndarray, mask: np.ndarray, *, model: str = DEFAULT_SALIENCY) -> float:
    """Average squared visual salience of the filled region (Ardis & Singhal, Proc. SPIE 7257, 2009); lower is better.

    The saliency map of the whole inpainted image is normalised to [0, 1]; its squares are
    averaged over the pixels of ``mask``. A fill that draws the eye scores high, so the value
    lies in [0, 1] and 0 means the region does not stand out at all.

    Args:
        image: HxWx3 uint8 inpainted image.
        mask: bool HxW, True on the filled region (non-empty).
        model: a name from ``metrics.saliency.SALIENCY_MODELS``.
    """
    check_image(image, name="inpainted image")
    check_mask(mask, image.shape)
    salience = saliency_map(image, model=model).astype(np.float64)
    return float(np.mean(salience[mask] ** 2))


def inpainting_scores(result: np.ndarray, reference: np.ndarray, mask: np.ndarray, *, saliency: str = DEFAULT_SALIENCY) -> dict:
    """SSIM (whole image and filled region) and ASVS of one inpainted result, with the settings that produced them.

    Args:
        result: HxWx3 uint8 inpainted image.
        reference: HxWx3 uint8 clean image of the same size.
        mask: bool HxW, True on the filled region (non-empty).
        saliency: the saliency model for ASVS, a name from ``metrics.saliency.SALIENCY_MODELS``.

    Returns:
        A dict keyed by this module's ``KEY_*`` constants.
    """
    check_saliency_model(saliency)
    check_pair(result, reference)
    check_mask(mask, result.shape)
    return {
        **ssim_to_reference(result, reference, mask=mask),
        KEY_ASVS: asvs(result, mask, model=saliency),
        KEY_MASK_PIXELS: int(mask.sum()),
        KEY_MASK_FRACTION: float(mask.mean()),
        KEY_SALIENCY: saliency,
        KEY_SSIM_SETTINGS: ssim_settings(),
    }


def opencv_inpaint(image: np.ndarray, mask: np.ndarray, *, method: str = "telea", radius: float = 3.0) -> np.ndarray:
    """Fill the masked region with OpenCV's classical inpainting; pixels outside the mask are returned unchanged.

    Args:
        image: HxWx3 uint8 image; its values inside the mask are ignored.
        mask: bool HxW, True on the region to fill (non-empty).
        method: ``"telea"`` (fast marching, Telea 2004) or ``"ns"`` (Navier-Stokes, Bertalmio et al. 2001).
        radius: neighbourhood radius in pixels that each filled pixel draws on.

    Returns:
        HxWx3 uint8 image equal to ``image`` outside the mask.
    """
    check_image(image, name="image to inpaint")
    check_mask(mask, image.shape)
    if method not in OPENCV_METHODS:
        raise CimgenError(f"unknown OpenCV inpainting method '{method}'; choose one of: {', '.join(OPENCV_METHODS)}")
    if not radius > 0:
        raise CimgenError(f"the inpainting radius must be positive, got {radius}")
    # Both methods treat the channels alike, so RGB order needs no conversion.
    filled = cv2.inpaint(np.ascontiguousarray(image), mask.astype(np.uint8) * 255, float(radius), OPENCV_METHODS[method])
    out = image.copy()
    out[mask] = filled[mask]
    return out
