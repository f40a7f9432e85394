"""Detectability of forgeries of a real image: the fine-tuning recipes of benchmarks/fidelity.py against the patch detector and two classical baselines.

Usage:  .venv/bin/python benchmarks/detector_fidelity.py --runs runs/fidelity-m2s[,other fidelity folders] --pair map2sat
                                                         [--variants windows,memorise-detail-lr] [--out runs/detector-fidelity-map2sat]
                                                         [--epochs 10] [--stride 8] [--heatmap-stride 8] [--seeds 0,1,2] [--write-docs]

For each variant that benchmarks/fidelity.py fine-tuned (``<runs>/<variant>/checkpoints/epoch-NNNN``; the last one is used):

1. **Pristine vs generated** (the paper's detector task, on one image). The variant's generator renders the
   whole, unedited map. 64x64 patches are cut on a ``--stride`` grid from the photo (label 0) and from the
   generated image (label 1) in two column bands of the image that never share a pixel: the detector trains
   on one band (``--train-share`` of the width) and is tested on the other, ``--gap`` pixels (at least one
   patch) away. The band kept for testing is the one that holds the edit of step 2, so the detector never
   trains on the place it later localises. The detector is the project's (``cimgen.forensics.train``,
   ``--arch``, default resnet_small, a fixed number of epochs); the test AUC and accuracy are those of the last
   epoch (no epoch is chosen on the test band). One detector per seed of ``--seeds``; the table gives the mean
   and the range, since one image makes a small test set.
2. **Localisation on the forgery.** fidelity.py's edit (the target class removed in the busiest box), re-made
   with the variant's generator, cimgen manipulate's default treatment of the codes inside the edit
   (``edit_render``) and its default blend (feather). Pixel AUC against the edit's mask of the detector of step 1 (its
   heatmap on a ``--heatmap-stride`` grid, each pixel the mean of the patches covering it) and of the noise
   and ELA baselines (``cimgen.forensics.baselines``), over the whole image and over the test band alone
   (where the detector saw neither the photo nor the generated image).

Where the photo is a JPEG (the Map2Sat pair), both are made as they would be released: the generated image of
step 1 compressed as the photo's file was, and the forgery's edit matched to it as cimgen manipulate does by
default (``--match-jpeg``); ``--no-match-jpeg`` leaves them uncompressed, as the runs before late 2026-12-04 did.

Resumable: each finished variant is a line of <out>/results.jsonl (with its options) and is skipped when run
again with the same options. Patches, detectors and forgeries stay under <out> (licences); the table goes to
stdout and, with --write-docs, into docs/benchmarks.md with the command and the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import (  # the pairs, edits and default treatment of the fidelity benchmark
    DEFAULT_BLEND,
    DEFAULT_INSIDE,
    DEFAULT_SEAM_CUT,
    DEFAULT_SHADOWS,
    PAIRS,
    pair_compression,
    removal,
    splice_section,
)

from cimgen.edit.mask import busiest_box
from cimgen.edit.pipeline import match_jpeg, plan_edit, render_edit
from cimgen.forensics.baselines import baseline_scores
from cimgen.forensics.evaluate import ACCURACY, AUC, patch_metrics, predict_patches
from cimgen.forensics.heatmap import PIXEL_AUC, heatmap, localisation_scores, pixel_scores
from cimgen.forensics.patches import GENERATED, PRISTINE, load_split, strided_patches, write_patch_dataset
from cimgen.forensics.train import load_detector, resolve_config, run_detector
from cimgen.generators import load_renderer
from cimgen.io.images import JpegCompression, recompress_jpeg
from cimgen.runs.manipulate import edit_render
from cimgen.runs.options import shadow_mode
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

DOCS_MARK = "## Detectability of forgeries: old recipe vs new default (benchmarks/detector_fidelity.py)"
METHODS = ("detector", "noise", "ela")
"""The localisers of step 2: the detector's heatmap and the two classical baselines."""


@dataclass(frozen=True)
class TaskOptions:
    """How the single-image detector of step 1 is trained and tested."""

    patch: int = 64
    """Side of the patches (the paper's 64)."""
    stride: int = 8
    """Step of the patch grid in each band (patches overlap within a band, never across bands)."""
    train_share: float = 0.55
    """Share of the image's width in the training band."""
    gap: int = 64
    """Pixels between the training and the test band (at least one patch side)."""
    arch: str = "resnet_small"
    """Detector architecture (``cimgen.models.detectors.DETECTORS``)."""
    width: int = 0
    """ResNet base channels; 0 takes the architecture's default."""
    epochs: int = 10
    """Training epochs over the training band's patches."""
    batch_size: int = 32
    """Patches per step."""
    lr: float = 1e-3
    """Adam's learning rate."""
    seed: int = 0
    """Seed of the detector's weights and of the batch order."""


def bands(width: int, opts: TaskOptions, train_side: str) -> dict[str, tuple[int, int]]:
    """The column ranges [x0, x1) of the training and test bands; ``train_side`` is "left" or "right"."""
    train_width = round(opts.train_share * width)
    test_width = width - train_width - opts.gap
    if opts.gap < opts.patch or min(train_width, test_width) < opts.patch:
        raise ValueError(
            f"a {width}-pixel-wide image leaves no room for a {train_width}-pixel training band, a {opts.gap}-pixel gap "
            f"(at least one {opts.patch}-pixel patch) and a test band of at least one patch"
        )
    if train_side == "left":
        return {"train": (0, train_width), "val": (width - test_width, width)}
    return {"train": (width - train_width, width), "val": (0, test_width)}


def patch_splits(photo: np.ndarray, generated: np.ndarray, spans: dict[str, tuple[int, int]], opts: TaskOptions) -> dict:
    """(patches, labels, sources) per split: the photo's patches (pristine) and the generated image's at the same places."""
    out = {}
    for split, (x0, x1) in spans.items():
        real = strided_patches(photo[:, x0:x1], opts.patch, opts.stride)
        fake = strided_patches(generated[:, x0:x1], opts.patch, opts.stride)
        labels = np.concatenate([np.full(len(real), PRISTINE, np.uint8), np.full(len(fake), GENERATED, np.uint8)])
        out[split] = (np.concatenate([real, fake]), labels, np.zeros(len(labels), np.int32))
    return out


def detector_task(
    photo: np.ndarray, generated: np.ndarray, out: Path, opts: TaskOptions, *, train_side: str = "left", device: str = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """Train the project's detector on one band of (photo, generated) and test it on the other: (the last epoch's detector, scores).

    ``out`` (created afresh) receives the patch dataset and the detector's run folder.
    """
    if photo.shape != generated.shape:
        raise ValueError(f"the photo is {photo.shape} but the generated image {generated.shape}")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spans = bands(photo.shape[1], opts, train_side)
    about = {"made_from": "benchmarks/detector_fidelity.py: two column bands of one image", "columns": spans, "stride": opts.stride}
    source = [{"name": "image", "pristine": ["(memory)"], "generated": ["(memory)"]}]
    data = write_patch_dataset(
        out / "patches", patch_splits(photo, generated, spans, opts), patch_size=opts.patch, sources=source, about=about
    )
    cfg = resolve_config(
        {
            "data": str(data),
            "detector": {"arch": opts.arch, "patch_size": opts.patch, "width": opts.width},
            "optim": {"lr": opts.lr},
            "loop": {
                "epochs": opts.epochs, "batch_size": opts.batch_size, "seed": opts.seed, "precision": "fp32", "device": device,
                "tensorboard": False, "checkpoint_every": opts.epochs, "sample_every": 10**6, "keep_checkpoints": 1,
            },
        }
    )  # fmt: skip
    t0 = time.perf_counter()
    last = run_detector(cfg, out / "detector", echo=None, progress=False)
    seconds = time.perf_counter() - t0
    model, _ = load_detector(last, device)
    patches, labels, _ = load_split(data, "val")
    m = patch_metrics(predict_patches(model, patches, device=device), labels)
    n_train = len(load_split(data, "train")[1])
    # The test band's AUC after every epoch (the loop validates on it): shows whether the last epoch is typical.
    stats = [json.loads(line) for line in (out / "detector" / "stats.jsonl").read_text().splitlines() if line.strip()]
    by_epoch = [round(float(x["val_auc"]), 4) for x in stats if "val_auc" in x]
    result = {
        AUC: round(m[AUC], 4), ACCURACY: round(m[ACCURACY], 4), "train_patches": n_train, "test_patches": int(m["patches"]),
        "train_columns": list(spans["train"]), "test_columns": list(spans["val"]), "train_seconds": round(seconds, 1),
        "auc_by_epoch": by_epoch,
    }  # fmt: skip
    return model, result


def localisation(
    model: torch.nn.Module, image: np.ndarray, mask: np.ndarray, test_columns: tuple[int, int], *, stride: int, device: str = "cpu"
) -> dict:
    """Pixel AUC of the detector's heatmap and of each baseline against ``mask``: over the image and over the test band."""
    maps = {
        "detector": pixel_scores(heatmap(model, image, stride=stride, device=device), image.shape[:2]),
        "noise": baseline_scores("noise", image),
        "ela": baseline_scores("ela", image),
    }
    x0, x1 = test_columns
    band = mask[:, x0:x1]
    out = {}
    for name in METHODS:
        whole = localisation_scores(maps[name], mask)[PIXEL_AUC]
        inside = localisation_scores(maps[name][:, x0:x1], band)[PIXEL_AUC] if 0 < band.sum() < band.size else None
        out[name] = {"pixel_auc": round(whole, 4), "pixel_auc_test_band": None if inside is None else round(inside, 4)}
    out["mask_in_test_band"] = round(float(band.sum() / max(1, mask.sum())), 3)
    return out


def run_variant(
    name: str,
    run: Path,
    labels: np.ndarray,
    photo: np.ndarray,
    pair: str,
    out: Path,
    opts: TaskOptions,
    seeds: list[int],
    heatmap_stride: int,
    device: str,
    compression: JpegCompression | None = None,
) -> dict:
    """Steps 1 and 2 for one fine-tuned variant (its last checkpoint), with one detector per seed. With ``compression``
    (the photo's JPEG file's) both are made as they would be released: the generated image compressed as the photo
    was, and the forgery's edit matched to it (cimgen manipulate's default for a JPEG image)."""
    spec = PAIRS[pair]
    checkpoint = max((run / "checkpoints").glob("epoch-*"))
    renderer = load_renderer(checkpoint, device=device)
    t0 = time.perf_counter()
    generated = renderer.render(labels)
    if compression is not None:
        generated = recompress_jpeg(generated, compression)
    box = busiest_box(labels == spec["target"], spec["side"])
    shadows = shadow_mode(DEFAULT_SHADOWS, renderer.palette.street_view)
    plan = plan_edit(photo, labels, [removal(pair, box)], num_classes=renderer.palette.num_classes, radius=8, shadows=shadows)
    render, codes = edit_render(renderer, photo, labels, plan, DEFAULT_INSIDE)
    forgery = render_edit(photo, labels, plan, render, blend_mode=DEFAULT_BLEND, tile_size=0, cut=DEFAULT_SEAM_CUT)
    if compression is not None:
        match_jpeg(forgery, compression)
    work = out / name
    # The test band is the side that holds the edit, so the detector never trains on the place it localises.
    mask_x = float(np.nonzero(forgery.mask)[1].mean())
    train_side = "right" if mask_x < photo.shape[1] / 2 else "left"
    tasks, locals_, local_seconds = [], [], 0.0
    for seed in seeds:
        print(f"[{name}] {checkpoint}: training the detector (seed {seed}) on the {train_side} band ...", flush=True)
        model, task = detector_task(
            photo, generated, work / f"task-seed{seed}", replace(opts, seed=seed), train_side=train_side, device=device
        )
        print(f"[{name}] seed {seed}: test AUC {task[AUC]:.3f}, accuracy {task[ACCURACY]:.3f}; localising on the forgery ...", flush=True)
        t1 = time.perf_counter()
        locals_.append(localisation(model, forgery.result, forgery.mask, task["test_columns"], stride=heatmap_stride, device=device))
        local_seconds += time.perf_counter() - t1
        tasks.append(task)
    (work / "forgery").mkdir(parents=True, exist_ok=True)
    Image.fromarray(forgery.result).save(work / "forgery" / "result.png")
    Image.fromarray(forgery.mask.astype(np.uint8) * 255).save(work / "forgery" / "mask_raw.png")
    Image.fromarray(generated).save(work / "generated.png")
    return {
        "variant": name, "checkpoint": str(checkpoint), "pair": pair, "options": asdict(opts), "seeds": seeds, "heatmap_stride": heatmap_stride,
        "device": device, "threads": torch.get_num_threads(), "ssim_whole_map": round(float(structural_similarity(generated, photo, channel_axis=2)), 4),
        "train_side": train_side, "detector": tasks, "localisation": locals_, "code_inside": codes.get("treatment", "none"),
        "mask_area_fraction": round(float(forgery.mask.mean()), 4), "localisation_seconds": round(local_seconds, 1),
        "jpeg_matched": compression is not None,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip


def table(results: list[dict]) -> str:
    rows = [
        (
            "| variant | whole-map SSIM | codes inside the edit | JPEG matched | detector: patches train / test | test AUC | test accuracy | "
            "forgery pixel AUC, whole image: detector / noise / ELA | in the test band: detector / noise / ELA | mask in test band | s |"
        ),
        "|---|---:|---|---|---|---:|---:|---|---|---:|---:|",
    ]
    for r in results:
        d, loc = r["detector"], r["localisation"]
        whole = " / ".join(spread([x[m]["pixel_auc"] for x in loc]) for m in METHODS)
        band = " / ".join(spread([x[m]["pixel_auc_test_band"] for x in loc]) for m in METHODS)
        rows.append(
            f"| {r['variant']} | {r['ssim_whole_map']:.3f} | {r['code_inside']} | {'yes' if r.get('jpeg_matched') else 'no'} | "
            f"{d[0]['train_patches']} / {d[0]['test_patches']} | {spread([x[AUC] for x in d])} | "
            f"{spread([x[ACCURACY] for x in d])} | {whole} | {band} | {loc[0]['mask_in_test_band']:.2f} | {r['seconds']:.0f} |"
        )
    return "\n".join(rows)


def spread(values: list[float | None]) -> str:
    """The mean over seeds with the range when they differ: "0.912 (0.880-0.951)"; "-" when undefined."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if max(values) - min(values) < 5e-4:  # one value, or the same on every seed (the baselines do not learn)
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def write_docs(results: list[dict], command: str, pair: str) -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    text = docs.read_text()
    mark = f"{DOCS_MARK[:-1]}, {pair})"
    o = results[0]["options"]
    section = (
        f"{mark}\n\nCommand: `{command}`\n\nCPU: {cpu_summary()}; torch {torch.__version__}, "
        f"{'/'.join(sorted({str(r['threads']) for r in results}))} threads, fp32. Detector: {o['arch']}, {o['patch']}-px patches "
        f"on a {o['stride']}-px grid, {o['epochs']} epochs, batch {o['batch_size']}, lr {o['lr']:g}, seeds {', '.join(map(str, results[0]['seeds']))} "
        f"(one detector per seed; cells give the mean and the range over seeds); "
        f"training band {o['train_share']:.0%} of the width, gap {o['gap']} px, test band the rest (the side holding the edit); "
        f"heatmap stride {results[0]['heatmap_stride']} px.\n\n{table(results)}\n"
    )
    docs.write_text(splice_section(text, mark, section))


def find_run(folders: list[Path], variant: str) -> Path | None:
    """The first of ``folders`` where fidelity.py finished the variant (its line in results.jsonl) and left its checkpoints."""
    for f in folders:
        listed = f / "results.jsonl"
        finished = listed.is_file() and any(
            json.loads(line)["variant"] == variant for line in listed.read_text().splitlines() if line.strip()
        )
        if finished and any((f / variant / "checkpoints").glob("epoch-*")):
            return f / variant
    return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--runs", required=True, help="fidelity.py output folder(s), comma-separated; each variant is taken from the first that has it"
    )
    ap.add_argument("--pair", choices=sorted(PAIRS), default="map2sat")
    ap.add_argument("--variants", default="windows,memorise-detail-lr")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=None, help="default: runs/detector-fidelity-<pair>")
    ap.add_argument("--epochs", type=int, default=TaskOptions.epochs)
    ap.add_argument("--stride", type=int, default=TaskOptions.stride)
    ap.add_argument("--arch", default=TaskOptions.arch)
    ap.add_argument("--seeds", default="0,1,2", help="one detector per seed (weights and batch order), comma-separated")
    ap.add_argument("--heatmap-stride", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--no-match-jpeg",
        action="store_true",
        help="leave the generated image and the edit uncompressed where the photo is a JPEG (the runs before late 2026-12-04)",
    )
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    opts = TaskOptions(epochs=args.epochs, stride=args.stride, arch=args.arch)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    out = args.out or Path(f"runs/detector-fidelity-{args.pair}")
    folders = [Path(f) for f in args.runs.split(",") if f]
    spec = PAIRS[args.pair]
    if not (args.shared / spec["need"]).exists():
        sys.exit(f"the {args.pair} pair is not at {args.shared / spec['need']} (it lives in ../shared/data)")
    out.mkdir(parents=True, exist_ok=True)
    compression = None if args.no_match_jpeg else pair_compression(args.pair, args.shared)
    done_file = out / "results.jsonl"
    done = {}
    if done_file.exists():
        for line in done_file.read_text().splitlines():
            r = json.loads(line)
            same = (r["options"], r["seeds"], r["heatmap_stride"], r["pair"]) == (asdict(opts), seeds, args.heatmap_stride, args.pair)
            same = same and r.get("jpeg_matched", False) == (compression is not None)
            if same:
                done[r["variant"]] = r
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    labels, photo = spec["make"](args.shared)
    labels = labels.astype(np.int32)
    names = [v for v in args.variants.split(",") if v]
    for name in names:
        run = find_run(folders, name)
        if run is None:
            print(
                f"[{name}] not finished by fidelity.py under {', '.join(map(str, folders))} (no line in results.jsonl); skipped", flush=True
            )
            continue
        if name in done and done[name]["checkpoint"] == str(max((run / "checkpoints").glob("epoch-*"))):
            print(f"[{name}] done before, skipped ({done_file})", flush=True)
            continue
        r = run_variant(name, run, labels, photo, args.pair, out, opts, seeds, args.heatmap_stride, args.device, compression)
        with done_file.open("a") as f:
            f.write(json_text(r, indent=None) + "\n")
        done[name] = r
        loc = r["localisation"]
        print(
            f"[{name}] {r['seconds']:.0f} s; test AUC {spread([d[AUC] for d in r['detector']])}; forgery pixel AUC "
            + ", ".join(f"{m} {spread([x[m]['pixel_auc'] for x in loc])}" for m in METHODS),
            flush=True,
        )
    results = [done[n] for n in names if n in done]
    if not results:
        sys.exit("no variant was measured")
    print(table(results))
    if args.write_docs:
        threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
        write_docs(results, f"{threads}python benchmarks/detector_fidelity.py " + " ".join(sys.argv[1:]), args.pair)
        print("table written into docs/benchmarks.md")
    print(f"results: {done_file}; forgeries: {out}/<variant>/forgery (not to be committed: licences)")


if __name__ == "__main__":
    main()
