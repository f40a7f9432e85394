"""A self-contained report folder for one manipulation: PNG pictures and ``report.html``."""

from __future__ import annotations

import html
import json
from pathlib import Path

import cv2
import numpy as np

from cimgen.data.palette import Palette, labels_to_colors
from cimgen.edit.pipeline import Manipulation
from cimgen.io.images import write_image, write_text


def mask_overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted red and its outline drawn."""
    out = image.copy()
    out[mask] = (0.5 * out[mask] + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def zoom(images: list[np.ndarray], mask: np.ndarray, *, margin: int = 16, scale: int = 3) -> np.ndarray:
    """Side-by-side crops around the mask's bounding box, enlarged with nearest-neighbour."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + 1 + margin, h)
    x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + 1 + margin, w)
    crops = [cv2.resize(im[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for im in images]
    gap = np.full((crops[0].shape[0], 4, 3), 255, np.uint8)
    parts = []
    for c in crops:
        parts += [c, gap]
    return np.concatenate(parts[:-1], 1)


def overview(images: list[np.ndarray], captions: list[str], *, gap: int = 6, caption_height: int = 22) -> np.ndarray:
    """One strip of equally sized images with a caption above each, on white."""
    h, w = images[0].shape[:2]
    sheet = np.full((h + caption_height, len(images) * (w + gap) - gap, 3), 255, np.uint8)
    scale = max(0.35, min(0.5, w / 520))
    for i, (img, cap) in enumerate(zip(images, captions)):
        x = i * (w + gap)
        sheet[caption_height:, x : x + w] = img
        cv2.putText(sheet, cap, (x + 2, caption_height - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (30, 30, 30), 1, cv2.LINE_AA)
    return sheet


def write_report(out: str | Path, m: Manipulation, palette: Palette, metrics: dict, *, title: str = "cimgen manipulation") -> Path:
    """Write the pictures and ``report.html`` into ``out``; returns the HTML path."""
    out = Path(out)
    pictures = {
        "original.png": ("Original image", m.original),
        "map.png": ("Semantic map", labels_to_colors(m.labels, palette)),
        "edited_map.png": ("Edited map", labels_to_colors(m.edited_labels, palette)),
        "mask.png": ("Mask (changed labels, dilated)", mask_overlay(m.original, m.mask)),
        "generated.png": ("Generated from the edited map", m.generated),
        "result.png": ("Manipulated (blended into the original)", m.result),
        "zoom.png": ("Zoom on the edit: original | generated | manipulated", zoom([m.original, m.generated, m.result], m.mask)),
    }
    for name, (_, img) in pictures.items():
        write_image(out / name, img)
    strip = ["original.png", "map.png", "edited_map.png", "mask.png", "generated.png", "result.png"]
    short = ["original", "map", "edited map", "mask", "generated", "manipulated"]
    write_image(out / "overview.png", overview([pictures[n][1] for n in strip], short))
    write_image(out / "mask_raw.png", (m.mask.astype(np.uint8) * 255))
    legend = "".join(
        f'<span class="sw" style="background:rgb{tuple(c)}"></span>{html.escape(n)} ' for n, c in zip(palette.names, palette.colors)
    )
    figures = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}</figcaption></figure>'
        for name, (cap, _) in pictures.items()
        if name != "zoom.png"
    )
    rows = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in _flatten(metrics).items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1em; }}
figure {{ margin: 0; }} img {{ width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }}
figcaption {{ font-size: 0.9em; color: #555; }}
.sw {{ display: inline-block; width: 1em; height: 1em; border: 1px solid #999; margin: 0 0.3em 0 1em; vertical-align: middle; }}
table {{ border-collapse: collapse; margin-top: 1em; }} th, td {{ border: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Classes: {legend}</p>
<p>Outside the mask every pixel of the manipulated image is the original pixel.</p>
<div class="grid">
{figures}
</div>
<h2>Zoom on the edit</h2>
<figure><img src="zoom.png" alt="zoom" style="width:auto;max-width:100%"><figcaption>{html.escape(pictures["zoom.png"][0])}</figcaption></figure>
<h2>Metrics</h2>
<table>
{rows}
</table>
<p>Also in <code>metrics.json</code>.</p>
</body></html>
"""
    write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return write_text(out / "report.html", page)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
