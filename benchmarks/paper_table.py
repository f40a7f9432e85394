"""The CIMGEN paper's FID / KID / SSIM table on the real samples in ../shared/data, and the fine-tuning study.

Usage:  .venv/bin/python benchmarks/paper_table.py [--shared ../shared/data] [--out runs/paper] [--quick]

Three rows, each: prepare the real pairs, fine-tune a pix2pixHD generator with cimgen, edit the
maps, generate, and score pristine vs generated on 64x64 patches outside the edit (with the default
recipe, each edit's seam, checkerboard and inside scores go to <out>/edits.md, since the protocol
does not look inside the edit):

* Map2Sat: the one pix2pix "maps" pair (Google map -> satellite photo). The map's colours are
  snapped to the google-maps palette (ground, road, building, water, vegetation: the synthetic ids), so the shipped
  synthetic-world generator is the pretrained start, as in the paper's recipe. Edit: remove the
  buildings in a box.
* Building2Sat: SpaceNet Rio tiles with building masks (mask -> ground/building labels), also
  fine-tuned from the shipped generator. Edit: remove the buildings in the busiest box of four tiles.
* Cityscapes: the 8 label/photo pairs at 512x256; 35 classes do not fit the shipped 6-class
  generator, so this one trains from scratch. Edit: remove the cars in a box of two frames.

The study fine-tunes Building2Sat on 1, 2, 4 and 8 pairs with the same number of iterations and
scores the same target edit at four points of each run. Tables go to <out>/paper_table.md and
<out>/study.md; timings and hardware to <out>/timings.json. Data files stay under <out> (their
licences forbid shipping them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cimgen.edit.mask import busiest_box
from cimgen.edit.ops import RemoveClass
from cimgen.edit.pipeline import Manipulation, inside_metrics, manipulate, manipulation_metrics
from cimgen.errors import CimgenError
from cimgen.generators import label_renderer, load_label_generator, load_renderer, read_checkpoint, shipped_checkpoint
from cimgen.io.checkpoints import load_checkpoint
from cimgen.io.images import read_image, read_label_map, write_image, write_label_map, write_text
from cimgen.metrics.features import FeatureCache, load_extractor
from cimgen.metrics.protocol import ProtocolConfig, evaluate_pairs, pairs_from_source, table_markdown
from cimgen.palette import CITYSCAPES_PALETTE, GOOGLE_MAPS_PALETTE, SYNTH_PALETTE, snap_rendered_map
from cimgen.report.html import write_report
from cimgen.runs.manipulate import default_checkpoint, run_manipulation
from cimgen.runs.options import ManipulateConfig
from cimgen.textfiles import json_text
from cimgen.train.pix2pixhd import finetune_config, relabelled_checkpoint, resolve_config, run_pix2pixhd
from cimgen.train.runtime import cpu_summary

GROUND, ROAD, BUILDING, WATER, VEGETATION = 0, 1, 2, 3, 4
CAR = 26
CITYSCAPES_START = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5, 4, 3, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 0]
"""The shipped generator's class (ground 0, road 1, building 2, water 3, vegetation 4, tree 5) each of Cityscapes' 35
classes starts from (``relabelled_checkpoint``): flat ground for road, sidewalk, parking and rail; buildings for
walls, fences, poles, signs and vehicles; trees for vegetation, grass for terrain, water for sky; ground for the rest."""
# The Google-map classes share their ids with the synthetic world's first five.
assert GOOGLE_MAPS_PALETTE.names == SYNTH_PALETTE.names[:5]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def map2sat_pair(shared: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, photo) of the pix2pix maps pair: the Google map's colours snapped to the google-maps palette
    (``snap_rendered_map``), whose ids are the synthetic world's first five."""
    im = np.asarray(Image.open(shared / "pix2pix-tf-samples/docs/maps.jpg").convert("RGB"))
    photo, gmap = im[:, :600], np.ascontiguousarray(im[:, 600:])
    labels, _ = snap_rendered_map(gmap, GOOGLE_MAPS_PALETTE)
    return labels.astype(np.uint8), np.ascontiguousarray(photo)


def prep_map2sat(shared: Path, out: Path) -> Path:
    labels, photo = map2sat_pair(shared)
    write_label_map(out / "labels" / "maps_1.png", labels)
    write_image(out / "images" / "maps_1.png", photo)
    return out


SPACENET = [50, 52, 53, 54, 55, 56, 57, 63, 64]


def building2sat_pair(shared: Path, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, photo) of one SpaceNet Rio tile's top-left 400x400: its building mask as building, the rest ground."""
    root = shared / "spacenet-rio-buildings"
    name = f"3band_013022223130_Public_img{tile}.tif"
    photo = np.asarray(Image.open(root / "3band" / name).convert("RGB"))[:400, :400]
    mask = np.asarray(Image.open(root / "building_mask_vis" / name))
    mask = (mask.max(axis=2) if mask.ndim == 3 else mask)[:400, :400] > 0
    return np.where(mask, BUILDING, GROUND).astype(np.uint8), np.ascontiguousarray(photo)


def prep_building2sat(shared: Path, out: Path, tiles: list[int]) -> Path:
    for i in tiles:
        labels, photo = building2sat_pair(shared, i)
        write_label_map(out / "labels" / f"img{i}.png", labels)
        write_image(out / "images" / f"img{i}.png", photo)
    return out


def cityscapes_frames(shared: Path) -> list[Path]:
    """The Cityscapes samples' label files, sorted."""
    return sorted((shared / "cityscapes-samples" / "train_label").glob("*_gtFine_labelIds.png"))


def cityscapes_pair(shared: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels uint8, photo) of one Cityscapes sample at 512x256 (labels nearest, photo box-filtered)."""
    p = cityscapes_frames(shared)[index]
    stem = p.name.replace("_gtFine_labelIds.png", "")
    lab = np.asarray(Image.open(p).resize((512, 256), Image.Resampling.NEAREST)).astype(np.uint8)
    photo = np.asarray(
        Image.open(shared / "cityscapes-samples" / "train_img" / f"{stem}_leftImg8bit.png")
        .convert("RGB")
        .resize((512, 256), Image.Resampling.BOX)
    )
    return lab, photo


def prep_cityscapes(shared: Path, out: Path) -> Path:
    for i, p in enumerate(cityscapes_frames(shared)):
        stem = p.name.replace("_gtFine_labelIds.png", "")
        lab, photo = cityscapes_pair(shared, i)
        write_label_map(out / "labels" / f"{stem}.png", lab)
        write_image(out / "images" / f"{stem}.png", photo)
    write_text(out / "palette.json", json.dumps(CITYSCAPES_PALETTE.to_dict(), indent=2))
    return out


def loop_opts(iterations: int, pairs: int, checkpoints: int, seed: int = 1) -> dict:
    # The learning rate stays constant (no decay) so the study compares set sizes at equal iterations.
    epochs = max(1, iterations // pairs)
    every = max(1, epochs // checkpoints)
    return {
        "epochs": epochs,
        "decay_epochs": 0,
        "batch_size": 1,
        "seed": seed,
        "checkpoint_every": every,
        "sample_every": epochs,
        "keep_checkpoints": checkpoints + 1,
    }


def finetune(data: Path, run: Path, iterations: int, pairs: int, checkpoints: int, crop: int) -> float:
    ckpt = shipped_checkpoint()
    cfg, _ = load_checkpoint(ckpt)
    over = {
        "data": {"root": str(data), "crop_size": crop, "flip": True},
        "loss": {"lambda_l1": 100.0},
        "loop": loop_opts(iterations, pairs, checkpoints),
    }
    t0 = time.perf_counter()
    run_pix2pixhd(finetune_config(cfg, over), run, init_from=ckpt, echo=None, progress=False)
    return time.perf_counter() - t0


def train_scratch_cityscapes(data: Path, run: Path, iterations: int, crop: int) -> float:
    arch, _ = load_checkpoint(shipped_checkpoint())  # the same small architecture as the shipped model
    raw = {
        "data": {"root": str(data), "label_nc": 35, "crop_size": crop, "flip": True},
        "generator": {k: arch["generator"][k] for k in ("base_channels", "num_downsamplings", "num_blocks")},
        "discriminator": {k: arch["discriminator"][k] for k in ("base_channels", "num_layers", "num_discriminators")},
        "loss": {"lambda_l1": 100.0},
        "loop": loop_opts(iterations, 8, 1),
    }
    t0 = time.perf_counter()
    run_pix2pixhd(resolve_config(raw), run, echo=None, progress=False)
    return time.perf_counter() - t0


def manipulate_one(ckpt: Path, data: Path, name: str, cls: int, box, out: Path, *, whole: bool, palette) -> Path:
    gen, gcfg = load_label_generator(ckpt)
    image = read_image(data / "images" / f"{name}.png")
    labels = np.asarray(Image.open(data / "labels" / f"{name}.png")).astype(np.int64)
    m = manipulate(
        image,
        labels,
        [RemoveClass(cls=cls, box=box, whole_objects=whole)],
        label_renderer(gen, gcfg["label_nc"]),
        num_classes=gcfg["label_nc"],
    )
    if out.exists():
        shutil.rmtree(out)
    write_report(out, **m.arrays(), palette=palette, metrics=manipulation_metrics(m))
    return out


def edit_box(data: Path, name: str, cls: int, side: int):
    labels = np.asarray(Image.open(data / "labels" / f"{name}.png"))
    return busiest_box(labels == cls, side)


def checkpoints_of(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("epoch-*"))


def run_seconds(run: Path) -> dict[int, float]:
    """Cumulative training seconds at the end of each epoch, from stats.jsonl."""
    total, out = 0.0, {}
    for line in (run / "stats.jsonl").read_text().splitlines():
        r = json.loads(line)
        total += r["seconds"]
        out[r["epoch"]] = total
    return out


def floor_rows(shared: Path, extractor, cfg: ProtocolConfig, cache: FeatureCache) -> list[dict]:
    """FID/KID/SSIM between two *pristine* images of each dataset on the same patch grid: the level that
    sampling alone gives at these patch counts, below which no generator can be told apart."""
    from cimgen.metrics.protocol import EvalPair

    m = map2sat_pair(shared)[1]
    sets = {
        "Building2Sat floor: img50 vs img52 (both real)": (building2sat_pair(shared, 50)[1], building2sat_pair(shared, 52)[1]),
        "Map2Sat floor: top vs bottom half of the real photo": (m[:296], m[304:600]),
        "Cityscapes floor: two real frames": (cityscapes_pair(shared, 0)[1], cityscapes_pair(shared, 1)[1]),
    }
    rows = []
    for name, (a, bb) in sets.items():
        pair = EvalPair(name, a, bb, np.zeros(a.shape[:2], bool))
        rows.append(evaluate_pairs(name, [pair], extractor, cfg=cfg, cache=cache))
        log(
            f"  {name}: FID {rows[-1]['fid']:.2f} KID {rows[-1]['kid_mean']:.4f} SSIM {rows[-1]['ssim']:.3f} ({rows[-1]['patches']} patches)"
        )
    return rows


def windows_rows(args, out: Path, score, timings: dict) -> tuple[list[dict], list[dict]]:
    """The rows as the recipe before memorisation made them: one generator per set, fine-tuned on random 128-pixel
    crops with flips (Cityscapes from scratch), and the Building2Sat set-size study."""
    rows = []
    # --- Building2Sat and the set-size study ---------------------------------------------------
    target = "img50"
    study_sizes = [1, 2, 4, 8]
    order = [50, 52, 53, 54, 55, 56, 57, 63]  # the target first; img64 is held out
    study = []
    for n in study_sizes:
        data = prep_building2sat(args.shared, out / "data" / f"building2sat-{n}", order[:n])
        run = out / "runs" / f"building2sat-{n}"
        if run.exists():
            shutil.rmtree(run)
        log(f"Building2Sat: fine-tuning on {n} pair(s) for {args.iterations} iterations")
        secs = finetune(data, run, args.iterations, n, checkpoints=4, crop=128)
        timings.setdefault("finetune_seconds", {})[f"building2sat-{n}"] = round(secs, 1)
        box = edit_box(data, target, BUILDING, 160)
        cum = run_seconds(run)
        for ck in checkpoints_of(run):
            epoch = int(ck.name.split("-")[1])
            res = manipulate_one(ck, data, target, BUILDING, box, out / "edits" / f"study-{n}-{ck.name}", whole=True, palette=SYNTH_PALETTE)
            row = score(f"{n} pairs, {epoch * n} it", res)
            study.append(
                {
                    "pairs": n,
                    "iterations": epoch * n,
                    "seconds": round(cum[epoch], 1),
                    **{k: row[k] for k in ("fid", "kid_mean", "kid_std", "ssim", "patches")},
                }
            )
    # The table row: the 8-pair model, four tiles edited (the held-out img64 among them).
    data8 = out / "data" / "building2sat-8"
    held = prep_building2sat(args.shared, out / "data" / "building2sat-heldout", [64])
    last8 = checkpoints_of(out / "runs" / "building2sat-8")[-1]
    edits = out / "edits" / "building2sat"
    for name, data in [("img50", data8), ("img53", data8), ("img56", data8), ("img64", held)]:
        manipulate_one(last8, data, name, BUILDING, edit_box(data, name, BUILDING, 160), edits / name, whole=True, palette=SYNTH_PALETTE)
    rows.append(score("Building2Sat (SpaceNet Rio, 4 edits)", edits))

    # --- Map2Sat ---------------------------------------------------------------------------------
    m2s = prep_map2sat(args.shared, out / "data" / "map2sat")
    run = out / "runs" / "map2sat"
    if run.exists():
        shutil.rmtree(run)
    log(f"Map2Sat: fine-tuning on the one maps pair for {args.iterations} iterations")
    timings.setdefault("finetune_seconds", {})["map2sat"] = round(finetune(m2s, run, args.iterations, 1, 1, 128), 1)
    res = manipulate_one(
        checkpoints_of(run)[-1],
        m2s,
        "maps_1",
        BUILDING,
        edit_box(m2s, "maps_1", BUILDING, 200),
        out / "edits" / "map2sat" / "maps_1",
        whole=False,
        palette=SYNTH_PALETTE,
    )
    rows.append(score("Map2Sat (pix2pix maps pair, 1 edit)", res.parent))

    # --- Cityscapes --------------------------------------------------------------------------------
    cs = prep_cityscapes(args.shared, out / "data" / "cityscapes")
    run = out / "runs" / "cityscapes"
    if run.exists():
        shutil.rmtree(run)
    log(f"Cityscapes: training from scratch on 8 pairs for {args.scratch_iterations} iterations")
    timings.setdefault("finetune_seconds", {})["cityscapes"] = round(train_scratch_cityscapes(cs, run, args.scratch_iterations, 128), 1)
    last = checkpoints_of(run)[-1]
    names = sorted(p.stem for p in (cs / "labels").glob("*.png"))
    counts = {n: int((np.asarray(Image.open(cs / "labels" / f"{n}.png")) == CAR).sum()) for n in names}
    for name in sorted(names, key=lambda n: -counts[n])[:2]:
        manipulate_one(
            last, cs, name, CAR, edit_box(cs, name, CAR, 96), out / "edits" / "cityscapes" / name, whole=True, palette=CITYSCAPES_PALETTE
        )
    rows.append(score("Cityscapes (8 pairs, 2 edits)", out / "edits" / "cityscapes"))

    return rows, study


def memorise_edit(
    data: Path, name: str, cls: str, box, out: Path, *, renderer=None, palette: str = "", whole: bool, steps: int | None = None
) -> dict:
    """One edit made as ``cimgen manipulate --finetune`` makes it with its defaults (the memorise recipe on this one
    image, codes resampled inside the edit; ``steps`` None: the recipe's), into ``out``; returns its metrics with the
    edit's ``wall_seconds`` and its ``inside`` scores (``inside_of``). An edit already made is read back, so an
    interrupted table resumes at the first edit not made."""
    if (out / "metrics.json").is_file():
        log(f"  {out.name}: already made")
        timing = out / "benchmark.json"
        wall = json.loads(timing.read_text())["wall_seconds"] if timing.is_file() else None
        metrics = json.loads((out / "metrics.json").read_text())
        return {**metrics, "inside": inside_of(out, data / "labels" / f"{name}.png"), "wall_seconds": wall}
    cfg = ManipulateConfig(
        checkpoint="", out=str(out), image=str(data / "images" / f"{name}.png"), map=str(data / "labels" / f"{name}.png"),
        palette=palette, finetune=True, finetune_steps=steps,
    )  # fmt: skip
    edit = {"op": "remove", "class": cls, "box": [int(v) for v in box], "whole_objects": whole}
    t0 = time.perf_counter()
    run = run_manipulation(cfg, [edit], renderer=renderer, echo=lambda line: log(f"  {name}: {line}"), progress=False)
    wall = round(time.perf_counter() - t0, 1)
    write_text(out / "benchmark.json", json_text({"wall_seconds": wall}))
    return {**run.metrics, "inside": inside_of(out, data / "labels" / f"{name}.png"), "wall_seconds": wall}


def inside_of(folder: Path, labels_file: Path) -> dict:
    """``saved_inside`` of an edit's folder, kept in its ``inside.json`` and read back from there; an edit the scores
    cannot be fitted for (one class around it) gets ``{"not_scored": why}``."""
    kept = folder / "inside.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    try:
        inside = saved_inside(folder, labels_file)
    except CimgenError as e:
        inside = {"not_scored": str(e)}
    write_text(kept, json_text(inside))
    return inside


def saved_inside(folder: Path, labels_file: Path) -> dict:
    """The inside-the-edit scores (``cimgen.edit.pipeline.inside_metrics``, without the texture's KID) of an edit from
    the pictures its results folder holds: original, generated and result, the mask (``mask_raw.png``) and the edited
    map (``edited_labels.png``), with the original map from ``labels_file``."""
    m = Manipulation(
        original=read_image(folder / "original.png"), labels=read_label_map(labels_file),
        edited_labels=read_label_map(folder / "edited_labels.png"),
        mask=np.asarray(Image.open(folder / "mask_raw.png").convert("L")) > 127,
        generated=read_image(folder / "generated.png"), result=read_image(folder / "result.png"), tiles=None, info={},
    )  # fmt: skip
    return inside_metrics(m)


EDIT_COLUMNS = "| edit | region | SSIM outside | seam | checkerboard | faithful (ceiling) | painted back (floor) | wall s |"


def shown(v: float | None, digits: int = 3) -> str:
    """A figure of a table line, or "n/a" where there is none."""
    return "n/a" if v is None else f"{v:.{digits}f}"


def edit_row(name: str, metrics: dict) -> str:
    """One edit's line of ``edits.md``: what the paper's protocol does not look at (the seam, the lattice, the inside)."""
    inside = metrics.get("inside") or {}
    return (
        f"| {name} | {100 * metrics['mask_area_fraction']:.1f}% | {shown(metrics.get('ssim_outside_mask'))} | "
        f"{shown(metrics['seam']['seam_ratio'])} | {shown(metrics['checkerboard']['ratio'])} | "
        f"{shown(inside.get('faithful'))} ({shown(inside.get('edited_class_recall'))}) | "
        f"{shown(inside.get('painted_back'), 4)} ({shown(inside.get('painted_back_floor'), 4)}) | {shown(metrics.get('wall_seconds'), 0)} |"
    )


def memorise_rows(args, out: Path, score, timings: dict) -> list[dict]:
    """The rows with cimgen's default: each edited image memorised on its own (``memorise_steps`` whole-image steps,
    position and detail codes) from the shipped generator, its 6 classes relabelled to Cityscapes' 35 for that row."""
    rows, lines = [], [EDIT_COLUMNS, "|---|---:|---:|---:|---:|---|---|---:|"]

    def edit(row: str, data: Path, name: str, cls: int, side: int, palette, **kw) -> None:
        box = edit_box(data, name, cls, side)
        metrics = memorise_edit(data, name, palette.names[cls], box, out / "edits" / row / name, steps=args.steps, **kw)
        timings.setdefault("edits", {})[f"{row}/{name}"] = {
            "wall_seconds": metrics["wall_seconds"], "finetune_steps": metrics.get("finetune_steps"),
            "ssim_outside_mask": metrics.get("ssim_outside_mask"), "codes_inside": metrics.get("codes_inside"),
        }  # fmt: skip
        lines.append(edit_row(f"{row}/{name}", metrics))

    b2s = prep_building2sat(args.shared, out / "data" / "building2sat", [50, 53, 56, 64])
    for name in ("img50", "img53", "img56", "img64"):
        log(f"Building2Sat {name}: memorising the tile, then removing the buildings in its busiest 160-px box")
        edit("building2sat", b2s, name, BUILDING, 160, SYNTH_PALETTE, whole=True)
    rows.append(score("Building2Sat (SpaceNet Rio, 4 edits)", out / "edits" / "building2sat"))

    m2s = prep_map2sat(args.shared, out / "data" / "map2sat")
    log("Map2Sat: memorising the maps pair, then removing the buildings in its busiest 200-px box")
    edit("map2sat", m2s, "maps_1", BUILDING, 200, SYNTH_PALETTE, whole=False)
    rows.append(score("Map2Sat (pix2pix maps pair, 1 edit)", out / "edits" / "map2sat"))

    cs = prep_cityscapes(args.shared, out / "data" / "cityscapes")
    relabelled = relabelled_checkpoint(read_checkpoint(default_checkpoint(True))[0], CITYSCAPES_PALETTE, CITYSCAPES_START)
    renderer = load_renderer(relabelled)
    names = sorted(p.stem for p in (cs / "labels").glob("*.png"))
    counts = {n: int((np.asarray(Image.open(cs / "labels" / f"{n}.png")) == CAR).sum()) for n in names}
    for name in sorted(names, key=lambda n: -counts[n])[:2]:
        log(f"Cityscapes {name}: memorising the frame (the shipped generator relabelled to 35 classes), then removing its cars")
        edit("cityscapes", cs, name, CAR, 96, CITYSCAPES_PALETTE, renderer=renderer, whole=True)
    rows.append(score("Cityscapes (2 edits)", out / "edits" / "cityscapes"))
    write_text(out / "edits.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("runs/paper"))
    ap.add_argument("--iterations", type=int, default=800, help="fine-tuning iterations per run (batch 1)")
    ap.add_argument("--scratch-iterations", type=int, default=1600, help="Cityscapes training iterations from scratch")
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument(
        "--recipe", choices=["memorise", "windows"], default="memorise",
        help="memorise (default): each edited image memorised as cimgen manipulate --finetune does by default; "
        "windows: the recipe before it (one generator per set on random crops, the set-size study)",
    )  # fmt: skip
    ap.add_argument("--steps", type=int, default=None, help="memorise: fine-tuning steps per edit (default: the recipe's)")
    ap.add_argument("--quick", action="store_true", help="a minute-long smoke run (tiny iteration counts)")
    ap.add_argument("--floors-only", action="store_true", help="only the real-vs-real rows, on data an earlier run prepared")
    args = ap.parse_args()
    if args.quick:
        args.iterations, args.scratch_iterations, args.steps = 16, 16, 2
    if not args.shared.is_dir():
        raise SystemExit(f"real sample data not found at {args.shared}")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    timings: dict = {
        "hardware": {
            "cpu": cpu_summary(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "cuda": torch.cuda.is_available(),
        }
    }
    cfg = ProtocolConfig(stride=args.stride)
    extractor = load_extractor()
    cache = FeatureCache(out / "feature-cache")
    rows = []
    if args.floors_only:
        floors = floor_rows(args.shared, extractor, cfg, cache)
        write_text(out / "floors.md", table_markdown(floors))
        print(table_markdown(floors))
        return

    def score(name: str, source: Path) -> dict:
        t0 = time.perf_counter()
        row = evaluate_pairs(name, pairs_from_source(source), extractor, cfg=cfg, cache=cache)
        timings.setdefault("evaluate_seconds", {})[name] = round(time.perf_counter() - t0, 1)
        log(f"  {name}: FID {row['fid']:.2f} KID {row['kid_mean']:.4f} SSIM {row['ssim']:.3f} ({row['patches']} patches)")
        return row

    if args.recipe == "windows":
        rows, study = windows_rows(args, out, score, timings)
    else:
        rows, study = memorise_rows(args, out, score, timings), []

    floors = floor_rows(args.shared, extractor, cfg, cache)
    write_text(out / "floors.md", table_markdown(floors))
    md = table_markdown(rows, paper=True)
    write_text(out / "paper_table.md", md)
    write_text(out / "paper_table.json", json_text(rows))
    write_text(out / "timings.json", json_text(timings))
    print(md)
    if study:
        lines = ["| pairs | iterations | training s | FID | KID | SSIM | patches |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in study:
            lines.append(
                f"| {r['pairs']} | {r['iterations']} | {r['seconds']} | {r['fid']:.2f} | {r['kid_mean']:.4f} | {r['ssim']:.3f} | {r['patches']} |"
            )
        write_text(out / "study.md", "\n".join(lines) + "\n")
        print("\n".join(lines))
    study_note = f", study: {out / 'study.md'}" if study else ""
    edits_note = f", each edit's seam, lattice and inside: {out / 'edits.md'}" if args.recipe == "memorise" else ""
    log(f"table: {out / 'paper_table.md'}{study_note}{edits_note}; edits: {out / 'edits'}; timings: {out / 'timings.json'}")


if __name__ == "__main__":
    main()
