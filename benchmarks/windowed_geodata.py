"""Peak memory of ``cimgen manipulate --windowed`` on a 16-bit single-band scene with a vector layer of footprints.

Builds (once, reused) a synthetic scene: a uint16 GeoTIFF of SIZE x SIZE pixels at 0.5 m in UTM 16N
(no-data 0, tiled, deflate), written strip by strip, with a building every ``SPACING`` pixels in
both directions (values 1400-1600 on a 300-500 ground), and their footprints as a GeoPackage with
a ``building`` attribute. Then runs the command in a fresh process under ``/usr/bin/time -v`` with
three edits: a footprint removed by id near a corner, the buildings of a query inside a lon/lat box,
and a building removed by a box in map coordinates across a tile border. It reports the peak
resident memory and wall time GNU time prints, and checks afterwards, strip by strip, that every
pixel outside the mask is the source's.

Run: PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/windowed_geodata.py [--size 16384] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cimgen.io.vector import crs_wkt, reproject_xy
from cimgen.train.runtime import cpu_summary

PIXEL = 0.5
X0, Y0 = 700000.0, 3740000.0  # top-left corner in UTM 16N
SPACING = 64  # a building every 64 pixels (32 m) in both directions
STRIP = 1024
CLASSES = "default: ground\nrules:\n  - {match: building=*, class: building}\n"


def _map_xy(col, row):
    return X0 + PIXEL * np.asarray(col, float), Y0 - PIXEL * np.asarray(row, float)


def buildings(size: int, seed: int) -> np.ndarray:
    """(n, 4) pixel boxes c0, r0, c1, r1 of the footprints: one per ``SPACING`` cell, 16-40 pixels a side, jittered.

    Each starts 24-39 pixels into its cell, so many cross the cell's far side, a multiple of 64, where
    the tile lines of 512-pixel tiles with overlap 64 lie (448 k and 448 k + 512).
    """
    rng = np.random.default_rng(seed)
    n = size // SPACING - 1
    rows, cols = np.meshgrid(np.arange(n) * SPACING, np.arange(n) * SPACING, indexing="ij")
    w, h = rng.integers(16, 41, (2, n, n))
    c0, r0 = cols + rng.integers(24, 40, (n, n)), rows + rng.integers(24, 40, (n, n))
    return np.stack([c0, r0, c0 + w, r0 + h], axis=-1).reshape(-1, 4)


def build(size: int, work: Path, seed: int = 0) -> dict:
    """Write ``scene.tif`` and ``buildings.gpkg`` into ``work`` unless they are there for this size and seed."""
    import pyogrio
    import rasterio
    import shapely
    from rasterio.transform import Affine
    from rasterio.windows import Window

    meta_path = work / "scene.json"
    key = {"size": size, "seed": seed, "spacing": SPACING}
    if meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        print(f"reusing the scene in {work}")
        return json.loads(meta_path.read_text())
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    boxes = buildings(size, seed)
    profile = {
        "driver": "GTiff", "height": size, "width": size, "count": 1, "dtype": "uint16", "crs": "EPSG:32616", "nodata": 0,
        "transform": Affine(PIXEL, 0, X0, 0, -PIXEL, Y0), "tiled": True, "blockxsize": 512, "blockysize": 512,
        "compress": "deflate", "BIGTIFF": "IF_SAFER",
    }  # fmt: skip
    rng = np.random.default_rng(seed + 1)
    with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(work / "scene.tif", "w", **profile) as ds:
        for y in range(0, size, STRIP):
            h = min(STRIP, size - y)
            band = (300 + rng.integers(0, 200, (h, size))).astype(np.uint16)
            hit = boxes[(boxes[:, 3] > y) & (boxes[:, 1] < y + h)]
            for c0, r0, c1, r1 in hit:
                band[max(r0 - y, 0) : min(r1 - y, h), c0:c1] += 1100
            band[:, :8] = 0  # a no-data strip along the left edge
            ds.write(band, 1, window=Window(0, y, size, h))
    # footprints a little off the pixel grid (no edge through a pixel centre): each covers exactly its box's pixels
    x0, y1 = _map_xy(boxes[:, 0] + 0.3, boxes[:, 1] + 0.3)
    x1, y0 = _map_xy(boxes[:, 2] + 0.3, boxes[:, 3] + 0.3)
    geoms = shapely.box(x0, y0, x1, y1)
    kinds = np.where(np.arange(len(boxes)) % 7 == 3, "shed", "yes").astype(object)
    layer_path = work / "buildings.gpkg"
    if layer_path.exists():
        layer_path.unlink()
    pyogrio.raw.write(layer_path, shapely.to_wkb(geoms), [kinds], ["building"], driver="GPKG", geometry_type="Polygon", crs="EPSG:32616")
    meta = {"key": key, "features": len(boxes), "seconds": round(time.perf_counter() - t0, 1)}
    meta_path.write_text(json.dumps(meta))
    return meta


def spec(size: int, seed: int) -> dict:
    """Three edits: a footprint by id near the top-left corner, sheds in a lon/lat box at the centre, a box in map coordinates on a tile border."""
    boxes = buildings(size, seed)
    n = size // SPACING
    corner = 1 * (n - 1) + 1  # row 1, column 1 of the grid of buildings
    mid = size // 2
    lon, lat = reproject_xy(*_map_xy([mid - 150, mid + 150], [mid + 150, mid - 150]), crs_wkt("EPSG:32616"), crs_wkt("EPSG:4326"))
    line = 448 * max(size // 448 // 3, 1)  # a tile line of the 512/64 grid, a third of the way in
    border = next(b for b in boxes if b[0] < line < b[2] and b[1] > line)  # a building the line crosses
    bx0, by1 = _map_xy(border[0] + 2, border[1] + 2)
    bx1, by0 = _map_xy(border[0] + 6, border[1] + 6)
    return {
        "edits": [
            {"op": "remove", "feature": int(corner) + 1},  # GeoPackage fids start at 1
            {"op": "remove", "where": "building == 'shed'", "within": [float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])], "crs": "EPSG:4326"},
            {"op": "remove", "class": "building", "box": [float(bx0), float(by0), float(bx1), float(by1)], "crs": "image"},
        ]
    }  # fmt: skip


def outside_identical(scene: Path, run: Path) -> bool:
    """Every pixel outside ``mask.tif`` equal to the scene's, checked strip by strip."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(scene) as s, rasterio.open(run / "result.tif") as r, rasterio.open(run / "mask.tif") as m:
        for y in range(0, s.height, STRIP):
            w = Window(0, y, s.width, min(STRIP, s.height - y))
            outside = m.read(1, window=w) == 0
            if not np.array_equal(s.read(1, window=w)[outside], r.read(1, window=w)[outside]):
                return False
    return True


def cpu_model() -> str:
    """The CPU's model name (as the other benchmarks print it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/cimgen-windowed-geodata")
    ap.add_argument("--tile-size", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=64)
    args = ap.parse_args()
    work = Path(args.work)
    meta = build(args.size, work, args.seed)
    (work / "classes.yaml").write_text(CLASSES)
    (work / "edits.json").write_text(json.dumps(spec(args.size, args.seed)))
    run = work / "run"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    command = [
        "/usr/bin/time", "-v", sys.executable, "-m", "cimgen", "manipulate", "--image", str(work / "scene.tif"),
        "--vector", str(work / "buildings.gpkg"), "--classes", str(work / "classes.yaml"), "--spec", str(work / "edits.json"),
        "--windowed", "--tile-size", str(args.tile_size), "--overlap", str(args.overlap), "--out", str(run), "--quiet",
    ]  # fmt: skip
    print(" ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the run failed:\n{done.stdout}\n{done.stderr}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr).group(1)
    metrics = json.loads((run / "metrics.json").read_text())
    identical = outside_identical(work / "scene.tif", run)
    import torch

    print(
        f"Machine: {cpu_model()}, {os.cpu_count()} CPU cores; {cpu_summary()}; torch {torch.__version__}, "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')} OMP threads"
    )
    print(f"scene {args.size}x{args.size} uint16, 1 band; {meta['features']:,} footprints (built in {meta['seconds']} s)")
    print(f"peak RSS {rss_kb:,} kB ({rss_kb / 2**20:.2f} GiB); wall {wall}")
    print(
        f"mask pixels {metrics['mask_area_pixels']:,}; tiles rendered {metrics['tiles_generated']}; removed {metrics['edited_vector']['features_removed']} "
        f"footprints; seconds {metrics['seconds']}; stretch sample {metrics['bands']['sample']}; low/high {metrics['bands']['low'][0]}/{metrics['bands']['high'][0]}"
    )
    print(f"outside the mask identical: {identical}")


if __name__ == "__main__":
    main()
