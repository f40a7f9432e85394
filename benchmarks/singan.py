"""SinGAN training time, original schedule against cimgen's fast one, with the inpainting SSIM each reaches.

Both schedules train on the same damaged 250-pixel image (the SinGAN "balloons" picture with a white
box, from the inpainting fork) one after the other in this process. Each model then inpaints the box
from an adjacent-frame reference (the clean picture moved by 3x2 pixels, 4% brighter, noise of 2
levels) injected at the default scale; SSIM is taken against the clean picture. OpenCV Telea is scored
on the same example for scale.

``--fraction`` trains both with that fraction of their iterations (original 2000 per scale, fast 1000):
the time of every iteration of a scale is the same, so the ratio of the two times does not depend on it.

With ``--out`` the runs are kept there and a second call resumes them (the original schedule at full
length takes about 13 hours on a 2-core CPU): each scale is checkpointed every ``--checkpoint-minutes``,
and a schedule's time is the sum of its scales' training seconds over all the segments it ran in, the
work lost to an interruption (since the last checkpoint) not counted. A finished run is reloaded, not
trained again.

    python benchmarks/singan.py --fraction 0.02 --json runs/bench/singan.json
    python benchmarks/singan.py --fraction 1 --out runs/bench/singan-full --json runs/bench/singan_full.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from cimgen.io.images import read_image, read_mask
from cimgen.metrics.inpainting import inpainting_scores
from cimgen.singan.config import schedule_config
from cimgen.singan.damage import adjacent_frame
from cimgen.singan.inpaint import inpaint
from cimgen.singan.model import MODEL_DIR, load_singan
from cimgen.singan.train import PARTIAL_DIR, train_singan
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    print(f"CPU: {cpu_summary()}", flush=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--name", default="balloons", help="an image of singan-inpainting-fork with its _mask.png and clean original")
    ap.add_argument("--fraction", type=float, default=1.0, help="fraction of each schedule's iterations to train")
    ap.add_argument("--schedules", default="original,fast", help="comma-separated schedules, in the order run")
    ap.add_argument("--precision", default="", help="override both schedules' precision (fp32 or bf16)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 keeps torch's default)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs in this folder and resume them on the next call")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0, help="with --out: minutes between mid-scale checkpoints")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fork = args.data / "singan-inpainting-fork" / "Inpainting"
    damaged_path, mask_path = fork / f"{args.name}.png", fork / f"{args.name}_mask.png"
    clean_path = args.data / "singan-inputs" / "Images" / f"{args.name}.png"
    for p in (damaged_path, mask_path, clean_path):
        if not p.is_file():
            sys.exit(f"singan benchmark: {p} is missing; pass --data with the shared data folder")
    damaged, mask, clean = read_image(damaged_path), read_mask(mask_path), read_image(clean_path)
    reference = adjacent_frame(clean)
    telea = inpaint(damaged, mask, method="telea")
    rows = [{"schedule": "opencv telea", **_scores(telea.result, clean, telea.region)}]
    print(f"image {args.name} {damaged.shape[1]}x{damaged.shape[0]}; telea SSIM {rows[0]['ssim']:.4f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.out or Path(tmp)
        for name in args.schedules.split(","):
            over = {"iters": max(1, round(schedule_config(name).iters * args.fraction))}
            if args.precision:
                over["precision"] = args.precision
            cfg = schedule_config(name, over)
            last = [time.perf_counter()]

            def progress(n, it, iters, stats, name=name, last=last):
                if it == iters or time.perf_counter() - last[0] > 60:
                    last[0] = time.perf_counter()
                    print(f"  {name}: scale {n} iteration {it}/{iters}", flush=True)

            model, segments = _train_or_resume(damaged, mask, cfg, runs / name, args, progress)
            seconds = sum(model.meta["seconds"])
            fill = inpaint(damaged, mask, model=model, reference=reference)
            row = {
                "schedule": name,
                "scales": model.num_scales,
                "iters_per_scale": cfg.iters,
                "precision": cfg.precision,
                "seconds": round(seconds, 1),
                "seconds_per_scale": model.meta["seconds"],
                "segments": segments,
                "injection_scale": fill.scale,
                "reconstruction_rmse": round(model.reconstruction_error()[-1], 4),
                **_scores(fill.result, clean, fill.region),
            }
            rows.append(row)
            print(
                f"{name}: {seconds:.1f} s, {model.num_scales} scales x {cfg.iters} iterations, injected at {fill.scale}: "
                f"SSIM {row['ssim']:.4f}, in the region {row['ssim_filled']:.4f}, ASVS {row['asvs']:.4f}",
                flush=True,
            )
    timed = [r for r in rows if "seconds" in r]
    if len(timed) == 2:
        print(f"speed-up {timed[0]['schedule']} / {timed[1]['schedule']}: {timed[0]['seconds'] / timed[1]['seconds']:.2f}x")
    print("\n| schedule | scales x iterations | precision | train time | injected at | SSIM | SSIM in the region | ASVS |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "seconds" in r:
            print(
                f"| {r['schedule']} | {r['scales']} x {r['iters_per_scale']} | {r['precision']} | {r['seconds']:.1f} s | {r['injection_scale']} "
                f"| {r['ssim']:.4f} | {r['ssim_filled']:.4f} | {r['asvs']:.4f} |"
            )
        else:
            print(f"| {r['schedule']} | | | | | {r['ssim']:.4f} | {r['ssim_filled']:.4f} | {r['asvs']:.4f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json_text({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}))
        print(f"results: {args.json}")


def _train_or_resume(damaged, mask, cfg, out: Path, args, progress) -> tuple:
    """Train in ``out``, resume it, or reload it when finished; also returns how many segments the training took."""
    segments_file = out.with_name(f"{out.name}.segments.txt")
    if (out / MODEL_DIR).is_dir():
        model, _ = load_singan(out / MODEL_DIR, device=args.device)
        if model.trained == model.num_scales and not (out / PARTIAL_DIR).exists():
            print(f"  {out} is finished: reloaded", flush=True)
            return model, len(segments_file.read_text().splitlines())
    resume = (out / MODEL_DIR).is_dir() or (out / PARTIAL_DIR).is_dir()
    if args.out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(segments_file, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {'resumed' if resume else 'started'}\n")
    model = train_singan(
        damaged,
        cfg,
        out,
        mask=mask,
        device=args.device,
        progress=progress,
        write_samples=False,
        resume=resume,
        checkpoint_every=args.checkpoint_minutes * 60,
    )
    return model, len(segments_file.read_text().splitlines()) if segments_file.is_file() else 1


def _scores(result, clean, region) -> dict:
    s = inpainting_scores(result, clean, region)
    return {"ssim": round(s["ssim"], 4), "ssim_filled": round(s["ssim_filled"], 4), "asvs": round(s["asvs"], 4)}


if __name__ == "__main__":
    main()
