"""benchmarks/faithful_judges.py's core on a synthetic two-class picture: every draw of the judge tells a faithful edit
from one that left the old class in place, and the class-by-class reading names what the wrong pixels were taken for."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cimgen.edit.pipeline import INSIDE_CONTEXT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import faithful_judges as bench


def test_each_judge_tells_a_faithful_edit_from_an_unfaithful_one():
    rng = np.random.default_rng(0)
    h, w = 64, 128
    labels = np.zeros((h, w), np.int64)
    labels[:, w // 2 :] = 1
    red = np.clip(rng.normal((170, 60, 50), 12, (h, w, 3)), 0, 255)
    green = np.clip(rng.normal((60, 150, 70), 12, (h, w, 3)), 0, 255)
    photo = np.where(labels[..., None] == 1, green, red).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[20:44, 16:40] = True  # inside the red class, turned green by the edit
    edited = np.where(mask, 1, labels)
    good, bad = photo.copy(), photo.copy()
    good[mask] = green[mask].astype(np.uint8)
    r = bench.judged(photo, labels, edited, mask, {"good": good, "bad": bad}, seeds=2, names=["red", "green"])
    assert [row["seed"] for row in r["by_seed"]] == [0, 1]
    for row in r["by_seed"]:
        assert row["good"] > 0.9 and row["bad"] < 0.1 and row["held_out_accuracy"] > 0.9
    assert r["by_class_seed0"]["bad"]["green"]["else"] == "red"
    assert r["by_class_seed0"]["good"]["green"]["pixels"] == int(mask.sum()) == r["region_pixels"]


def test_the_context_is_the_mask_box_and_its_surroundings_within_the_image():
    mask = np.zeros((300, 400), bool)
    mask[10:20, 350:360] = True
    rows, cols = bench.inside_context(mask)  # the window cimgen.edit.pipeline.inside_metrics fits its judge on
    assert (rows.start, rows.stop) == (0, min(300, 20 + INSIDE_CONTEXT))
    assert (cols.start, cols.stop) == (350 - INSIDE_CONTEXT, 400)
