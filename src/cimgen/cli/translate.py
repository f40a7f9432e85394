"""``cimgen translate``: run a trained CycleGAN (either direction) or pix2pix generator on images, e.g. photo -> map."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.cli.bounds import device_option
from cimgen.errors import CimgenError


def translate_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A cyclegan or pix2pix checkpoint (or run folder)."),
    images: Path = typer.Option(..., "--images", help="An image file, or a folder of images."),
    out: Path = typer.Option(..., "--out", help="Output folder (one PNG per input, same name)."),
    direction: str = typer.Option(
        None, "--direction", help="AtoB (G_A) or BtoA (G_B); default AtoB for CycleGAN, the trained one for pix2pix."
    ),
    device: str = typer.Option("cpu", "--device", callback=device_option, help="cpu or cuda."),
) -> None:
    """Translate images with a trained CycleGAN or pix2pix generator, keeping each image's size.

    Both CycleGAN directions are usable: a maps model trained with photos as A and maps as B
    turns a photo into a map with --direction AtoB, and a map into a photo with BtoA.

    Example: cimgen translate --checkpoint runs/maps-cyclegan --direction AtoB --images photos/ --out runs/maps-from-photos
    """
    from tqdm.auto import tqdm

    from cimgen.generators import check_input_size, load_image_generator, translate
    from cimgen.io.images import list_images, read_image, write_image
    from cimgen.train.runtime import resolve_device

    if not images.exists():
        raise CimgenError(f"{images} does not exist")
    files = [images] if images.is_file() else list_images(images)
    if not files:
        raise CimgenError(f"{images} holds no images")
    generator = load_image_generator(checkpoint, direction, resolve_device(device))
    targets = [out / f"{f.stem}.png" for f in files]
    clash = next((t for t in targets if t.exists()), None)
    if clash is not None:
        raise CimgenError(f"{clash} already exists; choose another --out folder")
    pictures = [read_image(f) for f in files]  # every input is checked before anything is written
    for f, picture in zip(files, pictures):
        check_input_size(generator, *picture.shape[:2], what=str(f))
    for picture, target in tqdm(list(zip(pictures, targets)), desc="translate", unit="image", disable=len(files) < 2):
        write_image(target, translate(generator, picture))
    typer.echo(f"translated {len(files)} image(s) -> {out}")
