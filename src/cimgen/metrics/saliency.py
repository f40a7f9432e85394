"""Saliency maps in [0, 1] from OpenCV's static saliency models, chosen by name from one registry."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from cimgen.errors import CimgenError


def _opencv_saliency(create_name: str) -> Callable[[], object]:
    """The factory ``cv2.saliency.<create_name>``, or a clear error when OpenCV lacks its contrib modules."""
    module = getattr(cv2, "saliency", None)
    if module is None:
        raise CimgenError(
            "this OpenCV build has no cv2.saliency; install opencv-contrib-python-headless in place of opencv-python-headless"
        )
    return getattr(module, create_name)


def spectral_residual(gray: np.ndarray) -> np.ndarray:
    """Raw spectral-residual saliency of an HxW uint8 grey image (Hou & Zhang, CVPR 2007).

    OpenCV resizes the grey image to a fixed 64x64, keeps the residual of the log amplitude
    spectrum after a 3x3 mean filter, transforms back with the original phase, blurs the
    magnitude (5x5 Gaussian, sigma 8), squares it, divides by its maximum and resizes that
    64x64 map bilinearly back to HxW. The result is float32 HxW; after the resize its maximum
    is usually a little below 1, so it still needs normalising.
    """
    ok, raw = _opencv_saliency("StaticSaliencySpectralResidual_create")().computeSaliency(gray)
    if not ok:
        raise CimgenError("OpenCV's spectral-residual saliency failed on this image")
    return raw


def fine_grained(gray: np.ndarray) -> np.ndarray:
    """Raw fine-grained saliency of an HxW uint8 grey image (Montabone & Soto, Image and Vision Computing 2010).

    OpenCV smooths the grey image twice with a 3x3 Gaussian, then sums centre-surround
    intensity differences ("on" and "off") over six square surrounds of 24 to 224 pixels at
    full resolution. The surrounds are fixed in pixels, so the map depends on image size. The
    result is float32 HxW in steps of 1/255, scaled by OpenCV so that its maximum is 1 (all
    zeros when no pixel differs from its surround).
    """
    ok, raw = _opencv_saliency("StaticSaliencyFineGrained_create")().computeSaliency(gray)
    if not ok:
        raise CimgenError("OpenCV's fine-grained saliency failed on this image")
    return raw


# name -> function from an HxW uint8 grey image to a raw float saliency map of the same size
SALIENCY_MODELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "spectral-residual": spectral_residual,
    "fine-grained": fine_grained,
}
# Fine-grained by default: on real hole-filling sets it finds an unfilled hole more salient than the true
# content, which spectral residual mostly does not (measured in docs/inpainting-metrics.md).
DEFAULT_SALIENCY = "fine-grained"


def check_saliency_model(name: str) -> str:
    """Return ``name`` when it is a registered saliency model, else raise one sentence naming the valid ones."""
    if name not in SALIENCY_MODELS:
        raise CimgenError(f"unknown saliency model '{name}'; choose one of: {', '.join(SALIENCY_MODELS)}")
    return name


def normalise_map(raw: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to float32 in [0, 1]; a constant map becomes all zeros (nothing stands out)."""
    values = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(values).all():
        raise CimgenError("the saliency map holds non-finite values")
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros(values.shape, np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def saliency_map(image: np.ndarray, *, model: str = DEFAULT_SALIENCY) -> np.ndarray:
    """Saliency of an RGB image as float32 HxW, min-max normalised per image to [0, 1].

    Both OpenCV models work on grey levels (they convert a 3-channel input as BGR), so the RGB
    image is converted to grey here with the right channel order. An image of one flat grey
    level has no salient point and gets all zeros: the spectral-residual model would otherwise
    return numerical noise that normalisation would stretch to [0, 1].

    Args:
        image: HxWx3 uint8 RGB image.
        model: a name from ``SALIENCY_MODELS``.

    Returns:
        float32 HxW map with minimum 0 and maximum 1 (or all zeros for a flat image).
    """
    check_saliency_model(model)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CimgenError(f"saliency needs a uint8 HxWx3 image, got {image.dtype} {image.shape}")
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if gray.min() == gray.max():
        return np.zeros(gray.shape, np.float32)
    raw = SALIENCY_MODELS[model](gray)
    if raw.shape != gray.shape:
        raise CimgenError(f"the {model} saliency model returned a {raw.shape} map for a {gray.shape} image")
    return normalise_map(raw)
