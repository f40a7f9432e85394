"""What the ``cimgen singan`` commands do: read the image and masks, train, sample, inpaint or edit, write the run or result folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cimgen.config import merge, parse_override
from cimgen.errors import CimgenError
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.images import read_image, read_mask, write_image
from cimgen.metrics.inpainting import inpainting_scores
from cimgen.singan.config import DEFAULT_SCHEDULE, SinGANConfig, schedule_config
from cimgen.singan.inpaint import DEFAULT_DILATION, DEFAULT_NOISE, Fill, check_mask, edit, inpaint, threshold_mask
from cimgen.singan.model import SinGAN, load_singan, to_image
from cimgen.singan.pyramid import pyramid_sizes
from cimgen.singan.train import train_singan
from cimgen.textfiles import json_text
from cimgen.train.runtime import precision_note, resolve_device

DEFAULT_DEVICE = "auto"
"""Where SinGAN runs unless told: cuda when present, else cpu."""
DEFAULT_CHECKPOINT_MINUTES = 10.0
"""Minutes between mid-scale checkpoints while training."""


def load_model(path: Path, device: str = DEFAULT_DEVICE) -> SinGAN:
    """A trained SinGAN from a run folder or its ``model/`` folder."""
    return load_singan(path, device=resolve_device(device))[0]


def damaged_region(mask: Path | None, threshold: int | None, image: np.ndarray, *, min_area: int = 0) -> np.ndarray:
    """The damaged region of ``image``: a mask file, or the pixels whose RGB all reach ``threshold`` (exactly one of the two)."""
    if (mask is None) == (threshold is None):
        raise CimgenError("give the damaged region either as --mask FILE or as --threshold LEVEL (white pixels), not both")
    if mask is not None:
        return check_mask(read_mask(mask), image.shape, source=f"the mask {mask}")
    return threshold_mask(image, threshold=threshold, min_area=min_area)


@dataclass
class TrainingPlan:
    """What a SinGAN training run will do, known before it starts (what ``--dry-run`` shows)."""

    cfg: SinGANConfig
    """The resolved settings."""
    image: np.ndarray
    """HxWx3 uint8 training image."""
    source: str
    """The image's file name, kept in the model's config."""
    damaged: np.ndarray | None
    """bool HxW region left out of the reconstruction loss, or None."""
    sizes: list[tuple[int, int]]
    """The pyramid's (height, width) per scale, coarse to fine."""

    def precision_note(self, device: str = DEFAULT_DEVICE) -> str:
        """Which precision the run computes in on this machine, and why (``precision: auto`` chooses by machine)."""
        return precision_note(self.cfg.precision, device)


def plan_training(
    image: Path,
    *,
    schedule: str = DEFAULT_SCHEDULE,
    sets: list[str] | None = None,
    mask: Path | None = None,
    threshold: int | None = None,
) -> TrainingPlan:
    """Resolve the settings (a schedule, then ``key=value`` overrides), read the image and its damaged region, size the pyramid."""
    raw: dict = {}
    for s in sets or []:
        raw = merge(raw, parse_override(s))
    cfg = schedule_config(schedule, raw)
    img = read_image(image)
    damaged = None if (mask is None and threshold is None) else damaged_region(mask, threshold, img)
    return TrainingPlan(cfg=cfg, image=img, source=str(image), damaged=damaged, sizes=pyramid_sizes(*img.shape[:2], cfg))


def run_training(
    plan: TrainingPlan,
    out: Path,
    *,
    resume: bool = False,
    checkpoint_minutes: float = DEFAULT_CHECKPOINT_MINUTES,
    device: str = DEFAULT_DEVICE,
    progress: Callable[[int, int, int, dict], None] | None = None,
    echo: Callable[[str], None] | None = None,
) -> SinGAN:
    """Train the planned SinGAN into the run folder ``out`` (or continue it with ``resume``); returns the model."""
    dev = resolve_device(device)
    if echo is not None:
        sizes = ", ".join(f"{h}x{w}" for h, w in plan.sizes)
        echo(f"training {len(plan.sizes)} scales of {plan.cfg.iters} iterations ({plan.cfg.schedule} schedule) on {dev}: {sizes}")
        echo(plan.precision_note(device))
    return train_singan(
        plan.image,
        plan.cfg,
        out,
        mask=plan.damaged,
        device=dev,
        resume=resume,
        source=plan.source,
        progress=progress,
        checkpoint_every=checkpoint_minutes * 60,
    )


def run_sample(
    model_path: Path,
    out: Path,
    *,
    count: int = 8,
    height: int | None = None,
    width: int | None = None,
    start_scale: int = 0,
    seed: int = 0,
    device: str = DEFAULT_DEVICE,
) -> tuple[int, int]:
    """Write ``count`` random samples into the new folder ``out``; returns their (height, width)."""
    if count < 1:
        raise CimgenError(f"--count must be at least 1, got {count}")
    for name, v in (("--height", height), ("--width", width)):
        if v is not None and v < 8:
            raise CimgenError(f"{name} must be at least 8 pixels, got {v}")
    check_fresh(out)
    model = load_model(model_path, device)
    if start_scale > 0 and (height or width):
        raise CimgenError(
            "a start scale above 0 follows the reconstruction path, which exists only at the training size; leave out --height/--width"
        )
    gen = torch.Generator().manual_seed(seed)
    with new_folder(out) as tmp:
        for i in range(count):
            x = model.generate(start=start_scale, height=height, width=width, generator=gen)
            write_image(tmp / f"sample_{i:03d}.png", to_image(x))
    return model.sizes_for(height, width)[-1]


def write_fill(out: Path, fill: Fill, record: dict) -> None:
    """A fill's folder: result.png, region.png, generated.png (SinGAN only) and fill.json with ``record``."""
    with new_folder(out) as tmp:
        write_image(tmp / "result.png", fill.result)
        write_image(tmp / "region.png", (fill.region * 255).astype("uint8")[..., None].repeat(3, axis=2))
        if fill.generated is not None:
            write_image(tmp / "generated.png", fill.generated)
        (tmp / "fill.json").write_text(json_text(record))


def run_inpaint(
    image: Path,
    out: Path,
    *,
    mask: Path | None = None,
    threshold: int | None = None,
    min_area: int = 0,
    method: str = "singan",
    model_path: Path | None = None,
    reference: Path | None = None,
    scale: int | None = None,
    dilation: int = DEFAULT_DILATION["inpaint"],
    noise: str = DEFAULT_NOISE,
    clean: Path | None = None,
    seed: int = 0,
    device: str = DEFAULT_DEVICE,
) -> dict:
    """Fill the damaged region of ``image`` (SinGAN with a reference, or OpenCV) into the new folder ``out``; returns ``fill.json``'s record.

    With ``clean``, the record holds the SSIM and ASVS of the result against that undamaged image.
    """
    img = read_image(image)
    damaged = damaged_region(mask, threshold, img, min_area=min_area)
    if method == "singan" and (model_path is None or reference is None):
        raise CimgenError("--method singan needs --model (a SinGAN run) and --reference (a clean image of the same view)")
    check_fresh(out)
    model = ref = None
    if method == "singan":
        model, ref = load_model(model_path, device), read_image(reference)
    fill = inpaint(img, damaged, method=method, model=model, reference=ref, scale=scale, dilation=dilation, noise=noise, seed=seed)
    scores = inpainting_scores(fill.result, read_image(clean), fill.region) if clean is not None else None
    record = {
        "method": method,
        "image": str(image),
        "reference": str(reference) if reference else None,
        "scale": fill.scale,
        "dilation": dilation,
        "noise": noise if method == "singan" else None,
        "region_pixels": int(fill.region.sum()),
        "scores": scores,
    }
    write_fill(out, fill, record)
    return record


def run_edit(
    model_path: Path,
    naive: Path,
    out: Path,
    *,
    mask: Path,
    kind: str = "edit",
    scale: int | None = None,
    dilation: int | None = None,
    noise: str = "random",
    seed: int = 0,
    device: str = DEFAULT_DEVICE,
) -> dict:
    """SinGAN editing or harmonization of the naive paste ``naive`` into the new folder ``out``; returns ``fill.json``'s record."""
    check_fresh(out)
    model = load_model(model_path, device)
    img = read_image(naive)
    fill = edit(model, img, read_mask(mask), kind=kind, scale=scale, dilation=dilation, noise=noise, seed=seed)
    record = {"kind": kind, "image": str(naive), "scale": fill.scale, "noise": noise, "region_pixels": int(fill.region.sum())}
    write_fill(out, fill, record)
    return record
