"""Scores for the inside of an edit: is the regenerated region what the edited map says, and is the removed object gone?

A SSIM outside the edit says how well a generator reproduces the image; it says nothing of the
region it was asked to change. Here a small pixel classifier (the *segmenter*) is fitted on the
original image and its map, away from the edit, and then labels the regenerated region of the
result (issue 27, item 6a):

- ``faithful``: the share of the region's pixels whose predicted class is the edited map's class;
- ``painted_back``: among the pixels whose class the edit changed, the share predicted as the class
  they had before (a removed building drawn again from memory scores high here);
- ``segmenter_accuracy``: the same segmenter's accuracy on held-out pixels of the original, away
  from the edit: the ceiling ``faithful`` is read against;
- ``changed_class_recall``: its recall, on those held-out pixels, of the classes the edit took away
  (a removed building's class). ``painted_back`` can only see what the segmenter recognises: when
  this recall is low (buildings that look like the ground around them), a low ``painted_back``
  proves little, so look at the picture.

The segmenter is scikit-learn's ``HistGradientBoostingClassifier`` on per-pixel colour and local
texture statistics (CIELAB values, and their local means and standard deviations in 5, 11 and 21
pixel windows, from OpenCV box filters). Nothing is downloaded: a pretrained segmentation network
would need weights the project does not ship, and on one image a fitted classifier is the fairer
judge (it knows this image's roofs and lawns). It sees colour and texture, not shape, so its
accuracy on the original is reported beside every score.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from cimgen.errors import CimgenError

WINDOWS = (5, 11, 21)
"""Box-filter sides (pixels) of the local statistics."""
TRAIN_PIXELS = 20000
"""Pixels drawn (outside the edit and its margin) to fit the segmenter; as many again are held out to score it."""
MARGIN = 10
"""Pixels around the edit left out of the segmenter's fitting, so the edit's own texture does not leak in (the widest window's half)."""


def pixel_features(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxWxF float32: CIELAB and its local means and standard deviations (``WINDOWS``)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CimgenError(f"the segmenter takes HxWx3 uint8 images, got {image.dtype} {image.shape}")
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    feats = [lab]
    for k in WINDOWS:
        mean = cv2.blur(lab, (k, k), borderType=cv2.BORDER_REFLECT)
        sq = cv2.blur(lab * lab, (k, k), borderType=cv2.BORDER_REFLECT)
        feats += [mean, np.sqrt(np.maximum(sq - mean * mean, 0))]
    return np.concatenate(feats, axis=2)


def fit_segmenter(
    image: np.ndarray, labels: np.ndarray, away: np.ndarray, *, seed: int = 0
) -> tuple[HistGradientBoostingClassifier, np.ndarray, np.ndarray]:
    """A pixel classifier fitted on ``image`` and its ``labels`` outside ``away``, and its predictions on held-out pixels there.

    Returns:
        The classifier, and the held-out pixels' true and predicted classes.

    Args:
        image: HxWx3 uint8.
        labels: HxW class ids.
        away: HxW bool, pixels to leave out (the edit and its margin).
        seed: the pixel draw's seed.
    """
    usable = np.flatnonzero(~away.reshape(-1))
    if usable.size < 200:
        raise CimgenError("the edit leaves too few pixels outside it to fit the segmenter of the inside scores")
    rng = np.random.default_rng(seed)
    picked = rng.choice(usable, size=min(2 * TRAIN_PIXELS, usable.size), replace=False)
    fit, held = picked[: picked.size // 2], picked[picked.size // 2 :]
    x = pixel_features(image).reshape(-1, len(WINDOWS) * 6 + 3)
    y = labels.reshape(-1)
    if np.unique(y[fit]).size < 2:
        raise CimgenError(
            "the map has one class outside the edit, so there is nothing for the segmenter of the inside scores to tell apart"
        )
    seg = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(x[fit], y[fit])
    return seg, y[held], seg.predict(x[held])


def inside_report(result: np.ndarray, original: np.ndarray, labels: np.ndarray, edited_labels: np.ndarray, mask: np.ndarray) -> dict:
    """The inside-the-edit scores (module docstring) of one manipulation.

    Args:
        result: HxWx3 uint8, the manipulated image.
        original: HxWx3 uint8, the image before.
        labels: HxW, its map.
        edited_labels: HxW, the map after the edit.
        mask: HxW bool, the region that was regenerated.

    Returns:
        ``faithful``, ``painted_back`` and ``changed_class_recall`` (None when no pixel's class changed),
        ``segmenter_accuracy``, ``region_pixels`` and ``changed_pixels``; None scores when the mask is empty.
    """
    if not mask.any():
        return {
            "faithful": None, "painted_back": None, "segmenter_accuracy": None, "changed_class_recall": None,
            "region_pixels": 0, "changed_pixels": 0,
        }  # fmt: skip
    away = cv2.dilate(mask.astype(np.uint8), np.ones((2 * MARGIN + 1, 2 * MARGIN + 1), np.uint8)) > 0
    seg, truth, guess = fit_segmenter(original, labels, away)
    pred = seg.predict(pixel_features(result)[mask])
    changed = (labels != edited_labels)[mask]
    painted = float((pred[changed] == labels[mask][changed]).mean()) if changed.any() else None
    taken = np.isin(truth, np.unique(labels[mask][changed]))
    recall = float((guess[taken] == truth[taken]).mean()) if changed.any() and taken.any() else None
    return {
        "faithful": round(float((pred == edited_labels[mask]).mean()), 4),
        "painted_back": None if painted is None else round(painted, 4),
        "segmenter_accuracy": round(float((guess == truth).mean()), 4),
        "changed_class_recall": None if recall is None else round(recall, 4),
        "region_pixels": int(mask.sum()),
        "changed_pixels": int(changed.sum()),
    }
