"""What ``cimgen evaluate-inpainting`` does: read inpainted images, a clean reference and the mask, score SSIM and ASVS, write the tables."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimgen.errors import CimgenError
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.images import read_image, write_text
from cimgen.metrics.inpainting import inpainting_scores, opencv_inpaint
from cimgen.metrics.saliency import DEFAULT_SALIENCY, check_saliency_model
from cimgen.textfiles import json_text

# Columns of the printed table and of scores.csv: (result key, Markdown header).
COLUMNS = (("ssim", "SSIM"), ("ssim_filled", "SSIM filled"), ("asvs", "ASVS"))
OPENCV_RADIUS = 3.0


@dataclass
class InpaintingScores:
    """The scored rows and, when an output folder was given, where they were written."""

    rows: list[dict]
    """One dict per image: name, path and the ``cimgen.metrics.inpainting`` scores."""
    table: str
    """The rows as a Markdown table."""
    written: list[Path] | None
    """scores.json, scores.csv and scores.md, or None when nothing was written."""


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


def _images_to_score(
    results: list[Path], clean: np.ndarray, region: np.ndarray, *, reference: Path, damaged: Path | None, opencv: bool
) -> list[tuple[str, str | None, np.ndarray]]:
    """(name, path, image) of each result, then the damaged input and OpenCV's fill of it when asked for."""

    def load(path: Path) -> np.ndarray:
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
    return named


def score_inpainting(
    *,
    reference: Path,
    mask: Path,
    results: list[Path] | None = None,
    damaged: Path | None = None,
    opencv: bool = False,
    saliency: str = DEFAULT_SALIENCY,
    out: Path | None = None,
) -> InpaintingScores:
    """Score inpainted images against a clean reference: SSIM over the whole image and the filled region, and ASVS.

    Args:
        reference: the clean image (ground truth).
        mask: the filled region as a mask image (non-zero = inside).
        results: inpainted images to score.
        damaged: the input with the hole; scored as it is, and inpainted by OpenCV when ``opencv``.
        opencv: also score OpenCV's Telea inpainting of ``damaged`` as a baseline.
        saliency: the saliency model of ASVS.
        out: a new folder for scores.json, scores.csv and scores.md; None writes nothing.
    """
    check_saliency_model(saliency)
    results = list(results or [])
    if opencv and damaged is None:
        raise CimgenError("--opencv needs --damaged PATH, the image with the hole, to inpaint")
    if not results and damaged is None:
        raise CimgenError("give at least one --result image, or --damaged (with --opencv for the OpenCV baseline)")
    if out is not None and (out / "scores.json").exists():
        raise CimgenError(f"{out} already holds scores.json; choose another --out folder")
    if out is not None:
        check_fresh(out, hint="choose another --out folder")

    clean = read_image(reference)
    region = read_image(mask).max(axis=2) > 0
    if region.shape != clean.shape[:2]:
        raise CimgenError(
            f"mask {mask} is {region.shape[1]}x{region.shape[0]} but reference {reference} is {clean.shape[1]}x{clean.shape[0]}"
        )
    named = _images_to_score(results, clean, region, reference=reference, damaged=damaged, opencv=opencv)
    rows = [{"name": name, "path": path, **inpainting_scores(image, clean, region, saliency=saliency)} for name, path, image in named]
    table = markdown_table(rows, saliency=saliency)
    if out is None:
        return InpaintingScores(rows=rows, table=table, written=None)
    record = {
        "reference": str(reference),
        "mask": str(mask),
        "damaged": str(damaged) if damaged is not None else None,
        "opencv_baseline": {"method": "telea", "radius": OPENCV_RADIUS} if opencv else None,
        "rows": rows,
    }
    settings = f"Reference `{reference}`, mask `{mask}` ({rows[0]['mask_pixels']} pixels); ASVS saliency model: {saliency}.\n\n"
    with new_folder(out, hint="choose another --out folder") as tmp:
        write_text(tmp / "scores.json", json_text(record) + "\n")
        write_text(tmp / "scores.csv", csv_table(rows))
        write_text(tmp / "scores.md", settings + table)
    return InpaintingScores(rows=rows, table=table, written=[out / name for name in ("scores.json", "scores.csv", "scores.md")])
