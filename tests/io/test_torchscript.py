"""TorchScript archives read as tensors without running their code: equal tensors, crafted files refused in silence."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.io.torchscript import is_torchscript, read_torchscript_tensors
from cimgen.io.weights import TORCHSCRIPT, read_inception_tensors
from tests.corpus.make_corpus import PickleBomb

MARKER = "SETSTATE-RAN-7f3a"


class _Tree(torch.nn.Module):
    """Parameters, buffers of several types, a plain tensor attribute and nesting, as in an exported network."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3))
        self.head = torch.nn.Linear(3, 2)
        self.register_buffer("scale", torch.tensor([0.5], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3))) * self.scale


class _Trap(torch.nn.Module):
    """A module whose ``__setstate__`` runs when ``torch.jit.load`` reads it: here it only prints, a real one could do worse."""

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        print("SETSTATE-RAN-7f3a")  # MARKER; TorchScript takes no global strings
        self.w = state[0]
        self.training = state[1]


def _save(module: torch.nn.Module, path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        script = torch.jit.script(module)
        torch.jit.save(script, str(path))
    return script


def _replace(src: Path, dst: Path, name: str, data: bytes | None) -> Path:
    """A copy of the archive ``src`` with its entry ``<prefix>/<name>`` replaced by ``data`` (left out when None)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        prefix = zin.namelist()[0].split("/")[0]
        for item in zin.infolist():
            if item.filename != f"{prefix}/{name}":
                zout.writestr(item, zin.read(item.filename))
            elif data is not None:
                zout.writestr(item, data)
    return dst


def test_tensors_equal_the_modules_own_state_dict(tmp_path):
    torch.manual_seed(0)
    module = _Tree()
    module.body[1].running_mean.normal_()
    script = _save(module, tmp_path / "tree.pt")
    assert is_torchscript(tmp_path / "tree.pt")
    got, expected = read_torchscript_tensors(tmp_path / "tree.pt"), script.state_dict()
    assert list(got) == list(expected)  # the same names in the same order, num_batches_tracked (int64) included
    for k, v in expected.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v), k
    tensors, kind = read_inception_tensors(tmp_path / "tree.pt")
    assert kind == TORCHSCRIPT and set(tensors) == set(expected)


def test_a_setstate_that_would_run_is_refused_and_prints_nothing(tmp_path, capfd):
    path = tmp_path / "trap.pt"
    _save(_Trap(), path)
    capfd.readouterr()
    with pytest.raises(CimgenError) as e:
        read_inception_tensors(path)
    assert str(e.value) == (
        f"{path} cannot be read as Inception weights: its module the top-level module has its own __setstate__, "
        "TorchScript code that cimgen does not run"
    )
    assert capfd.readouterr() == ("", "")
    # The control: the file is a real trap, torch.jit.load runs the method and prints.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path))
    assert MARKER in capfd.readouterr().out


def test_a_python_pickle_payload_in_the_records_is_refused_and_not_run(tmp_path, capfd):
    marker = tmp_path / "PWNED"
    _save(_Tree(), tmp_path / "tree.pt")
    evil = _replace(tmp_path / "tree.pt", tmp_path / "evil.pt", "data.pkl", pickle.dumps({"w": PickleBomb(marker)}, protocol=2))
    capfd.readouterr()
    with pytest.raises(CimgenError) as e:
        read_inception_tensors(evil)
    assert str(e.value) == (
        f"{evil} cannot be loaded safely as Inception weights: it holds Python objects other than tensors, "
        "which cimgen does not unpickle because they could run code"
    )
    assert not marker.exists() and capfd.readouterr() == ("", "")


def test_damaged_archives_are_named_damaged(tmp_path):
    _save(_Tree(), tmp_path / "tree.pt")
    src = tmp_path / "tree.pt"
    cases = {
        "no_storage.pt": ("data/0", None, "storage 0 is missing"),
        "short_storage.pt": ("data/0", b"\x00" * 4, "storage 0 holds 4 bytes, not 8"),
        "no_records.pt": ("data.pkl", None, "no data.pkl beside its code/ folder"),
    }
    for name, (entry, data, why) in cases.items():
        bad = _replace(src, tmp_path / name, entry, data)
        with pytest.raises(CimgenError) as e:
            read_inception_tensors(bad)
        assert str(e.value) == f"{bad} cannot be read as Inception weights: it is damaged ({why})", name
    cut = tmp_path / "cut.pt"
    cut.write_bytes(src.read_bytes()[:-40])
    with pytest.raises(CimgenError, match=r"cut.pt cannot be read as Inception weights: it is damaged \(truncated or corrupt\)$"):
        read_inception_tensors(cut)
    garbled = _replace(src, tmp_path / "garbled.pt", "data.pkl", b"\x80\x02}q\x00(X\x01")
    with pytest.raises(CimgenError, match=r"garbled.pt cannot be read as Inception weights: it is damaged \(truncated or corrupt\)$"):
        read_inception_tensors(garbled)


def test_cyclic_records_end(tmp_path):
    # A record whose state holds itself: NEWOBJ, memoised, then BUILD with {"self": <the record>}.
    cyclic = b"\x80\x02c__torch__\nM\nq\x00)\x81q\x01}q\x02X\x04\x00\x00\x00selfq\x03h\x01sb."
    _save(_Tree(), tmp_path / "tree.pt")
    path = _replace(tmp_path / "tree.pt", tmp_path / "cyclic.pt", "data.pkl", cyclic)
    assert read_torchscript_tensors(path) == {}


def test_the_published_fid_file_reads_as_torch_jit_load_reads_it(inception_weights):
    if not is_torchscript(inception_weights):
        pytest.skip("the Inception weights found are not a TorchScript archive")
    got = read_torchscript_tensors(inception_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = torch.jit.load(str(inception_weights), map_location="cpu").state_dict()
    assert len(got) == len(expected) == 376 and list(got) == list(expected)
    assert all(got[k].dtype == v.dtype and torch.equal(got[k], v) for k, v in expected.items())
