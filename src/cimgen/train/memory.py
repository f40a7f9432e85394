"""Peak memory of a recipe's training step, measured before a run: will this config fit on my GPU?

``cimgen train --memory`` (and ``cimgen finetune --memory``) build the run's networks, optimisers
and losses exactly as the run would, take one batch of its data, run two training steps (the
second with the optimisers' state allocated) at the epoch where the most parameters train (a
local enhancer's global part unfrozen), print the peak and write nothing.

On a GPU the figures are CUDA's own (``torch.cuda.max_memory_allocated`` and
``max_memory_reserved``). On the CPU they are the bytes of live tensor storage, counted by a
dispatch mode that sees every tensor the step creates and notices each one freed: the tensors a
GPU would hold, without what the CPU allocator and oneDNN add. A GPU adds its CUDA context
(several hundred MB), cuDNN's workspace and the caching allocator's slack to the peak.

PyTorch's own ``torch.distributed._tools.mem_tracker.MemTracker`` does the same accounting per
module, but refuses modules called more than once in an iteration, which every GAN recipe does
(the discriminator sees real and fake images), so the counting here is ours.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.data import DataLoader, Dataset

from cimgen.errors import CimgenError
from cimgen.train.image_pool import ImagePool

GIB = 2**30


def size_text(n: int) -> str:
    """Bytes as GiB, or MiB below one GiB (tiny models)."""
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 2**20:.1f} MiB"


class LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of tensor storage alive, and their peak, while it is active.

    Storages created inside the mode are counted when an operation returns them and uncounted
    when they are freed; storages made before it are counted once ``track`` is given their
    tensors. Views share their base's storage and are counted once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[tuple[str, int], int] = {}
        self.current = 0
        self.peak = 0

    def _add(self, t: torch.Tensor) -> None:
        if t.device.type == "meta" or t.is_sparse:
            return
        storage = t.untyped_storage()
        key = (str(t.device), storage.data_ptr())
        size = storage.nbytes()
        if size == 0 or key in self._live:
            return
        self._live[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: tuple[str, int]) -> None:
        self.current -= self._live.pop(key, 0)

    def track(self, tensors: Iterable[torch.Tensor]) -> None:
        """Count tensors that existed before the mode was entered (parameters, buffers, optimiser state)."""
        for t in tensors:
            self._add(t)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._add(t)
        return out


def _members(recipe: object, kind: type) -> list:
    """The recipe's attributes of ``kind``, directly or as values of a dict attribute (e.g. ``networks``, ``pools``)."""
    found = [v for v in vars(recipe).values() if isinstance(v, kind)]
    return found + [m for v in vars(recipe).values() if isinstance(v, dict) for m in v.values() if isinstance(m, kind)]


def recipe_tensors(recipe: object) -> list[torch.Tensor]:
    """Parameters, buffers and optimiser state a recipe holds (its networks and losses, e.g. VGG19, as attributes or in dicts)."""
    tensors = [t for m in _members(recipe, nn.Module) for t in (*m.parameters(), *m.buffers())]
    for opt in getattr(recipe, "optimizers", {}).values():
        tensors += [t for state in opt.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
    return tensors


def state_bytes(recipe: object) -> int:
    """Bytes of the recipe's trained parameters, their gradients and the optimisers' state (one count per storage)."""
    seen: dict[int, int] = {}
    for opt in recipe.optimizers.values():
        for group in opt.param_groups:
            for p in group["params"]:
                if not p.requires_grad:  # frozen (a local enhancer's global part in its first epochs)
                    continue
                for t in (p, p.grad, *opt.state.get(p, {}).values()):
                    if isinstance(t, torch.Tensor) and t.dim() > 0:
                        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values())


@dataclasses.dataclass
class MemoryReport:
    """Peak memory of two training steps; bytes."""

    device: str
    batch_shape: str
    """The image tensor's shape, e.g. ``1x3x512x512``."""
    parameters: int
    """Parameters of the networks the recipe trains."""
    state: int
    """Trained parameters + gradients + optimiser state."""
    peak: int
    """Peak of live tensors (CPU) or ``max_memory_allocated`` (GPU), over the steps."""
    reserved: int | None = None
    """GPU only: ``max_memory_reserved``, what the caching allocator took from the card."""
    pools_full: int = 0
    """CycleGAN (and pix2pix with a pool): what the image pools add once full (they fill over the first pool_size steps)."""

    def lines(self) -> list[str]:
        out = [
            f"parameters: {self.parameters:,}; with their gradients and the optimisers' state: {size_text(self.state)}",
            f"peak over two training steps on {self.batch_shape} images ({self.device}): {size_text(self.peak)}",
        ]
        if self.pools_full:
            out.append(f"the image pools add {size_text(self.pools_full)} once full: {size_text(self.peak + self.pools_full)}")
        if self.reserved is not None:
            out.append(f"reserved by the CUDA caching allocator: {size_text(self.reserved)} (the CUDA context comes on top)")
        else:
            out.append(
                "these are the bytes of live tensors, what a GPU would hold; on a GPU add the CUDA context "
                "(several hundred MB), cuDNN's workspace and the allocator's slack, or run this on the GPU for its own figures"
            )
        return out


def first_batch(dataset: Dataset, batch_size: int) -> dict:
    """One batch of ``batch_size`` items (fewer when the dataset is smaller), as the loop would load it."""
    if len(dataset) < 1:
        raise CimgenError("the dataset is empty")
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(0)
    return next(iter(DataLoader(dataset, batch_size=min(batch_size, len(dataset)), shuffle=False)))


def _pools_full(recipe: object) -> int:
    """Bytes the recipe's image pools (CycleGAN's two, pix2pix's optional one) add between now and full."""
    extra = 0
    for pool in _members(recipe, ImagePool):
        if len(pool) and pool.size > len(pool):
            extra += (pool.size - len(pool)) * pool.images[0].untyped_storage().nbytes()
    return extra


def steps_peak(recipe, batch: dict, steps: int = 2) -> tuple[int, int | None]:
    """Run ``steps`` training steps of ``recipe`` on ``batch``; their peak bytes, and on a GPU what CUDA reserved at most.

    On a GPU the peak is ``max_memory_allocated``; on a CPU the peak of live tensors
    (``LiveTensorBytes``, with the recipe's tensors and the batch counted from the start) and no
    reserved figure.
    """
    device = recipe.runtime.device
    phases: list[Callable[[dict], dict]] = recipe.phases()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        counter = contextlib.nullcontext()
    else:
        counter = LiveTensorBytes()
        counter.track(recipe_tensors(recipe))
        counter.track(v for v in batch.values() if isinstance(v, torch.Tensor))
    with counter:
        for _ in range(steps):
            for phase in phases:
                phase(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)
    return counter.peak, None


def measure_training_memory(recipe, dataset: Dataset, batch_size: int, *, epoch: int, steps: int = 2) -> MemoryReport:
    """Run ``steps`` training steps of ``recipe`` on the first batch of ``dataset`` and measure their peak memory.

    Args:
        recipe: a training recipe (networks, optimizers, phases, runtime).
        dataset: the run's dataset; its first batch is used.
        batch_size: items per step.
        epoch: passed to the recipe's ``on_epoch_start`` first (the epoch whose set of trained
            parameters to measure).
        steps: training steps; the second is the first with optimiser state allocated.
    """
    rt = recipe.runtime
    if rt.distributed:
        raise CimgenError("--memory measures one process; run it without torchrun (each DDP process holds the same)")
    if hasattr(recipe, "on_epoch_start"):
        recipe.on_epoch_start(epoch)
    batch = first_batch(dataset, batch_size)
    image = next((v for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() == 4), None)
    shape = "x".join(map(str, image.shape)) if image is not None else "?"
    trained = {id(p): p.numel() for opt in recipe.optimizers.values() for g in opt.param_groups for p in g["params"] if p.requires_grad}
    peak, reserved = steps_peak(recipe, batch, steps)
    return MemoryReport(
        device=str(rt.device),
        batch_shape=shape,
        parameters=sum(trained.values()),
        state=state_bytes(recipe),
        peak=peak,
        reserved=reserved,
        pools_full=_pools_full(recipe),
    )
