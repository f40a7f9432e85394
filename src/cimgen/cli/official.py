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
    save_checkpoint(out, {**config_dict(kind, config), "source": str(path)}, {f"generator.{k}": v for k, v in module.state_dict().items()})
    params = sum(p.numel() for p in module.parameters())
    typer.echo(f"{kind}: {asdict(config)}; {params:,} parameters")
    if dropped:
        typer.echo(f"dropped {len(dropped)} stale normalisation statistics (e.g. {dropped[0]})")
    typer.echo(f"checkpoint: {out}")


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
