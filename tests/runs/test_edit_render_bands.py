"""edit_render moves whole bands of rows first for street-view palettes (removals that fill row by row) only."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import cimgen.runs.manipulate as run
from cimgen.edit.pipeline import EditPlan
from cimgen.palette import CITYSCAPES_PALETTE, SYNTH_PALETTE


@pytest.mark.parametrize(
    ("palette", "given", "expected"), [(CITYSCAPES_PALETTE, None, True), (SYNTH_PALETTE, None, False), (CITYSCAPES_PALETTE, False, False)]
)
def test_bands_follow_the_palettes_fill_unless_told(monkeypatch, palette, given, expected):
    seen = {}
    real = run.code_sources

    def spy(*args, **kwargs):
        seen["bands"] = kwargs.get("bands")
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "code_sources", spy)
    labels = np.zeros((32, 48), np.int32)
    labels[8:16, 8:16] = 1
    edited = np.zeros_like(labels)
    plan = EditPlan(edited, labels != edited)
    renderer = SimpleNamespace(
        position_coded=True, codes_movable=True, palette=palette, render_edit=lambda withheld, image, sources: lambda m: image
    )
    image = np.full((32, 48, 3), 100, np.uint8)
    _, info = run.edit_render(renderer, image, labels, plan, bands=given)
    assert seen["bands"] is expected and info["treatment"] == "resample" and "bands" in info
