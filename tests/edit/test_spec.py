"""Edit specs: YAML/JSON lists of operations, class names, and one-sentence errors for typos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimgen.data.synth import BUILDING, GROUND, ROAD, WATER
from cimgen.edit.ops import InsertShape, MoveObject, PasteObject, RemoveClass, RemoveObject, ReplaceClass, apply_edits
from cimgen.edit.spec import load_spec_file, parse_edits, read_spec
from cimgen.errors import CimgenError
from cimgen.io.images import read_edited_map, read_mask, write_label_map
from cimgen.palette import SYNTH_PALETTE

SPEC = """
edits:
  - {op: remove, at: [6, 6]}
  - {op: remove, class: building, box: [20, 15, 40, 30]}
  - {op: remove, class: building, choose: random, seed: 2}
  - {op: insert, class: water, shape: ellipse, box: [0, 0, 10, 10]}
  - {op: insert, class: 3, polygon: [[0, 0], [5, 0], [0, 5]]}
  - {op: replace, from: road, to: water, polygon: [[30, 0], [40, 0], [40, 30], [30, 30]]}
  - {op: move, at: [6, 6], by: [3, 0]}
  - {op: copy, at: [6, 6], to: [15, 6]}
  - {op: paste, source: other.png, at: [1, 1], to: [10, 20]}
"""


def test_a_yaml_spec_gives_every_operation(tmp_path):
    other = np.full((8, 8), GROUND, np.int64)
    other[0:3, 0:3] = WATER
    write_label_map(tmp_path / "other.png", other)
    (tmp_path / "edits.yaml").write_text(SPEC)
    edits = read_spec(tmp_path / "edits.yaml", SYNTH_PALETTE, read_map=lambda p: read_edited_map(p, SYNTH_PALETTE)[0])
    kinds = [type(e) for e in edits]
    assert kinds == [RemoveObject, RemoveClass, RemoveObject, InsertShape, InsertShape, ReplaceClass, MoveObject, MoveObject, PasteObject]
    assert edits[1].cls == BUILDING and edits[1].box == (20, 15, 40, 30)
    assert edits[2].choose == "random" and edits[2].seed == 2
    assert edits[4].cls == 3 and edits[4].shape == "polygon"
    assert edits[5].source == ROAD and edits[5].target == WATER
    assert edits[7].copy and edits[7].to == (15, 6)
    assert edits[8].source.shape == (8, 8)


def test_json_spec_and_a_bare_list(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps([{"op": "insert", "class": "water", "box": [0, 0, 4, 4]}]))
    edits = read_spec(tmp_path / "e.json", SYNTH_PALETTE)
    lab = np.zeros((10, 10), np.int64)
    assert (apply_edits(lab, edits, num_classes=6)[:4, :4] == WATER).all()


def test_a_replace_mask_is_read_relative_to_the_spec(tmp_path):
    from cimgen.io.images import write_image

    region = np.zeros((10, 10, 3), np.uint8)
    region[:, :5] = 255
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "r.png", region)
    (tmp_path / "sub" / "e.yaml").write_text("edits:\n  - {op: replace, from: ground, to: road, mask: r.png}\n")
    (e,) = read_spec(tmp_path / "sub" / "e.yaml", SYNTH_PALETTE, read_mask=read_mask)
    assert e.region[:, :5].all() and not e.region[:, 5:].any()


@pytest.mark.parametrize(
    "raw, message",
    [
        ([{"op": "remvoe", "at": [1, 1]}], "unknown operation 'remvoe'; did you mean 'remove'?"),
        ([{"op": "explode"}], "unknown operation 'explode'. The operations are: remove, insert"),
        ([{"op": "insert", "class": "water", "bx": [0, 0, 1, 1]}], "unknown key 'bx' (did you mean 'box'?)"),
        ([{"op": "insert", "class": "lava", "box": [0, 0, 1, 1]}], "edit 1 (insert): unknown class 'lava'; the classes are: ground"),
        ([{"op": "insert", "box": [0, 0, 1, 1]}], "missing 'class'"),
        ([{"op": "remove", "at": [1]}], "'at' must be two integers"),
        ([{"op": "remove", "class": "building", "box": [0, 0, 1]}], "'box' must be four integers"),
        ([{"op": "remove", "at": [1, 1], "class": "building"}], "give either 'at'"),
        ([{"op": "replace", "from": "road", "to": "water"}], "exactly one of 'box', 'polygon' or 'mask'"),
        ([{"op": "replace", "from": "road", "to": "water", "polygon": [[0, 0], [1, 1]]}], "at least 3 [x, y] points"),
        ([], "at least one edit"),
        ({"edit": []}, "unknown top-level key(s) edit"),
        (["remove"], "must be a mapping with an 'op' key"),
    ],
)
def test_spec_mistakes_are_one_sentence(raw, message):
    with pytest.raises(CimgenError) as e:
        parse_edits(raw, SYNTH_PALETTE, source="s.yaml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(CimgenError, match="does not exist"):
        load_spec_file(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("edits: [ {op: remove\n")
    with pytest.raises(CimgenError, match="not valid YAML at line"):
        load_spec_file(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CimgenError, match="not valid JSON"):
        load_spec_file(tmp_path / "bad.json")


def test_paint_edits_set_the_painted_pixels_to_their_class(tmp_path):
    from cimgen.edit.ops import PaintRegion
    from cimgen.io.images import write_image

    stroke = np.zeros((12, 16), np.uint8)
    stroke[2:5, 3:12] = 255
    write_image(tmp_path / "strokes" / "s1.png", stroke)
    (tmp_path / "e.yaml").write_text("edits:\n  - {op: paint, class: water, mask: strokes/s1.png}\n")
    (edit,) = read_spec(tmp_path / "e.yaml", SYNTH_PALETTE, read_mask=read_mask)
    assert isinstance(edit, PaintRegion) and edit.cls == WATER
    labels = np.full((12, 16), ROAD, np.int64)
    out = apply_edits(labels, [edit], num_classes=6)
    assert (out[2:5, 3:12] == WATER).all() and (out[stroke == 0] == ROAD).all()
    with pytest.raises(CimgenError, match="the region mask is 16x12 but the map is 4x4"):
        apply_edits(np.zeros((4, 4), np.int64), [edit], num_classes=6)
    with pytest.raises(CimgenError, match="missing 'mask'"):
        parse_edits([{"op": "paint", "class": "water"}], SYNTH_PALETTE, read_mask=read_mask)
    with pytest.raises(CimgenError, match="masks cannot be read here"):
        parse_edits([{"op": "paint", "class": "water", "mask": "s1.png"}], SYNTH_PALETTE)


def test_a_removal_fills_as_its_palette_says_unless_the_edit_says_otherwise():
    from cimgen.palette import CITYSCAPES_PALETTE

    street = parse_edits(
        [{"op": "remove", "class": "car", "box": [0, 0, 9, 9]}, {"op": "remove", "at": [3, 3], "fill": "nearest"}], CITYSCAPES_PALETTE
    )
    assert street[0].fill == "rows" and street[1].fill == "nearest"
    assert all(CITYSCAPES_PALETTE.names[i] in CITYSCAPES_PALETTE.things for i in street[0].never_fill) and street[0].never_fill
    aerial = parse_edits([{"op": "remove", "class": "building", "box": [0, 0, 9, 9]}], SYNTH_PALETTE)
    assert aerial[0].fill == "surrounding" and aerial[0].never_fill == ()
