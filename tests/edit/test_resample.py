"""Codes resampled inside an edit: sources that match the edited map and the image around, read by the generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cimgen.edit import resample
from cimgen.edit.mask import dilate
from cimgen.edit.resample import (
    BAND_AGREEMENT,
    BAND_SLACK,
    DETAIL_SIGMA,
    ROW_AGREEMENT,
    SHARED_TRIES,
    STREET_CLEARANCE,
    code_sources,
    fill_withheld,
    identity_sources,
    place,
    removal_clearance,
    shared_offsets,
    with_source_detail,
    withheld_sources,
)
from cimgen.errors import CimgenError


def _scene():
    """A 96x96 map: ground (0) with a road (1) across, a building (2) on the road's edge; the image dark on the
    left half and bright on the right, the road grey."""
    labels = np.zeros((96, 96), np.int32)
    labels[40:48, :] = 1
    labels[28:40, 60:76] = 2
    image = np.zeros((96, 96, 3), np.uint8)
    image[:, :48] = 40
    image[:, 48:] = 200
    image[labels == 1] = 120
    image[labels == 2] = 250
    return labels, image


def test_sources_lie_outside_the_edit_match_the_edited_classes_and_leave_the_rest_alone():
    labels, image = _scene()
    edited = labels.copy()
    edited[labels == 2] = 0  # the building removed: ground
    region = dilate(labels != edited, 4)
    s = code_sources(labels, edited, region, image=image)
    rows, cols = np.indices(labels.shape)
    moved = (s.rows != rows) | (s.cols != cols)
    assert not (moved & ~region).any() and not (s.withheld & ~region).any()  # outside the edit: each pixel its own codes
    assert moved.sum() > 0.8 * region.sum()  # most of the edit reads codes from elsewhere
    assert not region[s.rows[moved], s.cols[moved]].any()  # never from an edited place (the removed building)
    assert np.array_equal(labels[s.rows[moved], s.cols[moved]], edited[moved])  # of the edited class, pixel by pixel
    # the ring's image decides among places whose map matches: bright ground for a region in the bright half
    ground = moved & (edited == 0)
    assert image[s.rows[ground], s.cols[ground]].mean() > 190
    summary = s.summary()
    assert summary["pieces"] == len(s.regions) > 1 and summary["pieces_without_source"] == 0
    assert 0.8 < summary["resampled_fraction"] <= 1 and summary["withheld_pixels"] == int(s.withheld.sum())


def test_without_the_image_the_map_alone_decides_and_a_region_with_no_source_is_withheld():
    labels, _ = _scene()
    edited = labels.copy()
    edited[labels == 2] = 0
    region = dilate(labels != edited, 4)
    s = code_sources(labels, edited, region)
    moved = (s.rows != np.indices(labels.shape)[0]) | (s.cols != np.indices(labels.shape)[1])
    assert moved.any() and np.array_equal(labels[s.rows[moved], s.cols[moved]], edited[moved])
    # the whole image edited: nowhere to copy from, so every piece is withheld and says why
    everything = np.ones_like(region)
    s = code_sources(labels, edited, everything)
    assert s.withheld.all() and all("offset" not in r for r in s.regions)
    assert s.summary()["pieces_without_source"] == len(s.regions) and s.summary()["resampled_fraction"] == 0
    assert withheld_sources(region).withheld.sum() == region.sum() and not identity_sources((3, 4)).withheld.any()
    with pytest.raises(CimgenError, match="same size"):
        code_sources(labels, edited[:10], region)
    with pytest.raises(CimgenError, match="patch at least 1"):
        code_sources(labels, edited, region, patch=0)


def test_sources_keep_clear_of_the_removed_class_so_a_misregistered_edge_is_not_copied_in():
    labels = np.zeros((96, 96), np.int32)
    labels[40:56, 40:56] = 2  # a building, removed
    edited = labels.copy()
    edited[40:56, 40:56] = 0
    region = labels != edited
    near = removal_clearance(labels, edited, region, 3)
    assert near.sum() == 22 * 22 - 16 * 16 and not (near & (labels == 2)).any()  # a 3-pixel band of ground around it
    # without clearance the nearest all-ground place wins: the ground right beside the building
    beside = code_sources(labels, edited, region, ring=0, clearance=0)
    assert near[beside.rows[region], beside.cols[region]].mean() > 0.1
    cleared = code_sources(labels, edited, region, ring=0, clearance=3)
    assert not near[cleared.rows[region], cleared.cols[region]].any() and not cleared.withheld.any()
    assert removal_clearance(labels, labels, region, 3) is None and removal_clearance(labels, edited, region, 0) is None
    with pytest.raises(CimgenError, match="clearance must be 0 or more"):
        code_sources(labels, edited, region, clearance=-1)


def test_a_piece_continues_its_neighbours_offset_when_the_match_ties():
    labels = np.zeros((64, 64), np.int32)
    region = np.zeros((64, 64), bool)
    region[24:40, 24:40] = True
    piece = np.ones((16, 16), bool)
    kw = {"filled": None, "known": ~region, "ring": 4, "search": 24}
    alone = place(labels, labels, region, piece, (24, 24, 16, 16), near=[], **kw)
    assert alone["agreement"] == pytest.approx(1, abs=1e-3)
    # every offset outside the region matches a uniform map equally: a neighbour's offset wins over the nearest
    led = place(labels, labels, region, piece, (24, 24, 16, 16), near=[(-20, 3)], **kw)
    assert led["offset"] == [-20, 3] and alone["offset"] != [-20, 3]


def test_a_detail_coded_generator_draws_the_source_texture_where_it_reads_the_source_codes():
    from cimgen.generators import generate
    from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig

    torch.manual_seed(0)
    cfg = GlobalGeneratorConfig(
        in_channels=3,
        base_channels=4,
        num_downsamplings=2,
        num_blocks=1,
        detail_channels=3,
        detail_scale=1,
        detail_height=48,
        detail_width=48,
    )
    g = GlobalGenerator(cfg).eval()
    with torch.no_grad():
        g.detail.normal_()
        g.model[-2].weight.normal_(0, 0.3)
    labels = np.zeros((48, 48), np.int32)
    plain = generate(g, labels, 3)
    rows, cols = np.indices(labels.shape)
    assert np.array_equal(generate(g, labels, 3, code_from=(rows, cols)), plain)  # its own codes: unchanged
    src_rows, src_cols = rows.copy(), cols.copy()
    src_rows[20:36, 20:36] -= 16  # the block reads the codes 16 pixels up
    moved = generate(g, labels, 3, code_from=(src_rows, src_cols))
    # the same as a generator whose code was rearranged that way: each pixel draws with its source's code
    with torch.no_grad():
        saved = g.detail.clone()
        g.detail.copy_(saved[:, :, src_rows, src_cols])
        rearranged = generate(g, labels, 3)
        g.detail.copy_(saved)
    assert np.array_equal(moved, rearranged)
    # outside the block and the last convolution's reach (3 px) nothing changes; inside, the texture does
    assert np.array_equal(moved[:17], plain[:17]) and np.abs(moved[20:36, 20:36].astype(int) - plain[20:36, 20:36]).mean() > 20
    with pytest.raises(CimgenError, match="outside the label map"):
        generate(g, labels, 3, code_from=(src_rows - 40, src_cols))
    with pytest.raises(CimgenError, match="code sources are"):
        generate(g, labels, 3, code_from=(src_rows[:8], src_cols[:8]))


def test_pixels_whose_piece_found_another_class_read_the_nearest_pixel_of_their_class():
    # ground (0) with a vertical road (1); the edit draws a diagonal road that exists nowhere in the map, so the
    # pieces' best sources (along the straight road) leave some road pixels on ground: those read nearby road codes
    labels = np.zeros((96, 96), np.int32)
    labels[:, 40:46] = 1
    region = np.zeros((96, 96), bool)
    region[24:56, 52:84] = True
    edited = labels.copy()
    for i in range(32):
        edited[24 + i, 52 + i : 52 + min(i + 5, 32)] = 1
    kept = code_sources(labels, edited, region, reach=0)
    assert kept.withheld.any() and kept.filled == 0  # without the fallback, mismatched pixels are drawn from the map
    near = code_sources(labels, edited, region)  # the default reach: all but the pixels far from any road codes
    assert 0 < near.filled < int(kept.withheld.sum()) and near.filled + int(near.withheld.sum()) == int(kept.withheld.sum())
    s = code_sources(labels, edited, region, reach=64)
    assert s.filled == int(kept.withheld.sum()) and not s.withheld.any() and s.summary()["filled_pixels"] == s.filled
    rows, cols = np.indices(labels.shape)
    moved = (s.rows != rows) | (s.cols != cols)
    assert moved[region].all() and not moved[~region].any()
    assert np.array_equal(labels[s.rows[region], s.cols[region]], edited[region])  # every source of the pixel's class
    assert not region[s.rows[region], s.cols[region]].any()  # and never an edited place
    # a reach too short to find the class leaves the pixels withheld
    short = code_sources(labels, edited, region, reach=1)
    assert short.withheld.any() and short.filled < near.filled


def test_source_detail_replaces_the_generated_fine_detail_inside_the_region_only():
    """Inside the region: the generated image's blur plus the photo's fine detail at each pixel's source; outside it,
    at withheld pixels and where a source lies inside the region, the generated image unchanged."""
    import cv2

    rng = np.random.default_rng(0)
    photo = np.clip(128 + rng.normal(0, 30, (64, 64, 3)), 0, 255).astype(np.uint8)  # grain everywhere
    generated = np.full((64, 64, 3), 100, np.uint8)  # flat: no detail of its own
    region = np.zeros((64, 64), bool)
    region[20:40, 20:40] = True
    sources = identity_sources((64, 64))
    sources.cols[20:40, 20:40] += 20  # read 20 pixels to the right, outside the region
    sources.withheld[20:24, 20:40] = True  # the top rows: no source
    sources.cols[36:40, 20:40] = 30  # the bottom rows read inside the region: not taken
    out = with_source_detail(generated, photo, sources, region)
    assert out.dtype == np.uint8 and out.shape == generated.shape
    assert np.array_equal(out[~region], generated[~region])
    assert np.array_equal(out[20:24, 20:40], generated[20:24, 20:40]) and np.array_equal(out[36:40, 20:40], generated[36:40, 20:40])
    src = photo.astype(np.float32)
    detail = src - cv2.GaussianBlur(src, (0, 0), DETAIL_SIGMA)
    expected = np.clip(np.rint(100 + detail[24:36, 40:60]), 0, 255)
    assert np.abs(out[24:36, 20:40].astype(np.float32) - expected).max() <= 1
    assert out[24:36, 20:40].std() > 10 * max(generated[24:36, 20:40].std(), 0.1)  # the grain arrived
    with pytest.raises(CimgenError, match="sigma must be positive"):
        with_source_detail(generated, photo, sources, region, sigma=0)
    with pytest.raises(CimgenError, match="must have the same size"):
        with_source_detail(generated[:32], photo, sources, region)


def _street():
    """A 96x192 street view: facade (2) above, road (1) below with lane dashes whose size grows with the row (depth),
    a car (3) on the road; and a kerb row band whose classes differ along the row (a pavement, 4, on the right)."""
    labels = np.full((96, 192), 1, np.int32)
    labels[:40] = 2
    labels[40:48, 120:] = 4
    image = np.zeros((96, 192, 3), np.uint8)
    image[:40] = 150
    image[40:] = 90
    image[labels == 4] = 170
    for y0, size in ((52, 3), (64, 5), (78, 8)):  # dashes: nearer rows, longer dashes
        for x in range(0, 192, 4 * size):
            image[y0 : y0 + size // 2 + 1, x : x + 2 * size] = 230
    labels[44:80, 40:72] = 3
    image[labels == 3] = 20
    return labels, image


def test_street_views_move_whole_bands_along_their_own_rows_where_the_rows_hold_the_edited_classes():
    labels, image = _street()
    edited = np.where(labels == 3, 1, labels)  # the car removed: road
    region = dilate(labels != edited, 4)
    rows, _ = np.indices(labels.shape)
    s = code_sources(labels, edited, region, image=image, bands=True)
    bands = [r for r in s.regions if r.get("band")]
    assert bands and s.summary()["bands"] == len(bands)
    for b in bands:  # moved along their rows (give or take BAND_SLACK), each onto its edited classes
        assert abs(b["offset"][0]) <= BAND_SLACK and b["offset"][1] != 0 and b["label_agreement"] >= BAND_AGREEMENT
    x0, y0, x1, y1 = bands[-1]["box"]
    inside = region[y0:y1, x0:x1]
    assert np.abs(s.rows[y0:y1, x0:x1][inside] - rows[y0:y1, x0:x1][inside]).max() <= BAND_SLACK  # the dashes' depth kept
    # the band beside the kerb goes where at most 5% of it lands on the pavement; those pixels read road (below)
    kerb = [b for b in bands if b["box"][1] == 40]
    assert kerb and kerb[0]["withheld_pixels"] <= (1 - BAND_AGREEMENT) * region[40:56].sum()
    # the rest is pieced as without bands; the sources stay outside the edit and on the edited classes
    moved = (s.rows != rows) | (s.cols != np.indices(labels.shape)[1])
    assert not region[s.rows[moved], s.cols[moved]].any()
    assert np.array_equal(labels[s.rows[moved], s.cols[moved]], edited[moved])
    plain = code_sources(labels, edited, region, image=image)
    assert plain.summary()["bands"] == 0


def test_a_band_whose_classes_lie_nowhere_near_its_rows_is_pieced():
    """The car's place becomes road with a strip of pavement (4) through its middle rows: pavement lies on rows 40-48
    only, so the band of rows 56-72 has no place along its rows, within BAND_SLACK, that lands 95% on its classes."""
    labels, image = _street()
    edited = np.where(labels == 3, 1, labels)
    edited[60:64, 40:72] = 4
    region = dilate(labels != edited, 4)
    s = code_sources(labels, edited, region, image=image, bands=True)
    bands = [r for r in s.regions if r.get("band")]
    assert bands and all(not (b["box"][1] < 64 and b["box"][3] > 60) for b in bands)
    pieced = [r for r in s.regions if not r.get("band") and r["box"][1] < 64 and r["box"][3] > 60]
    assert pieced  # the strip's rows are pieced; no strip pixel reads the codes of another class
    strip = (edited == 4) & region & ~s.withheld
    assert (labels[s.rows[strip], s.cols[strip]] == 4).all()


def test_need_keeps_only_places_where_the_piece_lands_on_its_classes():
    """``place(need=)``: with need 1 a piece can only go where all of it lands on its class; with no such place, none."""
    labels = np.zeros((32, 96), np.int32)
    labels[:, 60:] = 1
    edited = labels.copy()
    region = np.zeros_like(labels, bool)
    region[8:24, 8:24] = True
    edited[8:24, 8:24] = 1  # a square of class 1 where there was class 0
    piece = np.ones((16, 16), bool)
    kw = {"filled": None, "known": ~region, "ring": 4, "search": 96, "near": [], "along_rows": True}
    info = place(labels, edited, region, piece, (8, 8, 16, 16), need=1.0, **kw)
    assert info["offset"][1] + 8 >= 60 and abs(info["offset"][0]) <= BAND_SLACK
    none = place(labels, np.where(region, 2, edited), region, piece, (8, 8, 16, 16), need=0.5, **kw)
    assert "offset" not in none and "lands 50%" in none["source"]


def test_shared_offsets_move_a_group_whole_to_the_nearest_place_it_fits():
    valid = np.zeros((64, 128), bool)
    valid[40:60, 10:40] = True  # fits the group whole, 30 px from it
    valid[40:60, 90:126] = True  # fits too, but farther
    ys, xs = np.nonzero(np.pad(np.ones((10, 20), bool), ((5, 49), (15, 93))))  # a 10x20 group at rows 5-14, cols 15-34
    oy, ox, found = shared_offsets(ys, xs, valid, 128)
    assert found.all() and len(set(zip(oy.tolist(), ox.tolist()))) == 1  # one offset: the group's texture stays whole
    assert valid[ys + oy, xs + ox].all() and ox[0] < 30  # the near place, not the far one
    # nowhere to go: none found; a search too short to reach a place: none found
    assert not shared_offsets(ys, xs, np.zeros_like(valid), 128)[2].any()
    assert not shared_offsets(ys, xs, valid, 4)[2].any()


def test_shared_offsets_split_a_group_that_fits_nowhere_whole():
    valid = np.zeros((64, 96), bool)
    valid[40:50, 0:12] = True  # two places, each the size of half the group
    valid[40:50, 60:72] = True
    ys, xs = np.nonzero(np.pad(np.ones((10, 24), bool), ((5, 49), (30, 42))))
    oy, ox, found = shared_offsets(ys, xs, valid, 96)
    assert found.all() and valid[ys + oy, xs + ox].all()
    assert 2 <= len(set(zip(oy.tolist(), ox.tolist()))) <= SHARED_TRIES


def test_withheld_pixels_no_nearby_source_continues_take_a_shared_offset_not_one_source_each():
    # ground (0); a one-pixel line of terrain (3) along the top of the region, ground above it, and a field of
    # terrain 40 rows below: continued or mirrored from the line, a region pixel lands in the region or on ground
    labels = np.zeros((96, 96), np.int32)
    labels[29, 10:70] = 3
    labels[70:92, 10:70] = 3
    region = np.zeros_like(labels, bool)
    region[30:44, 20:60] = True
    edited = np.where(region, 3, labels)
    s = withheld_sources(region)
    given = fill_withheld(s, labels, edited, region, 32)
    assert given == int(region.sum()) and not s.withheld.any()
    rows, cols = s.rows[region], s.cols[region]
    assert (labels[rows, cols] == 3).all() and not region[rows, cols].any()
    # every pixel reads a source of its own (the field's texture moved whole), where one per column came before
    assert len(set(zip(rows.tolist(), cols.tolist()))) == int(region.sum())
    assert (rows >= 70).all()
    old = withheld_sources(region)
    try:
        resample.SHARED_TRIES = 0
        fill_withheld(old, labels, edited, region, 32)
    finally:
        resample.SHARED_TRIES = SHARED_TRIES
    assert len(set(zip(old.rows[region].tolist(), old.cols[region].tolist()))) <= 40


def test_a_street_views_pieces_look_along_their_own_rows_first_and_keep_the_street_clearance(monkeypatch):
    """Poles every 30 pixels along the road: no place along the car's rows is 95% road over the band's whole width,
    but 16-pixel pieces fit between the poles, so they take their sources on their own rows (``ROW_AGREEMENT``);
    seen from above, or with ``STREET_PIECES`` off (the default), they look anywhere first. A street view's clearance is
    then ``STREET_CLEARANCE``."""
    labels = np.full((96, 192), 1, np.int32)
    labels[:40] = 2
    for x in (100, 130, 160):
        labels[40:, x : x + 4] = 5
    labels[50:80, 40:72] = 3
    image = np.where(labels[..., None] == 2, 150, 90).astype(np.uint8).repeat(3, 2)
    edited = np.where(labels == 3, 1, labels)
    region = dilate(labels != edited, 4)
    assert not any(r.get("rows") for r in code_sources(labels, edited, region, image=image, bands=True).regions)
    monkeypatch.setattr(resample, "STREET_PIECES", True)
    s = code_sources(labels, edited, region, image=image, bands=True)
    on_rows = [r for r in s.regions if r.get("rows")]
    assert on_rows and not [r for r in s.regions if r.get("band")] and s.summary()["row_pieces"] == len(on_rows)
    assert all(abs(r["offset"][0]) <= BAND_SLACK and not r.get("band") for r in on_rows)
    same = code_sources(labels, edited, region, image=image, bands=True, clearance=STREET_CLEARANCE)
    assert np.array_equal(s.rows, same.rows) and np.array_equal(s.cols, same.cols)
    assert not any(r.get("rows") for r in code_sources(labels, edited, region, image=image).regions)
    assert 0 < ROW_AGREEMENT < BAND_AGREEMENT


def test_a_pieces_source_looks_like_its_surroundings_when_asked():
    """A stone facade (grey, all one class) with a dark ledge above the piece; the only other place under such a
    ledge is a blue shop window. By its surroundings the window matches best; weighing the look (``LOOK_WEIGHT``)
    sends the piece to grey stone."""
    labels = np.zeros((48, 160), np.int32)
    image = np.full((48, 160, 3), 128, np.uint8)
    image[12:14, 64:96] = 20  # the ledge above the piece
    image[12:14, 8:40] = 20  # and above the window
    image[16:32, 16:32] = (40, 60, 200)
    region = np.zeros((48, 160), bool)
    region[16:32, 72:88] = True
    piece = np.ones((16, 16), bool)
    kw = {"filled": image.astype(np.float32) / 255, "known": ~region, "ring": 8, "search": 160, "near": []}
    plain = place(labels, labels, region, piece, (72, 16, 16, 16), **kw)
    looked = place(labels, labels, region, piece, (72, 16, 16, 16), look=True, **kw)
    assert plain["offset"] == [0, -56]  # the window
    dy, dx = looked["offset"]
    assert (image[16 + dy : 32 + dy, 72 + dx : 88 + dx] == 128).all()  # grey stone
