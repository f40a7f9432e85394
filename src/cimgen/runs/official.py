"""Official pix2pixHD and junyanz CycleGAN/pix2pix files in, a cimgen checkpoint out (``import-official``), and back (``export-official``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import CONFIG_NAME, load_checkpoint, load_module, save_checkpoint
from cimgen.io.official import cyclegan_files, export_cyclegan, save_state_dict
from cimgen.kinds import COLOR_MAP_CHANNELS, CYCLEGAN
from cimgen.models.limits import check_checkpoint_config
from cimgen.models.official import (
    KINDS,
    build,
    config_class,
    config_dict,
    export_discriminator,
    export_generator,
    import_cyclegan,
    import_discriminator,
    import_generator,
    import_patchgan,
)
from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig
from cimgen.palette import CITYSCAPES_PALETTE, palette_from_option


def import_official(
    path: Path,
    out: Path,
    *,
    kind: str | None = None,
    label_nc: int | None = None,
    palette: Path | None = None,
    discriminator: Path | None = None,
    generator_b: Path | None = None,
    discriminator_b: Path | None = None,
    epoch: str = "latest",
    echo: Callable[[str], None] = print,
) -> Path:
    """Import an official generator file (with its discriminator), or a whole junyanz CycleGAN, as a cimgen checkpoint.

    Args:
        path: an official generator ``.pth``, or a junyanz CycleGAN checkpoint folder.
        out: the checkpoint folder to write; it must not hold a checkpoint yet.
        kind: one of ``cimgen.kinds.IMPORTED_GENERATOR_KINDS``; None infers it from the tensors.
        label_nc: pix2pixHD: classes of the label maps, 0 for colour maps as input (official ``--label_nc 0``); None infers
            35 classes from 35 or 36 input channels and colour maps from 3.
        palette: pix2pixHD: a built-in palette name or palette JSON of the classes (None: Cityscapes' for 35 classes); for
            colour maps, optional: the classes that edits snap the map to and draw back in.
        discriminator: the matching discriminator file (pix2pixHD multi-scale, or a junyanz PatchGAN/pixel D), or D_A.
        generator_b: CycleGAN: the generator of the other direction; ``path`` and it become G_A and G_B.
        discriminator_b: CycleGAN, with ``generator_b``: D_B.
        epoch: CycleGAN folder: which ``{epoch}_net_*.pth`` files to import.
        echo: where progress lines go.

    Returns:
        ``out``.
    """
    if (out / CONFIG_NAME).exists():
        raise CimgenError(f"{out} already holds a checkpoint; choose another --out folder")
    if path.is_dir() or generator_b is not None:
        if kind is not None or label_nc is not None or palette is not None:
            raise CimgenError("--kind, --label-nc and --palette are for single generator files; a CycleGAN's kind is inferred")
        return _import_cyclegan(path, out, generator_b, discriminator, discriminator_b, epoch, echo)
    if discriminator_b is not None:
        raise CimgenError("--discriminator-b is CycleGAN's D_B: give it with --generator-b")
    module, kind, config, dropped = import_generator(path, kind=kind)
    meta = {**config_dict(kind, config), "source": str(path)}
    if kind.startswith("pix2pixhd"):
        meta.update(label_options(config.in_channels, label_nc, palette))
        if meta.get("label_nc") == 0:
            echo(
                f"colour maps as input (label_nc 0, {config.in_channels} input channels)"
                + ("" if "palette" in meta else "; cimgen manipulate needs --palette to snap maps and draw edits back in colours")
            )
        if "label_nc" not in meta:
            echo("no --label-nc/--palette given: the checkpoint exports fine, but cimgen manipulate needs them (import again with both)")
    elif label_nc is not None or palette is not None:
        raise CimgenError(
            "--label-nc and --palette describe pix2pixHD label maps; a junyanz generator takes RGB images (a pix2pixHD global "
            "generator with 2 downsamplings looks like one: pass --kind pix2pixhd-global)"
        )
    tensors = {f"generator.{k}": v for k, v in module.state_dict().items()}
    if discriminator is not None and kind.startswith("pix2pixhd"):
        d_module, d_config, d_dropped = import_discriminator(discriminator)
        if d_config.in_channels != config.in_channels + 3:
            raise CimgenError(
                f"the discriminator takes {d_config.in_channels} input channels, but the generator's {config.in_channels} "
                f"inputs plus 3 image channels make {config.in_channels + 3}; they are not a pair"
            )
        meta["discriminator"] = asdict(d_config)
    elif discriminator is not None:
        d_module, d_name, d_config, d_dropped = import_patchgan(discriminator)
        meta["discriminator"] = {"name": d_name, "options": asdict(d_config)}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in d_module.state_dict().items()})
        dropped = dropped + d_dropped
        d_params = sum(p.numel() for p in d_module.parameters())
    save_checkpoint(out, meta, tensors)
    params = sum(p.numel() for p in module.parameters())
    echo(f"{kind}: {asdict(config)}; {params:,} parameters")
    if discriminator is not None:
        echo(f"discriminator: {meta['discriminator']}; {d_params:,} parameters")
    if dropped:
        echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    echo(f"checkpoint: {out}")
    return out


def _import_cyclegan(
    path: Path, out: Path, generator_b: Path | None, d_a: Path | None, d_b: Path | None, epoch: str, echo: Callable[[str], None]
) -> Path:
    if path.is_dir():
        if generator_b is not None or d_a is not None or d_b is not None:
            raise CimgenError(f"{path} is a folder: its files are the networks, so leave out --generator-b and the --discriminator options")
        files = cyclegan_files(path, epoch)
    else:
        files = {"G_A": path, "G_B": generator_b, "D_A": d_a, "D_B": d_b}
    config, tensors, dropped = import_cyclegan(files)
    save_checkpoint(out, config, tensors)
    for name in ("G_A", "G_B", "D_A", "D_B"):
        params = sum(v.numel() for k, v in tensors.items() if k.startswith(f"{name}.") and v.is_floating_point() and "running_" not in k)
        if params:
            spec = config["generator" if name.startswith("G") else "discriminator"]
            echo(f"{name}: {spec['name']} {spec['options']}; {params:,} parameters  ({files[name]})")
    if not any(k.startswith("D_A.") for k in tensors):
        echo("no discriminator files: fine-tuning starts D_A and D_B from scratch")
    if dropped:
        echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    echo(
        f"checkpoint: {out}  (next: cimgen finetune --from {out} --data DIR; cimgen translate --checkpoint {out} --direction BtoA --images DIR --out DIR)"
    )
    return out


def label_options(in_channels: int, label_nc: int | None, palette_file: Path | None) -> dict:
    """label_nc, edge_channels and palette of an imported pix2pixHD generator, so `cimgen manipulate` can drive it.

    Args:
        in_channels: the generator's input channels (classes, or 3 colour channels, plus one when it takes instance edges).
        label_nc: the number of classes, 0 for colour maps (official ``--label_nc 0``: the map's RGB colours are the
            input), or None to infer it: 35 classes from 35 or 36 input channels, colour maps from 3.
        palette_file: a built-in palette name or palette JSON, or None for Cityscapes' when there are 35 classes; optional
            for colour maps.

    Returns:
        The config entries, or an empty dict when nothing was given and nothing can be inferred.
    """
    if label_nc is None and in_channels == COLOR_MAP_CHANNELS:
        label_nc = 0  # official pix2pixHD's input_nc 3 is the colour image of --label_nc 0; 3 classes need --label-nc 3
    if label_nc == 0:
        edges = in_channels - COLOR_MAP_CHANNELS
        if edges not in (0, 1):
            raise CimgenError(
                f"the generator takes {in_channels} input channels; colour maps (--label-nc 0) give 3, or 4 with instance edges"
            )
        out = {"label_nc": 0, "edge_channels": edges}
        return {**out, "palette": palette_from_option(palette_file).to_dict()} if palette_file is not None else out
    if label_nc is None and palette_file is None and in_channels not in (35, 36):
        return {}  # usable for export, not for manipulate (load_generator says what is missing)
    if label_nc is None:
        label_nc = in_channels - 1 if in_channels == 36 else in_channels
    edges = in_channels - label_nc
    if edges not in (0, 1):
        raise CimgenError(
            f"the generator takes {in_channels} input channels: --label-nc must be {in_channels} or {in_channels - 1} (with instance edges)"
        )
    if palette_file is not None:
        palette = palette_from_option(palette_file)
    elif label_nc == CITYSCAPES_PALETTE.num_classes:
        palette = CITYSCAPES_PALETTE
    else:
        raise CimgenError(f"name the palette of the {label_nc} classes with --palette (a JSON file with names and colours)")
    if palette.num_classes != label_nc:
        raise CimgenError(f"the palette has {palette.num_classes} classes but --label-nc is {label_nc}")
    return {"label_nc": label_nc, "edge_channels": edges, "palette": palette.to_dict()}


CIMGEN_ONLY = {
    "a position code": lambda g: bool(g.get("position_frequencies")),
    "context input": lambda g: bool(g.get("context")),
    "a detail code": lambda g: bool(g.get("detail_channels")),
    "resize-convolution upsampling": lambda g: g.get("upsample", "transpose") != "transpose",
}
"""Generator settings official pix2pixHD has no counterpart for (models/pix2pixhd.py), by what a message calls them."""


def export_official(
    checkpoint: Path, out: Path, *, discriminator_out: Path | None = None, echo: Callable[[str], None] = print
) -> list[Path]:
    """Export an imported generator (and its discriminator) as official ``.pth`` files, or a CycleGAN as a junyanz folder.

    Args:
        checkpoint: a checkpoint written by ``import_official``, or any CycleGAN checkpoint.
        out: the ``.pth`` file to write (for a CycleGAN: a folder for ``latest_net_*.pth``).
        discriminator_out: also write the checkpoint's discriminator here, as an official ``latest_net_D.pth``.
        echo: where progress lines go.

    Returns:
        The files written.
    """
    config, tensors = load_checkpoint(checkpoint)
    check_checkpoint_config(config, str(checkpoint))
    kind = config.get("model")
    if kind == CYCLEGAN:
        if discriminator_out is not None:
            raise CimgenError("a CycleGAN goes out as one folder with all four networks; leave out --discriminator-out")
        if out.suffix == ".pth":
            raise CimgenError(f"a CycleGAN goes out as a folder of {{epoch}}_net_*.pth files; name a folder, not {out}")
        written = export_cyclegan(tensors, out)
        for file in written:
            echo(f"official-format network: {file}")
        return written
    if kind not in KINDS:
        raise CimgenError(f"{checkpoint} holds a '{kind}' model; export-official takes {', '.join(KINDS)} or cyclegan checkpoints")
    gen = config["generator"]
    extras = [name for name, on in CIMGEN_ONLY.items() if on(gen)]
    if extras:
        raise CimgenError(
            f"{checkpoint}'s generator has cimgen-only parts ({', '.join(extras)}) that official pix2pixHD cannot load; "
            "export the checkpoint it was fine-tuned from, or one fine-tuned with --finetune-recipe windows"
        )
    module = build(kind, config_class(kind)(**gen))
    load_module(module, tensors, "generator", source=str(checkpoint))
    written = [export_generator(module, out)]
    echo(f"official-format generator: {written[0]}")
    if discriminator_out is not None:
        if "discriminator" not in config or not any(k.startswith("discriminator.") for k in tensors):
            raise CimgenError(f"{checkpoint} holds no discriminator; import one with --discriminator first")
        d = config["discriminator"]
        if "name" in d:  # a junyanz D keeps the official names: its tensors go back as they were imported
            d_file = save_state_dict(
                {k.removeprefix("discriminator."): v for k, v in tensors.items() if k.startswith("discriminator.")}, discriminator_out
            )
        else:
            d_module = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(**d))
            load_module(d_module, tensors, "discriminator", source=str(checkpoint))
            d_file = export_discriminator(d_module, discriminator_out)
        written.append(d_file)
        echo(f"official-format discriminator: {d_file}")
    return written
