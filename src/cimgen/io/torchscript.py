"""TorchScript archives read as named tensors without running anything in them: no TorchScript code, no Python pickle.

A TorchScript archive (``torch.jit.save``) is a zip holding ``code/`` (the module's TorchScript source),
``data/`` (one raw file per tensor storage) and ``data.pkl``: a pickle of the module tree, in which
each module is a ``__torch__.*`` class built with ``NEWOBJ`` and given its attributes by ``BUILD``.
``torch.jit.load`` compiles ``code/`` and, for a module that defines ``__setstate__``, runs that
method while loading: a crafted file can print, loop or worse before anything can look at it.

Here ``data.pkl`` goes through an unpickler whose ``find_class`` hands out only cimgen's own inert
stand-ins: every ``__torch__.*`` class becomes a record that keeps the state it is given and runs
nothing; the tensor and storage rebuilders become a function that views the archive's ``data/``
bytes with bounds checked; TorchScript's list helpers become the identity. Any other global (a
Python callable, the way a pickle runs code) refuses the file. ``code/`` is never read. The result
is what ``state_dict()`` would give for a module tree whose modules keep their attributes as a dict
(every module without a ``__setstate__`` of its own), plus any plain tensor attributes.
"""

from __future__ import annotations

import io
import math
import pickle  # only for the restricted Unpickler below: find_class allows cimgen's own inert stand-ins alone
import sys
import zipfile
from pathlib import Path

import torch

_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}  # fmt: skip
_LIST_HELPERS = ("build_intlist", "build_doublelist", "build_boollist", "build_tensorlist", "restore_type_tag")
"""TorchScript's typed-list and type-tag helpers (``torch.jit._pickle``): each returns its first argument as it is."""
_MAX_PICKLE_BYTES = 64 * 2**20
"""A module tree's records are kilobytes (87 MB Inception: 28 KB); anything near this is not a weights file."""


class RefusedGlobal(Exception):
    """``data.pkl`` names a Python global that is not a tensor or a TorchScript module: the way a pickle runs code."""


class DamagedArchive(Exception):
    """The archive's records and its storages disagree (a storage missing, too short, or a tensor outside its storage)."""


class UnsupportedState(Exception):
    """A module's state is not a dict of attributes: the module has its own ``__setstate__``, which is never run."""


class _ScriptRecord:
    """Stands in for every ``__torch__.*`` class: keeps the state ``BUILD`` gives it and does nothing else."""

    def __new__(cls, *args):  # NEWOBJ passes the class's constructor arguments; none are used
        return object.__new__(cls)

    def __init__(self, *args):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _StorageKind:
    """Stands in for ``torch.FloatStorage`` and its kin: only the element type is kept."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _identity(value, *rest):
    return value


def _empty_hooks(*args):
    return {}


class _TensorsOnly(pickle.Unpickler):
    """An unpickler for a TorchScript ``data.pkl`` that can build containers, tensors and inert records, nothing else."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, limit: int):
        super().__init__(io.BytesIO(data))
        self._archive, self._prefix, self._limit = archive, prefix, limit
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptRecord
        if module == "torch" and name in _DTYPES:
            return _StorageKind(_DTYPES[name])
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return _identity
        if module == "torch.jit._pickle" and name in _LIST_HELPERS:
            return _identity
        if module == "collections" and name == "OrderedDict":
            return _empty_hooks  # only ever the (empty) backward hooks of a rebuilt tensor
        raise RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageKind)):
            raise DamagedArchive("a storage reference of an unknown form")
        _, kind, key, _location, numel = pid
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise DamagedArchive("a malformed storage reference")
        name = f"{self._prefix}/data/{key}"
        if name not in self._storages:
            try:
                info = self._archive.getinfo(name)
            except KeyError:
                raise DamagedArchive(f"storage {key} is missing") from None
            itemsize = torch.empty(0, dtype=kind.dtype).element_size()
            if info.file_size > self._limit or info.file_size < numel * itemsize:
                raise DamagedArchive(f"storage {key} holds {info.file_size} bytes, not {numel * itemsize}")
            raw = bytearray(self._archive.read(name))[: numel * itemsize]
            self._storages[name] = torch.frombuffer(raw, dtype=kind.dtype) if raw else torch.empty(0, dtype=kind.dtype)
        storage = self._storages[name]
        if storage.dtype != kind.dtype:
            raise DamagedArchive(f"storage {key} is read as two element types")
        return storage


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """A tensor viewing ``storage`` (a flat tensor from ``persistent_load``), after checking it lies inside it."""
    if not isinstance(storage, torch.Tensor):
        raise DamagedArchive("a tensor without a storage")
    ints = (offset, *size, *stride) if isinstance(size, tuple) and isinstance(stride, tuple) else None
    if ints is None or len(size) != len(stride) or not all(isinstance(i, int) and i >= 0 for i in ints):
        raise DamagedArchive("a tensor with a malformed shape")
    numel = math.prod(size)
    end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if numel else offset
    if end > storage.numel() or numel > storage.numel():
        raise DamagedArchive(f"a tensor of shape {tuple(size)} reaches past its storage of {storage.numel()} elements")
    return storage.as_strided(size, stride, offset)


def _named_tensors(root) -> dict[str, torch.Tensor]:
    """The tensors in a tree of records and dicts, under dotted names, as ``state_dict()`` names them."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    stack = [("", root)]
    while stack:  # a loop, not recursion: a crafted tree can be deep, and records can be shared or cyclic
        prefix, node = stack.pop()
        if isinstance(node, torch.Tensor):
            if prefix:  # detached: whatever a crafted BUILD set on the tensor (grad flag, hooks) is dropped
                out[prefix] = node.detach()
            continue
        if isinstance(node, _ScriptRecord):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if not isinstance(node.state, dict):
                raise UnsupportedState(prefix or "the top-level module")
            node = node.state
        if isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                if isinstance(key, str) and isinstance(value, (torch.Tensor, _ScriptRecord)):
                    stack.append((f"{prefix}.{key}" if prefix else key, value))
    return out


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive: a zip whose records sit beside a ``code/`` folder."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n for n in zf.namelist())


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The named tensors of a TorchScript archive's module tree, read without running its code or any pickle callable.

    Args:
        path: a ``torch.jit.save`` archive.

    Returns:
        Dotted name -> tensor (parameters, buffers and plain tensor attributes), on the CPU.

    Raises:
        RefusedGlobal: ``data.pkl`` names a Python global other than the tensor and module records.
        UnsupportedState: a module has its own ``__setstate__`` (its attributes are not a plain dict).
        DamagedArchive: the records and the storages disagree; zipfile, pickle and struct errors pass through.
        OSError, MemoryError: as reading the file raised them.
    """
    path = Path(path)
    limit = path.stat().st_size
    with zipfile.ZipFile(path) as zf:
        records = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(records) != 1:
            raise DamagedArchive("no data.pkl beside its code/ folder")
        info = zf.getinfo(records[0])
        # A stored size beyond the file's own (or the cap) is a decompression bomb, not a module's records.
        if info.file_size > min(limit, _MAX_PICKLE_BYTES):
            raise DamagedArchive(f"data.pkl declares {info.file_size} bytes")
        prefix = records[0].rsplit("/", 1)[0]
        order = zf.read(f"{prefix}/byteorder").strip() if f"{prefix}/byteorder" in zf.namelist() else b"little"
        if sys.byteorder != "little" or order != b"little":
            raise DamagedArchive("its tensors are not stored little-endian, the one byte order read here")
        root = _TensorsOnly(zf.read(records[0]), zf, prefix, limit).load()
    return _named_tensors(root)
