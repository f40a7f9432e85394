"""Scoring detectors: patch AUC and accuracy, localisation on held-out forgeries, and robustness to post-processing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm.auto import tqdm

from cimgen.errors import CimgenError
from cimgen.forensics.heatmap import localisation_scores
from cimgen.forensics.postprocess import OPERATIONS, apply_operation
from cimgen.io.images import list_images, read_image, read_mask

AUC, ACCURACY, LOSS, COUNT = "auc", "accuracy", "loss", "patches"


def to_unit(patches: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 N x P x P x 3 patches (numpy) or N x 3 x P x P uint8 tensors -> N x 3 x P x P float in [0, 1] on ``device``."""
    t = torch.from_numpy(np.array(patches, dtype=np.uint8)).permute(0, 3, 1, 2) if isinstance(patches, np.ndarray) else patches
    return t.to(device).float().div_(255.0)


@torch.no_grad()
def predict_patches(
    model: torch.nn.Module,
    patches: np.ndarray,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = False,
    desc: str = "patches",
) -> np.ndarray:
    """The detector's probability of "generated" for every patch (uint8 N x P x P x 3), batch by batch.

    ``transform`` maps a [0, 1] batch to a [0, 1] batch (a post-processing) before the detector
    sees it. The model is put in eval mode and left there.
    """
    model.eval()
    out = np.empty(len(patches), np.float32)
    for s in tqdm(range(0, len(patches), batch_size), disable=not progress, desc=desc, unit="batch", leave=False):
        x = to_unit(patches[s : s + batch_size], device)
        if transform is not None:
            x = transform(x)
        out[s : s + len(x)] = torch.sigmoid(model(x * 2 - 1).float()).cpu().numpy()
    return out


def patch_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUC, accuracy at 0.5, mean binary cross-entropy and count (AUC is nan when only one class is present)."""

    labels = np.asarray(labels).astype(np.float64)
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    auc = float(roc_auc_score(labels, p)) if 0 < labels.sum() < len(labels) else math.nan
    return {
        AUC: auc,
        ACCURACY: float(((p >= 0.5) == (labels >= 0.5)).mean()) if len(labels) else math.nan,
        LOSS: float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()) if len(labels) else math.nan,
        COUNT: len(labels),
    }


@dataclass(frozen=True)
class Forgery:
    """A held-out manipulated image and the true mask of its generated region."""

    name: str
    """Scene name."""
    image: Path
    """The manipulated image."""
    mask: Path
    """Its true mask (white = generated)."""


def find_forgeries(folder: str | Path) -> list[Forgery]:
    """Forgeries in ``folder``: ``images/`` + ``masks/`` paired by name, or manipulation run folders (``result.png`` + ``mask_raw.png``)."""

    folder = Path(folder)
    if not folder.is_dir():
        raise CimgenError(f"forgery folder {folder} does not exist")
    if (folder / "result.png").is_file() and (folder / "mask_raw.png").is_file():
        return [Forgery(folder.name, folder / "result.png", folder / "mask_raw.png")]
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        masks = {p.stem: p for p in list_images(folder / "masks")}
        out = [Forgery(p.stem, p, masks[p.stem]) for p in list_images(folder / "images") if p.stem in masks]
    else:
        out = [
            Forgery(d.name, d / "result.png", d / "mask_raw.png")
            for d in sorted(folder.iterdir())
            if (d / "result.png").is_file() and (d / "mask_raw.png").is_file()
        ]
    if not out:
        raise CimgenError(f"{folder} holds no forgeries (images/ + masks/ with matching names, or manipulation run folders)")
    return out


def localisation_table(
    forgeries: list[Forgery],
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]],
    *,
    progress: bool = False,
) -> list[dict]:
    """Pixel AUC and best-threshold IoU of each scorer (image -> HxW score map) on each forgery, plus the mean row per scorer."""

    rows = []
    bar = tqdm(total=len(forgeries) * len(scorers), disable=not progress, desc="localising", unit="map", leave=False)
    for f in forgeries:
        image, mask = read_image(f.image), read_mask(f.mask)
        if mask.shape != image.shape[:2]:
            raise CimgenError(f"the mask {f.mask} is {mask.shape[1]}x{mask.shape[0]} but its image is {image.shape[1]}x{image.shape[0]}")
        for name, scorer in scorers.items():
            scores = scorer(image)
            rows.append({"method": name, "image": f.name, **localisation_scores(scores, mask)})
            bar.update(1)
    bar.close()
    means = []
    for name in scorers:
        mine = [r for r in rows if r["method"] == name]
        keys = [k for k, v in mine[0].items() if isinstance(v, float)]
        means.append({"method": name, "image": "mean", **{k: float(np.nanmean([r[k] for r in mine])) for k in keys}})
    return rows + means


def robustness_sweep(
    detectors: dict[str, torch.nn.Module],
    patches: np.ndarray,
    labels: np.ndarray,
    sweeps: dict[str, list[float]],
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> list[dict]:
    """Accuracy and AUC of every detector on ``patches`` post-processed by each operation at each strength.

    Every post-processing keeps the patch size (scaling centre-crops or reflect-pads back), so
    each detector sees exactly the patches it was validated on, changed by one operation. Random
    operations (noise) draw from a generator seeded by (seed, operation, strength), so every
    detector sees the same noisy patches.
    """

    rows = []
    total = sum(len(v) for v in sweeps.values()) * len(detectors)
    bar = tqdm(total=total, disable=not progress, desc="robustness", unit="point")
    for op, strengths in sweeps.items():
        if op not in OPERATIONS:
            raise CimgenError(f"unknown post-processing '{op}'; choose from {', '.join(OPERATIONS)}")
        for j, strength in enumerate(strengths):
            for name, model in detectors.items():
                gen = torch.Generator(device=device).manual_seed(seed * 1009 + j * 31 + sum(map(ord, op)))

                def transform(x, op=op, strength=strength, gen=gen):
                    return apply_operation(op, x, strength, generator=gen, keep_size=True)

                probs = predict_patches(model, patches, batch_size=batch_size, device=device, transform=transform)
                m = patch_metrics(probs, labels)
                rows.append(
                    {"operation": op, "strength": float(strength), "detector": name, AUC: m[AUC], ACCURACY: m[ACCURACY], COUNT: m[COUNT]}
                )
                bar.update(1)
    bar.close()
    return rows
