"""Compare the blend modes on synthetic and real samples: seam score, time, pictures; and time them on an 8192x8192 scene.

Synthetic samples: a tile of the synthetic world loses its buildings in a centre box
(``RemoveClass``), the mask is ``edit_mask`` of the change, and the shipped pretrained
generator (not fine-tuned on the tile, so its colours differ from the tile's) renders the
edited map. Real samples have no generator, so the "generated" image is a forgery: a copy of
the same photo moved by an offset (copy-move), or another photo of the same set, inside a mask
shaped like an object (a dilated building footprint, a dilated car, an ellipse). For each
sample and mode the script records the seam score, the original's own score on the same pixel
pairs, their ratio and the time; it writes the synthetic samples' pictures to docs/images/blending/,
the real samples' pictures under runs/blending-pictures/ (their licences forbid committing
pictures made from them), and the tables between the markers in docs/blending.md.

Run: .venv/bin/python benchmarks/blending.py [--data ../shared/data] [--no-large]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from cimgen.data.synth import BUILDING, SynthConfig, make_tile
from cimgen.edit.blend import BLENDS, SEAM, SEAM_ORIGINAL, SEAM_RATIO, blend, seam_report
from cimgen.edit.mask import dilate, edit_mask
from cimgen.edit.ops import RemoveClass
from cimgen.io.images import read_id_map, read_image
from cimgen.train.runtime import cpu_summary

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PICTURES = Path("docs/images/blending")
REAL_PICTURES = Path("runs/blending-pictures")
"""Pictures of the real samples: kept out of the repository (the data's licences forbid committing them)."""
DOC = Path("docs/blending.md")
TABLE_START, TABLE_END = "<!-- blending-table:start -->", "<!-- blending-table:end -->"
MODES = tuple(BLENDS)
REPEATS = 5
"""Each blend is timed this many times; the table gives the median."""
PANEL = 128
"""Height in pixels of each picture panel."""
ZOOM = 32
"""Side in pixels of the zoomed boundary window (shown 4x)."""


@dataclass
class Sample:
    """One blending case: what the table and the pictures show."""

    name: str
    """File stem of the pictures and the table's first column."""
    source: str
    """How the sample was made, in a few words."""
    original: np.ndarray
    generated: np.ndarray
    mask: np.ndarray


# ----------------------------------------------------------------------------- samples


def synthetic_samples(seed: int, tiles: list[int], size: int) -> list[Sample]:
    """Tiles of the synthetic world with their buildings removed in a centre box, rendered by the shipped generator."""
    import torch

    from cimgen.generators import generate, load_label_generator, shipped_checkpoint

    torch.set_num_threads(1)
    generator, cfg = load_label_generator(shipped_checkpoint())
    cfg_world = SynthConfig(height=size, width=size, seed=seed)
    lo, hi = int(size * 0.3), int(size * 0.7)  # a box of 40% of the side, as in the demo
    samples = []
    for index in tiles:
        tile = make_tile(cfg_world, index)
        edited = RemoveClass(BUILDING, (lo, lo, hi, hi)).apply(tile.labels)
        mask = edit_mask(tile.labels, edited, radius=8)
        generated = generate(generator, edited, cfg["label_nc"])
        samples.append(
            Sample(
                f"synth-{seed}-{index}",
                f"synthetic tile {index} of world seed {seed}, buildings removed in a centre box, pretrained generator",
                tile.image,
                generated,
                mask,
            )
        )
    return samples


def _shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved so that pixel (y, x) shows what was at (y + dy, x + dx) (mirrored past the edges)."""
    move = np.float32([[1, 0, -dx], [0, 1, -dy]])
    return cv2.warpAffine(image, move, (image.shape[1], image.shape[0]), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)


def _colour_shift(image: np.ndarray, gain: tuple[float, float, float], offset: tuple[float, float, float]) -> np.ndarray:
    """A generator's colour bias, imitated: per-channel gain and offset."""
    return np.clip(image.astype(np.float32) * np.float32(gain) + np.float32(offset), 0, 255).astype(np.uint8)


def spacenet_sample(data: Path) -> Sample:
    """A SpaceNet Rio building removed by copy-move: its dilated footprint gets ground from a nearby building-free spot."""
    stem = "3band_013022223130_Public_img52.tif"
    image = read_image(data / "spacenet-rio-buildings" / "3band" / stem)
    buildings = read_image(data / "spacenet-rio-buildings" / "building_mask_vis" / stem)[..., 0] > 127
    n, parts, stats, _ = cv2.connectedComponentsWithStats(buildings.astype(np.uint8), connectivity=8)
    # The largest building that keeps a margin of 30 pixels from the tile's edge.
    h, w = buildings.shape
    inner = [
        i
        for i in range(1, n)
        if stats[i, 0] > 30 and stats[i, 1] > 30 and stats[i, 0] + stats[i, 2] < w - 30 and stats[i, 1] + stats[i, 3] < h - 30
    ]
    target = max(inner, key=lambda i: stats[i, 4])
    mask = dilate(parts == target, 8)  # the pipeline's default radius
    # The nearest offset whose source region holds no building and lies inside the tile.
    ys, xs = np.nonzero(mask)
    best = None
    for dy in range(-120, 121, 4):
        for dx in range(-120, 121, 4):
            sy, sx = ys + dy, xs + dx
            if sy.min() < 0 or sx.min() < 0 or sy.max() >= h or sx.max() >= w or abs(dy) + abs(dx) < 30:
                continue
            if not buildings[sy, sx].any() and (best is None or dy * dy + dx * dx < best[0]):
                best = (dy * dy + dx * dx, dy, dx)
    _, dy, dx = best
    return Sample(
        "spacenet-rio-52",
        f"SpaceNet Rio tile img52, building removed: dilated footprint, copy-move by ({dy}, {dx}) px",
        image,
        _shifted(image, dy, dx),
        mask,
    )


def maps_sample(data: Path) -> Sample:
    """The pix2pix maps satellite photo with an ellipse filled by a colour-shifted copy of another part of it."""
    photo = read_image(data / "pix2pix-tf-samples" / "docs" / "maps.jpg")
    photo = np.ascontiguousarray(photo[:, : photo.shape[1] // 2])  # satellite | map: keep the satellite half
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(mask, (300, 260), (70, 45), 25, 0, 360, 1, -1)
    generated = _colour_shift(_shifted(photo, 60, -90), (1.12, 1.05, 0.92), (6, 0, -4))
    return Sample(
        "maps-satellite",
        "pix2pix maps satellite photo, ellipse, copy-move by (60, -90) px with a colour shift",
        photo,
        generated,
        mask.astype(bool),
    )


def cityscapes_sample(data: Path) -> Sample:
    """A Cityscapes car removed by copy-move: its dilated outline gets the road beside it (frame at a quarter size)."""
    folder = data / "cityscapes-samples"
    name = "aachen_000000_000019"
    small = (512, 256)
    photo = cv2.resize(read_image(folder / "train_img" / f"{name}_leftImg8bit.png"), small, interpolation=cv2.INTER_AREA)
    instances = cv2.resize(read_id_map(folder / "train_inst" / f"{name}_gtFine_instanceIds.png"), small, interpolation=cv2.INTER_NEAREST)
    cars = [i for i in np.unique(instances) if i // 1000 == 26]  # Cityscapes class 26 is car; ids >= 1000 are single objects
    car = max(cars, key=lambda i: int((instances == i).sum()))
    mask = dilate(instances == car, 5)
    # The nearest horizontal offset (same road, same distance) whose source holds no object (ids >= 1000) and lies in the frame.
    ys, xs = np.nonzero(mask)
    offsets = sorted((dx for dx in range(-200, 201, 2) if abs(dx) >= 40), key=abs)
    dx = next(d for d in offsets if xs.min() + d >= 0 and xs.max() + d < small[0] and not (instances[ys, xs + d] >= 1000).any())
    return Sample(
        "cityscapes-car",
        f"Cityscapes {name} at 512x256, largest car removed: outline dilated 5 px, copy-move by (0, {dx}) px",
        photo,
        _shifted(photo, 0, dx),
        mask,
    )


REAL_SAMPLES = {
    "spacenet-rio-buildings": spacenet_sample,
    "pix2pix-tf-samples": maps_sample,
    "cityscapes-samples": cityscapes_sample,
}


# ----------------------------------------------------------------------------- measuring


def measure(sample: Sample) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Blend ``sample`` with every mode (default options); the results and one row per mode."""
    results, rows = {}, []
    for mode in MODES:
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            out = blend(sample.original, sample.generated, sample.mask, mode=mode)
            times.append(time.perf_counter() - t0)
        outside = ~sample.mask
        assert np.array_equal(out[outside], sample.original[outside])  # the invariant, once more
        results[mode] = out
        rows.append({"mode": mode, **seam_report(out, sample.original, sample.mask), "ms": 1000 * float(np.median(times))})
    return results, rows


def large_scene(tile: Sample, side: int = 8192) -> tuple[list[dict], int]:
    """Time each mode on a ``side`` x ``side`` scene tiled from ``tile`` with its mask in three places only."""
    reps = -(-side // tile.original.shape[0])
    original = np.tile(tile.original, (reps, reps, 1))[:side, :side]
    generated = np.tile(tile.generated, (reps, reps, 1))[:side, :side]
    mask = np.zeros((side, side), bool)
    th, tw = tile.mask.shape
    for y, x in [(0, 0), (side // 2 - th // 2, side // 2 - tw // 2), (side - th, side - tw)]:  # two opposite corners and the centre
        mask[y : y + th, x : x + tw] = tile.mask
    blend(original, generated, mask, mode="hard")  # untimed: the first output copy pays the page faults
    rows = []
    for mode in MODES:
        tracemalloc.start()
        t0 = time.perf_counter()
        out = blend(original, generated, mask, mode=mode)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        t0 = time.perf_counter()
        report = seam_report(out, original, mask)
        seam_seconds = time.perf_counter() - t0
        rows.append(
            {"mode": mode, "s": seconds, "extra_mib": (peak - out.nbytes) / 2**20, "seam_s": seam_seconds, SEAM_RATIO: report[SEAM_RATIO]}
        )
        print(f"  {side}x{side} {mode}: {seconds:.2f} s, numpy peak beyond the output {(peak - out.nbytes) / 2**20:.1f} MiB")
        del out
    return rows, int(mask.sum())


# ----------------------------------------------------------------------------- pictures


def _context_box(mask: np.ndarray, pad: int = 24) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return slice(max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)), slice(max(xs.min() - pad, 0), min(xs.max() + pad + 1, w))


def _labelled(panel: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((16, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, panel], 0)


def _to_height(image: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    interp = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_NEAREST
    return cv2.resize(image, (width, height), interpolation=interp)


def _outline(image: np.ndarray, mask: np.ndarray, colour=(255, 220, 0)) -> np.ndarray:
    out = image.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, colour, 1)
    return out


def _strip(panels: list[tuple[str, np.ndarray]], height: int) -> np.ndarray:
    gap = np.full((height + 16, 4, 3), 255, np.uint8)
    parts = []
    for text, image in panels:
        parts += [_labelled(_to_height(image, height), text), gap]
    return np.concatenate(parts[:-1], 1)


def _boundary_point(sample: Sample, hard: np.ndarray) -> tuple[int, int]:
    """The boundary pixel where the hard paste's seam is worst over a 9x9 window: the most telling place to zoom."""
    m = sample.mask.astype(np.uint8)
    edge = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - m).astype(bool)  # outside pixels touching the mask
    jump = np.abs(cv2.blur(hard.astype(np.float32), (3, 3)) - cv2.blur(sample.original.astype(np.float32), (3, 3))).mean(axis=2)
    score = cv2.blur(np.where(edge, cv2.dilate(jump, np.ones((3, 3), np.uint8)), 0).astype(np.float32), (9, 9))
    h, w = m.shape
    half = ZOOM // 2
    score[:half], score[h - half :], score[:, :half], score[:, w - half :] = 0, 0, 0, 0  # keep the window inside the image
    y, x = np.unravel_index(np.argmax(score), score.shape)
    return int(y), int(x)


def save_pictures(sample: Sample, results: dict[str, np.ndarray], folder: Path) -> list[Path]:
    ys, xs = _context_box(sample.mask)
    mask_panel = np.repeat((sample.mask[ys, xs] * 255).astype(np.uint8)[..., None], 3, 2)
    panels = [("original", sample.original[ys, xs]), ("generated", sample.generated[ys, xs]), ("mask", mask_panel)]
    panels += [(mode, results[mode][ys, xs]) for mode in MODES]
    strip = folder / f"{sample.name}.png"
    Image.fromarray(_strip(panels, PANEL)).save(strip, optimize=True)

    y, x = _boundary_point(sample, results["hard"])
    zy, zx = slice(y - ZOOM // 2, y + ZOOM // 2), slice(x - ZOOM // 2, x + ZOOM // 2)
    big = 4 * ZOOM
    original = _outline(
        cv2.resize(sample.original[zy, zx], (big, big), interpolation=cv2.INTER_NEAREST),
        cv2.resize(sample.mask[zy, zx].astype(np.uint8), (big, big), interpolation=cv2.INTER_NEAREST),
    )
    zoom_panels = [("original + mask edge", original)] + [(mode, results[mode][zy, zx]) for mode in MODES]
    zoom = folder / f"{sample.name}-zoom.png"
    Image.fromarray(_strip(zoom_panels, big)).save(zoom, optimize=True)
    return [strip, zoom]


# ----------------------------------------------------------------------------- tables


def sample_table(samples: list[Sample], rows: dict[str, list[dict]]) -> str:
    lines = [
        "| sample | size | mask pixels | mode | seam | seam_original | seam_ratio | ms (median of 5) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for s in samples:
        for r in rows[s.name]:
            size = f"{s.original.shape[1]}x{s.original.shape[0]}"
            lines.append(
                f"| {s.name} | {size} | {int(s.mask.sum())} | {r['mode']} | {r[SEAM]:.2f} | {r[SEAM_ORIGINAL]:.2f} | {r[SEAM_RATIO]:.2f} | {r['ms']:.1f} |"
            )
    return "\n".join(lines)


def ratio_table(samples: list[Sample], rows: dict[str, list[dict]]) -> str:
    lines = ["| sample | " + " | ".join(MODES) + " |", "|---|" + "---:|" * len(MODES)]
    for s in samples:
        lines.append(f"| {s.name} | " + " | ".join(f"{r[SEAM_RATIO]:.2f}" for r in rows[s.name]) + " |")
    return "\n".join(lines)


def large_table(rows: list[dict], mask_pixels: int, side: int) -> str:
    lines = [
        f"{side}x{side} scene, mask of {mask_pixels} pixels in three places (two opposite corners and the centre):",
        "",
        "| mode | blend seconds | numpy peak beyond the output (MiB) | seam_report seconds |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['s']:.2f} | {r['extra_mib']:.1f} | {r['seam_s']:.3f} |")
    return "\n".join(lines)


def write_doc(doc: Path, text: str) -> None:
    page = doc.read_text()
    if TABLE_START not in page or TABLE_END not in page:
        raise SystemExit(f"{doc} has no {TABLE_START} ... {TABLE_END} markers to write the tables between")
    head, rest = page.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    doc.write_text(f"{head}{TABLE_START}\n{text}\n{TABLE_END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared real-data folder (see its SOURCES.md)")
    ap.add_argument("--pictures", type=Path, default=PICTURES, help="the synthetic samples' pictures (committed)")
    ap.add_argument("--real-pictures", type=Path, default=REAL_PICTURES, help="the real samples' pictures (never committed)")
    ap.add_argument("--doc", type=Path, default=DOC, help="page whose table markers receive the results")
    ap.add_argument("--no-large", action="store_true", help="skip the 8192x8192 timing")
    args = ap.parse_args()
    args.pictures.mkdir(parents=True, exist_ok=True)
    args.real_pictures.mkdir(parents=True, exist_ok=True)

    print("making synthetic samples (shipped pretrained generator, CPU)")
    samples = synthetic_samples(seed=1, tiles=[0, 2], size=256)
    if not args.data.is_dir():
        print(f"skipping the real samples: {args.data} does not exist (pass --data to point at the shared data)")
    else:
        for folder, make in REAL_SAMPLES.items():
            if not (args.data / folder).is_dir():
                print(f"skipping {folder}: {args.data / folder} does not exist")
                continue
            print(f"making the {folder} sample")
            samples.append(make(args.data))

    rows, written = {}, []
    for sample in samples:
        print(f"blending {sample.name}: {sample.original.shape[1]}x{sample.original.shape[0]}, {int(sample.mask.sum())} mask pixels")
        results, rows[sample.name] = measure(sample)
        for r in rows[sample.name]:
            print(f"  {r['mode']:14s} seam {r[SEAM]:6.2f}  original {r[SEAM_ORIGINAL]:6.2f}  ratio {r[SEAM_RATIO]:5.2f}  {r['ms']:7.1f} ms")
        written += save_pictures(sample, results, args.pictures if sample.name.startswith("synth") else args.real_pictures)

    import torch

    cmd = " ".join([".venv/bin/python", *sys.argv])
    text = [
        (
            f"Command: `{cmd}`. Measured on {os.cpu_count()} CPU cores ({cpu_summary()}, Python {platform.python_version()}, "
            f"OpenCV {cv2.__version__}, torch {torch.__version__}), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
            "default options (feather 6, levels 4)."
        ),
        "",
        "Sources: " + "; ".join(f"**{s.name}**: {s.source}" for s in samples) + ".",
        "",
        sample_table(samples, rows),
        "",
        "Seam ratio per sample and mode (1 means the boundary is as smooth as the image is there):",
        "",
        ratio_table(samples, rows),
    ]
    if not args.no_large:
        print("timing an 8192x8192 scene")
        large_rows, mask_pixels = large_scene(samples[0])
        text += ["", large_table(large_rows, mask_pixels, 8192)]
    write_doc(args.doc, "\n".join(text))
    total = sum(p.stat().st_size for p in written)
    print(
        f"wrote {len(written)} pictures ({total / 1024:.0f} KiB) under {args.pictures}/ (synthetic) and {args.real_pictures}/ "
        f"(real samples, not to be committed), and the tables into {args.doc}"
    )


if __name__ == "__main__":
    main()
