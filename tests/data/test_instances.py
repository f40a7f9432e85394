"""Instance maps: the boundary edge map, lossless 16-bit reading, and the ``edge`` item of the datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cimgen.data.instances import instance_edges
from cimgen.data.paired import DataConfig, LabelDataset, PairedDataset, edge_channels
from cimgen.errors import CimgenError
from cimgen.io.images import read_id_map, read_label_map, write_image, write_label_map
from tests.conftest import shared


def brute_force_edges(instances: np.ndarray) -> np.ndarray:
    """A pixel is an edge when any of its four neighbours inside the image has another id."""
    h, w = instances.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and instances[ny, nx] != instances[y, x]:
                    out[y, x] = True
    return out


def test_hand_worked_example():
    instances = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 2, 2], [1, 1, 2, 2]])
    expected = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1], [0, 1, 1, 0]], bool)
    edges = instance_edges(instances)
    assert edges.dtype == bool and np.array_equal(edges, expected)


@pytest.mark.parametrize("seed", range(5))
def test_equals_brute_force_and_commutes_with_flips(seed):
    rng = np.random.default_rng(seed)
    # Blocky ids (as in real maps) plus a few single-pixel specks.
    instances = np.kron(rng.integers(0, 4, (5, 7)), np.ones((3, 2), np.int64))[: 13 + seed, :]
    instances[rng.integers(0, instances.shape[0]), rng.integers(0, instances.shape[1])] = 9
    edges = instance_edges(instances)
    assert np.array_equal(edges, brute_force_edges(instances))
    assert np.array_equal(instance_edges(instances[:, ::-1]), edges[:, ::-1])
    assert np.array_equal(instance_edges(instances[::-1]), edges[::-1])


def test_uniform_map_has_no_edges_and_bad_input_fails():
    assert not instance_edges(np.full((4, 6), 7, np.uint16)).any()
    with pytest.raises(CimgenError, match="integer HxW array"):
        instance_edges(np.zeros((4, 4), np.float32))
    with pytest.raises(CimgenError, match="integer HxW array"):
        instance_edges(np.zeros((2, 4, 4), np.int64))


def test_real_cityscapes_instance_map_is_read_losslessly():
    frame = "aachen_000000_000019"
    instances = read_id_map(shared(f"cityscapes-samples/train_inst/{frame}_gtFine_instanceIds.png"))
    labels = read_label_map(shared(f"cityscapes-samples/train_label/{frame}_gtFine_labelIds.png"))
    assert instances.dtype == np.uint16 and instances.shape == labels.shape == (1024, 2048)
    assert instances.max() > 255  # values above 8 bits survive
    # Things are class id x 1000 + index, stuff is the class id itself: both give back the label map.
    things = instances >= 1000
    assert things.any() and np.array_equal(instances[things] // 1000, labels[things])
    assert np.array_equal(instances[~things], labels[~things])
    # Instances refine classes: every class boundary is an instance boundary, and touching
    # objects of one class add boundaries of their own.
    inst_edges, class_edges = instance_edges(instances), instance_edges(labels)
    assert not (class_edges & ~inst_edges).any()
    assert (inst_edges & ~class_edges).sum() > 100


def test_id_maps_keep_every_bit_depth(tmp_path):
    wide = np.array([[0, 70000], [123456, 5]], np.int32)
    Image.fromarray(wide).save(tmp_path / "wide.tif")  # mode I: 32-bit ids
    assert Image.open(tmp_path / "wide.tif").mode == "I"
    assert np.array_equal(read_id_map(tmp_path / "wide.tif"), wide)
    deep = np.array([[0, 65535], [40000, 7]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # mode I;16
    got = read_id_map(tmp_path / "deep.png")
    assert got.dtype == np.uint16 and np.array_equal(got, deep)
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "bits.png")  # mode 1
    assert np.array_equal(read_id_map(tmp_path / "bits.png"), [[1, 0]])


def write_instance_folders(root, names=("a", "b"), size=24, seed=0):
    """Labels with a unique pattern per position, blocky instance maps and random photos."""
    rng = np.random.default_rng(seed)
    for name in names:
        write_label_map(root / "labels" / f"{name}.png", rng.integers(0, 6, (size, size)))
        write_label_map(root / "inst" / f"{name}.png", np.kron(rng.integers(0, 3, (4, 4)), np.ones((6, 6), np.int64)) * 1000)
        write_image(root / "images" / f"{name}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_folders_items_carry_edges_of_the_same_crop_and_flip(tmp_path):
    write_instance_folders(tmp_path)
    cfg = DataConfig(root=str(tmp_path), instance_dir="inst", crop_size=16, flip=True)
    assert edge_channels(cfg) == 1
    ds = PairedDataset(cfg, seed=4)
    labels, instances = ds.load(0)[0], ds.instances(0)
    assert instances.shape == labels.shape
    flips = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["edge"].shape == (1, 16, 16) and item["edge"].dtype == torch.float32
        assert set(item["edge"].unique().tolist()) <= {0.0, 1.0}
        # Find where the crop came from through the label map, whose pattern is unique per place.
        found = [
            (y, x, f)
            for y in range(24 - 16 + 1)
            for x in range(24 - 16 + 1)
            for f in (False, True)
            if np.array_equal(labels[y : y + 16, x : x + 16][:, ::-1] if f else labels[y : y + 16, x : x + 16], item["label"].numpy())
        ]
        assert len(found) == 1
        y, x, f = found[0]
        flips.add(f)
        crop = instances[y : y + 16, x : x + 16]
        crop = crop[:, ::-1] if f else crop
        # Edges are computed on the cropped map, as pix2pixHD computes them on its transformed batch.
        assert np.array_equal(item["edge"][0].numpy().astype(bool), instance_edges(crop))
    assert flips == {False, True}


def test_without_instances_there_is_no_edge_item(tmp_path):
    write_instance_folders(tmp_path)
    for cfg in (DataConfig(root=str(tmp_path)), DataConfig(root=str(tmp_path), instance_dir="inst", use_instances=False)):
        assert edge_channels(cfg) == 0
        ds = PairedDataset(cfg, training=False)
        assert "edge" not in ds[0] and ds.instances(0) is None


def test_instance_errors_are_one_sentence(tmp_path):
    write_instance_folders(tmp_path)
    (tmp_path / "inst" / "b.png").unlink()
    with pytest.raises(CimgenError, match=r"label map 'b' has no instance map in .*inst"):
        PairedDataset(DataConfig(root=str(tmp_path), instance_dir="inst"))
    write_label_map(tmp_path / "inst" / "b.png", np.zeros((20, 24), np.int64))
    with pytest.raises(CimgenError, match="instance map b.png is 24x20 but its label map is 24x24"):
        PairedDataset(DataConfig(root=str(tmp_path), instance_dir="inst")).check_all()
    write_image(tmp_path / "inst" / "b.png", np.zeros((24, 24, 3), np.uint8))
    with pytest.raises(CimgenError, match="has RGB pixels; an id map must be a single-channel"):
        PairedDataset(DataConfig(root=str(tmp_path), instance_dir="inst")).check_all()
    with pytest.raises(CimgenError, match="instance_dir is an option of the folders format"):
        PairedDataset(DataConfig(root=str(tmp_path), format="ab", instance_dir="inst"))


def test_real_pix2pixhd_cityscapes_edge_channel():
    root = shared("cityscapes-samples")
    cfg = DataConfig(root=str(root), format="pix2pixhd", label_nc=35, crop_size=256)
    # The official label2city generator takes 35 one-hot channels plus the edge map.
    assert cfg.label_nc + edge_channels(cfg) == 36
    assert edge_channels(DataConfig(**{**cfg.__dict__, "use_instances": False})) == 0
    item = PairedDataset(cfg, seed=0)[0]
    assert item["edge"].shape == (1, 256, 256) and item["label"].max() < 35
    # Every class boundary inside the crop is an edge (instances refine classes).
    class_edges = instance_edges(item["label"].numpy())
    assert not (class_edges & ~item["edge"][0].numpy().astype(bool)).any()


def test_real_test_labels_render_without_photos():
    root = shared("cityscapes-samples")
    cfg = DataConfig(root=str(root), format="pix2pixhd", phase="test", label_nc=35)
    with pytest.raises(CimgenError, match="test_img is not a folder"):
        PairedDataset(cfg)
    ds = LabelDataset(cfg)
    assert len(ds) == 15 and ds.with_edges
    item = ds[0]
    assert item["name"] == "frankfurt_000000_000576"
    assert item["label"].shape == (1024, 2048) and item["label"].dtype == torch.int64
    instances = read_id_map(root / "test_inst" / "frankfurt_000000_000576_gtFine_instanceIds.png")
    assert np.array_equal(item["edge"][0].numpy().astype(bool), instance_edges(instances))
