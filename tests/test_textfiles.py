"""The one reader of user YAML and JSON (and the JSON writer): bounds, duplicate keys, encodings, NaN; and its callers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cimgen.config import load_yaml, parse_override
from cimgen.edit.spec import load_spec_file, parse_edits
from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE, Palette, palette_from_option
from cimgen.textfiles import MAX_DEPTH, MalformedText, json_text, parse_json, parse_yaml, read_json, read_yaml

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


def _one_sentence(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text
    return text


def test_yaml_refuses_a_duplicate_key_and_names_it_and_its_line():
    with pytest.raises(CimgenError) as e:
        parse_yaml("loop: {epochs: 1}\ndata: {}\nloop: {epochs: 2}\n", "config x")
    assert "key 'loop' twice (line 3)" in _one_sentence(e)


def test_yaml_merge_keys_may_still_override():
    assert parse_yaml("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 5}\n", "x")["c"] == {"x": 5, "y": 2}


@pytest.mark.parametrize("depth, ok", [(MAX_DEPTH, True), (MAX_DEPTH + 1, False), (5000, False)])
def test_yaml_nesting_is_bounded(depth, ok):
    text = "[" * depth + "1" + "]" * depth
    if ok:
        value = parse_yaml(text, "x")
        for _ in range(depth - 1):
            value = value[0]
        assert value == [1]
    else:
        with pytest.raises(CimgenError) as e:
            parse_yaml(text, "x")
        assert f"deeper than {MAX_DEPTH} levels" in _one_sentence(e)


def test_a_yaml_alias_bomb_is_refused_quickly_but_a_few_aliases_are_fine():
    import time

    t0 = time.perf_counter()
    with pytest.raises(CimgenError) as e:
        parse_yaml(BOMB + "notes: [" + ", ".join(["*a8"] * 10) + "]\n", "config x")
    assert "alias bomb" in _one_sentence(e)
    assert time.perf_counter() - t0 < 2.0
    assert parse_yaml("a: &a [1, 2]\nb: *a\nc: *a\n", "x") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_yaml_tags_that_build_objects_stay_refused():
    with pytest.raises(MalformedText):
        parse_yaml("!!python/object/apply:os.system ['true']\n", "x")


def test_json_refuses_duplicates_nan_and_depth():
    with pytest.raises(CimgenError, match="key 'a' twice"):
        parse_json('{"a": 1, "a": 2}', "x")
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(CimgenError, match=f"holds {constant}"):
            parse_json(f"[{constant}]", "x")
    for depth in (MAX_DEPTH + 1, 100_000):
        with pytest.raises(CimgenError, match="deeper than"):
            parse_json("[" * depth + "]" * depth, "x")
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None


def test_files_with_a_bom_are_read_and_other_encodings_get_a_sentence(tmp_path):
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + b'{"a": [1, 2]}')
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert read_json(tmp_path / "bom.json", "spec") == {"a": [1, 2]}
    assert read_yaml(tmp_path / "bom.yaml", "config") == {"a": 1}
    (tmp_path / "latin1.json").write_bytes('{"note": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(CimgenError) as e:
        read_json(tmp_path / "latin1.json", "palette file")
    assert "is not UTF-8 text (byte 0xe9 at offset 13)" in _one_sentence(e)
    with pytest.raises(CimgenError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml", "config file")


def test_json_text_writes_null_for_non_finite_numbers_numpy_included():
    value = {"auc": float("nan"), "scores": [np.float32("inf"), np.float64(0.5), -math.inf], "n": np.int64(3), "t": (1, "a")}
    text = json_text(value)
    assert json.loads(text) == {"auc": None, "scores": [None, 0.5, None], "n": 3, "t": [1, "a"]}
    assert "NaN" not in text and "Infinity" not in text


# -- the callers: configs, overrides, specs, palettes ------------------------------------------


def test_load_yaml_takes_a_bom_and_refuses_a_bomb_and_duplicates(tmp_path):
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfloop: {epochs: 1}\n")
    assert load_yaml(tmp_path / "bom.yaml") == {"loop": {"epochs": 1}}
    (tmp_path / "bomb.yaml").write_text(BOMB + "x: [" + ", ".join(["*a8"] * 10) + "]\n")
    with pytest.raises(CimgenError, match="alias bomb"):
        load_yaml(tmp_path / "bomb.yaml")
    (tmp_path / "dup.yaml").write_text("loop: {epochs: 1, epochs: 2}\n")
    with pytest.raises(CimgenError, match="key 'epochs' twice"):
        load_yaml(tmp_path / "dup.yaml")


def test_an_override_that_is_not_yaml_stays_text_but_a_refused_one_is_refused():
    assert parse_override("data.root=[unclosed") == {"data": {"root": "[unclosed"}}
    assert parse_override("loop.lr=[1, 2]") == {"loop": {"lr": [1, 2]}}
    with pytest.raises(CimgenError, match="twice"):
        parse_override("x={a: 1, a: 2}")


def test_spec_files_read_json_and_yaml_the_same_strict_way(tmp_path):
    good = '{"edits": [{"op": "insert", "class": "water", "box": [1, 1, 9, 9]}]}'
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + good.encode())
    assert load_spec_file(tmp_path / "bom.json") == json.loads(good)
    (tmp_path / "dup.json").write_text('[{"op": "insert", "class": "water", "class": "road"}]')
    with pytest.raises(CimgenError, match="key 'class' twice"):
        load_spec_file(tmp_path / "dup.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CimgenError, match="deeper than"):
        load_spec_file(tmp_path / "deep.json")


@pytest.mark.parametrize(
    "edit, says",
    [
        ({"op": ["insert"], "class": "water"}, "'op' must be an operation name"),
        ({"op": {"insert": 1}, "class": "water"}, "'op' must be an operation name"),
        ({"op": "insert", "class": "\u00b2", "box": [1, 1, 9, 9]}, "unknown class '\u00b2'"),
        ({"op": "insert", "class": "\u0663", "box": [1, 1, 9, 9]}, "unknown class"),  # an Arabic-Indic three
        ({"op": "insert", "class": ["water"], "box": [1, 1, 9, 9]}, "a class must be a name or an id"),
        ({"op": "insert", "class": True, "box": [1, 1, 9, 9]}, "a class must be a name or an id"),
        ({"op": "remove", "at": [5, 5], "fill": ["nearest"]}, "'fill' must be text"),
        ({"op": "remove", "class": "building", "choose": "random", "seed": -1}, "'seed' must be an integer from 0"),
        ({"op": "remove", "class": "building", "box": [0, 0, 9, 9], "whole_objects": "no"}, "'whole_objects' must be true or false"),
        ({"op": "insert", "class": "water", "shape": {"ellipse": 1}, "box": [1, 1, 9, 9]}, "'shape' must be text"),
    ],
)
def test_spec_values_of_the_wrong_kind_get_one_sentence(edit, says):
    with pytest.raises(CimgenError) as e:
        parse_edits([edit], SYNTH_PALETTE)
    assert says in _one_sentence(e)


def test_class_ids_as_ascii_digits_still_resolve():
    assert SYNTH_PALETTE.class_id("3") == 3 and SYNTH_PALETTE.class_id(3) == 3 and SYNTH_PALETTE.class_id("water") == 3


@pytest.mark.parametrize(
    "raw, says",
    [
        ({"names": ["a", "b"], "colors": [[True, False, True], [0, 0, 0]]}, "not an [r, g, b] triple of integers"),
        ({"names": ["a", "b"], "colors": [[0.5, 1, 2], [0, 0, 0]]}, "not an [r, g, b] triple of integers"),
        ({"names": "ab", "colors": [[1, 1, 1], [0, 0, 0]]}, "'names' must be a list of class names"),
        ({"names": ["a", 2], "colors": [[1, 1, 1], [0, 0, 0]]}, "'names' must be a list of class names"),
        ({"names": ["a", "7"], "colors": [[1, 1, 1], [0, 0, 0]]}, "is a number"),
        ({"names": ["a"], "colors": "red"}, "'colors' must be a list"),
        ({"names": ["a"], "colors": [[1, 1, 1]], "extra": 1}, "unknown key 'extra'"),
        (["a", "b"], "must be a mapping with 'names' and 'colors'"),
        ({"names": [f"c{i}" for i in range(2000)], "colors": [[0, 0, 0]] * 2000}, "at most 1024"),
    ],
)
def test_palettes_refuse_values_of_the_wrong_kind(raw, says):
    with pytest.raises(CimgenError) as e:
        Palette.from_dict(raw)
    assert says in _one_sentence(e)


def test_palette_files_take_a_bom_and_name_the_file_when_refused(tmp_path):
    p = tmp_path / "pal.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(SYNTH_PALETTE.to_dict()).encode())
    assert palette_from_option(p) == SYNTH_PALETTE
    p.write_text('{"names": ["a"], "colors": [[1, 2, 3]], "colors": [[1, 2, 3]]}')
    with pytest.raises(CimgenError, match=f"palette file {p} gives key 'colors' twice"):
        Palette.load(p)
    p.write_text(json.dumps({"names": ["a"], "colors": [[1, 2, True]]}))
    with pytest.raises(CimgenError, match=f"palette file {p}: palette colour"):
        Palette.load(p)
