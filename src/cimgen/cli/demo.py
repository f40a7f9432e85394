"""``cimgen demo``: the whole manipulation path on the synthetic world, in a few minutes on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.cli.bounds import EPOCHS, SEED


def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Folder for the data, the fine-tuning run and the report."),
    size: int = typer.Option(256, "--size", min=32, max=4096, help="Tile side in pixels (multiple of 8)."),
    tiles: int = typer.Option(4, "--tiles", min=1, max=10_000, help="Tiles in the fine-tuning set (the one with most buildings is manipulated)."),
    epochs: int = typer.Option(150, "--epochs", **EPOCHS, help="Fine-tuning epochs at the full learning rate."),
    decay_epochs: int = typer.Option(50, "--decay-epochs", **EPOCHS, help="Fine-tuning epochs with linear decay."),
    crop_size: int = typer.Option(128, "--crop-size", min=0, max=4096, help="Fine-tuning crop size (0 = whole tiles)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Pretrained checkpoint to fine-tune (default: the shipped one)."),
    seed: int = typer.Option(1, "--seed", **SEED, help="Seed of the demo world."),
    lambda_l1: float = typer.Option(100.0, "--lambda-l1", min=0.0, max=1e6, help="L1 reconstruction weight in fine-tuning (0 = pix2pixHD's GAN + feature matching only)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Synthesise a world, fine-tune the shipped pretrained generator, remove buildings, blend, and report.

    Example: cimgen demo --out runs/demo
    """
    from cimgen.runs.demo import DemoConfig, run_demo

    cfg = DemoConfig(
        out=str(out),
        size=size,
        tiles=tiles,
        seed=seed,
        checkpoint=str(checkpoint) if checkpoint else "",
        finetune_epochs=epochs,
        finetune_decay_epochs=decay_epochs,
        crop_size=crop_size,
        lambda_l1=lambda_l1,
    )
    report = run_demo(cfg, progress=not quiet)
    typer.echo(f"report: {report.resolve()}")
    typer.echo(f"metrics: {(report.parent / 'metrics.json').resolve()}")
