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

On a georeferenced image, boxes and polygons may be given in map coordinates with a ``crs`` key
(``image`` for the image's own CRS, or e.g. ``EPSG:4326`` for longitude/latitude), and with a
vector layer (``--vector``) features are edited by id, position or attribute query::

      - {op: remove, feature: 12}                                  # the feature with id 12
      - {op: remove, index: [0, 3]}                                # the first and fourth features
      - {op: remove, where: "building == 'yes'", within: [-84.4812, 33.6381, -84.4805, 33.6386], crs: EPSG:4326}
      - {op: remove, class: building, box: [733700, 3724900, 733760, 3724960], crs: image}
      - {op: insert, class: water, polygon: [[733650, 3724950], [733700, 3724950], [733680, 3724990]], crs: image}

See docs/geodata.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cimgen.data.vector_labels import Grid, LayerWindows, Rasterized, feature_positions, parse_where, rasterize_geometry, select_features
from cimgen.edit.ops import (
    InsertGeometry,
    InsertShape,
    MoveObject,
    PaintRegion,
    PasteObject,
    RegionCrop,
    RemoveClass,
    RemoveFeatures,
    RemoveObject,
    ReplaceClass,
)
from cimgen.errors import CimgenError
from cimgen.io.vector import VectorLayer, crs_name, crs_wkt, reproject_geometries
from cimgen.palette import Palette
from cimgen.textfiles import read_json, read_yaml

# op name -> (allowed keys, required keys); `op` itself is always allowed.
SPEC_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "remove": (
        {"at", "class", "box", "polygon", "choose", "seed", "fill", "whole_objects", "feature", "index", "where", "within", "crs"},
        set(),
    ),
    "insert": ({"class", "shape", "box", "polygon", "crs", "properties"}, {"class"}),
    "replace": ({"from", "to", "box", "polygon", "mask", "crs"}, {"from", "to"}),
    "paint": ({"class", "mask"}, {"class", "mask"}),
    "move": ({"at", "by", "to", "fill"}, {"at"}),
    "copy": ({"at", "by", "to"}, {"at"}),
    "paste": ({"source", "source_instances", "at", "to"}, {"source", "at", "to"}),
}


FEATURE_KEYS = ("feature", "index", "where", "within")
"""Keys of ``remove`` that pick vector features (they need a vector layer)."""
BOX_DENSIFY = 32
"""Points per side a box in another CRS is given before it is carried into the image's CRS (its sides may curve there)."""


@dataclass(frozen=True)
class GeoContext:
    """What edits in map coordinates and on vector features need: the image's grid, and the layer drawn on it.

    In memory (``window_limit`` 0) regions are drawn as whole-image masks. For a scene larger than
    memory (``window_limit`` > 0, ``cimgen manipulate --windowed``) each region is drawn once, on the
    box that holds it, as a ``RegionCrop``, and the layer is drawn window by window (``windows``).
    """

    grid: Grid
    """The image's pixel grid and CRS."""
    layer: VectorLayer | None = None
    """The vector layer in the image's CRS (``--vector``), or None."""
    drawn: Rasterized | None = None
    """That layer drawn on the whole grid (labels and the feature that owns each pixel), in memory."""
    windows: LayerWindows | None = None
    """That layer drawn on demand, window by window, for a scene larger than memory."""
    window_limit: int = 0
    """Largest side of a region's box, in pixels, when regions are kept as crops (0: whole-image masks)."""

    @property
    def feature_class(self) -> np.ndarray:
        """Class id of each feature of the layer (-1 where no rule matches it)."""
        return self.drawn.feature_class if self.drawn is not None else self.windows.drawing.feature_class

    def _crop(self, box: tuple[int, int, int, int] | None, what: str) -> tuple[int, int, int, int] | None:
        if box is not None and max(box[2] - box[0], box[3] - box[1]) > self.window_limit:
            raise CimgenError(
                f"{what} span {box[3] - box[1]}x{box[2] - box[0]} pixels, more than the {self.window_limit} a side the windowed path "
                "allows; give a smaller region or fewer features, or raise the window limit (--window-limit)"
            )
        return box

    def pixels(self, geometry, what: str):
        """The pixels whose centre ``geometry`` (image CRS) covers: a whole-image mask, or a ``RegionCrop`` of its box."""
        if not self.window_limit:
            return rasterize_geometry(geometry, self.grid)
        box = self._crop(self.grid.pixel_box(geometry.bounds), what)
        if box is None:
            return np.zeros((0, 0), bool)
        y0, x0, y1, x1 = box
        return RegionCrop(
            y0, x0, rasterize_geometry(geometry, self.grid.window(y0, x0, y1 - y0, x1 - x0)), (self.grid.height, self.grid.width)
        )

    def owned_pixels(self, positions: list[int], what: str):
        """The pixels the features at ``positions`` own on the drawn map: a whole-image mask, or a ``RegionCrop`` of their box."""
        wanted = np.asarray(positions, np.int32)
        if self.drawn is not None:
            return np.isin(self.drawn.feature_index, wanted)
        shape = (self.grid.height, self.grid.width)
        box = self._crop(self.windows.pixel_box(positions), what)
        if box is None:
            return RegionCrop(0, 0, np.zeros((0, 0), bool), shape)
        y0, x0, y1, x1 = box
        return RegionCrop(y0, x0, np.isin(self.windows.read(y0, x0, y1 - y0, x1 - x0)[1], wanted), shape)


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


def _fill(item: dict, where: str, palette: Palette) -> dict:
    """A removal's fill: the edit's ``fill``, else the palette's; the palette's things fill a hole only when the map has no other class."""
    return {"fill": _text(item, "fill", palette.fill, where), "never_fill": palette.thing_ids}


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
    geo: GeoContext | None = None,
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
        geo: the image's grid and vector layer, for map coordinates (``crs``) and feature edits.
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
        edits.append(_build(op, item, where, palette, base_dir, read_map, read_mask, read_instances, geo))
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


def _numbers(value: Any, n: int | None, where: str, key: str) -> list[float]:
    ok = isinstance(value, (list, tuple)) and (n is None or len(value) == n)
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)
    if not ok:
        raise CimgenError(f"{where}: '{key}' must be {n} numbers, got {_short(value)}")
    return [float(v) for v in value]


def _map_geometry(item: dict, key: str, where: str, geo: GeoContext | None):
    """The box or polygon ``item[key]`` given in ``item['crs']``, as a shapely geometry in the image's CRS."""
    import shapely

    if geo is None:
        raise CimgenError(f"{where}: 'crs' gives coordinates on the Earth, which needs a georeferenced image (a GeoTIFF)")
    text = item["crs"]
    if not isinstance(text, str) or not text:
        raise CimgenError(f"{where}: 'crs' must be 'image' or a CRS such as EPSG:4326")
    if text.lower() == "image":
        src = geo.grid.crs
    else:
        src = crs_wkt(text)
        if geo.grid.crs is None:
            raise CimgenError(f"{where}: the image states no CRS, so coordinates in {crs_name(src)} cannot be placed on it; use crs: image")
    value = item[key]
    if key in ("box", "within"):
        x0, y0, x1, y1 = _numbers(value, 4, where, key)
        if not (x0 < x1 and y0 < y1):
            raise CimgenError(f"{where}: '{key}' {_short(value)} is empty; it must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1")
        geom = shapely.box(x0, y0, x1, y1)
        if src != geo.grid.crs:
            geom = shapely.segmentize(geom, max(x1 - x0, y1 - y0) / BOX_DENSIFY)
    else:
        if not isinstance(value, (list, tuple)) or len(value) < 3:
            raise CimgenError(f"{where}: 'polygon' must be a list of at least 3 [x, y] points, got {_short(value)}")
        geom = shapely.Polygon([_numbers(p, 2, where, "polygon") for p in value])
        if not geom.is_valid:
            raise CimgenError(f"{where}: the polygon is not valid ({shapely.is_valid_reason(geom)})")
    if src is not None and geo.grid.crs is not None:
        geom = reproject_geometries(np.array([geom], dtype=object), src, geo.grid.crs)[0]
    return geom


def _map_region(item: dict, key: str, where: str, geo: GeoContext | None):
    """(geometry in the image's CRS, HxW bool pixels whose centre it covers) of ``item[key]`` in ``item['crs']``."""
    geom = _map_geometry(item, key, where, geo)
    mask = geo.pixels(geom, f"{where}: the pixels of the {key}")
    if not (mask.mask if isinstance(mask, RegionCrop) else mask).any():
        x0, y0, x1, y1 = geom.bounds
        raise CimgenError(
            f"{where}: the {key} (x {x0:.10g}..{x1:.10g}, y {y0:.10g}..{y1:.10g} in the image's CRS) covers no pixel centre of the image"
        )
    return geom, mask


def _features(item: dict, where: str, geo: GeoContext | None, palette: Palette) -> RemoveFeatures:
    """A removal of vector features named by id, position, query and/or region."""
    if geo is None or geo.layer is None or (geo.drawn is None and geo.windows is None):
        raise CimgenError(f"{where}: 'feature', 'index', 'where' and 'within' pick vector features; give the layer with --vector")
    mixed = sorted(k for k in ("at", "class", "box", "polygon", "choose", "seed", "whole_objects") if k in item)
    if mixed:
        raise CimgenError(f"{where}: pick features (feature, index, where, within) or pixels ('{mixed[0]}'), not both")
    layer = geo.layer
    named = [k for k in ("feature", "index") if k in item]
    if len(named) > 1 or (named and ("where" in item or "within" in item)):
        raise CimgenError(f"{where}: give one of 'feature' (ids), 'index' (positions) or 'where'/'within' (a query and/or region)")
    if named:
        value = item[named[0]]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in values):
            raise CimgenError(f"{where}: '{named[0]}' must be one {'id' if named[0] == 'feature' else 'index'} or a list of them")
        positions = feature_positions(layer, values, by="id" if named[0] == "feature" else "index", what=where)
    else:
        query = parse_where(item["where"], what=f"{where} 'where'") if "where" in item else None
        within = None
        if "within" in item:
            if "crs" in item:
                within = _map_geometry(item, "within", where, geo)
            else:  # pixels, as boxes without a crs are
                import shapely

                c0, r0, c1, r1 = _numbers(item["within"], 4, where, "within")
                x, y = geo.grid.to_map(np.array([c0, c1, c1, c0]), np.array([r0, r0, r1, r1]))
                within = shapely.Polygon(np.c_[x, y])
        positions = select_features(layer, query=query, within=within, what=where)
    classes = sorted({int(geo.feature_class[i]) for i in positions} - {-1})
    ids = tuple(layer.ids[i] for i in positions)
    if not classes:
        shown = ", ".join(map(str, ids[:5]))
        raise CimgenError(f"{where}: feature(s) {shown} match no rule of the class mapping, so they are not on the map")
    region = geo.owned_pixels(positions, f"{where}: the pixels of the features")
    return RemoveFeatures(region=region, classes=tuple(classes), features=tuple(positions), ids=ids, **_fill(item, where, palette))


def _properties(item: dict, where: str) -> dict:
    value = item.get("properties", {})
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CimgenError(f"{where}: 'properties' must be a mapping of attribute names to values")
    bad = [k for k, v in value.items() if not (v is None or isinstance(v, (str, int, float, bool)))]
    if bad:
        raise CimgenError(f"{where}: property '{bad[0]}' must be a text, a number, true, false or null")
    return dict(value)


def _build(op, item, where, palette, base_dir, read_map, read_mask, read_instances, geo=None):
    def cls(key: str) -> int:
        try:
            return palette.class_id(item[key])
        except CimgenError as e:
            raise CimgenError(f"{where}: {e}") from None

    in_map = "crs" in item
    if in_map and op == "remove" and not any(k in item for k in ("box", "polygon", "within")):
        raise CimgenError(f"{where}: 'crs' says what a 'box', 'polygon' or 'within' is given in; this edit has none")
    if op == "remove" and any(k in item for k in FEATURE_KEYS):
        return _features(item, where, geo, palette)
    if in_map and op in ("remove", "replace", "insert"):
        given = [k for k in ("box", "polygon") if k in item]
        if len(given) != 1:
            raise CimgenError(f"{where}: give one 'box' or 'polygon' in the 'crs' coordinates")
        if op == "insert" and item.get("shape", "polygon" if given[0] == "polygon" else "rectangle") not in ("rectangle", "polygon"):
            raise CimgenError(f"{where}: a shape in map coordinates is a 'box' (rectangle) or a 'polygon'")
        geom, mask = _map_region(item, given[0], where, geo)
        if op == "insert":
            return InsertGeometry(cls=cls("class"), region=mask, wkt=geom.wkt, properties=_properties(item, where))
        if op == "replace":
            if "mask" in item:
                raise CimgenError(f"{where}: give exactly one of 'box', 'polygon' or 'mask'")
            return ReplaceClass(source=cls("from"), target=cls("to"), region=mask)
        if "at" in item or "class" not in item:
            raise CimgenError(f"{where}: a region in map coordinates removes a 'class' there (or pick features with 'where')")
        return RemoveClass(cls=cls("class"), region=mask, **_fill(item, where, palette), whole_objects=_flag(item, "whole_objects", where))
    if "properties" in item:
        raise CimgenError(f"{where}: 'properties' go with a shape in map coordinates ('crs'), which joins the edited vector layer")

    if op == "remove":
        region = _region(item, where)
        if "at" in item:
            if "class" in item or region:
                raise CimgenError(
                    f"{where}: give either 'at' (the object under a point) or 'class' with a box/polygon or 'choose', not both"
                )
            return RemoveObject(at=_point(item["at"], where, "at"), **_fill(item, where, palette))
        if "class" not in item:
            raise CimgenError(f"{where}: say what to remove: 'at' [x, y], or 'class' with a 'box', a 'polygon' or 'choose'")
        if region:
            if len(region) > 1:
                raise CimgenError(f"{where}: give a box or a polygon, not both")
            return RemoveClass(
                cls=cls("class"),
                **_fill(item, where, palette),
                whole_objects=_flag(item, "whole_objects", where),
                **region,
            )
        seed = item.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise CimgenError(f"{where}: 'seed' must be an integer from 0 to 2**63 - 1, got {_short(seed)}")
        return RemoveObject(cls=cls("class"), choose=_text(item, "choose", "largest", where), seed=seed, **_fill(item, where, palette))
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
        return MoveObject(at=_point(item["at"], where, "at"), by=by, to=to, copy=op == "copy", **_fill(item, where, palette))
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


def read_spec(path: str | Path, palette: Palette, *, read_map=None, read_mask=None, read_instances=None, geo=None) -> list:
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
        geo=geo,
    )
