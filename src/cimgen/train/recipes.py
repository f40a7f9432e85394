"""The training recipes by name: how each one resolves its config, runs, and fine-tunes from a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cimgen.errors import CimgenError
from cimgen.kinds import KINDS
from cimgen.train import cyclegan, pix2pix, pix2pixhd


@dataclass(frozen=True)
class Recipe:
    """A training recipe's entry points."""

    resolve_config: Callable[[dict], Any]
    """Nested dict -> the recipe's typed config, checked."""
    finetune_config: Callable[[dict, dict], Any]
    """(checkpoint config, overrides) -> the config of a fine-tuning run that keeps the checkpoint's networks."""
    run: Callable[..., Any]
    """``run(cfg, run_dir, *, resume, init_from, echo, progress, measure_memory) -> last checkpoint folder``."""
    summary: str
    """One line for --help and errors."""


# The literal table of recipes; a checkpoint's config.json names one of these, or a kind of cimgen.kinds that one of them fine-tunes.
RECIPES = {
    "pix2pixhd": Recipe(
        pix2pixhd.resolve_config, pix2pixhd.finetune_config, pix2pixhd.run_pix2pixhd,
        "label map -> image, multi-scale D, feature matching, VGG (global or local)",
    ),
    "pix2pix": Recipe(
        pix2pix.resolve_config, pix2pix.finetune_config, pix2pix.run_pix2pix, "paired image -> image, U-Net G, PatchGAN D, L1 100"
    ),
    "cyclegan": Recipe(
        cyclegan.resolve_config, cyclegan.finetune_config, cyclegan.run_cyclegan,
        "unpaired A <-> B, two G and two D, cycle and identity losses",
    ),
}  # fmt: skip


def get_recipe(name: str) -> Recipe:
    """The recipe of a name, or of a checkpoint kind (``cimgen import-official`` kinds fine-tune with pix2pixHD or pix2pix)."""
    name = KINDS[name].recipe if name in KINDS else name
    if name not in RECIPES:
        raise CimgenError(f"unknown model '{name}'; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]
