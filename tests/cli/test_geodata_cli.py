"""``cimgen manipulate`` and ``cimgen edit`` with geodata: a vector layer as the map, 16-bit and multi-band GeoTIFFs,
truth.geojson and edited.geojson, and one sentence with exit status 2 (and no folder) for each kind of bad geodata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.cli.main import main
from cimgen.io.images import read_image
from tests.cli.test_cli import _err
from tests.conftest import shared

rasterio = pytest.importorskip("rasterio", reason="geodata is the optional 'geo' extra")
pyogrio = pytest.importorskip("pyogrio", reason="geodata is the optional 'geo' extra")
shapely = pytest.importorskip("shapely", reason="geodata is the optional 'geo' extra")
from rasterio.features import rasterize
from rasterio.transform import Affine

from cimgen.io.vector import VectorLayer, crs_wkt, reproject_xy, write_geojson

TRANSFORM = Affine(0.5, 0.0, 733601.0, 0.0, -0.5, 3725139.0)  # 0.5 m pixels in UTM 16N, as the SpaceNet sample
CLASSES = "default: ground\nrules:\n  - {match: building=*, class: building}\n"


def _px_box(c0, r0, c1, r1):
    """A box given in pixel columns and rows, in map coordinates."""
    return shapely.box(733601 + 0.5 * c0, 3725139 - 0.5 * r1, 733601 + 0.5 * c1, 3725139 - 0.5 * r0)


@pytest.fixture
def scene(tiny_world, tmp_path):
    """A 48x48 uint16 GeoTIFF (one band, nodata 0) from a synthetic tile, its building layer, a class mapping and a spec."""
    image = read_image(tiny_world / "images" / "tile_00000.png").astype(np.uint16)
    grey = (image.mean(axis=2) * 16 + 100).astype(np.uint16)
    tif = tmp_path / "scene.tif"
    profile = {"driver": "GTiff", "height": 48, "width": 48, "count": 1, "dtype": "uint16", "crs": "EPSG:32616", "transform": TRANSFORM}
    profile["nodata"] = 0
    with rasterio.open(tif, "w", **profile) as ds:
        ds.write(grey, 1)
        ds.update_tags(SOURCE="cimgen test")
    geoms = np.array([_px_box(4, 4, 14, 12), _px_box(20, 20, 30, 34), _px_box(36, 6, 44, 14)], dtype=object)
    layer = VectorLayer(geoms, (0, 1, 2), {"building": np.array(["yes", "yes", "shed"], dtype=object)}, crs_wkt("EPSG:32616"), "b")
    write_geojson(tmp_path / "buildings.geojson", layer)
    (tmp_path / "classes.yaml").write_text(CLASSES)
    (tmp_path / "remove.yaml").write_text("edits:\n  - {op: remove, feature: 1}\n")
    return tmp_path


def _args(ckpt, d, out, *, vector=None, spec=None, classes=None, extra=()):
    return [
        "manipulate", "--checkpoint", str(ckpt), "--image", str(d / "scene.tif"), "--vector", str(vector or d / "buildings.geojson"),
        "--classes", str(classes or d / "classes.yaml"), "--spec", str(spec or d / "remove.yaml"), "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _truth_iou(run, transform, shape) -> float:
    with rasterio.open(run / "mask.tif") as ds:
        mask = ds.read(1) > 0
    _, _, wkb, _ = pyogrio.raw.read(run / "truth.geojson")
    back = rasterize([(g, 1) for g in shapely.from_wkb(wkb)], out_shape=shape, transform=transform, fill=0, dtype="uint8") > 0
    return float((back & mask).sum() / (back | mask).sum())


def test_a_vector_layer_is_the_map_and_the_run_writes_geodata(tiny_ckpt, scene):
    out = scene / "run"
    assert main(_args(tiny_ckpt, scene, out)) == 0
    with rasterio.open(scene / "scene.tif") as s, rasterio.open(out / "result.tif") as r:
        src, res = s.read(1), r.read(1)
        assert (r.dtypes, r.count, r.nodata, r.crs, r.transform) == (s.dtypes, 1, 0.0, s.crs, s.transform)
        assert r.tags()["SOURCE"] == "cimgen test"
    with rasterio.open(out / "mask.tif") as m:
        mask = m.read(1) > 0
    assert np.array_equal(res[~mask], src[~mask]) and (res[mask] != src[mask]).any()
    assert (out / "result.png").is_file()
    assert _truth_iou(out, TRANSFORM, (48, 48)) == 1.0
    edited = pyogrio.raw.read(out / "edited.geojson", return_fids=True)
    assert edited[1].tolist() == [0, 2]  # feature 1 removed, the others kept with their ids
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bands"]["dtype"] == "uint16" and metrics["bands"]["percentiles"] == [2.0, 98.0]
    assert metrics["edited_vector"]["removed_ids"] == [1] and metrics["vector"]["features_drawn_by_rule"] == {"building=*": 3}


def test_four_bands_and_an_insert_in_lon_lat(tiny_ckpt, scene, tmp_path):
    with rasterio.open(scene / "scene.tif") as ds:
        grey = ds.read(1)
    four = tmp_path / "four.tif"
    profile = {"driver": "GTiff", "height": 48, "width": 48, "count": 4, "dtype": "uint16", "crs": "EPSG:32616", "transform": TRANSFORM}
    with rasterio.open(four, "w", **profile) as ds:
        for b in range(4):
            ds.write(grey + 50 * b, b + 1)
    lon, lat = reproject_xy(np.array([733606.0, 733612.0]), np.array([3725115.0, 3725121.0]), crs_wkt("EPSG:32616"), crs_wkt("EPSG:4326"))
    box = [float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])]
    (tmp_path / "insert.yaml").write_text(
        f"edits:\n  - {{op: insert, class: water, box: {box}, crs: EPSG:4326, properties: {{natural: water}}}}\n"
    )
    args = _args(tiny_ckpt, scene, tmp_path / "r4", spec=tmp_path / "insert.yaml")
    args[args.index("--image") + 1] = str(four)
    assert main([*args, "--bands", "3,2,1"]) == 0
    with rasterio.open(four) as s, rasterio.open(tmp_path / "r4" / "result.tif") as r:
        assert r.count == 4 and r.dtypes[0] == "uint16"
        src, res = s.read(), r.read()
    with rasterio.open(tmp_path / "r4" / "mask.tif") as m:
        mask = m.read(1) > 0
    assert np.array_equal(res[:, ~mask], src[:, ~mask]) and mask.any()
    metrics = json.loads((tmp_path / "r4" / "metrics.json").read_text())
    assert metrics["bands"]["bands"] == [3, 2, 1] and "4" in metrics["bands"]["bands_fitted"]
    edited = pyogrio.raw.read(tmp_path / "r4" / "edited.geojson")
    assert len(edited[2]) == 4  # the inserted polygon joins the three footprints
    assert _truth_iou(tmp_path / "r4", TRANSFORM, (48, 48)) == 1.0


def _edit_args(scene):
    """``cimgen edit`` on the scene's image with its vector layer and class mapping."""
    return [
        "edit",
        "--image",
        str(scene / "scene.tif"),
        "--vector",
        str(scene / "buildings.geojson"),
        "--classes",
        str(scene / "classes.yaml"),
    ]


def test_edit_command_draws_the_layer_and_writes_geojson(scene):
    out = scene / "e"
    args = _edit_args(scene)
    assert main([*args, "--palette", "synth", "--spec", str(scene / "remove.yaml"), "--out", str(out)]) == 0
    assert {"map.png", "edited_map.png", "mask.png", "truth.geojson", "edited.geojson", "edit.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "edit.json").read_text())["edited_vector"]["features_out"] == 2


@pytest.mark.parametrize("op", ["move", "copy"])
def test_a_moved_or_copied_footprint_joins_the_edited_layer_where_it_went(scene, op):
    (scene / "move.yaml").write_text(f"edits:\n  - {{op: {op}, at: [8, 8], by: [0, 20]}}\n")
    out = scene / op
    args = _edit_args(scene)
    assert main([*args, "--palette", "synth", "--spec", str(scene / "move.yaml"), "--out", str(out)]) == 0
    meta, fids, wkb, fields = pyogrio.raw.read(out / "edited.geojson", return_fids=True)
    names = list(meta["fields"])
    geoms = shapely.from_wkb(wkb)
    added = fids.tolist().index(3)  # the next free id
    assert shapely.equals(geoms[added], _px_box(4, 24, 14, 32))  # footprint 0 (rows 4-12) 20 rows further down
    assert fields[names.index("building")][added] == "yes" and fields[names.index("cimgen_from")][added] == 0
    assert fields[names.index("cimgen_edit")][added] == 1 and fields[names.index("cimgen_class")][added] == "building"
    assert (0 in fids.tolist()) == (op == "copy")  # a move drops the original, a copy keeps it


# ---------------------------------------------------------------------------------------------- bad geodata


def _write(tmp_path, name, geoms, crs="EPSG:32616", columns=None, driver="GeoJSON"):
    path = tmp_path / name
    columns = columns or {"building": np.array(["yes"] * len(geoms), dtype=object)}
    pyogrio.raw.write(
        path, shapely.to_wkb(np.array(geoms, dtype=object)) if geoms else np.array([], dtype=object),
        list(columns.values()), list(columns), crs=crs, driver=driver, geometry_type="Polygon",
    )  # fmt: skip
    return path


BAD = {
    "no_crs": (lambda d: _write(d, "nocrs.gpkg", [_px_box(4, 4, 14, 12)], crs=None, driver="GPKG"), None, "nocrs.gpkg states no CRS; give"),
    "outside": (
        lambda d: _write(d, "far.geojson", [shapely.box(0, 0, 10, 10)]),
        None,
        "none of the 1 features of far.geojson lies on the image",
    ),
    "unknown_attribute": (
        lambda d: d / "buildings.geojson",
        "rules:\n  - {match: landuse=forest, class: tree}\n",
        "rule 1 ('landuse=forest') names attribute 'landuse', which buildings.geojson does not have; its attributes are: building",
    ),
    "flat_polygon": (
        lambda d: _write(
            d, "flat.geojson", [shapely.Polygon([(733603, 3725137), (733605, 3725137), (733607, 3725137), (733603, 3725137)])]
        ),
        None,
        "feature 0 of flat.geojson is an invalid polygon (",
    ),
    "empty": (
        lambda d: _write(d, "empty.gpkg", [], columns={"building": np.array([], dtype=object)}, driver="GPKG"),
        None,
        "empty.gpkg holds no features",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_geodata_is_one_sentence_exit_2_and_no_folder(capsys, tiny_ckpt, scene, case):
    make, classes, said = BAD[case]
    vector = make(scene)
    mapping = None
    if classes:
        mapping = scene / "other.yaml"
        mapping.write_text(classes)
    out = scene / f"bad_{case}"
    line = _err(capsys, _args(tiny_ckpt, scene, out, vector=vector, classes=mapping))
    assert said in line, line
    assert not out.exists()


def test_an_unknown_feature_id_is_one_sentence(capsys, tiny_ckpt, scene):
    (scene / "nine.yaml").write_text("edits:\n  - {op: remove, feature: 9}\n")
    line = _err(capsys, _args(tiny_ckpt, scene, scene / "bad", spec=scene / "nine.yaml"))
    assert "buildings.geojson has no feature with id 9; its ids are 0, 1, 2" in line and not (scene / "bad").exists()


def test_a_self_intersecting_footprint_is_repaired_and_logged(tiny_ckpt, scene):
    bow = shapely.Polygon([(733603, 3725137), (733609, 3725131), (733609, 3725137), (733603, 3725131)])
    vector = _write(scene, "bow.geojson", [bow, _px_box(20, 20, 30, 34)])
    (scene / "r.yaml").write_text("edits:\n  - {op: remove, index: 1}\n")
    assert main(_args(tiny_ckpt, scene, scene / "bow", vector=vector, spec=scene / "r.yaml")) == 0
    repaired = json.loads((scene / "bow" / "metrics.json").read_text())["vector"]["geometries_repaired"]
    assert repaired[0]["id"] == 0 and repaired[0]["reason"].startswith("Self-intersection")


# ---------------------------------------------------------------------------------------------- the SpaceNet samples


SPACENET = "spacenet-vector-sample"


def test_spacenet_remove_one_footprint_with_the_shipped_generator(tmp_path):
    image, vector = shared(f"{SPACENET}/sample_geotiff.tif"), shared(f"{SPACENET}/geotiff_labels.geojson")
    (tmp_path / "classes.yaml").write_text(CLASSES)
    (tmp_path / "remove.yaml").write_text("edits:\n  - {op: remove, feature: 4}\n")
    out = tmp_path / "run"
    args = ["manipulate", "--image", str(image), "--vector", str(vector), "--classes", str(tmp_path / "classes.yaml")]
    # tiles keep the CPU time to the part around the edit (the shipped generator renders 900x900 in ~10 s on 2 cores)
    assert (
        main([*args, "--spec", str(tmp_path / "remove.yaml"), "--out", str(out), "--quiet", "--tile-size", "256", "--overlap", "32"]) == 0
    )
    with rasterio.open(image) as s, rasterio.open(out / "result.tif") as r:
        assert (r.dtypes, r.count, r.nodata, r.crs, r.transform) == (("uint16",), 1, s.nodata, s.crs, s.transform)
        src, res, transform = s.read(1), r.read(1), s.transform
    with rasterio.open(out / "mask.tif") as m:
        mask = m.read(1) > 0
    assert np.array_equal(res[~mask], src[~mask])
    assert pyogrio.read_info(out / "truth.geojson")["crs"] == "EPSG:32616"
    assert _truth_iou(out, transform, src.shape) >= 0.99
    assert pyogrio.read_info(out / "edited.geojson")["features"] == 42


def test_spacenet_with_two_fine_tuning_steps(tiny_ckpt, tmp_path):
    """Fine-tuning on windows of the scene around the edit; the tiny test generator keeps this to seconds."""
    image, vector = shared(f"{SPACENET}/sample_geotiff.tif"), shared(f"{SPACENET}/geotiff_labels.geojson")
    (tmp_path / "classes.yaml").write_text(CLASSES)
    (tmp_path / "remove.yaml").write_text(
        "edits:\n  - {op: remove, where: \"building == 'yes'\", within: [733790, 3724690, 733800, 3724700], crs: image}\n"
    )
    out = tmp_path / "ft"
    args = ["manipulate", "--checkpoint", str(tiny_ckpt), "--image", str(image), "--vector", str(vector)]
    args += ["--classes", str(tmp_path / "classes.yaml"), "--spec"]
    extra = ["--finetune", "--finetune-steps", "2", "--tile-size", "256", "--overlap", "32", "--quiet"]
    assert main([*args, str(tmp_path / "remove.yaml"), "--out", str(out), *extra]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["finetuned"] is True and metrics["edited_vector"]["features_removed"] >= 1


def test_spacenet_custom_albers_projection_end_to_end(capsys, tmp_path):
    image = shared(f"{SPACENET}/sample_geotiff_custom_proj.tif")
    vector = shared(f"{SPACENET}/geotiff_custom_proj_labels.geojson")
    (tmp_path / "classes.yaml").write_text("default: ground\nrules:\n  - {match: '*', class: building}\n")
    (tmp_path / "remove.yaml").write_text("edits:\n  - {op: remove, feature: 43127}\n")
    args = ["manipulate", "--image", str(image), "--vector", str(vector), "--classes", str(tmp_path / "classes.yaml"), "--spec"]
    args += [str(tmp_path / "remove.yaml"), "--quiet", "--tile-size", "256", "--overlap", "32"]
    # The file has no 'crs' member, so as GeoJSON it would be lon/lat, but its coordinates are the image's Albers metres.
    line = _err(capsys, [*args, "--out", str(tmp_path / "refused")])
    assert "states no CRS, so as GeoJSON its coordinates would be longitudes and latitudes" in line
    out = tmp_path / "run"
    assert main([*args, "--vector-crs", "image", "--out", str(out)]) == 0
    with rasterio.open(image) as s, rasterio.open(out / "result.tif") as r:
        assert (r.dtypes, r.count, r.nodata, r.crs, r.transform) == (s.dtypes, 3, -9999.0, s.crs, s.transform)
        src, res, transform = s.read(), r.read(), s.transform
    with rasterio.open(out / "mask.tif") as m:
        mask = m.read(1) > 0
    assert np.array_equal(res[:, ~mask], src[:, ~mask])
    assert _truth_iou(out, transform, mask.shape) >= 0.99
    assert pyogrio.read_info(out / "edited.geojson")["features"] == 18


def test_map_coordinates_without_a_vector_layer_and_truth_for_any_geotiff(capsys, tiny_world, tiny_ckpt, tmp_path):
    """An 8-bit RGB GeoTIFF with a label map: a box in the image's CRS, truth.geojson, no edited.geojson; --vector on a PNG refused."""
    from cimgen.io.geotiff import GeoInfo, write_geotiff

    image = read_image(tiny_world / "images" / "tile_00000.png")
    info = GeoInfo(height=48, width=48, count=3, crs=crs_wkt("EPSG:32616"), transform=tuple(TRANSFORM)[:6])
    write_geotiff(tmp_path / "rgb.tif", image, info)
    box = [733601 + 2.5, 3725139 - 10.0, 733601 + 10.0, 3725139 - 2.5]  # pixels 5..20 in x and y
    (tmp_path / "ins.yaml").write_text(f"edits:\n  - {{op: insert, class: water, box: {box}, crs: image}}\n")
    map_path = tiny_world / "labels" / "tile_00000.png"
    base = ["manipulate", "--checkpoint", str(tiny_ckpt), "--map", str(map_path), "--spec", str(tmp_path / "ins.yaml"), "--quiet"]
    assert main([*base, "--image", str(tmp_path / "rgb.tif"), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "truth.geojson").is_file() and not (tmp_path / "r" / "edited.geojson").exists()
    assert _truth_iou(tmp_path / "r", TRANSFORM, (48, 48)) == 1.0
    line = _err(capsys, [*base, "--image", str(tiny_world / "images" / "tile_00000.png"), "--out", str(tmp_path / "png")])
    assert "'crs' gives coordinates on the Earth, which needs a georeferenced image" in line
    png = ["manipulate", "--checkpoint", str(tiny_ckpt), "--image", str(tiny_world / "images" / "tile_00000.png"), "--quiet"]
    png += ["--vector", str(tmp_path / "x.geojson"), "--classes", str(tmp_path / "c.yaml"), "--spec", str(tmp_path / "ins.yaml")]
    assert "is not a GeoTIFF with map coordinates" in _err(capsys, [*png, "--out", str(tmp_path / "v")])
    assert not (tmp_path / "png").exists() and not (tmp_path / "v").exists()


def test_a_folder_of_tiles_shares_one_vector_layer_read_once(tiny_ckpt, tiny_world, tmp_path, monkeypatch):
    """A batch over GeoTIFF tiles with one --vector: each tile draws the features that reach it (one crosses the two tiles'
    border), gets its truth.geojson and edited.geojson; a tile the layer does not touch fails with that reason."""
    from cimgen.runs import geodata

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    offsets = {"a_west": (0, 0), "b_east": (48, 0), "c_far": (20000, 0)}  # pixel columns, rows of each tile's corner
    for n, (name, (col, row)) in enumerate(offsets.items()):
        image = read_image(tiny_world / "images" / f"tile_{n:05d}.png")
        profile = {"driver": "GTiff", "height": 48, "width": 48, "count": 3, "dtype": "uint8", "crs": "EPSG:32616"}
        with rasterio.open(tiles / f"{name}.tif", "w", transform=TRANSFORM @ Affine.translation(col, row), **profile) as ds:
            ds.write(image.transpose(2, 0, 1))
    boxes = [(4, 4, 14, 12), (36, 6, 44, 14), (40, 30, 56, 40), (60, 10, 70, 20), (80, 30, 90, 44)]  # 2 lies on both tiles
    kinds = np.array(["yes", "shed", "yes", "yes", "shed"], dtype=object)
    layer = VectorLayer(
        np.array([_px_box(*b) for b in boxes], dtype=object), tuple(range(5)), {"building": kinds}, crs_wkt("EPSG:32616"), "b"
    )
    write_geojson(tmp_path / "city.geojson", layer)
    (tmp_path / "classes.yaml").write_text(CLASSES)
    (tmp_path / "remove.yaml").write_text("edits:\n  - {op: remove, where: \"building == 'yes'\"}\n")
    reads = []
    read_vector = geodata.read_vector
    monkeypatch.setattr(geodata, "read_vector", lambda *a, **k: reads.append(a) or read_vector(*a, **k))

    args = _args(tiny_ckpt, tmp_path, tmp_path / "batch", vector=tmp_path / "city.geojson", spec=tmp_path / "remove.yaml")
    args[args.index("--image") + 1] = str(tiles)
    assert main(args) == 0
    assert len(reads) == 1  # the layer is read once for the batch

    rows = {r["image"].rsplit("/", 1)[-1]: r for r in json.loads((tmp_path / "batch" / "manifest.json").read_text())["files"]}
    assert rows["a_west.tif"]["status"] == rows["b_east.tif"]["status"] == "ok"
    assert rows["c_far.tif"]["status"] == "failed" and "no feature of" in rows["c_far.tif"]["error"]
    assert "c_far.tif" in rows["c_far.tif"]["error"] and not (tmp_path / "batch" / "c_far").exists()
    for name, kept, removed in (("a_west", [1], [0, 2]), ("b_east", [4], [2, 3])):
        run = tmp_path / "batch" / name
        assert pyogrio.raw.read(run / "edited.geojson", return_fids=True)[1].tolist() == kept
        metrics = json.loads((run / "metrics.json").read_text())
        assert sorted(metrics["edited_vector"]["removed_ids"]) == removed and metrics["vector"]["features_in_layer"] == 5
        with rasterio.open(run / "result.tif") as r, rasterio.open(tiles / f"{name}.tif") as s:
            transform = r.transform
            assert transform == s.transform and r.crs == s.crs
            res, src = r.read(), s.read()
        with rasterio.open(run / "mask.tif") as m:
            mask = m.read(1) > 0
        assert mask.any() and np.array_equal(res[:, ~mask], src[:, ~mask])
        assert _truth_iou(run, transform, (48, 48)) == 1.0


@pytest.mark.parametrize("case", ["unknown_attribute", "empty"])
def test_a_bad_layer_stops_a_folder_batch_before_anything_is_written(capsys, tiny_ckpt, scene, case):
    import shutil

    make, classes, said = BAD[case]
    vector = make(scene)
    (scene / "tiles").mkdir()
    shutil.copy(scene / "scene.tif", scene / "tiles" / "one.tif")
    mapping = None
    if classes:
        mapping = scene / "other.yaml"
        mapping.write_text(classes)
    args = _args(tiny_ckpt, scene, scene / "bad", vector=vector, classes=mapping)
    args[args.index("--image") + 1] = str(scene / "tiles")
    assert said in _err(capsys, args)
    assert not (scene / "bad").exists()
