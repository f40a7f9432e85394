"""benchmarks/detector_fidelity.py's core on a tiny synthetic pair: a generator that returns the photo cannot be told apart, a flat one can."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cimgen.forensics.patches import load_split, read_dataset_info, strided_patches

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import detector_fidelity as bench

TINY = bench.TaskOptions(patch=32, stride=8, gap=32, width=4, epochs=2, batch_size=32, lr=1e-3, seed=0)


def _photo(height: int = 96, width: int = 192) -> np.ndarray:
    """A textured stand-in for a photo: smooth colour blobs plus pixel noise."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(40, 215, size=(height // 16 + 1, width // 16 + 1, 3))
    smooth = np.kron(coarse, np.ones((16, 16, 1)))[:height, :width]
    return np.clip(smooth + rng.normal(0, 12, size=(height, width, 3)), 0, 255).astype(np.uint8)


def test_bands_never_share_a_pixel_and_the_test_band_follows_the_side():
    opts = bench.TaskOptions()
    left = bench.bands(600, opts, "left")
    assert left == {"train": (0, 330), "val": (394, 600)}
    right = bench.bands(600, opts, "right")
    assert right == {"train": (270, 600), "val": (0, 206)}
    with pytest.raises(ValueError, match="no room"):
        bench.bands(200, opts, "left")


def test_strided_patches_are_the_image_on_the_grid():
    image = np.arange(40 * 50 * 3, dtype=np.uint32).reshape(40, 50, 3).astype(np.uint8)
    p = strided_patches(image, 16, 8)
    assert p.shape == (4 * 5, 16, 16, 3)  # origins 0, 8, 16, 24 down and 0 .. 32 across
    assert np.array_equal(p[6], image[8:24, 8:24])  # row 1, column 1


def test_the_photo_itself_scores_chance_and_a_flat_image_is_caught(tmp_path):
    photo = _photo()
    _, same = bench.detector_task(photo, photo.copy(), tmp_path / "same", TINY)
    model, flat = bench.detector_task(photo, np.full_like(photo, 128), tmp_path / "flat", TINY)
    # Identical patches under both labels get identical scores: the AUC is exactly chance.
    assert same["auc"] == pytest.approx(0.5, abs=1e-9)
    assert flat["auc"] >= 0.95 and flat["accuracy"] > 0.5  # accuracy at 0.5 lags after 2 epochs (batch-norm statistics)
    assert len(flat["auc_by_epoch"]) == TINY.epochs and flat["auc_by_epoch"][-1] == pytest.approx(flat["auc"], abs=1e-4)
    assert same["train_columns"] == [0, 106] and same["test_columns"] == [138, 192]
    info = read_dataset_info(tmp_path / "flat" / "patches")
    assert info["columns"] == {"train": [0, 106], "val": [138, 192]}
    _, labels, _ = load_split(tmp_path / "flat" / "patches", "val")
    assert flat["test_patches"] == len(labels) == 2 * 9 * 3  # 9 rows and 3 columns of origins in a 54-px band, both classes
    # Localisation of a flat square pasted into the test band: the detector's heatmap finds it.
    forgery, mask = photo.copy(), np.zeros(photo.shape[:2], bool)
    mask[24:72, 140:188] = True
    forgery[mask] = 128
    local = bench.localisation(model, forgery, mask, tuple(flat["test_columns"]), stride=4)
    assert local["detector"]["pixel_auc"] >= 0.9
    assert set(local) == {*bench.METHODS, "mask_in_test_band"} and local["mask_in_test_band"] == 1.0


def test_a_variant_counts_only_once_fidelity_finished_it(tmp_path):
    early, late = tmp_path / "early", tmp_path / "late"
    for folder in (early, late):
        (folder / "windows" / "checkpoints" / "epoch-0060").mkdir(parents=True)
    (early / "results.jsonl").write_text("")  # still training: checkpoints but no line
    assert bench.find_run([early, late], "windows") is None
    (late / "results.jsonl").write_text('{"variant": "windows"}\n')
    assert bench.find_run([early, late], "windows") == late / "windows"


def test_the_map2sat_photo_is_matched_to_its_jpeg_file_and_the_other_pairs_are_not(tmp_path):
    from PIL import Image

    docs = tmp_path / "pix2pix-tf-samples" / "docs"
    docs.mkdir(parents=True)
    Image.fromarray(_photo(64, 128)).save(docs / "maps.jpg", quality=75)
    compression = bench.pair_compression("map2sat", tmp_path)
    assert compression is not None and compression.subsampling == 2 and len(compression.tables) == 2
    assert bench.pair_compression("building2sat", tmp_path) is None and bench.pair_compression("cityscapes", tmp_path) is None
