"""A manipulation of a GeoTIFF scene larger than memory: read, edit, mask, generate and write window by window.

What ``cimgen manipulate --windowed`` runs (``run_manipulation`` hands over to ``manipulate_windowed``).
The scene is a GeoTIFF read through windows (16-bit and multi-band scenes through a stretch fitted on
a sample of it); its map is a label-map GeoTIFF read the same way, or a vector layer drawn window by
window (only the features that reach a window, found through a spatial index). The edits are planned
and rendered by ``cimgen.edit.windowed``; ``result.tif`` is the source copied block by block with the
rendered pieces written over it in the source's own type and bands, as a Cloud-Optimized GeoTIFF with
overviews (``output="gtiff"``: a plain tiled GeoTIFF). Peak memory follows the edits and the tiles they
touch, not the scene; so does the time, except for writing ``result.tif``, which copies every block.
``output="patch"`` writes no scene-sized file: ``patch.tif`` holds the rendered pieces only and
``result.vrt`` lays them over the source scene, which it names by its absolute path.
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
from cimgen.generators import Renderer, load_renderer
from cimgen.io.bands import from_rgb8
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.geotiff import (
    GeoInfo,
    read_geotiff_info,
    read_geotiff_labels,
    write_patch_geotiff,
    write_patch_vrt,
    write_patched_geotiff,
    write_sparse_geotiff,
)
from cimgen.io.images import write_text
from cimgen.io.vector import VectorLayer, write_geojson
from cimgen.nn.devices import check_device
from cimgen.runs.geodata import (
    SceneBands,
    VectorInputs,
    geo_context,
    grid_of,
    layer_after_edits,
    merge_traces,
    read_scene_bands,
    read_vector_inputs,
    trace_edits,
    truth_layer,
)
from cimgen.runs.manipulate import (
    OUT_HINT,
    check_vector_options,
    derived_mask_from,
    describe_edit,
    load_edits,
    run_checkpoint,
    tile_progress,
)
from cimgen.runs.options import ManipulateConfig, check_manipulate_config, shadow_mode
from cimgen.textfiles import json_text

GEOTIFF_SUFFIXES = (".tif", ".tiff")
WINDOWED_TILE_SIZE = 1024
"""Tile side when ``--tile-size`` is automatic (as the in-memory path picks above 2048 pixels)."""
WINDOWED_UNSUPPORTED = (
    ("edited_map", "--edited-map"), ("instances", "--instances"), ("mask", "--mask"), ("map_from", "--map-from"),
)  # fmt: skip
CROP_HINT = (
    "cut the part around the edit out first (e.g. gdal_translate -srcwin X Y WIDTH HEIGHT scene.tif crop.tif, or a rasterio window) "
    "and run the in-memory path on that crop"
)
RESULT_FORMATS = {
    "cog": "COG (GDAL COG driver, overviews)",
    "gtiff": "GTiff (tiled, no overviews)",
    "patch": "VRT (result.vrt: the source scene by absolute path, patch.tif over it)",
}
"""``metrics.json`` -> ``result_format`` for each ``ManipulateConfig.output``."""
RESULT_FILES = {"cog": "result.tif", "gtiff": "result.tif", "patch": "result.vrt"}
WHOLE_IMAGE_ONLY = {
    "finetune": (
        "--windowed does not take --finetune: fine-tuning memorises one whole image, held in memory with the generator's "
        f"activations, and a scene larger than memory cannot be; {CROP_HINT} with --finetune"
    ),
    "score_inside": (
        "--windowed does not take --score-inside: its scores fit a segmenter on the image around the whole mask held in memory, "
        f"which in a windowed scene may span the scene; {CROP_HINT} with --score-inside"
    ),
}


@dataclass(frozen=True)
class WindowedInputs:
    """The scene and map of a windowed run, checked from their headers (of the scene, at most a sample for its stretch is held)."""

    scene: SceneBands
    """The scene, read by windows (and its stretch, for 16-bit or multi-band scenes)."""
    labels: Path | None
    """The label map GeoTIFF (``--map``), or None when the map is drawn from ``vector``."""
    vector: VectorInputs | None = None
    """The vector layer drawn window by window (``--vector``)."""

    @property
    def info(self) -> GeoInfo:
        """The scene's georeferencing and size."""
        return self.scene.info

    def read_labels(self, y: int, x: int, h: int, w: int) -> np.ndarray:
        """A window of the map."""
        if self.vector is not None:
            return self.vector.windows.labels(y, x, h, w)
        return read_geotiff_labels(self.labels, window=(y, x, h, w))[0]


def check_windowed_inputs(cfg: ManipulateConfig, renderer: Renderer) -> WindowedInputs:
    """One sentence for options the windowed path does not take, and for a scene or map it cannot read by windows."""
    for name, sentence in WHOLE_IMAGE_ONLY.items():
        if getattr(cfg, name):
            raise CimgenError(sentence)
    for name, option in WINDOWED_UNSUPPORTED:
        if getattr(cfg, name):
            raise CimgenError(
                f"--windowed does not take {option}; it edits a GeoTIFF scene with its label map (--map labels.tif) or vector layer "
                "(--vector with --classes) and an edit spec"
            )
    check_vector_options(cfg)
    if renderer.position_coded:
        raise CimgenError("--windowed renders in tiles, which a generator with a position code for one whole image does not survive")
    image, labels = Path(cfg.image), Path(cfg.map) if cfg.map else None
    if image.suffix.lower() not in GEOTIFF_SUFFIXES:
        raise CimgenError(f"--windowed reads GeoTIFF scenes by windows, and {image} is not a .tif")
    if not cfg.vector and (labels is None or labels.suffix.lower() not in GEOTIFF_SUFFIXES):
        raise CimgenError(
            "--windowed needs the scene's label map as a single-band GeoTIFF of class ids (--map labels.tif), or its vector layer "
            "(--vector with --classes)"
        )
    scene = read_scene_bands(image, bands=cfg.bands, stretch=cfg.stretch)
    info = scene.info
    if labels is not None:
        map_info = read_geotiff_info(labels)
        if (map_info.height, map_info.width) != (info.height, info.width):
            raise CimgenError(f"{image} is {info.width}x{info.height} but its map {labels} is {map_info.width}x{map_info.height}")
        if map_info.count != 1:
            raise CimgenError(f"{labels} has {map_info.count} bands; a label map must be a single band of class ids")
    vector = None
    if cfg.vector:
        vector = read_vector_inputs(
            image, Path(cfg.vector), Path(cfg.classes), renderer.palette, vector_crs=cfg.vector_crs, window_limit=cfg.window_limit
        )
    return WindowedInputs(scene, labels, vector)


def _truth(pieces: list[Piece], grid: Grid, described: list[dict]) -> VectorLayer:
    """truth.geojson: each piece's mask as polygons in the scene's CRS, each with the edit that made it."""
    layers = []
    for p in pieces:
        y0, x0, y1, x1 = p.core
        layers.append(truth_layer(p.core_of(p.mask), p.core_of(p.owners), grid.window(p.y + y0, p.x + x0, y1 - y0, x1 - x0), described))
    geoms = np.concatenate([layer.geometries for layer in layers]) if layers else np.array([], dtype=object)
    columns = {k: np.concatenate([layer.columns[k] for layer in layers]) for k in layers[0].columns} if layers else {}
    return VectorLayer(geoms, tuple(range(len(geoms))), columns, grid.crs, "truth.geojson")


def _edited_vector(vector: VectorInputs, plan: WindowedPlan, edits: list, palette) -> tuple[VectorLayer, dict]:
    """edited.geojson: the layer as the edits left it, traced patch by patch (patches hold every changed label)."""
    n = len(vector.layer)
    traces = []
    for p in plan.patches:
        y0, x0, y1, x1 = p.box
        index = vector.windows.read(y0, x0, y1 - y0, x1 - x0)[1]
        traces.append(trace_edits(index, p.labels, p.edited, p.owners, edits, vector.grid.window(y0, x0, y1 - y0, x1 - x0), n, (y0, x0)))
    trace = merge_traces(traces, n)
    owned = np.zeros(n, np.int64)
    for i in np.flatnonzero(trace.lost):  # only where the edits changed something: the whole feature, drawn on its own box
        owned[i] = vector.windows.owned_pixels(int(i))
    return layer_after_edits(vector, trace, owned, edits, palette)


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

    Writes ``result.tif`` (``cfg.output`` ``cog``: a COG with overviews; ``gtiff``: a plain tiled GeoTIFF;
    in the source's data type, bands and no-data) or, for ``patch``, ``patch.tif`` (the rendered pieces
    on the scene's grid, nothing else stored) and ``result.vrt`` (the source with the pieces over it);
    ``mask.tif`` and ``generated.tif`` (sparse GeoTIFFs holding the edited windows only),
    ``truth.geojson`` (when the scene is georeferenced), ``edited.geojson`` (with a vector layer) and
    ``metrics.json``.
    """
    t0 = time.perf_counter()
    info = inputs.info
    shape = (info.height, info.width)
    num_classes = renderer.palette.num_classes

    scene = inputs.scene
    read_labels = inputs.read_labels
    plan: WindowedPlan = plan_windowed(
        read_labels, shape, edits, num_classes=num_classes, radius=cfg.radius, max_window=cfg.window_limit,
        read_image=scene.rgb, shadows=shadow_mode(cfg.shadows, renderer.palette.street_view),
    )  # fmt: skip
    scene.fit_outside([(p.y, p.x, p.mask) for p in plan.patches])
    tile_size = cfg.tile_size or WINDOWED_TILE_SIZE
    t1 = time.perf_counter()
    pieces = list(
        render_windowed(
            plan, read_labels, scene.rgb, renderer.render, num_classes=num_classes, tile_size=tile_size, overlap=cfg.overlap,
            blend_mode=cfg.blend, feather=cfg.feather, progress=progress, cut=min(cfg.seam_cut, cfg.radius),
        )
    )  # fmt: skip
    t2 = time.perf_counter()

    def cores(name: str, cast=None):
        for p in pieces:
            y0, x0, _, _ = p.core
            a = p.core_of(getattr(p, name))
            yield p.y + y0, p.x + x0, a if cast is None else cast(a)

    def results():
        for p in pieces:
            y0, x0, y1, x1 = p.core
            result = p.core_of(p.result)
            if scene.stretch is not None:  # back into the source's bands and type; outside the mask the source as it is
                source = scene.raster(p.y + y0, p.x + x0, y1 - y0, x1 - x0)
                result, _ = from_rgb8(result, source, scene.stretch, p.core_of(p.mask), keep=scene.keep, fits=scene.fits)
            yield p.y + y0, p.x + x0, result

    rects = [(p.y + p.core[0], p.x + p.core[1], p.core[2] - p.core[0], p.core[3] - p.core[1]) for p in pieces]
    patch_box = None
    if cfg.output == "patch":  # only the pieces are written: time and bytes follow the tiles touched
        patch_box = (min(r[0] for r in rects), min(r[1] for r in rects), max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects))
        write_patch_geotiff(out / "patch.tif", scene.path, patch_box, results())
        write_patch_vrt(out / "result.vrt", scene.path, out / "patch.tif", patch_box, rects)
    else:
        write_patched_geotiff(out / "result.tif", scene.path, results(), cog=cfg.output == "cog")
    t3 = time.perf_counter()
    write_sparse_geotiff(out / "mask.tif", info, cores("mask", lambda m: m.astype(np.uint8) * 255), count=1)
    write_sparse_geotiff(out / "generated.tif", info, cores("generated"), count=3)
    described = [describe_edit(e) for e in edits]
    masked = sum(int(p.core_of(p.mask).sum()) for p in pieces)  # as blended: after the seam cut
    map_source = f"{inputs.vector.notes['vector']} drawn window by window with the class mapping" if inputs.vector else str(inputs.labels)
    metrics = {
        "windowed": True,
        "scene": {"width": info.width, "height": info.height, "image": str(scene.path), "map": map_source},
        "result": RESULT_FILES[cfg.output],
        "result_format": RESULT_FORMATS[cfg.output],
        "edits": described,
        "mask_area_pixels": masked,
        "mask_area_fraction": round(masked / (info.width * info.height), 9),
        "changed_label_pixels": plan.info["changed_label_pixels"],
        "edit_windows": plan.info["windows"],
        "mask_from": derived_mask_from(any(f.get("found") for f in plan.info.get("shadow", []))),
        **({"shadow": plan.info["shadow"]} if "shadow" in plan.info else {}),
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
        "seam_cut": min(cfg.seam_cut, cfg.radius),
        "window_limit": cfg.window_limit,
        "checkpoint": str(cfg.checkpoint),
        "seconds": {"edit_and_mask": round(t1 - t0, 2), "generate_and_blend": round(t2 - t1, 2), "write_result": round(t3 - t2, 2)},
    }
    if patch_box is not None:
        metrics["patch"] = {
            "x0": patch_box[1], "y0": patch_box[0], "x1": patch_box[3], "y1": patch_box[2],
            "bytes": (out / "patch.tif").stat().st_size, "source": str(Path(scene.path).resolve()),
        }  # fmt: skip
    if scene.stretch is not None:
        metrics["bands"] = scene.notes()
    if inputs.vector is not None:
        metrics["vector"] = inputs.vector.notes
        edited_vector, metrics["edited_vector"] = _edited_vector(inputs.vector, plan, edits, renderer.palette)
        write_geojson(out / "edited.geojson", edited_vector)
    if info.transform is not None:
        truth = _truth(pieces, grid_of(info, scene.path), described)
        write_geojson(out / "truth.geojson", truth)
        metrics["truth"] = {"polygons": len(truth), "pixels": plan.info["mask_pixels"], "crs": truth.crs is not None}
    metrics["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    write_text(out / "metrics.json", json_text(metrics))
    if echo:
        echo(
            f"mask: {plan.info['mask_pixels']} pixels in {len(pieces)} window(s); {metrics['tiles_generated']} tile(s) rendered; "
            f"result: {out / metrics['result']} ({metrics['result_format']})"
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
        cfg: the run's options (``cfg.windowed``; edits from ``cfg.spec`` or ``edits_raw``).
        edits_raw: option edits as a spec list, when ``cfg`` names no spec.
        renderer: the generator of ``cfg.checkpoint`` already loaded; default: load it.
        echo: where progress lines go.
        progress: show a tile progress bar.
    """
    check_manipulate_config(cfg)
    cfg = replace(cfg, device=check_device(cfg.device), checkpoint=run_checkpoint(cfg.checkpoint))
    out = Path(cfg.out)
    check_fresh(out, OUT_HINT)
    if renderer is None:
        renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    inputs = check_windowed_inputs(cfg, renderer)
    # Regions in map coordinates and features' pixels are drawn once, each on its own box (a RegionCrop), never scene-sized.
    geo = inputs.vector.context if inputs.vector is not None else geo_context(inputs.scene.path, window_limit=cfg.window_limit)
    edits = load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance, geo=geo)
    tick, close = tile_progress(progress)
    with new_folder(out, OUT_HINT) as tmp:
        try:
            manipulate_windowed(cfg, renderer, inputs, edits, tmp, echo=None, progress=tick)
        finally:
            close()
    if echo:
        echo(f"result: {out / RESULT_FILES[cfg.output]}; mask: {out / 'mask.tif'}; metrics: {out / 'metrics.json'}")
    return out
