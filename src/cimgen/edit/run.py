"""Manipulation runs from files: one image or a folder of them, a generator, edits -> a results folder each.

This is what ``cimgen manipulate`` calls. It reads and checks every input before it writes
anything, optionally fine-tunes the generator on the target pair around the edit, makes
the map from the image with a CycleGAN/pix2pix model when no map is given, runs the
pipeline (tiled for large images), and writes the outputs (GeoTIFF in, GeoTIFF out). A
failed run leaves no output folder behind; a batch records each file in a manifest.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cimgen.palette import SNAP_TOLERANCE, Palette, labels_to_colors, palette_from_option
from cimgen.edit.ops import RemoveObject
from cimgen.errors import CimgenError

GEOTIFF_SUFFIXES = (".tif", ".tiff")
LABEL_MODELS = ("pix2pixhd", "pix2pixhd-global", "pix2pixhd-local")
IMAGE_MODELS = ("cyclegan", "pix2pix")
MANIFEST_FIELDS = (
    "image", "status", "error", "output", "edits", "mask_area_pixels", "mask_area_fraction", "changed_label_pixels",
    "ssim_outside_mask", "seam", "seam_original", "tiles_generated", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class ManipulateConfig:
    """Options of a manipulation run (``cimgen manipulate``)."""

    checkpoint: str
    """Generator: a pix2pixHD checkpoint (label maps in), or a CycleGAN/pix2pix one (colour maps in, needs ``palette``)."""
    out: str
    """Results folder (batch: one sub-folder per image, plus the manifest)."""
    image: str = ""
    """The image to manipulate (PNG, JPEG, or GeoTIFF kept georeferenced); or a folder of images for a batch."""
    map: str = ""
    """Its semantic map (label ids, or palette colours, snapped); for a batch, a folder of maps named like the images."""
    map_from: str = ""
    """A CycleGAN/pix2pix checkpoint that turns the image into a colour map, when no map is given."""
    map_from_direction: str = "AtoB"
    """Direction of ``map_from`` that goes image -> map."""
    direction: str = ""
    """Direction of a CycleGAN/pix2pix ``checkpoint`` that goes map -> image (default: BtoA for CycleGAN)."""
    palette: str = ""
    """Palette (JSON file or name: synth, cityscapes, buildings); default: the checkpoint's own."""
    spec: str = ""
    """An edit spec file (YAML or JSON); otherwise the edits come from the command's options."""
    edited_map: str = ""
    """A map edited elsewhere (GIMP, Photoshop) instead of edit operations; single images only."""
    instances: str = ""
    """Instance-id map of the image (Cityscapes style), so 'the object under a point' is an instance."""
    mask: str = ""
    """Blend region given by the user (non-zero = inside); default: changed labels dilated by ``radius``."""
    radius: int = 8
    """Dilation of the changed labels, in pixels."""
    blend: str = "feather"
    """Blend mode: hard, feather, laplacian, poisson or poisson-mixed."""
    feather: float = 6.0
    """Soft-edge width inside the mask, for feather and laplacian."""
    color_tolerance: float = SNAP_TOLERANCE
    """RGB distance within which colour-map colours (and blends of two) snap to the palette."""
    finetune: bool = False
    """Fine-tune the generator on the image and its map around the edit first (pix2pixHD)."""
    finetune_steps: int = 600
    """Fine-tuning iterations (the last quarter with linear decay)."""
    finetune_crop: int = 128
    """Random crop side during fine-tuning."""
    tile_size: int | None = None
    """Generate in tiles of this size; None: automatic (tiles above 2048 px a side); 0: never."""
    overlap: int = 128
    """Tile overlap in pixels."""
    device: str = "cpu"
    """Where the generators run (cpu, cuda)."""


# ----------------------------------------------------------------------------------------------
# Generators


@dataclass
class Renderer:
    """A generator as the pipeline uses it: labels -> image, with its classes."""

    render: Callable[[np.ndarray], np.ndarray]
    """HxW labels -> HxWx3 uint8."""
    palette: Palette
    """The classes (names and colours) of the maps it takes."""
    kind: str
    """pix2pixhd, cyclegan or pix2pix."""
    image_to_map: Callable[[np.ndarray], np.ndarray] | None = None
    """A CycleGAN's other direction (image -> colour map), when there is one."""


def load_renderer(checkpoint: str | Path, *, palette: str = "", direction: str = "", device: str = "cpu") -> Renderer:
    """The generator of a checkpoint as a labels -> image callable.

    pix2pixHD (and imported pix2pixHD) checkpoints take label maps; their palette is their own
    unless ``palette`` names another with as many classes. CycleGAN and pix2pix generators take
    colour maps, so they need ``palette`` to draw the labels with.
    """
    from cimgen.io.checkpoints import load_checkpoint

    config, _ = load_checkpoint(checkpoint)
    model = config.get("model")
    if model in LABEL_MODELS:
        from cimgen.train.pix2pixhd import generate, load_generator

        if direction:
            raise CimgenError("--direction applies to CycleGAN and pix2pix generators; this checkpoint is pix2pixHD")
        gen, gcfg = load_generator(checkpoint, device)
        nc = int(gcfg["label_nc"])
        pal = palette_from_option(palette) if palette else Palette.from_dict(gcfg["palette"])
        if pal.num_classes != nc:
            raise CimgenError(f"the palette has {pal.num_classes} classes but the generator takes {nc}")
        return Renderer(render=lambda labels: generate(gen, labels, nc, device), palette=pal, kind="pix2pixhd")
    if model in IMAGE_MODELS:
        from cimgen.train.cyclegan import load_cyclegan_generator, translate

        if not palette:
            raise CimgenError(f"a {model} generator draws from colour maps; name the classes and colours with --palette")
        pal = palette_from_option(palette)
        to_image = direction or ("BtoA" if model == "cyclegan" else "")
        gen = load_cyclegan_generator(checkpoint, to_image or None, device)
        other = None
        if model == "cyclegan":
            back = load_cyclegan_generator(checkpoint, "AtoB" if to_image == "BtoA" else "BtoA", device)
            other = lambda image: translate(back, image)
        return Renderer(render=lambda labels: translate(gen, labels_to_colors(labels, pal)), palette=pal, kind=model, image_to_map=other)
    raise CimgenError(f"checkpoint {checkpoint} holds a '{model}' model; manipulate takes pix2pixHD, CycleGAN or pix2pix generators")


def map_from_image(image: np.ndarray, to_map: Callable[[np.ndarray], np.ndarray], palette: Palette) -> np.ndarray:
    """Labels of an image made by an image -> colour map generator: each pixel takes the nearest palette colour."""
    from cimgen.palette import colors_to_labels

    return colors_to_labels(to_map(image), palette, tolerance=float("inf"), source="the generated map")


# ----------------------------------------------------------------------------------------------
# One image


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


def read_image_any(path: Path):
    """(HxWx3 uint8 image, GeoInfo or None): GeoTIFFs keep their georeferencing."""
    from cimgen.io.images import read_image

    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        from cimgen.io.geotiff import is_georeferenced, read_geotiff

        if path.is_file() and is_georeferenced(path):
            return read_geotiff(path)
    return read_image(path), None


def read_map_any(path: Path, palette: Palette, tolerance: float) -> tuple[np.ndarray, dict]:
    """A label map from a label/colour PNG or a single-band GeoTIFF of label ids."""
    from cimgen.io.images import read_edited_map

    if path.suffix.lower() in GEOTIFF_SUFFIXES and path.is_file():
        from cimgen.palette import check_labels
        from cimgen.io.geotiff import is_georeferenced, read_geotiff_labels

        if is_georeferenced(path):
            labels, _ = read_geotiff_labels(path)
            check_labels(labels, palette.num_classes, source=str(path))
            return labels.astype(np.uint8 if palette.num_classes <= 256 else np.int32), {}
    return read_edited_map(path, palette, tolerance=tolerance)


def load_edits(spec: str | Path | None, edits_raw: list | None, palette: Palette, tolerance: float) -> list:
    """The edit operations of a spec file, or of option edits given as a spec list; files they name are read now."""
    from cimgen.edit.spec import parse_edits, read_spec
    from cimgen.io.images import read_id_map, read_mask

    readers = {"read_map": lambda p: read_map_any(p, palette, tolerance)[0], "read_mask": read_mask, "read_instances": read_id_map}
    if spec:
        return read_spec(spec, palette, **readers)
    return parse_edits(edits_raw, palette, source="the edit options", **readers)


def read_inputs(
    cfg: ManipulateConfig, renderer: Renderer, image_path: Path, map_path: Path | None, edits: list | None, *, seed_key: str = ""
) -> Inputs:
    """Read and check the image, its map, the edited map and the mask for one manipulation.

    ``edits`` are the parsed operations (``load_edits``), None when ``cfg.edited_map`` gives the edit.
    """
    from cimgen.io.images import read_id_map, read_mask

    pal = renderer.palette
    image, geo = read_image_any(image_path)
    snap: dict = {}
    if map_path is not None:
        labels, snap = read_map_any(map_path, pal, cfg.color_tolerance)
        map_source = str(map_path)
    else:
        to_map = renderer.image_to_map
        source = "the generator's own image -> map direction"
        if cfg.map_from:
            from cimgen.train.cyclegan import load_cyclegan_generator, translate

            back = load_cyclegan_generator(cfg.map_from, cfg.map_from_direction, cfg.device)
            to_map = lambda im: translate(back, im)
            source = f"{cfg.map_from} ({cfg.map_from_direction})"
        if to_map is None:
            raise CimgenError("give the image's map with --map, or an image -> map CycleGAN with --map-from")
        labels = map_from_image(image, to_map, pal)
        map_source = source
    if labels.shape != image.shape[:2]:
        raise CimgenError(
            f"image {image_path} is {image.shape[1]}x{image.shape[0]} but map {map_path} is {labels.shape[1]}x{labels.shape[0]}"
        )
    instances = read_id_map(cfg.instances) if cfg.instances else None
    mask = read_mask(cfg.mask) if cfg.mask else None
    if mask is not None and mask.shape != labels.shape:
        raise CimgenError(f"mask {cfg.mask} is {mask.shape[1]}x{mask.shape[0]} but the image is {labels.shape[1]}x{labels.shape[0]}")
    edited = None
    if cfg.edited_map:
        edited, _ = read_map_any(Path(cfg.edited_map), pal, cfg.color_tolerance)
    if edits is not None and seed_key:
        # Random picks differ per image but do not shift when files are added to the folder.
        offset = zlib.crc32(seed_key.encode()) % (2**31)
        edits = [replace(e, seed=e.seed + offset) if isinstance(e, RemoveObject) and e.cls is not None else e for e in edits]
    return Inputs(image, labels, edits, edited, instances, mask, geo, map_source, snap)


@contextlib.contextmanager
def fresh_folder(out: Path):
    """Create ``out`` for a run's outputs and remove it again if the run fails, so no partial outputs stay."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CimgenError(f"{out} already exists and is not empty; choose another --out folder")
    existed = out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        if existed:
            out.mkdir(exist_ok=True)
        raise


def finetune_windows(
    mask_hint: np.ndarray | None, shape: tuple[int, int], *, window: int = 512, limit: int = 16
) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) windows to fine-tune on: the whole image when small, else windows touching the edit."""
    h, w = shape
    if max(h, w) <= 2 * window - window // 2 or mask_hint is None:
        if max(h, w) > 2 * window:  # large image without a hint: its centre
            y, x = max((h - window) // 2, 0), max((w - window) // 2, 0)
            return [(y, x, min(window, h), min(window, w))]
        return [(0, 0, h, w)]
    from cimgen.data.tiles import tile_starts

    ys, xs = tile_starts(h, window, window // 2, "shift"), tile_starts(w, window, window // 2, "shift")
    out = [(y, x, window, window) for y in ys for x in xs if mask_hint[y : y + window, x : x + window].any()]
    return out[:limit] or [(0, 0, min(window, h), min(window, w))]


def finetune_generator(cfg: ManipulateConfig, inputs: Inputs, hint: np.ndarray | None, run_dir: Path, *, echo, progress: bool) -> Path:
    """Fine-tune a pix2pixHD checkpoint on the target image and map (windows around the edit); returns the new checkpoint."""
    from cimgen.io.checkpoints import load_checkpoint
    from cimgen.io.images import write_image, write_label_map
    from cimgen.train.pix2pixhd import finetune_config, run_pix2pixhd

    if cfg.finetune_steps < 1:
        raise CimgenError(f"--finetune-steps must be at least 1, got {cfg.finetune_steps}")
    ckpt_cfg, _ = load_checkpoint(cfg.checkpoint)
    windows = finetune_windows(hint, inputs.labels.shape)
    data = run_dir / "data"
    for i, (y, x, h, w) in enumerate(windows):
        write_image(data / "images" / f"window_{i:03d}.png", inputs.image[y : y + h, x : x + w])
        write_label_map(data / "labels" / f"window_{i:03d}.png", inputs.labels[y : y + h, x : x + w])
    side = min(min(h, w) for _, _, h, w in windows)
    crop = min(cfg.finetune_crop, side - side % 16)
    epochs_total = max(1, -(-cfg.finetune_steps // len(windows)))
    decay = epochs_total // 4
    overrides = {
        "data": {"root": str(data), "format": "folders", "crop_size": crop, "flip": False, "palette": ""},
        "loop": {
            "epochs": epochs_total - decay,
            "decay_epochs": decay,
            "batch_size": 1,
            "checkpoint_every": epochs_total,
            "sample_every": epochs_total,
            "keep_checkpoints": 1,
        },
    }
    (data / "palette.json").write_text(json.dumps(Palette.from_dict(ckpt_cfg["palette"]).to_dict()))
    if echo:
        echo(f"fine-tuning on {len(windows)} window(s) of the image around the edit for {epochs_total * len(windows)} steps -> {run_dir}")
    return run_pix2pixhd(finetune_config(ckpt_cfg, overrides), run_dir / "run", init_from=cfg.checkpoint, echo=echo, progress=progress)


def manipulate_one(
    cfg: ManipulateConfig,
    renderer: Renderer,
    inputs: Inputs,
    out: Path,
    *,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> dict:
    """Run the pipeline on read inputs and write everything into ``out`` (which must be fresh); returns the metrics."""
    from cimgen.edit.mask import edit_mask
    from cimgen.edit.ops import apply_edits
    from cimgen.edit.pipeline import manipulate, manipulation_metrics
    from cimgen.report.html import write_report

    t0 = time.perf_counter()
    render = renderer.render
    edits, edited = inputs.edits, inputs.edited_labels
    if cfg.finetune:
        if renderer.kind != "pix2pixhd":
            raise CimgenError("--finetune fine-tunes pix2pixHD generators; this checkpoint is a " + renderer.kind)
        if edited is None:  # applied once here and handed to the pipeline as the edited map
            edited = apply_edits(inputs.labels, edits, num_classes=renderer.palette.num_classes, instances=inputs.instances)
            edits = None
        # Where the edit will be, so fine-tuning sees that part of the image.
        hint = inputs.mask if inputs.mask is not None else edit_mask(inputs.labels, edited, radius=cfg.radius + 64)
        last = finetune_generator(cfg, inputs, hint, out / "finetune", echo=echo, progress=progress)
        renderer = load_renderer(last, palette=cfg.palette, device=cfg.device)
        render = renderer.render
    bar = None
    tick = None
    if progress:
        from tqdm.auto import tqdm

        def tick(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="tile", desc="generating", mininterval=1.0)
            bar.n = done
            bar.refresh()

    try:
        m = manipulate(
            inputs.image,
            inputs.labels,
            edits,
            render,
            num_classes=renderer.palette.num_classes,
            edited_labels=edited,
            instances=inputs.instances,
            mask=inputs.mask,
            radius=cfg.radius,
            blend_mode=cfg.blend,
            feather=cfg.feather,
            tile_size=cfg.tile_size,
            overlap=cfg.overlap,
            progress=tick,
        )
    finally:
        if bar is not None:
            bar.close()
    metrics = {
        **manipulation_metrics(m),
        "checkpoint": str(cfg.checkpoint),
        "finetuned": cfg.finetune,
        "map": inputs.map_source,
        "map_colours_snapped": inputs.snap,
        "edits": [_describe(e) for e in inputs.edits] if inputs.edits is not None else f"edited map {cfg.edited_map}",
        "radius": cfg.radius if inputs.mask is None else None,
        "mask_from": cfg.mask or "changed labels, dilated",
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_report(out, m, renderer.palette, metrics, geo=inputs.geo)
    return metrics


def _describe(edit) -> dict:
    """A plain-data description of an edit operation for metrics and manifests."""
    d = {"op": type(edit).__name__}
    for k, v in vars(edit).items():
        if isinstance(v, np.ndarray):
            d[k] = f"array {v.shape[1]}x{v.shape[0]}"
        elif v is not None:
            d[k] = list(v) if isinstance(v, tuple) else v
    return d


# ----------------------------------------------------------------------------------------------
# Entry points


def run_manipulation(cfg: ManipulateConfig, edits_raw=None, *, echo: Callable[[str], None] | None = print, progress: bool = True) -> Path:
    """One image: check everything, then manipulate into ``cfg.out``; returns the report path."""
    out = Path(cfg.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CimgenError(f"{out} already exists and is not empty; choose another --out folder")
    renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    edits = None if cfg.edited_map else load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance)
    inputs = read_inputs(cfg, renderer, Path(cfg.image), Path(cfg.map) if cfg.map else None, edits)
    with fresh_folder(out):
        metrics = manipulate_one(cfg, renderer, inputs, out, echo=echo, progress=progress)
    if echo:
        suffix = ".tif" if inputs.geo is not None else ".png"
        ssim = metrics["ssim_outside_mask"]
        echo(
            f"mask: {metrics['mask_area_pixels']} pixels ({100 * metrics['mask_area_fraction']:.2f}%); "
            f"SSIM outside it: {'n/a' if ssim is None else f'{ssim:.3f}'}; seam: {metrics['seam']['seam']}"
        )
        echo(f"result: {out / ('result' + suffix)}; side by side: {out / 'side_by_side.png'}; report: {out / 'report.html'}")
    return out / "report.html"


def run_batch(cfg: ManipulateConfig, edits_raw=None, *, echo: Callable[[str], None] | None = print, progress: bool = True) -> Path:
    """A folder of images, each manipulated by the same edits into ``out/<name>/``; writes manifest.csv and manifest.json.

    A file whose manipulation fails (no object to remove, a region off its map) is recorded
    as failed with the reason, leaves no folder, and the batch goes on. Returns the manifest path.
    """
    from tqdm.auto import tqdm

    from cimgen.io.images import list_images

    out = Path(cfg.out)
    images = list_images(cfg.image)
    if not images:
        raise CimgenError(f"{cfg.image} holds no images")
    if cfg.edited_map:
        raise CimgenError("--edited-map is for one image; a batch applies an edit spec")
    if cfg.instances or cfg.mask:
        raise CimgenError("--instances and --mask are for one image; a batch applies an edit spec to each image")
    maps: dict[str, Path] = {}
    if cfg.map:
        folder = Path(cfg.map)
        if not folder.is_dir():
            raise CimgenError(f"for a folder of images, --map must be a folder of maps named like them; {folder} is not a folder")
        maps = {p.stem: p for p in list_images(folder)}
        missing = [p.name for p in images if p.stem not in maps]
        if missing:
            raise CimgenError(f"{len(missing)} image(s) have no map of the same name in {folder}, e.g. {missing[0]}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CimgenError(f"{out} already exists and is not empty; choose another --out folder")
    renderer = load_renderer(cfg.checkpoint, palette=cfg.palette, direction=cfg.direction, device=cfg.device)
    # Parsed once for all images, so a spec with a typo fails the whole batch before anything runs.
    edits = load_edits(cfg.spec, edits_raw, renderer.palette, cfg.color_tolerance)
    rows: list[dict] = []
    out.mkdir(parents=True, exist_ok=True)
    if echo:
        echo(f"manipulating {len(images)} images from {cfg.image} -> {out}")
    bar = tqdm(images, unit="image", mininterval=1.0, disable=not progress)
    for path in bar:
        t0 = time.perf_counter()
        target = out / path.stem
        row = {"image": str(path), "output": str(target)}
        try:
            inputs = read_inputs(cfg, renderer, path, maps.get(path.stem), edits, seed_key=path.stem)
            with fresh_folder(target):
                metrics = manipulate_one(cfg, renderer, inputs, target, echo=None, progress=False)
            row.update(
                status="ok",
                error="",
                edits=json.dumps(metrics["edits"]),
                mask_area_pixels=metrics["mask_area_pixels"],
                mask_area_fraction=metrics["mask_area_fraction"],
                changed_label_pixels=metrics["changed_label_pixels"],
                ssim_outside_mask=metrics["ssim_outside_mask"],
                seam=metrics["seam"]["seam"],
                seam_original=metrics["seam"]["seam_original"],
                tiles_generated=metrics.get("tiles_generated", ""),
            )
        except CimgenError as e:
            row.update(status="failed", error=str(e), output="")
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    from cimgen.io.images import write_text

    write_text(out / "manifest.json", json.dumps({"config": {k: v for k, v in vars(cfg).items()}, "files": rows}, indent=2))
    buf = _csv_text(rows)
    write_text(out / "manifest.csv", buf)
    ok = sum(r["status"] == "ok" for r in rows)
    if echo:
        echo(f"{ok} of {len(rows)} images manipulated" + (f"; {len(rows) - ok} failed (reasons in the manifest)" if ok < len(rows) else ""))
        echo(f"manifest: {out / 'manifest.csv'} and {out / 'manifest.json'}; results: {out}/<image name>/")
    if ok == 0:
        shutil.rmtree(out, ignore_errors=True)  # nothing was made: leave nothing behind
        raise CimgenError(f"no image could be manipulated; the first reason: {rows[0]['error']}")
    return out / "manifest.csv"


def _csv_text(rows: list[dict]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(MANIFEST_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_FIELDS})
    return buf.getvalue()
