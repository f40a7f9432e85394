"""Every reader of weights, checkpoints and configs says which failure it met: missing, unreadable, I/O, memory, format, damage.

Tests run as root, where ``chmod 000`` does not stop a read, so permission, I/O and memory failures
are raised at the reader's own load call (or at ``open``) by monkeypatch, as the OS would raise them.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cimgen.errors import CimgenError
from cimgen.io import checkpoints, official, weights
from cimgen.io.checkpoints import load_checkpoint, load_train_state, read_config, save_checkpoint

UNREADABLE = "permission denied; check the file's permissions"
IO_ERROR = "the disk or network filesystem failed while reading it (Input/output error); the file itself may be fine"
MEMORY = r"there was not enough memory to load it \(the file is [0-9.]+ (bytes|kB|MB)\); the file itself may be fine"
EMPTY = "it is empty (truncated, or never written)"
DAMAGED = "it is damaged (truncated or corrupt)"

SD = {"conv.weight": torch.arange(12.0).reshape(3, 4), "conv.bias": torch.zeros(3)}


def _raise(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc

    return fail


def _pth(tmp: Path) -> Path:
    torch.save(SD, tmp / "w.pth")
    return tmp / "w.pth"


def _safetensors(tmp: Path) -> Path:
    save_file(SD, str(tmp / "w.safetensors"))
    return tmp / "w.safetensors"


def _checkpoint(tmp: Path) -> Path:
    return save_checkpoint(tmp / "ck", {"model": "m"}, SD, train_state={"step": 3})


def _torchscript(tmp: Path) -> Path:
    torch.jit.save(torch.jit.script(torch.nn.Linear(4, 3)), str(tmp / "inc.pt"))
    return tmp / "inc.pt"


# (name, make the file, read it, the file named in the error, " as <what>", what to patch to fail the load)
READERS = [
    ("pth", _pth, weights.read_tensor_dict, lambda p: p, "", (torch, "load")),
    ("vgg19", _pth, weights.read_vgg19_state_dict, lambda p: p, " as VGG19 weights", (torch, "load")),
    ("official", _pth, official.read_state_dict, lambda p: p, "", (torch, "load")),
    ("safetensors", _safetensors, weights.read_tensor_dict, lambda p: p, "", (weights, "load_file")),
    ("checkpoint", _checkpoint, load_checkpoint, lambda p: p / "weights.safetensors", "", (checkpoints, "load_file")),
    ("train-state", _checkpoint, load_train_state, lambda p: p / "train_state.pt", "", (torch, "load")),
    ("config", _checkpoint, read_config, lambda p: p / "config.json", "", (Path, "read_text")),
    ("torchscript", _torchscript, weights.read_inception_tensors, lambda p: p, " as Inception weights", (weights, "read_torchscript_tensors")),
]  # fmt: skip
IDS = [r[0] for r in READERS]


@pytest.fixture(autouse=True)
def _quiet_jit():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.mark.parametrize(
    "fault,reason",
    [
        (PermissionError(errno.EACCES, "Permission denied"), re.escape(UNREADABLE)),
        (OSError(errno.EIO, "Input/output error"), re.escape(IO_ERROR)),
        (MemoryError(), MEMORY),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to allocate 9 bytes"), MEMORY),
    ],
    ids=["permission", "eio", "memory", "torch-allocator"],
)
@pytest.mark.parametrize("name,make,read,named,what,target", READERS, ids=IDS)
def test_a_failing_read_says_what_happened_not_damaged(tmp_path, monkeypatch, fault, reason, name, make, read, named, what, target):
    path = make(tmp_path)
    if name == "config" and isinstance(fault, RuntimeError):
        pytest.skip("reading JSON never goes through torch's allocator")
    monkeypatch.setattr(*target, _raise(fault))
    with pytest.raises(CimgenError) as e:
        read(path)
    assert re.fullmatch(re.escape(f"{named(path)} cannot be read{what}: ") + reason, str(e.value)), str(e.value)
    assert "damaged" not in str(e.value)


@pytest.mark.parametrize("name,make,read,named,what,target", READERS, ids=IDS)
def test_empty_wrong_and_damaged_files_each_have_their_sentence(tmp_path, name, make, read, named, what, target):
    path = make(tmp_path)
    file = named(path)
    good = file.read_bytes()
    fmt = {"config": None, "safetensors": "safetensors", "checkpoint": "safetensors"}.get(name, "PyTorch weights")
    cut = good[: len(good) - 60] if name != "config" else good[:-3]
    for data, expected in ((b"", EMPTY), (b"just some text, no weights here\n", f"it is not a {fmt} file"), (cut, DAMAGED)):
        file.write_bytes(data)
        with pytest.raises(CimgenError) as e:
            read(path)
        if name == "config":  # a config is text: empty, foreign or cut short, it is not JSON
            assert str(e.value).startswith(f"{file} is not valid JSON ("), str(e.value)
        else:
            assert str(e.value) == f"{file} cannot be read{what}: {expected}"


def test_safetensors_calls_a_file_it_may_not_open_missing_and_the_sentence_says_permission(tmp_path, monkeypatch):
    ck = _checkpoint(tmp_path)
    file = ck / "weights.safetensors"
    real_open = builtins.open

    def guarded(p, *args, **kwargs):
        if Path(p) == file:
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, *args, **kwargs)

    # What safetensors raises for a file without read permission (seen as a non-root user with chmod 000).
    monkeypatch.setattr(checkpoints, "load_file", _raise(FileNotFoundError(f"No such file or directory: {file}")))
    monkeypatch.setattr(builtins, "open", guarded)
    with pytest.raises(CimgenError) as e:
        load_checkpoint(ck)
    assert str(e.value) == f"{file} cannot be read: {UNREADABLE}"


def test_a_file_removed_while_it_is_read_is_missing(tmp_path, monkeypatch):
    path = _pth(tmp_path)

    def vanish(*args, **kwargs):
        path.unlink()
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(torch, "load", vanish)
    with pytest.raises(CimgenError) as e:
        weights.read_tensor_dict(path)
    assert str(e.value) == f"{path} cannot be read: it does not exist"


def test_the_size_in_the_memory_sentence(tmp_path, monkeypatch):
    path = tmp_path / "big.pth"
    with open(path, "wb") as fh:
        fh.truncate(2_500_000)  # sparse: the size is what the sentence reports, not the contents
    monkeypatch.setattr(torch, "load", _raise(MemoryError()))
    with pytest.raises(CimgenError) as e:
        weights.read_tensor_dict(path)
    expected = "there was not enough memory to load it (the file is 2.5 MB); the file itself may be fine"
    assert str(e.value) == f"{path} cannot be read: {expected}"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_chmod_000_for_real(tmp_path):
    for path in (_pth(tmp_path), _safetensors(tmp_path)):
        path.chmod(0)
        with pytest.raises(CimgenError) as e:
            weights.read_tensor_dict(path)
        assert str(e.value) == f"{path} cannot be read: {UNREADABLE}"


def test_resume_from_an_unreadable_checkpoint_does_not_call_it_damaged(tmp_path, tiny_world, capsys, monkeypatch):
    from cimgen.cli.main import main
    from cimgen.io.checkpoints import resolve_checkpoint
    from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
    from tests.conftest import tiny_train_config

    run = tmp_path / "run"
    run_pix2pixhd(resolve_config(tiny_train_config(tiny_world, epochs=1, decay_epochs=0)), run, echo=None, progress=False)
    last = resolve_checkpoint(run)
    before = {p.name: p.read_bytes() for p in last.iterdir()}
    for target, fault, file, reason in (
        ((torch, "load"), PermissionError(errno.EACCES, "Permission denied"), last / "train_state.pt", UNREADABLE),
        ((checkpoints, "load_file"), OSError(errno.EIO, "Input/output error"), last / "weights.safetensors", IO_ERROR),
    ):
        with monkeypatch.context() as m:
            m.setattr(*target, _raise(fault))
            rc = main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and f"{file} cannot be read: {reason}" in err, err
        assert "damaged" not in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in last.iterdir()} == before  # the good checkpoint is left as it was
    assert json.loads((last / "config.json").read_text())["format"] == "cimgen-checkpoint"
