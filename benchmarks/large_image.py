"""Manipulate an 8192x8192 synthetic scene tile by tile: peak memory, time per tile touched, seams at tile borders.

Each case (an edit in one corner, one across a tile border, both, a larger block, every
building of the scene) runs in a fresh Python process that reads the scene GeoTIFF, applies
``RemoveClass`` edits, derives the mask, renders the touched tiles with the shipped generator
through ``generate_tiled``, blends with ``blend(mode="feather")``, writes the result as a
GeoTIFF and reports its own peak resident memory (``ru_maxrss``). The results are printed as a
markdown section (and written to ``--out`` when given).

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/large_image.py [--size 8192] [--out FILE]

``--windowed`` runs the corner and border cases through ``cimgen manipulate --windowed`` instead;
``--windowed --output patch --sizes 8192,32768`` runs the corner + border case on a scene of each
size in one go (scenes in ``--work``/scene-SIZE, built or reused) and prints how the time of a run
that writes only the edited windows (patch.tif + result.vrt) compares across scene sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cimgen.data.synth import BUILDING, SynthConfig, make_tile
from cimgen.edit.mask import edit_mask
from cimgen.edit.ops import RemoveClass, apply_edits
from cimgen.edit.tiled import tile_boxes
from cimgen.io.geotiff import read_geotiff, read_geotiff_info, read_geotiff_labels, write_geotiff
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

SYNTH_TILE = 256  # the scale the shipped generator was trained at
MOSAIC_OFFSET = 100  # keeps the mosaic's joins off the generation grid's lines (448k and 448k + 512 are 0 mod 64)
RADIUS = 8  # mask dilation, the pipeline's default
MARGIN = 32  # tiles within this many pixels of the mask are rendered
CONTROL_MAX_PIXELS = 2600 * 2600  # seam controls (one-piece rendering, overlap 0) only for boxes this small
UTM_33N_WKT = (
    'PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",15],PARAMETER["scale_factor",0.9996],'
    'PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","32633"]]'
)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the scene ----------------------------------------------------------------------------------


def build_scene(size: int, seed: int, work: Path, pool: int = 0) -> dict:
    """Write the scene as ``scene.tif`` (RGB) and ``labels.tif``: a mosaic of 256x256 synthetic tiles, written band by band.

    ``make_tile`` at 8192x8192 would draw one 256-pixel city scaled up 32 times (houses hundreds
    of pixels wide, far from what the generator learned) and, extrapolated from 2048x2048
    (3.0 s, 0.64 GB), need about 9 GB; so the scene is tiled from the world's own 256x256 tiles,
    shifted by ``MOSAIC_OFFSET`` pixels. Roads end at the mosaic's joins. One row of synthetic
    tiles (256 rows of the scene) is held at a time, so building a 32768x32768 scene needs no
    more memory than an 8192 one. ``pool`` > 0 draws each position's tile from that many distinct
    tiles (seeded), which keeps a 32768 scene's 16,641 positions to a few minutes of drawing.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import Affine
    from rasterio.windows import Window

    meta_path = work / "scene.json"
    meta = {"size": size, "seed": seed, "synth_tile": SYNTH_TILE, "offset": MOSAIC_OFFSET, "pool": pool}
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == meta:
        print(f"reusing the scene in {work}")
        return json.loads(meta_path.read_text())
    t0 = time.perf_counter()
    n = (size + MOSAIC_OFFSET) // SYNTH_TILE + 1
    cfg = SynthConfig(height=SYNTH_TILE, width=SYNTH_TILE, seed=seed)
    pick = np.arange(n * n).reshape(n, n) if pool <= 0 else np.random.default_rng(seed).integers(0, pool, (n, n))
    cache: dict = {}

    def tile(i: int):
        if pool <= 0:
            return make_tile(cfg, i)
        if i not in cache:
            cache[i] = make_tile(cfg, i)
        return cache[i]

    # A made-up place: 0.3 m pixels in UTM zone 33N, so the GeoTIFF path is exercised end to end.
    profile = {
        "driver": "GTiff", "height": size, "width": size, "crs": CRS.from_wkt(UTM_33N_WKT),
        "transform": Affine(0.3, 0.0, 500_000.0, 0.0, -0.3, 5_200_000.0), "tiled": True, "blockxsize": 256, "blockysize": 256,
        "compress": "deflate", "predictor": 2, "BIGTIFF": "IF_SAFER", "dtype": "uint8",
    }  # fmt: skip
    with (
        rasterio.Env(GDAL_CACHEMAX=64),
        rasterio.open(work / "scene.tif", "w", count=3, photometric="RGB", **profile) as img_ds,
        rasterio.open(work / "labels.tif", "w", count=1, **profile) as lab_ds,
    ):
        img_ds.update_tags(SOURCE="cimgen synthetic world mosaic", SEED=str(seed))
        lab_ds.update_tags(SOURCE="cimgen synthetic world mosaic", SEED=str(seed))
        for r in range(n):
            top = r * SYNTH_TILE - MOSAIC_OFFSET  # scene row of this band's first row
            rows = slice(max(-top, 0), min(SYNTH_TILE, size - top))
            if rows.start >= rows.stop:
                continue
            labels = np.zeros((SYNTH_TILE, n * SYNTH_TILE), np.uint8)
            image = np.zeros((SYNTH_TILE, n * SYNTH_TILE, 3), np.uint8)
            for c in range(n):
                t = tile(int(pick[r, c]))
                labels[:, c * SYNTH_TILE : (c + 1) * SYNTH_TILE] = t.labels
                image[:, c * SYNTH_TILE : (c + 1) * SYNTH_TILE] = t.image
            cols = slice(MOSAIC_OFFSET, MOSAIC_OFFSET + size)
            window = Window(0, top + rows.start, size, rows.stop - rows.start)
            lab_ds.write(labels[rows, cols], 1, window=window)
            img_ds.write(np.ascontiguousarray(image[rows, cols].transpose(2, 0, 1)), window=window)
            print(f"\rscene: {r + 1}/{n} rows of synthetic tiles", end="", flush=True)
    print()
    build_s = time.perf_counter() - t0
    meta = {
        "key": meta,
        "tiles": n * n,
        "distinct_tiles": len(np.unique(pick)),
        "build_seconds": round(build_s, 1),
        "peak_rss_mib": peak_rss_mib(),
    }
    meta_path.write_text(json.dumps(meta))
    print(f"scene: {size}x{size} from {n * n} tiles in {build_s:.1f} s (peak RSS {peak_rss_mib() / 1024:.2f} GiB) -> {work}")
    return meta


def touched_tiles(mask: np.ndarray, oy: int, ox: int, size: int, tile_size: int, overlap: int) -> int:
    """How many grid tiles a mask crop (placed at oy, ox in the scene) brings into rendering."""
    h, w = mask.shape
    count = 0
    for y, x, th, tw in tile_boxes(size, size, tile_size=tile_size, overlap=overlap):
        y0, y1 = max(y - MARGIN - oy, 0), min(y + th + MARGIN - oy, h)
        x0, x1 = max(x - MARGIN - ox, 0), min(x + tw + MARGIN - ox, w)
        count += y0 < y1 and x0 < x1 and bool(mask[y0:y1, x0:x1].any())
    return count


def find_box(
    labels_path: Path, size: int, centre: tuple[int, int], side: int, search: int, want_tiles: int, args
) -> tuple[int, int, int, int]:
    """The ``side`` box near ``centre`` (x, y) that removes the most building pixels and touches ``want_tiles`` tiles (read by windows)."""
    best, best_changed = None, 0
    for dy in range(-search, search + 1, 16):
        for dx in range(-search, search + 1, 16):
            x0, y0 = centre[0] + dx - side // 2, centre[1] + dy - side // 2
            box = (x0, y0, x0 + side, y0 + side)
            if x0 < 0 or y0 < 0 or x0 + side > size or y0 + side > size:
                continue
            # Removal takes whole buildings, which stay within 300 pixels of the box in this world.
            cy0, cx0 = max(y0 - 300, 0), max(x0 - 300, 0)
            cy1, cx1 = min(y0 + side + 300, size), min(x0 + side + 300, size)
            crop = read_geotiff_labels(labels_path, window=(cy0, cx0, cy1 - cy0, cx1 - cx0))[0]
            edit = RemoveClass(cls=BUILDING, box=(x0 - cx0, y0 - cy0, x0 - cx0 + side, y0 - cy0 + side))
            edited = edit.apply(crop)
            changed = int((edited != crop).sum())
            if (
                changed > best_changed
                and touched_tiles(edit_mask_or_empty(crop, edited), cy0, cx0, size, args.tile_size, args.overlap) == want_tiles
            ):
                best, best_changed = box, changed
    if best is None:
        raise SystemExit(f"no {side}-pixel box with buildings touching {want_tiles} tiles near {centre}")
    return best


def edit_mask_or_empty(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return edit_mask(before, after, radius=RADIUS) if (before != after).any() else np.zeros(before.shape, bool)


def plan_cases(args, work: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    """Edit boxes per case, chosen once on the scene's labels and saved beside it."""
    plan_path = work / f"cases-{args.tile_size}-{args.overlap}.json"
    if plan_path.exists():
        return {k: [tuple(b) for b in v] for k, v in json.loads(plan_path.read_text()).items()}
    size, stride = read_geotiff_info(work / "labels.tif").height, args.tile_size - args.overlap
    # Corner: inside the top-left tile's core. Border: centred on the shared strip of two tile
    # columns near the middle, inside one tile row's core, so it touches exactly those two tiles.
    mid = (size // 2) // stride
    strip_x = mid * stride + args.overlap // 2
    core_y = mid * stride + args.overlap + (args.tile_size - 2 * args.overlap) // 2
    corner = find_box(work / "labels.tif", size, (args.tile_size // 3, args.tile_size // 3), 96, 64, 1, args)
    border = find_box(work / "labels.tif", size, (strip_x, core_y), 96, 48, 2, args)
    block = (size // 4, size // 4, size // 4 + 1400, size // 4 + 1400)
    plan = {
        "corner": [corner],
        "border": [border],
        "corner + border": [corner, border],
        "block 1400x1400": [block],
        "every building": [(0, 0, size, size)],
    }
    plan_path.write_text(json.dumps(plan))
    return plan


# --- one case, in its own process ---------------------------------------------------------------


def run_case(args, work: Path, boxes: list) -> dict:
    import torch

    from cimgen.edit.blend import blend
    from cimgen.edit.tiled import generate_tiled, tile_seam_score
    from cimgen.generators import generate, load_label_generator, shipped_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    times = {}
    t = time.perf_counter()
    original, info = read_geotiff(work / "scene.tif")
    labels, _ = read_geotiff_labels(work / "labels.tif")
    generator, config = load_label_generator(shipped_checkpoint())
    label_nc = config["label_nc"]
    times["load"] = time.perf_counter() - t

    t = time.perf_counter()
    edited = apply_edits(labels, [RemoveClass(cls=BUILDING, box=tuple(b)) for b in boxes], num_classes=label_nc)
    mask = edit_mask(labels, edited, radius=RADIUS)
    times["edit + mask"] = time.perf_counter() - t

    def render(tile: np.ndarray) -> np.ndarray:
        return generate(generator, tile, label_nc)

    with torch.inference_mode():
        tiled = generate_tiled(edited, render, tile_size=args.tile_size, overlap=args.overlap, mask=mask, margin=MARGIN, fill=original)
    times["generate"] = tiled.seconds
    peak_before_blend = peak_rss_mib()

    t = time.perf_counter()
    result = blend(original, tiled.generated, mask, mode="feather")
    times["blend"] = time.perf_counter() - t

    t = time.perf_counter()
    write_geotiff(work / "result.tif", result, info)
    times["write"] = time.perf_counter() - t
    peak = peak_rss_mib()

    # Checks (after the peak was taken): untouched pixels, and seams at the tile borders.
    identical = all(
        np.array_equal(result[y : y + 512][~mask[y : y + 512]], original[y : y + 512][~mask[y : y + 512]])
        for y in range(0, result.shape[0], 512)
    )
    seams = tile_seam_score(tiled.generated, tiled.tiles)
    seams_in_mask = tile_seam_score(result, tiled.tiles, region=mask)
    out = {
        "tiles": len(tiled.tiles),
        "tiles_total": tiled.tiles_total,
        "mask_pixels": int(mask.sum()),
        "times": times,
        "peak_rss_mib": peak,
        "peak_rss_before_blend_mib": peak_before_blend,
        "outside_identical": identical,
        "seams": seams,
        "seams_in_mask": seams_in_mask,
    }

    # Controls for the seam figures, for a few tiles in a small box: the bounding box of the
    # rendered tiles rendered in one piece (no tile borders; the same lines scored), and the same
    # edit tiled with overlap 0 on the abutting grid (hard seams, scored on that grid's lines).
    y0, x0 = min(t[0] for t in tiled.tiles), min(t[1] for t in tiled.tiles)
    y1, x1 = max(t[0] + t[2] for t in tiled.tiles), max(t[1] + t[3] for t in tiled.tiles)
    if len(tiled.tiles) > 1 and (y1 - y0) * (x1 - x0) <= CONTROL_MAX_PIXELS:
        del result, original
        local = [(y - y0, x - x0, h, w) for y, x, h, w in tiled.tiles]
        with torch.inference_mode():
            whole = render(edited[y0:y1, x0:x1])
        out["one_piece_seams"] = tile_seam_score(whole, local)
        covered = np.zeros((y1 - y0, x1 - x0), bool)
        for y, x, h, w in local:
            covered[y : y + h, x : x + w] = True
        diff = np.abs(tiled.generated[y0:y1, x0:x1].astype(np.int16) - whole).mean(axis=2)
        out["tiled_vs_one_piece_mean_abs"] = float(diff[covered].mean())
        del whole, diff
        with torch.inference_mode():
            hard = generate_tiled(edited, render, tile_size=args.tile_size, overlap=0, mask=mask, margin=MARGIN)
        out["no_overlap_seams"] = tile_seam_score(hard.generated, hard.tiles)
        out["no_overlap_tiles"] = len(hard.tiles)
    out["peak_rss_with_controls_mib"] = peak_rss_mib()
    return out


def vrt_sources_are_the_scene_and_the_pieces(vrt: Path, scene: Path, metrics: dict) -> bool:
    """Whether each band of ``vrt`` reads the whole scene first and then exactly the run's pieces from patch.tif, at 1:1."""
    import xml.etree.ElementTree as ET

    def rect(e) -> tuple[int, ...]:
        return tuple(int(e.get(k)) for k in ("xOff", "yOff", "xSize", "ySize"))

    size = metrics["scene"]["width"], metrics["scene"]["height"]
    pieces = sorted((p["x0"], p["y0"], p["x1"] - p["x0"], p["y1"] - p["y0"]) for p in metrics["pieces"])
    for band in ET.parse(vrt).getroot().findall("VRTRasterBand"):
        first, *rest = band.findall("SimpleSource")
        if Path(first.find("SourceFilename").text) != scene.resolve() or rect(first.find("SrcRect")) != rect(first.find("DstRect")):
            return False
        if rect(first.find("DstRect")) != (0, 0, *size) or band.findall("ComplexSource"):
            return False
        if sorted(rect(e.find("DstRect")) for e in rest) != pieces or any(e.find("SourceFilename").text != "patch.tif" for e in rest):
            return False
        if any(rect(e.find("SrcRect"))[2:] != rect(e.find("DstRect"))[2:] for e in rest):
            return False
    return True


def _combine(parts: list[dict]) -> dict:
    """Seam scores of several pieces as one: each group's mean over all its pairs."""
    from cimgen.edit.tiled import SEAM_CORE, SEAM_EDGE, SEAM_NEAR, SEAM_OVERLAP

    out = {}
    for g in (SEAM_EDGE, SEAM_NEAR, SEAM_OVERLAP, SEAM_CORE):
        pairs = sum(p[f"{g}_pairs"] for p in parts)
        out[g] = sum((p[g] or 0.0) * p[f"{g}_pairs"] for p in parts) / pairs if pairs else None
        out[f"{g}_pairs"] = pairs
    out["ratio"] = out["edge"] / out["core"] if out["edge"] is not None and out["core"] else None
    return out


def run_windowed_case(args, work: Path, boxes: list) -> dict:
    """One case through ``cimgen manipulate --windowed`` (``run_windowed``): peak RSS of the whole run, then checks."""
    import shutil

    import rasterio
    import torch

    from cimgen.edit.tiled import generate_tiled, tile_seam_score, tiles_touching
    from cimgen.edit.windowed import plan_windowed
    from cimgen.generators import generate, load_label_generator, shipped_checkpoint
    from cimgen.runs.options import ManipulateConfig
    from cimgen.runs.windowed import run_windowed

    if args.threads:
        torch.set_num_threads(args.threads)
    out = work / "windowed-run"
    shutil.rmtree(out, ignore_errors=True)
    spec = work / "case-spec.json"
    spec.write_text(json.dumps({"edits": [{"op": "remove", "class": "building", "box": list(b)} for b in boxes]}))
    cfg = ManipulateConfig(
        checkpoint="", out=str(out), image=str(work / "scene.tif"), map=str(work / "labels.tif"), spec=str(spec),
        radius=RADIUS, tile_size=args.tile_size, overlap=args.overlap, windowed=True, output=args.output,
    )  # fmt: skip
    t = time.perf_counter()
    run_windowed(cfg, echo=None, progress=False)
    wall = time.perf_counter() - t
    peak = peak_rss_mib()
    metrics = json.loads((out / "metrics.json").read_text())
    size = metrics["scene"]["height"]
    result_path = out / metrics["result"]

    # Checks, after the peak was taken.
    t = time.perf_counter()
    with (
        rasterio.Env(GDAL_CACHEMAX=64),
        rasterio.open(work / "scene.tif") as src,
        rasterio.open(result_path) as res,
        rasterio.open(out / "mask.tif") as msk,
    ):
        from rasterio.windows import Window

        def same_outside(y, x, h, w) -> bool:
            win = Window(x, y, w, h)
            outside = msk.read(1, window=win) == 0
            return np.array_equal(src.read(window=win)[:, outside], res.read(window=win)[:, outside])

        if size <= args.full_check or args.output != "patch":
            identical = all(same_outside(y, 0, min(512, size - y), size) for y in range(0, size, 512))
            checked = "every pixel"
        else:
            # A VRT reads the scene wherever no piece lies: check that it has no other source, every piece's window whole,
            # and random 512-pixel windows; reading all 32768x32768 twice more would take minutes.
            identical = vrt_sources_are_the_scene_and_the_pieces(result_path, work / "scene.tif", metrics)
            identical &= all(same_outside(p["y0"], p["x0"], p["y1"] - p["y0"], p["x1"] - p["x0"]) for p in metrics["pieces"])
            rng = np.random.default_rng(args.seed)
            identical &= all(same_outside(int(y), int(x), 512, 512) for y, x in rng.integers(0, size - 512, (args.check_windows, 2)))
            checked = f"the VRT's sources, every piece and {args.check_windows} random 512-px windows"
        if args.output == "patch":
            cog = {"layout": "VRT", "patch": metrics["patch"], "bytes": metrics["patch"]["bytes"], "checked": checked}
        else:
            cog = {
                "layout": res.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
                "overviews": res.overviews(1),
                "block": list(res.block_shapes[0]),
                "compress": res.compression.name.lower() if res.compression else None,
                "bytes": result_path.stat().st_size,
                "checked": checked,
            }
    check_s = time.perf_counter() - t

    generator, config = load_label_generator(shipped_checkpoint())
    label_nc = config["label_nc"]

    def render(tile: np.ndarray) -> np.ndarray:
        return generate(generator, tile, label_nc)

    def read_labels(y, x, h, w):
        return read_geotiff_labels(work / "labels.tif", window=(y, x, h, w))[0]

    from cimgen.edit.ops import RemoveClass

    plan = plan_windowed(
        read_labels, (size, size), [RemoveClass(cls=BUILDING, box=tuple(b)) for b in boxes], num_classes=label_nc, radius=RADIUS
    )

    def edited_window(y0, x0, y1, x1):
        labels = read_labels(y0, x0, y1 - y0, x1 - x0)
        for p in plan.patches:
            py0, px0, py1, px1 = p.box
            a0, b0, a1, b1 = max(y0, py0), max(x0, px0), min(y1, py1), min(x1, px1)
            if a0 < a1 and b0 < b1:
                labels[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] = p.edited[a0 - py0 : a1 - py0, b0 - px0 : b1 - px0]
        return labels

    seams, seams_in_mask, one_piece, no_overlap, mean_abs = [], [], [], [], []
    with rasterio.open(out / "generated.tif") as gen_ds, rasterio.open(result_path) as res, rasterio.open(out / "mask.tif") as msk:
        for piece in metrics["pieces"]:
            x0, y0, x1, y1 = piece["x0"], piece["y0"], piece["x1"], piece["y1"]
            w = Window(x0, y0, x1 - x0, y1 - y0)
            generated = gen_ds.read(window=w).transpose(1, 2, 0)
            result = res.read(window=w).transpose(1, 2, 0)
            mask = msk.read(1, window=w) > 0
            local = [(ty - y0, tx - x0, th, tw) for ty, tx, th, tw in piece["tiles"]]
            seams.append(tile_seam_score(generated, local))
            seams_in_mask.append(tile_seam_score(result, local, region=mask))
            if len(local) > 1 and (y1 - y0) * (x1 - x0) <= CONTROL_MAX_PIXELS:
                edited = edited_window(y0, x0, y1, x1)
                with torch.inference_mode():
                    whole = render(edited)
                one_piece.append(tile_seam_score(whole, local))
                covered = np.zeros(mask.shape, bool)
                for ty, tx, th, tw in local:
                    covered[ty : ty + th, tx : tx + tw] = True
                mean_abs.append(float(np.abs(generated.astype(np.int16) - whole).mean(axis=2)[covered].mean()))
                hard_tiles = tiles_touching(mask, (y0, x0), (size, size), tile_size=args.tile_size, overlap=0, margin=MARGIN)
                hy0, hx0 = min(t[0] for t in hard_tiles), min(t[1] for t in hard_tiles)
                hy1, hx1 = max(t[0] + t[2] for t in hard_tiles), max(t[1] + t[3] for t in hard_tiles)
                hmask = np.zeros((hy1 - hy0, hx1 - hx0), bool)
                a0, b0, a1, b1 = max(hy0, y0), max(hx0, x0), min(hy1, y1), min(hx1, x1)
                hmask[a0 - hy0 : a1 - hy0, b0 - hx0 : b1 - hx0] = mask[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0]
                with torch.inference_mode():
                    hard = generate_tiled(
                        edited_window(hy0, hx0, hy1, hx1), render, tile_size=args.tile_size, overlap=0, mask=hmask, margin=MARGIN,
                        origin=(hy0, hx0), full_shape=(size, size),
                    )  # fmt: skip
                no_overlap.append(tile_seam_score(hard.generated, hard.tiles))
    return {
        "tiles": metrics["tiles_generated"],
        "tiles_total": len(tile_boxes(size, size, tile_size=args.tile_size, overlap=args.overlap)),
        "mask_pixels": metrics["mask_area_pixels"],
        "windows": metrics["edit_windows"],
        "pieces": len(metrics["pieces"]),
        "times": {
            "load": wall - metrics["seconds"]["total"],
            "edit + mask": metrics["seconds"]["edit_and_mask"],
            "generate + blend": metrics["seconds"]["generate_and_blend"],
            "write result": metrics["seconds"]["write_result"],
            "total": wall,
        },
        "peak_rss_mib": peak,
        "outside_identical": identical,
        "check_seconds": check_s,
        "cog": cog,
        "seams": _combine(seams),
        "seams_in_mask": _combine(seams_in_mask),
        **({"one_piece_seams": _combine(one_piece), "no_overlap_seams": _combine(no_overlap),
            "tiled_vs_one_piece_mean_abs": sum(mean_abs) / len(mean_abs)} if one_piece else {}),
    }  # fmt: skip


def machine_line(threads: int, torch_version: str) -> str:
    """The report's line on the machine: CPU, its instruction sets, torch and its threads."""
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} CPU cores; {cpu_summary()}; torch {torch_version} (CPU), {threads} torch threads, "
        f"Python {platform.python_version()}; no GPU."
    )


def report_windowed(args, scene: dict, plan: dict, results: dict, threads: int, torch_version: str) -> str:
    cmd = " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)"), ".venv/bin/python", *sys.argv])
    pool = f", drawn from {scene.get('distinct_tiles')} distinct tiles" if args.pool else ""
    lines = [
        f"### {args.size}x{args.size}, windowed (`cimgen manipulate --windowed`), tiles of {args.tile_size}, overlap {args.overlap}",
        "",
        f"Command: `{cmd}`",
        "",
        machine_line(threads, torch_version),
        "",
        (
            f"Scene: {args.size}x{args.size}, a mosaic of {scene['tiles']} synthetic-world tiles of 256x256{pool} (seed {args.seed}, "
            f"shifted {MOSAIC_OFFSET} px), a deflate GeoTIFF in UTM 33N written band by band in {scene['build_seconds']} s "
            f"(peak RSS {scene.get('peak_rss_mib', 0) / 1024:.2f} GiB; not counted below). Each case is a fresh process running "
            "`cimgen.runs.windowed.run_windowed` (what `cimgen manipulate --windowed` calls): load the shipped generator, remove the "
            f"buildings touching the box(es) on windows of the map, mask = changed pixels and the removed buildings' shadows (`--shadows auto`) dilated by {RADIUS}, render the touched tiles "
            f"(margin 0 for the feather blend), blend, {WRITES[args.output]}, "
            "sparse `mask.tif` and `generated.tif`, `truth.geojson`. Peak RSS is the process's `ru_maxrss` "
            "after the run (Python, torch and the generator included)."
        ),
        "",
        "| case | edit boxes (x0, y0, x1, y1) | mask pixels | tiles rendered (grid) | edit windows (tries) | peak RSS | load | edit + mask | generate + blend | s per tile | write result.tif | total | outside mask identical | result.tif |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in results.items():
        t = r["times"]
        boxes = "; ".join(str(tuple(b)) for b in plan[name])
        windows = "; ".join(f"{w['window'][2] - w['window'][0]}x{w['window'][3] - w['window'][1]} ({w['tries']})" for w in r["windows"])
        lines.append(
            f"| {name} | {boxes} | {r['mask_pixels']:,} | {r['tiles']} ({r['tiles_total']:,}) | {windows} | {r['peak_rss_mib'] / 1024:.2f} GiB | "
            f"{t['load']:.1f} s | {t['edit + mask']:.1f} s | {t['generate + blend']:.1f} s | {t['generate + blend'] / r['tiles']:.2f} s | "
            f"{t['write result']:.1f} s | {t['total']:.1f} s | {'yes' if r['outside_identical'] else '**no**'} | {output_cell(r['cog'])} |"
        )
    lines += [
        "",
        (
            "Seams at tile borders, as in the 8192 tables (scored per rendered piece on `generated.tif` and, inside the mask, on "
            "`result.tif`; pieces pooled by pairs):"
        ),
        "",
        *seam_table(results),
    ]
    return "\n".join(lines) + "\n"


def output_cell(cog: dict) -> str:
    """What the run wrote, for a table cell."""
    if cog["layout"] == "VRT":
        p = cog["patch"]
        return f"result.vrt + patch.tif ({p['x1'] - p['x0']}x{p['y1'] - p['y0']} box, {cog['bytes'] / 2**20:.2f} MiB)"
    return f"{cog['layout']}, {cog['compress']}, {cog['block'][0]}-px blocks, overviews {cog['overviews']}, {cog['bytes'] / 2**30:.2f} GiB"


WRITES = {
    "cog": "write `result.tif` as a COG with overviews (the source copied block by block, the pieces over it)",
    "gtiff": "write `result.tif` as a plain tiled GeoTIFF (the source copied block by block, the pieces over it)",
    "patch": "write the pieces only as `patch.tif` and `result.vrt` laying it over the scene (`--output patch`)",
}


def report_sizes(args, scenes: dict, plans: dict, results: dict, walls: dict, threads: int, torch_version: str) -> str:
    """The ``--sizes`` section: one case on scenes of several sizes, and how its time compares across them."""
    cmd = " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)"), ".venv/bin/python", *sys.argv])
    lines = [
        (
            f"### Scenes of {', '.join(f'{s}x{s}' for s in scenes)}, windowed, `--output {args.output}`, tiles of {args.tile_size}, "
            f"overlap {args.overlap}"
        ),
        "",
        f"Command: `{cmd}`",
        "",
        machine_line(threads, torch_version),
        "",
        (
            "Scenes: mosaics of 256x256 synthetic-world tiles"
            + (f" drawn from {args.pool} distinct tiles" if args.pool else "")
            + f" (seed {args.seed}, shifted {MOSAIC_OFFSET} px), deflate GeoTIFFs in UTM 33N, built or reused in `--work`/scene-SIZE "
            f"(not counted). Each row is a fresh process running `cimgen.runs.windowed.run_windowed`: load the shipped generator, "
            f"remove the buildings touching the boxes on windows of the map, mask = changed pixels and the removed buildings' shadows (`--shadows auto`) dilated by {RADIUS}, render the "
            f"touched tiles, blend, {WRITES[args.output]}, sparse `mask.tif` and `generated.tif`, `truth.geojson`. *run* is "
            "`run_windowed`'s wall time, *process* the whole process's (Python and torch imports and the checks included); peak "
            "RSS is the process's `ru_maxrss` after the run."
        ),
        "",
        "| scene | case | edit boxes (x0, y0, x1, y1) | mask pixels | tiles rendered (grid) | peak RSS | load | edit + mask | generate + blend | s per tile | write output | run | process | outside mask identical (checked) | written |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, r in results.items():
        size, name = key
        t = r["times"]
        boxes = "; ".join(str(tuple(b)) for b in plans[size][name])
        lines.append(
            f"| {size}x{size} | {name} | {boxes} | {r['mask_pixels']:,} | {r['tiles']} ({r['tiles_total']:,}) | "
            f"{r['peak_rss_mib'] / 1024:.2f} GiB | {t['load']:.1f} s | {t['edit + mask']:.2f} s | {t['generate + blend']:.1f} s | "
            f"{t['generate + blend'] / r['tiles']:.2f} s | {t['write result']:.2f} s | {t['total']:.1f} s | {walls[key]:.0f} s | "
            f"{'yes' if r['outside_identical'] else '**no**'} ({r['cog']['checked']}) | {output_cell(r['cog'])} |"
        )
    keys = list(results)
    if len(keys) > 1:
        s0, s1 = keys[0][0], keys[-1][0]
        a, b = results[keys[0]], results[keys[-1]]
        lines += [
            "",
            (
                f"{s1}x{s1} against {s0}x{s0}: {(s1 / s0) ** 2:.0f} times the pixels, {b['tiles']} against {a['tiles']} tiles rendered; "
                f"run time {b['times']['total'] / a['times']['total']:.2f}x ({b['times']['total'] / b['tiles']:.2f} s against "
                f"{a['times']['total'] / a['tiles']:.2f} s per tile rendered), writing the output "
                f"{b['times']['write result'] / max(a['times']['write result'], 1e-3):.2f}x, peak RSS "
                f"{b['peak_rss_mib'] / a['peak_rss_mib']:.2f}x."
            ),
        ]
    lines += ["", "Seams at tile borders, as in the 8192 tables:", ""]
    lines += seam_table({f"{k[0]}x{k[0]}: {k[1]}": r for k, r in results.items()})
    return "\n".join(lines) + "\n"


def seam_table(results: dict) -> list[str]:
    """The seam table's lines (header and one row per case), as both reports print it."""
    lines = [
        "| case | edge | near | core | ratio | ratio inside the mask (pairs) | one piece: edge / core = ratio | overlap 0: edge / core = ratio | tiled vs one piece, mean abs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def triple(s: dict | None) -> str:
        return "–" if s is None else f"{fmt(s['edge'])} / {fmt(s['core'])} = {fmt(s['ratio'])}"

    for name, r in results.items():
        s, m = r["seams"], r["seams_in_mask"]
        lines.append(
            f"| {name} | {fmt(s['edge'])} | {fmt(s['near'])} | {fmt(s['core'])} | {fmt(s['ratio'])} | "
            f"{fmt(m['ratio'])} ({m['edge_pairs']:,}) | {triple(r.get('one_piece_seams'))} | {triple(r.get('no_overlap_seams'))} | "
            f"{fmt(r.get('tiled_vs_one_piece_mean_abs'))} |"
        )
    return lines


# --- the report ---------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu_summary()


def fmt(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def report(args, scene: dict, plan: dict, results: dict, threads: int, torch_version: str) -> str:
    cmd = " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)"), ".venv/bin/python", *sys.argv])
    lines = [
        "## Large images: tiled manipulation of an 8192x8192 scene (`benchmarks/large_image.py`)",
        "",
        f"Command: `{cmd}`",
        "",
        (
            f"Machine: {cpu_model()}, {os.cpu_count()} CPU cores, torch {torch_version} (CPU), {threads} torch threads, "
            f"Python {platform.python_version()}; no GPU."
        ),
        "",
        (
            f"Scene: {args.size}x{args.size}, a mosaic of {scene['tiles']} synthetic-world tiles of 256x256 (seed {args.seed}, "
            f"shifted {MOSAIC_OFFSET} px so its joins miss the tile grid), stored as a deflate GeoTIFF in UTM 33N; built in "
            f"{scene['build_seconds']} s (not counted below). Each case is a fresh process: read the GeoTIFFs, remove the buildings "
            f"touching the box(es) (`RemoveClass`), mask = changed pixels dilated by {RADIUS}, `generate_tiled` with the shipped "
            f"generator (tile {args.tile_size}, overlap {args.overlap}, margin {MARGIN}; {results[next(iter(results))]['tiles_total']} "
            'tiles in the grid), `blend(mode="feather")`, write the result GeoTIFF. Peak RSS is the process\'s `ru_maxrss` '
            "after writing (Python, torch and the generator included)."
        ),
        "",
        "| case | edit boxes (x0, y0, x1, y1) | mask pixels | tiles rendered | peak RSS | peak RSS before blending | load | edit + mask | generate | s per tile | blend | write | total | outside mask identical |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        t = r["times"]
        total = sum(t.values())
        boxes = "; ".join(str(tuple(b)) for b in plan[name]) if name != "every building" else "whole scene"
        lines.append(
            f"| {name} | {boxes} | {r['mask_pixels']:,} | {r['tiles']} | {r['peak_rss_mib'] / 1024:.2f} GiB | "
            f"{r['peak_rss_before_blend_mib'] / 1024:.2f} GiB | {t['load']:.1f} s | "
            f"{t['edit + mask']:.1f} s | {t['generate']:.1f} s | {t['generate'] / r['tiles']:.2f} s | {t['blend']:.1f} s | "
            f"{t['write']:.1f} s | {total:.1f} s | {'yes' if r['outside_identical'] else '**no**'} |"
        )
    lines += [
        "",
        (
            "Seams at tile borders (`tile_seam_score`): mean absolute difference, in 8-bit levels, of 4-neighbour pixel pairs "
            "straddling a tile's border line (*edge*), on the lines 2-4 px beside those (*near*) and inside single-tile cores "
            "(*core*); *ratio* = edge / core. Scored on the merged rendering over the rendered tiles, and on the final image "
            "with only the pairs inside the mask. Two controls where the rendered tiles' bounding box is at most "
            f"{round(CONTROL_MAX_PIXELS**0.5)} px square: that box rendered in one piece (no tile borders at all) and scored "
            "on the same lines, and the same edit tiled with overlap 0 (abutting tiles, hard seams) scored on its own lines."
        ),
        "",
        *seam_table(results),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8192, help="scene side in pixels")
    ap.add_argument("--tile-size", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0, help="synthetic world seed")
    ap.add_argument("--pool", type=int, default=0, help="draw the mosaic from this many distinct synthetic tiles (0: every tile distinct)")
    ap.add_argument(
        "--windowed", action="store_true", help="run the cases through cimgen manipulate --windowed (corner, border, corner + border)"
    )
    ap.add_argument(
        "--output", default="cog", choices=("cog", "gtiff", "patch"), help="--windowed: what the run writes (cimgen manipulate --output)"
    )
    ap.add_argument(
        "--sizes", default="", help="with --windowed: comma-separated scene sides, the case(s) run on a scene of each (e.g. 8192,32768)"
    )
    ap.add_argument(
        "--full-check", type=int, default=8192, help="--output patch: compare every pixel outside the mask on scenes up to this side"
    )
    ap.add_argument("--check-windows", type=int, default=32, help="--output patch, larger scenes: random 512-px windows compared")
    ap.add_argument("--build-only", action="store_true", help="build the scene and stop")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default, which follows OMP_NUM_THREADS)")
    ap.add_argument("--work", default="/tmp/cimgen-large-image", help="folder for the scene GeoTIFFs and results (reused)")
    ap.add_argument("--cases", default="", help="comma-separated case names to run (default: all)")
    ap.add_argument("--out", default="", help="also write the markdown section to this file (default: print only)")
    ap.add_argument("--case", default="", help=argparse.SUPPRESS)  # internal: run one case and print JSON
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    if args.case:
        plan = plan_cases(args, work)
        case = run_windowed_case if args.windowed else run_case
        print("RESULT " + json_text(case(args, work, plan[args.case]), indent=None))
        return

    import torch

    if args.sizes:
        if not args.windowed:
            raise SystemExit("--sizes runs windowed cases; add --windowed")
        run_sizes(args, work, [int(v) for v in args.sizes.split(",")], torch)
        return
    scene = build_scene(args.size, args.seed, work, args.pool)
    if args.build_only:
        return
    plan = plan_cases(args, work)
    names = [n for n in plan if not args.cases or n in args.cases.split(",")]
    if args.windowed and not args.cases:
        names = ["corner", "border", "corner + border"]
    results = {}
    for name in names:
        print(f"case '{name}': boxes {plan[name]} ...", flush=True)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--case", name], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"case '{name}' failed")
        r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
        results[name] = r
        gen = r["times"].get("generate", r["times"].get("generate + blend"))
        print(
            f"  {r['tiles']}/{r['tiles_total']} tiles, generate {gen:.1f} s "
            f"({gen / r['tiles']:.2f} s/tile), peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB, "
            f"seam ratio {fmt(r['seams']['ratio'])}, process {time.perf_counter() - t:.0f} s",
            flush=True,
        )
    (work / "results.json").write_text(json_text(results))
    text = (report_windowed if args.windowed else report)(
        args, scene, plan, results, args.threads or torch.get_num_threads(), torch.__version__
    )
    print()
    print(text)
    outputs = [str(work / "results.json"), str(work / "result.tif") + " (last case)"]
    if args.out:
        Path(args.out).write_text(text)
        outputs.insert(0, args.out)
    print("outputs: " + ", ".join(outputs))


def run_sizes(args, work: Path, sizes: list[int], torch) -> None:
    """``--sizes``: the case(s) (default: corner + border) on a scene of each size, each in a fresh process; one report."""
    import copy

    scenes, plans, results, walls = {}, {}, {}, {}
    for size in sizes:
        sub = work / f"scene-{size}"
        sub.mkdir(parents=True, exist_ok=True)
        scenes[size] = build_scene(size, args.seed, sub, args.pool)
        sized = copy.copy(args)
        sized.size = size
        plans[size] = plan_cases(sized, sub)
        for name in args.cases.split(",") if args.cases else ["corner + border"]:
            print(f"{size}x{size}, case '{name}': boxes {plans[size][name]} ...", flush=True)
            t = time.perf_counter()
            cmd = [sys.executable, __file__, *sys.argv[1:], "--size", str(size), "--work", str(sub), "--case", name]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            walls[size, name] = time.perf_counter() - t
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"case '{name}' on {size}x{size} failed")
            r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
            results[size, name] = r
            print(
                f"  {r['tiles']}/{r['tiles_total']} tiles, run {r['times']['total']:.1f} s (write {r['times']['write result']:.2f} s), "
                f"peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB, outside identical {r['outside_identical']}, "
                f"process {walls[size, name]:.0f} s",
                flush=True,
            )
    (work / "results-sizes.json").write_text(json_text({f"{s}: {n}": r for (s, n), r in results.items()}))
    text = report_sizes(args, scenes, plans, results, walls, args.threads or torch.get_num_threads(), torch.__version__)
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    print("outputs: " + ", ".join([*([args.out] if args.out else []), str(work / "results-sizes.json")]))


if __name__ == "__main__":
    main()
