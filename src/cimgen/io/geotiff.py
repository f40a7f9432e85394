"""GeoTIFF images and label maps in and out, keeping their map coordinates and metadata (needs rasterio).

rasterio is an optional extra (``pip install 'cimgen[geo]'``) and is imported only when a
GeoTIFF is read or written. What a file carries besides pixels travels in ``GeoInfo``, a small
frozen dataclass of plain values (WKT text, six floats, string dicts), so it can be saved as
JSON beside a run (``to_dict`` / ``from_dict``) and handed from reading to writing without
keeping the file open.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cimgen.errors import CimgenError

INSTALL_HINT = "reading/writing GeoTIFF needs rasterio: pip install 'cimgen[geo]'"

# Compressions that give back the written bytes exactly. The others (JPEG, WEBP, LERC) would
# change pixels outside an edit, so a file read with one of them is written with DEFLATE.
LOSSLESS_COMPRESSIONS = ("none", "deflate", "lzw", "packbits", "zstd", "lzma")
FALLBACK_COMPRESSION = "deflate"

# GDAL keeps decoded blocks in a cache of 5% of RAM by default: for a whole-scene read or write
# that is a second copy of the raster. cimgen reads and writes each block once, so a small
# cache (in MB) is enough and keeps peak memory near the size of the array itself.
GDAL_CACHE_MB = 64
STRIP_ROWS = 512  # rows read or written at once: a multiple of the 256-row blocks cimgen writes

# Integer types a GeoTIFF band can hold on every GDAL that rasterio 1.3 supports.
_LABEL_DTYPES = ("uint8", "uint16", "int16", "uint32", "int32")

MAX_PIXELS = 2**30
"""Most pixels (32768 x 32768) a GeoTIFF may declare for a whole-raster read, checked from its header before anything is allocated.

A sparse GeoTIFF can declare millions of pixels a side in a few hundred bytes."""

# TIFF tags that make a TIFF a GeoTIFF: ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory.
_GEOTIFF_TAGS = (33550, 33922, 34264, 34735)


@dataclass(frozen=True)
class GeoInfo:
    """Where a raster lies on the Earth and what else its file says, as plain data."""

    height: int
    """Rows of the raster the georeferencing describes."""
    width: int
    """Columns of the raster the georeferencing describes."""
    count: int = 1
    """Bands in the source file (the per-band fields below have this many entries)."""
    dtype: str = "uint8"
    """Data type of the source bands."""
    crs: str | None = None
    """Coordinate reference system as WKT, or None for a file without one."""
    transform: tuple[float, float, float, float, float, float] | None = None
    """Pixel-to-map affine (a, b, c, d, e, f): x = a*col + b*row + c, y = d*col + e*row + f; None when absent."""
    tags: dict[str, str] = field(default_factory=dict)
    """Dataset metadata (the default GDAL domain), e.g. AREA_OR_POINT or acquisition dates."""
    band_descriptions: tuple[str | None, ...] = ()
    """One description per band (None where the band has none)."""
    colorinterp: tuple[str, ...] = ()
    """Colour interpretation of each band: red, green, blue, gray, palette, alpha, undefined, ..."""
    nodata: float | None = None
    """The no-data value of the bands, or None."""
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    """Palette of a single-band file (value -> RGBA), or None."""
    compress: str | None = None
    """Compression of the source file (lower case, e.g. deflate, lzw, jpeg), None when uncompressed."""

    @property
    def is_georeferenced(self) -> bool:
        """True when the raster has a CRS or a pixel-to-map transform."""
        return self.crs is not None or self.transform is not None

    def to_dict(self) -> dict:
        """The fields as JSON-ready values (palette keys become strings, tuples lists)."""
        d = asdict(self)
        if self.colormap is not None:
            d["colormap"] = {str(k): list(v) for k, v in self.colormap.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GeoInfo:
        """The inverse of ``to_dict`` (also after a JSON round trip)."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise CimgenError(f"georeferencing has unknown fields: {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("transform") is not None:
            d["transform"] = tuple(float(v) for v in d["transform"])
        for name in ("band_descriptions", "colorinterp"):
            if name in d:
                d[name] = tuple(d[name])
        if d.get("colormap") is not None:
            d["colormap"] = {int(k): tuple(int(c) for c in v) for k, v in d["colormap"].items()}
        return cls(**d)


def _rasterio():
    try:
        import rasterio
    except ImportError:
        raise CimgenError(INSTALL_HINT) from None
    return rasterio


@contextmanager
def _open(path: str | Path):
    """An open dataset, with GDAL's block cache kept small (see ``GDAL_CACHE_MB``)."""
    rasterio = _rasterio()
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{path} does not exist or is not a file")
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        try:
            with warnings.catch_warnings():
                # A plain TIFF is readable too; is_georeferenced tells the caller.
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                ds = rasterio.open(path)
        except RasterioIOError as e:
            raise CimgenError(f"{path} cannot be read as a GeoTIFF ({e})") from None
        with ds:
            yield ds


def _info(ds) -> GeoInfo:
    transform = tuple(float(v) for v in tuple(ds.transform)[:6])
    if ds.crs is None and ds.transform.is_identity:  # rasterio's stand-in for "no geotransform"
        transform = None
    colormap = None
    if ds.count == 1 and ds.colorinterp[0].name == "palette":
        colormap = {int(k): tuple(int(c) for c in v) for k, v in ds.colormap(1).items()}
    compress = ds.compression.name.lower() if ds.compression is not None else None
    return GeoInfo(
        height=ds.height,
        width=ds.width,
        count=ds.count,
        dtype=ds.dtypes[0],
        crs=ds.crs.to_wkt() if ds.crs is not None else None,
        transform=transform,
        tags=dict(ds.tags()),
        band_descriptions=tuple(ds.descriptions),
        colorinterp=tuple(ci.name for ci in ds.colorinterp),
        nodata=None if ds.nodata is None else float(ds.nodata),
        colormap=colormap,
        compress=compress,
    )


def _check_declared_size(path: str | Path, ds) -> None:
    if ds.width * ds.height > MAX_PIXELS:
        raise CimgenError(
            f"{path} declares {ds.width}x{ds.height} pixels, more than the {MAX_PIXELS:,} cimgen reads at once; "
            "manipulate it window by window with cimgen manipulate --windowed (docs/large-images.md)"
        )


def read_geotiff_info(path: str | Path) -> GeoInfo:
    """The ``GeoInfo`` of a GeoTIFF, from its header only."""
    with _open(path) as ds:
        return _info(ds)


Window = tuple[int, int, int, int]
"""A part of a raster as (row, column, height, width) in pixels."""


def _window_of(path: str | Path, ds, window: Window | None):
    """The rasterio window to read: the whole raster (checked against ``MAX_PIXELS``) or ``window`` (checked to lie inside)."""
    from rasterio.windows import Window as RioWindow

    if window is None:
        _check_declared_size(path, ds)
        return RioWindow(0, 0, ds.width, ds.height)
    y, x, h, w = (int(v) for v in window)
    if h < 1 or w < 1 or y < 0 or x < 0 or y + h > ds.height or x + w > ds.width:
        raise CimgenError(f"the window of {w}x{h} pixels at (x={x}, y={y}) does not lie inside {path} ({ds.width}x{ds.height})")
    return RioWindow(x, y, w, h)


def read_geotiff(path: str | Path, *, window: Window | None = None) -> tuple[np.ndarray, GeoInfo]:
    """Read an 8-bit GeoTIFF as an HxWx3 uint8 RGB image, with its ``GeoInfo``.

    Files with three or more bands give their first three (RGB, RGBA, RGB + near infrared);
    a single grey band is repeated three times, a palette band is coloured through its
    palette, and grey + alpha keeps the grey.

    Args:
        path: the GeoTIFF.
        window: (row, column, height, width) to read only that part (scenes larger than memory);
            ``GeoInfo`` still describes the whole file.

    Raises:
        CimgenError: for a missing or unreadable file, non-8-bit pixels or an unusable band layout.
    """
    with _open(path) as ds:
        win = _window_of(path, ds, window)
        info = _info(ds)
        if info.dtype != "uint8":
            raise CimgenError(
                f"{path} has {info.dtype} pixels; cimgen reads 8-bit images, so convert it first (e.g. gdal_translate -ot Byte -scale)"
            )
        height, width = int(win.height), int(win.width)
        image = np.empty((height, width, 3), np.uint8)
        if ds.count >= 3:
            for y, strip in _strips(height, width, origin=(int(win.row_off), int(win.col_off))):  # only a strip is ever held twice
                image[y : y + strip.height] = ds.read((1, 2, 3), window=strip).transpose(1, 2, 0)
        elif ds.count == 1 or (ds.count == 2 and info.colorinterp[1] == "alpha"):
            grey = ds.read(1, window=win)
            if info.colormap is not None:
                lut = np.zeros((256, 3), np.uint8)
                for value, rgba in info.colormap.items():
                    if 0 <= value < 256:
                        lut[value] = rgba[:3]
                image[:] = lut[grey]
            else:
                image[:] = grey[..., None]
        else:
            raise CimgenError(f"{path} has {ds.count} bands ({', '.join(info.colorinterp)}); cimgen reads RGB or grey images")
    return image, info


def read_geotiff_labels(path: str | Path, *, window: Window | None = None) -> tuple[np.ndarray, GeoInfo]:
    """Read a single-band integer GeoTIFF (a label map or mask) as an HxW array, with its ``GeoInfo``.

    ``window`` (row, column, height, width) reads only that part; ``GeoInfo`` describes the whole file.

    Raises:
        CimgenError: for a missing or unreadable file, more than one band or non-integer values.
    """
    with _open(path) as ds:
        win = _window_of(path, ds, window)
        info = _info(ds)
        if ds.count != 1:
            raise CimgenError(f"{path} has {ds.count} bands; a label map or mask must be a single band of class values")
        if not np.issubdtype(np.dtype(info.dtype), np.integer):
            raise CimgenError(f"{path} holds {info.dtype} values; a label map or mask must hold integer class values")
        return ds.read(1, window=win), info


def read_geotiff_bands(path: str | Path, *, window: Window | None = None) -> tuple[np.ndarray, GeoInfo]:
    """Read every band of a GeoTIFF as an HxWxC array in the file's own data type (16-bit, float, any band count).

    This is the source raster a manipulation writes back into (``write_geotiff_bands``); the
    generator's 8-bit RGB view of it is made in ``cimgen.io.bands``. ``window`` (row, column,
    height, width) reads only that part; ``GeoInfo`` describes the whole file.

    Raises:
        CimgenError: for a missing or unreadable file, bands of different data types, or a raster too large to read.
    """
    with _open(path) as ds:
        win = _window_of(path, ds, window)
        info = _check_bands(path, ds)
        height, width = int(win.height), int(win.width)
        raster = np.empty((height, width, ds.count), np.dtype(info.dtype))
        for y, strip in _strips(height, width, origin=(int(win.row_off), int(win.col_off))):
            raster[y : y + strip.height] = ds.read(window=strip).transpose(1, 2, 0)
    return raster, info


def _check_bands(path: str | Path, ds) -> GeoInfo:
    info = _info(ds)
    if len(set(ds.dtypes)) != 1:
        raise CimgenError(f"{path} mixes band data types ({', '.join(ds.dtypes)}); cimgen reads rasters whose bands share one type")
    if np.dtype(info.dtype).kind not in "uif":
        raise CimgenError(f"{path} holds {info.dtype} values; cimgen reads integer or floating-point bands")
    return info


SAMPLE_PIXELS = 2**20
"""Most pixels ``read_geotiff_sample`` holds (1024 x 1024): a uint16 band of it is 2 MiB."""


SAMPLE_BLOCK_PIXELS = 2**22
"""Most pixels ``read_geotiff_sample`` reads at once (a 2048 x 2048 window), however large the file's blocks."""


def read_geotiff_sample(path: str | Path, *, max_pixels: int | None = None) -> tuple[np.ndarray, GeoInfo, np.ndarray, np.ndarray]:
    """Every band of a GeoTIFF on a regular grid of at most ``max_pixels`` of its pixels, without holding the raster.

    A raster of at most ``max_pixels`` (default ``SAMPLE_PIXELS``) is read whole. A larger one is
    decimated by a whole factor ``f`` along both axes: the sample holds the source pixels at rows and
    columns ``floor((i + 0.5) * size / n)`` (what GDAL's nearest-neighbour read at ``out_shape`` picks),
    their values untouched. It is read block by block at full resolution, only the block rows that hold
    a sampled row, and each block once, so it never uses overviews (averaged ones would narrow the
    value distribution and mix no-data into their neighbours) and memory holds one block and the
    sample. GDAL's own decimated read (``out_shape``, nearest) picks the same pixels, but under the
    64 MB block cache cimgen holds GDAL to it took 57 s on a 16384 x 16384 deflate file of 512-pixel
    blocks, against 3 s here (and 2 s with GDAL's default cache, 5% of the memory).

    Returns:
        (sample h x w x C in the file's type, ``GeoInfo``, the sample's source rows (h), its source columns (w)).
    """
    from rasterio.windows import Window as RioWindow

    max_pixels = SAMPLE_PIXELS if max_pixels is None else max_pixels
    if max_pixels < 1:
        raise CimgenError(f"a sample needs at least one pixel, got {max_pixels}")
    with _open(path) as ds:
        info = _check_bands(path, ds)
        factor = max(1, math.ceil(math.sqrt(info.height * info.width / max_pixels)))
        if factor == 1:
            raster = np.empty((ds.height, ds.width, ds.count), np.dtype(info.dtype))
            for y, strip in _strips(ds.height, ds.width):
                raster[y : y + strip.height] = ds.read(window=strip).transpose(1, 2, 0)
            return raster, info, np.arange(info.height), np.arange(info.width)
        h, w = -(-info.height // factor), -(-info.width // factor)
        rows = np.floor((np.arange(h) + 0.5) * info.height / h).astype(np.int64)
        cols = np.floor((np.arange(w) + 0.5) * info.width / w).astype(np.int64)
        sample = np.empty((h, w, ds.count), np.dtype(info.dtype))
        bh, bw = ds.block_shapes[0]
        bh, bw = min(bh, 2048), min(bw, max(SAMPLE_BLOCK_PIXELS // min(bh, 2048), 1))
        for y0 in range(0, info.height, bh):
            ri = np.flatnonzero((rows >= y0) & (rows < y0 + bh))
            if not len(ri):
                continue
            y1 = int(rows[ri[-1]]) + 1
            for x0 in range(0, info.width, bw):
                ci = np.flatnonzero((cols >= x0) & (cols < x0 + bw))
                if not len(ci):
                    continue
                x1 = int(cols[ci[-1]]) + 1
                block = ds.read(window=RioWindow(x0, y0, x1 - x0, y1 - y0))
                sample[np.ix_(ri, ci)] = block[:, rows[ri] - y0][:, :, cols[ci] - x0].transpose(1, 2, 0)
    return sample, info, rows, cols


def _band_dtype(array: np.ndarray) -> str:
    """The GeoTIFF data type an image or label array is written with (never losing a value)."""
    if array.dtype == bool:
        return "uint8"
    if not np.issubdtype(array.dtype, np.integer):
        raise CimgenError(f"GeoTIFF output must be a uint8 image or an integer label map, got {array.dtype} values")
    if array.dtype.name in _LABEL_DTYPES:
        return array.dtype.name
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    for name in _LABEL_DTYPES:
        limits = np.iinfo(name)
        if limits.min <= low and high <= limits.max:
            return name
    raise CimgenError(f"label values {low}..{high} do not fit a GeoTIFF integer band")


def write_geotiff(path: str | Path, array: np.ndarray, info: GeoInfo | None = None, *, compress: str | None = None) -> Path:
    """Write an image or a label map as a GeoTIFF with ``info``'s georeferencing and metadata, atomically.

    The file is written next to ``path`` under a temporary name and moved into place, so an
    error never leaves a partial file. Kept from ``info``: CRS, transform, dataset tags and the
    compression (lossy ones become DEFLATE so written pixels are exact). Band descriptions,
    colour interpretation, no-data value and palette are kept when the array has the same kind
    of bands as the source (single band for single band; for several, the first ones).

    Args:
        path: the ``.tif`` file to write.
        array: HxWx3 uint8 image, or HxW integer labels / bool mask.
        info: georeferencing to write (its size must match), or None for a plain TIFF.
        compress: compression to use instead of ``info``'s (e.g. deflate, lzw, zstd, none).

    Raises:
        CimgenError: for a float image, a size that does not match ``info`` or a bad compression.
    """
    _rasterio()
    from rasterio.crs import CRS
    from rasterio.enums import ColorInterp
    from rasterio.transform import Affine

    path = Path(path)
    if array.ndim == 3:
        if array.shape[2] != 3 or array.dtype != np.uint8:
            raise CimgenError(f"a GeoTIFF image must be HxWx3 uint8, got {array.dtype} {array.shape}")
        dtype, count = "uint8", 3
    elif array.ndim == 2:
        dtype, count = _band_dtype(array), 1
    else:
        raise CimgenError(f"GeoTIFF output must be an HxWx3 image or an HxW label map, got shape {array.shape}")
    height, width = array.shape[:2]
    if height < 1 or width < 1:
        raise CimgenError(f"cannot write an empty {width}x{height} raster")
    if info is not None and (info.height, info.width) != (height, width):
        raise CimgenError(f"the raster is {width}x{height} but its georeferencing describes {info.width}x{info.height} pixels")

    compress = _compression(info, compress)

    profile = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype, "BIGTIFF": "IF_SAFER"}
    if compress != "none":
        profile["compress"] = compress
        if compress in ("deflate", "lzw", "zstd"):
            profile["predictor"] = 2  # horizontal differencing: smaller files, same pixels
    if height >= 256 and width >= 256:  # internal tiles make windowed reads of big scenes cheap
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if count == 3:
        profile["photometric"] = "RGB"
    keep_bands = info is not None and count <= info.count and (count == 1) == (info.count == 1)
    if info is not None:
        if info.crs is not None:
            profile["crs"] = CRS.from_wkt(info.crs)
        if info.transform is not None:
            profile["transform"] = Affine(*info.transform)
        if keep_bands and info.nodata is not None and _fits(info.nodata, dtype):
            profile["nodata"] = info.nodata
    colormap = info.colormap if keep_bands and count == 1 and dtype in ("uint8", "uint16") else None

    def fill(ds) -> None:
        if count == 3:
            for y, window in _strips(height, width):
                ds.write(np.ascontiguousarray(array[y : y + window.height].transpose(2, 0, 1)), window=window)
        else:
            ds.write(array.astype(dtype, copy=False), 1)
        if info is not None:
            if info.tags:
                ds.update_tags(**info.tags)
            if keep_bands:
                for band, text in enumerate(info.band_descriptions[:count], start=1):
                    if text:
                        ds.set_band_description(band, text)
            if colormap:
                ds.write_colormap(1, colormap)  # also makes the band's interpretation "palette"
            elif keep_bands and len(info.colorinterp) >= count and "palette" not in info.colorinterp[:count]:
                ds.colorinterp = [ColorInterp[name] for name in info.colorinterp[:count]]

    return _write_atomically(path, profile, fill)


def _write_atomically(path: Path, profile: dict, fill) -> Path:
    """Open a temporary GeoTIFF beside ``path`` with ``profile``, let ``fill(dataset)`` write it, then move it into place."""
    rasterio = _rasterio()
    from rasterio.errors import NotGeoreferencedWarning

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.tif")
    os.close(fd)
    try:
        with warnings.catch_warnings(), rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(tmp, "w", **profile) as ds:
                fill(ds)
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, tmp + ".aux.xml"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        raise
    return path


def _compression(info: GeoInfo | None, compress: str | None) -> str:
    """The lossless compression a raster is written with: ``compress``, else the source's (lossy ones become DEFLATE)."""
    if compress is None:
        if info is None:
            return FALLBACK_COMPRESSION
        if info.compress is None:
            return "none"
        return info.compress if info.compress in LOSSLESS_COMPRESSIONS else FALLBACK_COMPRESSION
    if compress.lower() not in LOSSLESS_COMPRESSIONS:
        raise CimgenError(f"compression '{compress}' is not one of the lossless {', '.join(LOSSLESS_COMPRESSIONS)}")
    return compress.lower()


def write_geotiff_bands(path: str | Path, raster: np.ndarray, info: GeoInfo, *, compress: str | None = None) -> Path:
    """Write an HxWxC raster in its own data type with all of ``info``: CRS, transform, nodata, tags, band descriptions, colour interpretation.

    The inverse of ``read_geotiff_bands``: a raster read and written back unchanged gives the
    same pixels, bit for bit, and the same metadata (as far as ``GeoInfo`` holds it). Written
    atomically like ``write_geotiff``.

    Raises:
        CimgenError: when the raster's size, band count or data type differs from ``info``'s source.
    """
    _rasterio()
    from rasterio.crs import CRS
    from rasterio.enums import ColorInterp
    from rasterio.transform import Affine

    path = Path(path)
    if raster.ndim != 3:
        raise CimgenError(f"a raster to write must be HxWxC, got shape {raster.shape}")
    height, width, count = raster.shape
    if (height, width, count, raster.dtype.name) != (info.height, info.width, info.count, info.dtype):
        raise CimgenError(
            f"the raster is {width}x{height}x{count} {raster.dtype.name} but its source was {info.width}x{info.height}x{info.count} {info.dtype}"
        )
    profile = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": info.dtype, "BIGTIFF": "IF_SAFER"}
    compress = _compression(info, compress)
    if compress != "none":
        profile["compress"] = compress
        if compress in ("deflate", "lzw", "zstd"):
            profile["predictor"] = 3 if raster.dtype.kind == "f" else 2
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if info.crs is not None:
        profile["crs"] = CRS.from_wkt(info.crs)
    if info.transform is not None:
        profile["transform"] = Affine(*info.transform)
    if info.nodata is not None:
        profile["nodata"] = info.nodata
    if count == 3 and info.colorinterp[:3] == ("red", "green", "blue"):
        profile["photometric"] = "RGB"

    def fill(ds) -> None:
        for y, window in _strips(height, width):
            ds.write(np.ascontiguousarray(raster[y : y + window.height].transpose(2, 0, 1)), window=window)
        if info.tags:
            ds.update_tags(**info.tags)
        for band, text in enumerate(info.band_descriptions[:count], start=1):
            if text:
                ds.set_band_description(band, text)
        if info.colormap and count == 1:
            ds.write_colormap(1, info.colormap)
        elif len(info.colorinterp) == count and "palette" not in info.colorinterp:
            ds.colorinterp = [ColorInterp[name] for name in info.colorinterp]

    return _write_atomically(path, profile, fill)


def _strips(height: int, width: int, origin: tuple[int, int] = (0, 0)):
    """(top row, window) of full-width strips of ``STRIP_ROWS`` rows of a height x width part at ``origin`` (row, column).

    Pixel-interleaved files hold all bands of a pixel in one block, so all three bands are read
    and written a strip at a time: band by band, a small block cache would decode or encode
    every block three times.
    """
    from rasterio.windows import Window

    for y in range(0, height, STRIP_ROWS):
        yield y, Window(origin[1], origin[0] + y, width, min(STRIP_ROWS, height - y))


def _fits(value: float, dtype: str) -> bool:
    limits = np.iinfo(dtype)
    return float(value).is_integer() and limits.min <= value <= limits.max


def is_georeferenced(path: str | Path) -> bool:
    """True when ``path`` is a TIFF that places its pixels on the Earth (a CRS or a geotransform).

    With rasterio installed it answers as GDAL reads the file; without it, a TIFF counts as
    georeferenced when it carries any GeoTIFF tag, so the answer never needs the optional extra.
    Files that are not TIFFs are never georeferenced here.
    """
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{path} does not exist or is not a file")
    if path.suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        _rasterio()
    except CimgenError:
        return _has_geotiff_tags(path)
    return read_geotiff_info(path).is_georeferenced


def _has_geotiff_tags(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            tags = getattr(img, "tag_v2", {})
            return any(t in tags for t in _GEOTIFF_TAGS)
    except (UnidentifiedImageError, OSError) as e:
        raise CimgenError(f"{path} cannot be read as a TIFF ({e.__class__.__name__})") from None


# ----------------------------------------------------------------------------------------------
# Scenes larger than memory: a source copied block by block with a few windows written over it

COG_BLOCK = 512
"""Block side of the Cloud-Optimized GeoTIFFs cimgen writes (GDAL's COG default)."""
COG_COMPRESSIONS = ("none", "deflate", "lzw", "zstd", "lzma")
"""Lossless compressions GDAL's COG driver writes; a source in another (packbits) gets DEFLATE."""
OVERVIEW_RESAMPLINGS = ("average", "nearest", "mode", "bilinear", "cubic")


def _predictor(compress: str, dtype: str) -> dict:
    if compress not in ("deflate", "lzw", "zstd"):
        return {}
    return {"PREDICTOR": 3 if np.dtype(dtype).kind == "f" else 2}


def cog_overview_factors(height: int, width: int) -> list[int]:
    """Overview factors 2, 4, 8, ... until an overview fits in one ``COG_BLOCK`` block (what the COG driver's AUTO makes)."""
    factors, f = [], 2
    while -(-max(height, width) // (f // 2)) > COG_BLOCK:
        factors.append(f)
        f *= 2
    return factors


def write_patched_geotiff(
    path: str | Path,
    source: str | Path,
    patches,
    *,
    cog: bool = True,
    overview_resampling: str = "average",
) -> Path:
    """Write ``source`` to ``path`` with ``patches`` written over it, never holding the whole raster.

    GDAL copies the source block by block into a temporary uncompressed tiled GeoTIFF beside
    ``path``, the patches are written into it window by window, and GDAL copies that, again block
    by block, into ``path``: a Cloud-Optimized GeoTIFF (GDAL's COG driver: 512-pixel blocks,
    overviews halving down to one block, ``overview_resampling``) or, with ``cog=False``, a tiled
    GeoTIFF without overviews. The overviews are built on the uncompressed temporary file and
    handed to the COG driver (``OVERVIEWS=FORCE_USE_EXISTING``): at 6144 x 6144 that took 9 s
    against 24 s for the driver's own overview pass, which goes through a compressed temporary file. Pixels outside the patches are the source's bit for bit (lossy source
    compressions become DEFLATE, as in ``write_geotiff``); CRS, transform, tags, no-data and band
    interpretation are the source's. Written atomically: an error leaves no partial file.

    Args:
        path: the ``.tif`` to write.
        source: the GeoTIFF to copy.
        patches: iterable of (row, column, array): HxWxC arrays (C up to the source's bands, the
            first C bands are written) or HxW arrays for a one-band source, in the source's data type.
        cog: Cloud-Optimized GeoTIFF with overviews (True) or plain tiled GeoTIFF.
        overview_resampling: how overviews are made (average for images, nearest or mode for labels).
    """
    rasterio = _rasterio()
    from rasterio.shutil import copy as gdal_copy
    from rasterio.windows import Window as RioWindow

    if overview_resampling not in OVERVIEW_RESAMPLINGS:
        raise CimgenError(f"unknown overview resampling '{overview_resampling}'; choose one of {', '.join(OVERVIEW_RESAMPLINGS)}")
    path, source = Path(path), Path(source)
    with _open(source) as ds:
        info = _info(ds)
    compress = _compression(info, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    made = []
    try:
        for suffix in (".work.tif", ".tmp.tif"):
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
            os.close(fd)
            made.append(name)
        work, final = made
        with warnings.catch_warnings(), rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            from rasterio.errors import NotGeoreferencedWarning

            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            gdal_copy(str(source), work, driver="GTiff", TILED="YES", BLOCKXSIZE=256, BLOCKYSIZE=256, BIGTIFF="YES", COMPRESS="NONE")
            with rasterio.open(work, "r+") as dst:
                for y, x, array in patches:
                    bands = array[..., None] if array.ndim == 2 else array
                    h, w, c = bands.shape
                    if c > dst.count or bands.dtype.name != info.dtype:
                        raise CimgenError(f"a patch of {c} {bands.dtype.name} bands does not fit {source} ({dst.count} {info.dtype} bands)")
                    if y < 0 or x < 0 or y + h > dst.height or x + w > dst.width:
                        raise CimgenError(f"a {w}x{h} patch at (x={x}, y={y}) does not lie inside {source} ({dst.width}x{dst.height})")
                    dst.write(np.ascontiguousarray(bands.transpose(2, 0, 1)), indexes=list(range(1, c + 1)), window=RioWindow(x, y, w, h))
            if cog:
                from rasterio.enums import Resampling

                with rasterio.open(work, "r+") as dst:
                    dst.build_overviews(cog_overview_factors(dst.height, dst.width), Resampling[overview_resampling])
                codec = compress if compress in COG_COMPRESSIONS else FALLBACK_COMPRESSION
                gdal_copy(
                    work, final, driver="COG", COMPRESS=codec.upper(), BLOCKSIZE=COG_BLOCK, OVERVIEWS="FORCE_USE_EXISTING",
                    BIGTIFF="IF_SAFER", **_predictor(codec, info.dtype),
                )  # fmt: skip
            else:
                gdal_copy(
                    work, final, driver="GTiff", TILED="YES", BLOCKXSIZE=256, BLOCKYSIZE=256, BIGTIFF="IF_SAFER",
                    COMPRESS=compress.upper(), **_predictor(compress, info.dtype),
                )  # fmt: skip
        os.replace(final, path)
    finally:
        for name in made:
            for leftover in (name, name + ".aux.xml", name + ".ovr"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    return path


def write_sparse_geotiff(path: str | Path, info: GeoInfo, patches, *, count: int, dtype: str = "uint8") -> Path:
    """A tiled GeoTIFF of ``info``'s size and place in which only ``patches`` are stored; every other pixel reads as 0.

    GDAL's SPARSE_OK leaves the blocks no patch touches unwritten, so a mask or a rendering of a
    few windows of a 32768x32768 scene costs the size of those windows on disk and in memory.

    Args:
        path: the ``.tif`` to write.
        info: the scene's georeferencing (size, CRS, transform).
        patches: iterable of (row, column, array HxW or HxWxcount) in ``dtype``.
        count: bands.
        dtype: data type.
    """
    _rasterio()
    from rasterio.crs import CRS
    from rasterio.transform import Affine
    from rasterio.windows import Window as RioWindow

    profile = {
        "driver": "GTiff", "height": info.height, "width": info.width, "count": count, "dtype": dtype, "BIGTIFF": "IF_SAFER",
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": FALLBACK_COMPRESSION, "SPARSE_OK": "TRUE",
    }  # fmt: skip
    if count == 3:
        profile["photometric"] = "RGB"
    if info.crs is not None:
        profile["crs"] = CRS.from_wkt(info.crs)
    if info.transform is not None:
        profile["transform"] = Affine(*info.transform)

    def fill(ds) -> None:
        for y, x, array in patches:
            bands = array[..., None] if array.ndim == 2 else array
            h, w, _ = bands.shape
            ds.write(np.ascontiguousarray(bands.transpose(2, 0, 1).astype(dtype, copy=False)), window=RioWindow(x, y, w, h))

    return _write_atomically(Path(path), profile, fill)


# ----------------------------------------------------------------------------------------------
# Output whose cost follows the edits: the edited windows as a small GeoTIFF, a VRT mosaicking them over the source

VRT_DOCS = "https://gdal.org/drivers/raster/vrt.html"
"""GDAL's VRT format (VRTDataset, VRTRasterBand, SimpleSource with SrcRect and DstRect), which ``write_patch_vrt`` writes."""


def write_patch_geotiff(path: str | Path, source: str | Path, box: tuple[int, int, int, int], patches) -> Path:
    """The windows ``patches`` of ``source``, edited, as one tiled GeoTIFF on the source's grid covering ``box`` only.

    The file is ``box``'s size (y0, x0, y1, x1 in the source's pixels) and its transform is the
    source's moved to ``box``'s corner, so every pixel sits where it sits in the source; it has the
    source's CRS, data type, bands, no-data, tags, band descriptions, colour interpretation and
    lossless compression. Blocks no patch touches are never written (GDAL's SPARSE_OK: they cost a
    few bytes of the tile index and read as the no-data value, or 0), so the file and the time to
    write it follow the patches, not the box. A patch with fewer bands than the source gets the
    source's other bands in its window. Written atomically.

    Args:
        path: the ``.tif`` to write.
        source: the GeoTIFF the patches were cut from.
        box: (y0, x0, y1, x1) that holds every patch.
        patches: iterable of (row, column, array) in the source's pixels: HxWxC arrays (C up to the
            source's bands) or HxW arrays for a one-band source, in the source's data type.
    """
    _rasterio()
    from rasterio.crs import CRS
    from rasterio.enums import ColorInterp
    from rasterio.transform import Affine
    from rasterio.windows import Window as RioWindow

    source = Path(source)
    info = read_geotiff_info(source)
    y0, x0, y1, x1 = (int(v) for v in box)
    if not (0 <= y0 < y1 <= info.height and 0 <= x0 < x1 <= info.width):
        raise CimgenError(f"the patch box x {x0}..{x1}, y {y0}..{y1} does not lie inside {source} ({info.width}x{info.height})")
    compress = _compression(info, None)
    profile = {
        "driver": "GTiff", "height": y1 - y0, "width": x1 - x0, "count": info.count, "dtype": info.dtype, "BIGTIFF": "IF_SAFER",
        "tiled": True, "blockxsize": 256, "blockysize": 256, "SPARSE_OK": "TRUE",
    }  # fmt: skip
    if compress != "none":
        profile["compress"] = compress
        profile.update({k.lower(): v for k, v in _predictor(compress, info.dtype).items()})
    if info.crs is not None:
        profile["crs"] = CRS.from_wkt(info.crs)
    if info.transform is not None:
        profile["transform"] = Affine(*info.transform) @ Affine.translation(x0, y0)
    if info.nodata is not None:
        profile["nodata"] = info.nodata
    if info.count == 3 and info.colorinterp[:3] == ("red", "green", "blue"):
        profile["photometric"] = "RGB"

    def fill(ds) -> None:
        with _open(source) as src:
            for y, x, array in patches:
                bands = array[..., None] if array.ndim == 2 else array
                h, w, c = bands.shape
                if c > info.count or bands.dtype.name != info.dtype:
                    raise CimgenError(f"a patch of {c} {bands.dtype.name} bands does not fit {source} ({info.count} {info.dtype} bands)")
                if y < y0 or x < x0 or y + h > y1 or x + w > x1:
                    raise CimgenError(f"a {w}x{h} patch at (x={x}, y={y}) does not lie inside the patch box x {x0}..{x1}, y {y0}..{y1}")
                stack = np.ascontiguousarray(bands.transpose(2, 0, 1))
                if c < info.count:  # the bands the edit did not write: the source's
                    rest = src.read(list(range(c + 1, info.count + 1)), window=RioWindow(x, y, w, h))
                    stack = np.concatenate([stack, rest])
                ds.write(stack, window=RioWindow(x - x0, y - y0, w, h))
        if info.tags:
            ds.update_tags(**info.tags)
        for band, text in enumerate(info.band_descriptions[: info.count], start=1):
            if text:
                ds.set_band_description(band, text)
        if info.colormap and info.count == 1:
            ds.write_colormap(1, info.colormap)
        elif len(info.colorinterp) == info.count and "palette" not in info.colorinterp:
            ds.colorinterp = [ColorInterp[name] for name in info.colorinterp]

    return _write_atomically(Path(path), profile, fill)


def write_patch_vrt(
    path: str | Path, source: str | Path, patch: str | Path, box: tuple[int, int, int, int], rects: list[tuple[int, int, int, int]]
) -> Path:
    """A GDAL VRT that reads as ``source`` with the rectangles ``rects`` of ``patch`` laid over it.

    GDAL itself writes the VRT of ``source`` (its VRT driver's copy: size, CRS, transform,
    metadata, and per band the data type, no-data, description, colour interpretation, palette and
    one ``SimpleSource`` for the whole scene); to each band one more ``SimpleSource`` is added per
    rectangle, reading it from ``patch`` (``SrcRect``) onto the same place of the scene
    (``DstRect``). In a VRT later sources are drawn over earlier ones, so reading the VRT gives the
    source outside ``rects`` and the patch inside them, pixel for pixel what writing the patch into
    a copy of the source gives; a ``SimpleSource`` copies values as they are (no-data values too).
    The source is named by its **absolute** path (the run folder can move; the scene must stay),
    the patch relative to the VRT (they travel together). Written atomically. Format: ``VRT_DOCS``.

    Args:
        path: the ``.vrt`` to write.
        source: the GeoTIFF scene.
        patch: the GeoTIFF of ``write_patch_geotiff``, in the same folder as ``path``.
        box: (y0, x0, y1, x1) of the scene that ``patch`` covers.
        rects: (row, column, height, width) in the scene's pixels, each inside ``box``.
    """
    rasterio = _rasterio()
    from rasterio.shutil import copy as gdal_copy

    path, source, patch = Path(path), Path(source).resolve(), Path(patch)
    if patch.parent.resolve() != path.parent.resolve():
        raise CimgenError(f"the VRT names its patch relative to itself, so {patch} must lie in {path.parent}")
    y0, x0, y1, x1 = (int(v) for v in box)
    with _open(patch) as ds:
        patch_props = {
            "RasterXSize": str(ds.width), "RasterYSize": str(ds.height),
            "BlockXSize": str(ds.block_shapes[0][1]), "BlockYSize": str(ds.block_shapes[0][0]),
        }  # fmt: skip
        if (ds.height, ds.width) != (y1 - y0, x1 - x0):
            raise CimgenError(f"{patch} is {ds.width}x{ds.height}, not the {x1 - x0}x{y1 - y0} of its box")
    for row, col, h, w in rects:
        if row < y0 or col < x0 or row + h > y1 or col + w > x1 or h < 1 or w < 1:
            raise CimgenError(f"a {w}x{h} rectangle at (x={col}, y={row}) does not lie inside the patch box x {x0}..{x1}, y {y0}..{y1}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.vrt")
    os.close(fd)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            gdal_copy(str(source), tmp, driver="VRT")  # writes XML only: no pixel is read
        tree = ET.parse(tmp)
        root = tree.getroot()
        for md in root.findall("Metadata"):
            if md.get("domain") == "IMAGE_STRUCTURE":  # the source's compression and interleave, not the VRT's
                root.remove(md)
        for band in root.findall("VRTRasterBand"):
            sources = band.findall("SimpleSource")
            if len(sources) != 1:
                raise CimgenError(f"GDAL's VRT of {source} has {len(sources)} sources in band {band.get('band')}, not one")
            name = sources[0].find("SourceFilename")
            name.text, name.attrib["relativeToVRT"] = str(source), "0"
            data_type = sources[0].find("SourceProperties").get("DataType")
            for row, col, h, w in rects:
                s = ET.SubElement(band, "SimpleSource")
                ET.SubElement(s, "SourceFilename", relativeToVRT="1").text = patch.name
                ET.SubElement(s, "SourceBand").text = band.get("band")
                ET.SubElement(s, "SourceProperties", DataType=data_type, **patch_props)
                ET.SubElement(s, "SrcRect", xOff=str(col - x0), yOff=str(row - y0), xSize=str(w), ySize=str(h))
                ET.SubElement(s, "DstRect", xOff=str(col), yOff=str(row), xSize=str(w), ySize=str(h))
        ET.indent(tree)
        tree.write(tmp, encoding="unicode")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
