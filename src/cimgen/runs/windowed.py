"""A manipulation of a GeoTIFF scene larger than memory: read, edit, mask, generate and write window by window.

What ``cimgen manipulate --windowed`` runs (``run_manipulation`` hands over to ``manipulate_windowed``).
The scene and its label map are GeoTIFFs read through windows; the edits are planned and rendered
by ``cimgen.edit.windowed``; ``result.tif`` is the source copied block by block with the rendered
pieces written over it, as a Cloud-Optimized GeoTIFF with overviews (``cog=False``: a plain tiled
GeoTIFF). Peak memory follows the edits and the tiles they touch, not the scene.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cimgen.data.vector_labels import Grid
from cimgen.edit.blend import seam_report
from cimgen.edit.windowed import Piece, WindowedPlan, plan_windowed, render_windowed
from cimgen.errors import CimgenError
from cimgen.generators import Renderer, load_renderer, shipped_checkpoint
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.geotiff import GeoInfo, read_geotiff, read_geotiff_info, read_geotiff_labels, write_patched_geotiff, write_sparse_geotiff
from cimgen.io.images import write_text
from cimgen.io.vector import VectorLayer, write_geojson
from cimgen.nn.devices import check_device
from cimgen.runs.geodata import truth_layer
from cimgen.runs.manipulate import OUT_HINT, load_edits, tile_progress
from cimgen.runs.options import ManipulateConfig, check_manipulate_config
from cimgen.textfiles import json_text

GEOTIFF_SUFFIXES = (".tif", ".tiff")
WINDOWED_TILE_SIZE = 1024
"""Tile side when ``--tile-size`` is automatic (as the in-memory path picks above 2048 pixels)."""
WINDOWED_UNSUPPORTED = (
    ("vector", "--vector"), ("finetune", "--finetune"), ("edited_map", "--edited-map"), ("instances", "--instances"),
    ("mask", "--mask"), ("bands", "--bands"), ("stretch", "--stretch"), ("map_from", "--map-from"), ("score_inside", "--score-inside"),
)  # fmt: skip


@dataclass(frozen=True)
class WindowedInputs:
    """The scene and map of a windowed run, checked from their headers (no pixel is read here)."""

    image: Path
    labels: Path
    info: GeoInfo
    """The scene's georeferencing and size."""


def check_windowed_inputs(cfg: ManipulateConfig, renderer: Renderer) -> WindowedInputs:
    """One sentence for options the windowed path does not take, and for a scene or map it cannot read by windows."""
    for name, option in WINDOWED_UNSUPPORTED:
        if getattr(cfg, name):
            raise CimgenError(
                f"--windowed does not take {option}; it edits a GeoTIFF scene with a GeoTIFF label map (--map) and an edit spec"
            )
    if renderer.position_coded:
        raise CimgenError("--windowed renders in tiles, which a generator with a position code for one whole image does not survive")
    image, labels = Path(cfg.image), Path(cfg.map) if cfg.map else None
    if image.suffix.lower() not in GEOTIFF_SUFFIXES:
        raise CimgenError(f"--windowed reads GeoTIFF scenes by windows, and {image} is not a .tif")
    if labels is None or labels.suffix.lower() not in GEOTIFF_SUFFIXES:
        raise CimgenError("--windowed needs the scene's label map as a single-band GeoTIFF of class ids (--map labels.tif)")
    info, map_info = read_geotiff_info(image), read_geotiff_info(labels)
    if info.dtype != "uint8":
        raise CimgenError(f"{image} has {info.dtype} pixels; --windowed reads 8-bit scenes (the in-memory path stretches other types)")
    if (map_info.height, map_info.width) != (info.height, info.width):
        raise CimgenError(f"{image} is {info.width}x{info.height} but its map {labels} is {map_info.width}x{map_info.height}")
    if map_info.count != 1:
        raise CimgenError(f"{labels} has {map_info.count} bands; a label map must be a single band of class ids")
    return WindowedInputs(image, labels, info)


def _describe(edit) -> dict:
    d = {"op": type(edit).__name__}
    for k, v in vars(edit).items():
        if v is not None and not isinstance(v, np.ndarray):
            d[k] = list(v) if isinstance(v, tuple) else v
    return d


def _window_grid(info: GeoInfo, y: int, x: int, h: int, w: int) -> Grid:
    a, b, c, d, e, f = info.transform
    return Grid(h, w, (a, b, c + a * x + b * y, d, e, f + d * x + e * y), info.crs)


def _truth(pieces: list[Piece], info: GeoInfo, described: list[dict]) -> VectorLayer:
    """truth.geojson: each piece's mask as polygons in the scene's CRS, each with the edit that made it."""
    layers = []
    for p in pieces:
        y0, x0, y1, x1 = p.core
        layers.append(
            truth_layer(p.core_of(p.mask), p.core_of(p.owners), _window_grid(info, p.y + y0, p.x + x0, y1 - y0, x1 - x0), described)
        )
    geoms = np.concatenate([layer.geometries for layer in layers]) if layers else np.array([], dtype=object)
    columns = {k: np.concatenate([layer.columns[k] for layer in layers]) for k in layers[0].columns} if layers else {}
    return VectorLayer(geoms, tuple(range(len(geoms))), columns, info.crs, "truth.geojson")


def manipulate_windowed(
    cfg: ManipulateConfig,
    renderer: Renderer,
    inputs: WindowedInputs,
    edits: list,
    out: Path,
    *,
    echo: Callable[[str], None] | None = print,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Plan, render and write a windowed manipulation into ``out`` (a fresh folder); returns its metrics.

    Writes ``result.tif`` (COG with overviews unless ``cfg.cog`` is False), ``mask.tif`` and
    ``generated.tif`` (sparse GeoTIFFs holding the edited windows only), ``truth.geojson`` (when the
    scene is georeferenced) and ``metrics.json``.
    """
    t0 = time.perf_counter()
    info = inputs.info
    shape = (info.height, info.width)
    num_classes = renderer.palette.num_classes

    def read_labels(y: int, x: int, h: int, w: int) -> np.ndarray:
        return read_geotiff_labels(inputs.labels, window=(y, x, h, w))[0]

    def read_image(y: int, x: int, h: int, w: int) -> np.ndarray:
        return read_geotiff(inputs.image, window=(y, x, h, w))[0]

    plan: WindowedPlan = plan_windowed(read_labels, shape, edits, num_classes=num_classes, radius=cfg.radius, max_window=cfg.window_limit)
    tile_size = cfg.tile_size or WINDOWED_TILE_SIZE
    t1 = time.perf_counter()
    pieces = list(
        render_windowed(
            plan, read_labels, read_image, renderer.render, num_classes=num_classes, tile_size=tile_size, overlap=cfg.overlap,
            blend_mode=cfg.blend, feather=cfg.feather, progress=progress,
        )
    )  # fmt: skip
    t2 = time.perf_counter()

    def cores(name: str, cast=None):
        for p in pieces:
            y0, x0, _, _ = p.core
            a = p.core_of(getattr(p, name))
            yield p.y + y0, p.x + x0, a if cast is None else cast(a)

    write_patched_geotiff(out / "result.tif", inputs.image, cores("result"), cog=cfg.cog)
    t3 = time.perf_counter()
    write_sparse_geotiff(out / "mask.tif", info, cores("mask", lambda m: m.astype(np.uint8) * 255), count=1)
    write_sparse_geotiff(out / "generated.tif", info, cores("generated"), count=3)
    described = [_describe(e) for e in edits]
    metrics = {
        "windowed": True,
        "scene": {"width": info.width, "height": info.height, "image": str(inputs.image), "map": str(inputs.labels)},
        "result_format": "COG (GDAL COG driver, overviews)" if cfg.cog else "GTiff (tiled, no overviews)",
        "edits": described,
        "mask_area_pixels": plan.info["mask_pixels"],
        "mask_area_fraction": round(plan.info["mask_pixels"] / (info.width * info.height), 9),
        "changed_label_pixels": plan.info["changed_label_pixels"],
        "edit_windows": plan.info["windows"],
        "pieces": [
            {
                "x0": p.x + p.core[1],
                "y0": p.y + p.core[0],
                "x1": p.x + p.core[3],
                "y1": p.y + p.core[2],
                "tiles": [[p.y + ty, p.x + tx, th, tw] for ty, tx, th, tw in p.tiles],
                "seam": {k: None if v is None else round(float(v), 3) for k, v in seam_report(p.result, p.original, p.mask).items()},
            }
            for p in pieces
        ],
        "tile_size": tile_size,
        "overlap": cfg.overlap,
        "tiles_generated": sum(len(p.tiles) for p in pieces),
        "blend": {"mode": cfg.blend, "feather": cfg.feather},
        "radius": cfg.radius,
        "window_limit": cfg.window_limit,
        "checkpoint": str(cfg.checkpoint),
        "seconds": {"edit_and_mask": round(t1 - t0, 2), "generate_and_blend": round(t2 - t1, 2), "write_result": round(t3 - t2, 2)},
    }
    if info.transform is not None:
        truth = _truth(pieces, info, described)
        write_geojson(out / "truth.geojson", truth)
        metrics["truth"] = {"polygons": len(truth), "pixels": plan.info["mask_pixels"], "crs": truth.crs is not None}
    metrics["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    write_text(out / "metrics.json", json_text(metrics))
    if echo:
        echo(
            f"mask: {plan.info['mask_pixels']} pixels in {len(pieces)} window(s); {metrics['tiles_generated']} tile(s) rendered; "
            f"result: {out / 'result.tif'} ({metrics['result_format']})"
        )
    return metrics


def run_windowed(
    cfg: ManipulateConfig,
    edits_raw=None,
    *,
    renderer: Renderer | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> Path:
    """One GeoTIFF scene, window by window: check everything, then manipulate into ``cfg.out``; returns the folder.

    Args:
        cfg: the run's options (``cfg.windowed``; edits in pixels, from ``cfg.spec`` or ``edits_raw``).
        edits_raw: option edits as a spec list, when ``cfg`` names no spec.
        renderer: the generator of ``cfg.checkpoint`` already loaded; default: load it.
        echo: where progress lines go.
        progress: show a tile progress bar.
    """
    check_manipulate_config(cfg)
    cfg = replace(cfg, device=check_device(cfg.device), checkpoint=cfg.checkpoint or str(shipped_checkpoint()))
    out = Path(cfg.out)
    check_fresh(out, OUT_HINT)
    if renderer is None:
        renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    inputs = check_windowed_inputs(cfg, renderer)
    # Edits in pixels: boxes in map coordinates would be drawn as scene-sized masks.
    edits = load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance, geo=None)
    tick, close = tile_progress(progress)
    with new_folder(out, OUT_HINT) as tmp:
        try:
            manipulate_windowed(cfg, renderer, inputs, edits, tmp, echo=None, progress=tick)
        finally:
            close()
    if echo:
        echo(f"result: {out / 'result.tif'}; mask: {out / 'mask.tif'}; metrics: {out / 'metrics.json'}")
    return out
