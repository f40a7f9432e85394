"""The inside score "faithful" of saved fidelity edits under several draws of its judge, class by class.

Usage:  .venv/bin/python benchmarks/faithful_judges.py --pair cityscapes RUN [RUN ...] [--seeds 4] [--runs runs]

benchmarks/fidelity.py scores each edit's inside with one segmenter (cimgen.metrics.faithful: a random forest fitted on
the original within ``INSIDE_CONTEXT`` pixels of the edit (``inside_context``), seed 0). When two fine-tunes of one recipe read differently,
this says whether the judge or the picture moved: each run's saved result (``<runs>/fidelity-<pair>/<RUN>/
result-resample.png``) is labelled by forests fitted with ``--seeds`` seeds on the same context, and, with seed 0's,
class by class (the share of each edited class's pixels it gets, and what it takes the others for).

JSON to ``--out`` (default ``<runs>/faithful-judges-<pair>.json``); pictures are read, never written (licences).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checkerboard_scores import RUNS
from fidelity import PAIRS, removal

from cimgen.edit.mask import busiest_box
from cimgen.edit.pipeline import inside_context, plan_edit
from cimgen.metrics.faithful import away_from, fit_segmenter, pixel_features
from cimgen.palette import SYNTH_PALETTE
from cimgen.train.runtime import cpu_summary


def judged(
    photo: np.ndarray, labels: np.ndarray, edited: np.ndarray, mask: np.ndarray, results: dict[str, np.ndarray], seeds: int, names
) -> dict:
    """Faithful of each result under judges fitted with seeds 0..seeds-1, and seed 0's class-by-class reading.

    Args:
        photo, labels: the original and its map (HxW).
        edited, mask: the edited map and the edit's region.
        results: name -> HxWx3 uint8 result.
        seeds: how many draws of the judge.
        names: class names, indexed by class id.
    """
    c = inside_context(mask)
    region = mask[c]
    away = away_from(region)
    want = edited[c][region]
    by_seed, by_class = [], {}
    for seed in range(seeds):
        seg, truth, guess = fit_segmenter(photo[c], labels[c], away, seed=seed)
        row = {"seed": seed, "held_out_accuracy": round(float((guess == truth).mean()), 4)}
        for name, image in results.items():
            pred = seg.predict(pixel_features(image[c])[region])
            row[name] = round(float((pred == want).mean()), 4)
            if seed == 0:
                classes = {}
                for k in np.unique(want):
                    sel = want == k
                    wrong = pred[sel][pred[sel] != k]
                    taken_for = names[int(np.bincount(wrong).argmax())] if wrong.size else None
                    classes[names[int(k)]] = {
                        "pixels": int(sel.sum()),
                        "faithful": round(float((pred[sel] == k).mean()), 3),
                        "else": taken_for,
                    }
                by_class[name] = classes
        by_seed.append(row)
        print(json.dumps(row), flush=True)
    return {"by_seed": by_seed, "by_class_seed0": by_class, "region_pixels": int(region.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs_named", nargs="+", metavar="RUN", help="run folders under <runs>/fidelity-<pair>/")
    ap.add_argument("--pair", choices=sorted(PAIRS), default="cityscapes")
    ap.add_argument("--seeds", type=int, default=4, help="draws of the judge")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, help="the JSON file (default: <runs>/faithful-judges-<pair>.json)")
    args = ap.parse_args()
    spec = PAIRS[args.pair]
    if not (args.shared / spec["need"]).exists():
        sys.exit(f"the {args.pair} pair is not under {args.shared} (needs {spec['need']})")
    if args.seeds < 1:
        sys.exit("--seeds must be at least 1")
    files = {r: args.runs / RUNS[args.pair] / r / "result-resample.png" for r in args.runs_named}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        sys.exit(f"no saved edit at {', '.join(missing)}: run benchmarks/fidelity.py --pair {args.pair} first")
    labels, photo = spec["make"](args.shared)
    palette = spec.get("palette", SYNTH_PALETTE)
    box = busiest_box(labels == spec["target"], spec["side"])
    plan = plan_edit(photo, labels, [removal(args.pair, box)], num_classes=palette.num_classes, radius=8)
    results = {r: np.asarray(Image.open(f).convert("RGB")) for r, f in files.items()}
    report = {"pair": args.pair, "cpu": cpu_summary()}
    report.update(judged(photo, labels, plan.edited_labels, plan.mask, results, args.seeds, palette.names))
    out = args.out or args.runs / f"faithful-judges-{args.pair}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["by_class_seed0"], indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
