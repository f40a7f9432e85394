"""The paper table's memorised edits drawn again with the same generators: before and after the removed objects'
shadows joined the mask, street views' bands joined the resampling, groups of pixels without a nearby source
took a shared offset, and the blend's border moved to where the two images agree; and a street view's pieces
looking along their own rows first, further from the other cars, at sources that look like their surroundings
(not the default).

Usage:  .venv/bin/python benchmarks/redraw_edits.py --table runs/paper-1205 [--out runs/redraw-edits] [--rows cityscapes]

A removal's mask made from the changed labels stops at the object, so the shadow it cast (labelled road or lawn)
stays (cimgen.edit.shadow); and on a street view, 16-pixel pieces copied from other rows bring lane markings of
another depth (cimgen.edit.resample, ``bands``). This takes every edit that benchmarks/paper_table.py memorised under
``--table`` (``edits/<row>/<name>``: its fine-tuned generator, its data under ``data/<row>``), plans the same removal
and draws it six ways with that one generator, as ``cimgen manipulate`` does otherwise (codes resampled, the
photo's detail at their sources, the default blend):

- ``before``: the mask of the changed labels, square pieces (the default until 2026-12-05);
- ``shadows``: the removed objects' shadows taken into the mask (``--shadows auto``), square pieces;
- ``one source``: the shadows, and for the street-view palette whole bands moved along their rows first; but
  pixels whose piece found another class, and that no nearby source continues, read the nearest such pixel's source
  itself (``cimgen.edit.resample.SHARED_TRIES`` 0: the fill until 2026-12-05, which drew a group of such pixels from
  one source, a flat block);
- ``uncut``: as ``one source``, but such pixels move by groups to the nearest place that fits them
  (``cimgen.edit.resample.shared_offsets``);
- ``default``: as ``uncut``, but the mask gives up to ``SEAM_CUT`` pixels of its border, so that the blend's border
  runs where the generated image and the original differ least (``cimgen.edit.blend.seam_cut``; today's default);
- ``rows``: as ``default``, but a street view's pieces first look along their own rows
  (``cimgen.edit.resample.STREET_PIECES``: ``ROW_AGREEMENT``), keep ``STREET_CLEARANCE`` pixels from the removed
  classes and weigh their sources' look (``LOOK_WEIGHT``); not the default (docs/benchmarks.md). For maps seen
  from above it is ``default``.

``before`` and ``shadows`` use today's fill; the four first are blended in the whole mask.

Each is scored: the seam, the checkerboard, and the inside (faithful beside its ceiling, the judge's recall of the
edited classes on the original; painted back beside its floor). The generator is the same, so what differs is the
mask and the sources alone.

Writes ``<out>/redraw_edits.json`` and ``<out>/redraw_edits.md``, and for looking at, ``<out>/<row>-<name>.png``:
the original and the six edits side by side, cropped around the masks (pictures of ../shared data: never
committed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_table import BUILDING, CAR, checkpoints_of, edit_box, log, shown

from cimgen.edit import resample
from cimgen.edit.ops import RemoveClass
from cimgen.edit.pipeline import inside_metrics, manipulation_metrics, plan_edit, render_edit
from cimgen.errors import CimgenError
from cimgen.generators import load_renderer
from cimgen.io.images import read_image, read_label_map, write_text
from cimgen.runs.manipulate import edit_render
from cimgen.runs.options import ManipulateConfig, shadow_mode
from cimgen.textfiles import json_text
from cimgen.train.runtime import cpu_summary

DEFAULTS = ManipulateConfig(checkpoint="", out="")
ROWS = {  # as benchmarks/paper_table.py edits them: class, box side, whole objects
    "building2sat": (BUILDING, 160, True),
    "map2sat": (BUILDING, 200, False),
    "cityscapes": (CAR, 96, True),
    "cityscapes-more": (CAR, 96, True),
}
VARIANTS = ("before", "shadows", "one source", "uncut", "default", "rows")
"""How each edit is drawn again (the module's docstring)."""
COLUMNS = (
    "| edit | shadow (way, length, px) | bands | mask px | seam | checkerboard | faithful (ceiling) | painted back (floor) |\n"
    "|---|---|---:|---|---|---|---|---|"
)


@contextmanager
def street_pieces(on: bool) -> Iterator[None]:
    """``cimgen.edit.resample.STREET_PIECES`` set to ``on`` for the block: a street view's pieces look along their
    own rows first, keep ``STREET_CLEARANCE`` from the removed classes and weigh their sources' look (off by default)."""
    saved = resample.STREET_PIECES
    resample.STREET_PIECES = on
    try:
        yield
    finally:
        resample.STREET_PIECES = saved


@contextmanager
def shared_tries(tries: int) -> Iterator[None]:
    """``cimgen.edit.resample.SHARED_TRIES`` set to ``tries`` for the block (0: the one-source fill of before)."""
    saved = resample.SHARED_TRIES
    resample.SHARED_TRIES = tries
    try:
        yield
    finally:
        resample.SHARED_TRIES = saved


def edits_of(table: Path) -> list[tuple[str, str, Path]]:
    """(row, name, folder) of every memorised edit under ``table`` whose fine-tune is kept."""
    found = []
    for row in ROWS:
        for folder in sorted((table / "edits" / row).glob("*")):
            if (folder / "metrics.json").is_file() and checkpoints_of(folder / "finetune" / "run"):
                found.append((row, folder.name, folder))
    return found


def redrawn(row: str, name: str, folder: Path, data: Path) -> tuple[dict, list[np.ndarray]]:
    """One edit drawn the ``VARIANTS`` ways: the scores of each, and the original and the results cropped around
    the union of their masks."""
    renderer = load_renderer(checkpoints_of(folder / "finetune" / "run")[-1])
    palette = renderer.palette
    cls, side, whole = ROWS[row]
    photo, labels = read_image(data / "images" / f"{name}.png"), read_label_map(data / "labels" / f"{name}.png")
    removal = RemoveClass(cls, box=edit_box(data, name, cls, side), whole_objects=whole, fill=palette.fill, never_fill=palette.thing_ids)
    scores, results = {}, {}
    for variant in VARIANTS:
        t0 = time.perf_counter()
        shadows = "off" if variant == "before" else shadow_mode(DEFAULTS.shadows, palette.street_view)
        plan = plan_edit(photo, labels, [removal], num_classes=palette.num_classes, radius=DEFAULTS.radius, shadows=shadows)
        with (
            shared_tries(0 if variant == "one source" else resample.SHARED_TRIES),
            street_pieces(variant == "rows"),
        ):
            render, codes = edit_render(
                renderer,
                photo,
                labels,
                plan,
                DEFAULTS.code_inside,
                detail_inside=DEFAULTS.detail_inside,
                bands=palette.street_view and variant in ("one source", "uncut", "default", "rows"),
            )
        cut = DEFAULTS.seam_cut if variant in ("default", "rows") else 0
        m = render_edit(photo, labels, plan, render, blend_mode=DEFAULTS.blend, feather=DEFAULTS.feather, tile_size=0, cut=cut)
        metrics = manipulation_metrics(m)
        try:
            inside = inside_metrics(m)
        except CimgenError as e:  # one class around the edit: nothing for the judge to tell apart
            inside = dict.fromkeys(("faithful", "edited_class_recall", "painted_back", "painted_back_floor"), None) | {"not_scored": str(e)}
        scores[variant] = {
            "shadow": plan.info.get("shadow"),
            "bands": codes.get("bands", 0),
            "mask_pixels": int(m.mask.sum()),
            "seam": metrics["seam"]["seam_ratio"],
            "checkerboard": round(metrics["checkerboard"]["ratio"], 3),
            "faithful": inside["faithful"],
            "ceiling": inside["edited_class_recall"],
            "painted_back": inside["painted_back"],
            "floor": inside["painted_back_floor"],
            **({"not_scored": inside["not_scored"]} if "not_scored" in inside else {}),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        results[variant] = (m.result, m.mask)
    union = np.logical_or.reduce([mask for _, mask in results.values()])
    ys, xs = np.nonzero(union)
    h, w = union.shape
    crop = (slice(max(0, ys.min() - 24), min(h, ys.max() + 25)), slice(max(0, xs.min() - 24), min(w, xs.max() + 25)))
    return scores, [photo[crop]] + [r[crop] for r, _ in results.values()]


def table_line(edit: str, scores: dict) -> str:
    """Six figures per cell: before -> with the shadows -> with one source per group -> uncut -> today's default ->
    a street view's pieces on their own rows."""
    sh = scores["default"]["shadow"] or {}
    found = f"{sh['direction']:g} deg, {sh['length']} px, {sh['pixels']}" if sh.get("found") else f"none ({sh.get('why', 'n/a')})"

    def each(key: str, digits: int = 3) -> str:
        return " -> ".join(shown(scores[v][key], digits) for v in VARIANTS)

    return (
        f"| {edit} | {found} | {scores['default']['bands']} | {each('mask_pixels', 0)} | {each('seam')} | {each('checkerboard')} | "
        f"{each('faithful')} ({each('ceiling')}) | {each('painted_back', 4)} ({each('floor', 4)}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, required=True, help="an output folder of benchmarks/paper_table.py")
    parser.add_argument("--out", type=Path, default=Path("runs/redraw-edits"))
    parser.add_argument("--rows", help=f"only these rows, comma-separated (of {', '.join(ROWS)}; default: all)")
    args = parser.parse_args()
    rows = args.rows.split(",") if args.rows else list(ROWS)
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        sys.exit(f"unknown row '{unknown[0]}'; choose from {', '.join(ROWS)}")
    edits = [e for e in edits_of(args.table) if e[0] in rows]
    if not edits:
        sys.exit(
            f"{args.table} holds no memorised edit of {', '.join(rows)} with its fine-tune (edits/<row>/<name>/finetune); "
            "run benchmarks/paper_table.py first"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"{len(edits)} edits under {args.table}; CPU: {cpu_summary()}")
    out, lines = {}, [COLUMNS]
    for row, name, folder in edits:
        data = args.table / "data" / ("cityscapes" if row.startswith("cityscapes") else row)
        log(f"{row}/{name}: drawing it {', '.join(VARIANTS)}")
        scores, crops = redrawn(row, name, folder, data)
        out[f"{row}/{name}"] = scores
        lines.append(table_line(f"{row}/{name}", scores))
        log("  " + lines[-1])
        Image.fromarray(np.concatenate(crops, axis=1)).save(args.out / f"{row}-{name}.png")
    write_text(args.out / "redraw_edits.json", json_text({"cpu": cpu_summary(), "table": str(args.table), "edits": out}))
    write_text(args.out / "redraw_edits.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    log(f"results in {args.out}/redraw_edits.md (pictures beside it: original | {' | '.join(VARIANTS)})")


if __name__ == "__main__":
    main()
