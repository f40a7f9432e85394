"""SyncBatchNorm for batch-norm networks under DDP: one set of batch statistics across processes, where PyTorch can.

Under DDP each process normalises a batch-norm layer with the statistics of its own share of the
batch, so two processes with 4 items each train differently from one process with 8 items. PyTorch's
``SyncBatchNorm`` computes the statistics over all processes' items instead; in the pinned torch
(2.13) it runs only on GPUs (and XPU/HPU): DDP refuses to wrap a SyncBatchNorm module on a CPU
("SyncBatchNorm layers only work with GPU modules"), so on a CPU under gloo the networks keep their
per-process batch norm and the run's log says so once.
"""

from __future__ import annotations

from torch import nn

# Devices whose SyncBatchNorm forward PyTorch implements (torch/nn/modules/batchnorm.py, SyncBatchNorm.forward).
SYNC_DEVICES = ("cuda", "xpu", "hpu")


def has_batch_norm(module: nn.Module) -> bool:
    """Whether the module holds any batch-norm layer (1-D, 2-D or 3-D)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def sync_batch_norm(networks: dict[str, nn.Module], runtime, *, enabled: bool) -> tuple[dict[str, nn.Module], str | None]:
    """The networks with their batch norm synchronised across DDP processes where asked and possible, and a log line.

    Call it on the freshly built networks, before ``Runtime.prepare``: the converted layers keep
    the same parameters, buffers and state-dict keys, so checkpoints are unchanged.

    Args:
        networks: the recipe's networks by name.
        runtime: the run's ``Runtime`` (its ``device`` and ``world_size`` are read).
        enabled: the run's ``sync_batchnorm`` option.

    Returns:
        The networks (converted, or the same objects) and one sentence for the run's log, or None
        when there is nothing to say (the option is off, the run has one process, or no network
        has batch norm).
    """
    with_bn = [name for name, net in networks.items() if has_batch_norm(net)]
    if not enabled or runtime.world_size <= 1 or not with_bn:
        return networks, None
    names = ", ".join(with_bn)
    if runtime.device.type not in SYNC_DEVICES:
        note = (
            f"sync_batchnorm: PyTorch's SyncBatchNorm runs only on GPUs, so on {runtime.device.type} the batch norm of {names} "
            f"normalises each of the {runtime.world_size} processes' share of the batch on its own"
        )
        return networks, note
    converted = {name: nn.SyncBatchNorm.convert_sync_batchnorm(net) if name in with_bn else net for name, net in networks.items()}
    note = f"sync_batchnorm: the batch norm of {names} uses statistics over all {runtime.world_size} processes (SyncBatchNorm)"
    return converted, note
