"""Checkpoints as data: ``config.json`` + ``weights.safetensors``, and ``train_state.pt`` for resuming.

A checkpoint folder is written under a temporary name and renamed into place when it is
complete, so a folder that exists is never half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from cimgen.errors import DISK_FULL, CimgenError

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
        (tmp / CONFIG_NAME).write_text(json.dumps({"format": FORMAT, **config}, indent=2))
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
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        raise CimgenError(f"{folder / CONFIG_NAME} is not a readable JSON file") from None
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
    except (SafetensorError, OSError, ValueError) as e:
        raise CimgenError(f"{weights} is not a valid safetensors file ({str(e).splitlines()[0][:80]})") from None
    return config, tensors


def torch_load_failure(e: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in words for a one-sentence error.

    torch's own message for a refused pickle tells users how to load the file anyway; cimgen
    does not repeat that advice.
    """
    text = str(e)
    if "GLOBAL" in text:  # torch's unpickler met a class or function the file would call (torch 2.6-2.13 wording)
        return "it holds Python objects other than tensors, which cimgen does not unpickle because they could run code"
    return "it is damaged or not a PyTorch weights file"


def load_train_state(path: str | Path) -> dict:
    """Read ``train_state.pt`` with ``weights_only=True``, so it cannot run code."""
    folder = resolve_checkpoint(path)
    f = folder / STATE_NAME
    if not f.is_file():
        raise CimgenError(f"checkpoint {folder} has no {STATE_NAME} to resume from")
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several types for corrupt or unsafe files
        raise CimgenError(f"{f} cannot be loaded safely: {torch_load_failure(e)}") from None


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
    module.load_state_dict(given, strict=True)
