"""``cimgen import-official`` / ``export-official``: official pix2pixHD and CycleGAN/pix2pix generator files <-> cimgen checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.errors import CimgenError


def import_cmd(
    path: Path = typer.Argument(..., help="An official generator file, e.g. checkpoints/label2city_1024p/latest_net_G.pth."),
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
) -> None:
    """Import an official generator: loaded without running code, architecture inferred from shapes, loaded strictly.

    Example: cimgen import-official latest_net_G.pth --out runs/label2city-1024p
    """
    from dataclasses import asdict

    from cimgen.io.checkpoints import CONFIG_NAME, save_checkpoint
    from cimgen.io.official import config_dict, import_generator

    if (out / CONFIG_NAME).exists():
        raise CimgenError(f"{out} already holds a checkpoint; choose another --out folder")
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
    save_checkpoint(out, meta, {f"generator.{k}": v for k, v in module.state_dict().items()})
    params = sum(p.numel() for p in module.parameters())
    typer.echo(f"{kind}: {asdict(config)}; {params:,} parameters")
    if dropped:
        typer.echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    typer.echo(f"checkpoint: {out}")


def _label_options(in_channels: int, label_nc: int | None, palette_file: Path | None) -> dict:
    """label_nc, edge_channels and palette of an imported pix2pixHD generator, so `cimgen manipulate` can drive it."""
    from cimgen.data.palette import CITYSCAPES_PALETTE, Palette

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
    out: Path = typer.Option(..., "--out", help="The .pth file to write, in the official format and names."),
) -> None:
    """Export an imported generator back to the official ``.pth`` format (a plain state dict, official names).

    Example: cimgen export-official runs/label2city-1024p --out latest_net_G.pth
    """
    from cimgen.io.checkpoints import load_checkpoint, load_module
    from cimgen.io.official import KINDS, build, config_class, export_generator

    config, tensors = load_checkpoint(checkpoint)
    kind = config.get("model")
    if kind not in KINDS:
        raise CimgenError(f"{checkpoint} holds a '{kind}' model; export-official takes {', '.join(KINDS)} checkpoints")
    module = build(kind, config_class(kind)(**config["generator"]))
    load_module(module, tensors, "generator", source=str(checkpoint))
    typer.echo(f"official-format generator: {export_generator(module, out)}")
