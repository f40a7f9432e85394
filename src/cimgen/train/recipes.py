"""The training recipes by name: how each one resolves its config, runs, and fine-tunes from a checkpoint."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cimgen.errors import CimgenError


@dataclass(frozen=True)
class RecipeEntry:
    """Where a recipe's functions live (imported on use, so ``cimgen --help`` stays fast)."""

    module: str
    """Module under cimgen.train holding the recipe."""
    runner: str
    """Name of its ``run_*(cfg, run_dir, *, resume, init_from, echo, progress) -> Path``."""
    summary: str
    """One line for --help and errors."""

    def _get(self, name: str) -> Callable:
        return getattr(importlib.import_module(f"cimgen.train.{self.module}"), name)

    def resolve_config(self, raw: dict) -> Any:
        return self._get("resolve_config")(raw)

    def finetune_config(self, ckpt_cfg: dict, raw: dict) -> Any:
        return self._get("finetune_config")(ckpt_cfg, raw)

    def run(self, cfg: Any, run_dir: Path, **kw) -> Path:
        return self._get(self.runner)(cfg, run_dir, **kw)


# The literal table of recipes; a checkpoint's config.json names one of these keys as "model".
RECIPES = {
    "pix2pixhd": RecipeEntry("pix2pixhd", "run_pix2pixhd", "label map -> image, multi-scale D, feature matching, VGG (global or local)"),
    "pix2pix": RecipeEntry("pix2pix", "run_pix2pix", "paired image -> image, U-Net G, PatchGAN D, L1 100"),
    "cyclegan": RecipeEntry("cyclegan", "run_cyclegan", "unpaired A <-> B, two G and two D, cycle and identity losses"),
}


# Checkpoints written by `cimgen import-official` name the official kind; these fine-tune with a recipe.
IMPORTED = {"pix2pixhd-global": "pix2pixhd", "pix2pixhd-local": "pix2pixhd", "junyanz-unet": "pix2pix", "junyanz-resnet": "pix2pix"}


def get_recipe(name: str) -> RecipeEntry:
    name = IMPORTED.get(name, name)
    if name not in RECIPES:
        raise CimgenError(f"unknown model '{name}'; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]
