"""The forensics study of docs/forensics.md: forgeries, patch datasets, plain / BaRT / AT / BaRT+AT detectors, sweeps, heatmaps.

Usage:  .venv/bin/python benchmarks/forensics_study.py [--shared ../shared/data] [--out runs/forensics] [--quick]

1. Forgeries. Synthetic: ``--scenes`` scenes of the synthetic world rendered by the shipped
   generator (plus a separately seeded held-out set for localisation). Real: the SpaceNet Rio
   tiles (Building2Sat) and the pix2pix maps pair (Map2Sat), rendered by the shipped generator
   fine-tuned on them, and the Cityscapes samples, rendered by a small pix2pixHD trained on them
   from scratch (the shipped 6-class model cannot take 35 classes) — the same recipes as
   benchmarks/paper_table.py. Every scene gets one edit (buildings or cars removed in a box).
2. One patch dataset of all scenes (64x64, balanced, split by scene).
3. Detectors: plain, BaRT, AT and BaRT+AT of one architecture (``--arch``, resnet_small on CPU),
   and a plain PatchNet for exact stride-1 heatmaps.
4. Validation table (all, synthetic, real), robustness sweep on the validation patches,
   localisation on held-out synthetic forgeries and on the real forgeries of validation scenes,
   with the noise and ELA baselines, and example heatmaps. Everything under ``--out``; the
   summary (with timings) in ``<out>/study.md`` and ``<out>/study.json``. Real images stay under
   ``--out`` (their licences forbid shipping them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_table import (
    CAR,
    SPACENET,
    finetune,
    prep_building2sat,
    prep_cityscapes,
    prep_map2sat,
    train_scratch_cityscapes,
)

from cimgen.data.synth import BUILDING
from cimgen.forensics.forgeries import default_edit, synthetic_forgeries, write_forgery_set
from cimgen.forensics.patches import PatchDatasetConfig, build_patch_dataset, load_split, read_dataset_info, sources_from_folders
from cimgen.forensics.train import resolve_config, run_detector
from cimgen.io.images import list_images, read_image, read_label_map, write_text
from cimgen.runs.detect import run_evaluate, run_heatmap, run_robustness
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

MODES = ("plain", "bart", "at", "bart+at")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def real_forgeries(shared: Path, out: Path, iterations: int, scratch_iterations: int, timings: dict) -> list[Path]:
    """Forgery sets of the real samples, each rendered by a generator tuned on them."""
    from cimgen.generators import label_renderer, load_label_generator

    sets = []
    jobs = [
        ("building2sat", lambda d: prep_building2sat(shared, d, SPACENET), BUILDING, False),
        ("map2sat", lambda d: prep_map2sat(shared, d), BUILDING, False),
        ("cityscapes", lambda d: prep_cityscapes(shared, d), CAR, True),
    ]
    for name, prep, cls, scratch in jobs:
        data = prep(out / "data" / name)
        run = out / "generators" / name
        if run.exists():
            shutil.rmtree(run)
        n = len(list_images(data / "images"))
        t0 = time.perf_counter()
        if scratch:
            log(f"{name}: training a generator from scratch ({scratch_iterations} iterations)")
            train_scratch_cityscapes(data, run, scratch_iterations, 256)
        else:
            log(f"{name}: fine-tuning the shipped generator on {n} pair(s) ({iterations} iterations)")
            finetune(data, run, iterations, n, 1, 256)
        timings[f"generator_{name}_s"] = round(time.perf_counter() - t0, 1)
        gen, gcfg = load_label_generator(run)
        nc = int(gcfg["label_nc"])
        scenes = [(f"{name}_{p.stem}", read_image(p), read_label_map(data / "labels" / p.name)) for p in list_images(data / "images")]
        dest = out / "forgeries" / name
        if dest.exists():
            shutil.rmtree(dest)
        write_forgery_set(
            dest,
            iter(scenes),
            label_renderer(gen, nc),
            num_classes=nc,
            edit_for=lambda labels, i, cls=cls: default_edit(labels, cls, i),
            about={"source": name, "generator": str(run)},
            total=len(scenes),
        )
        sets.append(dest)
    return sets


def merged_folders(sets: list[Path], out: Path) -> tuple[Path, Path]:
    """pristine/ and generated/ of every set in one pair of folders (symlinks), for one dataset."""
    p, g = out / "all" / "pristine", out / "all" / "generated"
    if (out / "all").exists():
        shutil.rmtree(out / "all")
    p.mkdir(parents=True)
    g.mkdir(parents=True)
    for s in sets:
        for f in list_images(s / "pristine"):
            (p / f.name).symlink_to(f.resolve())
        for f in list_images(s / "generated"):
            (g / f.name).symlink_to(f.resolve())
    return p, g


def val_forgeries(sets: list[Path], ds: Path, out: Path) -> Path:
    """The real forgeries of validation scenes only (images/ + masks/), so localisation is scored on unseen scenes."""
    meta = read_dataset_info(ds)
    val = {s["name"] for s in meta["sources"] if s["split"] == "val"}
    dest = out / "real-val-forgeries"
    if dest.exists():
        shutil.rmtree(dest)
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True)
    for s in sets:
        for f in list_images(s / "forgeries" / "images"):
            if f.stem in val:
                (dest / "images" / f.name).symlink_to(f.resolve())
                (dest / "masks" / f.name).symlink_to((s / "forgeries" / "masks" / f.name).resolve())
    return dest


def domain_metrics(ds: Path, runs: dict[str, Path], device: str) -> list[dict]:
    """Patch AUC / accuracy on the validation split per domain (synthetic, real) and overall."""
    from cimgen.forensics.evaluate import patch_metrics, predict_patches
    from cimgen.forensics.train import load_detector

    meta = read_dataset_info(ds)
    patches, labels, owners = load_split(ds, "val")
    synthetic = np.array([meta["sources"][i]["name"].startswith("tile_") for i in owners])
    rows = []
    for name, run in runs.items():
        model, cfg = load_detector(run, device)
        probs = predict_patches(model, patches, device=device)
        row = {"detector": name, "best_epoch": cfg["epoch"]}
        for dom, sel in (("all", np.ones_like(synthetic)), ("synthetic", synthetic), ("real", ~synthetic)):
            m = patch_metrics(probs[sel], labels[sel])
            row[f"{dom}_auc"], row[f"{dom}_acc"], row[f"{dom}_n"] = m["auc"], m["accuracy"], m["patches"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("runs/forensics"))
    ap.add_argument("--scenes", type=int, default=80, help="synthetic training scenes (256x256)")
    ap.add_argument("--arch", default="resnet_small")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--pgd-steps", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=600, help="fine-tuning iterations of the real-data generators")
    ap.add_argument("--scratch-iterations", type=int, default=1200, help="Cityscapes generator iterations from scratch")
    ap.add_argument("--robust-patches", type=int, default=0, help="validation patches of the sweep (0: all)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    ap.add_argument("--skip-real", action="store_true", help="synthetic forgeries only")
    ap.add_argument(
        "--from-scratch", action="store_true", help="train the hardened detectors from scratch instead of re-training the plain one"
    )
    ap.add_argument("--reuse", action="store_true", help="keep the forgeries and patch dataset an earlier run made under --out")
    args = ap.parse_args()
    if args.quick:
        args.scenes, args.epochs, args.iterations, args.scratch_iterations = 8, 1, 8, 8
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    timings: dict = {}
    hardware = {
        "cpu": cpu_summary(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "device": args.device,
    }

    if args.reuse and (out / "patches" / "dataset.json").is_file():
        log(f"reusing the forgeries and patch dataset under {out}")
        synth, heldout = out / "forgeries" / "synthetic", out / "forgeries" / "synthetic-heldout"
        sets = [synth] + ([] if args.skip_real else [out / "forgeries" / n for n in ("building2sat", "map2sat", "cityscapes")])
        ds = out / "patches"
        info = read_dataset_info(ds)
        timings.update(json.loads((out / "study.json").read_text())["timings"]) if (out / "study.json").is_file() else None
    else:
        synth, heldout, sets, ds, info = make_data(args, out, timings)
    train_and_score(args, out, timings, hardware, synth, heldout, sets, ds, info)


def make_data(args, out: Path, timings: dict):
    """Steps 1 and 2: the forgery sets and the patch dataset."""
    t0 = time.perf_counter()
    log(f"synthetic forgeries: {args.scenes} training scenes + 12 held-out")
    for d in ("forgeries/synthetic", "forgeries/synthetic-heldout"):
        if (out / d).exists():
            shutil.rmtree(out / d)
    synth = synthetic_forgeries(out / "forgeries" / "synthetic", count=args.scenes, size=256, seed=0, device=args.device)
    heldout = synthetic_forgeries(out / "forgeries" / "synthetic-heldout", count=12, size=256, seed=1, device=args.device)
    timings["synthetic_forgeries_s"] = round(time.perf_counter() - t0, 1)
    sets = [synth]
    if not args.skip_real:
        if not args.shared.is_dir():
            raise SystemExit(f"real sample data not found at {args.shared} (or pass --skip-real)")
        sets += real_forgeries(args.shared, out, args.iterations, args.scratch_iterations, timings)

    t0 = time.perf_counter()
    pristine, generated = merged_folders(sets, out)
    ds = out / "patches"
    if ds.exists():
        shutil.rmtree(ds)
    build_patch_dataset(
        sources_from_folders(pristine, generated),
        ds,
        PatchDatasetConfig(val_fraction=0.15, seed=0),
        made_from="benchmarks/forensics_study.py",
    )
    info = read_dataset_info(ds)
    timings["dataset_s"] = round(time.perf_counter() - t0, 1)
    log(f"patch dataset: train {info['splits']['train']['patches']}, val {info['splits']['val']['patches']}")
    return synth, heldout, sets, ds, info


def train_and_score(args, out: Path, timings: dict, hardware: dict, synth: Path, heldout: Path, sets: list[Path], ds: Path, info: dict):
    """Steps 3 and 4: the detectors, then every score, figure and heatmap."""
    runs: dict[str, Path] = {}
    jobs = [(m, args.arch, m) for m in MODES] + [("patchnet-plain", "patchnet", "plain")]
    if args.reuse and (out / "detectors" / "patchnet-plain" / "best").is_dir():
        jobs = jobs[:-1]  # the plain PatchNet does not depend on how the hardened ResNets are trained
        runs["patchnet-plain"] = out / "detectors" / "patchnet-plain"
    for name, arch, mode in jobs:
        run = out / "detectors" / name
        if run.exists():
            shutil.rmtree(run)
        raw = {
            "data": str(ds),
            "detector": {"arch": arch},
            "mode": mode,
            "attack": {"steps": args.pgd_steps},
            "loop": {"epochs": args.epochs, "batch_size": 64, "seed": 0, "threads": 0, "device": args.device},
        }
        # As in the paper, the hardened detectors re-train the plain one (unless --from-scratch).
        init = runs["plain"] if mode != "plain" and arch == args.arch and not args.from_scratch else None
        log(f"training {name} ({arch}, {mode}, {args.epochs} epochs{', from the plain detector' if init else ''})")
        t0 = time.perf_counter()
        run_detector(resolve_config(raw), run, init_from=init, echo=None, progress=False)
        timings[f"train_{name}_s"] = round(time.perf_counter() - t0, 1)
        log(f"  {timings[f'train_{name}_s']:.0f} s")
        runs[name] = run

    log("validation per domain")
    table = domain_metrics(ds, runs, args.device)
    for d in ("robustness", "heatmaps", *(p.name for p in out.glob("localisation-*"))):
        if (out / d).exists():  # the commands write only into new folders; a --reuse run makes them again
            shutil.rmtree(out / d)
    log("robustness sweep")
    t0 = time.perf_counter()
    run_robustness(
        {k: runs[k] for k in MODES},
        data=ds,
        out=out / "robustness",
        max_patches=args.robust_patches,
        device=args.device,
        progress=False,
        echo=log,
    )
    timings["robustness_s"] = round(time.perf_counter() - t0, 1)
    log("localisation")
    t0 = time.perf_counter()
    loc = {}
    targets = [("synthetic-heldout", heldout / "forgeries")]
    if not args.skip_real:
        targets.append(("real-val", val_forgeries(sets[1:], ds, out)))
    for label, folder in targets:
        if not list_images(folder / "images"):
            continue
        md = run_evaluate(
            runs,
            data=None,
            forgeries=folder,
            baselines=["noise", "ela"],
            stride=0,
            out=out / f"localisation-{label}",
            device=args.device,
            progress=False,
            echo=log,
        )
        loc[label] = json.loads((md.parent / "evaluate.json").read_text())["localisation"]
    timings["localisation_s"] = round(time.perf_counter() - t0, 1)
    log("example heatmaps")
    example = min((heldout / "forgeries" / "images").iterdir())
    mask = heldout / "forgeries" / "masks" / example.name
    for name in ("patchnet-plain", "bart+at"):
        run_heatmap(
            image_path=example,
            out=out / "heatmaps" / name,
            detector=runs[name],
            mask_path=mask,
            stride=1,
            device=args.device,
            progress=False,
            echo=log,
        )
    for b in ("noise", "ela"):
        run_heatmap(image_path=example, out=out / "heatmaps" / b, baseline=b, mask_path=mask, progress=False, echo=log)
    result = {
        "hardware": hardware,
        "args": {k: str(v) for k, v in vars(args).items()},
        "dataset": info["splits"],
        "validation": table,
        "localisation": loc,
        "timings": timings,
    }
    write_text(out / "study.json", json_text(result))
    log(f"done: {out / 'study.json'}, {out / 'robustness' / 'robustness.md'}, heatmaps in {out / 'heatmaps'}")


if __name__ == "__main__":
    main()
