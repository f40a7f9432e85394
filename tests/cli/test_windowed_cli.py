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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--windowed", "--window-limit", "700"], "edit 2 (RemoveClass) needs a window of"),
        (["--windowed", "--finetune"], "--windowed does not take --finetune"),
        (["--windowed", "--score-inside"], "--windowed does not take --score-inside"),
        (["--no-cog"], "--no-cog chooses the format of a --windowed run"),
    ],
)
def test_windowed_refusals_are_one_sentence_and_leave_nothing(capsys, geo_scene, tiny_ckpt, tmp_path, extra, message):
    assert message in _err(capsys, _args(tiny_ckpt, geo_scene, tmp_path / "bad", *extra))
    assert not (tmp_path / "bad").exists()


def test_a_scene_too_large_for_memory_says_to_use_windowed(capsys, tiny_ckpt, tmp_path, monkeypatch, geo_scene):
    import cimgen.runs.manipulate as run

    monkeypatch.setattr(run, "IN_MEMORY_MAX_PIXELS", 1000)
    assert "run it with --windowed" in _err(capsys, _args(tiny_ckpt, geo_scene, tmp_path / "big"))
