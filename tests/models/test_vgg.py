"""VGG19 features: torchvision's names and count, loading a torchvision-layout file, and outputs against F.conv2d."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from cimgen.errors import CimgenError
from cimgen.models.vgg import ENV_WEIGHTS, RELU_NAMES, VGG19, VGG19_FILE, find_vgg19_weights, load_vgg19, vgg19_candidate_paths

CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
POOL_INDICES = (4, 9, 18, 27, 36)


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A randomly initialised VGG19 saved as torchvision does (features + classifier), and its state dict."""
    torch.manual_seed(0)
    state = VGG19().state_dict()
    # The classifier's real shapes (25088 -> 4096 -> 4096 -> 1000) do not matter to the loader, which drops it.
    full = dict(state)
    for i, (cin, cout) in zip((0, 3, 6), ((8, 4), (4, 4), (4, 10))):
        full[f"classifier.{i}.weight"] = torch.randn(cout, cin)
        full[f"classifier.{i}.bias"] = torch.randn(cout)
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save(full, path)
    return path, state


def test_names_and_parameter_count_follow_torchvision():
    model = VGG19()
    keys = list(model.state_dict())
    assert keys == [f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    assert sum(p.numel() for p in model.parameters()) == 20_024_384
    assert len(model.features) == 37
    assert all(isinstance(model.features[i], torch.nn.MaxPool2d) for i in POOL_INDICES)


def test_loads_a_torchvision_file_strictly_and_freezes_it(fake_weights):
    path, state = fake_weights
    model = load_vgg19(path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_feature_shapes_and_values_against_a_functional_reference(fake_weights):
    path, state = fake_weights
    model = load_vgg19(path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4), (2, 512, 2, 2)]
    assert len(outs) == len(RELU_NAMES)

    # Independent reference: walk torchvision's index layout, reading tensors by key name.
    def conv(h, i):
        return F.relu(F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))

    h = conv(x, 0)
    ref = [h]  # relu1_1
    h = conv(F.max_pool2d(conv(h, 2), 2), 5)
    ref.append(h)  # relu2_1
    h = conv(F.max_pool2d(conv(h, 7), 2), 10)
    ref.append(h)  # relu3_1
    for i in (12, 14, 16):
        h = conv(h, i)
    h = conv(F.max_pool2d(h, 2), 19)
    ref.append(h)  # relu4_1
    for i in (21, 23, 25):
        h = conv(h, i)
    h = conv(F.max_pool2d(h, 2), 28)
    ref.append(h)  # relu5_1
    for name, got, want in zip(RELU_NAMES, outs, ref):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), name


def test_wrapped_prefixed_and_safetensors_files(fake_weights, tmp_path):
    _, state = fake_weights
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    inner = tmp_path / "inner.pth"  # torchvision's ImageNet example wraps only ``features`` in DataParallel
    torch.save({k.replace("features.", "features.module."): v for k, v in state.items()}, inner)
    safe = tmp_path / "vgg19.safetensors"
    save_file(state, str(safe))
    for p in (wrapped, inner, safe):
        model = load_vgg19(p)
        assert torch.equal(model.features[34].bias, state["features.34.bias"]), p.name


def test_bad_files_are_one_sentence_errors(fake_weights, tmp_path):
    path, state = fake_weights
    with pytest.raises(CimgenError, match="VGG19 weights file .*missing.pth does not exist"):
        load_vgg19(tmp_path / "missing.pth")
    shapes = dict(state)
    shapes["features.34.weight"] = torch.zeros(512, 512, 1, 1)
    torch.save(shapes, tmp_path / "shapes.pth")
    with pytest.raises(CimgenError, match=r"not torchvision VGG19 weights: 1 of another shape \(first: features.34.weight"):
        load_vgg19(tmp_path / "shapes.pth")
    torch.save({k: v for k, v in state.items() if k != "features.0.bias"}, tmp_path / "short.pth")
    with pytest.raises(CimgenError, match="1 missing"):
        load_vgg19(tmp_path / "short.pth")
    # A pickle that would build an arbitrary object is refused by weights_only, not run.
    (tmp_path / "code.pth").write_bytes(pickle.dumps(pickle.Pickler, protocol=2))
    with pytest.raises(CimgenError, match="could run code|damaged"):
        load_vgg19(tmp_path / "code.pth")
    (tmp_path / "cut.pth").write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CimgenError, match="could run code|damaged"):
        load_vgg19(tmp_path / "cut.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CimgenError, match="does not hold a dictionary of tensors"):
        load_vgg19(tmp_path / "list.pth")


def test_search_order_and_the_error_naming_every_place(fake_weights, tmp_path, monkeypatch):
    path, _ = fake_weights
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    places = vgg19_candidate_paths()
    assert places == [tmp_path / "torch" / "hub" / "checkpoints" / VGG19_FILE, tmp_path / "home" / ".cache" / "cimgen" / VGG19_FILE]
    assert find_vgg19_weights() is None
    with pytest.raises(CimgenError) as err:
        load_vgg19()
    message = str(err.value)
    assert "no VGG19 weights found" in message and f"${ENV_WEIGHTS} (unset)" in message
    assert all(str(p) in message for p in places)
    # Later places are used when earlier ones are empty; an earlier one wins once it exists.
    places[1].parent.mkdir(parents=True)
    places[1].symlink_to(path)
    assert find_vgg19_weights() == places[1]
    places[0].parent.mkdir(parents=True)
    places[0].symlink_to(path)
    assert find_vgg19_weights() == places[0]
    monkeypatch.setenv(ENV_WEIGHTS, str(path))
    assert find_vgg19_weights() == path and vgg19_candidate_paths()[0] == path
    assert not load_vgg19().training
    monkeypatch.setenv(ENV_WEIGHTS, str(tmp_path / "nowhere.pth"))
    with pytest.raises(CimgenError, match=f"\\${ENV_WEIGHTS} names .*nowhere.pth, which is not a file"):
        find_vgg19_weights()
    with pytest.raises(CimgenError, match="does not exist"):
        find_vgg19_weights(tmp_path / "nowhere.pth")
