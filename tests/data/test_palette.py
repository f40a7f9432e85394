"""Palettes: colour maps to labels and back, and clear errors for unknown colours and labels."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.data.palette import SYNTH_PALETTE, Palette, check_labels, colors_to_labels, labels_to_colors
from cimgen.errors import CimgenError


def test_round_trip():
    labels = np.random.default_rng(0).integers(0, 6, (20, 30))
    assert np.array_equal(colors_to_labels(labels_to_colors(labels, SYNTH_PALETTE), SYNTH_PALETTE), labels)


def test_near_colours_snap_within_tolerance_and_fail_beyond():
    rgb = labels_to_colors(np.array([[0, 1], [2, 3]]), SYNTH_PALETTE).copy()
    rgb[0, 1] = (250, 252, 249)  # anti-aliased road white
    assert colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)[0, 1] == 1
    rgb[1, 0] = (255, 0, 0)
    with pytest.raises(CimgenError, match=r"colour \(255, 0, 0\) at pixel \(x=0, y=1\)"):
        colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)


def test_label_out_of_range_names_label_and_place():
    labels = np.zeros((4, 5), np.int64)
    labels[2, 3] = 9
    with pytest.raises(CimgenError, match=r"label 9 at pixel \(x=3, y=2\), outside the configured 6 classes"):
        check_labels(labels, 6)


def test_class_lookup_and_validation():
    assert SYNTH_PALETTE.class_id("building") == 2 and SYNTH_PALETTE.class_id("3") == 3
    with pytest.raises(CimgenError, match="unknown class 'house'"):
        SYNTH_PALETTE.class_id("house")
    with pytest.raises(CimgenError, match="one colour per class"):
        Palette(names=("a", "b"), colors=((0, 0, 0),))
    assert Palette.from_dict(SYNTH_PALETTE.to_dict()) == SYNTH_PALETTE
