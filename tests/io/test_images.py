"""Image files: conversions to uint8 RGB, clear errors for broken files, atomic writes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from cimgen.errors import CimgenError
from cimgen.io.images import (
    image_to_tensor,
    read_image,
    read_image_and_compression,
    read_jpeg_compression,
    read_label_map,
    recompress_jpeg,
    tensor_to_image,
    write_image,
)


def test_rgba_grey_and_16_bit_become_uint8_rgb(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # transparent pixel composites onto black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert tuple(out[1, 1]) == (200, 0, 0) and tuple(out[0, 0]) == (0, 0, 0)
    Image.fromarray(np.full((3, 3), 77, np.uint8), "L").save(tmp_path / "g.png")
    assert (read_image(tmp_path / "g.png") == 77).all()
    Image.fromarray(np.full((3, 3), 65535, np.uint16)).save(tmp_path / "w.png")
    assert (read_image(tmp_path / "w.png") == 255).all()


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((2, 6, 3), np.uint8)
    arr[:, 0] = 255  # a red column on the left of a wide picture
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (6, 2, 3)


def test_broken_files_give_one_sentence(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    good = tmp_path / "good.png"
    write_image(good, np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:60])
    for name in ("empty.png", "text.png", "cut.png"):
        with pytest.raises(CimgenError, match="cannot be read as an image"):
            read_image(tmp_path / name)
    with pytest.raises(CimgenError, match="is not a file"):
        read_image(tmp_path)
    with pytest.raises(CimgenError, match="name a palette"):
        read_label_map(good)


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    write_image(tmp_path / "x.png", np.full((4, 4, 3), 9, np.uint8))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    monkeypatch.undo()
    assert (read_image(tmp_path / "x.png") == 9).all()  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_tensor_round_trip_is_exact():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = image_to_tensor(img)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    # channel first, 0 -> -1 and 255 -> 1 linearly
    np.testing.assert_allclose(t.numpy(), img.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6)
    assert image_to_tensor(np.array([[[0, 255, 51]]], np.uint8)).flatten().tolist() == pytest.approx([-1.0, 1.0, -0.6])
    assert np.array_equal(tensor_to_image(t), img)
    assert np.array_equal(tensor_to_image(t[None]), img)
    with pytest.raises(CimgenError, match="one image"):
        tensor_to_image(torch.zeros(2, 3, 4, 4))


def test_a_jpeg_files_compression_is_read_and_applied_again_on_its_grid(tmp_path):
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (64, 80, 3)).astype(np.uint8), (0, 0), 2)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=70, subsampling=2)
    c = read_jpeg_compression(tmp_path / "a.jpg")
    assert c is not None and c.subsampling == 2 and len(c.tables) == 2 and all(len(t) == 64 for t in c.tables)
    assert c.summary()["subsampling"] == "4:2:0"
    photo = read_image(tmp_path / "a.jpg")
    # the decoded file is (almost) a fixed point of its own compression; a fresh image is not
    assert np.abs(recompress_jpeg(photo, c).astype(int) - photo).mean() < 0.5
    assert np.abs(recompress_jpeg(smooth, c).astype(int) - smooth).mean() > 1.0
    # not a JPEG, or a JPEG whose EXIF orientation turns its grid: nothing to match
    Image.fromarray(smooth).save(tmp_path / "a.png")
    assert read_jpeg_compression(tmp_path / "a.png") is None
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(smooth).save(tmp_path / "turned.jpg", quality=70, exif=exif)
    assert read_jpeg_compression(tmp_path / "turned.jpg") is None
    assert read_jpeg_compression(tmp_path / "missing.jpg") is None
    # one opening gives both: the same pixels as read_image, the same compression as read_jpeg_compression
    for name in ("a.jpg", "a.png", "turned.jpg"):
        pixels, compression = read_image_and_compression(tmp_path / name)
        assert np.array_equal(pixels, read_image(tmp_path / name)) and compression == read_jpeg_compression(tmp_path / name)
    assert read_image_and_compression(tmp_path / "turned.jpg")[0].shape == (80, 64, 3)  # turned upright, as read_image does


def test_reading_a_jpegs_compression_never_trips_on_a_large_image(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.jpg", quality=80)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # every file here is "too large" for Pillow now
    assert read_jpeg_compression(tmp_path / "a.png") is None  # not a JPEG: never opened by Pillow
    assert read_jpeg_compression(tmp_path / "a.jpg") is None  # a JPEG over Pillow's limit: nothing to match, no error
