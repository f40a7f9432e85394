"""``cimgen evaluate-inpainting``: score inpainted images against a clean reference with SSIM and ASVS."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import typer

from cimgen.errors import CimgenError
from cimgen.metrics.saliency import DEFAULT_SALIENCY, SALIENCY_MODELS

# Columns of the printed table and of scores.csv: (result key, Markdown header).
COLUMNS = (("ssim", "SSIM"), ("ssim_filled", "SSIM filled"), ("asvs", "ASVS"))
OPENCV_RADIUS = 3.0


def markdown_table(rows: list[dict], *, saliency: str) -> str:
    """The rows as a Markdown table, one line per image."""
    headers = ["image", *(f"{title} ({saliency})" if key == "asvs" else title for key, title in COLUMNS)]
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join([row["name"], *(f"{row[key]:.4f}" for key, _ in COLUMNS)]) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(rows: list[dict]) -> str:
    """The rows as CSV with a header line: name, path and the score columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "path", *(key for key, _ in COLUMNS)])
    writer.writerows([row["name"], row["path"] or "", *(repr(row[key]) for key, _ in COLUMNS)] for row in rows)
    return buffer.getvalue()


def evaluate_inpainting_cmd(
    result: list[Path] = typer.Option(None, "--result", metavar="PATH", help="An inpainted image to score; repeat for several."),
    reference: Path = typer.Option(..., "--reference", help="The clean image (ground truth) the results are compared with."),
    mask: Path = typer.Option(..., "--mask", help="The filled region as a mask image (non-zero = inside)."),
    damaged: Path = typer.Option(None, "--damaged", help="The input with the hole; scored as it is, and inpainted by --opencv."),
    opencv: bool = typer.Option(False, "--opencv", help="Also score OpenCV's Telea inpainting of --damaged as a baseline."),
    saliency: str = typer.Option(DEFAULT_SALIENCY, "--saliency", help=f"Saliency model for ASVS: one of {', '.join(SALIENCY_MODELS)}."),
    out: Path = typer.Option(None, "--out", help="Folder for scores.json, scores.csv and scores.md (optional)."),
) -> None:
    """Score inpainted images against a clean reference: SSIM over the whole image and the filled region, and ASVS.

    ASVS (Ardis & Singhal 2009) is the mean squared saliency inside the mask, lower is better.

    Example: cimgen evaluate-inpainting --reference 0278_gth.png --mask 0278_inp_mask.png --result filled.png --damaged 0278_inp.png --opencv --out runs/inp
    """
    from cimgen.io.images import read_image, write_text
    from cimgen.metrics.inpainting import inpainting_scores, opencv_inpaint
    from cimgen.metrics.saliency import check_saliency_model

    check_saliency_model(saliency)
    results = list(result or [])
    if opencv and damaged is None:
        raise CimgenError("--opencv needs --damaged PATH, the image with the hole, to inpaint")
    if not results and damaged is None:
        raise CimgenError("give at least one --result image, or --damaged (with --opencv for the OpenCV baseline)")
    if out is not None and (out / "scores.json").exists():
        raise CimgenError(f"{out} already holds scores.json; choose another --out folder")

    clean = read_image(reference)
    region = read_image(mask).max(axis=2) > 0
    if region.shape != clean.shape[:2]:
        raise CimgenError(
            f"mask {mask} is {region.shape[1]}x{region.shape[0]} but reference {reference} is {clean.shape[1]}x{clean.shape[0]}"
        )

    def load(path: Path):
        image = read_image(path)
        if image.shape != clean.shape:
            raise CimgenError(f"{path} is {image.shape[1]}x{image.shape[0]} but reference {reference} is {clean.shape[1]}x{clean.shape[0]}")
        return image

    named = [(str(path), str(path), load(path)) for path in results]
    if damaged is not None:
        hole = load(damaged)
        named.append(("damaged input (unfilled)", str(damaged), hole))
        if opencv:
            baseline = opencv_inpaint(hole, region, method="telea", radius=OPENCV_RADIUS)
            named.append((f"OpenCV Telea (radius {OPENCV_RADIUS:g})", None, baseline))
    rows = [{"name": name, "path": path, **inpainting_scores(image, clean, region, saliency=saliency)} for name, path, image in named]

    table = markdown_table(rows, saliency=saliency)
    typer.echo(table, nl=False)
    if out is None:
        typer.echo(f"filled region: {rows[0]['mask_pixels']} pixels; nothing written (no --out)")
        return
    record = {
        "reference": str(reference),
        "mask": str(mask),
        "damaged": str(damaged) if damaged is not None else None,
        "opencv_baseline": {"method": "telea", "radius": OPENCV_RADIUS} if opencv else None,
        "rows": rows,
    }
    write_text(out / "scores.json", json.dumps(record, indent=2) + "\n")
    write_text(out / "scores.csv", csv_table(rows))
    settings = f"Reference `{reference}`, mask `{mask}` ({rows[0]['mask_pixels']} pixels); ASVS saliency model: {saliency}.\n\n"
    write_text(out / "scores.md", settings + table)
    typer.echo(f"scores written to {out / 'scores.json'}, {out / 'scores.csv'} and {out / 'scores.md'}")
