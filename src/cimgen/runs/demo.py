"""The end-to-end demo: synthetic world, pretrained generator, fine-tuning, a building removal, blending, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimgen.config import to_dict
from cimgen.data.synth import BUILDING, SynthConfig, write_world
from cimgen.edit.blend import DEFAULT_FEATHER
from cimgen.edit.mask import DEFAULT_RADIUS, busiest_box
from cimgen.edit.ops import RemoveClass
from cimgen.edit.pipeline import manipulate, manipulation_metrics
from cimgen.errors import CimgenError
from cimgen.generators import label_renderer, load_label_generator, shipped_checkpoint
from cimgen.io.checkpoints import load_checkpoint
from cimgen.io.images import read_image, read_label_map, write_text
from cimgen.models.limits import check_checkpoint_config
from cimgen.palette import SYNTH_PALETTE
from cimgen.report.html import write_report
from cimgen.textfiles import json_text
from cimgen.train.pix2pixhd import finetune_config, run_pix2pixhd


@dataclass(frozen=True)
class DemoConfig:
    """Options of ``cimgen demo``; the defaults are the README's demo."""

    out: str = "runs/demo"
    """Folder for everything the demo writes."""
    size: int = 256
    """Tile side in pixels (a multiple of 8)."""
    tiles: int = 4
    """Tiles in the fine-tuning set; the one with most buildings is manipulated."""
    seed: int = 1
    """Seed of the demo's world (the shipped model was pretrained on seed 0)."""
    checkpoint: str = ""
    """Pretrained checkpoint to fine-tune; empty means the shipped one."""
    finetune_epochs: int = 150
    """Fine-tuning epochs at the full learning rate."""
    finetune_decay_epochs: int = 50
    """Fine-tuning epochs with linear decay."""
    crop_size: int = 128
    """Random crops for fine-tuning (0 = whole tiles)."""
    lambda_l1: float = 100.0
    """Weight of the L1 reconstruction term in fine-tuning (pix2pix's 100)."""
    radius: int = DEFAULT_RADIUS
    """Dilation of the changed pixels."""
    feather: float = DEFAULT_FEATHER
    """Feathered blend width inside the mask."""
    box_fraction: float = 0.4
    """Side of the edit box as a fraction of the tile side."""
    threads: int = 0
    """CPU threads for torch (0 = torch's default)."""


def run_demo(cfg: DemoConfig, *, echo: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Run every stage and return the path of ``report.html``."""
    if cfg.size % 8 or cfg.size < 32:
        raise CimgenError(f"the demo tile size must be a multiple of 8 and at least 32, got {cfg.size}")
    if cfg.crop_size > cfg.size:
        raise CimgenError(f"crop_size {cfg.crop_size} is larger than the tile size {cfg.size}")
    out = Path(cfg.out)
    if (out / "report.html").exists() or (out / "finetune").exists():
        raise CimgenError(f"{out} already holds a demo; remove it or pass another --out folder")
    ckpt = Path(cfg.checkpoint) if cfg.checkpoint else shipped_checkpoint()
    init = load_checkpoint(ckpt)  # read once, and fail before writing anything
    check_checkpoint_config(init[0], str(ckpt))
    ckpt_cfg = init[0]
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def stage(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 2)
        echo(f"  {name}: {timings[name]:.1f} s")

    echo(f"[1/5] synthesising {cfg.tiles} tiles of {cfg.size}x{cfg.size} (seed {cfg.seed}) -> {out / 'data'}")
    t0 = time.perf_counter()
    data_dir = write_world(out / "data", cfg.tiles, SynthConfig(height=cfg.size, width=cfg.size, seed=cfg.seed))
    # The manipulated tile is the one with most buildings; chosen now so a world without any fails early.
    label_files = sorted((data_dir / "labels").iterdir())
    maps = [read_label_map(p) for p in label_files]
    counts = [int((lab == BUILDING).sum()) for lab in maps]
    if max(counts) == 0:
        raise CimgenError("no tile of the demo world has a building to remove; try another --seed or more --tiles")
    best = int(np.argmax(counts))
    target, labels = label_files[best], maps[best]
    stage("synth", t0)

    echo(f"[2/5] fine-tuning {ckpt} on the {cfg.tiles} tiles -> {out / 'finetune'}")
    t0 = time.perf_counter()
    overrides = {
        "data": {"root": str(data_dir), "crop_size": cfg.crop_size, "flip": True},
        # No VGG term: the measured demo figures must not depend on a VGG19 file in the user's cache.
        "loss": {"lambda_l1": cfg.lambda_l1, "lambda_vgg": 0.0},
        "loop": {
            "epochs": cfg.finetune_epochs,
            "decay_epochs": cfg.finetune_decay_epochs,
            "batch_size": 1,
            "seed": cfg.seed,
            "checkpoint_every": max(1, (cfg.finetune_epochs + cfg.finetune_decay_epochs) // 4),
            "sample_every": max(1, (cfg.finetune_epochs + cfg.finetune_decay_epochs) // 4),
            "keep_checkpoints": 1,
            "threads": cfg.threads,
            # fp32 on every machine, so the README's demo figures reproduce (precision auto would take bf16 on CPUs with native bf16)
            "precision": "fp32",
        },
    }
    ft_cfg = finetune_config(ckpt_cfg, overrides)
    last = run_pix2pixhd(ft_cfg, out / "finetune", init_from=ckpt, init_checkpoint=init, echo=echo, progress=progress)
    stage("finetune", t0)

    echo(f"[3/5] removing the buildings in the busiest region of {target.name}")
    t0 = time.perf_counter()
    image = read_image(data_dir / "images" / target.name)
    box = busiest_box(labels == BUILDING, int(cfg.box_fraction * cfg.size))
    generator, gen_cfg = load_label_generator(last)
    edits = [RemoveClass(cls=BUILDING, box=box)]
    stage("load+edit", t0)

    echo("[4/5] generating the edited map and blending it into the original")
    t0 = time.perf_counter()
    m = manipulate(
        image,
        labels,
        edits,
        label_renderer(generator, gen_cfg["label_nc"]),
        num_classes=gen_cfg["label_nc"],
        radius=cfg.radius,
        feather=cfg.feather,
    )
    stage("generate+blend", t0)

    echo("[5/5] measuring and writing the report")
    t0 = time.perf_counter()
    metrics = {
        **manipulation_metrics(m),
        "target": target.name,
        "edit": {"op": "remove", "class": "building", "box": list(box)},
        "config": to_dict(cfg),
        "checkpoint": str(last),
        "timings_seconds": timings,
    }
    report = write_report(
        out, **m.arrays(), palette=SYNTH_PALETTE, metrics=metrics, title="cimgen demo: buildings removed from a synthetic tile"
    )
    stage("report", t0)
    timings["total"] = round(time.perf_counter() - t_all, 2)
    # The report's own table was written before these last timings were known.
    write_text(out / "metrics.json", json_text(metrics))
    echo(f"SSIM outside the edited region: {metrics['ssim_outside_mask']:.3f}; total {timings['total']:.0f} s")
    return report
