"""Paired datasets: folders and AB images, augmentation, one-hot encoding, and input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cimgen.data.paired import DataConfig, PairedDataset, one_hot
from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor, read_image, read_label_map, write_image, write_label_map
from cimgen.palette import SYNTH_PALETTE, Palette
from tests.conftest import shared


def test_folders_dataset_items(tiny_world):
    ds = PairedDataset(DataConfig(root=str(tiny_world), label_nc=6, crop_size=16, flip=True), seed=1)
    assert len(ds) == 4
    item = ds[0]
    assert item["label"].shape == (16, 16) and item["label"].dtype == torch.int64
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    # image and map are one 16x16 window (flipped or not) of the first pair, the image in [-1, 1]
    labels, image, _ = ds._read(0)
    h, w = labels.shape
    found = [
        (y, x, flip)
        for flip in (False, True)
        for y in range(h - 15)
        for x in range(w - 15)
        if torch.equal(item["image"], image_to_tensor(np.ascontiguousarray((image[:, ::-1] if flip else image)[y : y + 16, x : x + 16])))
    ]
    assert found
    assert any(np.array_equal(item["label"].numpy(), (labels[:, ::-1] if flip else labels)[y : y + 16, x : x + 16]) for y, x, flip in found)


def test_augmentation_is_deterministic_per_epoch_and_keeps_pairs_aligned(tiny_world):
    ds = PairedDataset(DataConfig(root=str(tiny_world), crop_size=16), seed=1)
    ds.set_epoch(2)
    a = ds[1]
    ds.set_epoch(3)
    ds.set_epoch(2)
    b = ds[1]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    crops = set()
    for e in range(8):
        ds.set_epoch(e)
        crops.add(ds[1]["image"].sum().item())
    assert len(crops) > 1
    # The crop of the image and the crop of the map come from the same place.
    labels, image = ds.load(1)
    item = ds[1]
    img = ((item["image"].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    found = False
    for y in range(48 - 16 + 1):
        for x in range(48 - 16 + 1):
            for flip in (False, True):
                li, ii = labels[y : y + 16, x : x + 16], image[y : y + 16, x : x + 16]
                if flip:
                    li, ii = li[:, ::-1], ii[:, ::-1]
                if np.array_equal(ii, img) and np.array_equal(li, item["label"].numpy()):
                    found = True
    assert found


def test_colour_maps_through_the_palette(tmp_path, tiny_world):
    for name in ("a", "b"):
        labels = read_label_map(tiny_world / "labels" / "tile_00000.png")
        write_image(tmp_path / "maps" / f"{name}.png", np.asarray(SYNTH_PALETTE.colors, np.uint8)[labels])
        write_image(tmp_path / "images" / f"{name}.png", read_image(tiny_world / "images" / "tile_00000.png"))
    ds = PairedDataset(DataConfig(root=str(tmp_path), label_dir="maps", crop_size=0, flip=False), training=False)
    assert np.array_equal(ds[0]["label"].numpy(), labels)


def test_ab_images_split_on_the_named_side(tmp_path, tiny_world):
    labels = read_label_map(tiny_world / "labels" / "tile_00001.png")
    image = read_image(tiny_world / "images" / "tile_00001.png")
    cmap = np.asarray(SYNTH_PALETTE.colors, np.uint8)[labels]
    write_image(tmp_path / "ab" / "x.png", np.concatenate([image, cmap], 1))
    ds = PairedDataset(DataConfig(root=str(tmp_path / "ab"), format="ab", map_side="right", crop_size=0, flip=False), training=False)
    item = ds[0]
    assert np.array_equal(item["label"].numpy(), labels)
    assert torch.equal(item["image"], torch.from_numpy(image.transpose(2, 0, 1).copy()).float() / 127.5 - 1)


def test_one_hot():
    lab = torch.tensor([[[0, 2], [1, 2]]])
    oh = one_hot(lab, 3)
    assert oh.shape == (1, 3, 2, 2) and torch.equal(oh.argmax(1), lab) and torch.all(oh.sum(1) == 1)
    with pytest.raises(CimgenError, match="outside 0..2"):
        one_hot(torch.tensor([[[3]]]), 3)


def test_bad_pairs_fail_with_one_sentence(tmp_path):
    write_label_map(tmp_path / "labels" / "a.png", np.zeros((8, 8), np.int64))
    write_image(tmp_path / "images" / "a.png", np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(CimgenError, match="image a.png is 10x8 but its map is 8x8"):
        PairedDataset(DataConfig(root=str(tmp_path))).check_all()
    write_image(tmp_path / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_label_map(tmp_path / "labels" / "b.png", np.full((8, 8), 7, np.int64))
    with pytest.raises(CimgenError, match="'b' has no matching image"):
        PairedDataset(DataConfig(root=str(tmp_path)))
    write_image(tmp_path / "images" / "b.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CimgenError, match="has label 7 .* outside the configured 6 classes"):
        PairedDataset(DataConfig(root=str(tmp_path), label_nc=6)).check_all()
    with pytest.raises(CimgenError, match="does not exist"):
        PairedDataset(DataConfig(root=str(tmp_path / "nope")))


def test_real_pix2pix_maps_pair_splits_into_photo_and_map(tmp_path):
    path = shared("pix2pix-tf-samples/docs/maps.jpg")
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "1.jpg").symlink_to(path)
    # A coarse web-map palette; JPEG noise and map text need a wide tolerance.
    pal = Palette(
        names=("background", "road", "park", "water", "highway"),
        colors=((235, 232, 226), (255, 255, 255), (200, 223, 170), (170, 200, 240), (250, 200, 100)),
    )
    (tmp_path / "pal.json").write_text(json.dumps(pal.to_dict()))
    cfg = DataConfig(root=str(tmp_path / "ab"), format="ab", map_side="right", label_nc=5, palette=str(tmp_path / "pal.json"), color_tolerance=450)
    labels, photo = PairedDataset(cfg, training=False).load(0)
    assert labels.shape == (600, 600) and photo.shape == (600, 600, 3)
    # The map half is bright and pale, the aerial photo darker and more varied.
    map_half = np.asarray(Image.open(path).convert("RGB"))[:, 600:]
    assert map_half.mean() > photo.mean() + 30
    assert (labels == 0).mean() > 0.3  # map background dominates
    with pytest.raises(CimgenError, match="not within 10 of any palette colour"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "color_tolerance": 10.0}), training=False).load(0)


def test_real_cityscapes_label_map_one_hot():
    lab_path = shared("cityscapes-samples/train_label/aachen_000000_000019_gtFine_labelIds.png")
    img = read_image(shared("cityscapes-samples/train_img/aachen_000000_000019_leftImg8bit.png"))
    labels = read_label_map(lab_path)
    assert labels.shape == img.shape[:2] == (1024, 2048)
    assert labels.max() < 35  # pix2pixHD's label_nc for Cityscapes
    small = torch.from_numpy(labels[::16, ::16].copy())[None]
    oh = one_hot(small, 35)
    assert torch.equal(oh.argmax(1), small)


def test_real_aerial_tiles_with_indexed_building_masks(tmp_path):
    src = shared("airtiler-samples/images")
    for i in (1, 2):
        for sub, name in (("labels", f"mask{i}.png"), ("images", f"image{i}.png")):
            (tmp_path / sub).mkdir(exist_ok=True)
            (tmp_path / sub / f"tile{i}.png").symlink_to(src / name)
    ds = PairedDataset(DataConfig(root=str(tmp_path), label_nc=2, crop_size=128), seed=0)
    ds.check_all()
    item = ds[0]
    assert item["label"].shape == (128, 128) and set(item["label"].unique().tolist()) <= {0, 1}
    labels, image = ds.load(0)
    # Roofs (label 1) and the rest differ in colour: the mask really belongs to the photo.
    assert abs(image[labels == 1].mean() - image[labels == 0].mean()) > 3
