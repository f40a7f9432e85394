"""Patch detectors that tell pristine (0) from generated (1) image patches: torchvision-layout ResNets and a dense-capable PatchNet.

Every detector takes N x 3 x P x P patches in [-1, 1] (P = ``patch_size``, 64 by default) and
returns N logits of "generated". ``supports_dense`` says whether the model can also score every
stride-1 patch of a whole image in one pass (``PatchNet.dense``).

ResNet layout facts come from torchvision ``models/resnet.py`` (He et al. 2016): a 7x7 stride-2
``conv1`` with ``bn1``, ``relu`` and a 3x3 stride-2 ``maxpool``; four stages ``layer1`` ..
``layer4`` of ``BasicBlock`` (two 3x3 convs) or ``Bottleneck`` (1x1, 3x3 carrying the stride,
1x1 with 4x the channels) with ``downsample`` = 1x1 conv + batch norm where the shape changes;
adaptive average pooling and a linear ``fc``. Convolutions have no bias. With 1000 outputs
ResNet-50 has 25,557,032 parameters and ResNet-18 11,689,512, as torchvision's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import state_dict_mismatch
from cimgen.io.weights import read_resnet_state_dict

RESNET_BLOCKS = ("basic", "bottleneck")


def _check_patches(x: torch.Tensor, patch_size: int, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != patch_size or x.shape[3] != patch_size:
        raise CimgenError(f"the {what} expects N x 3 x {patch_size} x {patch_size} patches, got {tuple(x.shape)}")


# ----------------------------------------------------------------------------------------------
# ResNet (torchvision names)


@dataclass(frozen=True)
class ResNetConfig:
    """Options of a torchvision-layout ResNet patch classifier."""

    block: str = "bottleneck"
    """Residual block: basic (two 3x3 convs; ResNet-18/34) or bottleneck (1x1, 3x3, 1x1 x4; ResNet-50 and up)."""
    layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    """Blocks in layer1 .. layer4."""
    width: int = 64
    """Channels of conv1 and layer1's blocks, doubled by each later stage (64 in torchvision)."""
    num_outputs: int = 1
    """Outputs of ``fc``: 1 for a detector; 1000 rebuilds torchvision's ImageNet classifier (for parameter counts)."""
    patch_size: int = 64
    """Side of the square input patches."""


class BasicBlock(nn.Module):
    """Two 3x3 conv + batch norm layers with a skip connection (torchvision ``BasicBlock``)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + skip)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride, as torchvision's "ResNet V1.5"), 1x1 expand by 4, with a skip connection."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + skip)


class ResNet(nn.Module):
    """ResNet whose state_dict keys equal torchvision's, so ImageNet weights load (see ``load_torchvision_weights``)."""

    supports_dense = False
    """Strided convolutions with padding: only patch-by-patch evaluation is exact."""

    def __init__(self, config: ResNetConfig):
        super().__init__()
        c = config
        if c.block not in RESNET_BLOCKS:
            raise CimgenError(f"unknown ResNet block '{c.block}'; choose one of {', '.join(RESNET_BLOCKS)}")
        if len(c.layers) != 4 or min(c.layers) < 1 or c.width < 1 or c.num_outputs < 1:
            raise CimgenError(f"a ResNet needs four positive block counts, a positive width and outputs, got {c}")
        if c.patch_size < 32:
            # Five halvings (conv1, maxpool, layer2..4) bring 32 pixels down to 1.
            raise CimgenError(f"ResNet detectors need patches of at least 32x32 pixels, got {c.patch_size}")
        self.config = c
        self.patch_size = c.patch_size
        block = BasicBlock if c.block == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, c.width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c.width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = c.width
        stages = []
        for i, count in enumerate(c.layers):
            channels, stride = c.width * 2**i, 1 if i == 0 else 2
            out_channels = channels * block.expansion
            downsample = None
            if stride != 1 or in_channels != out_channels:
                downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
                )
            blocks = [block(in_channels, channels, stride=stride, downsample=downsample)]
            blocks += [block(out_channels, channels) for _ in range(count - 1)]
            stages.append(nn.Sequential(*blocks))
            in_channels = out_channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_channels, c.num_outputs)
        # torchvision's initialisation (zero_init_residual=False), so a fresh model trains as theirs does.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score a batch of patches.

        Args:
            x: N x 3 x P x P patches in [-1, 1].

        Returns:
            N logits of "generated" (N x num_outputs when num_outputs > 1).
        """
        _check_patches(x, self.patch_size, "ResNet detector")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        out = self.fc(torch.flatten(self.avgpool(x), 1))
        return out[:, 0] if self.config.num_outputs == 1 else out


def resnet50(*, patch_size: int = 64, width: int = 64, num_outputs: int = 1) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3); the paper's detector."""
    return ResNet(ResNetConfig(block="bottleneck", layers=(3, 4, 6, 3), width=width, num_outputs=num_outputs, patch_size=patch_size))


def resnet18(*, patch_size: int = 64, width: int = 64, num_outputs: int = 1) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2)."""
    return ResNet(ResNetConfig(block="basic", layers=(2, 2, 2, 2), width=width, num_outputs=num_outputs, patch_size=patch_size))


def resnet_small(*, patch_size: int = 64, width: int = 16, num_outputs: int = 1) -> ResNet:
    """A ResNet with one basic block per stage and 16 base channels: quick to train and run on a CPU."""
    return ResNet(ResNetConfig(block="basic", layers=(1, 1, 1, 1), width=width, num_outputs=num_outputs, patch_size=patch_size))


def load_torchvision_weights(model: ResNet, path: str | Path) -> ResNet:
    """Load a torchvision ResNet ``.pth`` (e.g. ImageNet weights) into ``model``, all but ``fc``.

    The file is read by ``cimgen.io.weights.read_resnet_state_dict`` (``weights_only=True``, so a
    file that would run code is refused; a ``state_dict`` wrapper and ``module.`` prefixes removed).

    Args:
        model: a ``ResNet`` whose block type, block counts and width match the file's.
        path: the weights file.

    Returns:
        ``model``, with its ``fc`` untouched.
    """
    return load_resnet_state_dict(model, read_resnet_state_dict(path), source=str(path))


def load_resnet_state_dict(model: ResNet, tensors: dict[str, torch.Tensor], *, source: str) -> ResNet:
    """Load torchvision ResNet tensors into ``model``, all but ``fc``.

    ``fc.*`` is dropped, since the detector's ``fc`` has its own number of outputs; every other
    tensor must match by name and shape.

    Args:
        model: a ``ResNet`` whose block type, block counts and width match the tensors'.
        tensors: torchvision's names, e.g. from ``cimgen.io.weights.read_resnet_state_dict``.
        source: where they came from, for the error when they do not fit.

    Returns:
        ``model``, with its ``fc`` untouched.
    """
    given = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    # torchvision's original 2017 files (e.g. resnet50-19c8e357.pth) predate BatchNorm's
    # num_batches_tracked buffer; it only matters for momentum=None, so the model's own value stands in.
    for k, v in expected.items():
        if k.endswith(".num_batches_tracked") and k not in given:
            given[k] = v
    problem = state_dict_mismatch(expected, given)
    if problem:
        raise CimgenError(f"{source} does not match this ResNet: {problem}")
    own = model.state_dict()
    model.load_state_dict({**given, "fc.weight": own["fc.weight"], "fc.bias": own["fc.bias"]}, strict=True)
    return model


# ----------------------------------------------------------------------------------------------
# PatchNet: exact dense evaluation


@dataclass(frozen=True)
class PatchNetConfig:
    """Options of PatchNet, a padding-free patch classifier whose dense pass equals per-patch evaluation."""

    # Default widths: the early layers are shared by neighbouring patches in the dense pass and the
    # late ones hardly at all, so width goes where it is cheap. Measured by benchmarks/heatmap.py
    # (512 x 512, 2 CPU threads): dense 2.2 s against about 610 s patch by patch (277x).
    patch_size: int = 64
    """Side of the square patch, the network's exact receptive field: a multiple of 4, at least 48."""
    stage1_channels: int = 32
    """Channels of the two 3x3 convolutions at full resolution."""
    stage2_channels: int = 64
    """Channels of the two 3x3 convolutions after the first pooling."""
    stage3_channels: int = 96
    """Channels of the four 3x3 convolutions after the second pooling."""
    hidden_channels: int = 128
    """Channels of the last convolution, whose kernel covers the remaining map (a fully connected layer)."""


# The layer plan: ("conv", stage, kernel) with stage 1..3 naming the channel field, ("pool",) a 2x2
# max pooling with stride 2. A final conv with the remaining size as kernel (-> hidden_channels) and a
# 1x1 conv to one logit follow. For P = 64 the sizes are 62, 60 | 30, 28, 26 | 13, 11, 9, 7, 5 -> 1.
_PATCHNET_PLAN: tuple[tuple, ...] = (
    ("conv", 1, 3),
    ("conv", 1, 3),
    ("pool",),
    ("conv", 2, 3),
    ("conv", 2, 3),
    ("pool",),
    ("conv", 3, 3),
    ("conv", 3, 3),
    ("conv", 3, 3),
    ("conv", 3, 3),
)


def _patchnet_head_kernel(patch_size: int) -> int | None:
    """Side of the map left for the fully connected conv, or None when the plan does not fit the patch size."""
    size = patch_size
    for step in _PATCHNET_PLAN:
        if step[0] == "pool":
            # An odd size would leave a row out of the pooling and so out of the receptive field.
            if size % 2:
                return None
            size //= 2
        else:
            size -= step[2] - 1
    return size if size >= 1 else None


class PatchNet(nn.Module):
    """Valid 3x3 convolutions, batch norm, ReLU and 2x2 max pooling, ending in convolutions that act as fully connected layers.

    No layer pads and every pooling tiles its input exactly, so the receptive field of the single
    output is exactly the P x P patch and the same weights slide over a larger image (``dense``).
    """

    supports_dense = True
    """``dense`` scores every stride-1 patch of an image in one pass."""

    def __init__(self, config: PatchNetConfig):
        super().__init__()
        c = config
        channels = {1: c.stage1_channels, 2: c.stage2_channels, 3: c.stage3_channels}
        if min(*channels.values(), c.hidden_channels) < 1:
            raise CimgenError(f"PatchNet channel counts must be positive, got {c}")
        head = _patchnet_head_kernel(c.patch_size)
        if head is None:
            raise CimgenError(f"PatchNet needs a patch size that is a multiple of 4 and at least 48, got {c.patch_size}")
        self.config = c
        self.patch_size = c.patch_size
        layers: list[nn.Module] = []
        in_channels = 3
        for step in _PATCHNET_PLAN:
            if step[0] == "pool":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out_channels = channels[step[1]]
            # No conv bias: the batch norm right after it has its own shift.
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=step[2], bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(True)]
            in_channels = out_channels
        layers += [
            nn.Conv2d(in_channels, c.hidden_channels, kernel_size=head, bias=False),
            nn.BatchNorm2d(c.hidden_channels),
            nn.ReLU(True),
            nn.Conv2d(c.hidden_channels, 1, kernel_size=1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score a batch of patches.

        Args:
            x: N x 3 x P x P patches in [-1, 1].

        Returns:
            N logits of "generated".
        """
        _check_patches(x, self.patch_size, "PatchNet detector")
        return self.layers(x).flatten()

    @torch.no_grad()
    def dense(self, x: torch.Tensor) -> torch.Tensor:
        """Score every stride-1 P x P patch of one image in a single pass.

        The same weights run with every pooling at stride 1 and every layer after the k-th pooling
        dilated by 2**k, so no neighbouring patches' shared work is repeated ("fast dense feature
        extraction": Giusti et al. 2013, "Fast image scanning with deep max-pooling convolutional
        neural networks"; Bailer et al. 2018, "Fast dense feature extraction with CNNs that have
        pooling or striding layers"). Batch norm always uses its running statistics, whatever
        ``self.training`` says, so the map equals ``forward`` in eval mode at every position. It runs
        without gradients.

        Args:
            x: 1 x 3 x H x W image in [-1, 1], H and W at least P.

        Returns:
            (H - P + 1) x (W - P + 1) logits; entry (y, x) scores the patch whose top-left pixel is (y, x).
        """
        p = self.patch_size
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise CimgenError(f"PatchNet.dense expects one 1 x 3 x H x W image, got {tuple(x.shape)}")
        if x.shape[2] < p or x.shape[3] < p:
            raise CimgenError(f"the image is {x.shape[3]}x{x.shape[2]}, smaller than one {p}x{p} patch")
        dilation = 1
        layers = list(self.layers)
        i = 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, nn.MaxPool2d):
                x = F.max_pool2d(x, kernel_size=2, stride=1, dilation=dilation)
                dilation *= 2
            elif isinstance(layer, nn.Conv2d):
                weight, bias = layer.weight, layer.bias
                if i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d):
                    # Folding the eval-mode batch norm into the conv saves one pass over the largest maps.
                    weight, bias = _fold_batch_norm(layer, layers[i + 1])
                    i += 1
                x = F.conv2d(x, weight, bias, dilation=dilation)
            elif isinstance(layer, nn.ReLU):
                x = F.relu(x, inplace=True)
            else:  # pragma: no cover - the constructor builds only the layers above
                raise TypeError(f"PatchNet.dense cannot run a {type(layer).__name__}")
            i += 1
        return x[0, 0]


def _fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one conv that does what ``conv`` then ``bn`` (running statistics) do."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale[:, None, None, None], bias


def patchnet(
    *, patch_size: int = 64, stage1_channels: int = 32, stage2_channels: int = 64, stage3_channels: int = 96, hidden_channels: int = 128
) -> PatchNet:
    """PatchNet with the given channel widths (defaults: ``PatchNetConfig``)."""
    return PatchNet(
        PatchNetConfig(
            patch_size=patch_size,
            stage1_channels=stage1_channels,
            stage2_channels=stage2_channels,
            stage3_channels=stage3_channels,
            hidden_channels=hidden_channels,
        )
    )


# ----------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class DetectorConfig:
    """Which detector to build and its sizes."""

    arch: str = "resnet50"
    """Architecture, a key of ``DETECTORS``."""
    patch_size: int = 64
    """Side of the square patches the detector classifies."""
    width: int = 0
    """ResNet base channels; 0 takes the preset's default (64 for resnet50 and resnet18, 16 for resnet_small). PatchNet: keep 0."""
    stage1_channels: int = 32
    """PatchNet only: channels of the two full-resolution 3x3 convolutions."""
    stage2_channels: int = 64
    """PatchNet only: channels of the two 3x3 convolutions after the first pooling."""
    stage3_channels: int = 96
    """PatchNet only: channels of the four 3x3 convolutions after the second pooling."""
    hidden_channels: int = 128
    """PatchNet only: channels of the fully connected convolution before the logit."""


def _build_resnet(preset: Callable[..., ResNet]) -> Callable[[DetectorConfig], nn.Module]:
    def build(cfg: DetectorConfig) -> nn.Module:
        if cfg.width:
            return preset(patch_size=cfg.patch_size, width=cfg.width)
        return preset(patch_size=cfg.patch_size)

    return build


def _build_patchnet(cfg: DetectorConfig) -> nn.Module:
    if cfg.width:
        raise CimgenError("width applies to the ResNet detectors; set PatchNet's widths with the stage and hidden channel options")
    return patchnet(
        patch_size=cfg.patch_size,
        stage1_channels=cfg.stage1_channels,
        stage2_channels=cfg.stage2_channels,
        stage3_channels=cfg.stage3_channels,
        hidden_channels=cfg.hidden_channels,
    )


@dataclass(frozen=True)
class DetectorEntry:
    """One architecture of ``DETECTORS``."""

    description: str
    """One line for listings and help texts."""
    build: Callable[[DetectorConfig], nn.Module]
    """Makes the model from a ``DetectorConfig``."""


DETECTORS: dict[str, DetectorEntry] = {
    "resnet50": DetectorEntry(
        description="ResNet-50 (bottleneck 3-4-6-3, width 64): the paper's detector; loads torchvision weights",
        build=_build_resnet(resnet50),
    ),
    "resnet18": DetectorEntry(
        description="ResNet-18 (basic 2-2-2-2, width 64); loads torchvision weights",
        build=_build_resnet(resnet18),
    ),
    "resnet_small": DetectorEntry(
        description="ResNet with basic 1-1-1-1 blocks and width 16: a fast CPU model",
        build=_build_resnet(resnet_small),
    ),
    "patchnet": DetectorEntry(
        description="padding-free CNN whose one-pass dense heatmap equals stride-1 patch evaluation",
        build=_build_patchnet,
    ),
}
"""Every detector architecture by name."""


def build_detector(cfg: DetectorConfig) -> nn.Module:
    """The detector that ``cfg`` describes, freshly initialised (it has ``patch_size`` and ``supports_dense``)."""
    if cfg.arch not in DETECTORS:
        raise CimgenError(f"unknown detector '{cfg.arch}'; choose one of {', '.join(DETECTORS)}")
    return DETECTORS[cfg.arch].build(cfg)


def detector_summary(cfg: DetectorConfig) -> str:
    """One line naming the architecture, its patch size and its parameter count."""
    model = build_detector(cfg)
    count = sum(p.numel() for p in model.parameters())
    dense = ", dense heatmaps" if model.supports_dense else ""
    return f"{cfg.arch}: {DETECTORS[cfg.arch].description}; {cfg.patch_size}x{cfg.patch_size} patches, {count:,} parameters{dense}"
