"""The checkerboard score against the earlier one, on real pairs: what each says of pictures whose lattice is known.

Usage:  .venv/bin/python benchmarks/checkerboard_scores.py [--shared ../shared/data] [--runs runs] [--write-docs]

For each pair of benchmarks/fidelity.py (Map2Sat, Building2Sat, Cityscapes) it scores, against the photo:

- the photo blurred (Gaussian, sigma 1.2 px) and the photo halved and doubled by pixel repetition: no upsampling
  lattice was added, so a checkerboard score should stay near 1;
- each fine-tuned variant's generated image of fidelity.py's edit, read from ``<runs>/fidelity-<pair>/<variant>/``
  (``generated-resample.png``, else ``generated-withhold.png``), where that run exists.

Two scores per picture (cimgen.metrics.checkerboard): ``ratio``, the lattice peaks against the spectrum around
them (cimgen's score), and ``share_ratio``, the lattice bins' share of all power (the earlier score). The table goes
to stdout and, with --write-docs, into docs/benchmarks.md. Pictures are read, never written (licences).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import PAIRS, VARIANTS, splice_section  # the same pairs and runs

from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.train.runtime import cpu_summary

RUNS = {"map2sat": "fidelity-m2s", "building2sat": "fidelity-b2s", "cityscapes": "fidelity-cs"}
"""Where each pair's fidelity runs were written (the commands in docs/benchmarks.md)."""
DOCS_MARK = "## The checkerboard score on pictures whose lattice is known (benchmarks/checkerboard_scores.py)"


def known(photo: np.ndarray) -> dict[str, np.ndarray]:
    """Pictures made from the photo without an upsampling lattice."""
    h, w = photo.shape[:2]
    half = cv2.resize(photo, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return {
        "photo blurred (sigma 1.2)": cv2.GaussianBlur(photo, (0, 0), 1.2),
        "photo halved, doubled by repetition": cv2.resize(half, (w, h), interpolation=cv2.INTER_NEAREST),
    }


def rows_of(pair: str, shared: Path, runs: Path) -> list[dict]:
    _, photo = PAIRS[pair]["make"](shared)
    pictures = dict(known(photo))
    for variant in VARIANTS:
        folder = runs / RUNS[pair] / variant
        for name in ("generated-resample.png", "generated-withhold.png"):
            if (folder / name).is_file():
                pictures[f"{variant} ({name.split('-')[1].split('.')[0]})"] = np.asarray(Image.open(folder / name).convert("RGB"))
                break
    rows = []
    for what, picture in pictures.items():
        r = checkerboard_report(picture, photo)
        rows.append({"pair": pair, "picture": what, "ratio": r["ratio"], "share_ratio": r["share_ratio"]})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| pair | picture | checkerboard (peaks) | earlier score (share of power) |", "|---|---|---:|---:|"]
    lines += [f"| {r['pair']} | {r['picture']} | {r['ratio']:.2f} | {r['share_ratio']:.2f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    rows = []
    for pair, spec in PAIRS.items():
        if not (args.shared / spec["need"]).exists():
            print(f"{pair}: not at {args.shared / spec['need']}, skipped", flush=True)
            continue
        rows += rows_of(pair, args.shared, args.runs)
        print(f"{pair}: {sum(r['pair'] == pair for r in rows)} pictures scored", flush=True)
    text = table(rows)
    print(text)
    if args.write_docs:
        docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
        command = "python benchmarks/checkerboard_scores.py " + " ".join(sys.argv[1:])
        section = f"{DOCS_MARK}\n\nCommand: `{command.strip()}`\n\nCPU: {cpu_summary()}.\n\n{text}\n"
        docs.write_text(splice_section(docs.read_text(), DOCS_MARK, section))
        print("table written into docs/benchmarks.md")


if __name__ == "__main__":
    main()
