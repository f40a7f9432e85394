"""The inside-the-edit scores: a region drawn as the edited map says scores faithful; one drawn as before scores painted back."""

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.metrics.faithful import inside_report, pixel_features


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    h, w = 96, 128
    labels = np.zeros((h, w), np.int32)
    labels[:, 64:] = 1
    labels[20:40, 10:30] = 1  # a "building" on the lawn
    lawn = np.stack([rng.normal(60, 12, (h, w)), rng.normal(140, 15, (h, w)), rng.normal(50, 10, (h, w))], 2)
    roof = np.stack([rng.normal(170, 4, (h, w))] * 3, 2)
    image = np.where(labels[..., None] == 0, lawn, roof).clip(0, 255).astype(np.uint8)
    return image, labels, lawn.clip(0, 255).astype(np.uint8), roof.clip(0, 255).astype(np.uint8)


def test_a_removed_object_drawn_as_lawn_is_faithful_and_one_drawn_again_is_painted_back():
    image, labels, lawn, roof = _scene()
    edited = labels.copy()
    edited[20:40, 10:30] = 0  # remove the building
    mask = np.zeros(labels.shape, bool)
    mask[17:43, 7:33] = True
    good = image.copy()
    good[mask] = lawn[mask]
    bad = image.copy()
    bad[20:40, 10:30] = roof[20:40, 10:30]  # the building painted back where it was
    r_good = inside_report(good, image, labels, edited, mask)
    r_bad = inside_report(bad, image, labels, edited, mask)
    assert r_good["segmenter_accuracy"] > 0.95 and r_good["changed_class_recall"] > 0.95
    assert r_good["faithful"] > 0.9 and r_good["painted_back"] < 0.1
    assert r_bad["painted_back"] > 0.9 and r_bad["faithful"] < 0.5
    assert r_good["region_pixels"] == mask.sum() and r_good["changed_pixels"] == 400


def test_inside_scores_without_a_region_or_with_one_class_say_so():
    image, labels, _, _ = _scene()
    empty = inside_report(image, image, labels, labels, np.zeros(labels.shape, bool))
    assert empty["faithful"] is None and empty["region_pixels"] == 0
    mask = np.zeros(labels.shape, bool)
    mask[:8, :8] = True
    with pytest.raises(CimgenError, match="one class outside the edit"):
        inside_report(image, image, np.zeros_like(labels), np.zeros_like(labels), mask)
    with pytest.raises(CimgenError, match="too few pixels"):
        inside_report(image, image, labels, labels, np.ones(labels.shape, bool))
    assert pixel_features(image).shape == (*labels.shape, 21)
    with pytest.raises(CimgenError, match="HxWx3 uint8"):
        pixel_features(image[..., 0])


def test_the_ceiling_of_faithful_is_the_segmenters_recall_of_the_edited_classes():
    image, labels, lawn, _ = _scene()
    edited = labels.copy()
    edited[20:40, 10:30] = 0
    mask = np.zeros(labels.shape, bool)
    mask[17:43, 7:33] = True
    good = image.copy()
    good[mask] = lawn[mask]
    assert inside_report(good, image, labels, edited, mask)["edited_class_recall"] > 0.95  # lawn is told apart
    # half of the lawn, in 8-pixel squares, is called a third class, and the building becomes that class: the
    # segmenter cannot tell the two apart, so neither faithful nor its ceiling can be high, and they agree
    checker = (np.indices(labels.shape) // 8).sum(0) % 2 == 1
    twin = np.where((labels == 0) & checker, 2, labels)
    r = inside_report(good, image, twin, np.where(edited != labels, 2, twin), mask)
    assert r["edited_class_recall"] < 0.8 and abs(r["faithful"] - r["edited_class_recall"]) < 0.15, r
