"""GeoTIFF in and out: pixels, CRS, transform and metadata survive a round trip; bad input fails in one sentence."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.io.geotiff import (
    INSTALL_HINT,
    GeoInfo,
    _has_geotiff_tags,
    is_georeferenced,
    read_geotiff,
    read_geotiff_info,
    read_geotiff_labels,
    write_geotiff,
)

rasterio = pytest.importorskip("rasterio")
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine

# The tests write plain (not georeferenced) TIFFs with rasterio on purpose.
pytestmark = pytest.mark.filterwarnings(f"ignore::{NotGeoreferencedWarning.__module__}.{NotGeoreferencedWarning.__name__}")

H, W = 40, 56
TRANSFORM = Affine(0.3, 0.0, 500_000.0, 0.0, -0.3, 5_200_000.0)  # 30 cm pixels in UTM 33N, north up


def _rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture
def scene(tmp_path):
    """A 4-band (RGB + near infrared) UTM GeoTIFF with tags, a band description and nodata."""
    path = tmp_path / "scene.tif"
    image = _rgb()
    profile = {
        "driver": "GTiff",
        "height": H,
        "width": W,
        "count": 4,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": TRANSFORM,
        "nodata": 0,
    }
    with rasterio.open(path, "w", compress="lzw", **profile) as ds:
        for band in range(3):
            ds.write(image[..., band], band + 1)
        ds.write(np.full((H, W), 9, np.uint8), 4)
        ds.update_tags(ACQUISITION_DATE="2021-06-01", SOURCE="cimgen test")
        ds.set_band_description(1, "red")
        ds.set_band_description(4, "near infrared")
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    return path, image


def test_round_trip_keeps_pixels_crs_transform_and_metadata(scene, tmp_path):
    path, image = scene
    read, info = read_geotiff(path)
    assert np.array_equal(read, image)
    assert info.crs is not None and "32633" in info.crs
    assert info.transform == pytest.approx(tuple(TRANSFORM)[:6])
    assert info.tags["ACQUISITION_DATE"] == "2021-06-01" and info.tags["SOURCE"] == "cimgen test"
    assert (info.count, info.nodata, info.compress) == (4, 0.0, "lzw")
    assert info.is_georeferenced

    out = write_geotiff(tmp_path / "out" / "copy.tif", read, info)
    again, info2 = read_geotiff(out)
    assert np.array_equal(again, image)
    assert rasterio.crs.CRS.from_wkt(info2.crs) == rasterio.crs.CRS.from_epsg(32633)
    assert info2.transform == pytest.approx(info.transform)
    assert info2.tags == info.tags
    assert info2.band_descriptions == ("red", None, None)
    assert info2.colorinterp == ("red", "green", "blue")
    assert (info2.nodata, info2.compress) == (0.0, "lzw")
    assert [p.name for p in out.parent.iterdir()] == ["copy.tif"]  # no temporary or sidecar file left


def test_geoinfo_is_plain_data_and_survives_json(scene):
    info = read_geotiff_info(scene[0])
    assert GeoInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    palette = dataclasses.replace(info, count=1, colormap={0: (1, 2, 3, 255), 7: (9, 8, 7, 255)})
    assert GeoInfo.from_dict(json.loads(json.dumps(palette.to_dict()))) == palette
    with pytest.raises(CimgenError, match="unknown fields: pixel_size"):
        GeoInfo.from_dict({**info.to_dict(), "pixel_size": 0.3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.crs = None


def test_labels_round_trip_with_palette_in_geographic_coordinates(tmp_path):
    labels = np.random.default_rng(1).integers(0, 6, (H, W)).astype(np.int64)
    palette = {0: (242, 239, 233, 255), 1: (255, 255, 255, 255), 2: (217, 208, 201, 255)}
    info = GeoInfo(
        height=H,
        width=W,
        count=1,
        crs=rasterio.crs.CRS.from_epsg(4326).to_wkt(),
        transform=(1e-5, 0.0, 13.40, 0.0, -1e-5, 52.52),  # about 1 m pixels in Berlin
        tags={"CLASSES": "ground,road,building,water,vegetation,tree"},
        band_descriptions=("class",),
        colorinterp=("palette",),
        nodata=255,
        colormap=palette,
    )
    path = write_geotiff(tmp_path / "labels.tif", labels, info)
    read, info2 = read_geotiff_labels(path)
    assert read.dtype == np.uint8 and np.array_equal(read, labels)
    assert "4326" in info2.crs and info2.transform == pytest.approx(info.transform)
    assert info2.tags["CLASSES"] == info.tags["CLASSES"]
    assert (info2.band_descriptions, info2.nodata) == (("class",), 255.0)
    assert info2.colormap[2] == palette[2]
    # Read as an image, the palette colours the classes.
    image, _ = read_geotiff(path)
    assert tuple(image[labels == 2][0]) == palette[2][:3]


def test_band_metadata_of_an_image_is_not_put_on_a_label_map(scene, tmp_path):
    _, info = read_geotiff(scene[0])
    labels = np.zeros((H, W), np.uint8)  # class 0 must not become no-data because the image's nodata is 0
    _, info2 = read_geotiff_labels(write_geotiff(tmp_path / "l.tif", labels, info))
    assert info2.nodata is None and info2.colorinterp == ("gray",) and info2.tags == info.tags
    assert info2.crs == info.crs


def test_lossy_source_compression_is_written_losslessly(tmp_path):
    path = tmp_path / "jpeg.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=3, dtype="uint8", compress="jpeg") as ds:
        ds.write(_rgb().transpose(2, 0, 1))
    image, info = read_geotiff(path)
    assert info.compress == "jpeg" and not info.is_georeferenced
    again, info2 = read_geotiff(write_geotiff(tmp_path / "out.tif", image, info))
    assert info2.compress == "deflate" and np.array_equal(again, image)


def test_grey_band_is_repeated(tmp_path):
    grey = np.arange(H * W, dtype=np.uint32).reshape(H, W).astype(np.uint8)
    path = write_geotiff(tmp_path / "grey.tif", grey, None)
    image, info = read_geotiff(path)
    assert image.shape == (H, W, 3) and all(np.array_equal(image[..., c], grey) for c in range(3))
    assert not info.is_georeferenced and not is_georeferenced(path)


def test_is_georeferenced(scene, tmp_path):
    assert is_georeferenced(scene[0])
    assert _has_geotiff_tags(scene[0])  # the answer without rasterio agrees
    plain = write_geotiff(tmp_path / "plain.tif", _rgb(), None)
    assert not is_georeferenced(plain) and not _has_geotiff_tags(plain)
    png = tmp_path / "x.png"
    png.write_bytes(b"not really a png")
    assert not is_georeferenced(png)


def test_bad_inputs_fail_in_one_sentence(tmp_path, scene):
    with pytest.raises(CimgenError, match="does not exist"):
        read_geotiff(tmp_path / "missing.tif")
    with pytest.raises(CimgenError, match="does not exist"):
        is_georeferenced(tmp_path / "missing.tif")
    with pytest.raises(CimgenError, match="float32"):
        write_geotiff(tmp_path / "f.tif", np.zeros((H, W, 3), np.float32), None)
    with pytest.raises(CimgenError, match="float64"):
        write_geotiff(tmp_path / "f.tif", np.zeros((H, W)), None)
    _, info = read_geotiff(scene[0])
    with pytest.raises(CimgenError, match="describes 56x40"):
        write_geotiff(tmp_path / "f.tif", np.zeros((10, 10, 3), np.uint8), info)
    with pytest.raises(CimgenError, match="lossless"):
        write_geotiff(tmp_path / "f.tif", _rgb(), None, compress="jpeg")
    assert not (tmp_path / "f.tif").exists()

    float_path = tmp_path / "float.tif"
    with rasterio.open(float_path, "w", driver="GTiff", height=H, width=W, count=1, dtype="float32") as ds:
        ds.write(np.zeros((1, H, W), np.float32))
    with pytest.raises(CimgenError, match="8-bit"):
        read_geotiff(float_path)
    with pytest.raises(CimgenError, match="integer"):
        read_geotiff_labels(float_path)
    with pytest.raises(CimgenError, match="single band"):
        read_geotiff_labels(scene[0])
    text = tmp_path / "text.tif"
    text.write_text("not a tiff")
    with pytest.raises(CimgenError, match="cannot be read"):
        read_geotiff(text)


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    target = write_geotiff(tmp_path / "keep.tif", _rgb(1), None)
    before = target.read_bytes()
    bad = GeoInfo(height=H, width=W, count=3, colorinterp=("red", "green", "no-such-colour"))
    with pytest.raises(KeyError):
        write_geotiff(target, _rgb(2), bad)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.tif"]


def test_without_rasterio_the_error_says_how_to_install_it(monkeypatch, tmp_path, scene):
    monkeypatch.setitem(sys.modules, "rasterio", None)  # makes `import rasterio` fail
    with pytest.raises(CimgenError) as e:
        read_geotiff(scene[0])
    assert str(e.value) == INSTALL_HINT
    with pytest.raises(CimgenError, match="pip install 'cimgen\\[geo\\]'"):
        write_geotiff(tmp_path / "x.tif", _rgb(), None)
    assert is_georeferenced(scene[0])  # still answered, from the TIFF tags


def test_strips_cover_every_row(monkeypatch, scene, tmp_path):
    from cimgen.io import geotiff

    monkeypatch.setattr(geotiff, "STRIP_ROWS", 16)  # 40 rows: strips of 16, 16 and 8
    path, image = scene
    read, info = read_geotiff(path)
    assert np.array_equal(read, image)
    again, _ = read_geotiff(write_geotiff(tmp_path / "strips.tif", read, info))
    assert np.array_equal(again, image)


def test_a_sample_of_a_large_raster_is_a_regular_grid_of_its_pixels(tmp_path):
    """``read_geotiff_sample``: the source pixels at floor((i + 0.5) * f) of a nearest-neighbour decimated read, untouched."""
    from cimgen.io.geotiff import read_geotiff_sample

    values = np.arange(2 * 50 * 70, dtype=np.uint16).reshape(2, 50, 70)
    profile = {
        "driver": "GTiff",
        "height": 50,
        "width": 70,
        "count": 2,
        "dtype": "uint16",
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with rasterio.open(tmp_path / "r.tif", "w", **profile) as ds:
        ds.write(values)
        ds.build_overviews([2, 4])  # averaged overviews would change the values; the sample does not use them
    sample, info, rows, cols = read_geotiff_sample(tmp_path / "r.tif", max_pixels=250)
    assert (info.height, info.width, sample.dtype, sample.shape) == (50, 70, np.uint16, (13, 18, 2))  # factor 4
    assert np.array_equal(sample, values.transpose(1, 2, 0)[np.ix_(rows, cols)])
    assert rows[:3].tolist() == [1, 5, 9]
    whole, _, rows, cols = read_geotiff_sample(tmp_path / "r.tif", max_pixels=10_000)
    assert np.array_equal(whole, values.transpose(1, 2, 0)) and len(rows) == 50 and len(cols) == 70


def test_a_patch_and_its_vrt_read_as_the_patched_copy_of_the_source(scene, tmp_path):
    """``write_patch_geotiff`` + ``write_patch_vrt``: the VRT reads, pixel for pixel and with the same metadata, as
    ``write_patched_geotiff``'s copy; the patch holds only its box, on the source's grid; the folder can move."""
    from cimgen.io.geotiff import write_patch_geotiff, write_patch_vrt, write_patched_geotiff

    path, _ = scene
    patches = [
        (2, 3, np.full((5, 7, 3), 200, np.uint8)),  # three of four bands: the fourth is the source's
        (30, 40, np.zeros((6, 10, 4), np.uint8)),  # no-data values are written over the source too
    ]
    box = (2, 3, 36, 50)
    rects = [(y, x, a.shape[0], a.shape[1]) for y, x, a in patches]
    (tmp_path / "run").mkdir()
    write_patch_geotiff(tmp_path / "run" / "patch.tif", path, box, iter(patches))
    write_patch_vrt(tmp_path / "run" / "result.vrt", path, tmp_path / "run" / "patch.tif", box, rects)
    write_patched_geotiff(tmp_path / "copy.tif", path, iter(patches), cog=False)
    (tmp_path / "run").rename(tmp_path / "moved")  # the patch is named relative to the VRT, the source by absolute path
    with rasterio.open(tmp_path / "moved" / "result.vrt") as vrt, rasterio.open(tmp_path / "copy.tif") as ref:
        assert np.array_equal(vrt.read(), ref.read())
        for key in ("crs", "transform", "nodata", "count", "dtypes", "width", "height"):
            assert getattr(vrt, key) == getattr(ref, key), key
        assert (vrt.tags(), vrt.descriptions, vrt.colorinterp) == (ref.tags(), ref.descriptions, ref.colorinterp)
    with rasterio.open(tmp_path / "moved" / "patch.tif") as p, rasterio.open(path) as src:
        assert (p.width, p.height, p.count, p.nodata) == (47, 34, 4, 0)
        assert p.transform == src.transform @ Affine.translation(3, 2)
        assert np.array_equal(p.read(4, window=((0, 5), (0, 7))), src.read(4, window=((2, 7), (3, 10))))
    text = (tmp_path / "moved" / "result.vrt").read_text()
    assert f'<SourceFilename relativeToVRT="0">{path.resolve()}</SourceFilename>' in text
    assert text.count('<SourceFilename relativeToVRT="1">patch.tif</SourceFilename>') == 2 * 4  # a source per rectangle and band

    with pytest.raises(CimgenError, match="does not lie inside the patch box"):
        write_patch_vrt(tmp_path / "moved" / "bad.vrt", path, tmp_path / "moved" / "patch.tif", box, [(0, 0, 5, 5)])
    with pytest.raises(CimgenError, match="does not lie inside the patch box"):
        write_patch_geotiff(tmp_path / "bad.tif", path, (2, 3, 10, 10), iter(patches))
    assert not (tmp_path / "moved" / "bad.vrt").exists() and not (tmp_path / "bad.tif").exists()


def test_a_patch_of_a_16_bit_band_keeps_its_type_and_no_data(tmp_path):
    from cimgen.io.geotiff import write_patch_geotiff, write_patch_vrt

    values = np.arange(300 * 280, dtype=np.uint16).reshape(300, 280) % 4000 + 1
    profile = {"driver": "GTiff", "height": 300, "width": 280, "count": 1, "dtype": "uint16", "nodata": 0, "crs": "EPSG:32616"}
    with rasterio.open(tmp_path / "s.tif", "w", transform=TRANSFORM, tiled=True, compress="deflate", **profile) as ds:
        ds.write(values, 1)
    patch = np.full((20, 300 - 270), 65535, np.uint16)
    write_patch_geotiff(tmp_path / "patch.tif", tmp_path / "s.tif", (270, 250, 290, 280), [(270, 250, patch)])
    write_patch_vrt(tmp_path / "r.vrt", tmp_path / "s.tif", tmp_path / "patch.tif", (270, 250, 290, 280), [(270, 250, 20, 30)])
    with rasterio.open(tmp_path / "r.vrt") as ds:
        got = ds.read(1)
        assert (ds.dtypes[0], ds.nodata, ds.crs.to_epsg()) == ("uint16", 0, 32616)
    expected = values.copy()
    expected[270:290, 250:280] = 65535
    assert np.array_equal(got, expected)
