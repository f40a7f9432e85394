"""What the ``cimgen detect`` commands do: make forgery sets and patch datasets, train, score and localise with detectors, write tables, figures and maps."""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cimgen.config import load_yaml, merge, parse_override
from cimgen.errors import CimgenError
from cimgen.forensics.baselines import BASELINES, baseline_scores
from cimgen.forensics.evaluate import find_forgeries, localisation_table, patch_metrics, predict_patches, robustness_sweep
from cimgen.forensics.forgeries import synthetic_forgeries
from cimgen.forensics.heatmap import heatmap, heatmap_picture, localisation_scores, overlay, pixel_scores
from cimgen.forensics.patches import (
    PatchDatasetConfig,
    build_patch_dataset,
    load_split,
    read_dataset_info,
    sources_from_folders,
    sources_from_runs,
)
from cimgen.forensics.postprocess import OPERATIONS
from cimgen.forensics.train import DetectorTrainConfig, load_detector, resolve_config, run_detector
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.images import read_image, read_mask, write_image, write_text
from cimgen.report.figures import mean_accuracy, robustness_figure
from cimgen.textfiles import json_text
from cimgen.train.runtime import resolve_device

DEFAULT_DEVICE = "auto"
"""Where detectors run unless told: cuda when present, else cpu."""
DEFAULT_BATCH_SIZE = 256
"""Patches per forward pass."""
# What run_detector writes into a run's config.yaml beside the options; left out when a run is resumed from it.
DETECTOR_RUN_NOTES = ("model", "init_from")


def make_forgeries(
    out: Path,
    *,
    count: int,
    size: int,
    seed: int,
    checkpoint: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """A forgery set from the synthetic world (see ``cimgen.forensics.forgeries.synthetic_forgeries``); returns its folder."""
    return synthetic_forgeries(out, count=count, size=size, seed=seed, checkpoint=checkpoint, progress=progress)


def make_patch_dataset(
    out: Path,
    cfg: PatchDatasetConfig,
    *,
    pristine: Path | None = None,
    generated: Path | None = None,
    runs: list[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Cut a patch dataset from pristine and generated folders, or from manipulation run folders; returns its ``dataset.json``."""
    if runs and (pristine or generated):
        raise CimgenError("give either --pristine/--generated or --run folders, not both")
    if runs:
        sources, made = sources_from_runs(runs), f"{len(runs)} manipulation runs"
    elif pristine and generated:
        sources, made = sources_from_folders(pristine, generated), f"pristine {pristine}, generated {generated}"
    else:
        raise CimgenError("give --pristine and --generated folders, or --run folders")
    build_patch_dataset(sources, out, cfg, made_from=made, progress=progress)
    return read_dataset_info(out)


def detector_train_config(
    out: Path,
    *,
    config: Path | None = None,
    sets: list[str] | None = None,
    data: Path | None = None,
    arch: str | None = None,
    mode: str | None = None,
    epochs: int | None = None,
    resume: bool = False,
) -> DetectorTrainConfig:
    """The checked training config: a resumed run's saved options, then the YAML ``config``, the ``sets`` overrides, then the named options."""
    saved = out / "config.yaml"
    raw = {k: v for k, v in load_yaml(saved).items() if k not in DETECTOR_RUN_NOTES} if resume and saved.is_file() else {}
    raw = merge(raw, load_yaml(config) if config else {})
    raw.pop("model", None)
    for s in sets or []:
        raw = merge(raw, parse_override(s))
    if data is not None:
        raw["data"] = str(data)
    if arch is not None:
        raw = merge(raw, {"detector": {"arch": arch}})
    if mode is not None:
        raw["mode"] = mode
    if epochs is not None:
        raw = merge(raw, {"loop": {"epochs": epochs}})
    return resolve_config(raw)


def train_detector(
    cfg: DetectorTrainConfig, out: Path, *, resume: bool = False, init_from: Path | None = None, progress: bool = True
) -> Path:
    """Train a detector into the run folder ``out``; returns the newest checkpoint (the best is ``out/best``)."""
    return run_detector(cfg, out, resume=resume, init_from=init_from, progress=progress)


def name_detectors(items: list[str]) -> dict[str, Path]:
    """``name=path`` or ``path`` items -> {name: path}; an unnamed one is called after its folder."""
    out: dict[str, Path] = {}
    for item in items:
        name, _, path = item.partition("=") if "=" in item else ("", "", item)
        p = Path(path)
        name = name or (p.name if p.name not in ("best", "") else p.parent.name)
        if name in out:
            raise CimgenError(f"two detectors are called '{name}'; name them with name=path")
        out[name] = p
    if not out:
        raise CimgenError("name at least one detector with --detector")
    return out


def auto_stride(model, stride: int) -> int:
    """A stride of 0 means 1 for detectors with an exact dense pass and 8 for the others (per-patch evaluation is slow)."""
    if stride < 0:
        raise CimgenError(f"--stride must be positive (or 0 for automatic), got {stride}")
    return stride or (1 if getattr(model, "supports_dense", False) else 8)


def detector_scorer(model, *, stride: int, device, batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """image -> HxW pixel scores (mean probability of the patches covering each pixel)."""

    def score(image: np.ndarray) -> np.ndarray:
        hm = heatmap(model, image, stride=stride, batch_size=batch_size, device=device)
        return pixel_scores(hm, image.shape[:2])

    return score


def _table(rows: list[dict]) -> tuple[str, str]:
    """Markdown and CSV of rows that share keys."""
    keys = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4f}"
        return str(v)

    md = "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n"
    md += "".join("| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |\n" for r in rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    return md, buf.getvalue()


def _check_evaluate_input(detectors: dict[str, Path], data: Path | None, forgeries: Path | None, baselines: list[str]) -> None:
    """One sentence for a detector evaluation that cannot run, before anything is loaded."""
    if not detectors and not baselines:
        raise CimgenError("name at least one --detector or --baseline")
    if not detectors and data is not None and forgeries is None:
        raise CimgenError("baselines localise; give --forgeries")
    if data is None and forgeries is None:
        raise CimgenError("give a patch dataset (--data) and/or a forgery folder (--forgeries) to evaluate on")
    for b in baselines:
        if b not in BASELINES:
            raise CimgenError(f"unknown baseline '{b}'; choose from {', '.join(BASELINES)}")


def _patch_rows(models: dict, split: tuple, *, batch_size: int, device: str, progress: bool) -> list[dict]:
    """Patch AUC and accuracy of every detector on a split, with the seconds each took."""
    patches, labels, _ = split
    rows = []
    for name, (model, cfg) in models.items():
        t0 = time.perf_counter()
        m = patch_metrics(predict_patches(model, patches, batch_size=batch_size, device=device, progress=progress, desc=name), labels)
        seconds = round(time.perf_counter() - t0, 2)
        rows.append({"detector": name, "arch": cfg["detector"]["arch"], "mode": cfg.get("mode", "?"), **m, "seconds": seconds})
    return rows


def run_evaluate(
    detectors: dict[str, Path],
    *,
    data: Path | None,
    forgeries: Path | None,
    baselines: list[str],
    stride: int,
    out: Path,
    device: str = DEFAULT_DEVICE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Patch AUC/accuracy on a dataset's validation split and localisation (pixel AUC, best IoU) on forgeries; returns ``evaluate.md``."""
    _check_evaluate_input(detectors, data, forgeries, baselines)
    device = str(resolve_device(device))
    check_fresh(out)
    found = find_forgeries(forgeries) if forgeries is not None else []
    models = {name: load_detector(path, device) for name, path in detectors.items()}
    split = load_split(data, "val") if data is not None else None
    for name, (model, _) in models.items():
        if split is not None and split[0].shape[1] != model.patch_size:
            raise CimgenError(f"detector {name} takes {model.patch_size}-px patches but {data} holds {split[0].shape[1]}-px ones")
    sections = []
    result: dict = {"patch": [], "localisation": []}
    if split is not None:
        echo(f"scoring {len(models)} detector(s) on the {len(split[1])} validation patches of {data}")
        result["patch"] = _patch_rows(models, split, batch_size=batch_size, device=device, progress=progress)
        md, _ = _table(result["patch"])
        sections.append(f"## Patch classification ({data}, validation split)\n\n{md}")
    if found:
        scorers = {}
        for name, (model, _) in models.items():
            scorers[name] = detector_scorer(model, stride=auto_stride(model, stride), device=device, batch_size=batch_size)
        for b in baselines:
            scorers[f"baseline:{b}"] = lambda image, b=b: baseline_scores(b, image)
        echo(f"localising on {len(found)} forgeries of {forgeries} with {len(scorers)} method(s)")
        rows = localisation_table(found, scorers, progress=progress)
        result["localisation"] = rows
        md, _ = _table([r for r in rows if r["image"] == "mean"])
        sections.append(f"## Localisation ({forgeries}, {len(found)} forgeries; mean over images)\n\n{md}")
    with new_folder(out) as tmp:
        for key in ("patch", "localisation"):
            if result[key]:
                write_text(tmp / f"{key}.csv", _table(result[key])[1])
        write_text(tmp / "evaluate.json", json_text(result))
        write_text(tmp / "evaluate.md", "# Detector evaluation\n\n" + "\n".join(sections))
    return out / "evaluate.md"


def run_robustness(
    detectors: dict[str, Path],
    *,
    data: Path,
    out: Path,
    operations: list[str] | None = None,
    max_patches: int = 0,
    seed: int = 0,
    device: str = DEFAULT_DEVICE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """The sweep: each post-processing at each strength, every detector, on the validation patches; CSV, one figure per operation, summary."""
    device = str(resolve_device(device))
    ops = operations or [k for k in OPERATIONS]
    for op in ops:
        if op not in OPERATIONS:
            raise CimgenError(f"unknown post-processing '{op}'; choose from {', '.join(OPERATIONS)}")
    check_fresh(out)
    patches, labels, _ = load_split(data, "val")
    models = {name: load_detector(path, device)[0] for name, path in detectors.items()}
    if max_patches and len(labels) > max_patches:
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[: max_patches // 2] for c in (0, 1)]))
        patches, labels = np.asarray(patches[keep]), labels[keep]
    else:
        patches = np.asarray(patches)
    sweeps = {op: list(OPERATIONS[op].sweep) for op in ops}
    echo(f"robustness sweep: {len(models)} detector(s) x {sum(map(len, sweeps.values()))} settings on {len(labels)} patches")
    t0 = time.perf_counter()
    rows = robustness_sweep(models, patches, labels, sweeps, batch_size=batch_size, device=device, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    md, text = _table(rows)
    summary = summary_table(rows, list(models), ops)
    with new_folder(out) as tmp:
        write_text(tmp / "robustness.csv", text)
        figures = [robustness_figure(rows, op, tmp / f"robustness_{op}.png", strength=OPERATIONS[op].strength) for op in ops]
        write_text(
            tmp / "robustness.md",
            f"# Robustness sweep\n\n{len(labels)} validation patches of {data}; {seconds:.0f} s.\n\n"
            f"## Mean accuracy over each operation's strengths\n\n{summary}\n## Every point\n\n{md}",
        )
    echo(f"figures: {', '.join(f.name for f in figures)}")
    return out / "robustness.md"


def summary_table(rows: list[dict], detectors: list[str], ops: list[str]) -> str:
    """Markdown: mean accuracy per operation (rows) and detector (columns), the best in bold."""
    md = "| operation | " + " | ".join(detectors) + " |\n|---|" + "---:|" * len(detectors) + "\n"
    for op in ops:
        vals = [mean_accuracy(rows, d, op) for d in detectors]
        top = max(vals)
        md += f"| {op} | " + " | ".join((f"**{v:.3f}**" if v == top else f"{v:.3f}") for v in vals) + " |\n"
    return md


def image_scores(
    image: np.ndarray,
    *,
    detector: tuple | None = None,
    baseline: str | None = None,
    stride: int = 0,
    method: str = "auto",
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
):
    """HxW pixel scores of an image by a loaded detector or a baseline: (scores, info, Heatmap or None).

    Args:
        image: HxWx3 uint8.
        detector: (model, config, name) from ``load_detector``; give this or ``baseline``.
        baseline: a key of ``cimgen.forensics.baselines.BASELINES``.
        stride, method, device, batch_size, progress: as for ``cimgen.forensics.heatmap.heatmap``
            (stride 0: automatic, see ``auto_stride``).
    """
    if (detector is None) == (baseline is None):
        raise CimgenError("give either a detector or a baseline")
    t0 = time.perf_counter()
    if detector is None:
        scores = baseline_scores(baseline, image)
        return scores, {"baseline": baseline, "seconds": round(time.perf_counter() - t0, 3)}, None
    model, cfg, name = detector
    s = auto_stride(model, stride)
    hm = heatmap(model, image, stride=s, method=method, batch_size=batch_size, device=device, progress=progress)
    info = {
        "detector": name,
        "arch": cfg["detector"]["arch"],
        "mode": cfg.get("mode"),
        "stride": s,
        "method": hm.method,
        "patches": int(hm.probs.size),
        "seconds": round(hm.seconds, 3),
    }
    return pixel_scores(hm, image.shape[:2]), info, hm


def run_heatmap(
    *,
    image_path: Path,
    out: Path,
    detector: Path | None = None,
    baseline: str | None = None,
    mask_path: Path | None = None,
    stride: int = 0,
    method: str = "auto",
    device: str = DEFAULT_DEVICE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """The probability map of one image by a detector (or a baseline's score map), overlaid; with a mask, its localisation scores."""
    device = str(resolve_device(device))
    if (detector is None) == (baseline is None):
        raise CimgenError("give either --detector or --baseline")
    check_fresh(out)
    image = read_image(image_path)
    mask = read_mask(mask_path) if mask_path is not None else None
    if mask is not None and mask.shape != image.shape[:2]:
        raise CimgenError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
    if detector is not None:
        model, cfg = load_detector(detector, device)
        p = model.patch_size
        if min(image.shape[:2]) < p:
            raise CimgenError(f"{image_path} is {image.shape[1]}x{image.shape[0]}, smaller than one {p}x{p} patch")
    scores, info, hm = image_scores(
        image,
        detector=(model, cfg, str(detector)) if detector is not None else None,
        baseline=baseline,
        stride=stride,
        method=method,
        device=device,
        batch_size=batch_size,
        progress=progress,
    )
    info = {"image": str(image_path), **info}
    if mask is not None:
        info["localisation"] = localisation_scores(scores, mask)
    with new_folder(out) as tmp:
        if hm is not None:
            np.save(tmp / "patch_probs.npy", hm.probs)
            np.save(tmp / "patch_origins_y.npy", np.asarray(hm.ys))
            np.save(tmp / "patch_origins_x.npy", np.asarray(hm.xs))
        np.save(tmp / "scores.npy", scores.astype(np.float32))
        write_image(tmp / "heatmap.png", heatmap_picture(scores))
        write_image(tmp / "overlay.png", overlay(image, scores))
        write_text(tmp / "heatmap.json", json_text(info))
    return out / "overlay.png"
