"""The SinGAN inpainting study: OpenCV Telea, OpenCV Navier-Stokes and SinGAN with an adjacent-frame reference.

Sets (all from ../shared/data):
  fork     the 11 numbered 128x128 photos of the SinGAN inpainting fork (white square, mask, clean original);
  pictures the fork's 5 SinGAN pictures with a white box (balloons, birds, cows, seascape, starry_night),
           clean originals from singan-inputs/Images;
  synthetic SinGAN inputs with white subtitles (trees3, colusseum) or an occluding box (mountains3, lightning1).

Each damaged image trains its own SinGAN (fast schedule, the mask left out of the reconstruction loss).
Each reference is the clean image moved by 3x2 pixels, 4% brighter, with noise of 2 levels
(``singan.damage.adjacent_frame``). SinGAN inpaints at every injection scale with both noise modes; the
tables use the default scale and noise (``singan.inpaint``) unless they say otherwise. "reference paste" copies the
reference into the region (feathered like SinGAN), to show what the pyramid adds to it. SSIM and ASVS
come from ``metrics.inpainting`` (SSIM against the clean image; ASVS over the filled region, lower is better).

    python benchmarks/singan_study.py --iters 60 --max-size 128 --out runs/singan-study
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cimgen.edit.blend import blend_feather
from cimgen.edit.mask import dilate
from cimgen.io.images import read_image, read_mask, write_image
from cimgen.metrics.inpainting import inpainting_scores
from cimgen.singan.config import schedule_config
from cimgen.singan.damage import adjacent_frame, occlusion, subtitles
from cimgen.singan.inpaint import DEFAULT_DILATION, DEFAULT_NOISE, default_scale, inpaint
from cimgen.singan.train import train_singan
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FORK = ["0278", "0283", "0300", "0329", "0433", "0530", "0657", "0671", "0943", "0992", "0993"]
PICTURES = ["balloons", "birds", "cows", "seascape", "starry_night"]
SYNTHETIC = [("trees3", "subtitles"), ("colusseum", "subtitles"), ("mountains3", "box"), ("lightning1", "box")]


def cases(data: Path, sets: list[str]):
    fork, images = data / "singan-inpainting-fork" / "Inpainting", data / "singan-inputs" / "Images"
    if "fork" in sets:
        for n in FORK:
            yield "fork", n, read_image(fork / f"{n}_inp.png"), read_mask(fork / f"{n}_inp_mask.png"), read_image(fork / f"{n}_gth.png")
    if "pictures" in sets:
        for n in PICTURES:
            yield "pictures", n, read_image(fork / f"{n}.png"), read_mask(fork / f"{n}_mask.png"), read_image(images / f"{n}.png")
    if "synthetic" in sets:
        for n, kind in SYNTHETIC:
            clean = read_image(images / f"{n}.png")
            damaged, mask = subtitles(clean) if kind == "subtitles" else occlusion(clean)
            yield "synthetic", f"{n}-{kind}", damaged, mask, clean


def main() -> None:
    print(f"CPU: {cpu_summary()}", flush=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("runs/singan-study"))
    ap.add_argument("--sets", default="fork,pictures,synthetic")
    ap.add_argument("--schedule", default="fast")
    ap.add_argument("--iters", type=int, default=60, help="iterations per scale")
    ap.add_argument("--max-size", type=int, default=128, help="the finest scale's longer side")
    ap.add_argument(
        "--shifts", default="3,2;1,1;6,4", help="reference shifts dx,dy; the first is the main one, the others score the default only"
    )
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (a quick look)")
    ap.add_argument("--figure", type=Path, default=None, help="also draw four examples side by side into this PNG")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if not (args.data / "singan-inpainting-fork").is_dir():
        sys.exit(f"singan study: {args.data} has no singan-inpainting-fork; pass --data with the shared data folder")
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = schedule_config(args.schedule, {"iters": args.iters, "max_size": args.max_size})
    dilation = DEFAULT_DILATION["inpaint"]
    shifts = [tuple(int(v) for v in part.split(",")) for part in args.shifts.split(";")]
    rows = []
    todo = list(cases(args.data, args.sets.split(",")))
    if args.limit:
        todo = todo[: args.limit]
    t_all = time.perf_counter()
    for i, (group, name, damaged, mask, clean) in enumerate(todo):
        run = args.out / "runs" / name
        resume = (run / "model" / "config.json").is_file()
        try:
            model = train_singan(damaged, cfg, run, mask=mask, device=args.device, resume=resume, source=name)
        except Exception as e:  # a finished run cannot be resumed: load it
            from cimgen.singan.model import load_singan

            if "nothing to resume" not in str(e):
                raise
            model = load_singan(run / "model", device=args.device)[0]
        train_s = sum(model.meta["seconds"])  # as measured when it was trained, also for a reloaded run
        pics = args.out / "pictures" / name
        pics.mkdir(parents=True, exist_ok=True)
        write_image(pics / "damaged.png", damaged)
        write_image(pics / "clean.png", clean)
        base = {
            "set": group,
            "image": name,
            "size": f"{damaged.shape[1]}x{damaged.shape[0]}",
            "mask_fraction": round(float(mask.mean()), 4),
            "train_seconds": round(train_s, 1),
            "scales": model.trained,
            "default_scale": default_scale(model),
        }
        for method in ("telea", "ns"):
            fill = inpaint(damaged, mask, method=method, dilation=dilation)
            rows.append(
                {
                    **base,
                    "method": method,
                    "shift": "",
                    "scale": "",
                    "noise": "",
                    "default": True,
                    **_scores(fill.result, clean, fill.region),
                }
            )
            write_image(pics / f"{method}.png", fill.result)
        region = dilate(mask, dilation)
        for shift in shifts:
            main_shift = shift == shifts[0]
            reference = adjacent_frame(clean, shift=shift)
            tag = f"{shift[0]}x{shift[1]}"
            if main_shift:
                write_image(pics / "reference.png", reference)
            pasted = blend_feather(damaged, reference, region, feather=float(dilation))
            pasted[mask] = reference[mask]
            rows.append(
                {
                    **base,
                    "method": "reference paste",
                    "shift": tag,
                    "scale": "",
                    "noise": "",
                    "default": main_shift,
                    **_scores(pasted, clean, region),
                }
            )
            for scale in range(1, model.trained) if main_shift else [default_scale(model)]:
                for noise in ("random", "reconstruction") if main_shift else [DEFAULT_NOISE]:
                    fill = inpaint(damaged, mask, model=model, reference=reference, scale=scale, noise=noise, dilation=dilation)
                    default = main_shift and scale == default_scale(model) and noise == DEFAULT_NOISE
                    rows.append(
                        {
                            **base,
                            "method": "singan",
                            "shift": tag,
                            "scale": scale,
                            "noise": noise,
                            "default": default,
                            **_scores(fill.result, clean, fill.region),
                        }
                    )
                    if default:
                        write_image(pics / "singan.png", fill.result)
        print(
            f"[{i + 1}/{len(todo)}] {name}: trained {train_s:.0f} s; "
            + ", ".join(
                f"{r['method']}{'@' + str(r['scale']) if r['scale'] != '' else ''}{'/' + r['noise'][:3] if r['noise'] else ''} {r['ssim']:.3f}"
                for r in rows
                if r["image"] == name and r["default"]
            ),
            flush=True,
        )
    with open(args.out / "scores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = summarise(rows)
    (args.out / "summary.json").write_text(
        json_text(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "config": cfg.__dict__,
                "seconds": round(time.perf_counter() - t_all, 1),
                **summary,
            }
        )
    )
    print(summary["markdown"])
    if args.figure:
        figure(args.out / "pictures", [n for _, n, *_ in todo][:: max(1, len(todo) // 4)][:4], args.figure)
        print(f"figure: {args.figure}")
    print(f"scores: {args.out / 'scores.csv'}  summary: {args.out / 'summary.json'}  pictures: {args.out / 'pictures'}")


def figure(folder: Path, names: list[str], path: Path) -> None:
    """Rows of damaged | Telea | Navier-Stokes | SinGAN | clean for the named examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("damaged", "damaged"), ("telea", "OpenCV Telea"), ("ns", "OpenCV NS"), ("singan", "SinGAN"), ("clean", "clean")]
    fig, axes = plt.subplots(len(names), len(cols), figsize=(2.4 * len(cols), 2.1 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, (key, title) in enumerate(cols):
            ax = axes[r][c]
            ax.imshow(read_image(folder / name / f"{key}.png"))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _scores(result, clean, region) -> dict:
    s = inpainting_scores(result, clean, region)
    return {"ssim": round(s["ssim"], 4), "ssim_filled": round(s["ssim_filled"], 4), "asvs": round(s["asvs"], 4)}


def summarise(rows: list[dict]) -> dict:
    """Mean SSIM, SSIM in the region and ASVS per set and method (SinGAN at the default scale and noise),
    and SinGAN's mean SSIM in the region per injection scale counted from the finest."""

    def mean(rs, key):
        return float(np.mean([r[key] for r in rs])) if rs else float("nan")

    lines = ["| set | images | method | SSIM | SSIM in the region | ASVS |", "|---|---:|---|---:|---:|---:|"]
    sets = sorted({r["set"] for r in rows}) + ["all"]
    table = {}
    for s in sets:
        rs = [r for r in rows if s == "all" or r["set"] == s]
        n = len({r["image"] for r in rs})
        for label in ("telea", "ns", "reference paste", "singan"):
            pick = [r for r in rs if r["method"] == label and r["default"]]
            table[(s, label)] = {k: mean(pick, k) for k in ("ssim", "ssim_filled", "asvs")}
            t = table[(s, label)]
            lines.append(f"| {s} | {n} | {label} | {t['ssim']:.4f} | {t['ssim_filled']:.4f} | {t['asvs']:.4f} |")
    lines += ["", "| injection scale (0 = finest) | noise | SSIM | SSIM in the region | ASVS |", "|---|---|---:|---:|---:|"]
    by_scale = {}
    for back in range(1, 7):
        for noise in ("random", "reconstruction"):
            pick = [
                r
                for r in rows
                if r["method"] == "singan"
                and r["noise"] == noise
                and r["scale"] != ""
                and r["scales"] - 1 - r["scale"] == back - 1
                and r["shift"] == rows_main(rows)
            ]
            if pick:
                by_scale[f"{back}/{noise}"] = {k: mean(pick, k) for k in ("ssim", "ssim_filled", "asvs")}
                t = by_scale[f"{back}/{noise}"]
                lines.append(f"| finest - {back - 1} | {noise} | {t['ssim']:.4f} | {t['ssim_filled']:.4f} | {t['asvs']:.4f} |")
    lines += ["", "| reference shift (px) | method | SSIM | SSIM in the region | ASVS |", "|---|---|---:|---:|---:|"]
    by_shift = {}
    for tag in sorted({r["shift"] for r in rows if r["shift"]}, key=lambda t: int(t.split("x")[0])):
        for label in ("reference paste", "singan"):
            pick = [
                r
                for r in rows
                if r["method"] == label
                and r["shift"] == tag
                and (label != "singan" or (r["noise"] == DEFAULT_NOISE and r["scale"] == r["default_scale"]))
            ]
            if pick:
                by_shift[f"{tag}/{label}"] = t = {k: mean(pick, k) for k in ("ssim", "ssim_filled", "asvs")}
                lines.append(f"| {tag} | {label} | {t['ssim']:.4f} | {t['ssim_filled']:.4f} | {t['asvs']:.4f} |")
    return {
        "table": {f"{k[0]}/{k[1]}": v for k, v in table.items()},
        "by_scale": by_scale,
        "by_shift": by_shift,
        "markdown": "\n".join(lines),
    }


def rows_main(rows: list[dict]) -> str:
    return next(r["shift"] for r in rows if r["method"] == "reference paste")


if __name__ == "__main__":
    main()
