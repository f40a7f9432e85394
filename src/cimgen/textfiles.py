"""YAML and JSON that users hand in, read as untrusted data, and JSON written without NaN or Infinity."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from cimgen.errors import CimgenError

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted; cimgen's own files nest four levels at most."""
MAX_NODES = 1_000_000
"""Most values a YAML file may expand to once its aliases are followed (a billion-laughs file expands to ~10**9)."""
MAX_BYTES = 64 * 1024 * 1024
"""Largest YAML or JSON file read; specs, palettes and configs are kilobytes."""


class MalformedText(CimgenError):
    """The text is not valid YAML or JSON at all (as opposed to valid but refused: duplicate keys, too deep, a bomb)."""


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and bounds nesting depth and alias expansion."""

    def __init__(self, stream: str, what: str):
        super().__init__(stream)
        self.what = what
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH and self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
                mark = self.peek_event().start_mark
                raise CimgenError(f"{self.what} nests lists or mappings deeper than {MAX_DEPTH} levels (at line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # merges may override; a non-scalar key fails in PyYAML's own check
                key = self.construct_object(key_node)
                if key in seen:
                    raise CimgenError(
                        f"{self.what} gives key '{key}' twice (line {key_node.start_mark.line + 1}); each key may appear once"
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node, what: str) -> int:
    """How many nodes ``root`` stands for with every alias followed, without following them (memoised per node)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if children_done or not children:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            if total > MAX_NODES:
                raise CimgenError(
                    f"{what} holds more than {MAX_NODES:,} values once its YAML aliases (*name) are followed; it may be an alias bomb"
                )
            sizes[id(node)] = total
            continue
        stack.append((node, True))
        # A node met again while its own children are pending is a cycle; PyYAML's composer cannot make one.
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, what: str) -> Any:
    """Parse YAML text safely: no tags that build Python objects, no duplicate keys, bounded depth and aliases.

    Args:
        text: the YAML document.
        what: how to name the document in an error, e.g. ``config file run.yaml``.

    Raises:
        CimgenError: one sentence for invalid YAML, a duplicate key, nesting deeper than
            ``MAX_DEPTH`` or an expansion beyond ``MAX_NODES``.
    """
    try:
        loader = _Loader(text, what)  # the reader refuses control characters here already
    except yaml.YAMLError as e:
        raise MalformedText(f"{what} is not valid YAML ({str(e).splitlines()[0][:80]})") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, what)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        raise MalformedText(f"{what} is not valid YAML{at}" + (f" ({problem.splitlines()[0]})" if problem else "")) from None
    except RecursionError:  # a guard beside MAX_DEPTH: PyYAML recurses per level
        raise CimgenError(f"{what} nests lists or mappings deeper than cimgen reads") from None
    finally:
        loader.dispose()


def _pairs_without_duplicates(what: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise CimgenError(f"{what} gives key '{key}' twice; each key may appear once")
            out[key] = value
        return out

    return hook


def _refuse_constant(what: str):
    def hook(name: str) -> Any:
        raise CimgenError(f"{what} holds {name}, which is not a JSON number")

    return hook


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def parse_json(text: str, what: str) -> Any:
    """Parse JSON text strictly: no duplicate keys, no NaN or Infinity, bounded depth.

    Args:
        text: the JSON document.
        what: how to name the document in an error.

    Raises:
        CimgenError: one sentence for invalid JSON, a duplicate key, NaN/Infinity or nesting
            deeper than ``MAX_DEPTH``.
    """
    try:
        value = json.loads(text, object_pairs_hook=_pairs_without_duplicates(what), parse_constant=_refuse_constant(what))
    except json.JSONDecodeError as e:
        raise MalformedText(f"{what} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise CimgenError(f"{what} nests lists or objects deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise CimgenError(f"{what} nests lists or objects deeper than {MAX_DEPTH} levels")
    return value


def read_text(path: str | Path, what: str) -> str:
    """A UTF-8 text file's contents (a leading byte-order mark dropped), or one sentence saying why not.

    Args:
        path: the file.
        what: how to name it in an error, e.g. ``edit spec``.
    """
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{what} {path} does not exist" if not path.exists() else f"{what} {path} is not a file")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CimgenError(f"{what} {path} is larger than {MAX_BYTES // 2**20} MiB; it cannot be a {what}")
        data = path.read_bytes()
    except OSError as e:
        raise CimgenError(f"{what} {path} cannot be read ({e.strerror or e.__class__.__name__})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CimgenError(f"{what} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save it as UTF-8") from None


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML (or JSON) file parsed by ``parse_yaml``."""
    return parse_yaml(read_text(path, what), f"{what} {path}")


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file parsed by ``parse_json``."""
    return parse_json(read_text(path, what), f"{what} {path}")


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (NumPy's too) in nested dicts, lists and tuples turned into None."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a NumPy or torch scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """JSON text for ``value`` in which NaN and infinities are null, so every JSON reader takes it.

    Args:
        value: dicts, lists, strings, numbers, bools and None (NumPy scalars too).
        indent: as for ``json.dumps``; None writes one line.
    """
    return json.dumps(finite(value), indent=indent, allow_nan=False)
