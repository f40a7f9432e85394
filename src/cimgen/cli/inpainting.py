"""``cimgen evaluate-inpainting``: score inpainted images against a clean reference with SSIM and ASVS."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.metrics.saliency import DEFAULT_SALIENCY, SALIENCY_MODELS


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
    from cimgen.runs.inpainting import score_inpainting

    scores = score_inpainting(reference=reference, mask=mask, results=result, damaged=damaged, opencv=opencv, saliency=saliency, out=out)
    typer.echo(scores.table, nl=False)
    if scores.written is None:
        typer.echo(f"filled region: {scores.rows[0]['mask_pixels']} pixels; nothing written (no --out)")
        return
    json_path, csv_path, md_path = scores.written
    typer.echo(f"scores written to {json_path}, {csv_path} and {md_path}")
