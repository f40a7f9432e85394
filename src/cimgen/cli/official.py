"""``cimgen import-official`` / ``export-official``: official pix2pixHD and CycleGAN/pix2pix generator files <-> cimgen checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.errors import CimgenError


def import_cmd(
    path: Path = typer.Argument(
        ...,
        help="An official generator file, e.g. checkpoints/label2city_1024p/latest_net_G.pth, or a junyanz CycleGAN checkpoint "
        "folder holding {epoch}_net_G_A/G_B[/D_A/D_B].pth.",
    ),
    out: Path = typer.Option(..., "--out", help="cimgen checkpoint folder to write (config.json + weights.safetensors)."),
    kind: str = typer.Option(
        None, "--kind", help="pix2pixhd-global, pix2pixhd-local, junyanz-resnet or junyanz-unet (default: inferred from the tensors)."
    ),
    label_nc: int = typer.Option(
        None,
        "--label-nc",
        help="pix2pixHD: classes of the label maps (default: 35 with instance edges when the input has 36 channels, as label2city).",
    ),
    palette: Path = typer.Option(None, "--palette", help="pix2pixHD: palette JSON of the classes (default: Cityscapes' for 35 classes)."),
    discriminator: Path = typer.Option(
        None,
        "--discriminator",
        help="The matching latest_net_D.pth (pix2pixHD multi-scale, or a junyanz PatchGAN/pixel D), imported too so that fine-tuning starts from it.",
    ),
    generator_b: Path = typer.Option(
        None,
        "--generator-b",
        help="CycleGAN: the generator of the other direction (e.g. sat2map.pth beside map2sat.pth); PATH and it become G_A and G_B.",
    ),
    discriminator_b: Path = typer.Option(None, "--discriminator-b", help="CycleGAN, with --generator-b: D_B (--discriminator is D_A)."),
    epoch: str = typer.Option("latest", "--epoch", help="CycleGAN folder: which {epoch}_net_*.pth files to import."),
) -> None:
    """Import an official generator (and discriminator), or a whole junyanz CycleGAN: loaded without running code,
    architecture inferred, loaded strictly.

    Examples: cimgen import-official latest_net_G.pth --out runs/label2city-1024p;
    cimgen import-official checkpoints/maps_cyclegan --out runs/maps-cyclegan (G_A, G_B, D_A, D_B);
    cimgen import-official map2sat.pth --generator-b sat2map.pth --out runs/maps-cyclegan
    """
    from dataclasses import asdict

    from cimgen.io.checkpoints import CONFIG_NAME, save_checkpoint
    from cimgen.io.official import config_dict, import_generator

    if (out / CONFIG_NAME).exists():
        raise CimgenError(f"{out} already holds a checkpoint; choose another --out folder")
    if path.is_dir() or generator_b is not None:
        if kind is not None or label_nc is not None or palette is not None:
            raise CimgenError("--kind, --label-nc and --palette are for single generator files; a CycleGAN's kind is inferred")
        _import_cyclegan(path, out, generator_b, discriminator, discriminator_b, epoch)
        return
    if discriminator_b is not None:
        raise CimgenError("--discriminator-b is CycleGAN's D_B: give it with --generator-b")
    module, kind, config, dropped = import_generator(path, kind=kind)
    meta = {**config_dict(kind, config), "source": str(path)}
    if kind.startswith("pix2pixhd"):
        meta.update(_label_options(config.in_channels, label_nc, palette))
        if "label_nc" not in meta:
            typer.echo(
                "no --label-nc/--palette given: the checkpoint exports fine, but cimgen manipulate needs them (import again with both)"
            )
    elif label_nc is not None or palette is not None:
        raise CimgenError("--label-nc and --palette describe pix2pixHD label maps; a junyanz generator takes RGB images")
    tensors = {f"generator.{k}": v for k, v in module.state_dict().items()}
    if discriminator is not None and kind.startswith("pix2pixhd"):
        from cimgen.io.official import import_discriminator

        d_module, d_config, d_dropped = import_discriminator(discriminator)
        if d_config.in_channels != config.in_channels + 3:
            raise CimgenError(
                f"the discriminator takes {d_config.in_channels} input channels, but the generator's {config.in_channels} "
                f"inputs plus 3 image channels make {config.in_channels + 3}; they are not a pair"
            )
        meta["discriminator"] = asdict(d_config)
    elif discriminator is not None:
        from cimgen.io.official import import_patchgan

        d_module, d_name, d_config, d_dropped = import_patchgan(discriminator)
        meta["discriminator"] = {"name": d_name, "options": asdict(d_config)}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in d_module.state_dict().items()})
        dropped = dropped + d_dropped
        d_params = sum(p.numel() for p in d_module.parameters())
    save_checkpoint(out, meta, tensors)
    params = sum(p.numel() for p in module.parameters())
    typer.echo(f"{kind}: {asdict(config)}; {params:,} parameters")
    if discriminator is not None:
        typer.echo(f"discriminator: {meta['discriminator']}; {d_params:,} parameters")
    if dropped:
        typer.echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    typer.echo(f"checkpoint: {out}")


def _import_cyclegan(path: Path, out: Path, generator_b: Path | None, d_a: Path | None, d_b: Path | None, epoch: str) -> None:
    from cimgen.io.checkpoints import save_checkpoint
    from cimgen.io.official import cyclegan_files, import_cyclegan

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
            typer.echo(f"{name}: {spec['name']} {spec['options']}; {params:,} parameters  ({files[name]})")
    if not any(k.startswith("D_A.") for k in tensors):
        typer.echo("no discriminator files: fine-tuning starts D_A and D_B from scratch")
    if dropped:
        typer.echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    typer.echo(
        f"checkpoint: {out}  (next: cimgen finetune --from {out} --data DIR; cimgen translate --checkpoint {out} --direction BtoA --images DIR --out DIR)"
    )


def _label_options(in_channels: int, label_nc: int | None, palette_file: Path | None) -> dict:
    """label_nc, edge_channels and palette of an imported pix2pixHD generator, so `cimgen manipulate` can drive it."""
    from cimgen.palette import CITYSCAPES_PALETTE, Palette

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
        palette = Palette.load(palette_file)
    elif label_nc == CITYSCAPES_PALETTE.num_classes:
        palette = CITYSCAPES_PALETTE
    else:
        raise CimgenError(f"name the palette of the {label_nc} classes with --palette (a JSON file with names and colours)")
    if palette.num_classes != label_nc:
        raise CimgenError(f"the palette has {palette.num_classes} classes but --label-nc is {label_nc}")
    return {"label_nc": label_nc, "edge_channels": edges, "palette": palette.to_dict()}


def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `cimgen import-official`."),
    out: Path = typer.Option(
        ..., "--out", help="The .pth file to write, in the official format and names (for a CycleGAN: a folder for latest_net_*.pth)."
    ),
    discriminator_out: Path = typer.Option(
        None, "--discriminator-out", help="Also write the checkpoint's pix2pixHD discriminator as an official latest_net_D.pth."
    ),
) -> None:
    """Export an imported generator back to the official ``.pth`` format (a plain state dict, official names), or a
    CycleGAN (imported or trained by cimgen) as a junyanz checkpoint folder.

    Example: cimgen export-official runs/label2city-1024p --out latest_net_G.pth
    """
    from cimgen.io.checkpoints import load_checkpoint, load_module
    from cimgen.io.official import KINDS, build, config_class, export_generator

    config, tensors = load_checkpoint(checkpoint)
    kind = config.get("model")
    if kind == "cyclegan":
        from cimgen.io.official import export_cyclegan

        if discriminator_out is not None:
            raise CimgenError("a CycleGAN goes out as one folder with all four networks; leave out --discriminator-out")
        if out.suffix == ".pth":
            raise CimgenError(f"a CycleGAN goes out as a folder of {{epoch}}_net_*.pth files; name a folder, not {out}")
        for written in export_cyclegan(tensors, out):
            typer.echo(f"official-format network: {written}")
        return
    if kind not in KINDS:
        raise CimgenError(f"{checkpoint} holds a '{kind}' model; export-official takes {', '.join(KINDS)} or cyclegan checkpoints")
    module = build(kind, config_class(kind)(**config["generator"]))
    load_module(module, tensors, "generator", source=str(checkpoint))
    typer.echo(f"official-format generator: {export_generator(module, out)}")
    if discriminator_out is not None:
        from cimgen.io.official import export_discriminator
        from cimgen.models.pix2pixhd import MultiscaleDiscriminator, MultiscaleDiscriminatorConfig

        if "discriminator" not in config or not any(k.startswith("discriminator.") for k in tensors):
            raise CimgenError(f"{checkpoint} holds no discriminator; import one with --discriminator first")
        d = config["discriminator"]
        if "name" in d:  # a junyanz D keeps the official names: its tensors go back as they were imported
            from cimgen.io.official import save_state_dict

            written = save_state_dict(
                {k.removeprefix("discriminator."): v for k, v in tensors.items() if k.startswith("discriminator.")}, discriminator_out
            )
        else:
            d_module = MultiscaleDiscriminator(MultiscaleDiscriminatorConfig(**d))
            load_module(d_module, tensors, "discriminator", source=str(checkpoint))
            written = export_discriminator(d_module, discriminator_out)
        typer.echo(f"official-format discriminator: {written}")
