"""Edit specs on georeferenced images: features by id, position and query; boxes and polygons in map coordinates and lon/lat."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE

shapely = pytest.importorskip("shapely")
pytest.importorskip("rasterio")

from cimgen.data.vector_labels import Grid, parse_mapping, prepare_layer, rasterize_layer
from cimgen.edit.ops import InsertGeometry, RemoveClass, RemoveFeatures, apply_edits_traced
from cimgen.edit.spec import GeoContext, parse_edits
from cimgen.io.vector import VectorLayer, crs_wkt, reproject_xy

UTM = crs_wkt("EPSG:32616")
# 40 x 60 pixels of 0.5 m in UTM 16N (the SpaceNet sample's corner).
GRID = Grid(40, 60, (0.5, 0.0, 733601.0, 0.0, -0.5, 3725139.0), UTM)
BUILDING, GROUND, WATER = (SYNTH_PALETTE.names.index(n) for n in ("building", "ground", "water"))


def _px_box(c0, r0, c1, r1):
    return shapely.box(733601 + 0.5 * c0, 3725139 - 0.5 * r1, 733601 + 0.5 * c1, 3725139 - 0.5 * r0)


def _context() -> GeoContext:
    geoms = np.array([_px_box(5, 5, 15, 15), _px_box(30, 5, 40, 12), _px_box(45, 25, 55, 35)], dtype=object)
    columns = {"building": np.array(["yes", "yes", "garage"], dtype=object)}
    layer = prepare_layer(VectorLayer(geoms, (101, 102, 103), columns, UTM, "b.geojson"), GRID).layer
    mapping = parse_mapping({"default": "ground", "rules": [{"match": "building=*", "class": "building"}]}, SYNTH_PALETTE)
    return GeoContext(GRID, layer, rasterize_layer(layer, mapping, GRID, 6))


def _apply(ctx, edits):
    return apply_edits_traced(ctx.drawn.labels, parse_edits(edits, SYNTH_PALETTE, geo=ctx), num_classes=6)


def test_remove_a_feature_by_id_fills_its_footprint_from_around_it():
    ctx = _context()
    [op] = parse_edits([{"op": "remove", "feature": 102}], SYNTH_PALETTE, geo=ctx)
    assert isinstance(op, RemoveFeatures) and op.features == (1,) and op.classes == (BUILDING,)
    edited, owners = _apply(ctx, [{"op": "remove", "feature": 102}])
    assert (edited[5:12, 30:40] == GROUND).all() and (edited[5:15, 5:15] == BUILDING).all()
    assert np.array_equal(owners > 0, ctx.drawn.labels != edited)


def test_remove_by_index_and_by_query_inside_a_lon_lat_box():
    ctx = _context()
    edited, _ = _apply(ctx, [{"op": "remove", "index": [0, 2]}])
    assert (edited[5:15, 5:15] == GROUND).all() and (edited[25:35, 45:55] == GROUND).all()
    # a lon/lat box around the second and third houses; the query keeps only the one that is 'yes'
    x, y = GRID.to_map(np.array([28.0, 58.0]), np.array([2.0, 38.0]))
    lon, lat = reproject_xy(x, y, UTM, crs_wkt("EPSG:4326"))
    within = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    spec = [{"op": "remove", "where": "building == 'yes'", "within": within, "crs": "EPSG:4326"}]
    [op] = parse_edits(spec, SYNTH_PALETTE, geo=ctx)
    assert op.ids == (102,)


def test_boxes_and_polygons_in_map_coordinates():
    ctx = _context()
    x0, y1 = GRID.to_map(np.array([4.0]), np.array([4.0]))
    x1, y0 = GRID.to_map(np.array([16.0]), np.array([16.0]))
    box = [float(x0[0]), float(y0[0]), float(x1[0]), float(y1[0])]
    [op] = parse_edits([{"op": "remove", "class": "building", "box": box, "crs": "image"}], SYNTH_PALETTE, geo=ctx)
    assert isinstance(op, RemoveClass) and op.region.sum() == 144
    poly = [[733601 + 1, 3725139 - 18], [733601 + 6, 3725139 - 18], [733601 + 6, 3725139 - 12]]
    [ins] = parse_edits(
        [{"op": "insert", "class": "water", "polygon": poly, "crs": "image", "properties": {"natural": "water"}}], SYNTH_PALETTE, geo=ctx
    )
    assert isinstance(ins, InsertGeometry) and ins.properties == {"natural": "water"} and ins.wkt.startswith("POLYGON")
    edited, _ = apply_edits_traced(ctx.drawn.labels, [ins], num_classes=6)
    assert (edited == WATER).sum() == ins.region.sum() > 0


def test_geo_edits_say_what_is_missing_or_wrong():
    ctx = _context()
    with pytest.raises(CimgenError, match="b.geojson has no feature with id 999; its ids are 101, 102, 103"):
        parse_edits([{"op": "remove", "feature": 999}], SYNTH_PALETTE, geo=ctx)
    with pytest.raises(CimgenError, match="no feature at index 7"):
        parse_edits([{"op": "remove", "index": 7}], SYNTH_PALETTE, geo=ctx)
    with pytest.raises(CimgenError, match="give the layer with --vector"):
        parse_edits([{"op": "remove", "feature": 1}], SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="needs a georeferenced image"):
        parse_edits([{"op": "insert", "class": "water", "box": [0, 0, 1, 1], "crs": "EPSG:4326"}], SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="pick features .* or pixels"):
        parse_edits([{"op": "remove", "feature": 101, "class": "building"}], SYNTH_PALETTE, geo=ctx)
    with pytest.raises(CimgenError, match="covers no pixel centre"):
        parse_edits([{"op": "insert", "class": "water", "box": [0, 0, 1, 1], "crs": "image"}], SYNTH_PALETTE, geo=ctx)
    with pytest.raises(CimgenError, match="names attribute 'height'"):
        parse_edits([{"op": "remove", "where": "height == 3"}], SYNTH_PALETTE, geo=ctx)
