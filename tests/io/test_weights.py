"""Weight files read as flat dicts of tensors: wrappers, prefixes, refusals, safetensors and the per-network readers."""

from __future__ import annotations

import os
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from cimgen.errors import CimgenError
from cimgen.io import weights
from cimgen.io.weights import (
    OFFICIAL_WRAPPERS,
    read_inception_tensors,
    read_resnet_state_dict,
    read_tensor_dict,
    read_vgg19_state_dict,
)

SD = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_a_plain_state_dict_comes_back_as_it_is(tmp_path):
    torch.save(SD, tmp_path / "w.pth")
    assert _same(read_tensor_dict(tmp_path / "w.pth"), SD)


@pytest.mark.parametrize("wrapper", OFFICIAL_WRAPPERS)
def test_each_official_wrapper_is_unwrapped(tmp_path, wrapper):
    torch.save({wrapper: SD, "epoch": 3}, tmp_path / "w.pth")
    assert _same(read_tensor_dict(tmp_path / "w.pth", wrappers=OFFICIAL_WRAPPERS), SD)


def test_the_first_wrapper_present_wins(tmp_path):
    other = {"other.weight": torch.zeros(1)}
    torch.save({"netD": other, "state_dict": SD}, tmp_path / "w.pth")
    assert _same(read_tensor_dict(tmp_path / "w.pth", wrappers=OFFICIAL_WRAPPERS), SD)


def test_only_the_state_dict_wrapper_by_default(tmp_path):
    torch.save({"state_dict": SD}, tmp_path / "a.pth")
    assert _same(read_tensor_dict(tmp_path / "a.pth"), SD)
    torch.save({"model": SD}, tmp_path / "b.pth")
    with pytest.raises(CimgenError, match="does not hold a dictionary of tensors"):
        read_tensor_dict(tmp_path / "b.pth")


def test_module_prefix_and_metadata_entry_are_removed(tmp_path):
    wrapped = {f"module.{k}": v for k, v in SD.items()}
    torch.save({"state_dict": {**wrapped, "_metadata": torch.zeros(1)}}, tmp_path / "w.pth")
    assert _same(read_tensor_dict(tmp_path / "w.pth"), SD)


def test_a_non_tensor_value_is_refused_in_one_sentence(tmp_path):
    torch.save({**SD, "epoch": 3}, tmp_path / "w.pth")
    with pytest.raises(CimgenError, match=r"w.pth does not hold a dictionary of tensors \(a VGG19 state dict\)$"):
        read_tensor_dict(tmp_path / "w.pth", what="VGG19 weights", holds="a VGG19 state dict")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(CimgenError, match="list.pth does not hold a dictionary of tensors$"):
        read_tensor_dict(tmp_path / "list.pth")


def test_an_empty_dict_is_refused_unless_allowed(tmp_path):
    torch.save({}, tmp_path / "empty.pth")
    with pytest.raises(CimgenError, match="does not hold a dictionary of tensors"):
        read_tensor_dict(tmp_path / "empty.pth")
    assert read_tensor_dict(tmp_path / "empty.pth", allow_empty=True) == {}


def test_a_missing_file_names_what_was_wanted(tmp_path):
    with pytest.raises(CimgenError, match="^checkpoint file .*nope.pth does not exist$"):
        read_tensor_dict(tmp_path / "nope.pth")
    with pytest.raises(CimgenError, match="^ResNet weights file .*nope.pth does not exist$"):
        read_resnet_state_dict(tmp_path / "nope.pth")
    with pytest.raises(CimgenError, match="^Inception weights file .*nope.pth does not exist$"):
        read_inception_tensors(tmp_path / "nope.pth")


def test_code_and_damage_are_refused_without_running_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"conv.weight": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CimgenError, match="evil.pth cannot be loaded safely: .*could run code$"):
        read_tensor_dict(tmp_path / "evil.pth")
    with pytest.raises(CimgenError, match="evil.pth cannot be loaded safely as VGG19 weights: .*could run code$"):
        read_vgg19_state_dict(tmp_path / "evil.pth")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
    (tmp_path / "text.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CimgenError, match="text.pth cannot be read as ResNet weights: it is not a PyTorch weights file$"):
        read_resnet_state_dict(tmp_path / "text.pth")
    torch.save(SD, tmp_path / "whole.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "whole.pth").read_bytes()[:300])
    with pytest.raises(CimgenError, match=r"cut.pth cannot be read as ResNet weights: it is damaged \(truncated or corrupt\)$"):
        read_resnet_state_dict(tmp_path / "cut.pth")


def test_a_safetensors_file_is_read_by_its_suffix(tmp_path):
    save_file({f"module.{k}": v for k, v in SD.items()}, str(tmp_path / "w.safetensors"))
    assert _same(read_tensor_dict(tmp_path / "w.safetensors"), SD)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CimgenError, match="bad.safetensors cannot be read: it is not a safetensors file$"):
        read_tensor_dict(tmp_path / "bad.safetensors")
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "w.safetensors").read_bytes()[:-8])
    with pytest.raises(CimgenError, match=r"cut.safetensors cannot be read: it is damaged \(truncated or corrupt\)$"):
        read_tensor_dict(tmp_path / "cut.safetensors")


def test_vgg19_reader_drops_the_classifier_and_inner_module_prefixes(tmp_path):
    sd = {"features.module.0.weight": torch.zeros(64, 3, 3, 3), "classifier.0.weight": torch.zeros(2, 2)}
    torch.save({"state_dict": sd}, tmp_path / "vgg.pth")
    got = read_vgg19_state_dict(tmp_path / "vgg.pth")
    assert list(got) == ["features.0.weight"]


def test_resnet_reader_keeps_every_tensor(tmp_path):
    sd = {"conv1.weight": torch.zeros(4, 3, 7, 7), "fc.weight": torch.zeros(1, 4)}
    torch.save(sd, tmp_path / "r.pth")
    assert _same(read_resnet_state_dict(tmp_path / "r.pth"), sd)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_inception_reader_tells_state_dicts_from_torchscript(tmp_path):
    torch.save({"state_dict": SD}, tmp_path / "inc.pth")
    tensors, kind = read_inception_tensors(tmp_path / "inc.pth")
    assert kind == weights.STATE_DICT and _same(tensors, SD)
    script = torch.jit.script(torch.nn.Linear(2, 3))
    torch.jit.save(script, str(tmp_path / "inc.pt"))
    with zipfile.ZipFile(tmp_path / "inc.pt") as zf:
        assert any("/code/" in n for n in zf.namelist())
    tensors, kind = read_inception_tensors(tmp_path / "inc.pt")
    assert kind == weights.TORCHSCRIPT and set(tensors) == {"weight", "bias"}
