"""benchmarks/paper_table.py's memorise rows: each edit made as ``cimgen manipulate --finetune`` makes it, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cimgen.io.images import read_image, write_image, write_label_map

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paper_table as bench


def _pair(folder: Path) -> Path:
    """A 64x64 ground/building/road pair with a textured photo, as the prep functions write them."""
    rng = np.random.default_rng(0)
    labels = np.zeros((64, 64), np.uint8)
    labels[8:28, 8:28] = bench.BUILDING
    labels[36:56, 30:54] = bench.BUILDING
    labels[:, 30:34] = bench.ROAD
    colours = np.array([[120, 110, 90], [70, 70, 70], [190, 60, 50], [40, 60, 150], [60, 120, 50]], float)
    photo = np.clip(colours[np.minimum(labels, 4)] + rng.normal(0, 10, (64, 64, 3)), 0, 255).astype(np.uint8)
    write_label_map(folder / "labels" / "tile.png", labels)
    write_image(folder / "images" / "tile.png", photo)
    return folder


def test_memorise_edit_fine_tunes_on_the_image_removes_and_resumes(tmp_path):
    data = _pair(tmp_path / "data")
    box = bench.edit_box(data, "tile", bench.BUILDING, 32)
    out = tmp_path / "edits" / "tile"
    metrics = bench.memorise_edit(data, "tile", "building", box, out, whole=True, steps=2)
    assert metrics["finetune_steps"] == 2 and metrics["finetune_recipe"] == "memorise"
    assert metrics["codes_inside"]["treatment"] == "resample"
    assert json.loads((out / "benchmark.json").read_text())["wall_seconds"] == metrics["wall_seconds"] > 0
    original, result = read_image(out / "original.png"), read_image(out / "result.png")
    mask = read_image(out / "mask.png")
    mask = (mask if mask.ndim == 2 else mask[..., 0]) > 0
    assert mask.any() and np.array_equal(original[~mask], result[~mask])  # pixels outside the edit stay the original's
    # the protocol reads the folder the table scores
    from cimgen.metrics.protocol import pairs_from_source

    assert len(pairs_from_source(out.parent)) == 1
    # run again: the edit is read back, not made again
    stamp = (out / "result.png").stat().st_mtime_ns
    again = bench.memorise_edit(data, "tile", "building", box, out, whole=True, steps=2)
    assert again["finetune_steps"] == 2 and (out / "result.png").stat().st_mtime_ns == stamp
    assert again["wall_seconds"] == metrics["wall_seconds"]


def test_memorised_edits_carry_their_inside_scores_kept_beside_them(tmp_path):
    data = _pair(tmp_path / "data")
    labels = np.asarray(Image.open(data / "labels" / "tile.png")).copy()
    labels[44:64, :24] = bench.VEGETATION  # more classes around the edit, for the inside scores' segmenter
    labels[:6, 40:64] = bench.WATER
    write_label_map(data / "labels" / "tile.png", labels)
    box = bench.edit_box(data, "tile", bench.BUILDING, 32)
    out = tmp_path / "edits" / "tile"
    metrics = bench.memorise_edit(data, "tile", "building", box, out, whole=True, steps=2)
    inside = metrics["inside"]
    assert 0 <= inside["faithful"] <= 1 and inside["region_pixels"] == int(metrics["mask_area_pixels"])
    assert json.loads((out / "inside.json").read_text()) == inside
    again = bench.memorise_edit(data, "tile", "building", box, out, whole=True, steps=2)  # read back, not fitted again
    assert again["inside"] == inside
    line = bench.edit_row("b2s/tile", again)
    assert line.startswith("| b2s/tile |") and f"{inside['faithful']:.3f}" in line
    assert line.count("|") == bench.EDIT_COLUMNS.count("|")
    # an edit around which the map has one class: no inside scores, one sentence why, and the edit kept
    (out / "inside.json").unlink()
    write_label_map(data / "labels" / "tile.png", np.where(labels == bench.BUILDING, bench.BUILDING, bench.GROUND).astype(np.uint8))
    alone = bench.inside_of(out, data / "labels" / "tile.png")
    assert "one class outside the edit" in alone["not_scored"] and (out / "result.png").is_file()
    assert "n/a" in bench.edit_row("b2s/tile", {**again, "inside": alone})
