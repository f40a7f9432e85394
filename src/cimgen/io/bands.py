"""Any band count and bit depth <-> the generators' 8-bit RGB: a per-band percentile stretch and its inverse.

The generators take and give HxWx3 uint8 RGB. A GeoTIFF may hold one band of 16-bit values,
four bands (RGB + near infrared), int16 or float reflectances. ``fit_stretch`` chooses which
source bands are shown as red, green and blue and maps each from [low, high] (by default its 2nd
and 98th percentiles over the valid pixels) to 0..255; ``to_rgb8`` applies that mapping and
``from_rgb8`` writes a manipulated 8-bit result back into the source raster: outside the mask the
source pixels are kept bit for bit, inside it the stretch is inverted. A ``BandStretch`` is plain
data, saved with every run (``to_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cimgen.errors import CimgenError

DEFAULT_PERCENTILES = (2.0, 98.0)
"""Source values at these percentiles of each band become 0 and 255."""
FIT_SAMPLE = 200_000
"""Most pixels the percentiles and the fits of bands that are not shown are computed from (a regular subsample)."""


@dataclass(frozen=True)
class BandStretch:
    """Which source bands are shown as R, G, B and the linear map of each to 0..255."""

    bands: tuple[int, int, int]
    """1-based source band shown as red, green and blue (a grey raster shows band 1 three times)."""
    low: tuple[float, float, float]
    """Source value that becomes 0, per shown channel."""
    high: tuple[float, float, float]
    """Source value that becomes 255, per shown channel."""
    count: int
    """Bands in the source raster."""
    dtype: str
    """Data type of the source raster."""
    nodata: float | None = None
    """The source's no-data value: such pixels are shown black and stay no-data in the result."""
    percentiles: tuple[float, float] | None = DEFAULT_PERCENTILES
    """The percentiles ``low`` and ``high`` were taken at; None when the 8-bit source is shown as it is."""

    def to_dict(self) -> dict:
        """The fields as JSON-ready values."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def parse_bands(text: str, count: int) -> tuple[int, int, int] | None:
    """``"4,3,2"`` (R, G, B) or ``"1"`` (grey) -> three 1-based band numbers checked against ``count``; ``""`` -> None (the default)."""
    if not text:
        return None
    try:
        bands = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CimgenError(f"--bands '{text}' must be one band number (grey) or three (red,green,blue), e.g. 4,3,2") from None
    if len(bands) == 1:
        bands = bands * 3
    if len(bands) != 3:
        raise CimgenError(f"--bands '{text}' must be one band number (grey) or three (red,green,blue), e.g. 4,3,2")
    for b in bands:
        if not 1 <= b <= count:
            raise CimgenError(f"--bands names band {b}, but the image has bands 1 to {count}")
    return bands  # type: ignore[return-value]


def parse_percentiles(text: str) -> tuple[float, float]:
    """``"2,98"`` -> (2.0, 98.0), checked to be two percentiles with low < high."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise CimgenError(f"--stretch '{text}' must be two percentiles LOW,HIGH, e.g. 2,98") from None
    if not 0 <= low < high <= 100:
        raise CimgenError(f"--stretch '{text}' must be two percentiles with 0 <= LOW < HIGH <= 100")
    return low, high


def valid_pixels(raster: np.ndarray, nodata: float | None) -> np.ndarray:
    """HxW bool: pixels whose every band is finite and none equals ``nodata``."""
    ok = np.ones(raster.shape[:2], bool)
    if raster.dtype.kind == "f":
        ok &= np.isfinite(raster).all(axis=2)
    if nodata is not None:
        ok &= ~(np.isnan(raster).any(axis=2) if np.isnan(nodata) else (raster == nodata).any(axis=2))
    return ok


def _sample(values: np.ndarray, limit: int = FIT_SAMPLE) -> np.ndarray:
    step = max(1, len(values) // limit)
    return values[::step]


def fit_stretch(
    raster: np.ndarray,
    *,
    bands: tuple[int, int, int] | None = None,
    percentiles: tuple[float, float] | None = DEFAULT_PERCENTILES,
    nodata: float | None = None,
) -> BandStretch:
    """The stretch that shows ``raster`` (HxWxC, any dtype) as 8-bit RGB.

    Args:
        raster: the source bands.
        bands: 1-based bands shown as R, G, B; default 1, 2, 3 with three or more bands, else band 1 as grey.
        percentiles: (low, high) percentiles of each shown band over its valid pixels that become 0 and 255;
            None shows an 8-bit raster as it is (0 -> 0, 255 -> 255).
        nodata: the no-data value (its pixels are left out of the percentiles).
    """
    if raster.ndim != 3 or raster.shape[2] < 1:
        raise CimgenError(f"a raster must be HxWxC, got shape {raster.shape}")
    count = raster.shape[2]
    if bands is None:
        bands = (1, 2, 3) if count >= 3 else (1, 1, 1)
    if percentiles is None:
        if raster.dtype != np.uint8:
            raise CimgenError(f"a {raster.dtype} raster needs a stretch to 8 bits; give percentiles, e.g. 2,98")
        low, high = (0.0,) * 3, (255.0,) * 3
    else:
        ok = valid_pixels(raster, nodata)
        if not ok.any():
            raise CimgenError("every pixel of the image is no-data; there is nothing to stretch")
        low_l, high_l = [], []
        for b in bands:
            values = _sample(raster[..., b - 1][ok]).astype(np.float64)
            lo, hi = (float(v) for v in np.percentile(values, percentiles))
            if hi <= lo:  # a flat band: any one-level-wide window shows it
                hi = lo + 1.0
            low_l.append(lo)
            high_l.append(hi)
        low, high = tuple(low_l), tuple(high_l)
    return BandStretch(
        bands=tuple(int(b) for b in bands),  # type: ignore[arg-type]
        low=low,  # type: ignore[arg-type]
        high=high,  # type: ignore[arg-type]
        count=count,
        dtype=raster.dtype.name,
        nodata=nodata,
        percentiles=None if percentiles is None else (float(percentiles[0]), float(percentiles[1])),
    )


def to_rgb8(raster: np.ndarray, stretch: BandStretch) -> np.ndarray:
    """The HxWx3 uint8 view of ``raster`` under ``stretch`` (no-data pixels are black)."""
    _check(raster, stretch)
    out = np.empty((*raster.shape[:2], 3), np.uint8)
    for c, b in enumerate(stretch.bands):
        lo, hi = stretch.low[c], stretch.high[c]
        v = (raster[..., b - 1].astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        out[..., c] = np.clip(np.rint(np.nan_to_num(v, nan=0.0)), 0, 255).astype(np.uint8)
    out[~valid_pixels(raster, stretch.nodata)] = 0
    return out


def unshown_bands(stretch: BandStretch, keep: tuple[int, ...] = ()) -> list[int]:
    """1-based bands that are neither shown nor kept as they are: those ``from_rgb8`` predicts by a fit."""
    return [b for b in range(1, stretch.count + 1) if b not in stretch.bands and b not in keep]


def fit_bands(raster: np.ndarray, stretch: BandStretch, where: np.ndarray, *, keep: tuple[int, ...] = ()) -> dict[int, np.ndarray]:
    """Least-squares coefficients (r, g, b, 1) -> band, over the pixels ``where``, of each band ``from_rgb8`` predicts."""
    _check(raster, stretch)
    return {b: _fit_band(raster, stretch, where, b) for b in unshown_bands(stretch, keep)}


def from_rgb8(
    rgb: np.ndarray,
    raster: np.ndarray,
    stretch: BandStretch,
    mask: np.ndarray,
    *,
    keep: tuple[int, ...] = (),
    fits: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict]:
    """Write a manipulated 8-bit RGB ``rgb`` back into the source ``raster`` inside ``mask``; outside it, ``raster`` is kept exactly.

    Inside the mask each shown band is ``low + v / 255 * (high - low)`` of its channel ``v`` (a band
    shown in several channels, as a grey band is, takes their mean), rounded and clipped to the data
    type. A band that is not shown (the near infrared of an RGB + NIR raster) is predicted from the
    three channels by a least-squares linear fit over the valid pixels outside the mask, so it follows
    the edit instead of keeping the removed object's signature; bands in ``keep`` (alpha) are copied
    as they are. Source no-data pixels stay no-data, and no valid pixel is given the no-data value.

    ``fits`` gives those fits instead (``fit_bands``), for a raster that is one window of a larger
    scene: fitted on the window alone they would change from window to window.

    Returns:
        The new raster (same shape and dtype as ``raster``) and plain facts: the fit of each band not shown.
    """
    _check(raster, stretch)
    if rgb.shape != (*raster.shape[:2], 3) or rgb.dtype != np.uint8:
        raise CimgenError(f"the 8-bit result must be {raster.shape[1]}x{raster.shape[0]}x3 uint8, got {rgb.dtype} {rgb.shape}")
    if mask.shape != raster.shape[:2]:
        raise CimgenError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the raster is {raster.shape[1]}x{raster.shape[0]}")
    valid = valid_pixels(raster, stretch.nodata)
    inside = mask & valid
    out = raster.copy()
    info: dict = {"bands_fitted": {}}
    if not inside.any():
        return out, info
    rgb_in = rgb[inside].astype(np.float64)
    for b in range(1, stretch.count + 1):
        if b in keep:
            continue
        channels = [c for c, shown in enumerate(stretch.bands) if shown == b]
        if channels:
            c0 = channels[0]
            v = rgb_in[:, channels].mean(axis=1)
            values = stretch.low[c0] + v / 255.0 * (stretch.high[c0] - stretch.low[c0])
        else:
            coef = fits[b] if fits is not None else _fit_band(raster, stretch, valid & ~mask, b)
            info["bands_fitted"][str(b)] = {"from": "red, green, blue (8-bit)", "coefficients": [float(c) for c in coef]}
            values = np.c_[rgb_in, np.ones(len(rgb_in))] @ coef
        out[..., b - 1][inside] = _to_dtype(values, raster.dtype, stretch.nodata)
    return out, info


def _fit_band(raster: np.ndarray, stretch: BandStretch, where: np.ndarray, band: int) -> np.ndarray:
    """Least-squares coefficients (r, g, b, 1) -> band ``band`` over the pixels ``where``."""
    if not where.any():  # the mask covers the whole image: keep the band's mean
        return np.array([0.0, 0.0, 0.0, float(raster[..., band - 1].mean())])
    view = to_rgb8(raster, stretch)
    x = _sample(np.c_[view[where].astype(np.float64), np.ones(int(where.sum()))])
    y = _sample(raster[..., band - 1][where].astype(np.float64))
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef


def _to_dtype(values: np.ndarray, dtype: np.dtype, nodata: float | None) -> np.ndarray:
    """Float values rounded and clipped into ``dtype``, nudged off ``nodata``."""
    if dtype.kind == "f":
        out = values.astype(dtype)
        if nodata is not None and not np.isnan(nodata):
            out[out == nodata] = np.nextafter(dtype.type(nodata), dtype.type(np.inf))
        return out
    limits = np.iinfo(dtype)
    out = np.clip(np.rint(values), limits.min, limits.max)
    if nodata is not None:
        at = out == nodata
        out[at] = nodata + 1 if nodata < limits.max else nodata - 1
    return out.astype(dtype)


def _check(raster: np.ndarray, stretch: BandStretch) -> None:
    if raster.ndim != 3 or raster.shape[2] != stretch.count or raster.dtype.name != stretch.dtype:
        raise CimgenError(
            f"the stretch is for {stretch.count} {stretch.dtype} band(s), got a raster of shape {raster.shape} and type {raster.dtype}"
        )
