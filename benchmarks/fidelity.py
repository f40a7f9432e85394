"""Fidelity of forgeries of a real image: the fine-tuning recipes side by side, as time-to-SSIM curves.

Usage:  .venv/bin/python benchmarks/fidelity.py [--shared ../shared/data] [--out runs/fidelity]
                                                [--steps 120] [--every 30] [--variants a,b,...] [--write-docs]
                                                [--device cpu|cuda|cuda:N] [--preset gpu]

``--preset gpu`` is the GPU preset: the default variant (memorise-full-detail-bilinear) alone for GPU_PRESET's steps on
the whole pair, on ``--device`` (cuda unless told); benchmarks/gpu_check.py runs it (and, with
``--quick``, a 2-step version of it on a 192-pixel corner of the pair on the CPU).

On the Map2Sat pair of ../shared/data (pix2pix's maps.jpg: a 600x600 Google map and its
satellite photo; the map's colours snapped to the synthetic palette as in benchmarks/paper_table.py),
each variant fine-tunes the shipped generator for the same number of steps, in fp32, and every
``--every`` steps the generated image of the *whole* map is scored against the photo (SSIM, and
the checkerboard score of cimgen.metrics.checkerboard). At the end, the buildings in the busiest
box are removed (``removal``: the hole filled as the pair's palette says, row by row for Cityscapes),
blended as cimgen manipulate blends by default (``DEFAULT_BLEND``), and the manipulation's own metrics
are recorded (SSIM outside the edit, seam ratio, checkerboard score, and the inside scores: faithful,
painted back, texture).

Variants:
  windows        the recipe before memorisation: random 128-pixel crops, no L1 term
  memorise       the whole image every step, L1 10, no position code
  memorise-pos   the same with the 6-octave position code (cimgen's default)
  memorise-resize  memorise-pos with resize-convolution upsampling (converted from the transposed weights)
  memorise-pos-l1first  memorise-pos with the first two thirds of the steps on L1 alone (no discriminator)
  memorise-context  memorise-pos whose generator also sees the photo outside random regions (context conditioning)
  memorise-detail  memorise-pos with an 8-channel learnable detail code at half resolution before the last convolution
  memorise-detail-lr  memorise-detail at a learning rate of 1e-3 (5x pix2pixHD's 2e-4; the code at 50x that)
  memorise-detail-resize  memorise-detail-lr with resize-convolution upsampling (converted from the transposed weights)
  memorise-detail-resize-pre  memorise-detail-lr from the shipped twin pretrained with resize-convolution upsampling
                 (configs/synth_pretrain_resize.yaml; cimgen manipulate --finetune's start without --checkpoint)
  memorise-detail-bilinear-pre  the same from the twin pretrained with bilinear-then-convolve upsampling
                 (configs/synth_pretrain_bilinear.yaml; not shipped: its checkpoint is read from
                 $CIMGEN_BILINEAR_TWIN, default runs/synth-pretrain-bilinear/checkpoints/epoch-0040)
  memorise-l1-100  memorise-detail-resize-pre with L1 weight 100 (pix2pix's) instead of 10: cimgen's default recipe
                 (cimgen manipulate --finetune, cimgen finetune --target-image) from 2026-12-04 to 2026-12-05
  memorise-full-detail  memorise-l1-100 with the detail code at the image's own resolution, low-passed by the
                 binomial filter (GlobalGeneratorConfig.detail_smooth); less faithful on Cityscapes (runs/options.py)
  memorise-full-detail-bilinear  memorise-full-detail with the resize twin's upsampling turned bilinear for the
                 fine-tune (the same tensors; the twin was pretrained with nearest-neighbour): cimgen's default
                 recipe since 2026-12-05, for the steps cimgen.runs.options.memorise_steps gives the pair (120 for
                 Map2Sat, 270 for Building2Sat and Cityscapes: pass them with --steps). The recipe also lets the
                 learning rate decay over the last quarter of its steps, which every variant here leaves out
                 (on Building2Sat at 120 steps: lattice peaks of the edit 1.159 with it, 1.162 without)

Every curve point scores two renderings: the whole map from the map alone (``ssim``: what the
variant has memorised), and the busiest box withheld as an edit would withhold it, with the true
map inside (``box_out`` / ``box_in``: SSIM outside and inside the box; a context generator sees the
photo outside it). ``box_in`` is the one score where a context generator cannot copy what it sees.
The final edit also gets the inside-the-edit scores of cimgen.metrics.faithful (faithful, painted back).

Resumable: each finished variant is a line of <out>/results.jsonl and is skipped when run again;
a variant killed half-way starts over. Data and pictures stay under <out> (licences); the table
goes to stdout and, with --write-docs, into docs/benchmarks.md with the command and the CPU.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paper_table import (  # the same pairs as the paper table
    BUILDING,
    CAR,
    CITYSCAPES_START,
    building2sat_pair,
    cityscapes_pair,
    map2sat_pair,
)

from cimgen.data.paired import PairedDataset
from cimgen.edit.mask import busiest_box
from cimgen.edit.ops import RemoveClass
from cimgen.edit.pipeline import inside_metrics, manipulation_metrics, match_jpeg, plan_edit, render_edit
from cimgen.edit.resample import CODE_INSIDE
from cimgen.errors import CimgenError
from cimgen.generators import load_renderer, read_checkpoint, shipped_checkpoint
from cimgen.io.images import JpegCompression, read_jpeg_compression
from cimgen.metrics.checkerboard import checkerboard_report
from cimgen.metrics.features import load_extractor
from cimgen.metrics.protocol import EvalPair, evaluate_pairs
from cimgen.nn.devices import check_device
from cimgen.palette import CITYSCAPES_PALETTE, SYNTH_PALETTE, Palette
from cimgen.runs.manipulate import edit_render, memorising_checkpoint
from cimgen.runs.options import FINETUNE_POSITION, MEMORISE_L1, ManipulateConfig, shadow_mode
from cimgen.textfiles import json_text
from cimgen.train.pix2pixhd import converted_checkpoint, finetune_config, relabelled_checkpoint, run_pix2pixhd
from cimgen.train.runtime import cpu_summary

BILINEAR_TWIN = Path(os.environ.get("CIMGEN_BILINEAR_TWIN", "runs/synth-pretrain-bilinear/checkpoints/epoch-0040"))
"""The twin pretrained with bilinear upsampling (configs/synth_pretrain_bilinear.yaml), which is not shipped: where
benchmarks/gpu_fidelity.sh (or cimgen train with that config) left its last checkpoint."""
EARLIER_DETAIL_SCALE = 2
"""The detail code's resolution divisor every variant was measured with unless it names another; pinned here, like
EARLIER_L1, so that a later change of the recipe's FINETUNE_DETAIL_SCALE does not change what those variants mean."""
EARLIER_L1 = 10.0
"""The memorise recipe's L1 weight before 2026-12-04 (the variants below but the last keep it, as they were measured)."""
VARIANTS = {
    "windows": {"crop": 128, "l1": 0.0, "position": 0, "upsample": None},
    "memorise": {"crop": 0, "l1": EARLIER_L1, "position": 0, "upsample": None},
    "memorise-pos": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": None},
    "memorise-resize": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": "resize"},
    "memorise-pos-l1first": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": None, "l1_first": 2 / 3},
    "memorise-context": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": None, "context": True},
    "memorise-detail": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": None, "detail": 8},
    "memorise-detail-lr": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": None, "detail": 8, "lr": 1e-3},
    "memorise-detail-resize": {"crop": 0, "l1": EARLIER_L1, "position": FINETUNE_POSITION, "upsample": "resize", "detail": 8, "lr": 1e-3},
}
# the twins' recipes: memorise-detail-lr from a pretrained twin, and the default since 2026-12-04 (L1 100)
VARIANTS["memorise-detail-resize-pre"] = {**VARIANTS["memorise-detail-lr"], "pretrained": "resize"}
VARIANTS["memorise-detail-bilinear-pre"] = {**VARIANTS["memorise-detail-lr"], "pretrained": "bilinear"}
VARIANTS["memorise-l1-100"] = {**VARIANTS["memorise-detail-resize-pre"], "l1": MEMORISE_L1}
# the detail code at the image's own resolution, low-passed so that it has no 2-pixel period (less faithful on
# Cityscapes; cimgen.runs.options.FINETUNE_DETAIL_SCALE)
VARIANTS["memorise-full-detail"] = {**VARIANTS["memorise-l1-100"], "detail_scale": 1, "detail_smooth": True}
# the same with the resize twin's nearest-neighbour upsampling turned bilinear for the fine-tune (the same tensors):
# cimgen's default recipe since 2026-12-05 (run it with --steps cimgen.runs.options.memorise_steps gives the pair:
# 120 for Map2Sat, 270 for Building2Sat and Cityscapes)
VARIANTS["memorise-full-detail-bilinear"] = {**VARIANTS["memorise-full-detail"], "upsample": "bilinear"}
DOCS_MARK = "## Fidelity of forgeries of a real image (benchmarks/fidelity.py)"
PAIRS = {
    "map2sat": {
        "need": "pix2pix-tf-samples/docs/maps.jpg", "make": map2sat_pair, "target": BUILDING, "side": 160,
        "jpeg": "pix2pix-tf-samples/docs/maps.jpg",
    },
    "building2sat": {"need": "spacenet-rio-buildings", "make": lambda shared: building2sat_pair(shared, 52), "target": BUILDING, "side": 160},
    "cityscapes": {
        "need": "cityscapes-samples", "make": lambda shared: cityscapes_pair(shared, 0), "target": CAR, "side": 96,
        "classes": CITYSCAPES_START, "palette": CITYSCAPES_PALETTE,
    },
}  # fmt: skip
"""The real pairs: what must exist under ../shared/data, (shared) -> (labels, photo), the class the edit removes in the
busiest ``side``-square box, and for another label set than the shipped generator's, the classes it starts from; ``jpeg``:
the JPEG file the photo was cut from at its top-left corner (so on its 8x8 grid), whose compression the edit gets as
cimgen manipulate gives a JPEG image's edit (``--match-jpeg``, the default)."""


def pair_compression(pair: str, shared: Path) -> JpegCompression | None:
    """The compression cimgen manipulate would match for ``pair``'s photo (None: not a JPEG)."""
    name = PAIRS[pair].get("jpeg")
    return read_jpeg_compression(shared / name) if name else None


DEFAULT_INSIDE = ManipulateConfig(checkpoint="", out="").code_inside
"""What cimgen manipulate reads inside an edit by default (the table's edit columns)."""
DEFAULT_DETAIL = ManipulateConfig(checkpoint="", out="").detail_inside
"""Whose fine detail a resampled edit shows by default (``source``: the photo's at the code sources)."""
DEFAULT_BLEND = ManipulateConfig(checkpoint="", out="").blend
"""How cimgen manipulate blends by default (every edit here)."""
DEFAULT_MATCH_JPEG = ManipulateConfig(checkpoint="", out="").match_jpeg
"""Whether cimgen manipulate compresses a JPEG image's edit as the file was, by default."""
DEFAULT_SHADOWS = ManipulateConfig(checkpoint="", out="").shadows
"""cimgen manipulate's ``--shadows`` (``auto``: the removed objects' shadows join the mask; since 2026-12-05)."""
DEFAULT_SEAM_CUT = ManipulateConfig(checkpoint="", out="").seam_cut
"""cimgen manipulate's ``--seam-cut`` (pixels the mask may give up at its border; since later on 2026-12-05)."""
GPU_PRESET = {"variants": "memorise-full-detail-bilinear", "steps": 120, "every": 60}
"""The GPU preset: the default fine-tuning recipe (manipulate --finetune's) alone, at the benchmark's step count, on the whole 600x600 pair."""


def run_variant(
    name: str,
    labels: np.ndarray,
    photo: np.ndarray,
    out: Path,
    steps: int,
    every: int,
    device: str = "cpu",
    pair: str = "map2sat",
    compression: JpegCompression | None = None,
) -> dict:
    """Fine-tune the shipped generator on the pair with one variant's recipe on ``device``; returns its curve and edit metrics."""
    v, spec = VARIANTS[name], PAIRS[pair]
    pretrained = v.get("pretrained", "transpose")  # "resize": the twin pretrained so; "bilinear": an unshipped twin
    ck, _ = read_checkpoint(BILINEAR_TWIN if pretrained == "bilinear" else shipped_checkpoint(pretrained))
    if "classes" in spec:  # another label set: each class starts as one of the shipped generator's
        ck = relabelled_checkpoint(ck, spec["palette"], spec["classes"])
    # the recipe's one set-up (position code, context, a detail code padded to the generator's multiple), then upsampling
    ck = memorising_checkpoint(
        ck, position=v["position"], context=bool(v.get("context")), detail=v.get("detail", 0), shape=labels.shape,
        detail_scale=v.get("detail_scale", EARLIER_DETAIL_SCALE), detail_smooth=v.get("detail_smooth", False), upsample=None,
    )  # fmt: skip
    ck = converted_checkpoint(ck, upsample=v["upsample"])
    decay = int(steps * v.get("decay", 0))  # the last steps with the learning rate decaying to zero (a share in "decay")
    overrides = {
        "data": {"root": "(memory)", "format": "folders", "crop_size": v["crop"], "flip": False, "palette": ""},
        "loss": {"lambda_l1": v["l1"], "adversarial_from_epoch": int(steps * v.get("l1_first", 0)), **v.get("loss", {})},
        **({"optim": {"lr": v["lr"]}} if "lr" in v else {}),
        "loop": {
            "epochs": steps - decay, "decay_epochs": decay, "batch_size": 1, "checkpoint_every": every, "sample_every": 10**6,
            "keep_checkpoints": 1000, "precision": "fp32", "tensorboard": False, "device": device,
            **({"seed": v["seed"]} if "seed" in v else {}),  # another draw of the same recipe (run-to-run spread)
        },
    }  # fmt: skip
    cfg = finetune_config(ck[0], overrides)
    dataset = PairedDataset.from_arrays([("maps", labels, photo)], cfg.data, Palette.from_dict(ck[0]["palette"]), seed=0)
    run = out / name
    shutil.rmtree(run, ignore_errors=True)
    start = {"ssim": round(float(structural_similarity(load_renderer(ck, device=device).render(labels), photo, channel_axis=2)), 4)}
    t0 = time.perf_counter()
    say = functools.partial(print, f"[{name}]", flush=True)  # the run's log lines (a checkpoint every ``every`` steps)
    run_pix2pixhd(cfg, run, init_from="shipped", init_checkpoint=ck, dataset=dataset, echo=say, progress=False)
    seconds = time.perf_counter() - t0
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    step_seconds = {int(s["step"]): float(s["seconds"]) for s in stats if "step" in s and "seconds" in s}
    box = busiest_box(labels == spec["target"], spec["side"])
    region = np.zeros(labels.shape, bool)
    region[box[1] : box[3], box[0] : box[2]] = True
    curve = []
    for c in sorted((run / "checkpoints").glob("epoch-*")):
        step = int(c.name.split("-")[1])
        renderer = load_renderer(c, device=device)
        gen = renderer.render(labels)
        _, smap = structural_similarity(renderer.render_edit(region, photo)(labels), photo, channel_axis=2, full=True)
        smap = smap.mean(2)
        curve.append(
            {
                "step": step,
                "train_seconds": round(sum(t for s, t in step_seconds.items() if s <= step), 1),
                "ssim": round(float(structural_similarity(gen, photo, channel_axis=2)), 4),
                "box_out": round(float(smap[~region].mean()), 4),
                "box_in": round(float(smap[region].mean()), 4),
                "checkerboard": round(checkerboard_report(gen, photo)["ratio"], 3),
            }
        )
    edits = score_edit(run, labels, photo, box, pair, device, compression)
    return {
        "variant": name, **v, "steps": steps, "device": device, "threads": torch.get_num_threads(), "seconds": round(seconds, 1), "start": start, "curve": curve,
        "edit": edits[DEFAULT_INSIDE if DEFAULT_INSIDE in edits else "withhold"], "edits": edits,
    }  # fmt: skip


_EXTRACTOR = []


def extractor():
    """The FID Inception network, loaded once; None where its weights are not installed (FID, KID and the texture KID
    are then left out, with one line saying so)."""
    if not _EXTRACTOR:
        try:
            _EXTRACTOR.append(load_extractor())
        except CimgenError as e:
            print(f"FID, KID and texture KID left out: {e}", flush=True)
            _EXTRACTOR.append(None)
    return _EXTRACTOR[0]


def removal(pair: str, box: tuple[int, int, int, int]) -> RemoveClass:
    """The benchmark's edit of ``pair``: its target class removed in ``box``, the hole filled as the pair's palette says
    (``cimgen manipulate``'s default for that label set: row by row for Cityscapes, never with another object)."""
    spec = PAIRS[pair]
    palette = spec.get("palette", SYNTH_PALETTE)
    return RemoveClass(spec["target"], box=box, fill=palette.fill, never_fill=palette.thing_ids)


def score_edit(
    run: Path,
    labels: np.ndarray,
    photo: np.ndarray,
    box: tuple[int, int, int, int],
    pair: str = "map2sat",
    device: str = "cpu",
    compression: JpegCompression | None = None,
) -> dict:
    """The benchmark's edit (``removal``) with the run's last checkpoint, scored with each treatment of the codes inside
    it that the generator allows; pictures written into ``run``. With ``compression`` (``pair_compression``) the edit is
    compressed as the photo's JPEG file was, as cimgen manipulate does by default."""
    renderer = load_renderer(max((run / "checkpoints").glob("epoch-*")), device=device)
    shadows = shadow_mode(DEFAULT_SHADOWS, renderer.palette.street_view)
    plan = plan_edit(photo, labels, [removal(pair, box)], num_classes=renderer.palette.num_classes, radius=8, shadows=shadows)
    edits = {}
    # as cimgen manipulate does (--code-inside, --detail-inside): codes resampled from matching places with the photo's
    # fine detail there (the default) or the generator's own ("resample-generated"), or withheld in the edit
    treatments = (*CODE_INSIDE, f"{DEFAULT_INSIDE}-generated") if renderer.codes_movable else ("withhold",)
    for treatment in treatments:
        codes_inside, _, own = treatment.partition("-")
        render, codes = edit_render(renderer, photo, labels, plan, codes_inside, detail_inside=own or DEFAULT_DETAIL)
        m = render_edit(photo, labels, plan, render, blend_mode=DEFAULT_BLEND, tile_size=0, cut=DEFAULT_SEAM_CUT)
        if compression is not None:
            match_jpeg(m, compression)
        metrics, inside = manipulation_metrics(m), inside_metrics(m, extractor())
        Image.fromarray(m.result).save(run / f"result-{treatment}.png")
        Image.fromarray(m.generated).save(run / f"generated-{treatment}.png")
        paper = {}
        if extractor() is None:
            paper = {"paper_protocol": "no Inception weights"}
        elif treatment == DEFAULT_INSIDE or not renderer.codes_movable:  # the paper's protocol, for the default only (time)
            try:
                row = evaluate_pairs("edit", [EvalPair("edit", photo, m.generated, m.mask)], extractor())
                paper = {
                    "fid": round(row["fid"], 2),
                    "kid": round(row["kid_mean"], 4),
                    "patch_ssim": round(row["ssim"], 4),
                    "patches": row["patches"],
                }
            except CimgenError as e:  # e.g. a small image the edit leaves no 64-pixel patch outside of
                paper = {"paper_protocol": str(e)}
        edits[treatment] = {
            **paper,
            "ssim_outside_mask": metrics["ssim_outside_mask"], "seam_ratio": metrics["seam"]["seam_ratio"],
            "checkerboard": metrics["checkerboard"]["ratio"], "mask_area_fraction": metrics["mask_area_fraction"],
            "faithful": inside["faithful"], "painted_back": inside["painted_back"], "segmenter_accuracy": inside["segmenter_accuracy"],
            "changed_class_recall": inside["changed_class_recall"], "edited_class_recall": inside.get("edited_class_recall"),
            "painted_back_floor": inside.get("painted_back_floor"), "recall": inside.get("recall"),
            "texture": inside.get("texture"), "jpeg_matched": "jpeg" in m.info, **({"codes": codes} if codes else {}),
        }  # fmt: skip
    return edits


def more_variants(path: Path) -> dict:
    """Variants from a JSON file: each one a known variant (``based_on``) with some of its settings changed."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read the variants in {path}: {e}")
    out = {}
    for name, recipe in raw.items():
        if name.startswith("_"):  # comments
            continue
        base = dict(recipe)
        based_on = base.pop("based_on", None)
        if based_on not in VARIANTS:
            sys.exit(f"variant {name} in {path} is based on unknown variant {based_on!r}; choose from {', '.join(VARIANTS)}")
        out[name] = {**VARIANTS[based_on], **base}
    return out


def upsampling(r: dict) -> str:
    """A variant's upsampling: pretrained as it is, or converted from the transposed generator's weights."""
    if r.get("pretrained") in ("resize", "bilinear"):
        return f"{r['pretrained']}, pretrained"
    return "resize, converted" if r.get("upsample") == "resize" else "transpose"


def table(results: list[dict]) -> str:
    rows = [
        (
            "| variant | crop | L1 | position octaves | upsampling | context / detail code | steps | train s | SSIM by step, whole map (train s) "
            "| box: SSIM in / out (last) | checkerboard (last) | edit: SSIM outside | FID / KID / SSIM (64-px patches outside) "
            "| seam ratio | faithful (ceiling) | painted back / floor (changed-class recall) | removed area: SSIM to the original "
            "(unrelated / memorised) | segmenter acc. |"
        ),
        "|---|---:|---:|---:|---|---|---:|---:|---|---|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for r in results:
        curve = ", ".join(f"{c['step']}: {c['ssim']:.3f} ({c['train_seconds']:.0f} s)" for c in r["curve"])
        last, e = r["curve"][-1], r["edit"]
        box = f"{last['box_in']:.3f} / {last['box_out']:.3f}" if "box_in" in last else "-"
        rows.append(
            f"| {r['variant']} | {r['crop'] or 'whole'} | {r['l1']:g} | {r['position']} | {upsampling(r)} | "
            f"{_extras(r)} | {r['steps']} | {r['seconds']:.0f} | {curve} | {box} | {last['checkerboard']:.3f} | "
            f"{e['ssim_outside_mask']} | {_paper(e)} | {e['seam_ratio']} | {e.get('faithful', '-')}{_ceiling(e)} | {e.get('painted_back', '-')}{_floor(e)}{_recall(e)} | {_recalled(e)} | {e.get('segmenter_accuracy', '-')} |"
        )
    return "\n".join(rows)


def _paper(e: dict) -> str:
    return f"{e['fid']:.2f} / {e['kid']:.4f} / {e['patch_ssim']:.3f} ({e['patches']})" if "fid" in e else "-"


def treatment_table(results: list[dict]) -> str:
    """The edit scored with each treatment of the codes inside it (--code-inside; ``resample-generated``: resampled with
    the generator's own fine detail, --detail-inside generated), for the variants that have codes."""
    rows = [
        (
            "| variant | codes inside the edit | SSIM outside | seam ratio | checkerboard | faithful (ceiling) | painted back / floor | changed-class recall "
            "| texture: HF ratio / KID (32-px patches, edit / beside) | pieces resampled |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        for treatment, e in r.get("edits", {}).items():
            if len(r["edits"]) < 2:
                continue
            codes = e.get("codes", {})
            pieces = f"{codes['pieces'] - codes['pieces_without_source']} of {codes['pieces']}" if "pieces" in codes else "-"
            rows.append(
                f"| {r['variant']} | {treatment} | {e['ssim_outside_mask']} | {e['seam_ratio']} | {e['checkerboard']} | "
                f"{e['faithful']}{_ceiling(e)} | {e['painted_back']}{_floor(e)} | {e['changed_class_recall']} | {_texture(e)} | {pieces} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def _ceiling(e: dict) -> str:
    """`` (0.76)``: the segmenter's recall of the edited classes on the original, what faithful is read against."""
    return f" ({e['edited_class_recall']})" if e.get("edited_class_recall") is not None else ""


def _floor(e: dict) -> str:
    """`` / 0.04``: how often the segmenter takes the original's pixels of the edited classes for the removed ones, what
    painted back reads with nothing painted back (scores from before 2026-12-04 have none)."""
    return f" / {e['painted_back_floor']}" if e.get("painted_back_floor") is not None else ""


def _recalled(e: dict) -> str:
    """``0.12 (0.06 / 0.88)``: the result's SSIM to the original where the edit changed the class, between two different
    places of the image and a drawing from memory (cimgen.metrics.faithful.recall_report); '-' for older scores."""
    r = e.get("recall") or {}
    return "-" if r.get("recalled") is None else f"{r['recalled']} ({r['unrelated']} / {r['memorised']})"


def _recall(e: dict) -> str:
    """`` (0.20)``: the segmenter's recall of the removed classes on the original; painted back sees no more than that."""
    return f" ({e['changed_class_recall']})" if e.get("changed_class_recall") is not None else ""


def _texture(e: dict) -> str:
    """The edit's texture against the image's beside it (cimgen.metrics.texture), or '-' for edits scored before it."""
    t = e.get("texture") or {}
    if "hf_ratio" not in t:
        return t.get("why", "-")
    kid = f"{t['kid']:.4f} ± {t['kid_std']:.4f}" if "kid" in t else "-"
    return f"{t['hf_ratio']:.2f} / {kid} ({t['edit_patches']} / {t['pristine_patches']})"


def _extras(r: dict) -> str:
    extras = (["context"] if r.get("context") else []) + ([f"detail {r['detail']} ch"] if r.get("detail") else [])
    return ", ".join(extras) or "none"


def plot(results: list[dict], path: Path) -> None:
    """Time-to-SSIM curves: the whole map from the map alone, and inside the withheld box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for r in results:
        t = [0] + [c["train_seconds"] for c in r["curve"]]
        axes[0].plot(t, [r.get("start", {}).get("ssim", np.nan)] + [c["ssim"] for c in r["curve"]], marker="o", label=r["variant"])
        if "box_in" in r["curve"][-1]:
            axes[1].plot(t[1:], [c["box_in"] for c in r["curve"]], marker="o", label=r["variant"])
    axes[0].set(title="whole map, from the map alone", xlabel="fine-tuning seconds (2 CPU cores, fp32)", ylabel="SSIM vs the photo")
    axes[1].set(title="inside the withheld box (true map)", xlabel="fine-tuning seconds (2 CPU cores, fp32)", ylabel="SSIM vs the photo")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs(results: list[dict], command: str, pair: str = "map2sat", picture: str = "fidelity-curves-map2sat.png") -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    text = docs.read_text()
    mark = DOCS_MARK if pair == "map2sat" else f"{DOCS_MARK[:-1]}, {pair})"
    section = (
        f"{mark}\n\nCommand: `{command}`\n\nCPU: {cpu_summary()}; torch {torch.__version__}, "
        f"{'/'.join(sorted({str(r.get('threads', '?')) for r in results}))} threads while training, fp32.\n\n{table(results)}\n\n"
        + (
            f"Inside the edit, by treatment of the codes (`--code-inside`; the table above shows `{DEFAULT_INSIDE}`):\n\n{treatment_table(results)}\n\n"
            if treatment_table(results)
            else ""
        )
        + f"![Time-to-SSIM curves of the fine-tuning variants](images/{picture})\n"
    )
    docs.write_text(splice_section(text, mark, section))


def splice_section(text: str, mark: str, section: str) -> str:
    """``text`` with the section headed ``mark`` (up to the next level-2 heading) replaced by ``section``, or it appended."""
    if mark in text:
        head, rest = text.split(mark, 1)
        nxt = rest.find("\n## ")
        return head + section + (rest[nxt:] if nxt >= 0 else "")
    return text.rstrip() + "\n\n" + section


def read_results(path: Path, steps: int, device: str) -> tuple[dict[str, dict], list[dict]]:
    """The runs in ``path`` (results.jsonl) of ``steps`` steps on ``device``, by variant, and every other run in it."""
    done: dict[str, dict] = {}
    others: list[dict] = []
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["steps"] == steps and r.get("device", "cpu") == device:
                done[r["variant"]] = r
            else:
                others.append(r)
    return done, others


def write_results(path: Path, others: list[dict], done: dict[str, dict]) -> None:
    """``path`` (results.jsonl) written again: the other runs as they were, then these (a rescore keeps the runs of
    other step counts; until 2026-12-05 it dropped them)."""
    path.write_text("".join(json_text(r, indent=None) + "\n" for r in [*others, *done.values()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("runs/fidelity"))
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument(
        "--more-variants",
        type=Path,
        help="a JSON file of more variants ({name: recipe}), each a known variant's recipe with changes: "
        '{"based_on": "memorise-detail-resize-pre", "lr": 5e-4, "loss": {"lambda_feat": 0}} (e.g. benchmarks/recipe_sweep.json)',
    )
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="score the edit again for variants done before (their checkpoints kept under --out), keeping their training figures",
    )
    ap.add_argument(
        "--pair",
        choices=sorted(PAIRS),
        default="map2sat",
        help="map2sat (the maps pair, 600x600), building2sat (SpaceNet Rio tile 52, 400x400) or cityscapes (the first frame, 512x256)",
    )
    ap.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu; cuda with --preset gpu)")
    ap.add_argument("--preset", choices=["gpu"], help="gpu: GPU_PRESET's variant and steps (overrides --variants, --steps, --every)")
    args = ap.parse_args()
    if args.preset == "gpu":
        args.variants, args.steps, args.every = GPU_PRESET["variants"], GPU_PRESET["steps"], GPU_PRESET["every"]
    args.device = check_device(args.device or ("cuda" if args.preset == "gpu" else "cpu"))
    if args.more_variants:
        VARIANTS.update(more_variants(args.more_variants))
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant {unknown[0]}; choose from {', '.join(VARIANTS)}")
    spec = PAIRS[args.pair]
    need, make = spec["need"], spec["make"]
    if not (args.shared / need).exists():
        sys.exit(f"the {args.pair} pair is not at {args.shared / need} (it lives in ../shared/data)")
    args.out.mkdir(parents=True, exist_ok=True)
    done_file = args.out / "results.jsonl"
    done, others = read_results(done_file, args.steps, args.device)
    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    labels, photo = make(args.shared)
    labels = labels.astype(np.int32)
    compression = pair_compression(args.pair, args.shared) if DEFAULT_MATCH_JPEG else None
    for name in names:
        if name in done and args.rescore and (args.out / name / "checkpoints").is_dir():
            box = busiest_box(labels == spec["target"], spec["side"])
            done[name] = {**done[name], "edits": score_edit(args.out / name, labels, photo, box, args.pair, args.device, compression)}
            done[name]["edit"] = done[name]["edits"].get(DEFAULT_INSIDE, done[name]["edits"]["withhold"])
            for point in done[name]["curve"]:  # the whole map's checkerboard by step, by today's score
                ck = args.out / name / "checkpoints" / f"epoch-{point['step']:04d}"
                if ck.is_dir():
                    point["checkerboard"] = round(
                        checkerboard_report(load_renderer(ck, device=args.device).render(labels), photo)["ratio"], 3
                    )
            print(f"[{name}] trained before; edit scored again: {done[name]['edits']}", flush=True)
            write_results(done_file, others, done)
            continue
        if name in done:
            print(f"[{name}] done before, skipped ({done_file})", flush=True)
            continue
        print(f"[{name}] fine-tuning for {args.steps} steps ...", flush=True)
        r = run_variant(name, labels, photo, args.out, args.steps, args.every, args.device, args.pair, compression)
        with done_file.open("a") as f:
            f.write(json_text(r, indent=None) + "\n")
        done[name] = r
        print(f"[{name}] {r['seconds']:.0f} s; SSIM by step {[(c['step'], c['ssim']) for c in r['curve']]}; edit {r['edit']}", flush=True)
    results = [done[n] for n in names if n in done]
    print(table(results))
    if args.write_docs:
        picture = f"fidelity-curves-{args.pair}.png"
        write_docs(results, "python benchmarks/fidelity.py " + " ".join(sys.argv[1:]), args.pair, picture)
        plot(results, Path(__file__).resolve().parents[1] / "docs" / "images" / picture)
        print(f"table written into docs/benchmarks.md, curves into docs/images/{picture}")
    print(f"results: {done_file}; pictures: {args.out}/<variant>/result.png (not to be committed: licences)")


if __name__ == "__main__":
    main()
