"""One generic training loop: epochs with a linear-decay phase, phases from a recipe, logging, samples, checkpoints, exact resume.

A recipe owns its networks, optimizers and update steps; the loop owns time: the order of
data (seeded by (seed, epoch), so a resumed run sees the same batches as an uninterrupted
one), the learning-rate schedule, progress, the run folder and checkpoints.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_module, load_train_state, save_checkpoint
from cimgen.io.images import write_image


@dataclass(frozen=True)
class LoopConfig:
    """Schedule and bookkeeping options shared by all recipes."""

    epochs: int = 100
    """Epochs at the initial learning rate (pix2pixHD's niter)."""
    decay_epochs: int = 100
    """Further epochs with the learning rate decaying linearly to zero (niter_decay)."""
    batch_size: int = 1
    """Images per step."""
    seed: int = 0
    """Seed of weights, data order and augmentation."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many epochs (and always after the last)."""
    sample_every: int = 10
    """Write a sample grid every this many epochs (and after the last)."""
    keep_checkpoints: int = 2
    """Checkpoints kept in the run folder; older ones are deleted."""
    num_workers: int = 0
    """Data-loading worker processes."""
    device: str = "auto"
    """cpu, cuda, cuda:N or auto."""
    threads: int = 0
    """CPU threads for torch; 0 leaves torch's default."""


class Recipe(Protocol):
    """What the loop needs from a training method."""

    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    base_lr: float

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        """Update steps run in order on every batch; each returns its losses."""

    def sample_grid(self, batch: dict) -> np.ndarray:
        """An HxWx3 uint8 picture of what the model makes for a batch."""

    def checkpoint_config(self) -> dict:
        """What a checkpoint needs to rebuild the networks (JSON-serialisable)."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; anything else must name an available device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise CimgenError(f"unknown device '{name}'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CimgenError(f"device '{name}' was asked for but CUDA is not available")
    return dev


def learning_rate(base_lr: float, epoch: int, cfg: LoopConfig) -> float:
    """pix2pixHD's schedule: constant for ``epochs``, then linear decay over ``decay_epochs`` (0-based epoch)."""
    if cfg.decay_epochs <= 0 or epoch < cfg.epochs:
        return base_lr
    return base_lr * (1.0 - (epoch - cfg.epochs) / cfg.decay_epochs)


def tensors_of(recipe: Recipe) -> dict[str, torch.Tensor]:
    out = {}
    for name, net in recipe.networks.items():
        out.update({f"{name}.{k}": v for k, v in net.state_dict().items()})
    return out


class RunLog:
    """Appends to ``log.txt`` and ``stats.jsonl`` in the run folder, and echoes log lines."""

    def __init__(self, run_dir: Path, echo: Callable[[str], None] | None):
        self.run_dir = run_dir
        self.echo = echo

    def line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"[{stamp}] {text}\n")
        if self.echo:
            self.echo(text)

    def stats(self, record: dict) -> None:
        with open(self.run_dir / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def train(
    recipe: Recipe,
    dataset: Dataset,
    run_dir: str | Path,
    cfg: LoopConfig,
    *,
    resume: bool = False,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> Path:
    """Run a recipe over a dataset, writing into ``run_dir``; returns the last checkpoint folder.

    Args:
        recipe: networks, optimizers and update phases.
        dataset: a dataset with ``set_epoch(epoch)``; its items are dicts of tensors.
        run_dir: the run folder (it must already hold the resolved config).
        cfg: schedule and bookkeeping.
        resume: continue from the newest complete checkpoint in ``run_dir``.
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar with losses and ETA.
    """
    run_dir = Path(run_dir)
    total_epochs = cfg.epochs + cfg.decay_epochs
    if total_epochs < 1:
        raise CimgenError("epochs + decay_epochs must be at least 1")
    if len(dataset) < 1:
        raise CimgenError("the dataset is empty")
    if echo is not None and progress:
        plain_echo = echo

        def echo(text: str) -> None:  # print above the progress bar instead of through it
            with tqdm.external_write_mode():
                plain_echo(text)

    log = RunLog(run_dir, echo)
    start_epoch, step = 0, 0
    if resume:
        ckpt_dir = run_dir / "checkpoints"
        _, tensors = load_checkpoint(run_dir)
        state = load_train_state(run_dir)
        for name, net in recipe.networks.items():
            load_module(net, tensors, name, source=str(ckpt_dir))
        for name, opt in recipe.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        start_epoch, step = int(state["epoch"]), int(state["step"])
        log.line(f"resumed from epoch {start_epoch} (step {step})")
        if start_epoch >= total_epochs:
            log.line(f"nothing to do: the run already finished its {total_epochs} epochs")
            return _latest(run_dir)

    batch_size = min(cfg.batch_size, len(dataset))
    steps_per_epoch = len(dataset) // batch_size
    bar = tqdm(
        total=(total_epochs - start_epoch) * steps_per_epoch,
        disable=not progress,
        unit="step",
        dynamic_ncols=True,
        mininterval=2.0,
    )
    phases = recipe.phases()
    last = None
    try:
        for epoch in range(start_epoch, total_epochs):
            lr = learning_rate(recipe.base_lr, epoch, cfg)
            for opt in recipe.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = lr
            dataset.set_epoch(epoch)
            order = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
            loader = DataLoader(
                dataset,
                batch_size=batch_size,
                sampler=torch.randperm(len(dataset), generator=order).tolist(),
                drop_last=True,
                num_workers=cfg.num_workers,
            )
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            first_batch = None
            for batch in loader:
                first_batch = first_batch or batch
                losses: dict[str, float] = {}
                for phase in phases:
                    losses.update(phase(batch))
                bad = [k for k, v in losses.items() if not math.isfinite(v)]
                if bad:
                    raise CimgenError(f"loss {bad[0]} became {losses[bad[0]]} at epoch {epoch + 1}, step {step + 1}; the last good checkpoint is kept")
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                step += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
                bar.set_description(f"epoch {epoch + 1}/{total_epochs}", refresh=False)
            means = {k: v / steps_per_epoch for k, v in sums.items()}
            record = {"epoch": epoch + 1, "step": step, "lr": lr, "seconds": round(time.perf_counter() - t0, 3), **means}
            log.stats(record)
            done = epoch + 1 == total_epochs
            if (epoch + 1) % cfg.sample_every == 0 or done:
                write_image(run_dir / "samples" / f"epoch-{epoch + 1:04d}.png", recipe.sample_grid(first_batch))
            if (epoch + 1) % cfg.checkpoint_every == 0 or done:
                state = {"epoch": epoch + 1, "step": step, "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()}}
                cfg_json = {**recipe.checkpoint_config(), "epoch": epoch + 1, "step": step}
                last = save_checkpoint(run_dir / "checkpoints" / f"epoch-{epoch + 1:04d}", cfg_json, tensors_of(recipe), state)
                _prune(run_dir, cfg.keep_checkpoints)
                log.line(
                    f"epoch {epoch + 1}/{total_epochs} lr {lr:.2e} "
                    + " ".join(f"{k} {v:.4f}" for k, v in means.items())
                    + f" -> {last.relative_to(run_dir)}"
                )
    finally:
        bar.close()
    return last or _latest(run_dir)


def _latest(run_dir: Path) -> Path:
    from cimgen.io.checkpoints import resolve_checkpoint

    return resolve_checkpoint(run_dir)


def _prune(run_dir: Path, keep: int) -> None:
    import shutil

    ckpts = sorted((run_dir / "checkpoints").glob("epoch-*"))
    for old in ckpts[: max(0, len(ckpts) - max(1, keep))]:
        shutil.rmtree(old, ignore_errors=True)
