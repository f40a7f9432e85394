"""``cimgen train`` and ``cimgen finetune``: pix2pixHD pretraining and fine-tuning runs."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from cimgen.config import load_yaml, merge, parse_override, to_dict
from cimgen.errors import CimgenError


def _overrides(
    config: Path | None, sets: list[str], data: Path | None, epochs: int | None, decay_epochs: int | None, *, base: dict | None = None
) -> dict:
    """The run's options: ``base`` (a resumed run's saved config), then --config, then the flags."""
    raw = merge(base or {}, load_yaml(config) if config else {})
    for s in sets:
        raw = merge(raw, parse_override(s))
    if data is not None:
        raw = merge(raw, {"data": {"root": str(data)}})
    if epochs is not None:
        raw = merge(raw, {"loop": {"epochs": epochs}})
    if decay_epochs is not None:
        raw = merge(raw, {"loop": {"decay_epochs": decay_epochs}})
    return raw


def train_cmd(
    out: Path = typer.Option(..., "--out", help="Run folder to create (config, log, stats, samples, checkpoints)."),
    config: Path = typer.Option(None, "--config", help="YAML config (see configs/)."),
    data: Path = typer.Option(None, "--data", help="Dataset folder (overrides data.root)."),
    sets: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set loop.batch_size=4 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs at the initial learning rate."),
    decay_epochs: int = typer.Option(None, "--decay-epochs", help="Epochs of linear learning-rate decay."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train a pix2pixHD model from scratch on paired (map, image) data.

    Example: cimgen train --config configs/synth_pretrain.yaml --out runs/synth-pretrain
    """
    from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd

    saved = load_yaml(out / "config.yaml") if resume and (out / "config.yaml").is_file() else None
    cfg = resolve_config(_overrides(config, sets, data, epochs, decay_epochs, base=saved))
    if dry_run:
        typer.echo(yaml.safe_dump(to_dict(cfg), sort_keys=False), nl=False)
        return
    last = run_pix2pixhd(cfg, out, resume=resume, progress=not quiet)
    typer.echo(f"done; newest checkpoint: {last}; run folder: {out}")


def finetune_cmd(
    init: Path = typer.Option(..., "--from", help="Checkpoint folder (or run folder) to start from."),
    out: Path = typer.Option(..., "--out", help="Run folder to create."),
    data: Path = typer.Option(None, "--data", help="The small dataset folder (overrides data.root)."),
    config: Path = typer.Option(None, "--config", help="YAML with data/optim/loss/loop options; the architecture comes from the checkpoint."),
    sets: list[str] = typer.Option([], "--set", help="Override one option, e.g. --set loop.epochs=50 (repeatable)."),
    epochs: int = typer.Option(None, "--epochs", help="Epochs at the initial learning rate."),
    decay_epochs: int = typer.Option(None, "--decay-epochs", help="Epochs of linear learning-rate decay."),
    resume: bool = typer.Option(False, "--resume", help="Continue the fine-tuning run in --out."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fine-tune a pretrained pix2pixHD checkpoint on a small set (the paper's "smalldata").

    Example: cimgen finetune --from runs/synth-pretrain --data data/small --out runs/small --epochs 100
    """
    from cimgen.io.checkpoints import load_checkpoint
    from cimgen.train.pix2pixhd import finetune_config, run_pix2pixhd

    ckpt_cfg, _ = load_checkpoint(init)
    saved = None
    if resume and (out / "config.yaml").is_file():
        saved = {k: v for k, v in load_yaml(out / "config.yaml").items() if k not in ("init_from", "generator", "discriminator")}
    raw = _overrides(config, sets, data, epochs, decay_epochs, base=saved)
    if not raw.get("data", {}).get("root"):
        raise CimgenError("name the small dataset with --data (or data.root in --config)")
    cfg = finetune_config(ckpt_cfg, raw)
    if dry_run:
        typer.echo(yaml.safe_dump(to_dict(cfg), sort_keys=False), nl=False)
        return
    last = run_pix2pixhd(cfg, out, resume=resume, init_from=init, progress=not quiet)
    typer.echo(f"done; newest checkpoint: {last}; run folder: {out}")
