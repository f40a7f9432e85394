"""Patch detectors: torchvision ResNet names and counts, loading torchvision files, PatchNet's exact dense pass, the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.models.detectors import (
    DETECTORS,
    DetectorConfig,
    PatchNet,
    PatchNetConfig,
    ResNet,
    ResNetConfig,
    build_detector,
    detector_summary,
    load_torchvision_weights,
    patchnet,
    resnet18,
    resnet50,
    resnet_small,
)

TINY = {"stage1_channels": 4, "stage2_channels": 4, "stage3_channels": 6, "hidden_channels": 8}


class _Payload:
    """Not a tensor: ``weights_only`` loading must refuse to rebuild it."""


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _imagenet(preset) -> ResNet:
    """A preset rebuilt with torchvision's 1000-class ``fc``, to compare parameter counts."""
    return preset(num_outputs=1000)


def randomise_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm running statistics measured on data and non-trivial affine parameters, as after training."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            m.momentum = None  # a plain average over the calibration batches
        model.train()
        size = model.patch_size
        for _ in range(2):
            model(torch.rand(16, 3, size, size, generator=g) * 2 - 1)
        for m in norms:
            # Off the measured values, so a mix-up of mean and variance or of the two modes would show.
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.mul_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def test_resnet_parameter_counts_equal_torchvision():
    assert _count(_imagenet(resnet50)) == 25_557_032
    assert _count(_imagenet(resnet18)) == 11_689_512


def test_resnet_keys_follow_torchvision():
    keys = list(_imagenet(resnet50).state_dict())
    # 53 convolutions, 53 batch norms with 5 tensors each, and fc weight and bias.
    assert len(keys) == 320
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.running_var",
        "layer3.5.conv3.weight",
        "layer4.2.bn3.num_batches_tracked",
        "fc.bias",
    ):
        assert key in keys, key
    small = resnet18().state_dict()
    assert "layer1.0.downsample.0.weight" not in small and "layer2.0.downsample.0.weight" in small
    assert small["fc.weight"].shape == (1, 512)


def test_resnet_forward_gives_one_logit_per_patch():
    torch.manual_seed(0)
    for model in (resnet_small(), resnet50()):
        out = model.eval()(torch.rand(3, 3, 64, 64) * 2 - 1)
        assert out.shape == (3,)
    assert resnet_small(patch_size=32)(torch.zeros(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(CimgenError, match="expects N x 3 x 64 x 64"):
        resnet_small()(torch.zeros(2, 3, 48, 48))
    with pytest.raises(CimgenError, match="at least 32x32"):
        resnet_small(patch_size=16)
    with pytest.raises(CimgenError, match="unknown ResNet block"):
        ResNet(ResNetConfig(block="wide"))


@pytest.fixture
def torchvision_file(tmp_path):
    """A resnet_small saved as torchvision files look (1000-class fc), wrapped as DataParallel checkpoints are."""
    torch.manual_seed(1)
    state = randomise_batch_norm(_imagenet(resnet_small)).state_dict()
    path = tmp_path / "resnet_small.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path, state


def test_load_torchvision_weights_round_trip_keeps_fc(torchvision_file):
    path, state = torchvision_file
    model = resnet_small()
    fc_before = model.fc.weight.detach().clone()
    load_torchvision_weights(model, path)
    for k, v in model.state_dict().items():
        if k.startswith("fc."):
            continue
        assert torch.equal(v, state[k]), k
    assert torch.equal(model.fc.weight, fc_before)


def test_load_torchvision_weights_accepts_files_without_num_batches_tracked(tmp_path):
    # torchvision's original ImageNet files were saved before BatchNorm had this buffer.
    state = {k: v for k, v in _imagenet(resnet_small).state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    model = load_torchvision_weights(resnet_small(), path)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_load_torchvision_weights_errors(tmp_path):
    with pytest.raises(CimgenError, match="does not exist"):
        load_torchvision_weights(resnet_small(), tmp_path / "missing.pth")
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"conv1.weight": _Payload()}, unsafe)
    with pytest.raises(CimgenError, match="could run code"):
        load_torchvision_weights(resnet_small(), unsafe)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CimgenError, match="it is not a PyTorch weights file$"):
        load_torchvision_weights(resnet_small(), broken)
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3}, numbers)
    with pytest.raises(CimgenError, match="dictionary of tensors"):
        load_torchvision_weights(resnet_small(), numbers)
    narrow = tmp_path / "narrow.pth"
    torch.save(resnet_small(width=8).state_dict(), narrow)
    with pytest.raises(CimgenError, match=r"of another shape \(first: bn1.bias"):
        load_torchvision_weights(resnet_small(), narrow)
    deeper = tmp_path / "deeper.pth"
    torch.save(resnet18(width=16).state_dict(), deeper)
    with pytest.raises(CimgenError, match=r"unexpected \(first: layer1.1"):
        load_torchvision_weights(resnet_small(), deeper)


def test_patchnet_scores_patches_and_checks_the_patch_size():
    model = patchnet(**TINY).eval()
    assert model(torch.rand(5, 3, 64, 64)).shape == (5,)
    assert patchnet(patch_size=48, **TINY)(torch.rand(2, 3, 48, 48)).shape == (2,)
    for bad in (44, 50, 62, 63):
        with pytest.raises(CimgenError, match="multiple of 4 and at least 48"):
            patchnet(patch_size=bad)
    with pytest.raises(CimgenError, match="positive"):
        PatchNet(PatchNetConfig(stage1_channels=0))
    with pytest.raises(CimgenError, match="expects N x 3 x 64 x 64"):
        model(torch.rand(1, 3, 65, 64))


def test_patchnet_receptive_field_is_exactly_the_patch():
    # Changing any single pixel of the patch moves the output; the gradient is non-zero everywhere.
    torch.manual_seed(0)
    model = randomise_batch_norm(patchnet(**TINY)).eval()
    x = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    model(x).sum().backward()
    # A few pixels may meet a dead ReLU or lose a max, so check rows and columns, not every pixel.
    reach = x.grad.abs().sum(dim=(0, 1))
    assert (reach.sum(0) > 0).all() and (reach.sum(1) > 0).all()


def test_patchnet_dense_equals_patch_by_patch_evaluation():
    torch.manual_seed(0)
    model = randomise_batch_norm(patchnet(**TINY)).eval()
    image = torch.rand(1, 3, 100, 90) * 2 - 1
    dense = model.dense(image)
    assert dense.shape == (37, 27)
    with torch.no_grad():
        patches = torch.stack([image[0, :, y : y + 64, x : x + 64] for y in range(37) for x in range(27)])
        reference = model(patches).reshape(37, 27)
    assert reference.std() > 1e-2  # the check below is not vacuous
    assert torch.allclose(dense, reference, atol=1e-4, rtol=0)
    # The dense pass uses running statistics even in training mode.
    assert torch.allclose(model.train().dense(image), dense, atol=1e-6, rtol=0)


def test_patchnet_dense_checks_its_input():
    model = patchnet(**TINY)
    with pytest.raises(CimgenError, match="smaller than one 64x64 patch"):
        model.dense(torch.zeros(1, 3, 63, 80))
    with pytest.raises(CimgenError, match="one 1 x 3 x H x W image"):
        model.dense(torch.zeros(2, 3, 64, 64))


def test_registry_builds_every_detector():
    assert set(DETECTORS) == {"resnet50", "resnet18", "resnet_small", "patchnet"}
    for arch in DETECTORS:
        model = build_detector(DetectorConfig(arch=arch))
        assert model.patch_size == 64
        assert model.supports_dense == (arch == "patchnet")
    assert build_detector(DetectorConfig(arch="resnet_small", width=8)).conv1.out_channels == 8
    assert build_detector(DetectorConfig(arch="resnet_small")).conv1.out_channels == 16
    tiny = build_detector(DetectorConfig(arch="patchnet", patch_size=48, **TINY))
    assert tiny.patch_size == 48 and tiny.config.stage3_channels == 6
    with pytest.raises(CimgenError, match="choose one of resnet50, resnet18, resnet_small, patchnet"):
        build_detector(DetectorConfig(arch="vgg"))
    with pytest.raises(CimgenError, match="width applies to the ResNet"):
        build_detector(DetectorConfig(arch="patchnet", width=8))
    assert detector_summary(DetectorConfig(arch="patchnet", **TINY)).endswith("dense heatmaps")
    assert f"{_count(resnet_small()):,} parameters" in detector_summary(DetectorConfig(arch="resnet_small"))
