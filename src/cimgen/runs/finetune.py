"""``cimgen finetune --target-image``: fine-tuning one (image, map) pair, set up from files.

The pair is copied into the run folder (``out/target``) so the run records what it learnt; with the
``memorise`` recipe the checkpoint gets its position and detail codes (``runs.manipulate.memorising_checkpoint``,
the one set-up ``cimgen manipulate --finetune`` uses too) and the recipe's data, loss and optimiser options, and its
steps (``runs.options.memorise_steps``) unless the run names its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cimgen.config import load_yaml, merge
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint
from cimgen.io.images import image_size, read_image, read_label_map, write_image, write_label_map
from cimgen.palette import Palette, check_labels
from cimgen.runs.manipulate import MEMORISE_DATA, MEMORISE_LOSS, MEMORISE_OPTIM, memorising_checkpoint
from cimgen.runs.options import MEMORISE, MEMORISE_MAX_SIDE, decay_split, memorise_steps
from cimgen.textfiles import json_text

GROWN = ("position_frequencies", "context", "detail_channels", "detail_scale", "detail_smooth", "detail_height", "detail_width", "upsample")
"""Generator settings a memorising run adds to its checkpoint's; a resumed run builds its generator with them."""


def target_data(ckpt_cfg: dict, image_path: Path, map_path: Path, out: Path, data: dict, *, write: bool) -> dict:
    """Data options for fine-tuning on one (image, map) pair, copied into ``out/target`` (when ``write``)."""
    if (out / "config.yaml").exists() or (out / "checkpoints").exists():
        raise CimgenError(f"{out} already holds a run; pass --resume to continue it or choose another --out folder")
    if ckpt_cfg.get("label_nc") == 0:
        raise CimgenError(
            "--target-image fine-tunes on a label map; this checkpoint takes colour maps (label_nc 0): give colour-map pairs with --data"
        )
    palette = Palette.from_dict(ckpt_cfg["palette"])
    image = read_image(image_path)
    labels = read_label_map(map_path, palette=palette)
    if labels.shape != image.shape[:2]:
        raise CimgenError(f"the target image is {image.shape[1]}x{image.shape[0]} but its map is {labels.shape[1]}x{labels.shape[0]}")
    check_labels(labels, ckpt_cfg["label_nc"], source=f"map {map_path}")
    side = min(labels.shape)
    crop = data.get("crop_size", min(256, side - side % 16))
    root = out / "target"
    if write:
        write_image(root / "images" / f"{image_path.stem}.png", image)
        write_label_map(root / "labels" / f"{image_path.stem}.png", labels)
        (root / "palette.json").write_text(json_text(palette.to_dict(), indent=None))
    return {"root": str(root), "format": "folders", "crop_size": crop}


def target_pair_setup(
    init: Path,
    ckpt_cfg: dict,
    raw: dict,
    target_image: Path,
    target_map: Path,
    out: Path,
    *,
    recipe: str,
    position: int,
    detail: int,
    write: bool,
    say: Callable[[str], None] = print,
) -> tuple[dict, tuple[dict, dict] | None]:
    """The run's raw options for fine-tuning ``init`` (whose config is ``ckpt_cfg``) on one pair, and, for the
    ``memorise`` recipe, the checkpoint to start from (codes added); None: start from ``init`` as it is.

    Options in ``raw`` (the user's --config and --set) win over the recipe's; the pair's default crop does not. Memorising
    takes ``memorise_steps`` steps of the image's size, the last quarter decaying, unless ``raw`` gives ``loop.epochs`` or
    ``loop.decay_epochs``.
    """
    if "palette" not in ckpt_cfg:
        raise CimgenError(f"{init} has no palette; import it again with --label-nc and --palette")
    user_data = dict(raw.get("data", {}))
    raw = merge(raw, {"data": target_data(ckpt_cfg, target_image, target_map, out, raw.get("data", {}), write=write)})
    shape = image_size(target_image)
    if recipe == MEMORISE and max(shape) > MEMORISE_MAX_SIDE:
        say(f"the target image is over {MEMORISE_MAX_SIDE} pixels a side: random crops instead of memorising it whole")
        return raw, None
    if recipe != MEMORISE:
        return raw, None
    if user_data.get("crop_size") and detail:  # a detail code is for the whole image, not for crops of it
        say(f"data.crop_size {user_data['crop_size']}: crops of the image, so no detail code (it covers the whole image)")
        detail = 0
    start = memorising_checkpoint(load_checkpoint(init), position=position, detail=detail, shape=shape)
    mine = {k: v for k, v in MEMORISE_DATA.items() if k not in user_data}
    raw = merge({"loss": MEMORISE_LOSS, "optim": MEMORISE_OPTIM}, merge(raw, {"data": mine}))
    loop = raw.get("loop", {})
    if "epochs" not in loop and "decay_epochs" not in loop:  # the recipe's steps, as cimgen manipulate --finetune takes them
        steps = memorise_steps(*shape)
        epochs, decay = decay_split(steps)
        raw = merge(raw, {"loop": {"epochs": epochs, "decay_epochs": decay}})
        say(
            f"memorising for {steps} whole-image steps, the last {decay} with the learning rate decaying (the recipe's for a "
            f"{shape[1]}x{shape[0]} image; --epochs and --decay-epochs set others)"
        )
    return raw, start


def resumed_generator_config(ckpt_cfg: dict, out: Path) -> dict:
    """``ckpt_cfg`` with the generator settings a memorising run in ``out`` added (its checkpoints hold a position
    code and a detail code the original checkpoint has not), so that resuming builds that generator."""
    run_cfg = load_yaml(out / "config.yaml") if (out / "config.yaml").is_file() else {}
    if "generator" not in run_cfg:
        return ckpt_cfg
    grown = {k: run_cfg["generator"][k] for k in GROWN if k in run_cfg["generator"]}
    return {**ckpt_cfg, "generator": {**ckpt_cfg["generator"], **grown}}
