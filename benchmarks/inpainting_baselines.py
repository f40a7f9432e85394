"""Score classical inpainting baselines on the real SinGAN-fork inpainting sets and print Markdown tables.

For each of the 11 numbered sets NNNN, the clean NNNN_gth.png itself, the damaged input
NNNN_inp.png (white square hole), and OpenCV Telea and Navier-Stokes inpainting of it (radius 3)
are scored against NNNN_gth.png with the filled region NNNN_inp_mask.png: SSIM (whole image and
filled region) and ASVS with each saliency model. The table holds the means over the sets. The
five SinGAN pictures with a painted box (balloons, birds, cows, seascape, starry_night; clean
originals in singan-inputs/Images) get the same table.

Each table is followed by how often each saliency model finds the unfilled hole more salient
than the true content it hides: the check behind the default saliency model.

Run: .venv/bin/python benchmarks/inpainting_baselines.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from cimgen.io.images import read_image
from cimgen.metrics.inpainting import KEY_ASVS, KEY_SSIM, KEY_SSIM_FILLED, asvs, opencv_inpaint, ssim_to_reference
from cimgen.metrics.saliency import SALIENCY_MODELS
from cimgen.train.runtime import cpu_summary

DEFAULT_DATA = Path(os.environ.get("CIMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
INPAINTING = "singan-inpainting-fork/Inpainting"
SINGAN_IMAGES = "singan-inputs/Images"
SINGAN_NAMES = ("balloons", "birds", "cows", "seascape", "starry_night")
CLEAN = "clean reference (ground truth)"
DAMAGED = "damaged input (unfilled)"
# name -> function (clean, damaged, mask) -> the image to score; the clean row shows how salient the true content is.
METHODS = {
    CLEAN: lambda clean, damaged, mask: clean,
    DAMAGED: lambda clean, damaged, mask: damaged,
    "OpenCV Telea (radius 3)": lambda clean, damaged, mask: opencv_inpaint(damaged, mask, method="telea", radius=3),
    "OpenCV Navier-Stokes (radius 3)": lambda clean, damaged, mask: opencv_inpaint(damaged, mask, method="ns", radius=3),
}
COLUMNS = [KEY_SSIM, KEY_SSIM_FILLED, *(f"{KEY_ASVS} {model}" for model in SALIENCY_MODELS)]


def numbered_sets(data: Path) -> dict[str, tuple[Path, Path, Path]]:
    """Set name -> (clean, damaged, mask) paths of the NNNN sets."""
    folder = data / INPAINTING
    stems = sorted(p.name[: -len("_gth.png")] for p in folder.glob("[0-9][0-9][0-9][0-9]_gth.png"))
    return {s: (folder / f"{s}_gth.png", folder / f"{s}_inp.png", folder / f"{s}_inp_mask.png") for s in stems}


def singan_sets(data: Path) -> dict[str, tuple[Path, Path, Path]]:
    """Set name -> (clean, damaged, mask) paths of the SinGAN pictures with a painted box."""
    folder = data / INPAINTING
    return {n: (data / SINGAN_IMAGES / f"{n}.png", folder / f"{n}.png", folder / f"{n}_mask.png") for n in SINGAN_NAMES}


def score_set(clean_path: Path, damaged_path: Path, mask_path: Path) -> dict[str, dict[str, float]]:
    """Scores of every method on one set, keyed by method then by column."""
    clean, damaged = read_image(clean_path), read_image(damaged_path)
    mask = read_image(mask_path).max(axis=2) > 0
    scores = {}
    for name, method in METHODS.items():
        filled = method(clean, damaged, mask)
        row = ssim_to_reference(filled, clean, mask=mask)
        scores[name] = {KEY_SSIM: row[KEY_SSIM], KEY_SSIM_FILLED: row[KEY_SSIM_FILLED]}
        for model in SALIENCY_MODELS:
            scores[name][f"{KEY_ASVS} {model}"] = asvs(filled, mask, model=model)
    return scores


def print_table(title: str, sets: dict[str, tuple[Path, Path, Path]]) -> None:
    """Score every set and print the mean table and the hole-salience counts."""
    start = time.perf_counter()
    per_set = [score_set(*paths) for paths in sets.values()]
    seconds = time.perf_counter() - start
    print(f"{title}: means over {len(sets)} sets ({', '.join(sets)}); {seconds:.1f} s.\n")
    print("| method | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name in METHODS:
        means = [float(np.mean([scores[name][column] for scores in per_set])) for column in COLUMNS]
        print(f"| {name} | " + " | ".join(f"{m:.4f}" for m in means) + " |")
    print()
    for model in SALIENCY_MODELS:
        column = f"{KEY_ASVS} {model}"
        louder = sum(scores[DAMAGED][column] > scores[CLEAN][column] for scores in per_set)
        print(f"{model}: the unfilled hole has a higher ASVS than the true content in {louder} of {len(sets)} sets")
    print()


def main() -> None:
    print(f"CPU: {cpu_summary()}", flush=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (holding singan-inpainting-fork/)")
    args = ap.parse_args()
    numbered = numbered_sets(args.data)
    if not numbered:
        sys.exit(f"no NNNN_gth.png files in {args.data / INPAINTING}")
    print_table("Numbered sets (128x128, 56x56 hole)", numbered)
    singan = singan_sets(args.data)
    if all(path.exists() for paths in singan.values() for path in paths):
        print_table("SinGAN pictures with a painted box", singan)


if __name__ == "__main__":
    main()
