"""Scores for the inside of an edit: is the regenerated region what the edited map says, and is the removed object gone?

A SSIM outside the edit says how well a generator reproduces the image; it says nothing of the
region it was asked to change. Here a small pixel classifier (the *segmenter*) is fitted on the
original image and its map, away from the edit, and then labels the regenerated region of the
result (issue 27, item 6a):

- ``faithful``: the share of the region's pixels whose predicted class is the edited map's class;
- ``painted_back``: among the pixels whose class the edit changed, the share predicted as the class
  they had before (a removed building drawn again from memory scores high here);
- ``segmenter_accuracy``: the accuracy of segmenters like it on held-out pixels of the original, away
  from the edit, in other 32-pixel squares than those they were fitted on (two-fold, ``held_out``);
- ``edited_class_recall``: its recall, on those held-out pixels, of the classes the edited map asks for
  in the region, each weighted by its share of the region: what ``faithful`` would be if the region were
  drawn as well as the original itself, the ceiling to read ``faithful`` against;
- ``changed_class_recall``: its recall, on those held-out pixels, of the classes the edit took away
  (a removed building's class). ``painted_back`` can only see what the segmenter recognises: when
  this recall is low (buildings that look like the ground around them), a low ``painted_back``
  proves little, so look at the picture;
- ``painted_back_floor``: how often those held-out pixels of each class the edit put in are taken for
  the class it took away there: what ``painted_back`` reads for a region drawn as well as the original
  with nothing painted back. A ``painted_back`` at or under its floor is the segmenter's own error.

The segmenter is scikit-learn's ``RandomForestClassifier`` on per-pixel colour and local texture
statistics (CIELAB values, and their local means and standard deviations in 5, 11 and 21 pixel
windows, from OpenCV box filters): the trainable segmentation of ilastik and of scikit-image's
``future.fit_segmenter``, fitted on up to ``FIT_PIXELS`` pixels, each of its ``TREES`` trees on
``TRAIN_PIXELS`` of them. Nothing is downloaded: a pretrained segmentation network would need
weights the project does not ship, and on one image a fitted classifier is the fairer judge (it
knows this image's roofs and lawns). It sees colour and texture, not shape, so its accuracy on the
original is reported beside every score.

Until 2026-12-04 it was a ``HistGradientBoostingClassifier`` fitted on 20,000 drawn pixels. That
judge moved with its own draw: on the benchmark's Cityscapes edit its held-out accuracy read
0.33-0.82 and faithful 0.36-0.74 over four seeds of the draw, and a class with a single pixel in
the draw stopped it with an error (the stratified split of its early stopping). The forest reads
0.86-0.89 and 0.804-0.806 there, and 0.805-0.809 on the Map2Sat edit, over three seeds
(docs/manipulation.md). Its leaf size (``LEAF``) was chosen by that held-out accuracy, not by the
scores it gives: leaves of 50 pixels read faithful 0.87 on the Map2Sat edit against 0.81 with 5,
and were 0.01-0.03 less accurate on the originals.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from cimgen.errors import CimgenError
from cimgen.metrics.ssim import ssim_map

WINDOWS = (5, 11, 21)
"""Box-filter sides (pixels) of the local statistics."""
TRAIN_PIXELS = 20000
"""Pixels each tree of a segmenter is fitted on (drawn with replacement from the pixels it is given); also twice the
held-out pixels each of the two scoring segmenters labels."""
FIT_PIXELS = 200000
"""Most pixels (outside the edit and its margin, drawn at random) a segmenter is given."""
TREES = 100
"""Trees of each segmenter's forest."""
LEAF = 5
"""Fewest pixels in a leaf of a tree (smoother class boundaries than single-pixel leaves)."""
HOLDOUT_SQUARE = 32
"""Side (pixels) of the squares the map is cut into when the segmenter is scored: classifiers fitted on half the
squares label the other half (``held_out``)."""
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
) -> tuple[RandomForestClassifier, np.ndarray, np.ndarray]:
    """A pixel classifier fitted on ``image`` and its ``labels`` outside ``away``, and held-out pixels' classes as
    classifiers like it predict them (``held_out``).

    Returns:
        The classifier (fitted on ``TRAIN_PIXELS`` pixels drawn from anywhere outside ``away``), and the held-out
        pixels' true and predicted classes.

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
    feats = pixel_features(image)
    x = feats.reshape(-1, feats.shape[-1])
    y = labels.reshape(-1)
    picked = rng.permutation(usable)[:FIT_PIXELS]
    if np.unique(y[picked]).size < 2:
        raise CimgenError(
            "the map has one class outside the edit, so there is nothing for the segmenter of the inside scores to tell apart"
        )
    seg = segmenter(seed, picked.size).fit(x[picked], y[picked])
    truth, guess = held_out(x, y, usable, away.shape, rng, seed)
    return seg, truth, guess


def segmenter(seed: int, pixels: int) -> RandomForestClassifier:
    """An unfitted segmenter for ``pixels`` pixels: a random forest whose trees each see ``TRAIN_PIXELS`` of them (or all),
    drawn with replacement."""
    return RandomForestClassifier(
        n_estimators=TREES, min_samples_leaf=LEAF, max_samples=min(TRAIN_PIXELS, pixels), n_jobs=-1, random_state=seed
    )


def held_out(
    x: np.ndarray, y: np.ndarray, usable: np.ndarray, shape: tuple[int, int], rng: np.random.Generator, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted classes of held-out pixels, two-fold over squares: the usable pixels are cut into
    ``HOLDOUT_SQUARE``-pixel squares, half of them drawn at random; a classifier fitted on one half labels the
    other, and the other way round. Pixels of the same square share their window statistics, so pixels held
    out of the squares a classifier was fitted on would score it on near-copies of what it learnt."""
    h, w = shape
    side = HOLDOUT_SQUARE
    squares = rng.random(((h + side - 1) // side, (w + side - 1) // side)) < 0.5
    half = np.repeat(np.repeat(squares, side, 0), side, 1)[:h, :w].reshape(-1)[usable]
    if half.all() or not half.any():  # a sliver outside the edit: a pixel draw instead
        half = rng.random(usable.size) < 0.5
    truth, guess = [], []
    for fold in (half, ~half):
        fit = rng.permutation(usable[~fold])[:FIT_PIXELS]
        held = rng.permutation(usable[fold])[: TRAIN_PIXELS // 2]
        if fit.size == 0 or held.size == 0:
            continue
        if np.unique(y[fit]).size < 2:  # one class on this side: it predicts that class
            guess.append(np.full(held.size, y[fit][0]))
        else:
            guess.append(segmenter(seed, fit.size).fit(x[fit], y[fit]).predict(x[held]))
        truth.append(y[held])
    return np.concatenate(truth), np.concatenate(guess)


def _weighted_rate(truth: np.ndarray, guess: np.ndarray, said: np.ndarray, true: np.ndarray) -> float | None:
    """How often the segmenter says class ``said[i]`` of held-out pixels of the original whose class is ``true[i]``,
    averaged over the region's pixels ``i`` (those whose ``true`` class has held-out pixels); None when none has.

    With ``said`` = ``true`` = the edited classes, its recall of them: what ``faithful`` would be for a region drawn
    as well as the original (its ceiling). With ``said`` the classes the edit took away and ``true`` those it put in,
    its false alarms: what ``painted_back`` is for such a region with nothing painted back (its floor)."""
    pairs, counts = np.unique(np.stack([said, true]), axis=1, return_counts=True)
    score, weight = 0.0, 0
    for (s, t), n in zip(pairs.T, counts, strict=True):
        held = truth == t
        if held.any():
            score += n * float((guess[held] == s).mean())
            weight += n
    return round(float(score / weight), 4) if weight else None


def away_from(mask: np.ndarray) -> np.ndarray:
    """HxW bool: ``mask`` and ``MARGIN`` pixels around it, which the segmenter is not fitted on."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * MARGIN + 1, 2 * MARGIN + 1), np.uint8)) > 0


def inside_report(result: np.ndarray, original: np.ndarray, labels: np.ndarray, edited_labels: np.ndarray, mask: np.ndarray) -> dict:
    """The inside-the-edit scores (module docstring) of one manipulation.

    Args:
        result: HxWx3 uint8, the manipulated image.
        original: HxWx3 uint8, the image before.
        labels: HxW, its map.
        edited_labels: HxW, the map after the edit.
        mask: HxW bool, the region that was regenerated.

    Returns:
        ``faithful``, ``painted_back`` and ``changed_class_recall`` (None when no pixel's class changed), ``edited_class_recall``,
        ``segmenter_accuracy``, ``region_pixels`` and ``changed_pixels``; None scores when the mask is empty.
    """
    if not mask.any():
        return {
            "faithful": None, "painted_back": None, "segmenter_accuracy": None, "changed_class_recall": None, "edited_class_recall": None,
            "painted_back_floor": None,
            "region_pixels": 0, "changed_pixels": 0,
        }  # fmt: skip
    seg, truth, guess = fit_segmenter(original, labels, away_from(mask))
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
        "painted_back_floor": _weighted_rate(truth, guess, labels[mask][changed], edited_labels[mask][changed]) if changed.any() else None,
        "edited_class_recall": _weighted_rate(truth, guess, edited_labels[mask], edited_labels[mask]),
        "region_pixels": int(mask.sum()),
        "changed_pixels": int(changed.sum()),
    }


RECALL_SHIFT = 32
"""Pixels the original is moved by to measure what two different places of one image score (``recall_report``)."""


def recall_report(result: np.ndarray, original: np.ndarray, generated: np.ndarray, changed: np.ndarray, mask: np.ndarray) -> dict:
    """Is the removed object drawn again from memory? A check that needs no segmenter: the result's SSIM to the
    original over the pixels whose class the edit changed (``recalled``), read between two references.

    - ``memorised``: the generated image's SSIM to the original outside the mask (where it was drawn), what a drawing
      from memory scores;
    - ``unrelated``: the original's SSIM to itself moved by ``RECALL_SHIFT`` pixels over the same changed pixels, what
      two different places of the image score.

    A removed building painted back from memory reads near ``memorised``; new content near ``unrelated``. The
    changed pixels are taken 5 pixels in from their edge (half the SSIM window) when enough remain, so the window
    does not reach the unchanged surroundings. All three are None when no pixel changed class.

    Args:
        result, original, generated: HxWx3 uint8.
        changed: HxW bool, the pixels whose class the edit changed.
        mask: HxW bool, the region that was regenerated.
    """
    none = {"recalled": None, "memorised": None, "unrelated": None}
    if not changed.any() or (~mask).sum() < 100:
        return none
    inner = cv2.erode(changed.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    where = inner if inner.sum() >= 50 else changed
    moved = np.roll(original, (RECALL_SHIFT, RECALL_SHIFT), axis=(0, 1))
    drawn = ~mask & (generated != original).any(axis=2)  # a tiled run's generated image is the original outside its tiles
    return {
        "recalled": round(float(ssim_map(result, original)[where].mean()), 4),
        "memorised": round(float(ssim_map(generated, original)[drawn].mean()), 4) if drawn.any() else None,
        "unrelated": round(float(ssim_map(moved, original)[where].mean()), 4),
    }
