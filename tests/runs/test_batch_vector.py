"""``cimgen batch`` with vector layers: rows with their own layer and mapping (the same pixels as ``cimgen manipulate``),
one ``--vector`` layer shared by every scene (the same pixels as a folder batch, on Ray workers too), the resume key
holding the mapping, and one sentence for each row that cannot work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cimgen.cli.main import main
from cimgen.generators import shipped_checkpoint
from cimgen.io.images import read_image
from cimgen.runs import batch, geodata
from cimgen.runs.batch import run_batch_manifest
from tests.conftest import shared
from tests.runs.test_batch import _calls, _err, _reset, ray_engine  # noqa: F401  (the fixture is used by name)

rasterio = pytest.importorskip("rasterio", reason="geodata is the optional 'geo' extra")
pyogrio = pytest.importorskip("pyogrio", reason="geodata is the optional 'geo' extra")
shapely = pytest.importorskip("shapely", reason="geodata is the optional 'geo' extra")
from rasterio.transform import Affine

from cimgen.io.vector import VectorLayer, crs_wkt, write_geojson
from tests.cli.test_geodata_cli import CLASSES, TRANSFORM, _px_box, _truth_iou

TILES = {"a_west": (0, 0), "b_east": (48, 0), "c_far": (20000, 0)}
"""Pixel column and row of each 48x48 tile's corner on one UTM grid; c_far lies where no feature is."""
BOXES = [(4, 4, 14, 12), (36, 6, 44, 14), (40, 30, 56, 40), (60, 10, 70, 20), (80, 30, 90, 44)]
"""Footprints (pixel columns, rows on that grid) with ids 0..4; 2 lies on both a_west and b_east."""
KINDS = ["yes", "shed", "yes", "yes", "shed"]
SCENE_FILES = ("result.tif", "mask.tif", "truth.geojson", "edited.geojson")


@pytest.fixture
def city(tiny_world, tmp_path):
    """Three georeferenced RGB GeoTIFF tiles (tiles/), one building layer over them, a class mapping and two specs."""
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for n, (name, (col, row)) in enumerate(TILES.items()):
        image = read_image(tiny_world / "images" / f"tile_{n:05d}.png")
        profile = {"driver": "GTiff", "height": 48, "width": 48, "count": 3, "dtype": "uint8", "crs": "EPSG:32616"}
        with rasterio.open(tiles / f"{name}.tif", "w", transform=TRANSFORM @ Affine.translation(col, row), **profile) as ds:
            ds.write(image.transpose(2, 0, 1))
    layer = VectorLayer(
        np.array([_px_box(*b) for b in BOXES], dtype=object),
        tuple(range(len(BOXES))),
        {"building": np.array(KINDS, dtype=object)},
        crs_wkt("EPSG:32616"),
        "city",
    )
    write_geojson(tmp_path / "city.geojson", layer)
    (tmp_path / "classes.yaml").write_text(CLASSES)
    (tmp_path / "yes.yaml").write_text("edits:\n  - {op: remove, where: \"building == 'yes'\"}\n")
    (tmp_path / "two.yaml").write_text("edits:\n  - {op: remove, feature: 2}\n")
    return tmp_path


def _write_manifest(folder: Path, header: str, *rows: str) -> Path:
    path = folder / "m.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _batch(manifest: Path, out: Path, *extra: str) -> int:
    return main(["batch", str(manifest), "--checkpoint", str(shipped_checkpoint()), "--out", str(out), "--quiet", *extra])


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / batch.MANIFEST_OUT).read_text().splitlines()))


def _raster(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def _same_scene(a: Path, b: Path) -> None:
    """The same pixels (result.tif, mask.tif and every picture) and the same geodata in two run folders."""
    for name in ("result.tif", "mask.tif"):
        assert np.array_equal(_raster(a / name), _raster(b / name)), f"{a / name} differs from {b / name}"
    pictures = sorted(p.name for p in a.glob("*.png"))
    assert pictures and pictures == sorted(p.name for p in b.glob("*.png"))
    for name in pictures:
        assert np.array_equal(read_image(a / name), read_image(b / name)), f"{a / name} differs from {b / name}"
    for name in ("truth.geojson", "edited.geojson"):
        assert (a / name).read_text() == (b / name).read_text(), f"{a / name} differs from {b / name}"


def test_vector_rows_make_the_pixels_of_cimgen_manipulate(city, one_thread, monkeypatch):
    """Each row draws its own layer with its mapping (its classes column, or --classes); the mapping file, named by
    both rows, is parsed once for the batch; each scene equals cimgen manipulate on the same inputs."""
    parsed = []
    real = geodata.parse_mapping
    monkeypatch.setattr(geodata, "parse_mapping", lambda *a, **k: parsed.append(k.get("source")) or real(*a, **k))
    manifest = _write_manifest(
        city,
        "image,vector,classes,spec,out",
        "tiles/a_west.tif,city.geojson,classes.yaml,two.yaml,a",
        "tiles/b_east.tif,city.geojson,,yes.yaml,b",
    )
    out = city / "batch"
    assert _batch(manifest, out, "--workers", "1", "--classes", str(city / "classes.yaml")) == 0
    assert [r["status"] for r in _rows(out)] == ["ok", "ok"]
    assert parsed == [str(city / "classes.yaml")]  # once, at the manifest check; the scenes take it parsed
    assert _rows(out)[0]["result"] == str(out / "a" / "result.tif")
    for name, tile, spec in (("a", "a_west", "two.yaml"), ("b", "b_east", "yes.yaml")):
        single = city / f"single_{name}"
        args = ["manipulate", "--checkpoint", str(shipped_checkpoint()), "--image", str(city / "tiles" / f"{tile}.tif")]
        args += ["--vector", str(city / "city.geojson"), "--classes", str(city / "classes.yaml"), "--spec", str(city / spec)]
        assert main([*args, "--out", str(single), "--quiet"]) == 0
        _same_scene(out / name, single)
        assert all((out / name / f).is_file() for f in SCENE_FILES)
    removed = json.loads((out / "b" / "metrics.json").read_text())["edited_vector"]["removed_ids"]
    assert sorted(removed) == [0, 2, 3]  # the row's whole layer: 0 matches the query too, though it lies off b_east
    record = json.loads((out / "a" / batch.SCENE_RECORD).read_text())["options"]
    assert record["classes"] == str(city / "classes.yaml") and record["classes_mapping"]["rules"][0]["class"] == "building"


def test_one_shared_layer_gives_every_scene_its_map_as_a_folder_batch_does(city, one_thread, monkeypatch, capsys):
    """--vector with --classes: the layer is read once; each GeoTIFF draws the features that reach it (the pixels and
    geodata of cimgen manipulate on the folder of tiles); a tile no feature reaches fails with the reason."""
    reads = []
    real = geodata.read_vector
    monkeypatch.setattr(geodata, "read_vector", lambda *a, **k: reads.append(a) or real(*a, **k))
    manifest = _write_manifest(
        city, "image,spec,out,options", *(f"tiles/{t}.tif,yes.yaml,{t}," for t in TILES), 'tiles/a_west.tif,two.yaml,a_two,"{}"'
    )
    out = city / "batch"
    layer = ["--vector", str(city / "city.geojson"), "--classes", str(city / "classes.yaml")]
    assert _batch(manifest, out, "--workers", "1", *layer) == 0
    assert len(reads) == 1  # by the manifest check; the scenes in this process reuse it
    rows = {r["out"]: r for r in _rows(out)}
    assert [rows[t]["status"] for t in ("a_west", "b_east", "a_two")] == ["ok", "ok", "ok"]
    assert rows["c_far"]["status"] == "failed" and "no feature of" in rows["c_far"]["error"] and "c_far.tif" in rows["c_far"]["error"]
    metrics = json.loads((out / "a_two" / "metrics.json").read_text())
    assert metrics["vector"]["features_in_layer"] == 5 and metrics["edited_vector"]["removed_ids"] == [2]

    folder = city / "folder"
    args = ["manipulate", "--checkpoint", str(shipped_checkpoint()), "--image", str(city / "tiles"), *layer]
    assert main([*args, "--spec", str(city / "yes.yaml"), "--out", str(folder), "--quiet"]) == 0
    for tile in ("a_west", "b_east"):
        _same_scene(out / tile, folder / tile)
        assert _truth_iou(out / tile, _transform(out / tile), (48, 48)) == 1.0


def _transform(run: Path):
    with rasterio.open(run / "result.tif") as ds:
        return ds.transform


@pytest.mark.slow
def test_two_ray_workers_draw_the_shared_layer_and_row_layers_as_one_process(city, ray_engine):  # noqa: F811
    """Ray workers read the shared layer again from its path (once each) and take each row's mapping as parsed by the
    driver: their scenes equal those made in this process."""
    _reset(ray_engine)
    shared_manifest = _write_manifest(city, "image,spec,out", "tiles/a_west.tif,yes.yaml,a", "tiles/b_east.tif,yes.yaml,b")
    (city / "rows.csv").write_text(
        "image,vector,classes,spec,out\ntiles/a_west.tif,city.geojson,classes.yaml,two.yaml,ra\ntiles/b_east.tif,city.geojson,,two.yaml,rb\n"
    )
    vector, classes = str(city / "city.geojson"), str(city / "classes.yaml")
    for manifest, options in ((shared_manifest, {"vector": vector, "classes": classes}), (city / "rows.csv", {"classes": classes})):
        made = {}
        for workers in (1, 2):
            out = city / f"{manifest.stem}_{workers}"
            made[workers] = run_batch_manifest(manifest, out, checkpoint=shipped_checkpoint(), workers=workers, echo=None, **options)
        assert [r["status"] for r in made[1].rows] == [r["status"] for r in made[2].rows] == ["ok", "ok"]
        for r in made[2].rows:
            _same_scene(city / f"{manifest.stem}_1" / r["out"], city / f"{manifest.stem}_2" / r["out"])
    assert sorted(_calls(ray_engine)) == ["a", "b", "ra", "rb"]  # the Ray scenes ran in the workers, each once


def test_the_resume_key_holds_the_mapping_and_the_vector_crs(city, capsys):
    """A scene made with one mapping is not kept when the mapping file changed in place, or the vector CRS did."""
    manifest = _write_manifest(city, "image,vector,classes,spec,out", "tiles/a_west.tif,city.geojson,classes.yaml,two.yaml,a")
    out = city / "batch"
    assert _batch(manifest, out, "--workers", "1") == 0
    assert _batch(manifest, out, "--workers", "1") == 0 and _rows(out)[0]["status"] == "done"
    changed = "was made from other inputs or options than line 2 gives"
    assert _batch(manifest, out, "--workers", "1", "--vector-crs", "EPSG:32616") == 2
    assert changed in _rows(out)[0]["error"]
    (city / "classes.yaml").write_text(CLASSES.replace("default: ground", "default: grass"))
    assert _batch(manifest, out, "--workers", "1") == 2
    assert changed in _rows(out)[0]["error"]
    (city / "classes.yaml").write_text(CLASSES)  # the same mapping again: the scene is done
    assert _batch(manifest, out, "--workers", "1") == 0 and _rows(out)[0]["status"] == "done"
    capsys.readouterr()


def test_a_bad_row_layer_fails_its_scene_before_any_scene_runs(city, monkeypatch):
    """A row's own vector file is checked from its header once, before the scenes run; its scenes fail, the rest go on."""
    calls = []
    real = batch.run_manipulation
    monkeypatch.setattr(batch, "run_manipulation", lambda cfg, *a, **k: calls.append(Path(cfg.out).name) or real(cfg, *a, **k))
    (city / "other.yaml").write_text("rules:\n  - {match: landuse=forest, class: tree}\n")
    (city / "broken.geojson").write_text('{"type": "FeatureCollection", "features": [')
    manifest = _write_manifest(
        city,
        "image,vector,classes,spec,out",
        "tiles/a_west.tif,city.geojson,other.yaml,two.yaml,attr",
        "tiles/a_west.tif,broken.geojson,classes.yaml,two.yaml,broken",
        "tiles/b_east.tif,broken.geojson,classes.yaml,two.yaml,broken2",
        "tiles/a_west.tif,city.geojson,classes.yaml,two.yaml,good",
    )
    result = run_batch_manifest(manifest, city / "batch", checkpoint=shipped_checkpoint(), workers=1, echo=None)
    rows = {r["out"]: r for r in result.rows}
    assert [rows[n]["status"] for n in ("attr", "broken", "broken2", "good")] == ["failed", "failed", "failed", "ok"]
    assert "names attribute 'landuse', which city.geojson does not have" in rows["attr"]["error"]
    assert "broken.geojson cannot be read as a vector layer" in rows["broken"]["error"]
    assert len(calls) == 1 and calls[0].startswith(".good.")  # only the good scene reached a manipulation


BAD_ROWS = {
    "no_mapping": (
        "image,vector,spec,out\ntiles/a_west.tif,city.geojson,two.yaml,a\n",
        [],
        "line 2: the vector file city.geojson needs a class mapping; give the row a classes file, or the batch --classes",
    ),
    "unknown_class": (
        "image,vector,classes,spec,out\ntiles/a_west.tif,city.geojson,classes.yaml,two.yaml,a\ntiles/b_east.tif,city.geojson,bad.yaml,two.yaml,b\n",
        [],
        ("line 3: ", "bad.yaml rule 1: unknown class 'skyscraper'; the classes are: ground"),
    ),
    "missing_mapping": (
        "image,vector,spec,out\ntiles/a_west.tif,city.geojson,two.yaml,a\n",
        ["--classes", "nowhere.yaml"],
        ("line 2: class mapping ", "nowhere.yaml does not exist"),
    ),
    "classes_without_vector": (
        "image,classes,spec,out\ntiles/a_west.tif,classes.yaml,two.yaml,a\n",
        [],
        "line 2: classes and the vector_crs option describe a vector layer, and the row gives no vector",
    ),
    "edited_map": (
        "image,vector,classes,edited_map,out\ntiles/a_west.tif,city.geojson,classes.yaml,e.png,a\n",
        [],
        "line 2: a vector row edits the map drawn from its layer; give the edit with spec or edits, not edited_map",
    ),
    "bad_crs": (
        'image,vector,classes,spec,out,options\ntiles/a_west.tif,city.geojson,classes.yaml,two.yaml,a,"{""vector_crs"": ""EPSG:0""}"\n',
        [],
        "line 2: 'EPSG:0' is not a CRS GDAL knows",
    ),
    "own_vector_with_shared": (
        "image,vector,spec,out\ntiles/a_west.tif,,two.yaml,a\ntiles/b_east.tif,city.geojson,two.yaml,b\n",
        ["--vector", "city.geojson", "--classes", "classes.yaml"],
        "line 3: the batch's --vector layer draws every scene's map, so the row cannot give its own vector; leave it out",
    ),
    "own_map_with_shared": (
        "image,map,spec,out\ntiles/a_west.tif,m.png,two.yaml,a\n",
        ["--vector", "city.geojson", "--classes", "classes.yaml"],
        "line 2: the batch's --vector layer draws every scene's map, so the row cannot give its own map",
    ),
    "shared_without_mapping": ("image,spec,out\ntiles/a_west.tif,two.yaml,a\n", ["--vector", "city.geojson"], "--vector needs --classes"),
    "empty_shared_layer": (
        "image,spec,out\ntiles/a_west.tif,two.yaml,a\n",
        ["--vector", "empty.geojson", "--classes", "classes.yaml"],
        "empty.geojson holds no features",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_vector_row_that_cannot_work_is_one_sentence_before_any_scene(case, city, capsys, monkeypatch):
    text, extra, said = BAD_ROWS[case]
    (city / "bad.yaml").write_text("rules:\n  - {match: building=*, class: skyscraper}\n")
    write_geojson(city / "empty.geojson", VectorLayer(np.array([], dtype=object), (), {}, crs_wkt("EPSG:32616"), "empty"))
    manifest = city / "m.csv"
    manifest.write_text(text)
    monkeypatch.chdir(city)  # the batch options' relative paths
    line = _err(capsys, manifest, city / "b", *extra, "--workers", "1")
    assert all(part in line for part in (said if isinstance(said, tuple) else (said,))), line
    assert not (city / "b").exists()


SPACENET = "spacenet-vector-sample"


def test_spacenet_one_row_removes_one_footprint(tmp_path, one_thread):
    """The real sample (docs/geodata.md) as a 1-row manifest: footprint 4 removed, pixels outside the mask untouched."""
    image, vector = shared(f"{SPACENET}/sample_geotiff.tif"), shared(f"{SPACENET}/geotiff_labels.geojson")
    (tmp_path / "classes.yaml").write_text(CLASSES)
    row = {
        "image": str(image), "vector": str(vector), "classes": "classes.yaml", "out": "spacenet",
        "edits": [{"op": "remove", "feature": 4}], "options": {"tile_size": 256, "overlap": 32},
    }  # fmt: skip
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "batch"
    result = run_batch_manifest(tmp_path / "m.jsonl", out, checkpoint=shipped_checkpoint(), workers=1, echo=None)
    assert result.rows[0]["status"] == "ok", result.rows[0]["error"]
    run = out / "spacenet"
    with rasterio.open(image) as s, rasterio.open(run / "result.tif") as r, rasterio.open(run / "mask.tif") as m:
        assert (r.dtypes, r.count, r.crs, r.transform) == (("uint16",), 1, s.crs, s.transform)
        src, res, mask = s.read(1), r.read(1), m.read(1) > 0
    assert mask.any() and np.array_equal(res[~mask], src[~mask])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["edited_vector"]["removed_ids"] == [4] and pyogrio.read_info(run / "edited.geojson")["features"] == 42
