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
