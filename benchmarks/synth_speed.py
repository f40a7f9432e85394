"""Time the synthetic world: tile generation alone and with PNG writing, and write docs/benchmarks.md.

Run: .venv/bin/python benchmarks/synth_speed.py [--count 300] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from cimgen.data.synth import SynthConfig, make_tile, write_world
from cimgen.train.runtime import cpu_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", default="docs/benchmarks.md")
    args = ap.parse_args()
    cfg = SynthConfig(height=args.size, width=args.size, seed=0)

    t0 = time.perf_counter()
    for i in range(args.count):
        make_tile(cfg, i)
    gen_s = time.perf_counter() - t0
    print(f"generated {args.count} tiles in {gen_s:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_world(Path(tmp) / "w", args.count, cfg)
        write_s = time.perf_counter() - t0
    print(f"generated and wrote {args.count} tiles in {write_s:.1f} s")

    cmd = " ".join([".venv/bin/python", *sys.argv])
    text = f"""# Benchmarks

Measured on this project's development machine ({os.cpu_count()} CPU cores, {cpu_summary()}, Python
{platform.python_version()}, torch {torch.__version__}); no GPU.

## Synthetic world (`cimgen data synth`)

Command: `{cmd}`

| what | tiles | size | seconds | tiles per second |
|---|---:|---:|---:|---:|
| generate tiles in memory | {args.count} | {args.size}x{args.size} | {gen_s:.1f} | {args.count / gen_s:.0f} |
| generate and write PNGs (labels, maps, images) | {args.count} | {args.size}x{args.size} | {write_s:.1f} | {args.count / write_s:.0f} |

Single process. Writing the three PNGs per tile adds {write_s - gen_s:.1f} s ({100 * (write_s - gen_s) / write_s:.0f}% of the total).
"""
    Path(args.out).write_text(text)
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
