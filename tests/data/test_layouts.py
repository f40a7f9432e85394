"""File layouts: matching by name across differently suffixed files, pix2pixHD phases, name patterns."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.data.layouts import list_pix2pixhd, name_pattern, sample_key
from cimgen.data.paired import DataConfig, LabelDataset, PairedDataset, edge_channels
from cimgen.errors import CimgenError
from cimgen.io.images import read_image, read_label_map, write_image, write_label_map
from cimgen.palette import SYNTH_PALETTE, labels_to_colors
from tests.conftest import shared


def test_sample_key_removes_one_known_suffix():
    assert sample_key("aachen_000000_000019_gtFine_labelIds") == "aachen_000000_000019"
    assert sample_key("aachen_000000_000019_gtFine_instanceIds") == "aachen_000000_000019"
    assert sample_key("aachen_000000_000019_leftImg8bit") == "aachen_000000_000019"
    assert sample_key("tile_3_label") == "tile_3" and sample_key("tile_3_inst") == "tile_3" and sample_key("tile_3_img") == "tile_3"
    assert sample_key("tile_00001") == "tile_00001"
    assert sample_key("_img") == "_img"  # a suffix alone is a name, not an empty key
    assert name_pattern("mask{name}").fullmatch("mask12")["name"] == "12"
    with pytest.raises(CimgenError, match="must contain '{name}' exactly once"):
        name_pattern("mask")


def write_pix2pixhd(root, phase="train", names=("x", "y"), instances=True, images=True):
    rng = np.random.default_rng(0)
    for name in names:
        write_label_map(root / f"{phase}_label" / f"{name}_label.png", rng.integers(0, 4, (12, 16)))
        if instances:
            write_label_map(root / f"{phase}_inst" / f"{name}_inst.png", rng.integers(0, 2, (12, 16)) + 1000)
        if images:
            write_image(root / f"{phase}_img" / f"{name}_img.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))


def test_pix2pixhd_layout_matches_by_name_and_instances_are_optional(tmp_path):
    write_pix2pixhd(tmp_path)
    samples = list_pix2pixhd(tmp_path, "train", images=True, instances=True)
    assert [s.name for s in samples] == ["x", "y"]
    assert samples[1].label.name == "y_label.png" and samples[1].instance.name == "y_inst.png" and samples[1].image.name == "y_img.png"
    cfg = DataConfig(root=str(tmp_path), format="pix2pixhd", label_nc=4)
    assert edge_channels(cfg) == 1 and "edge" in PairedDataset(cfg)[0]
    write_pix2pixhd(tmp_path, phase="val", instances=False)
    val = DataConfig(root=str(tmp_path), format="pix2pixhd", phase="val", label_nc=4)
    assert edge_channels(val) == 0 and "edge" not in PairedDataset(val)[0]
    with pytest.raises(CimgenError, match="has no test_label folder"):
        PairedDataset(DataConfig(root=str(tmp_path), format="pix2pixhd", phase="test", label_nc=4))


def test_pix2pixhd_unpaired_files_fail_with_one_sentence(tmp_path):
    write_pix2pixhd(tmp_path)
    (tmp_path / "train_img" / "y_img.png").unlink()
    cfg = DataConfig(root=str(tmp_path), format="pix2pixhd", label_nc=4)
    with pytest.raises(CimgenError, match="'y' has no matching image"):
        PairedDataset(cfg)
    # The label-only path does not need the photo.
    item = LabelDataset(cfg)[1]
    assert item["name"] == "y" and item["label"].shape == (12, 16) and item["edge"].shape == (1, 12, 16)
    (tmp_path / "train_inst" / "x_inst.png").unlink()
    with pytest.raises(CimgenError, match="label map 'x' has no instance map"):
        LabelDataset(cfg)
    # Two files that reduce to one key are ambiguous.
    write_label_map(tmp_path / "train_label" / "y.png", np.zeros((12, 16), np.int64))
    with pytest.raises(CimgenError, match="are both the label map of sample 'y'"):
        LabelDataset(DataConfig(**{**cfg.__dict__, "use_instances": False}))


def test_real_pix2pixhd_samples_pair_the_right_files():
    root = shared("cityscapes-samples")
    ds = PairedDataset(DataConfig(root=str(root), format="pix2pixhd", label_nc=35, crop_size=0, flip=False), training=False)
    assert len(ds) == 8 and ds.name(7) == "aachen_000007_000019"
    sample = ds.source.samples[3]
    assert sample.label.name == "aachen_000003_000019_gtFine_labelIds.png"
    assert sample.instance.name == "aachen_000003_000019_gtFine_instanceIds.png"
    assert sample.image.name == "aachen_000003_000019_leftImg8bit.png"
    labels, image = ds.load(3)
    # Sky (23) is bright and blue-ish in the photo, road (7) is darker: the map belongs to the photo.
    sky, road = image[labels == 23].mean(0), image[labels == 7].mean(0)
    assert sky.mean() > road.mean() and sky[2] > sky[0]


def test_real_airtiler_images_and_masks_in_one_folder():
    root = shared("airtiler-samples")
    cfg = DataConfig(
        root=str(root), label_dir="images", image_dir="images", label_nc=2, label_pattern="mask{name}", image_pattern="image{name}"
    )
    ds = PairedDataset(cfg, training=False)
    assert [ds.name(i) for i in range(len(ds))] == ["1", "2"]
    labels, image = ds.load(0)
    assert np.array_equal(labels, read_label_map(root / "images" / "mask1.png"))
    assert np.array_equal(image, read_image(root / "images" / "image1.png"))
    with pytest.raises(CimgenError, match="labels and images are both in 'images' with the same name pattern"):
        PairedDataset(DataConfig(**{**cfg.__dict__, "label_pattern": "{name}", "image_pattern": "{name}"}))


def test_label_only_ab_reads_the_map_half(tmp_path):
    labels = np.random.default_rng(3).integers(0, 6, (8, 10))
    photo = np.full((8, 10, 3), 9, np.uint8)
    write_image(tmp_path / "pair.png", np.concatenate([photo, labels_to_colors(labels, SYNTH_PALETTE)], 1))
    item = LabelDataset(DataConfig(root=str(tmp_path), format="ab", map_side="right"))[0]
    assert item["name"] == "pair" and np.array_equal(item["label"].numpy(), labels) and "edge" not in item
