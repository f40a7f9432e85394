"""Any band count and bit depth <-> 8-bit RGB: the percentile stretch, its inverse, exact pixels outside the mask, no-data kept."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.io.bands import fit_stretch, from_rgb8, parse_bands, parse_percentiles, to_rgb8


def _raster(count: int, dtype=np.uint16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(200, 3000, (32, 40, 1))
    return (base + rng.integers(0, 200, (32, 40, count))).astype(dtype)


def test_percentile_stretch_maps_the_2nd_and_98th_percentiles_to_0_and_255():
    raster = _raster(3)
    s = fit_stretch(raster)
    assert s.bands == (1, 2, 3) and s.percentiles == (2.0, 98.0)
    for c in range(3):
        assert s.low[c] == pytest.approx(np.percentile(raster[..., c], 2))
        assert s.high[c] == pytest.approx(np.percentile(raster[..., c], 98))
    rgb = to_rgb8(raster, s)
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 40, 3)
    assert (rgb == 0).mean() == pytest.approx(0.02, abs=0.01) and (rgb == 255).mean() == pytest.approx(0.02, abs=0.01)


def test_a_single_band_is_shown_as_grey_and_written_back_as_the_mean_of_the_channels():
    raster = _raster(1)
    s = fit_stretch(raster)
    assert s.bands == (1, 1, 1)
    rgb = to_rgb8(raster, s)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    mask = np.zeros((32, 40), bool)
    mask[5:15, 5:20] = True
    edited = rgb.copy()
    edited[mask] = (30, 60, 90)  # mean 60
    out, _ = from_rgb8(edited, raster, s, mask)
    assert out.dtype == np.uint16 and out.shape == raster.shape
    assert np.array_equal(out[~mask], raster[~mask])  # bit for bit outside the mask
    expected = round(s.low[0] + 60 / 255 * (s.high[0] - s.low[0]))
    assert np.all(out[mask] == expected)


def test_the_inverse_gives_back_the_source_within_one_8_bit_level_inside_the_stretch():
    raster = _raster(3)
    s = fit_stretch(raster)
    mask = np.ones((32, 40), bool)
    out, _ = from_rgb8(to_rgb8(raster, s), raster, s, mask)
    inside = np.ones(raster.shape, bool)
    for c in range(3):
        inside[..., c] = (raster[..., c] >= s.low[c]) & (raster[..., c] <= s.high[c])
        step = (s.high[c] - s.low[c]) / 255
        diff = np.abs(out[..., c].astype(float) - raster[..., c])[inside[..., c]]
        assert diff.max() <= step / 2 + 1


def test_an_unshown_band_is_predicted_from_the_shown_ones_inside_the_mask():
    rgb_bands = _raster(3, seed=1).astype(np.float64)
    nir = 0.5 * rgb_bands[..., 0] + 0.25 * rgb_bands[..., 2] + 100
    raster = np.concatenate([rgb_bands, nir[..., None]], axis=2).astype(np.uint16)
    s = fit_stretch(raster)
    assert s.bands == (1, 2, 3) and s.count == 4
    mask = np.zeros((32, 40), bool)
    mask[10:20, 10:30] = True
    view = to_rgb8(raster, s)
    out, info = from_rgb8(view, raster, s, mask)
    assert "4" in info["bands_fitted"]
    assert np.array_equal(out[~mask], raster[~mask])
    err = np.abs(out[..., 3][mask].astype(float) - raster[..., 3][mask])
    assert err.mean() < 30  # the fit follows the band (a few DN of quantisation through 8 bits)


def test_nodata_pixels_stay_nodata_and_no_valid_pixel_becomes_nodata():
    raster = _raster(1)
    raster[0:4, 0:4] = 0
    s = fit_stretch(raster, nodata=0.0)
    assert s.low[0] >= 200  # no-data left out of the percentiles
    rgb = to_rgb8(raster, s)
    assert (rgb[0:4, 0:4] == 0).all()
    mask = np.zeros((32, 40), bool)
    mask[0:10, 0:10] = True
    black = np.zeros_like(rgb)  # would invert to low, and low clipped could meet no-data
    out, _ = from_rgb8(black, raster, s, mask)
    assert (out[0:4, 0:4] == 0).all()
    assert (out[mask & (raster[..., 0] != 0)] != 0).all()


def test_int16_and_float_rasters_round_trip_outside_the_mask_exactly():
    for dtype in (np.int16, np.float32):
        raster = (_raster(3).astype(np.float64) - 1500).astype(dtype)
        s = fit_stretch(raster)
        mask = np.zeros(raster.shape[:2], bool)
        mask[3:9, 3:9] = True
        out, _ = from_rgb8(to_rgb8(raster, s), raster, s, mask)
        assert out.dtype == dtype and np.array_equal(out[~mask], raster[~mask])


def test_8_bit_rasters_can_be_shown_as_they_are():
    raster = _raster(4, dtype=np.uint8)
    s = fit_stretch(raster, percentiles=None)
    assert s.low == (0.0, 0.0, 0.0) and s.high == (255.0, 255.0, 255.0)
    assert np.array_equal(to_rgb8(raster, s), raster[..., :3])
    with pytest.raises(CimgenError, match="needs a stretch"):
        fit_stretch(_raster(3), percentiles=None)


def test_band_and_percentile_options_say_what_is_wrong():
    assert parse_bands("4,3,2", 4) == (4, 3, 2) and parse_bands("2", 4) == (2, 2, 2) and parse_bands("", 4) is None
    with pytest.raises(CimgenError, match="bands 1 to 3"):
        parse_bands("4,3,2", 3)
    with pytest.raises(CimgenError, match="one band number"):
        parse_bands("1,2", 3)
    assert parse_percentiles("1,99.5") == (1.0, 99.5)
    with pytest.raises(CimgenError, match="LOW < HIGH"):
        parse_percentiles("98,2")
