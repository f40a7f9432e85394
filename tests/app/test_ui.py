"""The page's own helpers: heatmaps from detectors and baselines, the box clicks, and errors turned into messages."""

from __future__ import annotations

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
