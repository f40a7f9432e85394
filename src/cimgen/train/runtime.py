"""Where and how the update steps run: device, mixed precision, channels_last, torch.compile and DDP.

A recipe builds its networks, hands each to ``Runtime.prepare`` (device and memory format)
and keeps the prepared module for checkpoints; it calls the module ``Runtime.wrap`` returns
(DDP and/or compiled) in its update steps. Forward passes run under ``Runtime.autocast()``
and each optimiser step goes through ``Runtime.step`` so fp16 loss scaling is handled in one
place. Distributed training follows PyTorch's DDP as launched by ``torchrun``: the process
group comes from the environment variables torchrun sets.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn

from cimgen.errors import CimgenError
from cimgen.nn.devices import check_device

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""``auto`` chooses by the machine (``choose_precision``); the others are used as given."""

# The CPU features that decide whether bf16 is fast, as torch.cpu.get_capabilities() names them.
CPU_FEATURES = {
    "avx2": "AVX2",
    "avx512_f": "AVX-512F",
    "avx512_vnni": "AVX-512 VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX BF16",
}
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
"""Instruction sets with bf16 arithmetic. Without one of them oneDNN emulates bf16 convolutions, which ran 24 to 80
times slower than fp32 on a 2-core AVX2 EPYC (forward and backward; issue 28), so ``auto`` stays in fp32 there."""


def cpu_capabilities() -> dict:
    """What ``torch.cpu.get_capabilities()`` reports about this CPU (name, instruction sets, cores); empty when unknown."""
    try:
        return dict(torch.cpu.get_capabilities())
    except (AttributeError, RuntimeError):  # an older or non-x86 build without cpuinfo
        return {}


def cpu_summary(caps: dict | None = None) -> str:
    """One line naming the CPU and the instruction sets that decide bf16's speed, for every timing a benchmark prints."""
    caps = cpu_capabilities() if caps is None else caps
    if not caps:
        return "CPU instruction sets unknown (this PyTorch build does not report them)"
    have = [label for key, label in CPU_FEATURES.items() if caps.get(key)]
    lack = [label for key, label in CPU_FEATURES.items() if not caps.get(key)]
    name = caps.get("cpu_name") or caps.get("architecture") or "CPU"
    cores = caps.get("num_logical_cores")
    return f"{name}{f', {cores} logical cores' if cores else ''}: {', '.join(have) or 'none of ' + ', '.join(CPU_FEATURES)}" + (
        f"; no {', no '.join(lack)}" if lack else ""
    )


def native_cpu_bf16(caps: dict | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    caps = cpu_capabilities() if caps is None else caps
    return any(caps.get(k) for k in NATIVE_BF16)


def choose_precision(requested: str, device: torch.device, *, caps: dict | None = None) -> tuple[str, str]:
    """The precision to train in and why: ``requested`` as given, or for ``auto`` the fastest this device runs natively.

    ``auto``: on a CPU, bf16 autocast only where the CPU has AVX-512 BF16 or AMX, fp32 otherwise; on a GPU, bf16 where
    it is supported natively (compute capability 8.0 and newer), fp16 with loss scaling on tensor-core GPUs without
    bf16 (7.x), fp32 on older ones; fp32 on any other device.

    Args:
        requested: ``auto``, ``fp32``, ``bf16`` or ``fp16``.
        device: where the run computes.
        caps: the CPU's capabilities (default: this machine's), for tests.
    """
    if requested not in PRECISIONS:
        raise CimgenError(f"precision must be one of {', '.join(PRECISIONS)}, got '{requested}'")
    if requested != "auto":
        return requested, "asked for in the config"
    if device.type == "cpu":
        caps = cpu_capabilities() if caps is None else caps
        have = [CPU_FEATURES[k] for k in NATIVE_BF16 if caps.get(k)]
        if have:
            return "bf16", f"auto: the CPU computes bf16 natively ({', '.join(have)})"
        return "fp32", "auto: the CPU has no native bf16 (AVX-512 BF16 or AMX), where bf16 autocast runs many times slower than fp32"
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return "bf16", f"auto: the GPU supports bf16 (compute capability {major}.{minor})"
        if major >= 7:
            return "fp16", f"auto: the GPU has fp16 tensor cores but no bf16 (compute capability {major}.{minor}); loss scaling on"
        return "fp32", f"auto: the GPU has neither bf16 nor fp16 tensor cores (compute capability {major}.{minor})"
    return "fp32", f"auto: no mixed precision is chosen on {device.type}"


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The device ``name`` stands for on this machine (``auto`` picks CUDA when present); checked by ``nn.devices.check_device``, the one place device names meet the machine."""
    return torch.device(check_device(name))


def precision_note(precision: str, device_name: str) -> str:
    """One line saying which precision a run computes in on this machine and why (what ``--dry-run`` prints)."""
    device = resolve_device(device_name)
    used, why = choose_precision(precision, device)
    return f"precision on this machine: {used} ({why}); {cpu_summary() if device.type == 'cpu' else device}"


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by ``torchrun`` (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device_name: str) -> tuple[torch.device, int, int]:
    """Join the process group torchrun describes (gloo on CPU, NCCL on GPU); returns (device, rank, world size).

    Without torchrun this is a single process: rank 0 of 1 on the configured device.
    """
    if not launched_by_torchrun():
        return resolve_device(device_name), 0, 1
    if not dist.is_available():
        raise CimgenError("this PyTorch build has no torch.distributed; DDP training is not possible")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    base = resolve_device(device_name)
    device = torch.device("cuda", local_rank) if base.type == "cuda" else base
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    """Rank 0 writes the run folder; other ranks only compute."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class Runtime:
    """Device, precision, memory format, compilation and data parallelism of one training process.

    Args:
        device: where tensors live.
        precision: ``fp32``; ``bf16`` (autocast, CPU or GPU); ``fp16`` (autocast with dynamic
            loss scaling, CPU or GPU); ``auto`` resolves by the device (``choose_precision``).
        precision_reason: why ``precision`` was chosen, for the log and the checkpoints.
        channels_last: keep 4-D activations and weights in NHWC, which oneDNN and cuDNN prefer.
        compile: ``torch.compile`` the networks the update steps call.
        fused_optimizer: build Adam with its fused kernel (one pass over all parameters instead of a
            loop of small operations per tensor; CPU and GPU).
        cudnn_benchmark: on a GPU, let cuDNN time its convolution algorithms for each new input
            size and keep the fastest (``torch.backends.cudnn.benchmark``); no effect on a CPU.
        rank: this process's rank; ``world_size`` processes share each step's batch under DDP.
        world_size: number of DDP processes (1 = no DDP).
    """

    def __init__(
        self,
        device: torch.device,
        *,
        precision: str = "fp32",
        precision_reason: str = "asked for in the config",
        channels_last: bool = False,
        compile: bool = False,
        fused_optimizer: bool = False,
        cudnn_benchmark: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        if precision == "auto":
            precision, precision_reason = choose_precision(precision, device)
        elif precision not in PRECISIONS:
            raise CimgenError(f"precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
        self.device = device
        self.precision = precision
        self.precision_reason = precision_reason
        self.channels_last = channels_last
        self.compile = compile
        self.fused_optimizer = fused_optimizer
        self.cudnn_benchmark = cudnn_benchmark
        if device.type == "cuda":  # a process-wide switch; only a GPU run sets it
            torch.backends.cudnn.benchmark = cudnn_benchmark
        self.rank = rank
        self.world_size = world_size
        self._scalers: dict[int, torch.amp.GradScaler] = {}

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def adam(self, params, *, lr: float, betas: tuple[float, float], weight_decay: float = 0.0) -> torch.optim.Adam:
        """Adam over ``params``, fused when the runtime asks for it."""
        fused = {"fused": True} if self.fused_optimizer else {}
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, **fused)

    def prepare(self, module: nn.Module) -> nn.Module:
        """Move a network to the device (and memory format); the returned module is the one to checkpoint."""
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module

    def wrap(self, module: nn.Module, *, ddp: bool = True) -> nn.Module:
        """The callable the update steps use: DDP around the module when distributed (and ``ddp``), compiled when asked.

        Under DDP the wrapper averages gradients across processes on backward; call the
        prepared (unwrapped) module instead where no weight gradients are wanted (e.g. the
        discriminator inside the generator's loss), so DDP does not wait for gradients that
        never come.
        """
        if ddp and self.distributed and any(p.requires_grad for p in module.parameters()):
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        if self.compile:
            module = torch.compile(module)
        return module

    def input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch tensor on the device, NHWC when channels_last is on."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _scaler(self, optimizer: torch.optim.Optimizer) -> torch.amp.GradScaler | None:
        if self.precision != "fp16":
            return None
        key = id(optimizer)
        if key not in self._scalers:
            self._scalers[key] = torch.amp.GradScaler(self.device.type)
        return self._scalers[key]

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Zero the optimiser's gradients, backpropagate ``loss`` (scaled in fp16) and take one step."""
        optimizer.zero_grad(set_to_none=True)
        scaler = self._scaler(optimizer)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    def scaler_states(self, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, dict]:
        """The fp16 loss scalers' states by optimiser name (empty unless fp16), for exact resume."""
        return {name: scaler.state_dict() for name, opt in optimizers.items() if (scaler := self._scaler(opt)) is not None}

    def load_scaler_states(self, optimizers: dict[str, torch.optim.Optimizer], states: dict[str, dict]) -> None:
        for name, opt in optimizers.items():
            scaler = self._scaler(opt)
            if scaler is not None and name in states:
                scaler.load_state_dict(states[name])

    def all_reduce_mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average a dict of numbers over all processes (identity without DDP)."""
        if not self.distributed or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.world_size for k, v in zip(keys, t.tolist())}


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put modules in eval mode for a block and restore their previous modes."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, was in zip(modules, modes):
            m.train(was)
