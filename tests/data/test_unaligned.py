"""Unaligned (CycleGAN) and aligned (pix2pix) datasets: layouts, determinism, B randomness, shared crops, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cimgen.data.unaligned import AlignedDataConfig, AlignedDataset, UnalignedDataConfig, UnalignedDataset
from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor, write_image


def write_domains(root: Path, n_a: int = 3, n_b: int = 5, size: int = 20) -> Path:
    """trainA with n_a images and trainB with n_b; each image is one flat colour that names it, plus a gradient."""
    ramp = np.linspace(0, 60, size, dtype=np.uint8)[None, :, None]
    for domain, n, base in (("A", n_a, 0), ("B", n_b, 100)):
        for i in range(n):
            img = np.full((size, size, 3), base + 10 * i, np.uint8) + ramp
            write_image(root / f"train{domain}" / f"{i:02d}.png", img)
    return root


def colour_id(t: torch.Tensor) -> int:
    """Which image an item came from: the flat colour of its blue channel (the ramp adds nothing at its darkest column)."""
    return round((t[2].min().item() + 1) * 127.5)


def test_items_shapes_length_and_resize(tmp_path):
    root = write_domains(tmp_path)
    ds = UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=24, crop_size=16), seed=1)
    assert len(ds) == 5  # the larger domain
    item = ds[4]
    assert set(item) == {"A", "B", "index"} and item["index"] == 4
    assert item["A"].shape == (3, 16, 16) and item["B"].shape == (3, 16, 16)
    assert item["A"].dtype == torch.float32
    # the item is a 16x16 window (flipped or not) of an A image resized to 24, in [-1, 1]: no other values creep in
    windows = [
        image_to_tensor(np.ascontiguousarray(f[y : y + 16, x : x + 16]))
        for path in ds.paths_a
        for f in (ds.load(path), ds.load(path)[:, ::-1])
        for y in range(9)
        for x in range(9)
    ]
    assert any(torch.equal(item["A"], w) for w in windows)
    assert ds.load(ds.paths_a[0]).shape == (24, 24, 3)
    whole = UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=0, flip=False), seed=1)
    assert whole[0]["A"].shape == (3, 20, 20)
    ds.check_all(size_multiple=4)


def test_items_are_deterministic_per_seed_epoch_and_index(tmp_path):
    root = write_domains(tmp_path)
    cfg = UnalignedDataConfig(root=str(root), load_size=0, crop_size=12)
    ds = UnalignedDataset(cfg, seed=1)
    ds.set_epoch(2)
    first = [ds[i] for i in range(len(ds))]
    ds.set_epoch(5)
    ds[0]
    again = UnalignedDataset(cfg, seed=1)
    again.set_epoch(2)
    for i in reversed(range(len(ds))):  # order does not matter
        assert torch.equal(again[i]["A"], first[i]["A"]) and torch.equal(again[i]["B"], first[i]["B"])
    other_seed = UnalignedDataset(cfg, seed=2)
    other_seed.set_epoch(2)
    assert any(not torch.equal(other_seed[i]["B"], first[i]["B"]) for i in range(len(ds)))


def test_b_is_random_unless_serial_batches(tmp_path):
    root = write_domains(tmp_path, n_a=3, n_b=5)
    cfg = UnalignedDataConfig(root=str(root), load_size=0, crop_size=0, flip=False)
    ds = UnalignedDataset(cfg, seed=0)
    # A is always index % len(A); B is drawn per (epoch, index) and covers several images.
    chosen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert colour_id(item["A"]) == 10 * (i % 3)
            chosen.add(colour_id(item["B"]))
    assert len(chosen) >= 4 and chosen <= {100 + 10 * j for j in range(5)}
    serial = UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=0, flip=False, serial_batches=True))
    assert [colour_id(serial[i]["B"]) for i in range(5)] == [100, 110, 120, 130, 140]
    # Evaluation (training=False) pairs serially too and neither crops nor flips.
    plain = UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=8), training=False)
    assert plain[1]["B"].shape == (3, 20, 20) and colour_id(plain[1]["B"]) == 110


def test_a_and_b_are_cropped_independently(tmp_path):
    root = tmp_path / "same"
    ramp = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 7, (32, 1, 3))
    for d in ("trainA", "trainB"):
        write_image(root / d / "x.png", ramp)
    ds = UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=8), seed=0)
    differ = 0
    for e in range(10):
        ds.set_epoch(e)
        differ += not torch.equal(ds[0]["A"], ds[0]["B"])
    assert differ > 0


def test_unaligned_errors(tmp_path):
    with pytest.raises(CimgenError, match="dataset folder '.*nothing' does not exist"):
        UnalignedDataset(UnalignedDataConfig(root=str(tmp_path / "nothing")))
    (tmp_path / "trainA").mkdir()
    with pytest.raises(CimgenError, match="trainA holds no images"):
        UnalignedDataset(UnalignedDataConfig(root=str(tmp_path)))
    root = write_domains(tmp_path / "d")
    with pytest.raises(CimgenError, match="testA does not exist"):
        UnalignedDataset(UnalignedDataConfig(root=str(root), phase="test"))
    with pytest.raises(CimgenError, match=r"crop_size \(30\) is larger than data.load_size \(24\)"):
        UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=24, crop_size=30))
    with pytest.raises(CimgenError, match="crop_size 24 is larger than image 00.png"):
        UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=24)).check_all()
    with pytest.raises(CimgenError, match="18x18 after resizing and cropping, which is not a multiple of 4"):
        UnalignedDataset(UnalignedDataConfig(root=str(root), load_size=0, crop_size=18)).check_all(size_multiple=4)


def write_ab(folder: Path, n: int = 3, size: int = 20) -> Path:
    """AB images whose two halves are the same picture, with A darker than B by a known offset."""
    rng = np.random.default_rng(0)
    for i in range(n):
        half = rng.integers(0, 100, (size, size, 3), dtype=np.uint8)
        write_image(folder / f"{i}.png", np.concatenate([half, half + 100], 1))
    return folder


def test_aligned_ab_halves_share_one_crop_and_flip(tmp_path):
    write_ab(tmp_path / "train")
    ds = AlignedDataset(AlignedDataConfig(root=str(tmp_path), load_size=0, crop_size=12), seed=3)
    assert len(ds) == 3
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[1]
        assert set(item) == {"A", "B", "index"} and item["A"].shape == (3, 12, 12)
        # B = A + 100 levels everywhere, so a shared crop and flip keeps the difference exact.
        assert torch.allclose(item["B"] - item["A"], torch.full_like(item["A"], 100 / 127.5), atol=1e-5)
    ds.set_epoch(1)
    a = ds[2]["A"]
    ds.set_epoch(0)
    ds.set_epoch(1)
    assert torch.equal(ds[2]["A"], a)


def test_aligned_folders_match_names(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("x", "y"):
        img = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        write_image(tmp_path / "A" / f"{name}.png", img)
        write_image(tmp_path / "B" / f"{name}.jpg", 255 - img)
    ds = AlignedDataset(AlignedDataConfig(root=str(tmp_path), format="folders", load_size=0, crop_size=0, flip=False))
    assert [p[0].stem for p in ds.pairs] == ["x", "y"] and ds[1]["B"].shape == (3, 16, 16)
    write_image(tmp_path / "A" / "z.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(CimgenError, match="'z' has no image of that name in .*B; 1 file\\(s\\) are unpaired"):
        AlignedDataset(AlignedDataConfig(root=str(tmp_path), format="folders"))


def test_aligned_errors(tmp_path):
    write_image(tmp_path / "train" / "odd.png", np.zeros((8, 17, 3), np.uint8))
    ds = AlignedDataset(AlignedDataConfig(root=str(tmp_path), load_size=0, crop_size=0))
    with pytest.raises(CimgenError, match="odd width 17"):
        ds.check_all()
    with pytest.raises(CimgenError, match="unknown aligned dataset format 'pairs'"):
        AlignedDataset(AlignedDataConfig(root=str(tmp_path), format="pairs"))
    with pytest.raises(CimgenError, match="val does not exist"):
        AlignedDataset(AlignedDataConfig(root=str(tmp_path), phase="val"))
