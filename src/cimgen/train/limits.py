"""Bounds on a resolved training config's numbers (learning rates, betas, loss weights, seeds, sizes), checked before anything is built or written."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from cimgen.config import to_dict
from cimgen.errors import CimgenError
from cimgen.models.cyclegan import NetworkConfig
from cimgen.models.limits import BOUNDS, check_dataclass, check_size, check_value, registry_config, weight_count

SEED_RANGE = (0, 2**32 - 1)
"""Seeds NumPy and PyTorch both take (the CLI's ``--seed`` range, ``cimgen.runs.options.SEED_RANGE``, is the same)."""
LOOP_BOUNDS: dict[str, tuple] = {
    "seed": SEED_RANGE,
    "epochs": (0, 100_000),
    "decay_epochs": (0, 100_000),
    "batch_size": (1, 65536),
    "num_workers": (0, 256),
    "threads": (0, 4096),
    "keep_checkpoints": (0, 100_000),
    "step_gamma": (0.0, 1.0),
}
"""The numbers of ``cimgen.train.loop.LoopConfig`` that reach PyTorch or NumPy, with their ranges."""
DATA_BOUNDS: dict[str, tuple] = {"crop_size": (0, 16384), "load_size": (0, 16384), "load_width": (0, 16384)}
"""Image sizes of the data sections, where present."""
LR_RANGE = (0.0, 1.0)
BETA_RANGE = (0.0, 1.0)


def _finite(obj: Any, where: str) -> None:
    """Every float in a (nested) config dataclass is finite, and every loss weight ``lambda_*`` is 0 or more."""
    for f in dataclasses.fields(obj):
        value, name = getattr(obj, f.name), f"{where}{f.name}"
        if dataclasses.is_dataclass(value):
            _finite(value, f"{name}.")
        elif isinstance(value, float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise CimgenError(f"{name} is {value}; it must be a finite number")
            if f.name.startswith("lambda") and value < 0:
                raise CimgenError(f"{name} is {value}; a loss weight must be 0 or more")


def _network(spec: Any, where: str) -> Any:
    """The sized config dataclass of a network field: a ``BOUNDS`` dataclass as it is, a registry spec resolved."""
    if isinstance(spec, NetworkConfig):
        kind = "discriminator" if "discriminator" in where else "generator"
        return registry_config(to_dict(spec), kind, where)[1]
    check_dataclass(spec, where)
    return spec


def check_training_numbers(cfg: Any, networks: tuple[tuple[str, int], ...] = ()) -> None:
    """One sentence for the first number of a resolved training config that no run can use.

    Checks that every float is finite and every loss weight non-negative; ``optim.lr`` in [0, 1] and the
    betas in [0, 1); the loop's seed, epochs, batch size, workers and threads within ``LOOP_BOUNDS``; the
    data's sizes within ``DATA_BOUNDS``; every network section within ``cimgen.models.limits.BOUNDS``; and
    the networks the run builds, together, within ``cimgen.models.limits.MAX_WEIGHTS``.

    Args:
        cfg: a recipe's resolved config dataclass (``optim``, ``loop`` and ``data`` sections where it has them).
        networks: (field name, copies) of the networks the run builds, e.g. ``(("generator", 2), ("discriminator", 2))``
            for CycleGAN's two pairs.
    """
    _finite(cfg, "")
    optim = getattr(cfg, "optim", None)
    if optim is not None:
        if not LR_RANGE[0] <= optim.lr <= LR_RANGE[1]:  # 0 is allowed: a run that must leave the weights as loaded
            raise CimgenError(f"optim.lr is {optim.lr}; a learning rate must lie between 0 and 1")
        for name in ("beta1", "beta2"):
            value = getattr(optim, name, None)
            if value is not None and not BETA_RANGE[0] <= value < BETA_RANGE[1]:
                raise CimgenError(f"optim.{name} is {value}; Adam's betas lie in [0, 1)")
    for section, bounds in (("loop", LOOP_BOUNDS), ("data", DATA_BOUNDS)):
        part = getattr(cfg, section, None)
        if dataclasses.is_dataclass(part):
            for name, rule in bounds.items():
                if hasattr(part, name):
                    check_value(getattr(part, name), rule, f"{section}.{name}")
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if type(value) in BOUNDS or isinstance(value, NetworkConfig):
            _network(value, f.name)
    total = sum(copies * weight_count(_network(getattr(cfg, name), name)) for name, copies in networks)
    check_size(total, "the config")
