"""Vector layers in and out: ids, attributes and a WKT-only CRS survive a GeoJSON round trip; reprojection; bad files in one sentence."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError

pytest.importorskip("pyogrio", reason="vector layers are the optional 'geo' extra")
shapely = pytest.importorskip("shapely")

from cimgen.io.vector import (
    VectorLayer,
    crs_name,
    crs_wkt,
    read_vector,
    reproject_geometries,
    same_crs,
    write_geojson,
)

# An Albers equal-area CRS with no EPSG code, as the SpaceNet custom-projection sample has.
ALBERS = (
    'PROJCS["unnamed",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
    'UNIT["degree",0.0174532925199433]],PROJECTION["Albers_Conic_Equal_Area"],PARAMETER["latitude_of_center",23],'
    'PARAMETER["longitude_of_center",-96],PARAMETER["standard_parallel_1",29.5],PARAMETER["standard_parallel_2",45.5],'
    'PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]'
)


def _layer(crs: str | None) -> VectorLayer:
    geoms = np.array([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 5)], dtype=object)
    columns = {"building": np.array(["yes", "garage"], dtype=object), "levels": np.array([2, 1], np.int32)}
    return VectorLayer(geoms, (7, 12), columns, crs, "test")


def test_geojson_round_trip_keeps_ids_attributes_and_a_wkt_only_crs(tmp_path):
    layer = _layer(crs_wkt(ALBERS))
    back = read_vector(write_geojson(tmp_path / "l.geojson", layer))
    assert back.ids == (7, 12)
    assert list(back.columns["building"]) == ["yes", "garage"] and list(back.columns["levels"]) == [2, 1]
    assert same_crs(back.crs, layer.crs) and crs_name(back.crs) == "unnamed"
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(back.geometries, layer.geometries))


def test_an_epsg_crs_is_written_as_its_urn(tmp_path):
    path = write_geojson(tmp_path / "l.geojson", _layer(crs_wkt("EPSG:32616")))
    assert "urn:ogc:def:crs:EPSG::32616" in path.read_text()
    assert crs_name(read_vector(path).crs) == "EPSG:32616"


def test_reprojection_through_a_wkt_only_crs_comes_back():
    utm = crs_wkt("EPSG:32616")
    g = np.array([shapely.box(733700, 3724900, 733760, 3724960)], dtype=object)
    there = reproject_geometries(g, utm, crs_wkt(ALBERS))
    back = reproject_geometries(there, crs_wkt(ALBERS), utm)
    assert not shapely.equals_exact(there[0], g[0], 1.0)
    assert shapely.equals_exact(back[0], g[0], 1e-6)


def test_bad_files_and_crs_names_fail_in_one_sentence(tmp_path):
    with pytest.raises(CimgenError, match="does not exist"):
        read_vector(tmp_path / "missing.geojson")
    (tmp_path / "junk.geojson").write_text("{not json")
    with pytest.raises(CimgenError, match="cannot be read as a vector layer"):
        read_vector(tmp_path / "junk.geojson")
    with pytest.raises(CimgenError, match="not a CRS GDAL knows"):
        crs_wkt("EPSG:999999")


def test_text_ids_of_a_geojson_can_name_features(tmp_path):
    from cimgen.data.vector_labels import feature_positions

    path = tmp_path / "t.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "id": "way/1", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},'
        '{"type": "Feature", "id": "way/2", "properties": {}, "geometry": {"type": "Point", "coordinates": [3, 4]}}]}'
    )
    layer = read_vector(path)
    assert feature_positions(layer, ["way/2"]) == [1]
