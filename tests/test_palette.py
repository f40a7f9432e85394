"""Palettes: colour maps to labels and back, and clear errors for unknown colours and labels."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE, Palette, check_labels, colors_to_labels, labels_to_colors


def test_round_trip():
    labels = np.random.default_rng(0).integers(0, 6, (20, 30))
    assert np.array_equal(colors_to_labels(labels_to_colors(labels, SYNTH_PALETTE), SYNTH_PALETTE), labels)


def test_near_colours_snap_within_tolerance_and_fail_beyond():
    rgb = labels_to_colors(np.array([[0, 1], [2, 3]]), SYNTH_PALETTE).copy()
    rgb[0, 1] = (250, 252, 249)  # anti-aliased road white
    assert colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)[0, 1] == 1
    rgb[1, 0] = (255, 0, 0)
    with pytest.raises(CimgenError, match=r"colour \(255, 0, 0\) at pixel \(x=0, y=1\)"):
        colors_to_labels(rgb, SYNTH_PALETTE, tolerance=12)


def test_label_out_of_range_names_label_and_place():
    labels = np.zeros((4, 5), np.int64)
    labels[2, 3] = 9
    with pytest.raises(CimgenError, match=r"label 9 at pixel \(x=3, y=2\), outside the configured 6 classes"):
        check_labels(labels, 6)


def test_class_lookup_and_validation():
    assert SYNTH_PALETTE.class_id("building") == 2 and SYNTH_PALETTE.class_id("3") == 3
    with pytest.raises(CimgenError, match="unknown class 'house'"):
        SYNTH_PALETTE.class_id("house")
    with pytest.raises(CimgenError, match="one colour per class"):
        Palette(names=("a", "b"), colors=((0, 0, 0),))
    assert Palette.from_dict(SYNTH_PALETTE.to_dict()) == SYNTH_PALETTE


# ---------------------------------------------------------------------------------------------
# Maps painted in GIMP or Photoshop: near and anti-aliased colours snap, strangers are refused


def _painted():
    from cimgen.palette import CITYSCAPES_PALETTE

    lab = np.full((40, 60), 7, np.int64)  # road
    lab[8:30, 10:30] = 26  # car
    lab[5:35, 40:55] = 21  # vegetation
    return lab, CITYSCAPES_PALETTE


def test_antialiased_brush_edges_snap_to_one_of_the_two_classes():
    import cv2

    from cimgen.palette import labels_to_colors, snap_colors

    lab, pal = _painted()
    rgb = labels_to_colors(lab, pal)
    soft = cv2.GaussianBlur(rgb, (5, 5), 1.2)  # an anti-aliased, soft-edged painting
    soft[0, 0] = np.clip(soft[0, 0].astype(int) + 9, 0, 255)  # a slightly-off colour (JPEG-like)
    out, counts = snap_colors(soft, pal)
    assert counts["blended"] > 0 and counts["exact"] > 0
    # Every pixel becomes one of the two classes that meet there, and the interiors are exact.
    edge = (
        cv2.dilate((lab != np.roll(lab, 1, 0)).astype(np.uint8) | (lab != np.roll(lab, 1, 1)).astype(np.uint8), np.ones((5, 5), np.uint8))
        > 0
    )
    assert np.array_equal(out[~edge], lab[~edge])
    assert np.isin(out, [7, 26, 21]).all()
    assert (out != lab).mean() < 0.02  # the edge moves by at most a pixel here and there


def test_a_colour_far_from_every_class_is_refused_with_where_it_is():
    from cimgen.palette import labels_to_colors, snap_colors

    lab, pal = _painted()
    rgb = labels_to_colors(lab, pal)
    rgb[12:14, 33:35] = (255, 140, 255)
    with pytest.raises(CimgenError) as e:
        snap_colors(rgb, pal, source="gimp.png")
    msg = str(e.value)
    assert "gimp.png has colour (255, 140, 255) in 4 pixel(s), e.g. at (x=33, y=12)" in msg and "nearest class is" in msg
    out, _ = snap_colors(rgb, pal, tolerance=300)  # with a huge tolerance everything is near something
    assert out.shape == lab.shape


def test_edited_label_file_is_checked_against_the_classes(tmp_path):
    from cimgen.io.images import read_edited_map, write_label_map
    from cimgen.palette import SYNTH_PALETTE

    lab = np.zeros((5, 6), np.int64)
    lab[2, 3] = 9
    write_label_map(tmp_path / "l.png", lab)
    with pytest.raises(CimgenError, match=r"label 9 at pixel \(x=3, y=2\)"):
        read_edited_map(tmp_path / "l.png", SYNTH_PALETTE)


def test_a_real_cityscapes_map_painted_and_antialiased_snaps_back():
    import cv2

    from cimgen.io.images import read_label_map
    from cimgen.palette import CITYSCAPES_PALETTE, canonical_ids, labels_to_colors, snap_colors
    from tests.conftest import shared

    path = shared("cityscapes-samples/train_label/aachen_000000_000019_gtFine_labelIds.png")
    lab = cv2.resize(read_label_map(path).astype(np.uint8), (512, 256), interpolation=cv2.INTER_NEAREST).astype(np.int64)
    lab[100:160, 300:380] = 26  # a car painted in
    want = canonical_ids(CITYSCAPES_PALETTE)[lab]
    soft = cv2.GaussianBlur(labels_to_colors(lab, CITYSCAPES_PALETTE), (3, 3), 0.8)
    out, counts = snap_colors(soft, CITYSCAPES_PALETTE)
    assert counts["blended"] > 0
    assert (out != want).mean() < 0.03  # only edge pixels may move, to a neighbouring class
    assert np.array_equal(out[100 + 3 : 160 - 3, 300 + 3 : 380 - 3], want[103:157, 303:377])


# ---------------------------------------------------------------------------------------------
# Rendered maps (Google-style JPEG screenshots): nearest colour in CIELAB, edges cleaned up


def synthetic_rendered_map(seed: int = 0, size: int = 256, scale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, truth) of a web-map render in the google-maps colours: a park and a lake, 60 buildings and 6 roads drawn
    with PIL at ``scale`` times the size, box-downsampled (anti-aliasing) and JPEG-encoded at quality 75 in memory.
    The truth is each pixel's majority class among its ``scale`` x ``scale`` block."""
    import io

    from PIL import Image, ImageDraw

    from cimgen.palette import GOOGLE_MAPS_PALETTE

    rng = np.random.default_rng(seed)
    big = size * scale
    canvas = Image.new("L", (big, big), 0)  # ground
    draw = ImageDraw.Draw(canvas)
    for cls in (4, 3):  # vegetation, water
        cx, cy = rng.integers(0, big, 2)
        r = rng.integers(big // 10, big // 5)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        draw.polygon([(int(cx + r * np.cos(a)), int(cy + r * np.sin(a))) for a in angles], fill=cls)
    for _ in range(60):  # buildings of 3 to 14 pixels a side
        x, y = rng.integers(0, big, 2)
        bw, bh = rng.integers(3 * scale, 14 * scale, 2)
        draw.rectangle([x, y, x + bw, y + bh], fill=2)
    for _ in range(6):  # roads 5 to 9 pixels wide
        x0, y0, x1, y1 = rng.integers(-big // 4, big + big // 4, 4)
        draw.line([(x0, y0), (x1, y1)], fill=1, width=int(rng.integers(5, 10)) * scale)
    ids = np.asarray(canvas)
    votes = np.stack([(ids == c).reshape(size, scale, size, scale).sum((1, 3)) for c in range(5)])
    rgb = Image.fromarray(np.asarray(GOOGLE_MAPS_PALETTE.colors, np.uint8)[ids]).resize((size, size), Image.Resampling.BOX)
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=75)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB")), votes.argmax(0)


def test_google_maps_palette_is_named_like_the_other_built_in_palettes():
    from cimgen.palette import GOOGLE_MAPS_PALETTE, palette_from_option

    assert palette_from_option("google-maps") is GOOGLE_MAPS_PALETTE
    assert GOOGLE_MAPS_PALETTE.names == SYNTH_PALETTE.names[:5]  # the synthetic world's ids: its generator takes these maps


def test_rendered_map_snapping_survives_antialiasing_and_jpeg():
    from cimgen.palette import GOOGLE_MAPS_PALETTE, snap_rendered_map

    rgb, truth = synthetic_rendered_map(0)
    labels, counts = snap_rendered_map(rgb, GOOGLE_MAPS_PALETTE)
    plain = colors_to_labels(rgb, GOOGLE_MAPS_PALETTE, tolerance=float("inf"))
    # Measured over seeds 0-7 (benchmarks/map_palette.py): 0.984-0.989 snapped, 0.968-0.979 by the nearest RGB colour.
    assert (labels == truth).mean() >= 0.98
    assert (labels == truth).mean() >= (plain == truth).mean() + 0.01
    # Off the class boundaries nothing is wrong: every error is a one-pixel shift of an edge.
    inner = np.ones_like(truth, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            inner &= np.roll(truth, (dy, dx), (0, 1)) == truth
    assert (labels == truth)[inner].mean() >= 0.999
    assert counts["filled"] == counts["far"] + counts["thin"] > 0


def test_rendered_map_snapping_keeps_exact_maps_and_refuses_non_images():
    from cimgen.palette import GOOGLE_MAPS_PALETTE, snap_rendered_map

    labels = np.zeros((32, 32), np.int64)
    labels[8:20, 4:30] = 2
    labels[:, 14:19] = 1
    assert np.array_equal(snap_rendered_map(labels_to_colors(labels, GOOGLE_MAPS_PALETTE), GOOGLE_MAPS_PALETTE)[0], labels)
    with pytest.raises(CimgenError, match="must be an HxWx3 uint8 RGB image"):
        snap_rendered_map(labels, GOOGLE_MAPS_PALETTE)
    with pytest.raises(CimgenError, match="far must be above 0"):
        snap_rendered_map(labels_to_colors(labels, GOOGLE_MAPS_PALETTE), GOOGLE_MAPS_PALETTE, far=0)


def test_real_google_map_snaps_to_its_classes_and_is_stable_under_jpeg():
    import io

    from PIL import Image

    from cimgen.palette import GOOGLE_MAPS_PALETTE, snap_rendered_map
    from tests.conftest import shared

    both = np.asarray(Image.open(shared("pix2pix-tf-samples/docs/maps.jpg")).convert("RGB"))
    gmap = np.ascontiguousarray(both[:, 600:])
    labels, _ = snap_rendered_map(gmap, GOOGLE_MAPS_PALETTE)
    share = np.bincount(labels.ravel(), minlength=5) / labels.size
    # Measured: ground 0.618, road 0.186, building 0.183, water 0, vegetation 0.013 (two parks).
    assert 0.55 < share[0] < 0.7 and 0.15 < share[1] < 0.22 and 0.15 < share[2] < 0.22 and share[3] == 0 and 0.008 < share[4] < 0.02
    buf = io.BytesIO()
    Image.fromarray(gmap).save(buf, "JPEG", quality=75)
    again, _ = snap_rendered_map(np.asarray(Image.open(buf).convert("RGB")), GOOGLE_MAPS_PALETTE)
    assert (again == labels).mean() >= 0.99  # measured 0.994


def test_things_and_fill_travel_with_the_palette_and_are_checked():
    from cimgen.palette import CITYSCAPES_PALETTE

    back = Palette.from_dict(CITYSCAPES_PALETTE.to_dict())
    assert back.things == CITYSCAPES_PALETTE.things and back.fill == "rows"
    assert back.street_view and not SYNTH_PALETTE.street_view  # row-by-row fills are views from the street
    assert CITYSCAPES_PALETTE.names[CITYSCAPES_PALETTE.thing_ids[12]] == "car" and "road" not in CITYSCAPES_PALETTE.things
    assert (
        "things" not in SYNTH_PALETTE.to_dict() and "fill" not in SYNTH_PALETTE.to_dict()
    )  # the synthetic world's checkpoints are as before
    assert Palette.from_dict({"names": ["a", "b"], "colors": [[0, 0, 0], [9, 9, 9]]}).fill == "surrounding"
    base = {"names": ["a", "b"], "colors": [[0, 0, 0], [9, 9, 9]]}
    for extra, message in [
        ({"things": ["c"]}, "'things' names 'c', which is not one of its classes"),
        ({"things": "a"}, "'things' must be a list of its class names"),
        ({"fill": "columns"}, "palette 'fill' is 'columns'; choose surrounding, nearest, rows"),
        ({"fill": 3}, "'fill' must be one of surrounding, nearest, rows"),
    ]:
        with pytest.raises(CimgenError, match=message):
            Palette.from_dict({**base, **extra})
