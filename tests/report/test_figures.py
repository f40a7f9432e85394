"""Robustness figures: the PNG is written where asked, and the mean accuracy per detector and operation."""

from __future__ import annotations

import math

import pytest

from cimgen.io.images import image_size, read_image
from cimgen.report.figures import mean_accuracy, robustness_figure

ROWS = [
    {"detector": "cnn", "operation": "jpeg", "strength": 90, "accuracy": 0.9, "auc": 0.95},
    {"detector": "cnn", "operation": "jpeg", "strength": 50, "accuracy": 0.7, "auc": 0.8},
    {"detector": "svm", "operation": "jpeg", "strength": 90, "accuracy": 0.6, "auc": 0.65},
    {"detector": "svm", "operation": "jpeg", "strength": 50, "accuracy": 0.5, "auc": 0.55},
    {"detector": "cnn", "operation": "blur", "strength": 1.0, "accuracy": 0.8, "auc": 0.85},
]


def test_robustness_figure_writes_a_png_and_nothing_else(tmp_path):
    path = robustness_figure(ROWS, "jpeg", tmp_path / "figs" / "jpeg.png", title="JPEG", strength="quality")
    assert path == tmp_path / "figs" / "jpeg.png"
    assert [p.name for p in path.parent.iterdir()] == ["jpeg.png"]  # no temporary file left beside it
    # figsize 10 x 3.8 inches at 110 dpi
    assert image_size(path) == (418, 1100)
    picture = read_image(path)
    assert picture.shape == (418, 1100, 3) and picture.std() > 0


def test_robustness_figure_takes_a_string_path(tmp_path):
    path = robustness_figure(ROWS, "blur", str(tmp_path / "blur.png"))
    assert path == tmp_path / "blur.png" and path.is_file()


@pytest.mark.parametrize(
    ("detector", "operation", "expected"),
    [("cnn", "jpeg", 0.8), ("svm", "jpeg", 0.55), ("cnn", "blur", 0.8)],
)
def test_mean_accuracy_averages_over_the_strengths(detector, operation, expected):
    assert mean_accuracy(ROWS, detector, operation) == pytest.approx(expected, abs=1e-12)


def test_mean_accuracy_of_nothing_is_nan():
    assert math.isnan(mean_accuracy(ROWS, "svm", "blur"))
    assert math.isnan(mean_accuracy([], "cnn", "jpeg"))
