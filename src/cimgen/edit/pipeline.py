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
