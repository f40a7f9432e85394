"""``cimgen import-official`` / ``export-official``: official pix2pixHD and CycleGAN/pix2pix generator files <-> cimgen checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer


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
        min=0,
        max=4096,
        help="pix2pixHD: classes of the label maps, or 0 for a generator trained with the official --label_nc 0 (the map's RGB "
        "colours are its input) (default: 35 with instance edges when the input has 36 channels, as label2city; 0 when it has 3).",
    ),
    palette: Path = typer.Option(
        None,
        "--palette",
        help="pix2pixHD: palette JSON or built-in name (synth, cityscapes, buildings, google-maps) of the classes (default: "
        "Cityscapes' for 35 classes); with --label-nc 0, the classes edits snap the colour map to and draw back in.",
    ),
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
    cimgen import-official map2sat.pth --generator-b sat2map.pth --out runs/maps-cyclegan;
    cimgen import-official maps_label_nc0/latest_net_G.pth --label-nc 0 --palette google-maps --out runs/maps-hd (colour maps as input)
    """
    from cimgen.runs.official import import_official  # loaded on use, so `cimgen --help` does not load torch

    import_official(
        path,
        out,
        kind=kind,
        label_nc=label_nc,
        palette=palette,
        discriminator=discriminator,
        generator_b=generator_b,
        discriminator_b=discriminator_b,
        epoch=epoch,
        echo=typer.echo,
    )


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
    from cimgen.runs.official import export_official  # loaded on use, so `cimgen --help` does not load torch

    export_official(checkpoint, out, discriminator_out=discriminator_out, echo=typer.echo)
