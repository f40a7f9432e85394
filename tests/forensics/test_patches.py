"""Patch datasets: non-overlapping patches, balanced, split by scene, stored as memory-mapped arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.forensics.patches import (
    PatchDataset,
    PatchDatasetConfig,
    Source,
    build_patch_dataset,
    grid_patches,
    load_split,
    sources_from_folders,
    sources_from_runs,
    split_sources,
)
from cimgen.io.images import write_image


def test_grid_patches_are_the_non_overlapping_tiles():
    img = np.arange(130 * 70 * 3, dtype=np.uint32).reshape(130, 70, 3).astype(np.uint8)
    p = grid_patches(img, 32)
    assert p.shape == (4 * 2, 32, 32, 3) and p.dtype == np.uint8
    assert np.array_equal(p[0], img[:32, :32]) and np.array_equal(p[1], img[:32, 32:64]) and np.array_equal(p[2], img[32:64, :32])
    assert grid_patches(img[:20], 32).shape == (0, 32, 32, 3)


def test_dataset_is_balanced_split_by_scene_and_readable(patch_dataset):
    meta = json.loads((patch_dataset / "dataset.json").read_text())
    train_names = {s["name"] for s in meta["sources"] if s["split"] == "train"}
    val_names = {s["name"] for s in meta["sources"] if s["split"] == "val"}
    assert train_names and val_names and not train_names & val_names
    for split, names in (("train", train_names), ("val", val_names)):
        patches, labels, owners = load_split(patch_dataset, split)
        assert patches.shape[1:] == (64, 64, 3) and patches.dtype == np.uint8
        assert (labels == 0).sum() == (labels == 1).sum() > 0
        assert {meta["sources"][i]["name"] for i in np.unique(owners)} == names
    # 128x128 scenes give 4 patches each, pristine and generated alike: nothing is dropped to balance.
    assert meta["splits"]["train"]["patches"] == 8 * len(train_names)
    ds = PatchDataset(patch_dataset, "train")
    item = ds[0]
    assert item["patch"].shape == (3, 64, 64) and item["patch"].dtype.is_floating_point is False
    assert float(item["label"]) in (0.0, 1.0)


def test_patches_are_the_images_pixels(forgery_set, patch_dataset):
    from cimgen.io.images import read_image

    meta = json.loads((patch_dataset / "dataset.json").read_text())
    patches, labels, owners = load_split(patch_dataset, "val")
    i = int(np.flatnonzero(labels == 1)[0])
    src = meta["sources"][int(owners[i])]
    cut = grid_patches(read_image(src["generated"][0]), 64)
    assert any(np.array_equal(patches[i], c) for c in cut)


def test_split_needs_two_scenes_and_a_sane_fraction():
    s = [Source("a", ("a.png",), ("a_g.png",))]
    with pytest.raises(CimgenError, match="at least 2 source images"):
        split_sources(s, 0.1, 0)
    with pytest.raises(CimgenError, match="val_fraction"):
        split_sources(s * 3, 1.5, 0)
    two = split_sources([Source(n, (), ()) for n in "abcdefghij"], 0.2, 0)
    assert len(two["val"]) == 2 and len(two["train"]) == 8 and not set(two["val"]) & set(two["train"])


def test_folders_pair_by_stem_and_versions(tmp_path):
    img = np.zeros((64, 64, 3), np.uint8)
    for name in ("p/x.png", "p/y.png", "g/x.png", "g/y_v2.png", "g/y_v3.png"):
        write_image(tmp_path / name, img)
    s = {src.name: src for src in sources_from_folders(tmp_path / "p", tmp_path / "g")}
    assert set(s) == {"x", "y"} and len(s["y"].generated) == 2


def test_bad_inputs_say_one_sentence(tmp_path, forgery_set):
    small = tmp_path / "small"
    write_image(small / "p" / "a.png", np.zeros((40, 40, 3), np.uint8))
    write_image(small / "p" / "b.png", np.zeros((40, 40, 3), np.uint8))
    write_image(small / "g" / "a.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(CimgenError, match="smaller than one 64x64 patch"):
        build_patch_dataset(sources_from_folders(small / "p", small / "g"), tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CimgenError, match="not empty"):
        build_patch_dataset(sources_from_folders(forgery_set / "pristine", forgery_set / "generated"), tmp_path / "full")
    with pytest.raises(CimgenError, match="not a manipulation run"):
        sources_from_runs([tmp_path])
    with pytest.raises(CimgenError, match="not a patch dataset"):
        load_split(tmp_path, "train")


def test_damaged_arrays_are_refused(patch_dataset, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(patch_dataset, bad)
    np.save(bad / "val" / "labels.npy", np.zeros(3, np.uint8))
    with pytest.raises(CimgenError, match="damaged"):
        load_split(bad, "val")
    (bad / "train" / "patches.npy").write_bytes(b"not numpy")
    with pytest.raises(CimgenError, match="cannot be read"):
        load_split(bad, "train")


def test_manipulation_runs_are_sources(tmp_path, forgery_set):
    import shutil

    runs = []
    for name in ("tile_00000", "tile_00001"):
        run = tmp_path / f"run-{name}"
        run.mkdir()
        shutil.copy(forgery_set / "pristine" / f"{name}.png", run / "original.png")
        shutil.copy(forgery_set / "generated" / f"{name}.png", run / "generated.png")
        runs.append(run)
    sources = sources_from_runs(runs)
    assert [s.name for s in sources] == ["run-tile_00000", "run-tile_00001"]
    ds = build_patch_dataset(sources, tmp_path / "ds", PatchDatasetConfig(val_fraction=0.5))
    meta = json.loads((ds / "dataset.json").read_text())
    assert meta["splits"]["train"]["patches"] == 8 and meta["splits"]["val"]["patches"] == 8
