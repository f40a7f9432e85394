"""Geodata of a run, from files and into its folder: the vector layer drawn as the map, source bands, truth.geojson and edited.geojson.

``cimgen manipulate`` and ``cimgen edit`` call this with ``--vector`` and ``--classes`` (a vector
layer drawn on the image's grid replaces ``--map``) and with any georeferenced image (the
region that was manipulated, as polygons, goes beside the result). Every input is read and
checked here before a run writes anything; what is bad about it is said in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from cimgen.data.vector_labels import (
    ClassMapping,
    Grid,
    Rasterized,
    check_mapping,
    parse_mapping,
    prepare_layer,
    rasterize_layer,
    region_polygons,
)
from cimgen.edit.ops import InsertGeometry, InsertShape, MoveObject, PaintRegion, PasteObject, RemoveFeatures, object_at
from cimgen.edit.spec import GeoContext
from cimgen.errors import CimgenError
from cimgen.io.bands import BandStretch, fit_stretch, parse_bands, parse_percentiles, to_rgb8
from cimgen.io.geotiff import GeoInfo, is_georeferenced, read_geotiff, read_geotiff_bands, read_geotiff_info
from cimgen.io.images import read_image
from cimgen.io.vector import VectorLayer, crs_is_geographic, crs_name, crs_wkt, read_vector, reproject_geometries, same_crs
from cimgen.palette import Palette
from cimgen.textfiles import json_text, read_yaml

GEOTIFF_SUFFIXES = (".tif", ".tiff")
LOST_SHARE = 0.5
"""A feature leaves the edited vector layer when the edits changed more than this share of the pixels it owned."""


# ----------------------------------------------------------------------------------------------
# The image: any band count and bit depth


@dataclass
class ImageSource:
    """An image as the generator sees it (8-bit RGB) and, for a GeoTIFF, as its file holds it."""

    image: np.ndarray
    """HxWx3 uint8, what the generator and the blend see."""
    geo: GeoInfo | None = None
    """Georeferencing and metadata of a GeoTIFF, else None."""
    raster: np.ndarray | None = None
    """HxWxC source bands in the file's data type, when they are not plain 8-bit RGB (written back into ``result.tif``)."""
    stretch: BandStretch | None = None
    """How ``raster`` became ``image``."""


def is_geotiff(path: Path) -> bool:
    """A .tif/.tiff file that places its pixels on the Earth."""
    return path.suffix.lower() in GEOTIFF_SUFFIXES and path.is_file() and is_georeferenced(path)


def read_image_source(path: Path, *, bands: str = "", stretch: str = "") -> ImageSource:
    """Read an image; a GeoTIFF that is not plain 8-bit RGB (16-bit, one band, four bands, int16, float) keeps its source bands.

    Args:
        path: PNG, JPEG or GeoTIFF.
        bands: ``R,G,B`` (or one band for grey) of the GeoTIFF shown to the generator; default 1,2,3 (band 1 for fewer than 3).
        stretch: ``LOW,HIGH`` percentiles mapped to 0 and 255; default 2,98 (8-bit rasters are shown as they are).
    """
    if not is_geotiff(path):
        if bands or stretch:
            raise CimgenError(f"--bands and --stretch are for GeoTIFF images; {path} is not a georeferenced TIFF")
        return ImageSource(read_image(path))
    info = read_geotiff_info(path)
    plain_rgb = info.dtype == "uint8" and info.count == 3
    palette_band = info.dtype == "uint8" and info.count == 1 and info.colormap is not None
    if (plain_rgb or palette_band) and not bands and not stretch:
        image, geo = read_geotiff(path)
        return ImageSource(image, geo)
    raster, geo = read_geotiff_bands(path)
    percentiles = parse_percentiles(stretch) if stretch else (None if raster.dtype == np.uint8 else (2.0, 98.0))
    fitted = fit_stretch(raster, bands=parse_bands(bands, raster.shape[2]), percentiles=percentiles, nodata=geo.nodata)
    return ImageSource(to_rgb8(raster, fitted), geo, raster, fitted)


def grid_of(info: GeoInfo, path: Path) -> Grid:
    """The pixel grid of a georeferenced image."""
    if info.transform is None:
        raise CimgenError(f"{path} has no geotransform, so no map coordinate can be placed on its pixels")
    return Grid(info.height, info.width, info.transform, info.crs)


def geo_context(path: Path) -> GeoContext | None:
    """The grid of a GeoTIFF image (for boxes and polygons in map coordinates), or None for other images."""
    if not is_geotiff(path):
        return None
    info = read_geotiff_info(path)
    return GeoContext(grid_of(info, path)) if info.transform is not None else None


# ----------------------------------------------------------------------------------------------
# The vector layer drawn as the map


@dataclass
class VectorInputs:
    """A vector layer read, checked, carried into the image's CRS and drawn on its grid."""

    grid: Grid
    """The image's grid."""
    layer: VectorLayer
    """The features in the image's CRS (invalid geometries repaired)."""
    mapping: ClassMapping
    """Attribute queries -> classes."""
    drawn: Rasterized
    """The label map and the feature that owns each pixel."""
    notes: dict = field(default_factory=dict)
    """Plain facts for the run's metrics."""

    @property
    def context(self) -> GeoContext:
        """What the edit spec needs for map coordinates and feature edits."""
        return GeoContext(self.grid, self.layer, self.drawn)


def layer_crs(layer: VectorLayer, path: Path, grid: Grid, vector_crs: str) -> str | None:
    """The CRS the layer's coordinates are in, checked against what they look like; one sentence when it cannot be known."""
    if vector_crs:
        return grid.crs if vector_crs.lower() == "image" else crs_wkt(vector_crs)
    hint = "give the CRS its coordinates are in with --vector-crs (e.g. --vector-crs image when they are in the image's CRS, or EPSG:4326)"
    if layer.crs is None:
        if grid.crs is None:
            return None
        raise CimgenError(f"{path} states no CRS; {hint}")
    if crs_is_geographic(layer.crs):
        import shapely

        present = np.asarray([g for g in layer.geometries if g is not None], dtype=object)
        if len(present):
            x0, y0, x1, y1 = shapely.total_bounds(present)
            if x0 < -360 or x1 > 360 or y0 < -90 or y1 > 90:
                said = (
                    f"{path} states no CRS, so as GeoJSON its coordinates would be longitudes and latitudes"
                    if path.suffix.lower() in (".geojson", ".json") and not _has_crs_member(path)
                    else f"{path} states longitudes and latitudes ({crs_name(layer.crs)})"
                )
                raise CimgenError(f"{said}, but they reach x {x0:.10g}..{x1:.10g}, y {y0:.10g}..{y1:.10g}; {hint}")
    if grid.crs is None:
        raise CimgenError(
            f"the image states no CRS but {path} is in {crs_name(layer.crs)}; if the layer's coordinates are the image's, say so with --vector-crs image"
        )
    return layer.crs


def _has_crs_member(path: Path, head: int = 65536) -> bool:
    """Whether a GeoJSON file names a ``crs`` (GDAL writes it before the features, so the file's start tells)."""
    with open(path, "rb") as f:
        start = f.read(head)
    return b'"crs"' in start.split(b'"features"')[0]


def read_vector_inputs(image: Path, vector: Path, classes: Path, palette: Palette, *, vector_crs: str = "") -> VectorInputs:
    """Read the image's grid, the class mapping and the vector layer; check, reproject and draw the layer.

    Raises:
        CimgenError: for an image that is not georeferenced, a layer with no features, no CRS where one is
            needed, features all off the image, a mapping naming an attribute the layer lacks, a polygon
            whose repair leaves no area.
    """
    image, vector, classes = Path(image), Path(vector), Path(classes)
    if vector.suffix.lower() not in (".geojson", ".json", ".gpkg", ".shp"):
        raise CimgenError(f"{vector} is not a vector layer cimgen reads; give a GeoJSON (.geojson), GeoPackage (.gpkg) or Shapefile (.shp)")
    if not is_geotiff(image):
        raise CimgenError(f"--vector draws the map on a georeferenced image, and {image} is not a GeoTIFF with map coordinates")
    info = read_geotiff_info(image)
    grid = grid_of(info, image)
    mapping = parse_mapping(read_yaml(classes, "class mapping"), palette, source=str(classes))
    layer = read_vector(vector)
    if len(layer) == 0:
        raise CimgenError(f"{vector} holds no features; there is nothing to draw a map from")
    src = layer_crs(layer, vector, grid, vector_crs)
    check_mapping(mapping, layer, str(classes))
    geoms = reproject_geometries(layer.geometries, src, grid.crs) if src is not None and not same_crs(src, grid.crs) else layer.geometries
    prepared = prepare_layer(layer.with_geometries(geoms, grid.crs), grid)
    drawn = rasterize_layer(prepared.layer, mapping, grid, palette.num_classes)
    notes = {
        "vector": str(vector),
        "vector_crs": crs_name(src),
        "image_crs": crs_name(grid.crs),
        "reprojected": src is not None and not same_crs(src, grid.crs),
        **prepared.notes,
        "features_drawn_by_rule": drawn.counts,
        "classes": mapping.to_dict(),
    }
    return VectorInputs(grid, prepared.layer, mapping, drawn, notes)


# ----------------------------------------------------------------------------------------------
# Ground truth and the edited layer


def truth_layer(mask: np.ndarray, owners: np.ndarray | None, grid: Grid, edits: list[dict], source: str = "truth.geojson") -> VectorLayer:
    """The manipulated region as polygons in the image's CRS, each with the edit that made it.

    Each mask pixel is given to the edit that changed the nearest changed label (the mask is those
    labels dilated), so neighbouring edits split the region between them; the polygons follow
    pixel edges, and drawn back on the grid they give the mask exactly.
    """
    regions = np.zeros(mask.shape, np.int32)
    if mask.any():
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        own = owners[ys, xs] if owners is not None else np.zeros(mask[ys, xs].shape, np.int32)
        if own.any():
            _, (iy, ix) = ndimage.distance_transform_edt(own == 0, return_indices=True)
            nearest = own[iy, ix]
        else:
            nearest = np.ones_like(own)
        regions[ys, xs] = np.where(mask[ys, xs], nearest, 0)
    polygons = region_polygons(regions, grid)
    geoms = np.array([g for g, _ in polygons], dtype=object)
    numbers = np.array([v for _, v in polygons], np.int64)
    ops = np.array([edits[v - 1].get("op", "") if 0 < v <= len(edits) else "" for v in numbers], dtype=object)
    specs = np.array([json_text(edits[v - 1], indent=None) if 0 < v <= len(edits) else "" for v in numbers], dtype=object)
    pixels = np.array([int((regions == v).sum()) for v in numbers], np.int64) if len(numbers) < 64 else _pixel_counts(regions, numbers)
    return VectorLayer(
        geoms,
        tuple(range(len(geoms))),
        {"edit": numbers, "op": ops, "edit_spec": specs, "region_pixels_of_edit": pixels},
        grid.crs,
        source,
    )


def _pixel_counts(regions: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    counts = np.bincount(regions.ravel(), minlength=int(numbers.max()) + 1)
    return counts[numbers]


def edited_layer(
    vector: VectorInputs,
    labels: np.ndarray,
    edited_labels: np.ndarray,
    owners: np.ndarray | None,
    edits: list | None,
    palette: Palette,
) -> tuple[VectorLayer, dict]:
    """The vector layer as the edits left it: removed features gone, inserted shapes added; and a summary.

    A feature leaves the layer when an edit removed it by id, position or query, or when the edits
    changed more than half of the pixels it owned (a removal by class in a box, say). A shape inserted
    in map coordinates joins with its exact geometry; one inserted or painted in pixels joins as the
    polygons of the pixels it changed. A move or copy carries the features that own the object under
    its point (the object as the layer drew it) to the new place: their geometries shifted by the offset
    in map units, with their attributes; a move drops the originals. A paste (from another map, which
    has no features) joins as the polygons of the pixels it changed. Replacements are not added.
    """
    layer, drawn = vector.layer, vector.drawn
    n = len(layer)
    removed: set[int] = set()
    carried = {}  # edit index -> (features, map offset x, y)
    for k, e in enumerate(edits or []):
        if isinstance(e, RemoveFeatures):
            removed.update(int(i) for i in e.features)
        elif isinstance(e, MoveObject):
            x, y = (int(v) for v in e.at)
            dx, dy = (int(v) for v in e.by) if e.by is not None else (int(e.to[0]) - x, int(e.to[1]) - y)
            owners_of_object = np.unique(drawn.feature_index[object_at(labels, (x, y))])
            features = [int(i) for i in owners_of_object if i >= 0]
            a, b, _, d, ee, _ = vector.grid.transform
            carried[k] = (features, a * dx + b * dy, d * dx + ee * dy)
            if not e.copy:
                removed.update(features)
    owned_px = drawn.feature_index >= 0
    owned = np.bincount(drawn.feature_index[owned_px], minlength=n)
    lost = np.bincount(drawn.feature_index[owned_px & (labels != edited_labels)], minlength=n)
    removed.update(int(i) for i in np.flatnonzero((owned > 0) & (lost > LOST_SHARE * owned)))
    keep = [i for i in range(n) if i not in removed]
    kept = layer.take(keep)

    import shapely

    added_geoms, added_props, added_edit, added_class = [], [], [], []
    for k, e in enumerate(edits or []):
        if isinstance(e, InsertGeometry):
            added_geoms.append(shapely.from_wkt(e.wkt))
            added_props.append(dict(e.properties))
            cls = int(e.cls)
        elif k in carried and carried[k][0]:
            features, ox, oy = carried[k]
            for i in features:
                geom = layer.geometries[i]
                if geom is None:
                    continue
                added_geoms.append(shapely.transform(geom, lambda xy, ox=ox, oy=oy: xy + np.array([ox, oy])))
                added_props.append({name: _plain(col[i]) for name, col in layer.columns.items()} | {"cimgen_from": _plain(layer.ids[i])})
                added_edit.append(k + 1)
                own = drawn.feature_index == i
                added_class.append(palette.names[int(labels[own][0])] if own.any() else None)
            continue
        elif isinstance(e, (InsertShape, PaintRegion, MoveObject, PasteObject)) and owners is not None:
            # Shapes in pixels, and moves of objects no feature owns and pastes, join as the pixels they changed.
            region = owners == k + 1
            parts = [g for g, _ in region_polygons(region.astype(np.int32), vector.grid)]
            if not parts:
                continue
            added_geoms.append(shapely.union_all(parts))
            added_props.append({})
            cls = int(e.cls) if hasattr(e, "cls") else int(np.bincount(edited_labels[region].astype(np.int64)).argmax())
        else:
            continue
        added_edit.append(k + 1)
        added_class.append(palette.names[cls])
    summary = {
        "features_in": n,
        "features_removed": len(removed),
        "removed_ids": [_plain(layer.ids[i]) for i in sorted(removed)],
        "features_added": len(added_geoms),
        "features_out": len(keep) + len(added_geoms),
    }
    if not added_geoms:
        return kept, summary
    m = len(added_geoms)
    columns = {}
    for name, col in kept.columns.items():
        extra = np.array([p.get(name) for p in added_props], dtype=object)
        columns[name] = np.concatenate([col.astype(object), extra])
    for name in sorted({k for p in added_props for k in p} - set(columns)):
        columns[name] = np.array([None] * len(keep) + [p.get(name) for p in added_props], dtype=object)
    columns["cimgen_edit"] = np.array([None] * len(keep) + added_edit, dtype=object)
    columns["cimgen_class"] = np.array([None] * len(keep) + added_class, dtype=object)
    numeric = all(isinstance(_plain(i), int) for i in layer.ids)
    start = max([int(_plain(i)) for i in layer.ids] + [-1]) + 1 if numeric else 0
    new_ids = tuple(start + j if numeric else f"cimgen-{j + 1}" for j in range(m))
    geoms = np.concatenate([kept.geometries, np.array(added_geoms + [None], dtype=object)[:-1]])
    return VectorLayer(geoms, kept.ids + new_ids, columns, kept.crs, "edited.geojson"), summary


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
