"""Typed dataclass configs from plain dicts and YAML, with unknown keys and wrong types rejected."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from cimgen.errors import CimgenError
from cimgen.textfiles import MalformedText, parse_yaml, read_yaml

T = TypeVar("T")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise CimgenError(f"{where} must be a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where=where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CimgenError(f"{where} must be a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise CimgenError(f"{where} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise CimgenError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CimgenError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CimgenError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise CimgenError(f"{where} must be text, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and values of the wrong type."""
    mapping(data, where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CimgenError(f"{where} has unknown key '{unknown[0]}'; known keys are: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    """A dataclass as a plain dict (tuples become lists, for JSON and YAML)."""

    def conv(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(obj))


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with one clear sentence when it is missing, malformed or hostile (see ``cimgen.textfiles``)."""
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"config file {path} does not exist")
    data = read_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CimgenError(f"config file {path} must hold a mapping of options")
    return data


def mapping(raw: Any, where: str = "the config") -> dict:
    """``raw`` itself when it is a dict of options, else one sentence."""
    if not isinstance(raw, dict):
        raise CimgenError(f"{where} must be a mapping of options, got {type(raw).__name__} {str(raw)[:40]!r}")
    return raw


def section(raw: dict, key: str, where: str = "config") -> dict:
    """``raw[key]`` as a dict of options ({} when absent), or one sentence when it is something else."""
    value = mapping(raw, where).get(key)
    return {} if value is None else mapping(value, f"{where}.{key}")


def merge(base: dict, override: dict) -> dict:
    """Recursively merge two nested dicts; values in ``override`` win."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """Turn ``a.b.c=value`` (value parsed as YAML) into a nested dict."""
    if "=" not in text:
        raise CimgenError(f"override '{text}' must look like key.subkey=value")
    key, raw = text.split("=", 1)
    try:
        value = parse_yaml(raw, f"the value of override '{text}'")
    except MalformedText:  # plain text such as a path with a colon; a duplicate key, a bomb or deep nesting stay refused
        value = raw
    out: dict = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out
