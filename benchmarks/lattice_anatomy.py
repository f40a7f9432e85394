"""Where a memorised generator's lattice peaks come from: the whole map's checkerboard score taken apart.

Usage:  .venv/bin/python benchmarks/lattice_anatomy.py [--pair map2sat] [--runs runs] [--variant memorise-full-detail-bilinear]
        .venv/bin/python benchmarks/lattice_anatomy.py --edit FOLDER --labels MAP.png   (an edit cimgen manipulate --finetune made)

benchmarks/fidelity.py reports two checkerboard scores (cimgen.metrics.checkerboard) per run: the generator's image of
the unedited map ("whole map") and the generated image of its edit (what ``cimgen manipulate`` writes into
metrics.json). On Map2Sat the first read 1.24-1.41 and the second 1.00-1.02 on 2026-12-05. This script reads the
run's last checkpoint and its saved edit (``<runs>/fidelity-<pair>/<variant>/``) and scores, against the photo:

- ``bare``: the generator's image of the unedited map, as uint8, and before rounding (``bare_float``);
- ``bare`` on each lattice alone: periods 2 (the points at 0 and 1/2 cycle), 4 and 8 (all points);
- ``edit``: the edit's generated image as saved (the photo's fine detail at the code sources inside the mask);
- ``bare_with_edit_region``: the bare image with the edit's pixels inside the mask; ``bare_with_region_blurred``: with
  its own pixels there blurred (sigma 1 px: the lattice pattern there gone, no texture added);
  ``bare_with_photo_detail``: the bare image plus the photo's own fine detail (``cimgen.edit.resample.fine_detail``)
  everywhere; ``bare_with_photo_detail_elsewhere``: plus that detail in a region as large as the mask
  but moved half the image away (does texture anywhere lower the score, or only the edit's pixels?);
- ``band_amplitude``: the generator's and the photo's mean amplitude in narrow bands around three lattice points
  (demodulated, Gaussian window of 6 px), in grey levels.

With ``--edit``, the same for a results folder of ``cimgen manipulate --finetune`` (its ``original.png``,
``generated.png`` and ``mask_raw.png``, the generator memorised under ``finetune/run/checkpoints``) and the original map
(``--labels``, class ids). The JSON goes to ``<runs>/lattice-anatomy-<pair>.json`` (``<FOLDER>/lattice-anatomy.json``);
pictures are read, never written (licences).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkerboard_scores import RUNS
from fidelity import PAIRS, removal

from cimgen.edit.mask import busiest_box
from cimgen.edit.pipeline import plan_edit
from cimgen.edit.resample import fine_detail
from cimgen.generators import load_renderer
from cimgen.io.images import read_image, read_label_map
from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.palette import SYNTH_PALETTE
from cimgen.train.runtime import cpu_summary

BANDS = ((0.5, 0.25), (0.5, 0.0), (0.625, 0.375))
"""Lattice points (cycles per pixel, rows then columns) whose band amplitude is reported."""


def band_amplitude(image: np.ndarray, fy: float, fx: float, window: float = 6.0) -> float:
    """Mean amplitude (grey levels) of an image's channel mean in a narrow band around the frequency (fy, fx): the image
    demodulated by that frequency and low-passed by a Gaussian of ``window`` pixels."""
    g = np.asarray(image, np.float64)
    g = g.mean(axis=2) if g.ndim == 3 else g
    y, x = np.indices(g.shape)
    z = g * np.exp(-2j * np.pi * (fy * y + fx * x))
    return float(np.hypot(cv2.GaussianBlur(z.real, (0, 0), window), cv2.GaussianBlur(z.imag, (0, 0), window)).mean())


def anatomy(bare: np.ndarray, bare_float: np.ndarray, edit: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> dict:
    """The checkerboard scores of the generator's bare image taken apart (module docstring); plain values in and out.

    Args:
        bare: HxWx3 uint8, the generator's image of the unedited map.
        bare_float: the same before rounding, HxWx3 float in grey levels.
        edit: HxWx3 uint8, the edit's generated image.
        photo: HxWx3 uint8, the original.
        mask: HxW bool, the edit's region.
    """

    def ratio(image: np.ndarray, periods: tuple[int, ...] = (2, 4, 8)) -> float:
        return round(float(checkerboard_report(image, photo, periods)["ratio"]), 3)

    swapped = bare.copy()
    swapped[mask] = edit[mask]
    detail = fine_detail(photo)
    detailed = np.clip(np.rint(bare.astype(np.float32) + detail), 0, 255).astype(np.uint8)
    blurred = bare.copy()  # the mask's pixels without their own lattice pattern, and without texture added
    blurred[mask] = cv2.GaussianBlur(bare, (0, 0), 1.0)[mask]
    elsewhere = np.roll(mask, (mask.shape[0] // 2, mask.shape[1] // 2), axis=(0, 1))  # as large a region, away from the edit
    moved = bare.astype(np.float32)
    moved[elsewhere] += detail[elsewhere]
    moved = np.clip(np.rint(moved), 0, 255).astype(np.uint8)
    return {
        "bare": ratio(bare),
        "bare_float": ratio(bare_float),
        "bare_by_lattice": {f"period {p}": ratio(bare, (p,)) for p in (2, 4, 8)},
        "edit": ratio(edit),
        "bare_with_edit_region": ratio(swapped),
        "mask_fraction": round(float(mask.mean()), 4),
        "bare_with_region_blurred": ratio(blurred),
        "bare_with_photo_detail": ratio(detailed),
        "bare_with_photo_detail_elsewhere": ratio(moved),
        "band_amplitude": {
            f"{fy}, {fx}": {"generator": round(band_amplitude(bare, fy, fx), 4), "photo": round(band_amplitude(photo, fy, fx), 4)}
            for fy, fx in BANDS
        },
    }


def bare_images(checkpoint: Path, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The generator's image of ``labels`` as uint8 and before rounding (grey levels, float64)."""
    renderer = load_renderer(checkpoint)
    generated = {}
    hook = renderer.generator.register_forward_hook(lambda _m, _i, out: generated.setdefault("t", out.detach()))
    bare = renderer.render(labels)
    hook.remove()
    h, w = labels.shape
    return bare, ((generated["t"][0, :, :h, :w].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", choices=sorted(PAIRS), default="map2sat")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--variant", default="memorise-full-detail-bilinear", help="the run folder's name under fidelity-<pair>")
    ap.add_argument("--edit", type=Path, help="a results folder of cimgen manipulate --finetune instead of a fidelity run")
    ap.add_argument("--labels", type=Path, help="with --edit: the original map (class ids, PNG)")
    args = ap.parse_args()
    if args.edit is not None:
        checkpoints = sorted((args.edit / "finetune" / "run" / "checkpoints").glob("epoch-*"))
        files = [args.edit / n for n in ("original.png", "generated.png", "mask_raw.png")]
        if args.labels is None or not args.labels.is_file():
            sys.exit("--edit needs --labels: the original map's class ids as a PNG")
        if not checkpoints or not all(f.is_file() for f in files):
            sys.exit(
                f"{args.edit} is not a finished cimgen manipulate --finetune folder (original.png, generated.png, mask_raw.png and finetune/run)"
            )
        labels = read_label_map(args.labels)
        photo, edit = read_image(files[0]), read_image(files[1])
        mask = np.asarray(Image.open(files[2]).convert("L")) > 127  # mask_raw.png: 0 or 255
        if labels.shape != photo.shape[:2]:
            sys.exit(f"the map is {labels.shape[1]}x{labels.shape[0]} but the edit's image is {photo.shape[1]}x{photo.shape[0]}")
        report = {"edit": str(args.edit), "checkpoint": checkpoints[-1].name, "cpu": cpu_summary()}
        report.update(anatomy(*bare_images(checkpoints[-1], labels), edit, photo, mask))
        out = args.edit / "lattice-anatomy.json"
    else:
        spec = PAIRS[args.pair]
        run = args.runs / RUNS[args.pair] / args.variant
        saved = run / "generated-resample.png"
        checkpoints = sorted((run / "checkpoints").glob("epoch-*"))
        if not (args.shared / spec["need"]).exists():
            sys.exit(f"the {args.pair} pair is not under {args.shared} (needs {spec['need']})")
        if not checkpoints or not saved.is_file():
            sys.exit(f"no finished fidelity run at {run}: run benchmarks/fidelity.py --pair {args.pair} first (docs/benchmarks.md)")
        labels, photo = spec["make"](args.shared)
        box = busiest_box(labels == spec["target"], spec["side"])
        palette = spec.get("palette", SYNTH_PALETTE)
        plan = plan_edit(photo, labels, [removal(args.pair, box)], num_classes=palette.num_classes, radius=8)
        report = {"pair": args.pair, "run": str(run), "checkpoint": checkpoints[-1].name, "cpu": cpu_summary()}
        report.update(anatomy(*bare_images(checkpoints[-1], labels), read_image(saved), photo, plan.mask))
        out = args.runs / f"lattice-anatomy-{args.pair}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
