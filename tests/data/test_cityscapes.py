"""Cityscapes: the official tree, its palette both ways, and unlabeled (255) pixels in every format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.config import from_dict, to_dict
from cimgen.data.paired import DataConfig, LabelDataset, PairedDataset, edge_channels, remap_labels
from cimgen.errors import CimgenError
from cimgen.io.images import read_id_map, read_label_map, write_image, write_label_map
from cimgen.palette import CITYSCAPES_PALETTE, Palette, canonical_ids, colors_to_labels, labels_to_colors
from tests.conftest import shared

FRAMES = ("aachen_000000_000019", "aachen_000001_000019")


def official_tree(tmp_path, frames=FRAMES):
    """The official gtFine/leftImg8bit layout, made of links to pix2pixHD's samples."""
    src = shared("cityscapes-samples")
    gt, photos = tmp_path / "gtFine" / "train" / "aachen", tmp_path / "leftImg8bit" / "train" / "aachen"
    gt.mkdir(parents=True)
    photos.mkdir(parents=True)
    for f in frames:
        (gt / f"{f}_gtFine_labelIds.png").symlink_to(src / "train_label" / f"{f}_gtFine_labelIds.png")
        (gt / f"{f}_gtFine_instanceIds.png").symlink_to(src / "train_inst" / f"{f}_gtFine_instanceIds.png")
        (photos / f"{f}_leftImg8bit.png").symlink_to(src / "train_img" / f"{f}_leftImg8bit.png")
    return tmp_path


def test_real_official_tree(tmp_path):
    root = official_tree(tmp_path)
    cfg = DataConfig(root=str(root), format="cityscapes", label_nc=35, crop_size=128)
    ds = PairedDataset(cfg, seed=2)
    assert len(ds) == 2 and ds.name(0) == "aachen/aachen_000000_000019"
    assert ds.palette == CITYSCAPES_PALETTE and edge_channels(cfg) == 1
    item = ds[1]
    assert item["label"].shape == (128, 128) and item["image"].shape == (3, 128, 128) and item["edge"].shape == (1, 128, 128)
    labels, image = ds.load(0)
    assert np.array_equal(labels, read_label_map(root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png"))
    assert labels.max() <= 33 and image.shape == (1024, 2048, 3)
    assert np.array_equal(ds.instances(0), read_id_map(root / "gtFine/train/aachen/aachen_000000_000019_gtFine_instanceIds.png"))
    # Label-only reading needs no leftImg8bit at all.
    (root / "leftImg8bit" / "train" / "aachen" / "aachen_000001_000019_leftImg8bit.png").unlink()
    assert LabelDataset(cfg)[1]["name"] == "aachen/aachen_000001_000019"
    with pytest.raises(CimgenError, match="'aachen_000001_000019' has no matching image"):
        PairedDataset(cfg)


def test_official_tree_errors(tmp_path):
    root = official_tree(tmp_path, FRAMES[:1])
    cfg = DataConfig(root=str(root), format="cityscapes", label_nc=35)
    with pytest.raises(CimgenError, match="has no gtFine/val folder"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "split": "val"}))
    with pytest.raises(CimgenError, match="outside the configured 6 classes"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "label_nc": 6})).check_all()
    (root / "gtFine/train/aachen/aachen_000000_000019_gtFine_instanceIds.png").unlink()
    with pytest.raises(CimgenError, match="label map 'aachen_000000_000019' has no instance map"):
        PairedDataset(cfg)
    assert len(PairedDataset(DataConfig(**{**cfg.__dict__, "use_instances": False}))) == 1


def test_real_cityscapes_palette_both_ways():
    labels = read_label_map(shared("cityscapes-samples/train_label/aachen_000000_000019_gtFine_labelIds.png"))[::4, ::4]
    colours = labels_to_colors(labels, CITYSCAPES_PALETTE)
    assert tuple(colours[labels == 7][0]) == (128, 64, 128)  # road
    back = colors_to_labels(colours, CITYSCAPES_PALETTE)
    # Ids 0-4 share black and 17/18 share grey, so colours give the first id of each colour back.
    assert np.array_equal(back, canonical_ids(CITYSCAPES_PALETTE)[labels])
    shared_ids = np.isin(labels, [1, 2, 3, 4, 18])
    assert shared_ids.any() and np.all(back[shared_ids & (labels <= 4)] == 0)
    assert np.array_equal(back[~shared_ids], labels[~shared_ids])
    assert list(canonical_ids(CITYSCAPES_PALETTE)[:6]) == [0, 0, 0, 0, 0, 5]


def test_colour_label_folder_through_a_palette_file(tmp_path):
    palette = Palette(names=("grass", "path", "pond"), colors=((40, 160, 40), (200, 180, 120), (30, 60, 200)))
    (tmp_path / "my_palette.json").write_text(json.dumps(palette.to_dict()))
    rng = np.random.default_rng(1)
    labels = {n: rng.integers(0, 3, (10, 14)) for n in ("p", "q")}
    for name, lab in labels.items():
        write_image(tmp_path / "maps" / f"{name}.png", labels_to_colors(lab, palette))
        write_image(tmp_path / "photos" / f"{name}.png", rng.integers(0, 256, (10, 14, 3), dtype=np.uint8))
    cfg = DataConfig(root=str(tmp_path), label_dir="maps", image_dir="photos", label_nc=3, palette=str(tmp_path / "my_palette.json"))
    ds = PairedDataset(cfg, training=False)
    assert ds.palette == palette
    assert np.array_equal(ds[1]["label"].numpy(), labels["q"])
    odd = labels_to_colors(labels["p"], palette).copy()
    odd[2, 3] = (255, 0, 255)
    write_image(tmp_path / "maps" / "p.png", odd)
    with pytest.raises(CimgenError, match=r"colour \(255, 0, 255\) at pixel \(x=3, y=2\)"):
        PairedDataset(cfg).check_all()


def test_unlabeled_255_becomes_ignore_to_in_every_file_format(tmp_path):
    raw = np.array([[0, 1, 255], [2, 255, 1]])
    write_label_map(tmp_path / "labels" / "a.png", raw)
    write_image(tmp_path / "images" / "a.png", np.zeros((2, 3, 3), np.uint8))
    cfg = DataConfig(root=str(tmp_path), label_nc=3, flip=False)
    assert np.array_equal(PairedDataset(cfg).load(0)[0], np.where(raw == 255, 0, raw))
    assert np.array_equal(PairedDataset(DataConfig(**{**cfg.__dict__, "ignore_to": 2})).load(0)[0], np.where(raw == 255, 2, raw))
    with pytest.raises(CimgenError, match=r"has label 255 at pixel \(x=2, y=0\), outside the configured 3 classes"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "ignore_label": -1})).check_all()
    with pytest.raises(CimgenError, match="ignore_label 2 is one of the 3 classes"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "ignore_label": 2}))
    with pytest.raises(CimgenError, match=r"ignore_to 3 is outside the 3 classes \(0..2\)"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "ignore_to": 3}))


def test_label_values_map_stored_values_to_classes():
    raw = np.array([[0, 255, 255], [0, 128, 0]], np.uint8)
    with pytest.raises(CimgenError, match=r"value 128 at pixel \(x=1, y=1\), which is not one of label_values \[0, 255\]"):
        remap_labels(raw, num_classes=2, values=(0, 255))
    assert np.array_equal(remap_labels(raw, num_classes=3, values=(0, 255, 128)), [[0, 1, 1], [0, 2, 0]])
    # An unlisted ignore value still becomes ignore_to.
    assert np.array_equal(remap_labels(raw, num_classes=2, values=(0, 128), ignore_label=255, ignore_to=0), [[0, 0, 0], [0, 1, 0]])
    with pytest.raises(CimgenError, match="label_values lists 3 classes but label_nc is 2"):
        PairedDataset(DataConfig(root=".", label_nc=2, label_values=(0, 1, 2)))
    with pytest.raises(CimgenError, match="distinct non-negative"):
        PairedDataset(DataConfig(root=".", label_values=(0, 0)))


def test_real_coco_stuff_unlabeled_as_spade_does():
    root = shared("spade-coco-stuff-samples")
    # SPADE: label_nc 182 plus a don't-care class that the stored 255 becomes.
    cfg = DataConfig(root=str(root), format="pix2pixhd", phase="val", label_nc=183, ignore_to=182)
    ds = PairedDataset(cfg, training=False)
    assert len(ds) == 8 and ds.with_edges
    labels, image = ds.load(0)
    raw = read_label_map(root / "val_label" / f"{ds.name(0)}.png")
    assert (raw == 255).any() and np.array_equal(labels == 182, raw == 255)
    assert labels.shape == image.shape[:2] and labels.max() == 182
    item = ds[0]
    assert item["edge"].shape == (1, *labels.shape) and item["edge"].sum() > 0


def test_new_options_load_from_yaml_dicts():
    cfg = from_dict(DataConfig, {"format": "tiles", "label_values": [0, 255], "tile_size": 256, "tile_edge": "pad", "phase": "val"})
    assert cfg.label_values == (0, 255) and cfg.tile_size == 256 and cfg.split == "train"
    assert to_dict(cfg)["label_values"] == [0, 255]
    with pytest.raises(CimgenError, match="unknown key 'tile'"):
        from_dict(DataConfig, {"tile": 3})
    with pytest.raises(CimgenError, match="unknown dataset format 'coco'; choose one of folders, ab, pix2pixhd, cityscapes, tiles"):
        PairedDataset(DataConfig(root=".", format="coco"))
