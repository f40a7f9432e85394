"""Checkpoints as data: ``config.json`` + ``weights.safetensors``, and ``train_state.pt`` for resuming.

A checkpoint folder is written under a temporary name and renamed into place when it is
complete, so a folder that exists is never half-written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cimgen.errors import DISK_FULL, CimgenError
from cimgen.textfiles import json_text, parse_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"
STATE_NAME = "train_state.pt"
FORMAT = "cimgen-checkpoint"


def _restore_interrupted(folder: Path) -> None:
    """Put back a checkpoint that a crash left renamed aside (between the two renames of a replacement)."""
    old = folder.with_name(f".{folder.name}.old")
    if not folder.exists() and (old / CONFIG_NAME).is_file() and (old / WEIGHTS_NAME).is_file():
        os.replace(old, folder)


def save_checkpoint(folder: str | Path, config: dict, tensors: dict[str, torch.Tensor], train_state: dict | None = None) -> Path:
    """Write a checkpoint folder atomically; an existing folder of that name is replaced.

    Files are written into a hidden temporary folder, synced, and renamed into place, so a
    crash at any moment leaves either the old checkpoint or the new one, never a mix. A full
    disk is reported in one sentence, and the previous checkpoints stay as they were.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _restore_interrupted(folder)
    for stale in folder.parent.glob(f".{folder.name}.*"):  # temporary folders of writes that a crash cut short
        if stale.is_dir() and not stale.name.endswith(".old"):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        (tmp / CONFIG_NAME).write_text(json_text({"format": FORMAT, **config}))
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / WEIGHTS_NAME))
        if train_state is not None:
            torch.save(train_state, tmp / STATE_NAME)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old)
        else:
            os.replace(tmp, folder)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in DISK_FULL:
            raise CimgenError(
                f"the disk is full: checkpoint {folder} could not be written, and the previous checkpoints are kept; "
                "free some space and continue with --resume"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether a run folder holds at least one complete checkpoint."""
    try:
        resolve_checkpoint(run_dir)
    except CimgenError:
        return False
    return True


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its newest checkpoint)."""
    path = Path(path)
    _restore_interrupted(path)
    if not path.exists():
        raise CimgenError(f"checkpoint {path} does not exist")
    if (path / CONFIG_NAME).is_file():
        return path
    ckpts = sorted((path / "checkpoints").glob("epoch-*")) if (path / "checkpoints").is_dir() else []
    ckpts = [c for c in ckpts if (c / CONFIG_NAME).is_file() and (c / WEIGHTS_NAME).is_file()]
    if not ckpts:
        raise CimgenError(f"{path} is neither a checkpoint folder ({CONFIG_NAME} + {WEIGHTS_NAME}) nor a run folder with checkpoints")
    return ckpts[-1]


def _read_config(folder: Path) -> dict:
    path = folder / CONFIG_NAME
    try:
        config = parse_json(path.read_text(encoding="utf-8-sig"), str(path))  # no duplicate keys, NaN or deep nesting
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CimgenError(f"{path} is not a readable JSON file ({str(e).splitlines()[0][:80]})") from None
    except (OSError, MemoryError) as e:
        raise load_error(path, e, fmt=JSON) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CimgenError(f'{folder} is not a cimgen checkpoint (its {CONFIG_NAME} lacks "format": "{FORMAT}")')
    return config


def read_config(path: str | Path) -> dict:
    """A checkpoint's config alone (no tensors read), for callers that need only its kind, classes or palette."""
    return _read_config(resolve_checkpoint(path))


def load_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a checkpoint's config and tensors, without unpickling anything."""
    folder = resolve_checkpoint(path)
    config = _read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CimgenError(f"checkpoint {folder} has no {WEIGHTS_NAME}")
    try:
        tensors = load_file(str(weights))
    except Exception as e:  # noqa: BLE001 - safetensors, the OS and the allocator each raise their own types
        raise load_error(weights, e, fmt=SAFETENSORS) from None
    return config, tensors


# What a weights file is meant to be, for sniffing its first bytes and for the wrong-format sentence.
PYTORCH = "PyTorch weights"
SAFETENSORS = "safetensors"
TORCHSCRIPT_ARCHIVE = "TorchScript"
JSON = "JSON"

# The sentences, one per way a read can fail; a user should know from it whether the file itself is at fault.
MISSING = "it does not exist"
NOT_A_FILE = "it is a folder, not a file"
UNREADABLE = "permission denied; check the file's permissions"
IO_ERROR = "the disk or network filesystem failed while reading it ({why}); the file itself may be fine"
OUT_OF_MEMORY = "there was not enough memory to load it ({size}); the file itself may be fine"
WRONG_FORMAT = "it is not a {fmt} file"
EMPTY = "it is empty (truncated, or never written)"
DAMAGED = "it is damaged (truncated or corrupt)"
HOLDS_CODE = "it holds Python objects other than tensors, which cimgen does not unpickle because they could run code"

_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
"""How a pre-1.6 ``torch.save`` file starts: pickle protocol 2 and torch's magic number as a 10-byte long."""
_DEVICE_ERRNOS = {
    getattr(errno, name) for name in (
        "EIO", "ENXIO", "ENODEV", "ETIMEDOUT", "ESTALE", "EREMOTEIO", "ENOLINK", "ECOMM", "ECONNRESET",
        "ECONNABORTED", "EHOSTDOWN", "EHOSTUNREACH", "ENETDOWN", "ENETUNREACH", "ENOTCONN", "ENOMEDIUM",
    ) if hasattr(errno, name)
}  # fmt: skip
"""errno values by which a disk, a device or a network filesystem says that it failed, whatever the file holds."""
_OOM_WORDS = ("not enough memory", "can't allocate memory", "cannot allocate memory", "out of memory")
"""How torch's CPU allocator words a failed allocation (a RuntimeError, not a MemoryError)."""


def _size(path: Path) -> str:
    try:
        n = path.stat().st_size
    except OSError:
        return "its size unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"the file is {n / scale:.1f} {unit}"
    return f"the file is {n} bytes"


def _looks_like(path: Path, fmt: str) -> bool | None:
    """Whether the file starts the way a ``fmt`` file starts (so a failure means damage); None for an empty file."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return None
    if fmt == SAFETENSORS:  # an 8-byte little-endian header length, then the JSON header itself
        return len(head) > 8 and head[8:9] == b"{"
    if fmt in (PYTORCH, TORCHSCRIPT_ARCHIVE):
        if head.startswith(b"PK\x03\x04"):
            if not zipfile.is_zipfile(path):
                return True  # a zip cut short: its central directory, at the end, is gone
            try:
                with zipfile.ZipFile(path) as zf:  # a readable zip is PyTorch's only when it holds the records
                    return any(n.count("/") == 1 and n.endswith("/data.pkl") for n in zf.namelist())
            except (zipfile.BadZipFile, ValueError, NotImplementedError):  # a zip whose directory is broken
                return True
        return fmt == PYTORCH and head.startswith(_TORCH_LEGACY_MAGIC)
    return True


def read_failure(e: BaseException, path: str | Path, *, fmt: str) -> str:
    """Why reading a weights, checkpoint or config file failed, as the end of a one-sentence error.

    Missing, unreadable, an I/O error, out of memory, the wrong format, empty or damaged each get
    their own words, so that a user never deletes a good file because of a failing disk or a lack of
    memory. torch's message for a refused pickle tells users how to load the file anyway; cimgen does
    not repeat that advice.

    Args:
        e: what the reader raised.
        path: the file that was being read.
        fmt: what the file should be (``PYTORCH``, ``SAFETENSORS``, ``TORCHSCRIPT_ARCHIVE``, ``JSON``).
    """
    path = Path(path)
    if "GLOBAL" in str(e) and not isinstance(e, (OSError, MemoryError)):  # torch's unpickler met a callable (2.6-2.13 wording)
        return HOLDS_CODE
    if isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and any(w in str(e).lower() for w in _OOM_WORDS)):
        return OUT_OF_MEMORY.format(size=_size(path))
    if isinstance(e, OSError):
        try:
            with open(path, "rb"):
                pass
        except OSError as probe:  # safetensors calls a file it may not open "not found"; Python's own open says why
            e = probe
        if isinstance(e, FileNotFoundError):
            return MISSING
        if isinstance(e, IsADirectoryError):
            return NOT_A_FILE
        if isinstance(e, PermissionError):
            return UNREADABLE
        if e.errno in _DEVICE_ERRNOS:
            return IO_ERROR.format(why=e.strerror or os.strerror(e.errno))
        # Any other OSError comes from the bytes themselves: torch's zip reader, for one, seeks before the start
        # of a truncated archive and gets EINVAL.
    try:
        looks = _looks_like(path, fmt)
    except (OSError, MemoryError) as again:  # the file went away or the disk failed between the read and this look
        return read_failure(again, path, fmt=fmt)
    if looks is None:
        return EMPTY
    return DAMAGED if looks else WRONG_FORMAT.format(fmt=fmt)


def load_error(path: str | Path, e: BaseException, *, fmt: str, what: str | None = None) -> CimgenError:
    """The one-sentence error for a failed read of ``path``: ``<path> cannot be read [as <what>]: <why>``.

    Args:
        path: the file that was being read.
        e: what the reader raised.
        fmt: what the file should be (see ``read_failure``).
        what: what the file was meant to hold ("VGG19 weights"), or None.
    """
    reason = read_failure(e, path, fmt=fmt)
    verb = "cannot be loaded safely" if reason == HOLDS_CODE else "cannot be read"
    return CimgenError(f"{path} {verb}{f' as {what}' if what else ''}: {reason}")


def load_train_state(path: str | Path) -> dict:
    """Read ``train_state.pt`` with ``weights_only=True``, so it cannot run code."""
    folder = resolve_checkpoint(path)
    f = folder / STATE_NAME
    if not f.is_file():
        raise CimgenError(f"checkpoint {folder} has no {STATE_NAME} to resume from")
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for corrupt or unsafe files
        raise load_error(f, e, fmt=PYTORCH) from None


def state_dict_with_prefix(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's tensors with ``prefix.`` in front of each name."""
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def state_dict_mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str | None:
    """How ``given`` differs from ``expected`` (counts and first key of each kind), or None when names and shapes agree."""
    missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    wrong = [k for k in sorted(set(expected) & set(given)) if tuple(expected[k].shape) != tuple(given[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected (first: {extra[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape (first: {k} is {tuple(given[k].shape)}, expected {tuple(expected[k].shape)})")
    return ", ".join(parts) or None


def load_module(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, *, source: str) -> None:
    """Load ``prefix.*`` tensors into a module, naming the first mismatch in one sentence."""
    own = module.state_dict()
    given = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    # cimgen 0.1.0 named residual blocks' inner layers ``block``; they are ``conv_block`` now, as in
    # the official pix2pixHD and CycleGAN code, so checkpoints from either side load by the same names.
    for old in [k for k in given if k not in own]:
        new = old.replace(".block.", ".conv_block.")
        if new in own:
            given[new] = given.pop(old)
    missing = sorted(set(own) - set(given))
    extra = sorted(set(given) - set(own))
    if missing or extra:
        what = f"lacks '{prefix}.{missing[0]}'" if missing else f"has unexpected '{prefix}.{extra[0]}'"
        raise CimgenError(f"checkpoint {source} does not match the model: it {what} ({len(missing)} missing, {len(extra)} unexpected)")
    for k, v in own.items():
        if given[k].shape != v.shape:
            raise CimgenError(
                f"checkpoint {source} does not match the model: '{prefix}.{k}' has shape {tuple(given[k].shape)}, "
                f"the model expects {tuple(v.shape)}"
            )
    bad = first_non_finite({k: given[k] for k in own})
    if bad is not None:
        raise CimgenError(f"checkpoint {source} holds NaN or infinite values in '{prefix}.{bad}'; it is damaged (or its training diverged)")
    module.load_state_dict(given, strict=True)


def first_non_finite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or an infinity, or None when all are finite."""
    return next((k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
