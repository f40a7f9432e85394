"""sync_batchnorm: batch-norm networks become SyncBatchNorm under DDP on GPUs, keep their weights and keys, and stay per process on CPUs."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from cimgen.forensics.train import DetectorTrainConfig
from cimgen.train.batchnorm import has_batch_norm, sync_batch_norm


def _runtime(device: str, world_size: int) -> SimpleNamespace:
    """What sync_batch_norm reads of a Runtime (a real one cannot be on a GPU or in a process group here)."""
    return SimpleNamespace(device=torch.device(device), world_size=world_size)


def _networks() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    with_bn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))
    with_bn[1].running_mean.fill_(0.5)  # statistics a checkpoint would hold
    return {"detector": with_bn, "plain": nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4))}


def test_gpu_ddp_converts_only_batch_norm_networks_and_keeps_their_weights():
    nets = _networks()
    before = {k: v.clone() for k, v in nets["detector"].state_dict().items()}
    out, note = sync_batch_norm(nets, _runtime("cuda", 2), enabled=True)
    layers = [type(m) for m in out["detector"].modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert layers == [nn.SyncBatchNorm, nn.SyncBatchNorm]
    after = out["detector"].state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert out["plain"] is nets["plain"]
    assert note == "sync_batchnorm: the batch norm of detector uses statistics over all 2 processes (SyncBatchNorm)"


def test_cpu_ddp_keeps_per_process_batch_norm_and_says_so():
    nets = _networks()
    out, note = sync_batch_norm(nets, _runtime("cpu", 2), enabled=True)
    assert out is nets and not any(isinstance(m, nn.SyncBatchNorm) for m in out["detector"].modules())
    assert note.startswith("sync_batchnorm: PyTorch's SyncBatchNorm runs only on GPUs, so on cpu the batch norm of detector")
    assert note.endswith("normalises each of the 2 processes' share of the batch on its own")


def test_nothing_changes_or_is_said_without_ddp_the_option_or_batch_norm():
    nets = _networks()
    for runtime, enabled, networks in (
        (_runtime("cuda", 1), True, nets),  # one process
        (_runtime("cuda", 2), False, nets),  # the option is off
        (_runtime("cuda", 2), True, {"plain": nets["plain"]}),  # instance norm only
    ):
        out, note = sync_batch_norm(networks, runtime, enabled=enabled)
        assert out is networks and note is None
    assert has_batch_norm(nets["detector"]) and not has_batch_norm(nets["plain"])
    assert has_batch_norm(nn.BatchNorm1d(3)) and has_batch_norm(nn.SyncBatchNorm(3))


def test_detectors_synchronise_batch_norm_by_default():
    assert DetectorTrainConfig().sync_batchnorm is True
