"""Edit specs: a YAML or JSON list of map edits, so edits are scripted, reviewed and reproduced.

A spec is a mapping with an ``edits`` list (or just the list). Each edit names its operation
with ``op`` and takes the keys of that operation; classes are palette names or ids::

    edits:
      - {op: remove, at: [120, 80]}                         # the object under a point
      - {op: remove, class: building, box: [0, 0, 128, 128]} # every building touching a box
      - {op: remove, class: car, choose: random, seed: 3}     # one car, picked at random
      - {op: insert, class: water, shape: ellipse, box: [10, 10, 60, 40]}
      - {op: replace, from: road, to: vegetation, polygon: [[0, 0], [50, 0], [50, 50]]}
      - {op: paint, class: water, mask: strokes_01.png}          # brush strokes (non-zero = painted)
      - {op: move, at: [60, 60], by: [20, 0]}
      - {op: copy, at: [60, 60], to: [200, 90]}
      - {op: paste, source: other_map.png, at: [30, 30], to: [100, 100]}

Paths in a spec (``paste`` sources, ``replace`` and ``paint`` masks) are relative to the spec file.
The web editor (``cimgen app``) saves its work in this form, painted strokes as ``paint`` masks.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cimgen.edit.ops import InsertShape, MoveObject, PaintRegion, PasteObject, RemoveClass, RemoveObject, ReplaceClass
from cimgen.errors import CimgenError
from cimgen.palette import Palette
from cimgen.textfiles import read_json, read_yaml

# op name -> (allowed keys, required keys); `op` itself is always allowed.
SPEC_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "remove": ({"at", "class", "box", "polygon", "choose", "seed", "fill", "whole_objects"}, set()),
    "insert": ({"class", "shape", "box", "polygon"}, {"class"}),
    "replace": ({"from", "to", "box", "polygon", "mask"}, {"from", "to"}),
    "paint": ({"class", "mask"}, {"class", "mask"}),
    "move": ({"at", "by", "to", "fill"}, {"at"}),
    "copy": ({"at", "by", "to"}, {"at"}),
    "paste": ({"source", "source_instances", "at", "to"}, {"source", "at", "to"}),
}


# Boxes and polygons as typed on a command line or in a text field.


def parse_ints(text: str, n: int, what: str) -> list[int]:
    """``a,b,...`` -> ``n`` ints, or one sentence naming ``what`` was mistyped."""
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise CimgenError(f"{what} '{text}' must be {n} integers separated by commas") from None
    if len(vals) != n:
        raise CimgenError(f"{what} '{text}' must be {n} integers separated by commas")
    return vals


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``x0,y0,x1,y1`` -> a tuple of ints."""
    return tuple(parse_ints(text, 4, "box"))  # type: ignore[return-value]


def parse_polygon(text: str) -> list[list[float]]:
    """``x,y x,y x,y ...`` -> a list of points."""
    points = []
    for part in text.split():
        try:
            x, y = (float(v) for v in part.split(","))
        except ValueError:
            raise CimgenError(f"polygon '{text}' must be points 'x,y x,y x,y ...'") from None
        points.append([x, y])
    return points


def _short(value: Any) -> str:
    """``repr(value)`` cut to a length that fits in one sentence."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(item: dict, key: str, default: str, where: str) -> str:
    """``item[key]`` (or ``default``) when it is text, else one sentence."""
    value = item.get(key, default)
    if not isinstance(value, str):
        raise CimgenError(f"{where}: '{key}' must be text, got {_short(value)}")
    return value


def _flag(item: dict, key: str, where: str) -> bool:
    """``item[key]`` (true when absent) when it is true or false, else one sentence."""
    value = item.get(key, True)
    if not isinstance(value, bool):
        raise CimgenError(f"{where}: '{key}' must be true or false, got {_short(value)}")
    return value


def _where(source: str, i: int, op: str) -> str:
    return f"{source} edit {i + 1} ({op})"


def _point(value: Any, where: str, key: str) -> tuple[int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise CimgenError(f"{where}: '{key}' must be two integers [x, y], got {_short(value)}")
    return int(value[0]), int(value[1])


def _box(value: Any, where: str) -> tuple[int, int, int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise CimgenError(f"{where}: 'box' must be four integers [x0, y0, x1, y1], got {_short(value)}")
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _polygon(value: Any, where: str) -> tuple[tuple[float, float], ...]:
    ok = isinstance(value, (list, tuple)) and len(value) >= 3
    ok = ok and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
        for p in value
    )
    if not ok:
        raise CimgenError(f"{where}: 'polygon' must be a list of at least 3 [x, y] points, got {_short(value)}")
    return tuple((float(p[0]), float(p[1])) for p in value)


def parse_edits(
    raw: Any,
    palette: Palette,
    *,
    source: str = "the edit spec",
    base_dir: Path | None = None,
    read_map: Callable[[Path], np.ndarray] | None = None,
    read_mask: Callable[[Path], np.ndarray] | None = None,
    read_instances: Callable[[Path], np.ndarray] | None = None,
) -> list:
    """Turn a parsed spec (a dict with ``edits`` or a list) into edit operations.

    Args:
        raw: the spec as loaded from YAML or JSON.
        palette: resolves class names.
        source: how to name the spec in messages.
        base_dir: folder that relative paths in the spec are taken from.
        read_map: reads a ``paste`` source map (path -> HxW labels).
        read_mask: reads a ``replace`` or ``paint`` mask (path -> HxW bool).
        read_instances: reads a ``paste`` source instance map (path -> HxW ids).
    """
    if isinstance(raw, dict):
        unknown = set(raw) - {"edits"}
        if unknown:
            raise CimgenError(f"{source} has unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}; it takes 'edits'")
        raw = raw.get("edits")
    if not isinstance(raw, list) or not raw:
        raise CimgenError(f"{source} must list at least one edit under 'edits'")
    base_dir = base_dir or Path(".")
    edits = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "op" not in item:
            raise CimgenError(f"{source} edit {i + 1} must be a mapping with an 'op' key, got {_short(item)}")
        op = item["op"]
        if not isinstance(op, str):
            raise CimgenError(f"{source} edit {i + 1}: 'op' must be an operation name ({', '.join(SPEC_KEYS)}), got {_short(op)}")
        if op not in SPEC_KEYS:
            close = difflib.get_close_matches(str(op), list(SPEC_KEYS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else "."
            raise CimgenError(f"{source} edit {i + 1} has unknown operation '{op}'{hint} The operations are: {', '.join(SPEC_KEYS)}")
        where = _where(source, i, op)
        allowed, required = SPEC_KEYS[op]
        keys = set(item) - {"op"}
        unknown = keys - allowed
        if unknown:
            key = min(map(str, unknown))
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise CimgenError(f"{where}: unknown key '{key}'{hint}; it takes {', '.join(sorted(allowed))}")
        missing = required - keys
        if missing:
            raise CimgenError(f"{where}: missing '{min(missing)}'")
        edits.append(_build(op, item, where, palette, base_dir, read_map, read_mask, read_instances))
    return edits


def _region(item: dict, where: str) -> dict:
    out: dict = {}
    if "box" in item:
        out["box"] = _box(item["box"], where)
    if "polygon" in item:
        out["polygon"] = _polygon(item["polygon"], where)
    return out


def _path(value: Any, where: str, key: str, base_dir: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise CimgenError(f"{where}: '{key}' must be a file path")
    p = Path(value)
    return p if p.is_absolute() else base_dir / p


def _build(op, item, where, palette, base_dir, read_map, read_mask, read_instances):
    def cls(key: str) -> int:
        try:
            return palette.class_id(item[key])
        except CimgenError as e:
            raise CimgenError(f"{where}: {e}") from None

    if op == "remove":
        region = _region(item, where)
        if "at" in item:
            if "class" in item or region:
                raise CimgenError(
                    f"{where}: give either 'at' (the object under a point) or 'class' with a box/polygon or 'choose', not both"
                )
            return RemoveObject(at=_point(item["at"], where, "at"), fill=_text(item, "fill", "surrounding", where))
        if "class" not in item:
            raise CimgenError(f"{where}: say what to remove: 'at' [x, y], or 'class' with a 'box', a 'polygon' or 'choose'")
        if region:
            if len(region) > 1:
                raise CimgenError(f"{where}: give a box or a polygon, not both")
            return RemoveClass(
                cls=cls("class"),
                fill=_text(item, "fill", "surrounding", where),
                whole_objects=_flag(item, "whole_objects", where),
                **region,
            )
        seed = item.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise CimgenError(f"{where}: 'seed' must be an integer from 0 to 2**63 - 1, got {_short(seed)}")
        return RemoveObject(
            cls=cls("class"), choose=_text(item, "choose", "largest", where), seed=seed, fill=_text(item, "fill", "surrounding", where)
        )
    if op == "insert":
        return InsertShape(
            cls=cls("class"), shape=_text(item, "shape", "polygon" if "polygon" in item else "rectangle", where), **_region(item, where)
        )
    if op == "replace":
        region = _region(item, where)
        if "mask" in item:
            if read_mask is None:
                raise CimgenError(f"{where}: masks cannot be read here")
            region["region"] = read_mask(_path(item["mask"], where, "mask", base_dir))
        if len(region) != 1:
            raise CimgenError(f"{where}: give exactly one of 'box', 'polygon' or 'mask'")
        return ReplaceClass(source=cls("from"), target=cls("to"), **region)
    if op == "paint":
        if read_mask is None:
            raise CimgenError(f"{where}: masks cannot be read here")
        return PaintRegion(cls=cls("class"), region=read_mask(_path(item["mask"], where, "mask", base_dir)))
    if op in ("move", "copy"):
        by = _point(item["by"], where, "by") if "by" in item else None
        to = _point(item["to"], where, "to") if "to" in item else None
        extra = {"fill": _text(item, "fill", "surrounding", where)} if "fill" in item else {}
        return MoveObject(at=_point(item["at"], where, "at"), by=by, to=to, copy=op == "copy", **extra)
    # paste
    if read_map is None:
        raise CimgenError(f"{where}: source maps cannot be read here")
    src = _path(item["source"], where, "source", base_dir)
    instances = None
    if "source_instances" in item:
        if read_instances is None:
            raise CimgenError(f"{where}: instance maps cannot be read here")
        instances = read_instances(_path(item["source_instances"], where, "source_instances", base_dir))
    return PasteObject(
        source=read_map(src),
        at=_point(item["at"], where, "at"),
        to=_point(item["to"], where, "to"),
        source_instances=instances,
        source_name=str(src),
    )


def load_spec_file(path: str | Path) -> Any:
    """Read a YAML or JSON spec file as untrusted data (``cimgen.textfiles``: safe loading, no duplicate keys, bounded)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_json(path, "edit spec")
    return read_yaml(path, "edit spec")


def read_spec(path: str | Path, palette: Palette, *, read_map=None, read_mask=None, read_instances=None) -> list:
    """Load and parse an edit spec file into operations (relative paths are taken from its folder)."""
    path = Path(path)
    return parse_edits(
        load_spec_file(path),
        palette,
        source=str(path),
        base_dir=path.parent,
        read_map=read_map,
        read_mask=read_mask,
        read_instances=read_instances,
    )
