"""Image files as untrusted input: non-finite pixels, sizes declared far beyond the data, no warning lines, and sizes too small for a generator."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from cimgen.errors import CimgenError
from cimgen.io.images import MAX_PIXELS, image_size, read_image, read_label_map
from tests.corpus.make_corpus import _bomb_png, _huge_tiff


def _float_tiff(path, value):
    arr = np.full((12, 16), 0.5, np.float32)
    arr[3, 5] = value
    Image.fromarray(arr, mode="F").save(path, format="TIFF")
    return path


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_float_tiffs_with_non_finite_pixels_are_refused_naming_a_pixel(tmp_path, value):
    with pytest.raises(CimgenError) as e:
        read_image(_float_tiff(tmp_path / "f.tif", value))
    assert "at pixel (x=5, y=3)" in str(e.value) and "finite" in str(e.value)


def test_a_finite_float_tiff_still_reads(tmp_path):
    img = read_image(_float_tiff(tmp_path / "f.tif", 0.25))
    assert img.shape == (12, 16, 3) and img[3, 5, 0] == 64 and img[0, 0, 0] == 128


@pytest.mark.parametrize(
    "name, data",
    [
        ("bomb.png", _bomb_png(60000, 60000)),
        ("bomb.tif", _huge_tiff(100000, 100000, geo=False)),
        ("sparse_geo.tif", _huge_tiff(200000, 200000, geo=True)),
    ],
)
def test_enormous_declared_sizes_are_refused_from_the_header(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    for reader in (read_image, read_label_map, image_size):
        with pytest.raises(CimgenError, match="decompression bomb"):
            reader(p)


def test_a_size_pillow_only_warns_about_gives_one_sentence_and_no_warning(tmp_path):
    """9500x9500 is under cimgen's limit but over Pillow's warning threshold; the data runs out, and nothing but the sentence comes out."""
    p = tmp_path / "warn.png"
    p.write_bytes(_bomb_png(9500, 9500))
    assert 9500 * 9500 <= MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning or an unclosed-file ResourceWarning would raise here
        assert image_size(p) == (9500, 9500)
        with pytest.raises(CimgenError, match="cannot be read as an image"):
            read_image(p)


def test_a_failed_read_leaves_no_file_open(tmp_path):
    import gc

    p = tmp_path / "cut.png"
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="PNG")
    p.write_bytes(buf.getvalue()[:60])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(CimgenError):
                read_image(p)
        gc.collect()
    assert not [w for w in seen if issubclass(w.category, ResourceWarning)]


def test_geotiff_readers_refuse_an_enormous_sparse_raster_before_reading(tmp_path):
    pytest.importorskip("rasterio")
    from cimgen.io.geotiff import MAX_PIXELS as GEO_MAX
    from cimgen.io.geotiff import read_geotiff, read_geotiff_info, read_geotiff_labels

    p = tmp_path / "sparse.tif"
    p.write_bytes(_huge_tiff(200000, 200000, geo=True))
    assert (read_geotiff_info(p).width, read_geotiff_info(p).height) == (200000, 200000)  # the header alone is fine
    assert 200000 * 200000 > GEO_MAX
    for reader in (read_geotiff, read_geotiff_labels):
        with pytest.raises(CimgenError, match="declares 200000x200000 pixels"):
            reader(p)


def test_generators_refuse_inputs_below_their_minimum_size():
    from cimgen.generators import generate, load_label_generator, shipped_checkpoint

    generator, config = load_label_generator(shipped_checkpoint())
    m = generator.config.size_multiple
    for h, w in ((1, 1), (m, m), (1, 1000), (1000, m)):
        with pytest.raises(CimgenError, match=f"needs at least {m + 1} pixels a side"):
            generate(generator, np.zeros((h, w), np.int64), config["label_nc"])
    assert generate(generator, np.zeros((m + 1, m + 1), np.int64), config["label_nc"]).shape == (m + 1, m + 1, 3)
