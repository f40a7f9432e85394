"""Instance maps: the instance-boundary edge map that pix2pixHD feeds its networks beside the one-hot labels."""

from __future__ import annotations

import numpy as np

from cimgen.errors import CimgenError


def instance_edges(instances: np.ndarray) -> np.ndarray:
    """Mark the pixels that lie on a boundary between two instances.

    A pixel is an edge when its id differs from its right or its lower neighbour, and both
    pixels of such a pair are marked, so a boundary is two pixels wide and the map is the same
    whether the instance map is flipped before or after (pix2pixHD's ``get_edges`` in
    ``models/pix2pixHD_model.py``). Pixels on the image border are compared with their
    neighbours inside the image only.

    Args:
        instances: HxW integer instance ids (Cityscapes: class id x 1000 + index for things,
            the class id for stuff); a label map works too and gives class boundaries.

    Returns:
        HxW bool edge map.

    Raises:
        CimgenError: if ``instances`` is not an integer HxW array.
    """
    if instances.ndim != 2 or not (np.issubdtype(instances.dtype, np.integer) or instances.dtype == bool):
        raise CimgenError(f"an instance map must be an integer HxW array, got shape {instances.shape} and dtype {instances.dtype}")
    edges = np.zeros(instances.shape, dtype=bool)
    horizontal = instances[:, 1:] != instances[:, :-1]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    vertical = instances[1:, :] != instances[:-1, :]
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    return edges
