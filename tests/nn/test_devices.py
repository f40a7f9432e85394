"""Device names checked against what the machine has, with a pretend GPU count."""

from __future__ import annotations

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.nn.devices import check_device


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize("name", ["gpu0", "GPU", "cuda:x", "cuda:-1", "meta", "mps:0", "cpu:0 ", "cuda0"])
def test_names_that_are_no_device_are_one_sentence(name, monkeypatch):
    _gpus(monkeypatch, 2)
    with pytest.raises(CimgenError, match="unknown device .*; use auto, cpu, cuda or cuda:N"):
        check_device(name)


def test_cuda_on_a_machine_without_it_is_refused(monkeypatch):
    _gpus(monkeypatch, 0)
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(CimgenError, match="this machine has no CUDA GPU"):
            check_device(name)
    assert check_device("auto") == check_device(None) == check_device("") == "cpu"
    assert check_device(" CPU ") == "cpu"


def test_a_gpu_index_past_the_last_is_refused(monkeypatch):
    _gpus(monkeypatch, 2)
    with pytest.raises(CimgenError, match=r"'cuda:2' does not exist: this machine has 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        check_device("cuda:2")
    assert check_device("cuda:1") == "cuda:1"
    assert check_device(torch.device("cuda", 0)) == "cuda:0"
    assert check_device("auto") == check_device("cuda") == "cuda"


@pytest.mark.parametrize(
    "count, name, words",
    [
        (2, "gpu0", "unknown device 'gpu0'; use auto, cpu, cuda or cuda:N"),
        (0, "cuda", "device 'cuda' was asked for but this machine has no CUDA GPU"),
        (1, "cuda:7", r"device 'cuda:7' does not exist: this machine has 1 CUDA GPU \(cuda:0\)"),
    ],
)
def test_the_training_runtime_checks_devices_here_too(count, name, words, monkeypatch):
    """``train.runtime.resolve_device`` (training's ``loop.device``, SinGAN, detect, translate) goes through ``check_device``."""
    from cimgen.train.runtime import resolve_device

    _gpus(monkeypatch, count)
    with pytest.raises(CimgenError, match=words):
        resolve_device(name)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if count else "cpu")


def test_every_device_option_of_the_command_tree_is_checked_where_it_is_parsed():
    """Each ``--device`` of every command runs ``cli.bounds.device_option``; ``batch`` is the one exception: its Ray workers
    check the name on their own machine, and ``runs.batch`` checks it with ``check_device`` when the scenes run in this process.
    """
    import typer.main

    from cimgen.cli.bounds import device_option
    from cimgen.cli.main import app

    def walk(command, path=()):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    seen = []
    for path, command in walk(typer.main.get_command(app)):
        for param in getattr(command, "params", []):
            if "--device" in getattr(param, "opts", ()):
                seen.append(" ".join(path))
                if path != ("batch",):
                    # typer wraps the callback; the wrapped function is kept in its closure
                    cells = [c.cell_contents for c in (param.callback.__closure__ or ())]
                    assert param.callback is device_option or device_option in cells, f"cimgen {' '.join(path)} --device is not checked"
    assert {"manipulate", "translate", "singan train", "detect heatmap", "evaluate"} <= set(seen), seen
