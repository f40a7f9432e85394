"""``cimgen manipulate --windowed`` with geodata: a vector layer drawn window by window, edits by feature and in map
coordinates, 16-bit and multi-band scenes written back in their own type; equal to the in-memory run where both fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.cli.main import main
from tests.cli.test_cli import _err
from tests.cli.test_geodata_cli import _truth_iou
from tests.conftest import shared

rasterio = pytest.importorskip("rasterio", reason="geodata is the optional 'geo' extra")
pyogrio = pytest.importorskip("pyogrio", reason="geodata is the optional 'geo' extra")
shapely = pytest.importorskip("shapely", reason="geodata is the optional 'geo' extra")
from rasterio.features import rasterize
from rasterio.transform import Affine

from cimgen.io.vector import VectorLayer, crs_wkt, reproject_xy, write_geojson

SIZE = 256
TRANSFORM = Affine(0.5, 0.0, 733601.0, 0.0, -0.5, 3725139.0)  # 0.5 m pixels in UTM 16N, as the SpaceNet sample
CLASSES = "default: ground\nrules:\n  - {match: highway=*, class: road, width: 3}\n  - {match: building=*, class: building}\n"
TILES = ["--tile-size", "128", "--overlap", "16"]


def _map_xy(col, row):
    return 733601 + 0.5 * col, 3725139 - 0.5 * row


def _px_box(c0, r0, c1, r1):
    """A box given in pixel columns and rows (a little off the pixel grid, so no edge runs through pixel centres), in map coordinates."""
    (x0, y1), (x1, y0) = _map_xy(c0 + 0.3, r0 + 0.3), _map_xy(c1 + 0.3, r1 + 0.3)
    return shapely.box(x0, y0, x1, y1)


# buildings (pixel boxes) with their 'building' value; 3 crosses the first tile border, 5 is the shed
BUILDINGS = [
    ((20, 20, 40, 36), "yes"), ((60, 30, 75, 50), "yes"), ((100, 90, 140, 104), "yes"), ((180, 40, 200, 60), "yes"),
    ((30, 170, 50, 190), "yes"), ((200, 190, 215, 205), "shed"), ((150, 200, 170, 230), "yes"),
]  # fmt: skip


def _write_scene(folder, *, count=1, dtype="uint16"):
    """A 256x256 GeoTIFF drawn from a building and road layer (values by class plus noise, a no-data strip), the layer, the mapping."""
    geoms = [_px_box(*box) for box, _ in BUILDINGS]
    road = shapely.LineString([_map_xy(0, 130.4), _map_xy(256, 150.2)])
    columns = {
        "building": np.array([v for _, v in BUILDINGS] + [None], dtype=object),
        "highway": np.array([None] * len(BUILDINGS) + ["residential"], dtype=object),
    }
    layer = VectorLayer(np.array([*geoms, road], dtype=object), tuple(range(len(geoms) + 1)), columns, crs_wkt("EPSG:32616"), "b")
    write_geojson(folder / "b.geojson", layer)
    (folder / "classes.yaml").write_text(CLASSES)
    shapes = [(g, 1500) for g in geoms] + [(road.buffer(1.5), 900)]
    base = rasterize(shapes, out_shape=(SIZE, SIZE), transform=TRANSFORM, fill=400, dtype="uint16").astype(np.int64)
    rng = np.random.default_rng(0)
    bands = np.stack([base + 60 * b + rng.integers(0, 200, base.shape) for b in range(count)])
    bands[:, :, :6] = 0  # no-data strip
    profile = {"driver": "GTiff", "height": SIZE, "width": SIZE, "count": count, "dtype": dtype, "crs": "EPSG:32616"}
    profile.update(transform=TRANSFORM, nodata=0, tiled=True, blockxsize=128, blockysize=128, compress="deflate")
    with rasterio.open(folder / "scene.tif", "w", **profile) as ds:
        ds.write(bands.astype(dtype))
        ds.update_tags(SOURCE="cimgen test")
        ds.descriptions = tuple(f"band {b + 1}" for b in range(count))
    return folder


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = _write_scene(tmp_path_factory.mktemp("wgeo"))
    lon, lat = reproject_xy(*(np.array(v) for v in zip(_map_xy(205, 200), _map_xy(208, 195), strict=True)), crs_wkt("EPSG:32616"), crs_wkt("EPSG:4326"))  # fmt: skip
    water = [list(_map_xy(80.3, 180.3)), list(_map_xy(110.3, 185.3)), list(_map_xy(95.3, 215.3))]
    box = [*_map_xy(184, 58), *_map_xy(186, 56)]  # touches building 3 near its corner: the whole building goes
    edits = [
        {"op": "remove", "feature": 1},
        {"op": "remove", "where": "building == 'shed'", "within": [float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])], "crs": "EPSG:4326"},
        {"op": "insert", "class": "water", "polygon": water, "crs": "image", "properties": {"natural": "water"}},
        {"op": "remove", "class": "building", "box": box, "crs": "image"},
        {"op": "move", "at": [160, 210], "by": [-40, 0]},
        {"op": "remove", "index": 2},
    ]  # fmt: skip
    (folder / "edits.json").write_text(json.dumps({"edits": edits}))
    return folder


def _args(ckpt, folder, out, *extra):
    return [
        "manipulate", "--checkpoint", str(ckpt), "--image", str(folder / "scene.tif"), "--vector", str(folder / "b.geojson"),
        "--classes", str(folder / "classes.yaml"), "--spec", str(folder / "edits.json"), *TILES, "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.descriptions


def _drawn(path, shape=(SIZE, SIZE)):
    """A GeoJSON's polygons drawn back on the grid, and the layer's ids and geometries."""
    _, ids, wkb, _ = pyogrio.raw.read(path, return_fids=True)
    geoms = shapely.from_wkb(wkb)
    back = rasterize([(g, 1) for g in geoms], out_shape=shape, transform=TRANSFORM, fill=0, dtype="uint8") > 0
    return back, ids.tolist(), geoms


def test_a_vector_layer_windowed_equals_the_in_memory_run(scene, tiny_ckpt, tmp_path):
    """Same map, mask, result pixels (uint16), truth polygons and edited layer as the in-memory path."""
    assert main(_args(tiny_ckpt, scene, tmp_path / "memory")) == 0
    assert main(_args(tiny_ckpt, scene, tmp_path / "windowed", "--windowed", "--no-cog")) == 0
    mem, win = tmp_path / "memory", tmp_path / "windowed"
    (ref, ref_profile, _, _), (got, profile, tags, _) = _read(mem / "result.tif"), _read(win / "result.tif")
    assert got.dtype == np.uint16 and got.shape == (1, SIZE, SIZE) and np.array_equal(got, ref)
    assert (profile["crs"], profile["transform"], profile["nodata"], tags["SOURCE"]) == (
        ref_profile["crs"], TRANSFORM, 0.0, "cimgen test",
    )  # fmt: skip
    mask = _read(mem / "mask.tif")[0][0] > 0
    assert np.array_equal(_read(win / "mask.tif")[0][0] > 0, mask) and mask.sum() > 1000
    source = _read(scene / "scene.tif")[0]
    assert np.array_equal(got[:, ~mask], source[:, ~mask]) and (got[:, mask] != source[:, mask]).any()

    ref_truth, _, ref_geoms = _drawn(mem / "truth.geojson")
    got_truth, _, got_geoms = _drawn(win / "truth.geojson")
    assert np.array_equal(got_truth, mask) and np.array_equal(ref_truth, mask)
    assert sorted(round(g.area, 6) for g in got_geoms) == sorted(round(g.area, 6) for g in ref_geoms)

    _, ref_ids, ref_edited = _drawn(mem / "edited.geojson")
    _, got_ids, got_edited = _drawn(win / "edited.geojson")
    assert got_ids == ref_ids
    assert all(g.normalize().equals_exact(r.normalize(), 1e-6) for g, r in zip(got_edited, ref_edited, strict=True))
    m_mem, m_win = (json.loads((d / "metrics.json").read_text()) for d in (mem, win))
    assert m_win["edited_vector"] == m_mem["edited_vector"]
    assert sorted(m_win["edited_vector"]["removed_ids"]) == [1, 2, 3, 5, 6]  # by id, query + lon/lat box, box, moved, index
    assert m_win["edited_vector"]["features_added"] == 2  # the water polygon and the moved building
    assert m_win["mask_area_pixels"] == m_mem["mask_area_pixels"] and m_win["tiles_generated"] == m_mem["tiles_generated"]
    assert (m_win["bands"]["low"], m_win["bands"]["high"]) == (m_mem["bands"]["low"], m_mem["bands"]["high"])
    assert m_win["bands"]["sample"]["how"] == "the whole scene"
    assert m_win["vector"]["features_drawn_by_rule"] == {"highway=*": 1, "building=*": 7}


def test_four_bands_stretched_from_a_decimated_sample_keep_everything_outside(tiny_ckpt, tmp_path, monkeypatch):
    """A 4-band uint16 scene whose stretch comes from a decimated read: outside the mask byte for byte the source; bands 4 predicted."""
    from cimgen.io import geotiff
    from cimgen.io.bands import fit_stretch

    folder = _write_scene(tmp_path, count=4)
    (folder / "edits.yaml").write_text("edits:\n  - {op: remove, feature: 2}\n  - {op: remove, index: 4}\n")
    monkeypatch.setattr(geotiff, "SAMPLE_PIXELS", 4096)  # 256x256 -> every 4th row and column
    args = _args(tiny_ckpt, folder, tmp_path / "w4", "--windowed", "--bands", "3,2,1")
    args[args.index("--spec") + 1] = str(folder / "edits.yaml")
    assert main(args) == 0
    (src, src_profile, _, src_desc), (res, profile, tags, desc) = _read(folder / "scene.tif"), _read(tmp_path / "w4" / "result.tif")
    assert res.dtype == np.uint16 and res.shape == (4, SIZE, SIZE)
    assert (profile["crs"], profile["transform"], profile["nodata"], tags["SOURCE"], desc) == (
        src_profile["crs"], src_profile["transform"], 0.0, "cimgen test", src_desc,
    )  # fmt: skip
    mask = _read(tmp_path / "w4" / "mask.tif")[0][0] > 0
    assert mask.any() and np.array_equal(res[:, ~mask], src[:, ~mask])
    assert all((res[b][mask] != src[b][mask]).any() for b in range(4))  # band 4 follows the edit too
    args[args.index("--out") + 1] = str(tmp_path / "p4")
    assert main([*args, "--output", "patch"]) == 0  # the VRT over the scene reads as result.tif, in every band
    vrt, vrt_profile, vrt_tags, vrt_desc = _read(tmp_path / "p4" / "result.vrt")
    assert np.array_equal(vrt, res) and (vrt_profile["nodata"], vrt_tags["SOURCE"], vrt_desc) == (0.0, "cimgen test", src_desc)
    bands = json.loads((tmp_path / "w4" / "metrics.json").read_text())["bands"]
    assert (bands["sample"]["width"], bands["sample"]["height"]) == (64, 64) and bands["sample"]["how"].startswith("decimated")
    assert bands["bands"] == [3, 2, 1] and list(bands["bands_fitted"]) == ["4"]
    full = fit_stretch(src.transpose(1, 2, 0), bands=(3, 2, 1), nodata=0)
    spread = np.subtract(full.high, full.low)
    assert np.all(np.abs(np.subtract(bands["low"], full.low)) < 0.1 * spread)
    assert np.all(np.abs(np.subtract(bands["high"], full.high)) < 0.1 * spread)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--finetune"], "--windowed does not take --finetune: fine-tuning memorises one whole image"),
        (["--score-inside"], "--windowed does not take --score-inside: its scores fit a segmenter"),
        (["--window-limit", "64"], "the pixels of the features span 183x213 pixels, more than the 64 a side"),
    ],
)
def test_windowed_geodata_refusals_are_one_sentence_and_leave_nothing(capsys, scene, tiny_ckpt, tmp_path, extra, message):
    spec = tmp_path / "all.yaml"
    spec.write_text("edits:\n  - {op: remove, where: \"building == 'yes'\"}\n")
    args = _args(tiny_ckpt, scene, tmp_path / "bad", "--windowed", *extra)
    args[args.index("--spec") + 1] = str(spec)
    line = _err(capsys, args)
    assert message in line
    if extra == ["--finetune"]:
        assert "gdal_translate -srcwin" in line and "in-memory path" in line
    assert not (tmp_path / "bad").exists()


def test_map_coordinates_on_a_label_map_scene_without_georeferencing_say_what_is_missing(capsys, tiny_ckpt, tmp_path):
    """A 'crs' in a windowed spec on a TIFF with no map coordinates: the sentence says the image is not georeferenced."""
    labels = np.zeros((64, 64), np.uint8)
    labels[10:20, 10:20] = 1
    for name, array in (("img.tif", np.full((3, 64, 64), 90, np.uint8)), ("labels.tif", labels[None])):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=64, width=64, count=len(array), dtype="uint8") as ds:
            ds.write(array)
    (tmp_path / "e.yaml").write_text("edits:\n  - {op: remove, class: building, box: [0, 0, 5, 5], crs: image}\n")
    args = ["manipulate", "--checkpoint", str(tiny_ckpt), "--image", str(tmp_path / "img.tif"), "--map", str(tmp_path / "labels.tif")]
    line = _err(capsys, [*args, "--spec", str(tmp_path / "e.yaml"), "--windowed", "--out", str(tmp_path / "r"), "--quiet"])
    assert "'crs' gives coordinates on the Earth, which needs a georeferenced image" in line


def test_spacenet_windowed_remove_one_footprint(tiny_ckpt, tmp_path):
    """The SpaceNet sample through --windowed: uint16, one band, the source's CRS, transform and no-data; truth and 42 footprints."""
    image = shared("spacenet-vector-sample/sample_geotiff.tif")
    vector = shared("spacenet-vector-sample/geotiff_labels.geojson")
    (tmp_path / "classes.yaml").write_text("default: ground\nrules:\n  - {match: building=*, class: building}\n")
    (tmp_path / "remove.yaml").write_text("edits:\n  - {op: remove, feature: 4}\n")
    out = tmp_path / "run"
    args = ["manipulate", "--checkpoint", str(tiny_ckpt), "--image", str(image), "--vector", str(vector), "--windowed", "--quiet"]
    args += ["--classes", str(tmp_path / "classes.yaml"), "--spec", str(tmp_path / "remove.yaml"), *TILES, "--out", str(out)]
    assert main(args) == 0
    with rasterio.open(image) as s, rasterio.open(out / "result.tif") as r:
        assert (r.dtypes, r.count, r.nodata, r.crs, r.transform) == (("uint16",), 1, s.nodata, s.crs, s.transform)
        src, res, transform = s.read(1), r.read(1), s.transform
    with rasterio.open(out / "mask.tif") as m:
        mask = m.read(1) > 0
    assert np.array_equal(res[~mask], src[~mask])
    assert _truth_iou(out, transform, src.shape) >= 0.99
    assert pyogrio.read_info(out / "truth.geojson")["crs"] == "EPSG:32616"
    assert pyogrio.read_info(out / "edited.geojson")["features"] == 42
