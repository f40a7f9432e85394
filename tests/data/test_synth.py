"""The synthetic world: determinism, classes, and an image that follows its map."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.data.synth import BUILDING, GROUND, ROAD, TREE, VEGETATION, WATER, SynthConfig, make_tile, write_world
from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE, labels_to_colors


@pytest.fixture(scope="module")
def tiles():
    cfg = SynthConfig(height=128, width=128, seed=11)
    return [make_tile(cfg, i) for i in range(16)]


def test_same_seed_same_tile_and_order_independent():
    cfg = SynthConfig(height=96, width=80, seed=4)
    a = make_tile(cfg, 3)
    make_tile(cfg, 0)  # making other tiles in between changes nothing
    b = make_tile(cfg, 3)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.image, b.image)
    c = make_tile(SynthConfig(height=96, width=80, seed=5), 3)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (96, 80, 3) and a.labels.shape == (96, 80)


def test_every_class_occurs(tiles):
    present = set()
    for t in tiles:
        present |= set(np.unique(t.labels).tolist())
    assert present == set(range(SYNTH_PALETTE.num_classes))
    # Most tiles have buildings and roads: the demo needs something to remove.
    assert sum((t.labels == BUILDING).any() for t in tiles) >= 12
    assert all((t.labels == ROAD).any() for t in tiles)


def test_map_rendering_is_the_palette(tiles):
    for t in tiles[:4]:
        assert np.array_equal(t.map_rgb, labels_to_colors(t.labels, SYNTH_PALETTE))


def _class_pixels(tiles, cls):
    return np.concatenate([t.image[t.labels == cls].astype(float) for t in tiles])


def test_image_follows_map(tiles):
    mean = {c: _class_pixels(tiles, c).mean(0) for c in (GROUND, ROAD, BUILDING, WATER, VEGETATION, TREE)}
    r, g, b = 0, 1, 2
    assert mean[VEGETATION][g] > mean[VEGETATION][r] + 15 and mean[VEGETATION][g] > mean[VEGETATION][b] + 15
    assert mean[TREE][g] > mean[TREE][r] and mean[TREE].sum() < mean[VEGETATION].sum()  # crowns darker than lawns
    assert mean[WATER][b] > mean[WATER][r] + 15  # blue-green water
    assert mean[ROAD].std() < 6  # grey asphalt
    assert mean[GROUND][r] > mean[GROUND][b] + 20  # tan soil
    # Textured, not flat: every class varies inside itself.
    for c in (GROUND, ROAD, BUILDING, VEGETATION):
        assert _class_pixels(tiles, c).std(0).mean() > 5


def test_cast_shadows_darken_the_ground_beside_buildings():
    cfg = SynthConfig(height=128, width=128, seed=2)
    darker = []
    for i in range(8):
        t = make_tile(cfg, i)
        for bld in t.buildings:
            x0, y0, x1, y1 = bld["box"]
            # Sun from the upper left: the strip just below-right of a building lies in its shadow,
            # the strip just above-left does not.
            below = t.image[y1 : y1 + 2, x0 + 2 : x1].astype(float)
            above = t.image[max(y0 - 3, 0) : max(y0 - 1, 0), x0 + 2 : x1].astype(float)
            lb, la = t.labels[y1 : y1 + 2, x0 + 2 : x1], t.labels[max(y0 - 3, 0) : max(y0 - 1, 0), x0 + 2 : x1]
            if below.size and above.size and (lb == GROUND).all() and (la == GROUND).all():
                darker.append(below.mean() < above.mean())
    assert len(darker) >= 5 and np.mean(darker) > 0.9


def test_gable_roofs_are_lit_on_the_sun_side():
    t = make_tile(SynthConfig(height=128, width=128, seed=9), 0)
    lit = []
    for bld in t.buildings:
        x0, y0, x1, y1 = bld["box"]
        if bld["roof"] != "gable" or min(x1 - x0, y1 - y0) < 6:
            continue
        roof = t.image[y0:y1, x0:x1].astype(float).mean(2)
        if x1 - x0 >= y1 - y0:
            lit.append(roof[: roof.shape[0] // 2 - 1].mean() > roof[roof.shape[0] // 2 + 1 :].mean())
        else:
            lit.append(roof[:, : roof.shape[1] // 2 - 1].mean() > roof[:, roof.shape[1] // 2 + 1 :].mean())
    assert lit and all(lit)


def test_write_world_layout(tmp_path):
    out = write_world(tmp_path / "w", 3, SynthConfig(height=40, width=48, seed=1))
    for sub in ("labels", "maps", "images"):
        assert sorted(p.name for p in (out / sub).iterdir()) == ["tile_00000.png", "tile_00001.png", "tile_00002.png"]
    assert json.loads((out / "palette.json").read_text())["names"] == list(SYNTH_PALETTE.names)
    assert json.loads((out / "world.json").read_text())["config"]["seed"] == 1
    with pytest.raises(CimgenError, match="already holds"):
        write_world(tmp_path / "w", 1, SynthConfig())


def test_too_small_tiles_are_rejected():
    with pytest.raises(CimgenError, match="at least 16x16"):
        make_tile(SynthConfig(height=8, width=8), 0)
