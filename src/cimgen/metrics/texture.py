"""Texture inside an edit against the same image's own texture of the same classes.

A regenerated region can follow the edited map (``cimgen.metrics.faithful``) and still give itself
away by its texture: a pale, blurred patch where the photo is sharp, or the generator's lattice. These
scores compare the edit's patches with pristine patches of the same image that show the same classes:

- ``hf_ratio``: the edit's high-frequency energy (the mean squared Laplacian of the grey patches) over
  the pristine patches'. 1 is as sharp as the photo; a blurred fill scores well below 1, a noisy or
  latticed one above it.
- ``kid``: the Kernel Inception Distance between the two sets of patches (``cimgen.metrics.kid``, the
  FID Inception network's features), when a feature extractor is given. With a few dozen patches a
  side the estimate is noisy; ``kid_std`` (over random subsets) says how much.

The edit's patches are the ``size``-square patches on a ``stride`` grid with at least ``INSIDE`` of their
pixels in the mask, described by their classes' proportions in the *edited* map. The pristine patches lie
``GAP`` pixels or more from the mask, described by their classes' proportions in the *original* map. Each
edit patch is compared with the ``NEAR`` pristine patches closest to it among those whose proportions are
within ``MIX_SLACK`` of the best match: a lawn with the lawn beside it, a strip of pavement under a wall
with the same strip on either side (the whole image's patches of a class mix sunlit and shaded, near and
far). A class that is the main one of no pristine patch is named in the report.
"""

from __future__ import annotations

import cv2
import numpy as np

from cimgen.errors import CimgenError
from cimgen.metrics.kid import kid_from_features
from cimgen.metrics.patches import crop_patches, dilate_mask, patch_positions, positions_outside

PATCH = 32
"""Side of the patches compared (pixels): small enough that a car's place holds several."""
STRIDE = 8
"""Grid step of the patches (pixels)."""
INSIDE = 0.9
"""Share of a patch's pixels that must lie in the mask for it to be one of the edit's."""
GAP = 16
"""Pixels between the mask and any pristine patch (the blend's feathered border is neither)."""
NEAR = 8
"""Pristine patches each edit patch is compared with (the nearest of those showing its classes)."""
MIX_SLACK = 0.1
"""How much further (total variation of class proportions, 0-1) than the best match a pristine patch's classes may be."""


def composition(labels: np.ndarray, positions: np.ndarray, size: int, classes: int) -> np.ndarray:
    """N x ``classes``: each patch's share of pixels of each class (summed-area tables, one per class present)."""
    out = np.zeros((len(positions), classes))
    ys, xs = positions[:, 0], positions[:, 1]
    for c in np.unique(labels):
        sat = cv2.integral((labels == c).astype(np.uint8))
        out[:, c] = sat[ys + size, xs + size] - sat[ys, xs + size] - sat[ys + size, xs] + sat[ys, xs]
    return out / (size * size)


def hf_energy(patches: np.ndarray) -> np.ndarray:
    """Per patch (N x S x S x 3, uint8), the mean squared Laplacian of its grey values (0-255)."""
    out = np.zeros(len(patches))
    for i, p in enumerate(patches):
        grey = p.astype(np.float32).mean(axis=2)
        out[i] = float(np.mean(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[1:-1, 1:-1] ** 2))
    return out


def edit_positions(mask: np.ndarray, size: int = PATCH, stride: int = STRIDE, inside: float = INSIDE) -> np.ndarray:
    """Top-left corners (y, x) of the grid patches with at least ``inside`` of their pixels in ``mask``."""
    h, w = mask.shape
    if h < size or w < size:
        return np.zeros((0, 2), np.int64)
    pos = patch_positions(h, w, size=size, stride=stride)
    integral = cv2.integral(mask.astype(np.uint8))
    ys, xs = pos[:, 0], pos[:, 1]
    area = integral[ys + size, xs + size] - integral[ys, xs + size] - integral[ys + size, xs] + integral[ys, xs]
    return pos[area >= inside * size * size]


def texture_report(
    result: np.ndarray,
    original: np.ndarray,
    labels: np.ndarray,
    edited: np.ndarray,
    mask: np.ndarray,
    *,
    extractor=None,
    size: int = PATCH,
    stride: int = STRIDE,
    near: int = NEAR,
) -> dict:
    """The edit's texture against the pristine texture of the same classes (see the module's docstring).

    Args:
        result: HxWx3 uint8, the manipulated image (the edit as a viewer sees it).
        original: HxWx3 uint8, the image before the edit.
        labels: HxW original class ids; edited: HxW edited class ids.
        mask: HxW bool, the edit's region.
        extractor: a ``cimgen.metrics.features`` feature extractor for the KID; None leaves it out.
    """
    if not (result.shape == original.shape and result.shape[:2] == labels.shape == edited.shape == mask.shape):
        raise CimgenError("the result, the original, both maps and the mask must have the same size")
    mine = edit_positions(mask, size, stride)
    if len(mine) < 2:
        return {"patch": size, "edit_patches": len(mine), "why": f"the edit holds fewer than two {size}-pixel patches"}
    h, w = mask.shape
    others = positions_outside(patch_positions(h, w, size=size, stride=stride), dilate_mask(mask, GAP), size=size)
    no_pristine = {"patch": size, "edit_patches": len(mine), "why": f"fewer than two pristine {size}-pixel patches lie {GAP} px from the edit"}
    if len(others) < 2:
        return no_pristine
    # each edit patch's neighbours: the ``near`` pristine patches closest to it among those whose classes (in the
    # original map) are nearest the edit patch's (in the edited map) in proportion, so the edit is compared with the
    # texture a viewer sees beside it: a lawn with lawn, a strip of pavement under a wall with the same strip
    k = int(max(labels.max(), edited.max())) + 1
    mine_mix, other_mix = composition(edited, mine, size, k), composition(labels, others, size, k)
    matched = []
    for i, (y, x) in enumerate(mine):
        apart = 0.5 * np.abs(other_mix - mine_mix[i]).sum(axis=1)  # total variation between the class proportions
        pool = np.nonzero(apart <= apart.min() + MIX_SLACK)[0]
        d = np.hypot(others[pool, 0] - y, others[pool, 1] - x)
        matched.append(pool[np.argsort(d, kind="stable")[:near]])
    seen, as_matched = np.unique(np.concatenate(matched), return_inverse=True)
    unmatched = {int(c) for c in mine_mix.argmax(axis=1) if not (other_mix.argmax(axis=1) == c).any()}
    theirs = others[seen]
    if len(theirs) < 2:
        return no_pristine
    edit_patches, pristine = crop_patches(result, mine, size=size), crop_patches(original, theirs, size=size)
    hf_edit = hf_energy(edit_patches)
    hf_pristine = hf_energy(pristine)[as_matched]  # each edit patch's neighbours, as matched
    report = {
        "patch": size,
        "edit_patches": len(mine),
        "pristine_patches": len(theirs),
        "hf_ratio": round(float(hf_edit.mean() / hf_pristine.mean()), 4) if hf_pristine.mean() > 0 else None,
        **({"classes_seen_only_in_the_edit": sorted(unmatched)} if unmatched else {}),
    }
    if extractor is not None:
        kid = kid_from_features(extractor(edit_patches), extractor(pristine), subsets=100, subset_size=min(len(mine), len(theirs)))
        report.update(kid=round(kid["kid_mean"], 5), kid_std=round(kid["kid_std"], 5))
    return report
