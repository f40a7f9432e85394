"""The manipulation pipeline: edit the map, derive the mask, generate the edited map's image, blend it in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimgen.data.palette import check_labels
from cimgen.edit.blend import blend
from cimgen.edit.mask import edit_mask
from cimgen.edit.ops import apply_edits
from cimgen.errors import CimgenError


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
    """Pixels that may differ from the original (changed labels, dilated)."""
    generated: np.ndarray
    """The generator's rendering of the edited map (whole image)."""
    result: np.ndarray
    """The manipulated image: ``generated`` blended into ``original`` inside ``mask``."""


def manipulate(
    image: np.ndarray,
    labels: np.ndarray,
    edits: list,
    render,
    *,
    num_classes: int,
    radius: int = 8,
    blend_mode: str = "feather",
    feather: float = 6.0,
) -> Manipulation:
    """Apply ``edits`` to ``labels``, render the edited map with ``render`` and blend into ``image``.

    Args:
        image: HxWx3 uint8 original.
        labels: HxW integer map of the original.
        edits: edit operations (see ``cimgen.edit.ops``).
        render: callable(labels HxW) -> HxWx3 uint8, e.g. a fine-tuned generator.
        num_classes: number of label classes.
        radius: dilation of the changed pixels, in pixels.
        blend_mode: ``feather`` or ``hard``.
        feather: width of the feathered edge inside the mask, in pixels.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CimgenError(f"the image must be HxWx3 uint8, got {image.dtype} {image.shape}")
    if image.shape[:2] != labels.shape:
        raise CimgenError(f"the image is {image.shape[1]}x{image.shape[0]} but its map is {labels.shape[1]}x{labels.shape[0]}")
    check_labels(labels, num_classes)
    edited = apply_edits(labels, edits, num_classes=num_classes)
    mask = edit_mask(labels, edited, radius=radius)
    generated = render(edited)
    kwargs = {"feather": feather} if blend_mode == "feather" else {}
    result = blend(image, generated, mask, mode=blend_mode, **kwargs)
    return Manipulation(original=image, labels=labels, edited_labels=edited, mask=mask, generated=generated, result=result)


def manipulation_metrics(m: Manipulation) -> dict:
    """What every manipulation reports: SSIM of generated vs original outside the mask, and the mask's size.

    ``ssim_outside_mask`` is None when the mask leaves no pixel to compare.
    """
    from cimgen.metrics.ssim import SSIM_SETTINGS, ssim_outside

    outside = ~m.mask
    try:
        ssim = ssim_outside(m.generated, m.original, m.mask)
    except CimgenError:  # the mask covers everything but the border
        ssim = {"ssim": None, "pixels": 0}
    return {
        "ssim_outside_mask": None if ssim["ssim"] is None else round(ssim["ssim"], 4),
        "ssim_settings": {**SSIM_SETTINGS, "compared": "generated vs original, mean of the SSIM map over pixels outside the mask"},
        "pixels_outside_mask": ssim["pixels"],
        "mask_area_pixels": int(m.mask.sum()),
        "mask_area_fraction": round(float(m.mask.mean()), 4),
        "outside_mask_identical": bool(np.array_equal(m.result[outside], m.original[outside])),
    }
