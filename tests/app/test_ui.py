"""The page's own helpers: heatmaps from detectors and baselines, the box clicks, and errors turned into messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cimgen.app.session import example_scene
from cimgen.app.ui import BASELINES, AppConfig, _first_corner, _heatmap, build_app, guarded
from cimgen.errors import CimgenError
from tests.app.conftest import untrained_detector


@pytest.mark.parametrize("choice", [*BASELINES, "detector"])
def test_heatmaps_come_from_the_forensics_library(tmp_path, choice):
    det = str(untrained_detector(tmp_path / "det"))
    cfg = AppConfig(workdir=str(tmp_path), detectors=(det,))
    image = example_scene(0).image
    pic = _heatmap(cfg, image, det if choice == "detector" else choice)
    assert pic.shape == image.shape and pic.dtype == np.uint8
    assert not np.array_equal(pic, image)


def test_only_offered_detectors_are_loaded(tmp_path):
    with pytest.raises(CimgenError, match="not a detector this app offers"):
        _heatmap(AppConfig(workdir=str(tmp_path)), example_scene(0).image, "/etc/passwd")


def test_box_corners():
    assert _first_corner("12,30") == (12, 30)
    assert _first_corner("1,2,3,4") is None and _first_corner("") is None and _first_corner(None) is None


@pytest.mark.filterwarnings("ignore:.*(map is 4x4|boom).*:UserWarning")  # gr.Warning outside a request warns instead
def test_errors_become_a_message_and_the_other_outputs_stay():
    import gradio as gr

    @guarded(3)
    def fails(kind):
        if kind == "ours":
            raise CimgenError("the map is 4x4 pixels but the image is 8x8")
        raise ValueError("boom")

    ours = fails("ours")
    assert ours[:2] == (gr.skip(), gr.skip()) and ours[2] == "**Error:** the map is 4x4 pixels but the image is 8x8"
    theirs = fails("other")
    assert "internal error in fails: ValueError: boom" in theirs[2]


def test_the_page_builds_with_every_part(tmp_path):
    app = build_app(AppConfig(workdir=str(tmp_path)))
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    for part in ("map-editor", "run", "blend", "detector", "out-result", "before-after", "out-heatmap", "downloads", "study-image"):
        assert part in ids


def test_the_page_offers_both_shipped_generators_then_the_given_ones(tmp_path):
    from cimgen.generators import shipped_checkpoint

    mine = str(tmp_path / "mine")  # read only when chosen
    app = build_app(AppConfig(workdir=str(tmp_path), checkpoints=(mine,)))
    menu = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "generator")
    values = [value for _, value in menu.choices]
    assert values == [str(shipped_checkpoint("transpose")), str(shipped_checkpoint("resize")), mine]
    assert menu.value == values[0]


def _callback(app, api_name: str):
    return next(f.fn for f in app.fns.values() if f.api_name == api_name)


@pytest.mark.filterwarnings("ignore:.*not a generator this app offers.*:UserWarning")
def test_a_cyclegan_makes_the_map_from_an_uploaded_image_and_renders_the_edit(tiny_world, tmp_path, capsys):
    """The page's own callbacks, called as the browser would: upload without a map, insert, run, replay."""
    import shlex

    from cimgen.cli.main import main
    from cimgen.io.images import read_image
    from tests.cli.test_manipulate_cli import _tile
    from tests.conftest import tiny_cyclegan

    cg = str(tiny_cyclegan(tiny_world, tmp_path / "cg"))
    app = build_app(AppConfig(workdir=str(tmp_path / "work"), checkpoints=(cg,), palette="synth"))
    image, _ = _tile(tiny_world)
    out = _callback(app, "load_upload")(str(image), None, None, cg)
    session, status = out[0], out[-1]
    assert "map made from the image by the CycleGAN" in status, status
    assert session.scene.labels.shape == (48, 48)
    out = _callback(app, "insert_rectangle")(session, None, "5,5,20,20", "water", "ground")
    session = out[0]
    assert "insert applied" in out[-1] and session.edits == [
        {"op": "insert", "class": "water", "shape": "rectangle", "box": [5, 5, 20, 20]}
    ]
    out = _callback(app, "run")(session, None, cg, "poisson", 4, 6, False, 10, "none", "off", progress=lambda *a, **k: None)
    assert out[-1].startswith("Done in"), out[-1]
    argv = shlex.split(out[-3])
    assert argv[argv.index("--palette") + 1] == "synth" and argv[argv.index("--shadows") + 1] == "off"
    metrics = json.loads(Path(argv[argv.index("--spec") + 1].replace("/input/edit.yaml", "/result/metrics.json")).read_text())
    assert metrics["mask_from"] == "changed labels, dilated" and "shadow" not in metrics
    assert main(argv[1:]) == 0, capsys.readouterr().err
    saved = argv[argv.index("--spec") + 1].replace("/input/edit.yaml", "/result/result.png")
    assert np.array_equal(read_image(saved), read_image(argv[argv.index("--out") + 1] + "/result.png"))
    # a generator the app was not started with is refused, whoever asks
    out = _callback(app, "load_example")(0, "/tmp/some/other/checkpoint")
    assert "is not a generator this app offers" in out[-1]


@pytest.mark.filterwarnings("ignore:.*(needs a box|at least 3 points).*:UserWarning")
def test_clicks_remove_the_object_under_them_set_a_box_or_draw_a_polygon(tmp_path):
    import gradio as gr

    from cimgen.app.ui import TOOL_BOX, TOOL_POLYGON, TOOL_REMOVE
    from cimgen.data.synth import BUILDING

    app = build_app(AppConfig(workdir=str(tmp_path)))
    session = _callback(app, "load_example")(0, _bundled())[0]
    click = _callback(app, "map_click")
    ys, xs = np.nonzero(session.scene.labels == BUILDING)
    at = [int(xs[0]), int(ys[0])]
    out = click(session, None, TOOL_REMOVE, "", gr.SelectData(None, {"index": at, "value": None, "selected": True}))
    assert out[0].edits == [{"op": "remove", "at": at}] and "Removed the object" in out[-1]
    assert out[0].edited_labels()[at[1], at[0]] != BUILDING
    first = click(session, None, TOOL_BOX, "", gr.SelectData(None, {"index": [30, 40], "value": None, "selected": True}))
    assert first[4] == "30,40" and "opposite corner" in first[-1]
    second = click(session, None, TOOL_BOX, first[4], gr.SelectData(None, {"index": [10, 90], "value": None, "selected": True}))
    assert second[4] == "10,40,31,91"
    out = _callback(app, "replace_in_region")(session, None, second[4], "ground", "water")
    assert out[0].edits == [{"op": "replace", "from": "ground", "to": "water", "box": [10, 40, 31, 91]}]
    # the polygon tool: a click per point, then an insert or a replace inside it
    text = ""
    for k, point in enumerate([[20, 20], [60, 25], [40, 70]]):
        out = click(session, None, TOOL_POLYGON, text, gr.SelectData(None, {"index": point, "value": None, "selected": True}))
        text = out[4]
        assert f"Polygon of {k + 1} point(s)" in out[-1]
    assert text == "20,20 60,25 40,70"
    out = _callback(app, "insert_polygon")(session, None, text, "water", "ground")
    assert out[0].edits == [{"op": "insert", "class": "water", "shape": "polygon", "polygon": [[20.0, 20.0], [60.0, 25.0], [40.0, 70.0]]}]
    assert (out[0].edited_labels()[30:40, 35:45] == 3).all()  # inside the triangle is water now
    out = _callback(app, "insert_rectangle")(session, None, text, "water", "ground")
    assert "an inserted rectangle needs a box" in out[-1]
    out = _callback(app, "remove_in_region")(session, None, "1,2 3,4", "building", "ground")
    assert "at least 3 points" in out[-1]


def _bundled() -> str:
    from cimgen.generators import shipped_checkpoint

    return str(shipped_checkpoint())
