"""A procedural top-down city: label maps, their street-map colouring, and satellite-like images.

Each tile is made in two steps. The layout step draws the semantic map (rivers and ponds,
a road grid, city blocks filled with houses, large flat-roofed buildings, parks, lots and
trees) and keeps a little geometry per object (building rectangles and heights, road centre
lines, tree crowns). The rendering step paints an aerial image that follows the map: asphalt
with edge lines and dashed centre markings, gable roofs lit on the sun side, flat roofs with
parapets and rooftop units, cast shadows away from the sun whose length follows building
height, grass and soil with multi-scale texture, rounded tree crowns, water that darkens
with distance from the shore and carries ripples, a slight optical blur and sensor noise.

Everything is drawn from one ``numpy.random.Generator`` seeded by (world seed, tile index),
so a tile is the same whatever other tiles are made and in whatever order.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cimgen.errors import CimgenError
from cimgen.io.images import write_image, write_label_map, write_text
from cimgen.palette import SYNTH_PALETTE, labels_to_colors
from cimgen.textfiles import json_text

GROUND, ROAD, BUILDING, WATER, VEGETATION, TREE = range(6)

# Sun from the upper left: shadows fall to the lower right (x, y per unit of height).
_SHADOW_DIR = np.array([0.75, 0.55])


@dataclass(frozen=True)
class SynthConfig:
    """Options of the synthetic world."""

    height: int = 256
    """Tile height in pixels."""
    width: int = 256
    """Tile width in pixels."""
    seed: int = 0
    """World seed; tile i uses the stream (seed, i)."""
    noise_sigma: float = 2.5
    """Standard deviation of the sensor noise, in 8-bit levels."""
    water_probability: float = 0.35
    """Chance that a tile has a river or a pond."""
    block_mix: tuple[float, float, float, float] = (0.5, 0.22, 0.16, 0.12)
    """Chances of residential, commercial, park and empty blocks."""


@dataclass
class Tile:
    """One tile of the world."""

    labels: np.ndarray
    """HxW uint8 label map (ids follow ``SYNTH_PALETTE``)."""
    map_rgb: np.ndarray
    """HxWx3 uint8 street-map colouring of ``labels``."""
    image: np.ndarray
    """HxWx3 uint8 satellite-like image."""
    buildings: list[dict] = field(default_factory=list)
    """Footprint rectangle (x0, y0, x1, y1), height and roof type of each building."""


def _fbm(rng: np.random.Generator, h: int, w: int, base_cell: float, octaves: int = 4) -> np.ndarray:
    """Fractal value noise in about [-1, 1], features of ``base_cell`` pixels and finer."""
    out = np.zeros((h, w), np.float32)
    amp, total, cell = 1.0, 0.0, base_cell
    for _ in range(octaves):
        gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cell = max(cell / 2.0, 1.0)
    return np.clip(out / total, -2.5, 2.5) / 1.5


def _layout(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, list[dict], list[tuple], list[tuple]]:
    h, w = cfg.height, cfg.width
    s = min(h, w) / 256.0
    labels = np.full((h, w), GROUND, np.uint8)

    # Water first, so roads drawn later become bridges.
    if rng.random() < cfg.water_probability:
        water = np.zeros((h, w), np.uint8)
        if rng.random() < 0.6:
            vertical = rng.random() < 0.5
            n = 8
            t = np.linspace(-0.1, 1.1, n)
            offset = rng.uniform(0.2, 0.8) + np.cumsum(rng.normal(0, 0.06, n))
            pts = np.stack([offset * w, t * h], 1) if vertical else np.stack([t * w, offset * h], 1)
            thick = max(2, int(rng.uniform(14, 30) * s))
            cv2.polylines(water, [pts.astype(np.int32)], False, 1, thickness=thick)
        else:
            blob = _fbm(rng, h, w, 48 * s, 3)
            cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
            yy, xx = np.mgrid[0:h, 0:w]
            r = np.hypot((yy - cy) / (0.22 * h), (xx - cx) / (0.25 * w))
            water[(r + 0.35 * blob) < 0.8] = 1
        labels[water > 0] = WATER

    # A road grid with jittered spacing and widths, sometimes one diagonal avenue.
    road = np.zeros((h, w), np.uint8)
    centre_lines: list[tuple] = []
    for axis, length in ((0, w), (1, h)):
        pos = rng.uniform(0.1, 0.6) * 90 * s
        while pos < length - 8 * s:
            width = max(2, int(rng.uniform(7, 14) * s))
            p = int(pos)
            a, b = ((p, -5), (p, h + 5)) if axis == 0 else ((-5, p), (w + 5, p))
            cv2.line(road, a, b, 1, thickness=width)
            centre_lines.append((a, b, width))
            pos += rng.uniform(70, 120) * s
    if rng.random() < 0.3:
        y0, y1 = rng.uniform(0, h), rng.uniform(0, h)
        width = max(2, int(rng.uniform(9, 14) * s))
        a, b = (-5, int(y0)), (w + 5, int(y1))
        cv2.line(road, a, b, 1, thickness=width)
        centre_lines.append((a, b, width))
    labels[road > 0] = ROAD

    # City blocks: what is left of the ground between roads and water.
    n_blocks, block_ids, stats, _ = cv2.connectedComponentsWithStats((labels == GROUND).astype(np.uint8), connectivity=4)
    buildings: list[dict] = []
    trees: list[tuple] = []
    occupied = np.zeros((h, w), np.uint8)
    for b in range(1, n_blocks):
        x, y, bw, bh, area = stats[b]
        if area < 30 * s * s:
            continue
        block = block_ids == b
        setback = max(1, int(3 * s))
        inner = cv2.erode(block.astype(np.uint8), np.ones((2 * setback + 1, 2 * setback + 1), np.uint8)) > 0
        kind = rng.choice(4, p=np.asarray(cfg.block_mix) / np.sum(cfg.block_mix))
        if kind == 0:  # residential: lawns, rows of houses, garden trees
            if rng.random() < 0.6:
                labels[block] = VEGETATION
            cell = rng.uniform(18, 30) * s
            for cy in np.arange(y + setback, y + bh - 6 * s, cell):
                for cx in np.arange(x + setback, x + bw - 6 * s, cell):
                    fw, fh = rng.uniform(0.5, 0.8) * cell, rng.uniform(0.5, 0.8) * cell
                    if rng.random() < 0.5:
                        fh *= rng.uniform(0.6, 0.9)
                    _place_building(rng, labels, inner, occupied, buildings, cx, cy, fw, fh, s, "gable")
            _scatter_trees(rng, labels, block, occupied, trees, int(area / (500 * s * s)) + 1, s)
        elif kind == 1:  # commercial: a few large flat-roofed buildings on paved lots
            for _ in range(rng.integers(1, 4)):
                fw, fh = rng.uniform(0.3, 0.7) * bw, rng.uniform(0.3, 0.7) * bh
                cx, cy = x + rng.uniform(0, max(1.0, bw - fw)), y + rng.uniform(0, max(1.0, bh - fh))
                _place_building(rng, labels, inner, occupied, buildings, cx, cy, fw, fh, s, "flat")
            _scatter_trees(rng, labels, block, occupied, trees, rng.integers(0, 3), s)
        elif kind == 2:  # park: grass and clumps of trees
            labels[block] = VEGETATION
            _scatter_trees(rng, labels, block, occupied, trees, int(area / (180 * s * s)) + 2, s)
        else:  # empty lot with a few trees
            _scatter_trees(rng, labels, block, occupied, trees, rng.integers(0, 4), s)
    return labels, buildings, centre_lines, trees


def _place_building(rng, labels, inner, occupied, buildings, cx, cy, fw, fh, s, roof) -> None:
    x0, y0 = int(round(cx)), int(round(cy))
    x1, y1 = int(round(cx + fw)), int(round(cy + fh))
    h, w = labels.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < max(3, 4 * s) or y1 - y0 < max(3, 4 * s):
        return
    if not inner[y0:y1, x0:x1].all() or occupied[y0:y1, x0:x1].any():
        return
    area = (x1 - x0) * (y1 - y0) / (s * s)
    # Bigger footprints stand taller, with some spread, so shadows follow the map.
    height = (4.0 + 0.012 * area if roof == "gable" else 6.0 + 0.004 * area) * rng.uniform(0.85, 1.15) * s
    height = min(height, 22 * s)
    labels[y0:y1, x0:x1] = BUILDING
    pad = max(1, int(2 * s))
    occupied[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = 1
    buildings.append({"box": (x0, y0, x1, y1), "height": float(height), "roof": roof, "tone": float(rng.uniform(-1, 1))})


def _scatter_trees(rng, labels, block, occupied, trees, count, s) -> None:
    ys, xs = np.nonzero(block & (occupied == 0) & (labels != BUILDING))
    if len(ys) == 0:
        return
    for _ in range(int(count)):
        i = rng.integers(len(ys))
        cx, cy = int(xs[i]), int(ys[i])
        for _ in range(rng.integers(1, 4)):  # small clumps
            r = max(1, int(rng.uniform(3, 7) * s))
            px, py = cx + int(rng.normal(0, 4 * s)), cy + int(rng.normal(0, 4 * s))
            disk = np.zeros_like(labels)
            cv2.circle(disk, (px, py), r, 1, -1)
            disk = (disk > 0) & block & (occupied == 0) & (labels != BUILDING)
            if disk.sum() < 3:
                continue
            labels[disk] = TREE
            trees.append((px, py, r))


def _render(rng: np.random.Generator, cfg: SynthConfig, labels: np.ndarray, buildings: list[dict], centre_lines, trees) -> np.ndarray:
    h, w = labels.shape
    s = min(h, w) / 256.0
    img = np.zeros((h, w, 3), np.float32)
    fine = rng.standard_normal((h, w)).astype(np.float32)

    def paint(cls: int, rgb: np.ndarray) -> None:
        m = labels == cls
        img[m] = rgb[m] if rgb.ndim == 3 else rgb

    # Bare ground: dry soil and gravel with patchy colour.
    soil = _fbm(rng, h, w, 40 * s)
    grit = cv2.GaussianBlur(fine, (0, 0), 0.7)
    base = np.array([152, 138, 112], np.float32)
    paint(GROUND, base + soil[..., None] * np.array([18, 16, 12]) + grit[..., None] * 9)

    # Grass: green with mowing patches and fine blades.
    patch = _fbm(rng, h, w, 28 * s)
    paint(VEGETATION, np.array([84, 118, 58], np.float32) + patch[..., None] * np.array([14, 20, 9]) + grit[..., None] * 7)

    # Water: darker with distance from shore, plus wind ripples.
    water = (labels == WATER).astype(np.uint8)
    if water.any():
        depth = cv2.distanceTransform(water, cv2.DIST_L2, 3)
        depth = np.clip(depth / (12 * s), 0, 1)[..., None]
        theta = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / max(3.0, 5 * s)) + 4 * _fbm(rng, h, w, 30 * s, 2)
        ripple = (np.sin(phase) * (0.5 + 0.5 * _fbm(rng, h, w, 20 * s, 2)))[..., None]
        shore, deep = np.array([78, 104, 96], np.float32), np.array([32, 62, 80], np.float32)
        paint(WATER, shore * (1 - depth) + deep * depth + ripple * 5)

    # Roads: asphalt, worn lighter edges, dashed centre markings.
    road = (labels == ROAD).astype(np.uint8)
    wear = _fbm(rng, h, w, 24 * s)
    asphalt = np.array([82, 82, 86], np.float32) + wear[..., None] * 6 + grit[..., None] * 6
    edge = (road > 0) & (cv2.erode(road, np.ones((3, 3), np.uint8)) == 0)
    asphalt[edge] += 45
    marks = np.zeros((h, w), np.uint8)
    dash = max(2.0, 6 * s)
    for (ax, ay), (bx, by), width in centre_lines:
        if width < 6 * s:
            continue
        length = np.hypot(bx - ax, by - ay)
        n = int(length // (2 * dash))
        for k in range(n):
            t0, t1 = 2 * k * dash / length, (2 * k + 1) * dash / length
            p0 = (int(ax + (bx - ax) * t0), int(ay + (by - ay) * t0))
            p1 = (int(ax + (bx - ax) * t1), int(ay + (by - ay) * t1))
            cv2.line(marks, p0, p1, 1, thickness=max(1, int(round(s))))
    asphalt[(marks > 0) & (road > 0)] = np.array([225, 222, 205], np.float32)
    paint(ROAD, asphalt)

    # Roofs.
    roof_tex = _fbm(rng, h, w, 6 * s, 2)
    for bld in buildings:
        x0, y0, x1, y1 = bld["box"]
        sub = img[y0:y1, x0:x1]
        bh, bw = y1 - y0, x1 - x0
        if bld["roof"] == "gable":
            colour = np.array([150, 82, 62], np.float32) + bld["tone"] * np.array([22, 14, 10])
            yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
            if bw >= bh:  # ridge along x; the north slope faces the sun
                lit = yy < bh / 2.0
                ridge = np.abs(yy - (bh - 1) / 2.0) < 0.6 * s + 0.3
                rows = np.sin(xx * 2 * np.pi / max(2.5, 3 * s))
            else:
                lit = xx < bw / 2.0
                ridge = np.abs(xx - (bw - 1) / 2.0) < 0.6 * s + 0.3
                rows = np.sin(yy * 2 * np.pi / max(2.5, 3 * s))
            shade = np.where(lit, 1.18, 0.78)[..., None]
            sub[:] = colour * shade + rows[..., None] * 5 + roof_tex[y0:y1, x0:x1, None] * 8
            sub[ridge] = colour * 1.35
        else:
            colour = np.array([168, 168, 165], np.float32) + bld["tone"] * 12
            sub[:] = colour + roof_tex[y0:y1, x0:x1, None] * 10
            p = max(1, int(round(1.5 * s)))
            sub[:p] = sub[-p:] = colour + 38
            sub[:, :p] = sub[:, -p:] = colour + 38
            for _ in range(int(bw * bh / (350 * s * s))):  # rooftop units with their own little shadow
                uw, uh = max(2, int(rng.uniform(3, 7) * s)), max(2, int(rng.uniform(3, 7) * s))
                if bw - uw - 2 * p <= p + 1 or bh - uh - 2 * p <= p + 1:
                    break
                ux, uy = int(rng.integers(p + 1, bw - uw - p)), int(rng.integers(p + 1, bh - uh - p))
                sub[uy + 1 : uy + uh + 1, ux + 1 : ux + uw + 1] *= 0.7
                sub[uy : uy + uh, ux : ux + uw] = colour + 45

    # Tree crowns: rounded by distance to the crown edge, lit from the upper left.
    tree = (labels == TREE).astype(np.uint8)
    if tree.any():
        dist = cv2.distanceTransform(tree, cv2.DIST_L2, 3)
        dome = np.clip(dist / (4 * s), 0, 1)
        lightdir = cv2.GaussianBlur(tree.astype(np.float32), (0, 0), 2 * s)
        lightdir = np.roll(lightdir, (int(2 * s) + 1, int(2 * s) + 1), axis=(0, 1)) - lightdir
        leaf = cv2.GaussianBlur(fine, (0, 0), 0.9)
        crown = np.array([46, 78, 38], np.float32) * (0.75 + 0.35 * dome)[..., None]
        paint(TREE, crown + (lightdir * 40)[..., None] + leaf[..., None] * 10)

    # Cast shadows on everything that is lower than the object casting them.
    shadow = np.zeros((h, w), np.uint8)
    for bld in buildings:
        x0, y0, x1, y1 = bld["box"]
        dx, dy = _SHADOW_DIR * bld["height"]
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        hull = cv2.convexHull(np.concatenate([corners, corners + [dx, dy]]).astype(np.int32))
        cv2.fillConvexPoly(shadow, hull, 1)
    for px, py, r in trees:
        cv2.circle(shadow, (int(px + 0.8 * r), int(py + 0.6 * r)), r, 1, -1)
    shadow_on = (shadow > 0) & (labels != BUILDING) & (labels != TREE)
    soft = cv2.GaussianBlur(shadow_on.astype(np.float32), (0, 0), 0.6 * s + 0.2) * shadow_on
    img *= (1.0 - 0.5 * soft)[..., None]
    img[..., 2] += 6 * soft  # skylight makes shadows a little blue

    # Per-tile exposure, optics and sensor.
    img *= rng.uniform(0.93, 1.07)
    img = cv2.GaussianBlur(img, (0, 0), 0.55)
    img += rng.standard_normal(img.shape).astype(np.float32) * cfg.noise_sigma
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def make_tile(cfg: SynthConfig, index: int) -> Tile:
    """Make tile ``index`` of the world described by ``cfg``."""
    if cfg.height < 16 or cfg.width < 16:
        raise CimgenError(f"synthetic tiles must be at least 16x16 pixels, got {cfg.width}x{cfg.height}")
    rng = np.random.default_rng([cfg.seed, index])
    labels, buildings, lines, trees = _layout(rng, cfg)
    image = _render(rng, cfg, labels, buildings, lines, trees)
    return Tile(labels=labels, map_rgb=labels_to_colors(labels, SYNTH_PALETTE), image=image, buildings=buildings)


def write_world(out: str | Path, count: int, cfg: SynthConfig, *, progress=None) -> Path:
    """Write ``count`` tiles as ``labels/``, ``maps/`` and ``images/`` PNG folders plus ``palette.json``.

    Args:
        out: folder to create (it must not already hold a world).
        count: number of tiles.
        cfg: world options.
        progress: optional callable(done, total) for progress reporting.

    Returns:
        The output folder.
    """

    if count < 1:
        raise CimgenError(f"the tile count must be at least 1, got {count}")
    out = Path(out)
    if (out / "palette.json").exists():
        raise CimgenError(f"{out} already holds a synthetic world; choose another folder")
    t0 = time.perf_counter()
    for i in range(count):
        tile = make_tile(cfg, i)
        name = f"tile_{i:05d}.png"
        write_label_map(out / "labels" / name, tile.labels)
        write_image(out / "maps" / name, tile.map_rgb)
        write_image(out / "images" / name, tile.image)
        if progress is not None:
            progress(i + 1, count)
    meta = {"generator": "cimgen.data.synth", "count": count, "config": asdict(cfg), "seconds": round(time.perf_counter() - t0, 2)}
    write_text(out / "world.json", json_text(meta))
    write_text(out / "palette.json", json_text(SYNTH_PALETTE.to_dict()))
    return out
