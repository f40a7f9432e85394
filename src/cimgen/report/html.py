"""A self-contained report folder for one manipulation: PNG pictures and ``report.html``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from cimgen.io.geotiff import write_geotiff, write_geotiff_bands
from cimgen.io.images import write_image, write_label_map, write_text
from cimgen.palette import Palette, labels_to_colors
from cimgen.textfiles import json_text


def mask_overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted red and its outline drawn."""
    out = image.copy()
    out[mask] = (0.5 * out[mask] + 0.5 * np.array([255, 0, 0])).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


PREVIEW_MAX = 2048
"""Images with a longer side are shown in the page by downscaled previews (the full-size files are still written)."""


def edit_window(mask: np.ndarray, *, margin: int = 16) -> tuple[slice, slice]:
    """Rows and columns of the mask's bounding box plus a margin, clipped to the image."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(ys):
        return slice(0, mask.shape[0]), slice(0, mask.shape[1])
    h, w = mask.shape
    return slice(max(int(ys[0]) - margin, 0), min(int(ys[-1]) + 1 + margin, h)), slice(
        max(int(xs[0]) - margin, 0), min(int(xs[-1]) + 1 + margin, w)
    )


def fit(image: np.ndarray, longest: int) -> np.ndarray:
    """``image`` scaled down (area averaging) so that its longer side is at most ``longest``."""
    h, w = image.shape[:2]
    if max(h, w) <= longest:
        return image
    f = longest / max(h, w)
    return cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def zoom(images: list[np.ndarray], mask: np.ndarray, *, margin: int = 16, scale: int = 3, longest: int = 1024) -> np.ndarray:
    """Side-by-side crops around the mask's bounding box, enlarged with nearest-neighbour (each crop at most ``longest``)."""
    ys, xs = edit_window(mask, margin=margin)
    crops = []
    for im in images:
        c = im[ys, xs]
        s = max(1, min(scale, longest // max(c.shape[:2])))
        c = cv2.resize(c, None, fx=s, fy=s, interpolation=cv2.INTER_NEAREST) if s > 1 else fit(c, longest)
        crops.append(c)
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


def side_by_side(
    original: np.ndarray, generated: np.ndarray, result: np.ndarray, mask: np.ndarray, *, margin: int = 32, longest: int = 768
) -> np.ndarray:
    """Original | generated | manipulated, cropped around the edit, captioned (each panel at most ``longest``)."""
    ys, xs = edit_window(mask, margin=margin)
    panels = [fit(im[ys, xs], longest) for im in (original, generated, result)]
    return overview(panels, ["original", "generated", "manipulated"])


class _Arrays(NamedTuple):
    original: np.ndarray
    labels: np.ndarray
    edited_labels: np.ndarray
    mask: np.ndarray
    generated: np.ndarray
    result: np.ndarray


def _cut_caption(metrics: dict) -> str:
    """What the seam cut did to the mask, for its caption ("" where it did nothing)."""
    cut = metrics.get("seam_cut")
    pixels = cut.get("pixels") if isinstance(cut, dict) else cut
    return f"; its border moved up to {pixels} px in, to where the generated image and the original agree" if pixels else ""


def write_report(
    out: str | Path,
    *,
    original: np.ndarray,
    labels: np.ndarray,
    edited_labels: np.ndarray,
    mask: np.ndarray,
    generated: np.ndarray,
    result: np.ndarray,
    palette: Palette,
    metrics: dict,
    title: str = "cimgen manipulation",
    geo=None,
    result_raster: np.ndarray | None = None,
) -> Path:
    """Write the outputs, the pictures and ``report.html`` into ``out``; returns the HTML path.

    The arrays are a manipulation's (``cimgen.edit.pipeline.Manipulation`` holds them under these
    names): HxWx3 uint8 images, HxW integer label maps and an HxW bool mask.

    Full-size outputs: ``result``, ``generated``, ``mask_raw`` (0/255) and ``edited_labels``
    (label ids) as PNG, or with ``geo`` (a ``cimgen.io.geotiff.GeoInfo``) ``result.tif``,
    ``generated.tif`` and ``mask.tif`` georeferenced like the input. Pictures for the page:
    the original, both maps, the mask overlay, ``zoom.png`` and ``side_by_side.png``; for
    images longer than ``PREVIEW_MAX`` pixels they are downscaled previews under ``preview/``.
    With ``result_raster`` (the result in the GeoTIFF's own bands and data type, see
    ``cimgen.io.bands.from_rgb8``), ``result.tif`` holds it and ``result.png`` the 8-bit RGB result.
    """
    out = Path(out)
    m = _Arrays(original, labels, edited_labels, mask, generated, result)
    large = max(m.mask.shape) > PREVIEW_MAX
    if geo is not None and result_raster is not None:
        write_geotiff_bands(out / "result.tif", result_raster, geo)
        write_image(out / "result.png", m.result)
        write_geotiff(out / "generated.tif", m.generated, geo)
        write_geotiff(out / "mask.tif", m.mask.astype(np.uint8) * 255, geo)
    elif geo is not None:
        write_geotiff(out / "result.tif", m.result, geo)
        write_geotiff(out / "generated.tif", m.generated, geo)
        write_geotiff(out / "mask.tif", m.mask.astype(np.uint8) * 255, geo)
    else:
        write_image(out / "result.png", m.result)
        write_image(out / "generated.png", m.generated)
        write_image(out / "mask_raw.png", m.mask.astype(np.uint8) * 255)
    write_label_map(out / "edited_labels.png", m.edited_labels)
    small = (lambda a: fit(a, 1024)) if large else (lambda a: a)
    folder = "preview/" if (large or geo is not None) else ""
    shown = {
        "original.png": ("Original image", small(m.original)),
        "map.png": ("Semantic map", labels_to_colors(_nearest_small(m.labels, large), palette)),
        "edited_map.png": ("Edited map", labels_to_colors(_nearest_small(m.edited_labels, large), palette)),
        "mask.png": (
            f"Mask ({metrics.get('mask_from') or 'changed labels, dilated'}{_cut_caption(metrics)})",
            mask_overlay(small(m.original), _nearest_small(m.mask, large)),
        ),
        "generated.png": ("Generated from the edited map", small(m.generated)),
        "result.png": ("Manipulated (blended into the original)", small(m.result)),
    }
    pictures = {f"{folder}{k}": v for k, v in shown.items()}
    for name, (_, img) in pictures.items():
        if folder or name not in ("generated.png", "result.png"):  # full-size ones are written above
            write_image(out / name, img)
    write_image(out / "zoom.png", zoom([m.original, m.generated, m.result], m.mask))
    write_image(out / "side_by_side.png", side_by_side(m.original, m.generated, m.result, m.mask))
    pictures["zoom.png"] = ("Zoom on the edit: original | generated | manipulated", None)
    short = ["original", "map", "edited map", "mask", "generated", "manipulated"]
    write_image(out / "overview.png", overview([fit(v[1], 512) if large else v[1] for k, v in pictures.items() if k != "zoom.png"], short))
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
    write_text(out / "metrics.json", json_text(metrics))
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


def _nearest_small(a: np.ndarray, large: bool) -> np.ndarray:
    """A label map or mask scaled down for a preview by nearest neighbour (classes must not mix)."""
    if not large:
        return a
    h, w = a.shape
    f = 1024 / max(h, w)
    small = cv2.resize(
        a.astype(np.uint8 if a.max(initial=0) < 256 else np.uint16),
        (max(1, round(w * f)), max(1, round(h * f))),
        interpolation=cv2.INTER_NEAREST,
    )
    return small.astype(bool) if a.dtype == bool else small.astype(a.dtype)
