"""The two shipped generators on unseen synthetic tiles: SSIM and checkerboard score, rendered from the map alone.

Usage:  .venv/bin/python benchmarks/shipped_generators.py [--tiles 4] [--seed 1]

The tiles are the synthetic world's (world ``--seed``; both generators were pretrained on world 0), 256x256;
the table (markdown) goes to stdout and is the one in docs/training.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from cimgen.data.synth import SynthConfig, make_tile
from cimgen.generators import SHIPPED_NAMES, generate, load_label_generator, shipped_checkpoint
from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.metrics.ssim import ssim_outside
from cimgen.train.runtime import cpu_summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tiles = [make_tile(SynthConfig(height=256, width=256, seed=args.seed), i) for i in range(args.tiles)]
    print(f"CPU: {cpu_summary()}")
    print("| shipped generator | SSIM | checkerboard (lattice peaks against the tile's) |\n|---|---|---|")
    for upsample, name in SHIPPED_NAMES.items():
        gen, cfg = load_label_generator(shipped_checkpoint(upsample))
        ssims, boards = [], []
        for t in tiles:
            out = generate(gen, t.labels.astype(np.int64), int(cfg["label_nc"]))
            ssims.append(ssim_outside(out, t.image, np.zeros(t.labels.shape, bool))["ssim"])
            boards.append(checkerboard_report(out, t.image)["ratio"])
        print(f"| {upsample} ({name}) | {', '.join(f'{v:.3f}' for v in ssims)} | {', '.join(f'{v:.2f}' for v in boards)} |")


if __name__ == "__main__":
    main()
