"""The FID Inception-v3 network: equal to the TorchScript reference, every weight format, clear errors."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.metrics import inception as inc
from cimgen.metrics.inception import FIDInceptionV3, build_inception, find_inception_weights, load_inception_state
from cimgen.metrics.resize import resize_for_inception


@pytest.fixture(scope="module")
def reference(inception_weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(inception_weights), map_location="cpu").eval()


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 3, 299, 299, generator=g) * 2 - 1
    # A real-looking input too: a smooth gradient image with an edge, resized the default way.
    img = np.zeros((1, 64, 64, 3), np.uint8)
    img[0, :, :, 0] = np.linspace(0, 255, 64)[None, :].astype(np.uint8)
    img[0, 20:40, 10:50] = (30, 200, 90)
    real = (resize_for_inception(img) - 128) / 128
    return torch.cat([noise, real])


@pytest.mark.parametrize("fuse,channels_last", [(False, False), (True, False), (True, True)])
def test_features_equal_the_torchscript_reference(inception_weights, reference, inputs, fuse, channels_last):
    model, info = build_inception(inception_weights, fuse=fuse)
    assert info.kind == "torchscript"
    x = inputs
    if channels_last:  # the layout `cimgen evaluate` runs in
        model, x = model.to(memory_format=torch.channels_last), inputs.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ours, ref = model(x), reference(inputs)
    assert ours.shape == (3, 2048)
    assert (ours - ref).abs().max().item() <= 1e-4
    assert ref.abs().max().item() > 0.1  # the comparison is not between two zero vectors


def test_architecture_quirks():
    m = FIDInceptionV3()
    assert all(bn.eps == 1e-3 for bn in m.modules() if isinstance(bn, torch.nn.BatchNorm2d))
    assert m.Mixed_7c.max_pool and not m.Mixed_7b.max_pool
    # count_include_pad=False: a constant map stays constant at the border after the branch pool.
    x = torch.ones(1, 1, 5, 5)
    assert torch.equal(inc._avg3(x), x)


def _torchvision_layout(inception_weights) -> dict:
    tensors, _ = load_inception_state(inception_weights)
    sd = dict(tensors)
    sd["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    sd["fc.weight"] = torch.zeros(1008, 2048)
    sd["fc.bias"] = torch.zeros(1008)
    return sd


@pytest.mark.parametrize("name,wrap", [(inc.PYTORCH_FID_FILE, None), (inc.TORCH_FIDELITY_FILE, "module"), ("wrapped.pth", "state_dict")])
def test_pth_state_dicts_load(tmp_path, inception_weights, reference, inputs, name, wrap):
    """pytorch-fid and torch-fidelity files use torchvision's names; DataParallel prefixes and wrappers are unwrapped."""
    sd = _torchvision_layout(inception_weights)
    if wrap == "module":
        sd = {f"module.{k}": v for k, v in sd.items()}
    obj = {"state_dict": sd} if wrap == "state_dict" else sd
    path = tmp_path / name
    torch.save(obj, path)
    model, info = build_inception(path)
    assert info.kind == "state_dict"
    with torch.inference_mode():
        assert (model(inputs[:1]) - reference(inputs[:1])).abs().max().item() <= 1e-4


def test_wrong_network_is_rejected(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)).state_dict(), path)
    with pytest.raises(CimgenError, match="is not FID Inception-v3 weights: .*missing"):
        build_inception(path)


def test_wrong_shape_is_named(tmp_path, inception_weights):
    sd = _torchvision_layout(inception_weights)
    sd["Mixed_5b.branch1x1.conv.weight"] = torch.zeros(8, 192, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(CimgenError, match=r"Mixed_5b.branch1x1.conv.weight is \(8, 192, 1, 1\), expected \(64, 192, 1, 1\)"):
        build_inception(path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_payload_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": _Payload()}, path)
    with pytest.raises(CimgenError, match="could run code"):
        build_inception(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_truncated_file_is_refused(tmp_path, inception_weights):
    path = tmp_path / "cut.pt"
    path.write_bytes(inception_weights.read_bytes()[:100_000])
    with pytest.raises(CimgenError):
        build_inception(path)


def test_search_order_and_message(tmp_path, monkeypatch, inception_weights):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(inc.ENV_WEIGHTS, str(inception_weights))
    assert find_inception_weights() == inception_weights
    monkeypatch.delenv(inc.ENV_WEIGHTS)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / inc.PYTORCH_FID_FILE).write_bytes(b"x")
    assert find_inception_weights() == hub / inc.PYTORCH_FID_FILE
    (hub / inc.PYTORCH_FID_FILE).unlink()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(CimgenError) as e:
        find_inception_weights()
    msg = str(e.value)
    assert "no FID Inception-v3 weights found" in msg and str(hub / inc.TORCH_FIDELITY_FILE) in msg and inc.ENV_WEIGHTS in msg
    with pytest.raises(CimgenError, match="does not exist"):
        find_inception_weights(tmp_path / "nope.pt")
