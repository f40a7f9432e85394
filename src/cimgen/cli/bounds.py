"""The allowed ranges of the commands' numeric options (shown in ``--help``) and the check of ``--device`` against this machine."""

from __future__ import annotations

from cimgen.runs.options import SEED_RANGE

SEED = {"min": SEED_RANGE[0], "max": SEED_RANGE[1]}
"""Seeds: what NumPy and PyTorch both take."""
SIDE = {"min": 1, "max": 16384}
"""Image and tile sides in pixels."""
COUNT = {"min": 1, "max": 1_000_000}
"""How many images, scenes or samples to make."""
EPOCHS = {"min": 0, "max": 100_000}
BATCH = {"min": 1, "max": 65536}
"""Patches or images per forward pass."""
PIXELS = {"min": 0, "max": 4096}
"""Strides, dilations and areas in pixels, where 0 means automatic or none."""
SCALE = {"min": 0, "max": 100}
"""A SinGAN scale index (the pyramid has at most 100 scales)."""
LEVEL = {"min": 0, "max": 255}
"""An 8-bit pixel level."""


def device_option(value: str | None) -> str | None:
    """Typer callback of every ``--device``: the name as given when this machine has it, else one sentence."""
    if value:
        from cimgen.nn.devices import check_device  # loads torch: only when a command runs, never for --help

        check_device(value)
    return value
