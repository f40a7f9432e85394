"""Vector features on a pixel grid: the safe query parser, the class mapping, rasterising, repairs and polygons back."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE

shapely = pytest.importorskip("shapely")
pytest.importorskip("rasterio")

from cimgen.data.vector_labels import (
    NO_FEATURE,
    Grid,
    LayerWindows,
    draw_layer,
    parse_mapping,
    parse_match,
    parse_where,
    prepare_layer,
    rasterize_layer,
    region_polygons,
    select_features,
)
from cimgen.io.vector import VectorLayer

# 20 x 30 pixels of 2 map units, north up, top-left corner at (1000, 2000).
GRID = Grid(20, 30, (2.0, 0.0, 1000.0, 0.0, -2.0, 2000.0), None)


def _px_box(c0, r0, c1, r1):
    """A box given in pixel columns/rows, in map coordinates."""
    return shapely.box(1000 + 2 * c0, 2000 - 2 * r1, 1000 + 2 * c1, 2000 - 2 * r0)


def _layer() -> VectorLayer:
    geoms = [
        _px_box(2, 2, 8, 6),  # a house
        _px_box(10, 2, 14, 10),  # a bigger house
        _px_box(0, 12, 30, 20),  # a lake at the bottom
        shapely.LineString([(1000, 1990), (1060, 1990)]),  # a road across row 5
    ]
    columns = {
        "building": np.array(["yes", "house", "", ""], dtype=object),
        "natural": np.array(["", "", "water", ""], dtype=object),
        "highway": np.array(["", "", "", "primary"], dtype=object),
        "levels": np.array([1, 2, 0, 0], np.int32),
    }
    return VectorLayer(np.array(geoms, dtype=object), (10, 11, 12, 13), columns, None, "layer.geojson")


MAPPING = {
    "default": "ground",
    "rules": [
        {"match": "natural=water", "class": "water"},
        {"match": "highway=*", "class": "road", "width": {"primary": 4, "*": 2}},
        {"match": "building=*", "class": "building"},
    ],
}


def test_where_queries_select_by_equality_membership_and_logic():
    layer = _layer()
    cols, n = layer.columns, len(layer)
    assert parse_where("building == 'yes'").matches(cols, n).tolist() == [True, False, False, False]
    assert parse_where("building != ''").matches(cols, n).tolist() == [True, True, False, False]
    assert parse_where("building in ('yes', \"house\") and levels == 2").matches(cols, n).tolist() == [False, True, False, False]
    assert parse_where("natural == 'water' or (highway == 'primary' and not levels != 0)").matches(cols, n).tolist() == [
        False, False, True, True,
    ]  # fmt: skip
    assert parse_where("levels not in [1, 2]").matches(cols, n).tolist() == [False, False, True, True]
    assert parse_where("building == null").matches(cols, n).tolist() == [False, False, True, True]
    assert parse_where("building == 'yes'").attributes == {"building"}


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "building = 'yes'", "building == yes", "building ==", "(building == 'a'", "levels in 1", ""],
)
def test_where_never_evaluates_code_and_says_what_is_wrong(text):
    with pytest.raises(CimgenError):
        parse_where(text)


def test_deep_nesting_is_refused():
    with pytest.raises(CimgenError, match="nests deeper"):
        parse_where("not " * 40 + "a == 1")


def test_match_shorthand():
    layer = _layer()
    assert parse_match("building=*").matches(layer.columns, 4).tolist() == [True, True, False, False]
    assert parse_match("natural=water").matches(layer.columns, 4).tolist() == [False, False, True, False]
    assert parse_match("*").matches(layer.columns, 4).all()
    with pytest.raises(CimgenError, match="key=value"):
        parse_match("building")


def test_rasterising_draws_rules_in_order_with_widths_and_owners():
    layer = prepare_layer(_layer(), GRID).layer
    mapping = parse_mapping(MAPPING, SYNTH_PALETTE)
    drawn = rasterize_layer(layer, mapping, GRID, SYNTH_PALETTE.num_classes)
    names = SYNTH_PALETTE.names
    assert drawn.labels.dtype == np.uint8 and drawn.labels.shape == (20, 30)
    assert names[drawn.labels[3, 4]] == "building" and drawn.feature_index[3, 4] == 0
    assert names[drawn.labels[15, 15]] == "water" and drawn.feature_index[15, 15] == 2
    assert names[drawn.labels[0, 25]] == "ground" and drawn.feature_index[0, 25] == NO_FEATURE
    # the primary road is 4 map units = 2 pixels wide around y = 1990 (between rows 4 and 5), under the later buildings
    assert names[drawn.labels[4, 20]] == "road" and names[drawn.labels[5, 20]] == "road" and names[drawn.labels[7, 20]] == "ground"
    assert names[drawn.labels[4, 4]] == "building"
    assert drawn.feature_class.tolist() == [2, 2, 3, 1]
    assert drawn.counts == {"natural=water": 1, "highway=*": 1, "building=*": 2}


@pytest.mark.parametrize("window", [(0, 0, 20, 30), (3, 2, 5, 7), (4, 18, 3, 12), (12, 0, 8, 1), (0, 29, 1, 1)])
def test_a_window_drawn_alone_is_that_window_of_the_whole_drawing(window):
    """Only the features reaching a window are drawn there, in the whole layer's order: the same labels and owners."""
    layer = prepare_layer(_layer(), GRID).layer
    mapping = parse_mapping(MAPPING, SYNTH_PALETTE)
    whole = rasterize_layer(layer, mapping, GRID, SYNTH_PALETTE.num_classes)
    windows = LayerWindows(draw_layer(layer, mapping, SYNTH_PALETTE.num_classes), GRID)
    y, x, h, w = window
    labels, owners = windows.read(y, x, h, w)
    assert np.array_equal(labels, whole.labels[y : y + h, x : x + w])
    assert np.array_equal(owners, whole.feature_index[y : y + h, x : x + w])
    assert windows.owned_pixels(1) == int((whole.feature_index == 1).sum())
    assert windows.pixel_box([0]) == (1, 1, 7, 9)  # the house's pixels 2..8 x 2..6, one more on each side


def test_mapping_errors_are_one_sentence():
    with pytest.raises(CimgenError, match="unknown class 'lava'"):
        parse_mapping({"rules": [{"match": "a=*", "class": "lava"}]}, SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="exactly one of 'match'"):
        parse_mapping({"rules": [{"class": "water"}]}, SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="unknown key 'colour'"):
        parse_mapping({"rules": [{"match": "a=*", "class": "water", "colour": 1}]}, SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="at least one rule"):
        parse_mapping({"default": "ground"}, SYNTH_PALETTE)
    mapping = parse_mapping({"rules": [{"match": "landuse=forest", "class": "tree"}]}, SYNTH_PALETTE)
    with pytest.raises(CimgenError, match="names attribute 'landuse', which layer.geojson does not have; its attributes are: building"):
        rasterize_layer(_layer(), mapping, GRID, 6)


def test_a_bow_tie_is_repaired_and_a_flat_polygon_refused():
    layer = _layer()
    bow = shapely.Polygon([(1004, 1996), (1016, 1984), (1016, 1996), (1004, 1984)])  # self-intersecting
    geoms = layer.geometries.copy()
    geoms[0] = bow
    prepared = prepare_layer(layer.with_geometries(geoms, None), GRID)
    assert (
        prepared.notes["geometries_repaired"][0]["id"] == 10 and "Self-intersection" in prepared.notes["geometries_repaired"][0]["reason"]
    )
    assert prepared.layer.geometries[0].is_valid and prepared.layer.geometries[0].area == pytest.approx(72)
    geoms[0] = shapely.Polygon([(1004, 1996), (1010, 1996), (1016, 1996), (1004, 1996)])
    with pytest.raises(CimgenError, match="feature 10 of layer.geojson is an invalid polygon .* no area left once repaired"):
        prepare_layer(layer.with_geometries(geoms, None), GRID)


def test_an_empty_layer_and_one_off_the_image_are_refused():
    empty = VectorLayer(np.array([], dtype=object), (), {}, None, "none.geojson")
    with pytest.raises(CimgenError, match="none.geojson holds no features"):
        prepare_layer(empty, GRID)
    far = VectorLayer(np.array([shapely.box(0, 0, 5, 5)], dtype=object), (1,), {}, None, "far.geojson")
    with pytest.raises(CimgenError, match="none of the 1 features of far.geojson lies on the image"):
        prepare_layer(far, GRID)


def test_selection_by_query_and_region():
    layer = _layer()
    assert select_features(layer, query=parse_where("building != ''")) == [0, 1]
    assert select_features(layer, query=parse_where("building != ''"), within=_px_box(9, 0, 20, 3)) == [1]
    with pytest.raises(CimgenError, match="no feature of layer.geojson match"):
        select_features(layer, query=parse_where("building == 'church'"))


def test_region_polygons_draw_back_to_the_same_pixels():
    from rasterio.features import rasterize

    regions = np.zeros((20, 30), np.int32)
    regions[2:7, 3:9] = 1
    regions[10:18, 5:6] = 2
    regions[10:12, 20:29] = 2
    polygons = region_polygons(regions, GRID)
    assert sorted(v for _, v in polygons) == [1, 2, 2]
    back = rasterize(polygons, out_shape=(20, 30), transform=GRID.affine, fill=0, dtype="int32")
    assert np.array_equal(back, regions)
