"""``cimgen manipulate --windowed``: a GeoTIFF scene read, edited and written window by window equals the in-memory run; COG out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from cimgen.cli.main import main
from cimgen.data.synth import BUILDING, GROUND, ROAD, VEGETATION
from tests.cli.test_cli import _err
from tests.edit.test_windowed import scene

rasterio = pytest.importorskip("rasterio", reason="GeoTIFF support is the optional 'geo' extra")

UTM_33N = 32633


@pytest.fixture(scope="module")
def geo_scene(tmp_path_factory):
    """A 1024x1024 RGB GeoTIFF and its label map (synthetic-world classes), with a 900-pixel building strip."""
    from rasterio.crs import CRS

    from cimgen.io.geotiff import GeoInfo, write_geotiff

    folder = tmp_path_factory.mktemp("scene")
    labels, image = scene()
    labels = np.array([GROUND, BUILDING, VEGETATION, ROAD], np.uint8)[labels]
    info = GeoInfo(
        height=1024, width=1024, count=3, crs=CRS.from_epsg(UTM_33N).to_wkt(), transform=(0.3, 0.0, 500000.0, 0.0, -0.3, 5400000.0),
        tags={"SOURCE": "cimgen test"}, colorinterp=("red", "green", "blue"), compress="deflate",
    )  # fmt: skip
    write_geotiff(folder / "scene.tif", image, info)
    write_geotiff(folder / "labels.tif", labels, info)
    spec = folder / "edits.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "edits": [
                    {"op": "remove", "class": "building", "box": [10, 10, 120, 120]},  # the corner
                    {"op": "remove", "class": "building", "box": [480, 495, 520, 505]},  # the long strip, across tile borders
                ]
            }
        )
    )
    return folder


def _args(ckpt, folder, out, *extra):
    return [
        "manipulate", "--checkpoint", str(ckpt), "--image", str(folder / "scene.tif"), "--map", str(folder / "labels.tif"),
        "--spec", str(folder / "edits.yaml"), "--tile-size", "256", "--overlap", "32", "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def test_windowed_run_equals_the_in_memory_run_and_writes_a_cog(geo_scene, tiny_ckpt, tmp_path):
    from cimgen.io.geotiff import read_geotiff, read_geotiff_info

    assert main(_args(tiny_ckpt, geo_scene, tmp_path / "memory")) == 0
    assert main(_args(tiny_ckpt, geo_scene, tmp_path / "windowed", "--windowed")) == 0
    ref, _ = read_geotiff(tmp_path / "memory" / "result.tif")
    got, info = read_geotiff(tmp_path / "windowed" / "result.tif")
    assert np.array_equal(got, ref)
    ref_mask, _ = read_geotiff(tmp_path / "memory" / "mask.tif")
    got_mask, _ = read_geotiff(tmp_path / "windowed" / "mask.tif")
    assert np.array_equal(got_mask, ref_mask)
    source = read_geotiff_info(geo_scene / "scene.tif")
    assert (info.crs, info.transform, info.tags.get("SOURCE"), info.colorinterp) == (
        source.crs, source.transform, "cimgen test", ("red", "green", "blue"),
    )  # fmt: skip

    with rasterio.open(tmp_path / "windowed" / "result.tif") as ds:  # a Cloud-Optimized GeoTIFF
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.profile["tiled"] and ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1) == [2]  # down to one 512-pixel block
        assert ds.compression.name.lower() == "deflate"
    metrics = json.loads((tmp_path / "windowed" / "metrics.json").read_text())
    memory = json.loads((tmp_path / "memory" / "metrics.json").read_text())
    assert metrics["tiles_generated"] == memory["tiles_generated"] and metrics["mask_area_pixels"] == memory["mask_area_pixels"]
    assert metrics["edit_windows"][1]["tries"] > 1  # the strip reached past the first window
    truth = json.loads((tmp_path / "windowed" / "truth.geojson").read_text())
    assert truth["features"] and "32633" in json.dumps(truth["crs"])


def test_no_cog_writes_a_plain_tiled_geotiff(geo_scene, tiny_ckpt, tmp_path):
    assert main(_args(tiny_ckpt, geo_scene, tmp_path / "w", "--windowed", "--no-cog")) == 0
    with rasterio.open(tmp_path / "w" / "result.tif") as ds:
        assert ds.overviews(1) == [] and ds.profile["tiled"] and ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG"


def test_patch_output_reads_as_the_cog_output_and_stores_only_the_edited_windows(geo_scene, tiny_ckpt, tmp_path):
    """``--output patch``: result.vrt (the scene + patch.tif) reads, pixel for pixel, as the same run's COG."""
    from cimgen.io.geotiff import read_geotiff

    assert main(_args(tiny_ckpt, geo_scene, tmp_path / "cog", "--windowed")) == 0
    assert main(_args(tiny_ckpt, geo_scene, tmp_path / "patch", "--windowed", "--output", "patch")) == 0
    run = tmp_path / "patch"
    assert not (run / "result.tif").exists()
    with rasterio.open(run / "result.vrt") as vrt, rasterio.open(tmp_path / "cog" / "result.tif") as ref:
        got = vrt.read()
        assert np.array_equal(got, ref.read())
        assert (vrt.crs, vrt.transform, vrt.dtypes, vrt.colorinterp) == (ref.crs, ref.transform, ref.dtypes, ref.colorinterp)
    mask, _ = read_geotiff(run / "mask.tif")
    source, _ = read_geotiff(geo_scene / "scene.tif")
    outside = mask[..., 0] == 0
    assert np.array_equal(got.transpose(1, 2, 0)[outside], source[outside])
    assert np.array_equal(mask, read_geotiff(tmp_path / "cog" / "mask.tif")[0])
    assert (run / "truth.geojson").read_text() == (tmp_path / "cog" / "truth.geojson").read_text()

    metrics = json.loads((run / "metrics.json").read_text())
    patch = metrics["patch"]
    assert metrics["result"] == "result.vrt" and patch["source"] == str((geo_scene / "scene.tif").resolve())
    with rasterio.open(run / "patch.tif") as ds, rasterio.open(geo_scene / "scene.tif") as src:
        assert (ds.width, ds.height) == (patch["x1"] - patch["x0"], patch["y1"] - patch["y0"]) and (ds.width, ds.height) != (1024, 1024)
        assert ds.transform == src.transform @ rasterio.transform.Affine.translation(patch["x0"], patch["y0"])
    for piece in metrics["pieces"]:  # every rendered piece lies in the patch
        assert patch["x0"] <= piece["x0"] and piece["x1"] <= patch["x1"] and patch["y0"] <= piece["y0"] and piece["y1"] <= patch["y1"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--windowed", "--window-limit", "700"], "edit 2 (RemoveClass) needs a window of"),
        (["--windowed", "--finetune"], "--windowed does not take --finetune"),
        (["--windowed", "--score-inside"], "--windowed does not take --score-inside"),
        (["--no-cog"], "--no-cog chooses the format of a --windowed run"),
        (["--output", "patch"], "--output chooses what a --windowed run writes"),
        (["--windowed", "--no-cog", "--output", "patch"], "--no-cog is --output gtiff"),
        (["--windowed", "--output", "png"], "output is 'png'; choose cog, gtiff, patch"),
    ],
)
def test_windowed_refusals_are_one_sentence_and_leave_nothing(capsys, geo_scene, tiny_ckpt, tmp_path, extra, message):
    assert message in _err(capsys, _args(tiny_ckpt, geo_scene, tmp_path / "bad", *extra))
    assert not (tmp_path / "bad").exists()


def test_a_scene_too_large_for_memory_says_to_use_windowed(capsys, tiny_ckpt, tmp_path, monkeypatch, geo_scene):
    import cimgen.runs.manipulate as run

    monkeypatch.setattr(run, "IN_MEMORY_MAX_PIXELS", 1000)
    assert "run it with --windowed" in _err(capsys, _args(tiny_ckpt, geo_scene, tmp_path / "big"))


def test_windowed_runs_take_the_removed_buildings_shadows_in_as_in_memory_runs(tiny_ckpt, tmp_path):
    """Houses casting shadows down and to the right: ``--shadows auto`` finds them window by window as in memory."""
    from rasterio.crs import CRS

    from cimgen.io.geotiff import GeoInfo, read_geotiff, write_geotiff
    from tests.edit.test_shadow import _tiled_scene

    image, labels = _tiled_scene()
    labels = np.array([GROUND, BUILDING, VEGETATION], np.uint8)[labels]
    h, w = labels.shape
    info = GeoInfo(
        height=h, width=w, count=3, crs=CRS.from_epsg(UTM_33N).to_wkt(), transform=(0.3, 0.0, 500000.0, 0.0, -0.3, 5400000.0),
        tags={}, colorinterp=("red", "green", "blue"), compress="deflate",
    )  # fmt: skip
    write_geotiff(tmp_path / "scene.tif", image, info)
    write_geotiff(tmp_path / "labels.tif", labels, info)
    (tmp_path / "edits.yaml").write_text(yaml.safe_dump({"edits": [{"op": "remove", "class": "building", "box": [150, 150, 230, 230]}]}))
    for name, extra in (("memory", ()), ("windowed", ("--windowed",)), ("off", ("--windowed", "--shadows", "off"))):
        assert main(_args(tiny_ckpt, tmp_path, tmp_path / name, "--radius", "4", *extra)) == 0
    runs = {n: json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("memory", "windowed", "off")}
    assert runs["memory"]["shadow"]["found"] and runs["memory"]["shadow"]["direction"] == 45.0
    assert [s["direction"] for s in runs["windowed"]["shadow"]] == [45.0]
    assert runs["windowed"]["mask_from"] == runs["memory"]["mask_from"] == "changed labels and the removed objects' shadows, dilated"
    assert runs["off"]["mask_from"] == "changed labels, dilated" and "shadow" not in runs["off"]
    assert runs["windowed"]["mask_area_pixels"] == runs["memory"]["mask_area_pixels"] > runs["off"]["mask_area_pixels"]
    assert np.array_equal(read_geotiff(tmp_path / "windowed" / "mask.tif")[0], read_geotiff(tmp_path / "memory" / "mask.tif")[0])
