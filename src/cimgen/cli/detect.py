"""``cimgen detect``: forgery sets, patch datasets, detector training, evaluation, robustness sweeps and heatmaps."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from cimgen.cli.bounds import BATCH, COUNT, EPOCHS, PIXELS, SEED, device_option

app = typer.Typer(
    help="Forensics: make forgeries, cut patch datasets, train patch detectors (plain, BaRT, PGD, BaRT+PGD), score and localise."
    "\n\nExample: cimgen detect forgeries --out runs/forgeries --count 40",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _say(text: str) -> None:
    from cimgen.train.runtime import is_main_process

    if is_main_process():  # under torchrun, one process speaks
        typer.echo(text)


def _bar(desc: str, quiet: bool):
    from tqdm.auto import tqdm

    state = {"bar": None}

    def update(done: int, total: int) -> None:
        if quiet:
            return
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, desc=desc, unit="image")
        state["bar"].update(done - state["bar"].n)
        if done >= total:
            state["bar"].close()

    return update


@app.command("forgeries")
def forgeries_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to create: pristine/, generated/, forgeries/images|masks/, maps/."),
    count: int = typer.Option(40, "--count", **COUNT, help="Scenes of the synthetic world."),
    size: int = typer.Option(256, "--size", min=32, max=16384, help="Scene side in pixels."),
    seed: int = typer.Option(0, "--seed", **SEED, help="World seed (and the edits' seed)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="A 6-class pix2pixHD generator (default: the shipped one)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Make a forgery set from the synthetic world: pristine scenes, their generated renders, and manipulations with true masks.

    Example: cimgen detect forgeries --out runs/forgeries --count 40
    """
    from cimgen.runs.detect import make_forgeries

    done = make_forgeries(out, count=count, size=size, seed=seed, checkpoint=checkpoint, progress=_bar("rendering", quiet))
    typer.echo(f"forgery set: {done} (pristine/, generated/, forgeries/images + masks/, forgeries.json)")


@app.command("dataset")
def dataset_cmd(
    out: Path = typer.Option(..., "--out", help="Patch dataset folder to create."),
    pristine: Path = typer.Option(None, "--pristine", help="Folder of pristine images."),
    generated: Path = typer.Option(None, "--generated", help="Folder of generated images, named like their pristine scene."),
    runs: list[Path] = typer.Option([], "--run", help="A manipulation run folder (original.png + generated.png); repeatable."),
    patch_size: int = typer.Option(64, "--patch-size", min=8, max=1024, help="Patch side (the paper's 64)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.0, max=1.0, help="Share of the scenes held out for validation."),
    max_per_image: int = typer.Option(0, "--max-per-image", min=0, max=10_000_000, help="At most this many patches per image (0: all)."),
    seed: int = typer.Option(0, "--seed", **SEED, help="Seed of the split and balancing."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Cut non-overlapping patches of pristine and generated images, balanced and split by scene, into fast .npy arrays.

    Example: cimgen detect dataset --pristine runs/forgeries/pristine --generated runs/forgeries/generated --out runs/patches
    """
    from cimgen.forensics.patches import PatchDatasetConfig
    from cimgen.runs.detect import make_patch_dataset

    cfg = PatchDatasetConfig(patch_size=patch_size, val_fraction=val_fraction, max_patches_per_image=max_per_image, seed=seed)
    info = make_patch_dataset(out, cfg, pristine=pristine, generated=generated, runs=runs, progress=_bar("cutting", quiet))
    s = info["splits"]
    typer.echo(
        f"patch dataset: {out} — train {s['train']['patches']} patches from {s['train']['sources']} scenes, "
        f"val {s['val']['patches']} from {s['val']['sources']} (half generated each)"
    )


@app.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", help="Run folder to create (config, log, stats, samples, checkpoints, best/)."),
    data: Path = typer.Option(None, "--data", help="Patch dataset folder."),
    arch: str = typer.Option(None, "--arch", help="resnet50 (the paper's), resnet18, resnet_small or patchnet (exact dense heatmaps)."),
    mode: str = typer.Option(None, "--mode", help="plain, bart, at (PGD adversarial training) or bart+at."),
    config: Path = typer.Option(None, "--config", help="YAML with any options (see configs/detector_*.yaml)."),
    sets: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set attack.steps=10 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", **EPOCHS, help="Epochs."),
    init_from: Path = typer.Option(None, "--init-from", help="A detector checkpoint to start from (re-training, as the paper does)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a patch detector, plain or hardened: BaRT, PGD adversarial training (epsilon 1 level), or both.

    Multi-GPU or multi-process: torchrun --nproc_per_node 4 -m cimgen detect train --config configs/detector_resnet50_paper.yaml ...

    Example: cimgen detect train --data runs/patches --arch resnet_small --mode bart+at --epochs 5 --out runs/det-bart-at
    """
    from cimgen.config import to_dict
    from cimgen.runs.detect import detector_train_config, train_detector
    from cimgen.runs.startup import FailedStartCleanup
    from cimgen.train.runtime import precision_note

    cfg = detector_train_config(out, config=config, sets=sets, data=data, arch=arch, mode=mode, epochs=epochs, resume=resume)
    if dry_run:
        typer.echo(yaml.safe_dump({"model": "detector", **to_dict(cfg)}, sort_keys=False), nl=False)
        typer.echo("# " + precision_note(cfg.loop.precision, cfg.loop.device))
        return
    with FailedStartCleanup(out, resume=resume):
        last = train_detector(cfg, out, resume=resume, init_from=init_from, progress=not quiet)
    _say(f"done; best checkpoint: {out / 'best'}; newest: {last}; run folder: {out}")


@app.command("evaluate")
def evaluate_cmd(
    detectors: list[str] = typer.Option([], "--detector", help="A detector run or checkpoint, optionally name=path; repeatable."),
    data: Path = typer.Option(None, "--data", help="Patch dataset: patch AUC and accuracy on its validation split."),
    forgeries: Path = typer.Option(None, "--forgeries", help="Held-out forgeries (images/ + masks/, or run folders): pixel AUC, best IoU."),
    baselines: list[str] = typer.Option([], "--baseline", help="Also score a classical baseline: noise or ela (repeatable)."),
    stride: int = typer.Option(0, "--stride", **PIXELS, help="Heatmap stride (0: 1 for patchnet's dense pass, 8 for the others)."),
    out: Path = typer.Option(Path("runs/detect-evaluate"), "--out", help="Folder for evaluate.md, .csv and .json."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto (cuda when present), cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(256, "--batch-size", **BATCH, help="Patches per forward pass."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score detectors (and baselines): patch AUC/accuracy, and localisation against the true masks of held-out forgeries.

    Example: cimgen detect evaluate --detector runs/det-plain --data runs/patches --forgeries runs/forgeries/forgeries --baseline noise --baseline ela
    """
    from cimgen.runs.detect import name_detectors, run_evaluate

    md = run_evaluate(
        name_detectors(detectors) if detectors else {},
        data=data,
        forgeries=forgeries,
        baselines=baselines,
        stride=stride,
        out=out,
        device=device,
        batch_size=batch_size,
        progress=not quiet,
        echo=typer.echo,
    )
    typer.echo(md.read_text())
    typer.echo(f"tables: {md}, {out / 'evaluate.json'}")


@app.command("robustness")
def robustness_cmd(
    detectors: list[str] = typer.Option(..., "--detector", help="A detector run or checkpoint, optionally name=path; repeatable."),
    data: Path = typer.Option(..., "--data", help="Patch dataset whose validation split is post-processed."),
    out: Path = typer.Option(Path("runs/robustness"), "--out", help="Folder for robustness.csv, .md and one figure per operation."),
    ops: list[str] = typer.Option([], "--op", help="Only these post-processings (default: all); repeatable."),
    max_patches: int = typer.Option(0, "--max-patches", min=0, max=100_000_000, help="Use at most this many validation patches (balanced); 0: all."),
    seed: int = typer.Option(0, "--seed", **SEED, help="Seed of the noise and of the patch subset."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto (cuda when present), cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(256, "--batch-size", **BATCH, help="Patches per forward pass."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Accuracy and AUC of every detector under each post-processing at a range of strengths (the paper's Figure 12).

    Example: cimgen detect robustness --detector plain=runs/det-plain --detector bart+at=runs/det-bart-at --data runs/patches
    """
    from cimgen.runs.detect import name_detectors, run_robustness

    md = run_robustness(
        name_detectors(detectors),
        data=data,
        out=out,
        operations=ops or None,
        max_patches=max_patches,
        seed=seed,
        device=device,
        batch_size=batch_size,
        progress=not quiet,
        echo=typer.echo,
    )
    typer.echo(f"results: {md}, {out / 'robustness.csv'}, figures in {out}")


@app.command("heatmap")
def heatmap_cmd(
    image: Path = typer.Option(..., "--image", help="The image to examine."),
    detector: Path = typer.Option(None, "--detector", help="A detector run or checkpoint."),
    baseline: str = typer.Option(None, "--baseline", help="Instead of a detector: noise or ela."),
    mask: Path = typer.Option(None, "--mask", help="The true manipulated region, to score the map (pixel AUC, best IoU)."),
    stride: int = typer.Option(0, "--stride", **PIXELS, help="Patch stride (0: 1 for patchnet, 8 for the others)."),
    method: str = typer.Option("auto", "--method", help="auto, dense (patchnet only) or patches (exact per-patch evaluation)."),
    out: Path = typer.Option(Path("runs/heatmap"), "--out", help="Folder for heatmap.png, overlay.png, scores.npy, heatmap.json."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto (cuda when present), cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(256, "--batch-size", **BATCH, help="Patches per forward pass (per-patch evaluation)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """The probability that each patch is generated, at every position (stride 1) or a chosen stride, overlaid on the image.

    Example: cimgen detect heatmap --detector runs/det-patchnet --image forged.png --mask mask.png --out runs/heat
    """
    from cimgen.runs.detect import run_heatmap

    done = run_heatmap(
        image_path=image,
        out=out,
        detector=detector,
        baseline=baseline,
        mask_path=mask,
        stride=stride,
        method=method,
        device=device,
        batch_size=batch_size,
        progress=not quiet,
        echo=typer.echo,
    )
    info = json.loads((out / "heatmap.json").read_text())
    if "localisation" in info:
        loc = info["localisation"]
        auc, iou = (float("nan") if loc.get(k) is None else loc[k] for k in ("pixel_auc", "best_iou"))  # JSON null: undefined
        typer.echo(f"pixel AUC {auc:.4f}, best IoU {iou:.4f}")
    typer.echo(f"heatmap: {done} (and heatmap.png, scores.npy, heatmap.json in {out})")
