"""``cimgen train`` and ``cimgen finetune``: training and fine-tuning runs of every recipe (pix2pixHD, pix2pix, CycleGAN)."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from cimgen.cli.bounds import EPOCHS
from cimgen.config import load_yaml, merge, parse_override, to_dict
from cimgen.errors import CimgenError
from cimgen.runs.options import FINETUNE_DETAIL, FINETUNE_POSITION, FINETUNE_RECIPES, MEMORISE


def _overrides(
    config: Path | None, sets: list[str], data: Path | None, epochs: int | None, decay_epochs: int | None, *, base: dict | None = None
) -> dict:
    """The run's options: ``base`` (a resumed run's saved config), then --config, then the flags."""
    raw = merge(base or {}, load_yaml(config) if config else {})
    for s in sets:
        raw = merge(raw, parse_override(s))
    if data is not None:
        raw = merge(raw, {"data": {"root": str(data)}})
    if epochs is not None:
        raw = merge(raw, {"loop": {"epochs": epochs}})
    if decay_epochs is not None:
        raw = merge(raw, {"loop": {"decay_epochs": decay_epochs}})
    return raw


# Keys a run writes into its config.yaml beside the typed options, which are not options themselves.
RUN_NOTES = ("model", "init_from", "vgg_loss", "target")


def _saved_options(out: Path) -> dict:
    saved = load_yaml(out / "config.yaml") if (out / "config.yaml").is_file() else {}
    return {k: v for k, v in saved.items() if k not in RUN_NOTES}


def _say(text: str) -> None:
    from cimgen.train.runtime import is_main_process

    if is_main_process():  # under torchrun, one process speaks
        typer.echo(text)


MEMORY_HELP = (
    "Measure the peak memory of two training steps on the first batch of the data, on this machine's device, "
    "print it and exit; nothing is written (no --out needed)."
)


def _precision_note(loop) -> str:
    """A YAML comment saying which precision the run will compute in on this machine, and why."""
    from cimgen.train.runtime import precision_note

    return "# " + precision_note(loop.precision, loop.device)


def _measure(recipe, cfg, name: str, **kw) -> None:
    """``--memory``: the run's networks and data, two training steps, the peak printed (on a CPU: eager, bf16 for fp16)."""
    import dataclasses

    import torch

    loop = cfg.loop
    if loop.device != "cpu" and not torch.cuda.is_available():
        if loop.device != "auto":
            typer.echo(f"CUDA is not available here; measuring on the CPU instead of {loop.device}")
        loop = dataclasses.replace(loop, device="cpu")
    if loop.compile and loop.device == "cpu":
        typer.echo("measuring without torch.compile: the CPU count follows eager operations")
        loop = dataclasses.replace(loop, compile=False)
    cfg = dataclasses.replace(cfg, loop=loop)
    typer.echo(f"measuring {name}: two training steps at batch size {loop.batch_size}, {loop.precision}...")
    report = recipe.run(cfg, Path("."), progress=False, measure_memory=True, **kw)
    for line in report.lines():
        typer.echo(line)


def train_cmd(
    out: Path = typer.Option(None, "--out", help="Run folder to create (config, log, stats, TensorBoard, samples, checkpoints)."),
    config: Path = typer.Option(None, "--config", help="YAML config (see configs/); its 'model' key picks the recipe."),
    model: str = typer.Option(None, "--model", help="Recipe: pix2pixhd (default), pix2pix or cyclegan."),
    data: Path = typer.Option(None, "--data", help="Dataset folder (overrides data.root)."),
    sets: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set loop.batch_size=4 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", **EPOCHS, help="Epochs at the initial learning rate."),
    decay_epochs: int = typer.Option(None, "--decay-epochs", **EPOCHS, help="Epochs of learning-rate decay."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its newest checkpoint (weights, optimisers, epoch, random state)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    memory: bool = typer.Option(False, "--memory", help=MEMORY_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a model from scratch: pix2pixHD on (map, image) pairs, pix2pix on aligned pairs, CycleGAN on unpaired folders.

    Multi-GPU or multi-process: launch the same command with torchrun, e.g.
    torchrun --nproc_per_node 4 -m cimgen train --config configs/pix2pixhd_cityscapes_512p.yaml --out runs/city

    Will it fit on the GPU? cimgen train --config configs/pix2pixhd_1024x512_local_8gb.yaml --data datasets/cityscapes --memory

    Example: cimgen train --config configs/synth_pretrain.yaml --out runs/synth-pretrain

    Colour maps as input (official --label_nc 0; Google-map renders): cimgen train --config
    configs/pix2pixhd_map2sat_colours.yaml --data datasets/maps/train --out runs/map2sat-colours
    """
    from cimgen.io.checkpoints import has_checkpoint, read_config
    from cimgen.runs.startup import FailedStartCleanup
    from cimgen.train.recipes import get_recipe

    _check_run_flags(out, resume, memory, dry_run)

    saved = _saved_options(out) if resume else None
    raw = _overrides(config, sets, data, epochs, decay_epochs, base=saved)
    config_model = raw.pop("model", None)
    name = model or config_model
    if resume and has_checkpoint(out):
        ckpt_model = read_config(out).get("model")
        if name and name != ckpt_model:
            raise CimgenError(f"{out} holds a {ckpt_model} run, not {name}")
        name = ckpt_model
    recipe = get_recipe(name or "pix2pixhd")
    cfg = recipe.resolve_config(raw)
    if dry_run:
        typer.echo(yaml.safe_dump({"model": name or "pix2pixhd", **to_dict(cfg)}, sort_keys=False), nl=False)
        typer.echo(_precision_note(cfg.loop))
        return
    if memory:
        _measure(recipe, cfg, name or "pix2pixhd")
        return
    with FailedStartCleanup(out, resume=resume):
        last = recipe.run(cfg, out, resume=resume, progress=not quiet)
    _say(f"done; newest checkpoint: {last}; run folder: {out}")


def finetune_cmd(
    init: Path = typer.Option(
        ...,
        "--from",
        help="Checkpoint folder (or run folder) to start from; 'shipped' or 'shipped-resize' for the shipped generators "
        "(transposed or resize-convolution upsampling).",
    ),
    out: Path = typer.Option(None, "--out", help="Run folder to create."),
    data: Path = typer.Option(None, "--data", help="The small dataset folder (overrides data.root)."),
    target_image: Path = typer.Option(
        None, "--target-image", help="Fine-tune on this one image (with --target-map): the manipulation use case."
    ),
    target_map: Path = typer.Option(None, "--target-map", help="The label map of --target-image (ids or palette colours)."),
    recipe_name: str = typer.Option(
        MEMORISE,
        "--recipe",
        help="With --target-image: memorise (the whole image every step, no flips, L1 100, a position code; images up to "
        "1024 px a side) or windows (random crops of data.crop_size, the recipe before).",
    ),
    position: int = typer.Option(
        FINETUNE_POSITION, "--position", min=0, max=16, help="With --recipe memorise: octaves of the position code (0: none)."
    ),
    detail: int = typer.Option(
        FINETUNE_DETAIL,
        "--detail",
        min=0,
        max=64,
        help="With --recipe memorise: channels of a learnable detail code for the image (0: none).",
    ),
    config: Path = typer.Option(
        None, "--config", help="YAML with data/optim/loss/loop options; the architecture comes from the checkpoint."
    ),
    sets: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set loop.epochs=50 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", **EPOCHS, help="Epochs at the initial learning rate."),
    decay_epochs: int = typer.Option(None, "--decay-epochs", **EPOCHS, help="Epochs of learning-rate decay."),
    resume: bool = typer.Option(False, "--resume", help="Continue the fine-tuning run in --out."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    memory: bool = typer.Option(False, "--memory", help=MEMORY_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fine-tune a pretrained checkpoint of any recipe on a small set (the paper's "smalldata"), or on one target pair.

    With --target-image and --target-map (pix2pixHD), the generator memorises that one pair
    (--recipe memorise, the default, as cimgen manipulate --finetune does: the whole image every
    step, no flips, an L1 term and a position code added through zero weights, for the steps it takes
    for the image's size unless --epochs or --decay-epochs are given); --recipe windows
    trains on random crops of data.crop_size instead. Options given in --config or --set win.

    Example: cimgen finetune --from runs/synth-pretrain --data data/small --out runs/small --epochs 100

    Example: cimgen finetune --from runs/synth-pretrain --target-image photo.png --target-map map.png --out runs/one --epochs 600
    """
    from cimgen.generators import named_checkpoint
    from cimgen.io.checkpoints import read_config
    from cimgen.models.limits import check_checkpoint_config
    from cimgen.runs.finetune import resumed_generator_config, target_pair_setup
    from cimgen.runs.startup import FailedStartCleanup
    from cimgen.train.recipes import get_recipe

    init = named_checkpoint(init)  # a folder, or 'shipped' / 'shipped-resize'
    _check_run_flags(out, resume, memory, dry_run)
    cleanup = FailedStartCleanup(out, resume=resume)  # before --target-image's pair is copied into the folder
    if memory and target_image is not None:
        raise CimgenError(
            "--memory measures a run on --data; with --target-image the batch is one crop of data.crop_size, so measure with --data"
        )
    ckpt_cfg = read_config(init)
    check_checkpoint_config(ckpt_cfg, str(init))
    recipe = get_recipe(ckpt_cfg.get("model", "?"))
    saved, init_checkpoint = None, None
    if resume and (out / "config.yaml").is_file():
        saved = {
            k: v for k, v in _saved_options(out).items() if k not in ("generator", "local_enhancer", "discriminator", "generator_type")
        }
    raw = _overrides(config, sets, data, epochs, decay_epochs, base=saved)
    raw.pop("model", None)
    if (target_image is None) != (target_map is None):
        raise CimgenError("give both --target-image and --target-map, or neither")
    if recipe_name not in FINETUNE_RECIPES:
        raise CimgenError(f"unknown recipe '{recipe_name}'; choose {' or '.join(FINETUNE_RECIPES)}")
    if target_image is not None:
        if recipe is not get_recipe("pix2pixhd"):
            raise CimgenError("--target-image/--target-map fine-tune pix2pixHD checkpoints; for other models use --data")
        if data is not None:
            raise CimgenError("give either --data or --target-image/--target-map, not both")
        if resume and (out / "config.yaml").is_file():
            raise CimgenError(
                f"{out} already fine-tunes on its target pair (copied into {out / 'target'}); resume it without --target-image/--target-map"
            )
        raw, init_checkpoint = target_pair_setup(
            init, ckpt_cfg, raw, target_image, target_map, out, recipe=recipe_name, position=position, detail=detail,
            write=not dry_run and not resume, say=_say,
        )  # fmt: skip
        ckpt_cfg = init_checkpoint[0] if init_checkpoint is not None else ckpt_cfg
    elif resume and saved is not None:
        ckpt_cfg = resumed_generator_config(ckpt_cfg, out)
    if not raw.get("data", {}).get("root"):
        raise CimgenError("name the small dataset with --data (or data.root in --config), or a pair with --target-image/--target-map")
    with cleanup:  # a bad option found here leaves no copied target pair behind
        cfg = recipe.finetune_config(ckpt_cfg, raw)
    if dry_run:
        typer.echo(yaml.safe_dump({"model": ckpt_cfg["model"], **to_dict(cfg)}, sort_keys=False), nl=False)
        typer.echo(_precision_note(cfg.loop))
        return
    if memory:
        _measure(recipe, cfg, f"fine-tuning of {init}", init_from=init)
        return
    with cleanup:
        extra = {"init_checkpoint": init_checkpoint} if init_checkpoint is not None else {}
        last = recipe.run(cfg, out, resume=resume, init_from=init, progress=not quiet, **extra)
    _say(f"done; newest checkpoint: {last}; run folder: {out}")


def _check_run_flags(out: Path | None, resume: bool, memory: bool, dry_run: bool) -> None:
    if memory and resume:
        raise CimgenError("--memory measures a new run's training step; drop --resume")
    if memory and dry_run:
        raise CimgenError("give --memory or --dry-run, not both")
    if out is None and not memory:
        raise CimgenError("name the run folder to create with --out")
