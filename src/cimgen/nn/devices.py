"""Device names from options and configs checked against the devices this machine has, in one sentence."""

from __future__ import annotations

import re

import torch

from cimgen.errors import CimgenError

AUTO = "auto"
"""Picks the first CUDA GPU when there is one, else the CPU."""
NAMES = "auto, cpu, cuda or cuda:N"
"""The device names cimgen takes, for help texts and errors."""
_CUDA = re.compile(r"cuda(?::(\d{1,4}))?")


def cuda_count() -> int:
    """How many CUDA GPUs PyTorch sees here (0 on a build without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device(name: str | torch.device | None) -> str:
    """The device ``name`` stands for on this machine, or one sentence saying why there is no such device here.

    Args:
        name: ``auto`` (or None or empty: the same), ``cpu``, ``cuda`` or ``cuda:N``, as given by the user;
            a ``torch.device`` is taken as its name.

    Returns:
        ``cpu``, ``cuda`` or ``cuda:N``; ``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``.
    """
    text = str(name).strip().lower() if name is not None else ""
    if text in ("", AUTO):
        return "cuda" if cuda_count() else "cpu"
    if text == "cpu":
        return "cpu"
    m = _CUDA.fullmatch(text)
    if m is None:
        raise CimgenError(f"unknown device '{name}'; use {NAMES}")
    count = cuda_count()
    if not count:
        raise CimgenError(f"device '{name}' was asked for but this machine has no CUDA GPU that PyTorch can use; use cpu (or auto)")
    if m.group(1) is not None and int(m.group(1)) >= count:
        gpus = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise CimgenError(f"device '{name}' does not exist: this machine has {count} CUDA GPU{'s' if count > 1 else ''} ({gpus})")
    return text
