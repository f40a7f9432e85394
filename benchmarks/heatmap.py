"""Time a stride-1 detector heatmap: PatchNet's dense pass against patch-by-patch evaluation, with ResNet throughputs for context.

On one synthetic tile (``make_tile``, 512 x 512 by default) a PatchNet with the default widths
(random weights, seed 0; batch-norm statistics measured on random patches of the tile, as after
training, then eval mode) scores every stride-1 64 x 64 patch twice: (a) with
``dense_logits``, one pass over the image, and (b) with ``patch_logits``-style batches of
patches. When (b) would take longer than --max-seconds, a fixed random subset of its batches is
timed and the full time extrapolated linearly (the output says so and from how many patches).
The largest difference between (a) and (b) is taken over every patch (b) evaluated. ResNet-50
(the paper's detector) and resnet_small per-patch throughputs are measured on a few batches.

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/heatmap.py [--size 512] [--batch-size 256] [--threads 2] [--device cpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import numpy as np
import torch

from cimgen.data.synth import SynthConfig, make_tile
from cimgen.forensics.heatmap import dense_logits, patch_logits, patch_origins, patches_at
from cimgen.io.images import image_to_tensor
from cimgen.models.detectors import PatchNetConfig, patchnet, resnet50, resnet_small
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def calibrate_batch_norm(model, image: np.ndarray, device: str, batches: int = 4, batch_size: int = 64) -> None:
    """Measure batch-norm running statistics on random patches of the image, as training would leave them.

    With the initial statistics (mean 0, variance 1) a randomly initialised PatchNet's logits shrink
    to about 1e-3, which would make the dense versus per-patch difference look smaller than it is.
    """
    patch = model.patch_size
    tensor = image_to_tensor(image).to(device)
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            ys = rng.integers(0, image.shape[0] - patch + 1, batch_size)
            xs = rng.integers(0, image.shape[1] - patch + 1, batch_size)
            model(patches_at(tensor, ys, xs, patch))
    model.eval()


def time_dense(model, image: np.ndarray, device: str, repeats: int) -> tuple[np.ndarray, float]:
    """The dense grid and the fastest of ``repeats`` timed runs (after one warm-up on a crop)."""
    dense_logits(model, image[:128, :128], device=device)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        grid, _, _ = dense_logits(model, image, device=device)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return grid, best


def time_patches(model, image: np.ndarray, dense: np.ndarray, args) -> dict:
    """Per-patch evaluation at stride 1: in full when it fits in --max-seconds, else on a random subset of batches."""
    patch = model.patch_size
    h, w = image.shape[:2]
    ys, xs = patch_origins(h, patch, 1), patch_origins(w, patch, 1)
    total = len(ys) * len(xs)
    batches = -(-total // args.batch_size)
    tensor = image_to_tensor(image).to(args.device)

    def run_batch(b: int) -> tuple[np.ndarray, np.ndarray, float]:
        index = np.arange(b * args.batch_size, min((b + 1) * args.batch_size, total))
        _sync(args.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            # The same cutting and forward pass as patch_logits, one batch at a time.
            logits = model(patches_at(tensor, ys[index // len(xs)], xs[index % len(xs)], patch)).float().cpu().numpy()
        return index, logits, time.perf_counter() - t0

    run_batch(0)  # warm-up
    probe = [run_batch(b)[2] for b in (0, 1)]
    estimate = float(np.mean(probe)) * batches
    print(f"per-patch estimate from 2 batches: {estimate:.0f} s for {total:,} patches", flush=True)
    if estimate <= args.max_seconds:
        _sync(args.device)
        t0 = time.perf_counter()
        grid, _, _ = patch_logits(model, image, stride=1, batch_size=args.batch_size, device=args.device)
        _sync(args.device)
        seconds = time.perf_counter() - t0
        return {
            "seconds": seconds,
            "evaluated": total,
            "extrapolated": False,
            "max_abs_diff": float(np.abs(grid - dense).max()),
        }
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(batches, size=min(args.sample_batches, batches), replace=False))
    spent, evaluated, diff = 0.0, 0, 0.0
    for n, b in enumerate(chosen):
        index, logits, secs = run_batch(int(b))
        spent += secs
        evaluated += len(index)
        diff = max(diff, float(np.abs(logits - dense.reshape(-1)[index]).max()))
        print(f"  batch {n + 1}/{len(chosen)} (#{b}): {secs:.2f} s", flush=True)
    return {"seconds": spent / evaluated * total, "evaluated": evaluated, "extrapolated": True, "max_abs_diff": diff}


def throughput(model, patch: int, args) -> float:
    """Patches per second of ``model`` on --resnet-batches random batches, after one warm-up batch."""
    model.to(args.device).eval()
    x = torch.rand(args.batch_size, 3, patch, patch, device=args.device) * 2 - 1
    with torch.inference_mode():
        model(x)
        _sync(args.device)
        t0 = time.perf_counter()
        for _ in range(args.resnet_batches):
            model(x).float().cpu()
        _sync(args.device)
    return args.resnet_batches * args.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="side of the square test image")
    ap.add_argument("--batch-size", type=int, default=256, help="patches per forward pass")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 keeps torch's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3, help="dense runs; the fastest counts")
    ap.add_argument("--max-seconds", type=float, default=180.0, help="run per-patch evaluation in full when estimated below this")
    ap.add_argument("--sample-batches", type=int, default=24, help="batches timed when per-patch evaluation is extrapolated")
    ap.add_argument("--resnet-batches", type=int, default=3, help="batches timed for the ResNet throughputs")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = patchnet().to(args.device)
    cfg = PatchNetConfig()
    params = sum(p.numel() for p in model.parameters())
    image = make_tile(SynthConfig(height=args.size, width=args.size), 0).image
    calibrate_batch_norm(model, image, args.device)
    patch = model.patch_size
    total = (args.size - patch + 1) ** 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {cpu_summary()}, {torch.get_num_threads()} threads, device {args.device}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {load:.2f} at start",
        flush=True,
    )
    print(
        f"PatchNet widths {cfg.stage1_channels}/{cfg.stage2_channels}/{cfg.stage3_channels}/{cfg.hidden_channels}, "
        f"{params:,} parameters; {args.size}x{args.size} image, {total:,} stride-1 {patch}x{patch} patches",
        flush=True,
    )

    dense, dense_s = time_dense(model, image, args.device, args.repeats)
    print(f"dense: {dense_s:.2f} s", flush=True)
    per_patch = time_patches(model, image, dense, args)
    print(f"per-patch: {per_patch['seconds']:.1f} s", flush=True)
    rates = {}
    torch.manual_seed(0)
    for name, build in (("resnet50", resnet50), ("resnet_small", resnet_small)):
        rates[name] = throughput(build(), patch, args)
        print(f"{name}: {rates[name]:.0f} patches/s", flush=True)
    patchnet_rate = total / per_patch["seconds"]

    sampled = -(-per_patch["evaluated"] // args.batch_size)
    how = "measured in full"
    if per_patch["extrapolated"]:
        how = f"extrapolated from {per_patch['evaluated']:,} patches ({sampled} random batches of up to {args.batch_size})"
    rows = [
        ("PatchNet, dense pass (`dense_logits`)", f"{dense_s:.2f}", f"{total / dense_s:,.0f}", "one pass over the image"),
        (
            f"PatchNet, per patch (`patch_logits`, batch {args.batch_size})",
            f"{per_patch['seconds']:.0f}",
            f"{patchnet_rate:,.0f}",
            how,
        ),
        (
            f"ResNet-50, per patch (batch {args.batch_size})",
            f"{total / rates['resnet50']:.0f}",
            f"{rates['resnet50']:,.0f}",
            f"extrapolated from {args.resnet_batches} batches",
        ),
        (
            f"resnet_small, per patch (batch {args.batch_size})",
            f"{total / rates['resnet_small']:.0f}",
            f"{rates['resnet_small']:,.0f}",
            f"extrapolated from {args.resnet_batches} batches",
        ),
    ]
    command = " ".join(
        [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] * ("OMP_NUM_THREADS" in os.environ)
        + [".venv/bin/python", "benchmarks/heatmap.py", *map(shlex.quote, sys.argv[1:])]
    )
    print(
        f"\nStride-1 heatmap of a {args.size}x{args.size} image ({total:,} patches of {patch}x{patch}), device {args.device}, "
        f"{torch.get_num_threads()} threads:\n"
    )
    print("| method | seconds for the full heatmap | patches/s | how |")
    print("|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    ratio = per_patch["seconds"] / dense_s
    print(
        f"\ndense is {ratio:.0f}x faster than per-patch evaluation; max |dense - per-patch| logit difference "
        f"over {per_patch['evaluated']:,} patches: {per_patch['max_abs_diff']:.2e} (the logits have standard deviation "
        f"{dense.std():.3f}, range {dense.min():.3f} .. {dense.max():.3f})"
    )
    print(f"\nCommand: `{command}`")
    if args.json:
        result = {
            "size": args.size,
            "patch": patch,
            "patches": total,
            "device": args.device,
            "threads": torch.get_num_threads(),
            "load_average_at_start": load,
            "patchnet_widths": [cfg.stage1_channels, cfg.stage2_channels, cfg.stage3_channels, cfg.hidden_channels],
            "patchnet_parameters": params,
            "dense_seconds": dense_s,
            "per_patch": per_patch,
            "ratio": ratio,
            "logit_std": float(dense.std()),
            "patches_per_second": {"patchnet": patchnet_rate, **rates},
            "command": command,
        }
        with open(args.json, "w") as f:
            f.write(json_text(result))


if __name__ == "__main__":
    main()
