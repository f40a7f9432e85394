"""benchmarks/redraw_edits.py: a memorised edit drawn again before and after the shadows and the bands."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cimgen.io.images import write_image, write_label_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paper_table as table
import redraw_edits as bench


def _shaded_pair(folder: Path) -> Path:
    """A 64x64 tile with two buildings, each casting a dark shadow down and to the right onto lit ground, beside a
    road and a field (classes around the edit for the inside scores' judge)."""
    rng = np.random.default_rng(0)
    labels = np.zeros((64, 64), np.uint8)
    gray = np.full((64, 64), 130.0)
    labels[:, 58:], gray[:, 58:] = table.ROAD, 80
    labels[56:, :50], gray[56:, :50] = table.VEGETATION, 100
    houses = [(8, 8), (30, 30)]
    for y, x in houses:
        for t in range(1, 6):
            gray[y + t : y + 16 + t, x + t : x + 16 + t] = 45
    for y, x in houses:
        labels[y : y + 16, x : x + 16] = table.BUILDING
        gray[y : y + 16, x : x + 16] = 210
    photo = np.clip(gray[..., None] * np.array([1.0, 0.95, 0.8]) + rng.normal(0, 6, (64, 64, 3)), 0, 255).astype(np.uint8)
    write_label_map(folder / "labels" / "tile.png", labels)
    write_image(folder / "images" / "tile.png", photo)
    return folder


def test_the_same_generator_draws_the_edit_before_and_with_the_shadow(tmp_path):
    data = _shaded_pair(tmp_path / "data" / "building2sat")
    box = table.edit_box(data, "tile", table.BUILDING, 160)
    table.memorise_edit(data, "tile", "building", box, tmp_path / "edits" / "building2sat" / "tile", whole=True, steps=2)
    (tmp_path / "edits" / "map2sat" / "unfinished").mkdir(parents=True)  # no fine-tune kept: left out
    assert [(r, n) for r, n, _ in bench.edits_of(tmp_path)] == [("building2sat", "tile")]
    scores, crops = bench.redrawn("building2sat", "tile", tmp_path / "edits" / "building2sat" / "tile", data)
    assert set(scores) == set(bench.VARIANTS)
    before, shadows, one, uncut, default, rows = (scores[v] for v in bench.VARIANTS)
    assert before["shadow"] is None and shadows["shadow"]["found"] and shadows["shadow"]["direction"] == 45.0
    assert shadows["mask_pixels"] > before["mask_pixels"]
    # seen from above, no bands: today's default is the shadows' variant, its mask cut at most SEAM_CUT pixels in
    assert default["bands"] == shadows["bands"] == 0
    assert one["mask_pixels"] == uncut["mask_pixels"] == shadows["mask_pixels"] >= default["mask_pixels"]
    assert bench.resample.SHARED_TRIES > 0  # the one-source variant's setting does not outlive it
    # seen from above, a street view's pieces change nothing: the rows variant draws today's default
    assert {k: v for k, v in rows.items() if k != "seconds"} == {k: v for k, v in default.items() if k != "seconds"}
    assert bench.resample.STREET_PIECES is False  # the rows variant's setting does not outlive it
    for s in scores.values():
        assert 0 <= s["faithful"] <= 1 and s["seam"] > 0 and s["checkerboard"] > 0
    assert len(crops) == 1 + len(bench.VARIANTS) and len({c.shape for c in crops}) == 1
    line = bench.table_line("building2sat/tile", scores)
    assert line.count("|") == bench.COLUMNS.splitlines()[0].count("|") and "45 deg" in line and line.count(" -> ") >= 25
