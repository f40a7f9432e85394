"""Vector features onto an image's pixel grid: attribute queries, the class mapping, label and feature-id rasters, and polygons back.

Plain values in, plain values out: a ``VectorLayer`` already in the image's CRS, a ``ClassMapping``
and a ``Grid`` give a label map and a raster of which feature owns each pixel (``rasterize_layer``);
a raster of region numbers gives polygons in map coordinates (``region_polygons``). Queries on
attributes are parsed by a small recursive-descent parser (``parse_where``), never evaluated as
Python. rasterio and shapely (the optional ``geo`` extra) are imported when a function needs them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cimgen.errors import CimgenError
from cimgen.io.vector import VectorLayer
from cimgen.palette import Palette

MAX_QUERY_LENGTH = 2000
"""Longest ``where`` expression accepted, in characters."""
MAX_QUERY_DEPTH = 32
"""Deepest nesting of parentheses and ``not`` in a ``where`` expression."""
NO_FEATURE = -1
"""Value of the feature-id raster where no feature lies."""


# ----------------------------------------------------------------------------------------------
# The grid


@dataclass(frozen=True)
class Grid:
    """An image's pixel grid on the Earth: its size, the pixel-to-map affine and the CRS."""

    height: int
    """Rows."""
    width: int
    """Columns."""
    transform: tuple[float, float, float, float, float, float]
    """Pixel-to-map affine (a, b, c, d, e, f), rasterio's order: x = a*col + b*row + c, y = d*col + e*row + f."""
    crs: str | None
    """The image's CRS as WKT, or None."""

    @property
    def affine(self):
        from rasterio.transform import Affine

        return Affine(*self.transform)

    def bounds_polygon(self):
        """The image's footprint as a shapely polygon in map coordinates."""
        import shapely

        x, y = self.to_map(np.array([0, self.width, self.width, 0]), np.array([0, 0, self.height, self.height]))
        return shapely.Polygon(np.c_[x, y])

    def to_pixels(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (image CRS) -> fractional pixel coordinates (col, row); pixel (i, j) spans [i, i+1) x [j, j+1)."""
        inv = ~self.affine
        cols = inv.a * np.asarray(xs) + inv.b * np.asarray(ys) + inv.c
        rows = inv.d * np.asarray(xs) + inv.e * np.asarray(ys) + inv.f
        return cols, rows

    def window(self, y: int, x: int, height: int, width: int) -> Grid:
        """The grid of the window whose top-left pixel is row ``y``, column ``x`` of this one."""
        a, b, c, d, e, f = self.transform
        return Grid(int(height), int(width), (a, b, c + a * x + b * y, d, e, f + d * x + e * y), self.crs)

    def pixel_box(self, bounds) -> tuple[int, int, int, int] | None:
        """(y0, x0, y1, x1): the pixels a region with map ``bounds`` (x0, y0, x1, y1) can reach, one pixel more on each side,
        clipped to the grid; None when it misses the grid."""
        bx0, by0, bx1, by1 = (float(v) for v in bounds)
        cols, rows = self.to_pixels(np.array([bx0, bx1, bx1, bx0]), np.array([by0, by0, by1, by1]))
        x0, y0 = max(int(np.floor(cols.min())) - 1, 0), max(int(np.floor(rows.min())) - 1, 0)
        x1, y1 = min(int(np.ceil(cols.max())) + 1, self.width), min(int(np.ceil(rows.max())) + 1, self.height)
        return (y0, x0, y1, x1) if x0 < x1 and y0 < y1 else None

    def to_map(self, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel coordinates -> map coordinates (image CRS)."""
        a, b, c, d, e, f = self.transform
        cols, rows = np.asarray(cols, float), np.asarray(rows, float)
        return a * cols + b * rows + c, d * cols + e * rows + f


def rasterize_geometry(geometry, grid: Grid) -> np.ndarray:
    """HxW bool: the pixels whose centre lies inside ``geometry`` (image CRS); lines and points mark the pixels they cross."""
    from rasterio.features import rasterize

    return rasterize([(geometry, 1)], out_shape=(grid.height, grid.width), transform=grid.affine, fill=0, dtype="uint8").astype(bool)


# ----------------------------------------------------------------------------------------------
# Attribute queries: attribute == / != / in / not in literal, and, or, not, parentheses


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<op>==|!=|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_:.\-]*|`[^`]+`)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in"}
_LITERALS = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True)
class Query:
    """A parsed attribute query; ``matches(columns, n)`` gives one bool per feature."""

    text: str
    """The query as written."""
    tree: tuple
    """("or", parts) | ("and", parts) | ("not", part) | ("cmp", name, op, values) | ("present", name) | ("all",)."""

    @property
    def attributes(self) -> set[str]:
        """The attribute names the query reads."""
        out: set[str] = set()

        def walk(node: tuple) -> None:
            if node[0] in ("or", "and"):
                for part in node[1]:
                    walk(part)
            elif node[0] == "not":
                walk(node[1])
            elif node[0] != "all":
                out.add(node[1])

        walk(self.tree)
        return out

    def matches(self, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
        """One bool per feature: does it satisfy the query? Every attribute must be in ``columns``."""
        return _evaluate(self.tree, columns, n)


def _tokens(text: str, what: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise CimgenError(f"{what}: cannot read '{text[pos : pos + 20]}' in \"{text[:80]}\"")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "string":
            out.append(("literal", re.sub(r"\\(.)", r"\1", raw[1:-1])))
        elif kind == "number":
            value = float(raw)
            out.append(("literal", int(value) if re.fullmatch(r"[-+]?\d+", raw) else value))
        elif kind == "op":
            out.append(("op", raw))
        elif raw.lower() in _KEYWORDS:
            out.append(("keyword", raw.lower()))
        elif raw.lower() in _LITERALS:
            out.append(("literal", _LITERALS[raw.lower()]))
        else:
            out.append(("name", raw.strip("`")))
        pos = m.end()
    return out


def parse_where(text: str, *, what: str = "the where query") -> Query:
    """Parse ``text`` such as ``building == 'yes' and (levels != 1 or name in ('a', 'b'))`` into a ``Query``.

    Comparisons are ``attribute == literal``, ``!=``, ``in (literals)`` and ``not in (literals)``;
    literals are quoted strings, numbers, true, false and null; they combine with ``and``, ``or``,
    ``not`` and parentheses. Nothing is evaluated as code.
    """
    if not isinstance(text, str) or not text.strip():
        raise CimgenError(f"{what} must be a non-empty text such as \"building == 'yes'\"")
    if len(text) > MAX_QUERY_LENGTH:
        raise CimgenError(f"{what} is {len(text)} characters long; at most {MAX_QUERY_LENGTH} are read")
    tokens = _tokens(text, what)
    pos = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal pos
        if pos >= len(tokens):
            raise CimgenError(f'{what} "{text[:80]}" ends too early')
        pos += 1
        return tokens[pos - 1]

    def expect(kind: str, value: Any, hint: str) -> None:
        tok = take()
        if tok != (kind, value):
            raise CimgenError(f"{what} \"{text[:80]}\": expected {hint}, found '{tok[1]}'")

    def expr(depth: int) -> tuple:
        if depth > MAX_QUERY_DEPTH:
            raise CimgenError(f"{what} nests deeper than {MAX_QUERY_DEPTH} levels")
        parts = [conj(depth)]
        while peek() == ("keyword", "or"):
            take()
            parts.append(conj(depth))
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def conj(depth: int) -> tuple:
        parts = [neg(depth)]
        while peek() == ("keyword", "and"):
            take()
            parts.append(neg(depth))
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def neg(depth: int) -> tuple:
        if depth > MAX_QUERY_DEPTH:
            raise CimgenError(f"{what} nests deeper than {MAX_QUERY_DEPTH} levels")
        if peek() == ("keyword", "not"):
            take()
            return ("not", neg(depth + 1))
        return atom(depth)

    def atom(depth: int) -> tuple:
        tok = take()
        if tok == ("op", "("):
            inner = expr(depth + 1)
            expect("op", ")", "')'")
            return inner
        if tok[0] != "name":
            raise CimgenError(f"{what} \"{text[:80]}\": expected an attribute name, found '{tok[1]}'")
        name = tok[1]
        op_tok = take()
        if op_tok in (("op", "=="), ("op", "!=")):
            value = take()
            if value[0] != "literal":
                raise CimgenError(f"{what} \"{text[:80]}\": compare '{name}' with a quoted text, a number, true, false or null")
            return ("cmp", name, op_tok[1], (value[1],))
        negated = False
        if op_tok == ("keyword", "not"):
            negated = True
            op_tok = take()
        if op_tok == ("keyword", "in"):
            return ("cmp", name, "not in" if negated else "in", literal_list())
        raise CimgenError(f"{what} \"{text[:80]}\": after '{name}' comes ==, !=, in or not in, found '{op_tok[1]}'")

    def literal_list() -> tuple:
        opening = take()
        if opening not in (("op", "("), ("op", "[")):
            raise CimgenError(f"{what} \"{text[:80]}\": 'in' takes a list such as ('a', 'b')")
        closing = ")" if opening[1] == "(" else "]"
        values = []
        while True:
            tok = take()
            if tok[0] != "literal":
                raise CimgenError(f'{what} "{text[:80]}": a list holds quoted texts, numbers, true, false or null')
            values.append(tok[1])
            sep = take()
            if sep == ("op", closing):
                return tuple(values)
            if sep != ("op", ","):
                raise CimgenError(f"{what} \"{text[:80]}\": expected ',' or '{closing}' in a list, found '{sep[1]}'")

    tree = expr(0)
    if pos != len(tokens):
        raise CimgenError(f"{what} \"{text[:80]}\": unexpected '{tokens[pos][1]}'")
    return Query(text, tree)


def parse_match(text: str, *, what: str = "the match") -> Query:
    """OpenStreetMap-style ``key=value`` (the attribute equals the text), ``key=*`` (the attribute is set: not null, not empty), or ``*`` (every feature)."""
    if isinstance(text, str) and text.strip() == "*":
        return Query(text, ("all",))
    if not isinstance(text, str) or text.count("=") != 1:
        raise CimgenError(f"{what} must look like key=value or key=*, e.g. natural=water or building=*, got {str(text)[:60]!r}")
    key, value = (part.strip() for part in text.split("="))
    if not key:
        raise CimgenError(f"{what} '{text}' names no attribute before '='")
    if value == "*":
        return Query(text, ("present", key))
    return Query(text, ("cmp", key, "==", (value,)))


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v == "")


def _equal(v: Any, lit: Any) -> bool:
    if isinstance(v, np.generic):
        v = v.item()
    if lit is None or (isinstance(lit, str) and lit == ""):
        return _is_null(v)  # '' and null both mean "not set", as in OpenStreetMap exports
    if _is_null(v):
        return False
    if isinstance(lit, bool) or isinstance(v, bool):
        return isinstance(v, (bool, int)) and isinstance(lit, (bool, int)) and bool(v) == bool(lit) and v in (0, 1) and lit in (0, 1)
    if isinstance(lit, (int, float)):
        if isinstance(v, (int, float)):
            return v == lit
        try:
            return float(str(v)) == lit
        except ValueError:
            return False
    # a text literal
    if isinstance(v, (int, float)):
        try:
            return float(lit) == v
        except ValueError:
            return False
    return str(v) == lit


def _evaluate(node: tuple, columns: dict[str, np.ndarray], n: int) -> np.ndarray:
    kind = node[0]
    if kind == "or":
        out = np.zeros(n, bool)
        for part in node[1]:
            out |= _evaluate(part, columns, n)
        return out
    if kind == "and":
        out = np.ones(n, bool)
        for part in node[1]:
            out &= _evaluate(part, columns, n)
        return out
    if kind == "not":
        return ~_evaluate(node[1], columns, n)
    if kind == "all":
        return np.ones(n, bool)
    col = columns[node[1]]
    if kind == "present":
        return np.array([not _is_null(v.item() if isinstance(v, np.generic) else v) for v in col], bool)
    _, _, op, values = node
    hit = np.array([any(_equal(v, lit) for lit in values) for v in col], bool)
    return ~hit if op in ("!=", "not in") else hit


def check_attributes(query: Query, layer: VectorLayer, what: str) -> None:
    """One sentence when ``query`` reads an attribute ``layer`` does not have."""
    missing = sorted(query.attributes - set(layer.columns))
    if missing:
        have = list(layer.columns)
        shown = ", ".join(have[:20]) + (f" and {len(have) - 20} more" if len(have) > 20 else "") if have else "none"
        raise CimgenError(f"{what} names attribute '{missing[0]}', which {layer.source} does not have; its attributes are: {shown}")


# ----------------------------------------------------------------------------------------------
# The class mapping


@dataclass(frozen=True)
class ClassRule:
    """Features matching ``query`` are drawn as class ``cls`` (buffered by half of ``width`` when given)."""

    query: Query
    """Which features."""
    cls: int
    """Their class id."""
    class_name: str
    """Their class name."""
    width: float | dict[str, float] | None = None
    """Full width in map units (lines become corridors, points discs), or widths by the value of ``width_by`` ('*': the rest)."""
    width_by: str | None = None
    """The attribute whose value picks the width from a ``width`` mapping."""


@dataclass(frozen=True)
class ClassMapping:
    """Rules in drawing order (later rules paint over earlier ones; a feature takes its first matching rule) and the default class."""

    rules: tuple[ClassRule, ...]
    """The rules."""
    default: int
    """Class of the pixels no feature covers."""
    default_name: str
    """Its name."""

    def to_dict(self) -> dict:
        """Plain data for a run's metrics."""
        return {
            "default": self.default_name,
            "rules": [
                {"query": r.query.text, "class": r.class_name, **({"width": r.width} if r.width is not None else {})}
                | ({"width_by": r.width_by} if r.width_by else {})
                for r in self.rules
            ],
        }


MAPPING_KEYS = {"default", "rules"}
RULE_KEYS = {"match", "where", "class", "width", "width_by"}


def _width(value: Any, where: str) -> float | dict[str, float]:
    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v < 1e7):
            raise CimgenError(f"{where}: a width must be a number of map units from 0 to 10,000,000, got {v!r}")
        return float(v)

    if isinstance(value, dict):
        if not value:
            raise CimgenError(f"{where}: 'width' lists no widths")
        return {str(k): number(v) for k, v in value.items()}
    return number(value)


def parse_mapping(raw: Any, palette: Palette, *, source: str = "the class mapping") -> ClassMapping:
    """A mapping file's content (``rules`` and ``default``, see docs/geodata.md) -> ``ClassMapping``; classes are the palette's names or ids."""
    if isinstance(raw, list):
        raw = {"rules": raw}
    if not isinstance(raw, dict):
        raise CimgenError(f"{source} must be a mapping with 'rules' (and optionally 'default')")
    unknown = set(map(str, raw)) - MAPPING_KEYS
    if unknown:
        raise CimgenError(f"{source} has unknown key '{min(unknown)}'; it takes {', '.join(sorted(MAPPING_KEYS))}")

    def cls(value: Any, where: str) -> tuple[int, str]:
        try:
            i = palette.class_id(value)
        except CimgenError as e:
            raise CimgenError(f"{where}: {e}") from None
        return i, palette.names[i]

    default, default_name = cls(raw.get("default", 0), f"{source} 'default'")
    rules_raw = raw.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise CimgenError(f"{source} must list at least one rule under 'rules', e.g. {{match: building=*, class: building}}")
    rules = []
    for i, item in enumerate(rules_raw):
        where = f"{source} rule {i + 1}"
        if not isinstance(item, dict):
            raise CimgenError(f"{where} must be a mapping such as {{match: building=*, class: building}}")
        bad = set(map(str, item)) - RULE_KEYS
        if bad:
            raise CimgenError(f"{where}: unknown key '{min(bad)}'; a rule takes {', '.join(sorted(RULE_KEYS))}")
        if ("match" in item) == ("where" in item):
            raise CimgenError(f"{where}: give exactly one of 'match' (key=value or key=*) or 'where' (a query)")
        if "class" not in item:
            raise CimgenError(f"{where}: missing 'class'")
        query = parse_match(item["match"], what=where) if "match" in item else parse_where(item["where"], what=where)
        width = _width(item["width"], where) if "width" in item else None
        width_by = item.get("width_by")
        if isinstance(width, dict):
            if width_by is None:
                if query.tree[0] not in ("present", "cmp"):
                    raise CimgenError(f"{where}: widths by value need 'width_by', the attribute whose value picks the width")
                width_by = query.tree[1]
            if not isinstance(width_by, str):
                raise CimgenError(f"{where}: 'width_by' must be an attribute name")
        elif width_by is not None:
            raise CimgenError(f"{where}: 'width_by' goes with a mapping of widths, e.g. width: {{motorway: 12, '*': 6}}")
        c, name = cls(item["class"], where)
        rules.append(ClassRule(query, c, name, width, width_by))
    return ClassMapping(tuple(rules), default, default_name)


def check_mapping(mapping: ClassMapping, layer: VectorLayer, source: str = "the class mapping") -> None:
    """One sentence for the first rule that reads an attribute the layer does not have."""
    for i, rule in enumerate(mapping.rules):
        wanted = Query(rule.query.text, ("and", (rule.query.tree, ("present", rule.width_by)))) if rule.width_by else rule.query
        check_attributes(wanted, layer, f"{source} rule {i + 1} ('{rule.query.text}')")


def feature_rules(mapping: ClassMapping, layer: VectorLayer) -> np.ndarray:
    """Index of the first rule each feature matches, or -1 for none."""
    out = np.full(len(layer), -1, np.int64)
    for i, rule in enumerate(mapping.rules):
        hit = rule.query.matches(layer.columns, len(layer)) & (out < 0)
        out[hit] = i
    return out


# ----------------------------------------------------------------------------------------------
# Checking and repairing geometries


@dataclass
class Prepared:
    """A layer in the image's CRS, checked: repaired geometries, and what was noticed."""

    layer: VectorLayer
    """The features, geometries repaired, in the image's CRS."""
    notes: dict = field(default_factory=dict)
    """Plain facts for the run's metrics: repaired ids, features off the image or without geometry."""


def prepare_layer(layer: VectorLayer, grid: Grid) -> Prepared:
    """Check a layer already in the image's CRS: not empty, some feature on the image, invalid polygons repaired.

    Invalid geometries (a self-intersecting "bow tie", a ring that touches itself) are repaired
    with ``shapely.make_valid`` and listed in the notes; a polygon whose repair leaves no area
    (every vertex on one line) is refused, since no footprint can be drawn from it.
    """
    import shapely

    if len(layer) == 0:
        raise CimgenError(f"{layer.source} holds no features; there is nothing to draw a map from")
    geoms = layer.geometries.copy()
    present = np.array([g is not None and not shapely.is_empty(g) for g in geoms], bool)
    if not present.any():
        raise CimgenError(f"{layer.source} holds {len(layer)} feature(s) but none has a geometry")
    invalid = np.flatnonzero(present & ~shapely.is_valid(np.where(present, geoms, None)))
    repaired = []
    for i in invalid:
        g = geoms[i]
        reason = shapely.is_valid_reason(g)
        fixed = shapely.make_valid(g)
        if g.geom_type in ("Polygon", "MultiPolygon"):
            parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
            if not parts:
                raise CimgenError(
                    f"feature {layer.ids[i]} of {layer.source} is an invalid polygon ({reason}) with no area left once repaired; fix or drop it"
                )
            fixed = shapely.union_all(parts)
        geoms[i] = fixed
        repaired.append({"id": _plain_id(layer.ids[i]), "reason": reason})
    on_image = np.zeros(len(layer), bool)
    bounds = grid.bounds_polygon()
    on_image[present] = shapely.intersects(np.asarray(geoms[present], dtype=object), bounds)
    if not on_image.any():
        x0, y0, x1, y1 = shapely.total_bounds(np.asarray(geoms[present], dtype=object))
        bx0, by0, bx1, by1 = bounds.bounds
        raise CimgenError(
            f"none of the {int(present.sum())} features of {layer.source} lies on the image: they span x {x0:.10g}..{x1:.10g}, "
            f"y {y0:.10g}..{y1:.10g} in the image's CRS, the image x {bx0:.10g}..{bx1:.10g}, y {by0:.10g}..{by1:.10g}"
        )
    notes = {
        "features": len(layer),
        "features_on_image": int(on_image.sum()),
        "features_without_geometry": int((~present).sum()),
        "geometries_repaired": repaired,
    }
    return Prepared(layer.with_geometries(geoms, layer.crs), notes)


def _plain_id(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------------------------
# Rasterising


@dataclass
class Rasterized:
    """A layer drawn on the grid."""

    labels: np.ndarray
    """HxW uint8 (int32 above 256 classes) class ids."""
    feature_index: np.ndarray
    """HxW int32: position in the layer of the feature that owns each pixel (drawn last there), ``NO_FEATURE`` elsewhere."""
    feature_class: np.ndarray
    """Class id of each feature (-1 for features no rule matches)."""
    drawn: np.ndarray
    """Each feature's geometry as drawn (buffered by its rule's width), None when not drawn."""
    counts: dict
    """Features drawn per rule, by the rule's query text."""


def _rule_width(rule: ClassRule, layer: VectorLayer, i: int) -> float:
    if rule.width is None:
        return 0.0
    if not isinstance(rule.width, dict):
        return rule.width
    value = layer.columns[rule.width_by][i]
    value = value.item() if isinstance(value, np.generic) else value
    return rule.width.get(str(value), rule.width.get("*", 0.0))


@dataclass
class LayerDrawing:
    """How a layer is drawn, decided once for the whole scene: each feature's rule, class and drawn geometry, and the drawing order."""

    order: np.ndarray
    """Positions of the drawn features in the order they are burnt (rule by rule, in layer order within a rule)."""
    shapes: np.ndarray
    """Their drawn geometries (buffered by the rule's width), in that order."""
    classes: np.ndarray
    """Their class ids, in that order."""
    feature_class: np.ndarray
    """Class id of each feature of the layer (-1 for features no rule matches)."""
    drawn: np.ndarray
    """Each feature's geometry as drawn, None when not drawn."""
    counts: dict
    """Features drawn per rule, by the rule's query text."""
    default: int
    """Class of the pixels no feature covers."""
    dtype: str
    """Data type of the label raster: uint8, or int32 above 256 classes."""

    def burn(self, grid: Grid, members: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, feature index) on ``grid``, drawing the features at ``members`` (positions in ``order``; default all), in order."""
        from rasterio.features import rasterize

        picked = np.arange(len(self.order)) if members is None else np.sort(np.asarray(members, np.int64))
        shape = (grid.height, grid.width)
        if not len(picked):
            return np.full(shape, self.default, self.dtype), np.full(shape, NO_FEATURE, np.int32)
        labels = rasterize(
            zip(self.shapes[picked], self.classes[picked].tolist(), strict=True),
            out_shape=shape, transform=grid.affine, fill=self.default, dtype=self.dtype,
        )  # fmt: skip
        ids = rasterize(
            zip(self.shapes[picked], self.order[picked].tolist(), strict=True),
            out_shape=shape, transform=grid.affine, fill=NO_FEATURE, dtype="int32",
        )  # fmt: skip
        return labels, ids


def draw_layer(layer: VectorLayer, mapping: ClassMapping, num_classes: int) -> LayerDrawing:
    """Decide how ``layer`` (image CRS, see ``prepare_layer``) is drawn with ``mapping``: no pixel is drawn here.

    Rules are drawn in order, each feature with its first matching rule, so a later rule paints over
    an earlier one; a rule's width buffers the geometry by half of it.
    """
    import shapely

    check_mapping(mapping, layer)
    rules = feature_rules(mapping, layer)
    drawn = np.full(len(layer), None, object)
    classes = np.full(len(layer), -1, np.int64)
    order, counts = [], {}
    for r, rule in enumerate(mapping.rules):
        n = 0
        for i in np.flatnonzero(rules == r):
            g = layer.geometries[i]
            if g is None or shapely.is_empty(g):
                continue
            w = _rule_width(rule, layer, int(i))
            drawn[i] = shapely.buffer(g, w / 2.0) if w > 0 else g
            classes[i] = rule.cls
            order.append(int(i))
            n += 1
        counts[rule.query.text] = n
    idx = np.asarray(order, np.int64)
    shapes = np.empty(len(idx), object)
    shapes[:] = [drawn[i] for i in idx]
    dtype = "uint8" if num_classes <= 256 else "int32"
    return LayerDrawing(idx, shapes, classes[idx], classes, drawn, counts, mapping.default, dtype)


def rasterize_layer(layer: VectorLayer, mapping: ClassMapping, grid: Grid, num_classes: int) -> Rasterized:
    """Draw ``layer`` (image CRS, see ``prepare_layer``) on ``grid`` with ``mapping``: the label map and the feature-id raster.

    A pixel belongs to a polygon when its centre lies inside it (rasterio's rule); lines and points
    without a width mark the pixels they cross. Rules are drawn in order, each feature with its first
    matching rule, so a later rule paints over an earlier one.
    """
    drawing = draw_layer(layer, mapping, num_classes)
    labels, ids = drawing.burn(grid)
    return Rasterized(labels, ids, drawing.feature_class, drawing.drawn, drawing.counts)


class LayerWindows:
    """A layer drawn window by window, for scenes too large to draw whole.

    A spatial index (shapely's STRtree) over the drawn geometries gives each window the features
    that reach it, and only those are burnt, in the whole layer's drawing order, on the window's own
    grid; so a window holds what the same window of the whole drawing (``rasterize_layer``) holds.
    """

    def __init__(self, drawing: LayerDrawing, grid: Grid):
        import shapely

        self.drawing = drawing
        """How the layer is drawn."""
        self.grid = grid
        """The scene's grid."""
        self._tree = shapely.STRtree(drawing.shapes)
        self._rank = np.full(len(drawing.feature_class), -1, np.int64)
        self._rank[drawing.order] = np.arange(len(drawing.order))

    def _members(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        # one pixel more on every side: lines and points on a window's edge may mark the pixels beside it
        return self._tree.query(self.grid.window(y - 1, x - 1, h + 2, w + 2).bounds_polygon())

    def read(self, y: int, x: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, feature index) of the window at row ``y``, column ``x`` of ``h`` x ``w`` pixels."""
        return self.drawing.burn(self.grid.window(y, x, h, w), self._members(y, x, h, w))

    def labels(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """The label map of a window."""
        return self.read(y, x, h, w)[0]

    def pixel_box(self, positions) -> tuple[int, int, int, int] | None:
        """(y0, x0, y1, x1): the pixels the drawn geometries of the features at ``positions`` can own, clipped to the scene; None when off it."""
        import shapely

        shapes = [self.drawing.drawn[i] for i in positions if self.drawing.drawn[i] is not None]
        if not shapes:
            return None
        return self.grid.pixel_box(shapely.total_bounds(np.asarray(shapes, dtype=object)))

    def owned_pixels(self, position: int) -> int:
        """How many pixels of the scene the feature at ``position`` owns (it is drawn last there)."""
        box = self.pixel_box([position])
        if box is None:
            return 0
        y0, x0, y1, x1 = box
        return int((self.read(y0, x0, y1 - y0, x1 - x0)[1] == position).sum())


# ----------------------------------------------------------------------------------------------
# Selecting features, and polygons back from a raster


def feature_positions(layer: VectorLayer, ids: list, *, by: str = "id", what: str = "the edit") -> list[int]:
    """Positions of the features named by id (``by='id'``: the file's feature id, else an ``id`` attribute) or by 0-based position (``by='index'``); one sentence for one that does not exist."""
    if by == "index":
        out = []
        for v in ids:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(layer):
                raise CimgenError(f"{what}: {layer.source} has no feature at index {v!r}; its indices run 0..{len(layer) - 1}")
            out.append(int(v))
        return out
    lookup = {str(_plain_id(f)): i for i, f in enumerate(layer.ids)}
    if "id" in layer.columns:  # GDAL keeps a GeoJSON's text ids as an 'id' attribute and numbers the features itself
        for i, v in enumerate(layer.columns["id"]):
            lookup.setdefault(str(_plain_id(v)), i)
    out = []
    for v in ids:
        if str(v) not in lookup:
            shown = ", ".join(str(_plain_id(f)) for f in layer.ids[:8]) + (", ..." if len(layer) > 8 else "")
            raise CimgenError(f"{what}: {layer.source} has no feature with id {v!r}; its ids are {shown}")
        out.append(lookup[str(v)])
    return out


def select_features(layer: VectorLayer, *, query: Query | None = None, within=None, what: str = "the edit") -> list[int]:
    """Positions of the features matching ``query`` and touching the geometry ``within`` (image CRS), either optional."""
    import shapely

    keep = np.ones(len(layer), bool)
    if query is not None:
        check_attributes(query, layer, what)
        keep &= query.matches(layer.columns, len(layer))
    if within is not None:
        present = np.array([g is not None for g in layer.geometries], bool)
        touch = np.zeros(len(layer), bool)
        touch[present] = shapely.intersects(np.asarray(layer.geometries[present], dtype=object), within)
        keep &= touch
    found = np.flatnonzero(keep).tolist()
    if not found:
        said = " and ".join(
            s for s in (f'match "{query.text}"' if query else "", "touch the given region" if within is not None else "") if s
        )
        raise CimgenError(f"{what}: no feature of {layer.source} {'does ' if not said else ''}{said or 'exist'}")
    return found


def region_polygons(regions: np.ndarray, grid: Grid) -> list[tuple[Any, int]]:
    """(shapely polygon in map coordinates, region number) for each 4-connected area of equal non-zero value in ``regions``.

    The polygons follow pixel edges exactly, so drawing them back on the grid gives ``regions != 0``.
    """
    import shapely.geometry
    from rasterio.features import shapes

    values = np.ascontiguousarray(regions, dtype=np.int32)
    return [(shapely.geometry.shape(geom), int(v)) for geom, v in shapes(values, mask=values != 0, connectivity=4, transform=grid.affine)]
