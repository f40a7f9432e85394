"""SinGAN's other uses on its own inputs: random samples (any size, from a chosen scale), editing and harmonization.

Trains the fast schedule on singan-inputs/Images/stone.png and starry_night.png, then
  - edits stone with Editing/stone_edit.png and its mask (kind edit, 20-px dilation),
  - harmonizes starry_night with Harmonization/starry_night_naive.png and its mask (kind harmonize, 7 px),
  - draws samples of stone at the training size, twice as wide, and from start scale 3,
and draws them into one figure.

    python benchmarks/singan_examples.py --iters 60 --max-size 128 --out runs/singan-examples --figure runs/singan-examples/figure.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cimgen.io.images import read_image, read_mask, write_image
from cimgen.singan.config import schedule_config
from cimgen.singan.inpaint import edit
from cimgen.singan.model import load_singan, to_image
from cimgen.singan.train import train_singan
from cimgen.train.runtime import cpu_summary

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def trained(image: np.ndarray, cfg, out: Path, name: str):
    if (out / "model" / "config.json").is_file():
        return load_singan(out)[0]
    t0 = time.perf_counter()
    model = train_singan(image, cfg, out, source=name)
    print(f"{name}: {model.trained} scales trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return model


def main() -> None:
    print(f"CPU: {cpu_summary()}", flush=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=Path("runs/singan-examples"))
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--max-size", type=int, default=128)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args()
    src = args.data / "singan-inputs"
    if not src.is_dir():
        sys.exit(f"singan examples: {src} is missing; pass --data with the shared data folder")
    cfg = schedule_config("fast", {"iters": args.iters, "max_size": args.max_size})
    stone = read_image(src / "Images" / "stone.png")
    starry = read_image(src / "Images" / "starry_night.png")
    m_stone = trained(stone, cfg, args.out / "stone", "stone")
    m_starry = trained(starry, cfg, args.out / "starry_night", "starry_night")
    naive_edit, mask_edit = read_image(src / "Editing" / "stone_edit.png"), read_mask(src / "Editing" / "stone_edit_mask.png")
    naive_harm = read_image(src / "Harmonization" / "starry_night_naive.png")
    mask_harm = read_mask(src / "Harmonization" / "starry_night_naive_mask.png")
    edited = edit(m_stone, naive_edit, mask_edit, kind="edit")
    harmonized = edit(m_starry, naive_harm, mask_harm, kind="harmonize")
    gen = torch.Generator().manual_seed(0)
    _h, w = m_stone.sizes[-1]
    samples = {
        "sample": to_image(m_stone.generate(generator=gen)),
        "sample, 2x wide": to_image(m_stone.generate(width=2 * w, generator=gen)),
        "from scale 3": to_image(m_stone.generate(start=3, generator=gen)),
    }
    for k, img in {"stone_edit.png": edited.result, "starry_harmonized.png": harmonized.result}.items():
        write_image(args.out / k, img)
    for k, img in samples.items():
        write_image(args.out / f"stone_{k.replace(', ', '_').replace(' ', '_')}.png", img)
    print(f"results: {args.out}")
    if args.figure:
        draw(
            args.figure,
            [
                [("stone (training image)", stone), ("naive edit", naive_edit), (f"SinGAN edit, scale {edited.scale}", edited.result)],
                [
                    ("starry_night (training image)", starry),
                    ("naive paste", naive_harm),
                    (f"harmonized, scale {harmonized.scale}", harmonized.result),
                ],
                [(k, v) for k, v in samples.items()],
            ],
        )
        print(f"figure: {args.figure}")


def draw(path: Path, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(11, 2.6 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, (title, img) in enumerate(row):
            axes[r][c].imshow(img)
            axes[r][c].set_title(title, fontsize=9)
            axes[r][c].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
