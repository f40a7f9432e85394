"""Vector layers in and out (GeoJSON, GeoPackage, Shapefile via pyogrio and shapely), CRSs and reprojection.

A ``VectorLayer`` is plain data: shapely geometries, the features' ids, their attribute
columns as NumPy arrays and the CRS as WKT. Reading needs the optional ``geo`` extra
(``pip install 'cimgen[geo]'``: pyogrio, shapely, rasterio), imported only when a layer is read,
reprojected or written. Reprojection goes through GDAL (rasterio), so CRSs known only by their
WKT, with no EPSG code, work as well as EPSG ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cimgen.errors import CimgenError
from cimgen.io.images import write_text
from cimgen.textfiles import json_text

INSTALL_HINT = "reading vector layers needs pyogrio, shapely and rasterio: pip install 'cimgen[geo]'"
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
MAX_FEATURES = 1_000_000
"""Most features a layer may hold; a scene's footprints are thousands."""


def _modules():
    try:
        import pyogrio
        import shapely
    except ImportError:
        raise CimgenError(INSTALL_HINT) from None
    return pyogrio, shapely


@dataclass(frozen=True)
class VectorLayer:
    """Features of one layer: geometries, ids, attribute columns and the CRS, as plain values."""

    geometries: np.ndarray
    """Object array of shapely geometries (None for a feature without one)."""
    ids: tuple
    """Each feature's id as the file gives it (GeoJSON ``id``, GeoPackage fid, Shapefile row)."""
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Attribute name -> one value per feature."""
    crs: str | None = None
    """The CRS as WKT, or None when the file states none."""
    source: str = "the vector layer"
    """How to name the layer in messages (its file name)."""

    def __len__(self) -> int:
        return len(self.geometries)

    def take(self, indices) -> VectorLayer:
        """The features at ``indices`` (positions), in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        return VectorLayer(
            self.geometries[idx], tuple(self.ids[i] for i in idx), {k: v[idx] for k, v in self.columns.items()}, self.crs, self.source
        )

    def with_geometries(self, geometries: np.ndarray, crs: str | None) -> VectorLayer:
        """The same features with new geometries (e.g. reprojected into ``crs``)."""
        return VectorLayer(geometries, self.ids, self.columns, crs, self.source)


def read_vector(path: str | Path, *, crs: str | None = None) -> VectorLayer:
    """Read the first layer of a GeoJSON, GeoPackage or Shapefile.

    Args:
        path: the file.
        crs: the CRS the coordinates are in (WKT), when the file states none or a wrong one.

    Raises:
        CimgenError: for a missing or unreadable file, or more features than ``MAX_FEATURES``.
    """
    pyogrio, shapely = _modules()
    from pyogrio.errors import DataLayerError, DataSourceError

    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{path} does not exist or is not a file")
    try:
        info = pyogrio.read_info(path)
        if info["features"] > MAX_FEATURES:
            raise CimgenError(f"{path} holds {info['features']:,} features, more than the {MAX_FEATURES:,} cimgen reads at once")
        meta, fids, wkb, values = pyogrio.raw.read(path, return_fids=True)
    except (DataSourceError, DataLayerError, RuntimeError) as e:
        raise CimgenError(f"{path} cannot be read as a vector layer ({str(e).splitlines()[0][:200]})") from None
    geometries = shapely.from_wkb(wkb) if wkb is not None else np.full(len(values[0]) if values else 0, None, object)
    n = len(geometries)
    ids = tuple(int(f) for f in fids) if fids is not None else tuple(range(n))
    columns = {str(name): np.asarray(col) for name, col in zip(meta["fields"], values)}
    stated = meta["crs"]
    wkt = crs if crs is not None else (None if stated is None else crs_wkt(stated))
    return VectorLayer(np.asarray(geometries, dtype=object), ids, columns, wkt, path.name)


def read_vector_fields(path: str | Path) -> tuple[int, tuple[str, ...]]:
    """The feature count and attribute names of a vector file's first layer, from its header (no geometry is read).

    Raises:
        CimgenError: for a missing or unreadable file.
    """
    pyogrio, _ = _modules()
    from pyogrio.errors import DataLayerError, DataSourceError

    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{path} does not exist or is not a file")
    try:
        info = pyogrio.read_info(path, force_feature_count=True)
    except (DataSourceError, DataLayerError, RuntimeError) as e:
        raise CimgenError(f"{path} cannot be read as a vector layer ({str(e).splitlines()[0][:200]})") from None
    return int(info["features"]), tuple(str(f) for f in info["fields"])


def crs_wkt(text: str) -> str:
    """A CRS given as ``EPSG:4326``, a WKT string, a PROJ string or an OGC URN, as WKT; one sentence when GDAL knows no such CRS."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(text).to_wkt()
    except (CRSError, ValueError, TypeError):
        raise CimgenError(f"'{str(text)[:80]}' is not a CRS GDAL knows; give e.g. EPSG:4326, EPSG:32616 or the CRS's WKT") from None


def same_crs(a: str | None, b: str | None) -> bool:
    """True when two WKT CRSs are the same (both None counts as the same)."""
    if a is None or b is None:
        return a is b
    from rasterio.crs import CRS

    return a == b or CRS.from_wkt(a) == CRS.from_wkt(b)


def crs_is_geographic(wkt: str) -> bool:
    """True for a longitude/latitude CRS."""
    from rasterio.crs import CRS

    return bool(CRS.from_wkt(wkt).is_geographic)


def crs_name(wkt: str | None) -> str:
    """A short name for messages: ``EPSG:32616``, else the CRS's own name."""
    if wkt is None:
        return "no CRS"
    from rasterio.crs import CRS

    crs = CRS.from_wkt(wkt)
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    return wkt.split('"')[1] if '"' in wkt else wkt[:40]


def reproject_xy(xs: np.ndarray, ys: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from CRS ``src`` to CRS ``dst`` (both WKT); longitudes first for geographic CRSs."""
    if same_crs(src, dst):
        return np.asarray(xs, float), np.asarray(ys, float)
    from rasterio.crs import CRS
    from rasterio.warp import transform

    x, y = transform(CRS.from_wkt(src), CRS.from_wkt(dst), np.asarray(xs, float), np.asarray(ys, float))
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise CimgenError(
            f"some coordinates cannot be carried from {crs_name(src)} into {crs_name(dst)} (they lie outside where it is defined)"
        )
    return x, y


def reproject_geometries(geometries: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Shapely geometries from CRS ``src`` to CRS ``dst`` (vertex by vertex; long edges are not densified)."""
    _, shapely = _modules()
    if same_crs(src, dst):
        return geometries

    def move(coords: np.ndarray) -> np.ndarray:
        if not len(coords):
            return coords
        x, y = reproject_xy(coords[:, 0], coords[:, 1], src, dst)
        return np.c_[x, y]

    return np.asarray(shapely.transform(geometries, move), dtype=object)


def _plain(value):
    """A NumPy scalar as a JSON value (NaN becomes null)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def geojson_text(layer: VectorLayer) -> str:
    """The layer as GeoJSON text with a ``crs`` member (``urn:ogc:def:crs:EPSG::N``, or the WKT when the CRS has no EPSG code).

    RFC 7946 GeoJSON is always longitude/latitude; a run's layers stay in the image's CRS so their
    coordinates match its pixels exactly, and GDAL, QGIS and pyogrio read the ``crs`` member back.
    """
    _, shapely = _modules()
    from rasterio.crs import CRS

    head: dict = {"type": "FeatureCollection"}
    if layer.crs is not None:
        epsg = CRS.from_wkt(layer.crs).to_epsg()
        head["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}" if epsg else layer.crs}}
    names = list(layer.columns)
    features = []
    for i, geom in enumerate(layer.geometries):
        props = {n: _plain(layer.columns[n][i]) for n in names}
        fid = _plain(layer.ids[i])
        geometry = "null" if geom is None else shapely.to_geojson(geom)
        features.append(
            f'{{"type": "Feature", "id": {json_text(fid, indent=None)}, "properties": {json_text(props, indent=None)}, "geometry": {geometry}}}'
        )
    text = json_text(head, indent=None)[:-1] + ', "features": [\n' + ",\n".join(features) + "\n]}\n"
    return text


def write_geojson(path: str | Path, layer: VectorLayer) -> Path:
    """Write ``layer`` as GeoJSON (see ``geojson_text``), atomically."""
    return write_text(Path(path), geojson_text(layer))
