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
    NO_FEATURE,
    ClassMapping,
    Grid,
    LayerWindows,
    Rasterized,
    check_mapping,
    draw_layer,
    parse_mapping,
    prepare_layer,
    region_polygons,
)
from cimgen.edit.ops import InsertGeometry, InsertShape, MoveObject, PaintRegion, PasteObject, RemoveFeatures, object_at
from cimgen.edit.spec import GeoContext
from cimgen.errors import CimgenError
from cimgen.io.bands import BandStretch, fit_bands, fit_stretch, parse_bands, parse_percentiles, to_rgb8, unshown_bands, valid_pixels
from cimgen.io.geotiff import GeoInfo, is_georeferenced, read_geotiff, read_geotiff_bands, read_geotiff_info, read_geotiff_sample
from cimgen.io.images import JpegCompression, read_image_and_compression
from cimgen.io.vector import (
    VectorLayer,
    crs_is_geographic,
    crs_name,
    crs_wkt,
    read_vector,
    read_vector_fields,
    reproject_geometries,
    same_crs,
)
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
    compression: JpegCompression | None = None
    """The file's JPEG compression on its own grid (``io.images.read_jpeg_compression``), read with the pixels."""


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
        image, compression = read_image_and_compression(path)
        return ImageSource(image, compression=compression)
    info = read_geotiff_info(path)
    if shown_as_it_is(info, bands, stretch):
        image, geo = read_geotiff(path)
        return ImageSource(image, geo)
    raster, geo = read_geotiff_bands(path)
    fitted = _fit(raster, geo, bands, stretch)
    return ImageSource(to_rgb8(raster, fitted), geo, raster, fitted)


def shown_as_it_is(info: GeoInfo, bands: str, stretch: str) -> bool:
    """Whether a GeoTIFF is shown to the generator as it is (plain 8-bit RGB, or an 8-bit palette band, with no --bands or --stretch)."""
    plain_rgb = info.dtype == "uint8" and info.count == 3
    palette_band = info.dtype == "uint8" and info.count == 1 and info.colormap is not None
    return (plain_rgb or palette_band) and not bands and not stretch


def _fit(raster: np.ndarray, geo: GeoInfo, bands: str, stretch: str) -> BandStretch:
    percentiles = parse_percentiles(stretch) if stretch else (None if raster.dtype == np.uint8 else (2.0, 98.0))
    return fit_stretch(raster, bands=parse_bands(bands, raster.shape[2]), percentiles=percentiles, nodata=geo.nodata)


def alpha_bands(geo: GeoInfo) -> tuple[int, ...]:
    """1-based alpha bands of a GeoTIFF (copied into results as they are)."""
    return tuple(i + 1 for i, ci in enumerate(geo.colorinterp) if ci == "alpha")


@dataclass
class SceneBands:
    """A GeoTIFF scene read window by window: as the generator sees it (8-bit RGB) and as its file holds it.

    The stretch is fitted once, on a regular sample of the scene (``read_geotiff_sample``), and the
    fits of bands that are not shown are made on that sample too, outside the edits' masks, so every
    window is stretched and written back the same way.
    """

    path: Path
    """The scene."""
    info: GeoInfo
    """Its georeferencing and metadata."""
    stretch: BandStretch | None
    """How its bands become 8-bit RGB; None for plain 8-bit RGB (or a palette band), read as it is."""
    keep: tuple[int, ...] = ()
    """Alpha bands, copied as they are."""
    sample: np.ndarray | None = None
    """The sample the stretch was fitted on (h x w x C)."""
    sample_rows: np.ndarray | None = None
    """Its source rows."""
    sample_cols: np.ndarray | None = None
    """Its source columns."""
    fits: dict = field(default_factory=dict)
    """Band -> least-squares coefficients (r, g, b, 1) of each band not shown (``fit_outside``)."""

    def rgb(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """The window as the generator sees it, HxWx3 uint8."""
        if self.stretch is None:
            return read_geotiff(self.path, window=(y, x, h, w))[0]
        return to_rgb8(self.raster(y, x, h, w), self.stretch)

    def raster(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """The window's source bands in the file's type, HxWxC."""
        return read_geotiff_bands(self.path, window=(y, x, h, w))[0]

    def fit_outside(self, masks) -> None:
        """Fit the bands that are not shown on the sample's valid pixels outside ``masks`` ((row, column, HxW bool) in the scene)."""
        if self.stretch is None or not unshown_bands(self.stretch, self.keep):
            return
        outside = valid_pixels(self.sample, self.stretch.nodata)
        for y, x, mask in masks:
            ri = np.flatnonzero((self.sample_rows >= y) & (self.sample_rows < y + mask.shape[0]))
            ci = np.flatnonzero((self.sample_cols >= x) & (self.sample_cols < x + mask.shape[1]))
            if len(ri) and len(ci):
                hit = mask[np.ix_(self.sample_rows[ri] - y, self.sample_cols[ci] - x)]
                outside[np.ix_(ri, ci)] &= ~hit
        self.fits = fit_bands(self.sample, self.stretch, outside, keep=self.keep)

    def notes(self) -> dict:
        """Plain facts for the run's metrics: the stretch, the sample it came from, the fits."""
        if self.stretch is None:
            return {}
        h, w = self.sample.shape[:2]
        whole = (h, w) == (self.info.height, self.info.width)
        return {
            **self.stretch.to_dict(),
            "sample": {
                "width": w,
                "height": h,
                "how": "the whole scene"
                if whole
                else "decimated: every f-th pixel of every f-th row, read block by block at full resolution",
            },
            "bands_fitted": {
                str(b): {"from": "red, green, blue (8-bit)", "coefficients": [float(c) for c in coef]} for b, coef in self.fits.items()
            },
            "kept_as_they_are": list(self.keep),
        }


def read_scene_bands(path: Path, *, bands: str = "", stretch: str = "") -> SceneBands:
    """A GeoTIFF scene to read by windows, its stretch fitted on a sample (plain 8-bit RGB needs none)."""
    info = read_geotiff_info(path)
    if shown_as_it_is(info, bands, stretch):
        return SceneBands(Path(path), info, None)
    sample, info, rows, cols = read_geotiff_sample(path)
    fitted = _fit(sample, info, bands, stretch)
    return SceneBands(Path(path), info, fitted, alpha_bands(info), sample, rows, cols)


def grid_of(info: GeoInfo, path: Path) -> Grid:
    """The pixel grid of a georeferenced image."""
    if info.transform is None:
        raise CimgenError(f"{path} has no geotransform, so no map coordinate can be placed on its pixels")
    return Grid(info.height, info.width, info.transform, info.crs)


def geo_context(path: Path, *, window_limit: int = 0) -> GeoContext | None:
    """The grid of a GeoTIFF image (for boxes and polygons in map coordinates), or None for other images.

    ``window_limit``: regions are drawn as crops of at most that many pixels a side (scenes larger than memory).
    """
    if not is_geotiff(path):
        return None
    info = read_geotiff_info(path)
    return GeoContext(grid_of(info, path), window_limit=window_limit) if info.transform is not None else None


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
    drawn: Rasterized | None
    """The label map and the feature that owns each pixel, drawn on the whole grid (in memory)."""
    notes: dict = field(default_factory=dict)
    """Plain facts for the run's metrics."""
    windows: LayerWindows | None = None
    """The layer drawn window by window instead (scenes larger than memory)."""
    window_limit: int = 0
    """With ``windows``: the largest side of an edit's region, in pixels."""

    @property
    def context(self) -> GeoContext:
        """What the edit spec needs for map coordinates and feature edits."""
        return GeoContext(self.grid, self.layer, self.drawn, self.windows, self.window_limit)

    @property
    def feature_class(self) -> np.ndarray:
        """Class id of each feature (-1 where no rule matches it)."""
        return self.context.feature_class


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


VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")


def _check_vector_suffix(vector: Path) -> None:
    if vector.suffix.lower() not in VECTOR_SUFFIXES:
        raise CimgenError(f"{vector} is not a vector layer cimgen reads; give a GeoJSON (.geojson), GeoPackage (.gpkg) or Shapefile (.shp)")


def _scene_grid(image: Path) -> Grid:
    if not is_geotiff(image):
        raise CimgenError(f"--vector draws the map on a georeferenced image, and {image} is not a GeoTIFF with map coordinates")
    return grid_of(read_geotiff_info(image), image)


def read_class_mapping(classes: Path, palette: Palette) -> ClassMapping:
    """A class mapping file (YAML rules from attribute queries to the palette's classes) read and parsed."""
    return parse_mapping(read_yaml(classes, "class mapping"), palette, source=str(classes))


def _read_layer(vector: Path, classes: Path, palette: Palette, mapping: ClassMapping | None = None) -> tuple[VectorLayer, ClassMapping]:
    """The class mapping (``mapping`` when already parsed from ``classes``) and the layer, read (no image needed)."""
    if mapping is None:
        mapping = read_class_mapping(classes, palette)
    layer = read_vector(vector)
    if len(layer) == 0:
        raise CimgenError(f"{vector} holds no features; there is nothing to draw a map from")
    return layer, mapping


def read_vector_inputs(
    image: Path,
    vector: Path,
    classes: Path,
    palette: Palette,
    *,
    vector_crs: str = "",
    window_limit: int = 0,
    mapping: ClassMapping | None = None,
) -> VectorInputs:
    """Read the image's grid, the class mapping and the vector layer; check, reproject and draw the layer.

    With ``window_limit`` (a scene larger than memory) the layer is not drawn whole: it is drawn
    window by window on demand (``VectorInputs.windows``), and edit regions are kept as crops of at
    most ``window_limit`` pixels a side. ``mapping``: ``classes`` already parsed (a batch parses each
    mapping file once for all its scenes).

    Raises:
        CimgenError: for an image that is not georeferenced, a layer with no features, no CRS where one is
            needed, features all off the image, a mapping naming an attribute the layer lacks, a polygon
            whose repair leaves no area.
    """
    image, vector, classes = Path(image), Path(vector), Path(classes)
    _check_vector_suffix(vector)
    grid = _scene_grid(image)
    layer, mapping = _read_layer(vector, classes, palette, mapping)
    src = layer_crs(layer, vector, grid, vector_crs)
    check_mapping(mapping, layer, str(classes))
    return _draw_inputs(grid, vector, layer, src, mapping, palette, window_limit=window_limit)


def _draw_inputs(
    grid: Grid, vector: Path, layer: VectorLayer, src: str | None, mapping: ClassMapping, palette: Palette, *, window_limit: int = 0
) -> VectorInputs:
    """The layer (in CRS ``src``) carried onto ``grid``, checked and drawn whole, or window by window with ``window_limit``."""
    geoms = reproject_geometries(layer.geometries, src, grid.crs) if src is not None and not same_crs(src, grid.crs) else layer.geometries
    prepared = prepare_layer(layer.with_geometries(geoms, grid.crs), grid)
    drawing = draw_layer(prepared.layer, mapping, palette.num_classes)
    windows = LayerWindows(drawing, grid) if window_limit else None
    drawn = None
    if windows is None:
        labels, ids = drawing.burn(grid)
        drawn = Rasterized(labels, ids, drawing.feature_class, drawing.drawn, drawing.counts)
    notes = {
        "vector": str(vector),
        "vector_crs": crs_name(src),
        "image_crs": crs_name(grid.crs),
        "reprojected": src is not None and not same_crs(src, grid.crs),
        **prepared.notes,
        "features_drawn_by_rule": drawing.counts,
        "classes": mapping.to_dict(),
    }
    return VectorInputs(grid, prepared.layer, mapping, drawn, notes, windows, window_limit)


@dataclass
class SharedLayer:
    """One vector layer for a batch of scenes (a city's footprints over many tiles): read and checked once, indexed in its own CRS."""

    path: Path
    """The vector file."""
    classes: Path
    """The class mapping file."""
    layer: VectorLayer
    """Every feature, as read (the file's CRS)."""
    mapping: ClassMapping
    """Attribute queries -> classes."""
    tree: object
    """A shapely STRtree over the features' geometries, in the file's CRS: which features reach a scene."""
    reach: float
    """Half the widest width a rule draws (lines and points become corridors and discs), in map units: how far a feature
    outside a scene may still draw on it."""


def read_shared_layer(vector: Path, classes: Path, palette: Palette, *, mapping: ClassMapping | None = None) -> SharedLayer:
    """Read a vector layer and its class mapping once for many scenes (``scene_vector_inputs`` draws it on each).

    ``mapping``: ``classes`` already parsed.

    Raises:
        CimgenError: for a file cimgen does not read, an empty layer, a mapping naming an attribute the layer lacks.
    """
    import shapely

    vector, classes = Path(vector), Path(classes)
    _check_vector_suffix(vector)
    layer, mapping = _read_layer(vector, classes, palette, mapping)
    check_mapping(mapping, layer, str(classes))
    widths = [0.0]
    for rule in mapping.rules:
        if isinstance(rule.width, dict):
            widths += [float(v) for v in rule.width.values()]
        elif rule.width is not None:
            widths.append(float(rule.width))
    return SharedLayer(vector, classes, layer, mapping, shapely.STRtree(layer.geometries), max(widths) / 2.0)


def check_vector_file(vector: Path, classes: Path, mapping: ClassMapping) -> None:
    """One sentence unless ``vector`` is a layer cimgen reads, holding features, with every attribute ``mapping`` names.

    Reads only the file's header (``read_vector_fields``), so a batch checks each scene's layer before any scene runs.
    """
    vector = Path(vector)
    _check_vector_suffix(vector)
    count, fields = read_vector_fields(vector)
    if count == 0:
        raise CimgenError(f"{vector} holds no features; there is nothing to draw a map from")
    header = VectorLayer(np.empty(0, dtype=object), (), {f: np.empty(0, dtype=object) for f in fields}, None, vector.name)
    check_mapping(mapping, header, str(classes))


def scene_vector_inputs(image: Path, shared: SharedLayer, palette: Palette, *, vector_crs: str = "") -> VectorInputs:
    """The features of ``shared`` that reach ``image`` (found through its spatial index), drawn on the image's grid.

    Only those features are carried into the image's CRS, checked and drawn, as one run with a layer holding just
    them would (feature ids are the file's; ``index`` edits count among these features, in file order).

    Raises:
        CimgenError: for an image that is not georeferenced, no CRS where one is needed, and a scene no feature reaches.
    """
    import shapely

    image = Path(image)
    grid = _scene_grid(image)
    layer = shared.layer
    src = layer_crs(layer, shared.path, grid, vector_crs)
    area = grid.bounds_polygon()
    if shared.reach > 0:
        area = area.buffer(shared.reach, join_style="mitre")
    if src is not None and grid.crs is not None and not same_crs(src, grid.crs):
        x0, y0, x1, y1 = area.bounds
        area = shapely.segmentize(area, max(x1 - x0, y1 - y0) / 64)  # edges stay edges under the projection, near enough
        area = reproject_geometries(np.array([area], dtype=object), grid.crs, src)[0]
    near = np.sort(shared.tree.query(area, predicate="intersects"))
    if not len(near):
        x0, y0, x1, y1 = area.bounds
        raise CimgenError(
            f"no feature of {shared.path} ({len(layer)} features) lies on {image.name}, which spans x {x0:.10g}..{x1:.10g}, "
            f"y {y0:.10g}..{y1:.10g} in the layer's CRS"
        )
    inputs = _draw_inputs(grid, shared.path, layer.take(near), src, shared.mapping, palette)
    inputs.notes["features_in_layer"] = len(layer)
    return inputs


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


@dataclass
class EditTrace:
    """What the edits did to the pixels of the layer's features, gathered from the whole map or window by window."""

    lost: np.ndarray
    """Per feature: pixels it owned that the edits changed."""
    object_features: dict[int, list[int]] = field(default_factory=dict)
    """Edit index (move or copy) -> the features that own the object under its point."""
    changed_parts: dict[int, list] = field(default_factory=dict)
    """Edit index (shapes in pixels, paints, moves, pastes) -> polygons (image CRS) of the pixels it changed."""
    changed_classes: dict[int, np.ndarray] = field(default_factory=dict)
    """Edit index (as ``changed_parts``) -> pixels it changed per class of the edited map."""


PIXEL_SHAPES = (InsertShape, PaintRegion, MoveObject, PasteObject)
"""Edits whose new pixels join the edited layer as polygons when no feature carries them."""


def trace_edits(
    feature_index: np.ndarray,
    labels: np.ndarray,
    edited_labels: np.ndarray,
    owners: np.ndarray | None,
    edits: list | None,
    grid: Grid,
    features: int,
    origin: tuple[int, int] = (0, 0),
) -> EditTrace:
    """The ``EditTrace`` of one window of the map (the whole map, or a window at ``origin`` (row, column) with its ``grid``)."""
    owned_px = feature_index != NO_FEATURE
    lost = np.bincount(feature_index[owned_px & (labels != edited_labels)], minlength=features)
    trace = EditTrace(lost)
    for k, e in enumerate(edits or []):
        if isinstance(e, MoveObject):
            x, y = int(e.at[0]) - origin[1], int(e.at[1]) - origin[0]
            if 0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]:
                found = np.unique(feature_index[object_at(labels, (x, y))])
                trace.object_features[k] = [int(i) for i in found if i >= 0]
        if isinstance(e, PIXEL_SHAPES) and owners is not None:
            region = (owners == k + 1).astype(np.int32)
            if region.any():
                trace.changed_parts[k] = [g for g, _ in region_polygons(region, grid)]
                trace.changed_classes[k] = np.bincount(edited_labels[region > 0].astype(np.int64))
    return trace


def merge_traces(traces: list[EditTrace], features: int) -> EditTrace:
    """One trace of disjoint windows' traces."""
    out = EditTrace(np.zeros(features, np.int64))
    for t in traces:
        out.lost = out.lost + t.lost
        for k, found in t.object_features.items():
            out.object_features.setdefault(k, []).extend(found)
        for k, parts in t.changed_parts.items():
            out.changed_parts.setdefault(k, []).extend(parts)
        for k, counts in t.changed_classes.items():
            before = out.changed_classes.get(k, np.zeros(0, np.int64))
            size = max(len(before), len(counts))
            out.changed_classes[k] = np.pad(before, (0, size - len(before))) + np.pad(counts, (0, size - len(counts)))
    return out


def edited_layer(
    vector: VectorInputs,
    labels: np.ndarray,
    edited_labels: np.ndarray,
    owners: np.ndarray | None,
    edits: list | None,
    palette: Palette,
) -> tuple[VectorLayer, dict]:
    """The vector layer as the edits of a map held whole left it (see ``layer_after_edits``), and a summary."""
    index = vector.drawn.feature_index
    n = len(vector.layer)
    trace = trace_edits(index, labels, edited_labels, owners, edits, vector.grid, n)
    owned = np.bincount(index[index != NO_FEATURE], minlength=n)
    return layer_after_edits(vector, trace, owned, edits, palette)


def layer_after_edits(
    vector: VectorInputs, trace: EditTrace, owned: np.ndarray, edits: list | None, palette: Palette
) -> tuple[VectorLayer, dict]:
    """The vector layer as the edits left it: removed features gone, inserted shapes added; and a summary.

    A feature leaves the layer when an edit removed it by id, position or query, or when the edits
    changed more than half of the pixels it owned (a removal by class in a box, say; ``owned`` counts
    each feature's pixels, needed where ``trace.lost`` is not 0). A shape inserted in map coordinates
    joins with its exact geometry; one inserted or painted in pixels joins as the polygons of the
    pixels it changed. A move or copy carries the features that own the object under its point (the
    object as the layer drew it) to the new place: their geometries shifted by the offset in map
    units, with their attributes; a move drops the originals. A paste (from another map, which has no
    features) joins as the polygons of the pixels it changed. Replacements are not added.
    """
    import shapely

    layer, feature_class = vector.layer, vector.feature_class
    n = len(layer)
    removed: set[int] = set()
    carried = {}  # edit index -> (features, map offset x, y)
    for k, e in enumerate(edits or []):
        if isinstance(e, RemoveFeatures):
            removed.update(int(i) for i in e.features)
        elif isinstance(e, MoveObject):
            x, y = (int(v) for v in e.at)
            dx, dy = (int(v) for v in e.by) if e.by is not None else (int(e.to[0]) - x, int(e.to[1]) - y)
            features = sorted(set(trace.object_features.get(k, [])))
            a, b, _, d, ee, _ = vector.grid.transform
            carried[k] = (features, a * dx + b * dy, d * dx + ee * dy)
            if not e.copy:
                removed.update(features)
    removed.update(int(i) for i in np.flatnonzero((trace.lost > 0) & (trace.lost > LOST_SHARE * owned)))
    keep = [i for i in range(n) if i not in removed]
    kept = layer.take(keep)

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
                added_class.append(palette.names[int(feature_class[i])] if feature_class[i] >= 0 else None)
            continue
        elif isinstance(e, PIXEL_SHAPES) and trace.changed_parts.get(k):
            # Shapes in pixels, and moves of objects no feature owns and pastes, join as the pixels they changed.
            added_geoms.append(shapely.union_all(trace.changed_parts[k]))
            added_props.append({})
            cls = int(e.cls) if hasattr(e, "cls") else int(trace.changed_classes[k].argmax())
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
