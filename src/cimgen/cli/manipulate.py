"""``cimgen manipulate``: edit a map, render it with a generator, blend into the image, write a report."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.errors import CimgenError


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``x0,y0,x1,y1`` -> a tuple of ints."""
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CimgenError(f"box '{text}' must be four integers x0,y0,x1,y1") from None
    if len(vals) != 4:
        raise CimgenError(f"box '{text}' must be four integers x0,y0,x1,y1")
    return vals  # type: ignore[return-value]


def manipulate_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Fine-tuned generator checkpoint (or run folder)."),
    image: Path = typer.Option(..., "--image", help="The original image."),
    map_path: Path = typer.Option(..., "--map", help="Its semantic map: label ids, or colours of the checkpoint's palette."),
    out: Path = typer.Option(..., "--out", help="Folder for result.png, the other pictures, metrics.json and report.html."),
    remove: str = typer.Option(None, "--remove", help="Remove the objects of this class (name or id) inside --box."),
    replace: str = typer.Option(None, "--replace", help="SRC:DST, relabel class SRC as DST inside --box or --mask."),
    box: str = typer.Option(None, "--box", help="Region x0,y0,x1,y1 in pixels (x1, y1 exclusive)."),
    mask: Path = typer.Option(None, "--mask", help="Region as a mask image (non-zero = inside), for --replace."),
    fill: str = typer.Option("surrounding", "--fill", help="Fill of removed objects: surrounding or nearest."),
    radius: int = typer.Option(8, "--radius", help="Dilation of the changed pixels, in pixels."),
    blend_mode: str = typer.Option("feather", "--blend", help="Blend mode: feather or hard."),
    feather: float = typer.Option(6.0, "--feather", help="Feather width inside the mask, in pixels."),
    color_tolerance: float = typer.Option(0.0, "--color-tolerance", help="RGB distance accepted from palette colours in colour maps."),
) -> None:
    """Remove or replace objects in a semantic map and blend the generated result into the image.

    Example: cimgen manipulate --checkpoint runs/demo/finetune --image img.png --map map.png --remove building --box 40,40,140,140 --out runs/edit
    """
    from cimgen.data.palette import Palette
    from cimgen.edit.ops import RemoveClass, ReplaceClass
    from cimgen.edit.pipeline import manipulate, manipulation_metrics
    from cimgen.io.images import read_image, read_label_map
    from cimgen.report.html import write_report
    from cimgen.train.pix2pixhd import load_generator, renderer

    if (remove is None) == (replace is None):
        raise CimgenError("give exactly one of --remove CLASS or --replace SRC:DST")
    if (out / "report.html").exists():
        raise CimgenError(f"{out} already holds a manipulation report; choose another --out folder")
    generator, gcfg = load_generator(checkpoint)
    palette = Palette.from_dict(gcfg["palette"])
    img = read_image(image)
    labels = read_label_map(map_path, palette=palette, color_tolerance=color_tolerance)
    if img.shape[:2] != labels.shape:
        raise CimgenError(f"image {image} is {img.shape[1]}x{img.shape[0]} but map {map_path} is {labels.shape[1]}x{labels.shape[0]}")
    if remove is not None:
        if box is None:
            raise CimgenError("--remove needs --box x0,y0,x1,y1")
        edits = [RemoveClass(cls=palette.class_id(remove), box=parse_box(box), fill=fill)]
    else:
        if ":" not in replace:
            raise CimgenError(f"--replace '{replace}' must look like SRC:DST, e.g. building:vegetation")
        src, dst = (palette.class_id(v) for v in replace.split(":", 1))
        if (box is None) == (mask is None):
            raise CimgenError("--replace needs exactly one of --box or --mask")
        region = None
        if mask is not None:
            region = read_image(mask).max(axis=2) > 0
        edits = [ReplaceClass(source=src, target=dst, box=parse_box(box) if box else None, region=region)]
    m = manipulate(
        img,
        labels,
        edits,
        renderer(generator, gcfg["label_nc"]),
        num_classes=gcfg["label_nc"],
        radius=radius,
        blend_mode=blend_mode,
        feather=feather,
    )
    metrics = {
        **manipulation_metrics(m),
        "checkpoint": str(checkpoint),
        "image": str(image),
        "map": str(map_path),
        "edit": {"remove": remove, "replace": replace, "box": box, "mask": str(mask) if mask else None, "radius": radius, "blend": blend_mode},
    }
    report = write_report(out, m, palette, metrics)
    typer.echo(f"mask covers {metrics['mask_area_pixels']} pixels ({100 * metrics['mask_area_fraction']:.1f}%); result: {out / 'result.png'}; report: {report}")
