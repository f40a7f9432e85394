"""One generic training loop: schedules, phases from a recipe, logging, samples, checkpoints, exact resume, DDP.

A recipe owns its networks, optimizers and update steps; the loop owns time: the order of
data (seeded by (seed, epoch), so a resumed run sees the same batches as an uninterrupted
one), the learning-rate schedule, progress, the run folder, checkpoints and the random
state saved with them. Under ``torchrun`` each process takes its share of every batch and
only rank 0 writes the run folder.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import has_checkpoint, load_checkpoint, load_module, load_train_state, resolve_checkpoint, save_checkpoint
from cimgen.io.images import write_image, write_text
from cimgen.textfiles import json_text
from cimgen.train.runtime import (  # noqa: F401  (resolve_device re-exported)
    PRECISIONS,
    Runtime,
    barrier,
    choose_precision,
    init_distributed,
    is_main_process,
    resolve_device,
)


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
    """cpu, cuda, cuda:N or auto (under torchrun on GPUs, each process takes cuda:LOCAL_RANK)."""
    threads: int = 0
    """CPU threads for torch; 0 leaves torch's default."""
    schedule: str = "linear"
    """Learning-rate schedule: linear (constant, then linear decay: pix2pixHD/CycleGAN), cosine, step or constant."""
    step_every: int = 50
    """For the step schedule: epochs between learning-rate drops."""
    step_gamma: float = 0.1
    """For the step schedule: factor applied at each drop."""
    precision: str = "auto"
    """auto (bf16 where the CPU or GPU computes it natively, fp16 on tensor-core GPUs without bf16, else fp32); fp32; bf16 (autocast); fp16 (autocast with loss scaling, CPU or GPU)."""
    channels_last: bool = False
    """Run convolutions in NHWC memory format."""
    compile: bool = False
    """torch.compile the networks (slow first steps, faster afterwards)."""
    fused_optimizer: bool = False
    """Adam's fused kernel: one pass over all parameters (an unet_256 Adam step: 0.12 s -> 0.03 s on the development CPU)."""
    cudnn_benchmark: bool = True
    """GPU: cuDNN times its convolution algorithms once per input size and keeps the fastest (junyanz's default)."""
    tensorboard: bool = True
    """Write TensorBoard event files (losses, learning rate, sample grids) to the run's tensorboard/ folder."""


SCHEDULES = ("linear", "cosine", "step", "constant")


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings; the defaults are pix2pixHD's and junyanz's (lr 2e-4, beta1 0.5, beta2 0.999)."""

    lr: float = 2e-4
    """Initial learning rate of the generators and discriminators."""
    beta1: float = 0.5
    """Adam beta1."""
    beta2: float = 0.999
    """Adam beta2."""


class Recipe(Protocol):
    """What the loop needs from a training method.

    Optional methods, used when present: ``on_epoch_start(epoch)`` (e.g. unfreezing part of
    a network after some epochs), ``extra_state()`` / ``load_extra_state(state)`` (state
    outside networks and optimisers that exact resume needs, e.g. image pools), and
    ``validate() -> dict`` with ``best_key``: held-out metrics after every epoch (logged as
    ``val_<name>``), the networks of the epoch with the highest ``val_<best_key>`` kept in
    the run's ``best/`` folder (e.g. detectors: validation AUC).
    """

    runtime: Runtime
    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    base_lr: float

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        """Update steps run in order on every batch; each returns its losses."""

    def sample_grid(self, batch: dict) -> np.ndarray:
        """An HxWx3 uint8 picture of what the model makes for a batch."""

    def checkpoint_config(self) -> dict:
        """What a checkpoint needs to rebuild the networks (JSON-serialisable)."""


def make_runtime(cfg: LoopConfig) -> Runtime:
    """The runtime a loop config asks for, joining torchrun's process group when launched by it."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device, rank, world = init_distributed(cfg.device)
    precision, reason = choose_precision(cfg.precision, device)
    return Runtime(
        device,
        precision=precision,
        precision_reason=reason,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        fused_optimizer=cfg.fused_optimizer,
        cudnn_benchmark=cfg.cudnn_benchmark,
        rank=rank,
        world_size=world,
    )


def check_loop_config(cfg: LoopConfig) -> None:
    """Fail in one sentence on loop options that cannot work, before anything is written."""
    if cfg.schedule not in SCHEDULES:
        raise CimgenError(f"loop.schedule must be one of {', '.join(SCHEDULES)}, got '{cfg.schedule}'")
    if cfg.epochs < 0 or cfg.decay_epochs < 0 or cfg.epochs + cfg.decay_epochs < 1:
        raise CimgenError("loop.epochs and loop.decay_epochs must be non-negative with at least 1 epoch in all")
    if cfg.batch_size < 1:
        raise CimgenError("loop.batch_size must be at least 1")
    if cfg.schedule == "step" and cfg.step_every < 1:
        raise CimgenError("loop.step_every must be at least 1")
    if cfg.checkpoint_every < 1 or cfg.sample_every < 1:
        raise CimgenError("loop.checkpoint_every and loop.sample_every must be at least 1")
    if cfg.precision not in PRECISIONS:
        raise CimgenError(f"loop.precision must be one of {', '.join(PRECISIONS)}, got '{cfg.precision}'")


def learning_rate(base_lr: float, epoch: int, cfg: LoopConfig) -> float:
    """The learning rate of a (0-based) epoch.

    ``linear`` is pix2pixHD's and CycleGAN's: constant for ``epochs``, then linear decay to
    zero over ``decay_epochs`` (niter / niter_decay). ``cosine`` keeps the constant part and
    decays along a half cosine; ``step`` multiplies by ``step_gamma`` every ``step_every``
    epochs; ``constant`` never changes.
    """
    if cfg.schedule == "constant":
        return base_lr
    if cfg.schedule == "step":
        return base_lr * cfg.step_gamma ** (epoch // cfg.step_every)
    if cfg.decay_epochs <= 0 or epoch < cfg.epochs:
        return base_lr
    t = (epoch - cfg.epochs) / cfg.decay_epochs
    if cfg.schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return base_lr * (1.0 - t)


def checkpoint_config(recipe: Recipe) -> dict:
    """The recipe's checkpoint config, with the precision the run computed in and why (``precision: auto`` resolves by machine)."""
    rt = recipe.runtime
    return {**recipe.checkpoint_config(), "precision": {"used": rt.precision, "why": rt.precision_reason}}


def tensors_of(recipe: Recipe) -> dict[str, torch.Tensor]:
    out = {}
    for name, net in recipe.networks.items():
        out.update({f"{name}.{k}": v for k, v in net.state_dict().items()})
    return out


def load_networks(networks: dict[str, nn.Module], ckpt_cfg: dict, tensors: dict[str, torch.Tensor], source: str, *, echo=None) -> None:
    """Load every network from a checkpoint's tensors, naming the first mismatch in one sentence.

    A checkpoint written by ``cimgen import-official`` from generator files alone has no
    discriminator (``discriminator``, or CycleGAN's ``D_A`` and ``D_B``): those then start from
    scratch, and ``echo`` (when given) says so.
    """
    for name, net in networks.items():
        is_d = name == "discriminator" or name.startswith("D_")
        if is_d and ckpt_cfg.get("imported") and not any(k.startswith(f"{name}.") for k in tensors):
            if echo:
                hint = "import latest_net_D.pth with --discriminator" if name == "discriminator" else "import the folder with its D files"
                echo(f"{source} holds no {name}; it starts from scratch ({hint})")
            continue
        load_module(net, tensors, name, source=source)


def rng_state(device: torch.device) -> dict:
    """Torch's CPU (and this process's CUDA) random state, as tensors that load with weights_only."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_ranks(obj: object, rt) -> list:
    """``obj`` from every DDP process, in rank order (one item without DDP); every rank must call it."""
    if not rt.distributed:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * rt.world_size
    dist.all_gather_object(out, _on_cpu(obj))  # CPU tensors unpickle on any rank, on any node
    return out


def _on_cpu(obj: object) -> object:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


def own_rank_state(state: dict, key: str, rt) -> object | None:
    """This rank's entry of a per-rank list saved under ``key + '_ranks'``, else the single entry under ``key``.

    Checkpoints keep each rank's random state and recipe state (dropout, image pools, BaRT/PGD draws differ
    per rank); a run resumed with another number of processes falls back to rank 0's.
    """
    ranks = state.get(f"{key}_ranks")
    if isinstance(ranks, list) and len(ranks) == rt.world_size:
        return ranks[rt.rank]
    return state.get(key)


class RunLog:
    """Appends to ``log.txt``, ``stats.jsonl`` and TensorBoard in the run folder, and echoes log lines (rank 0 only)."""

    def __init__(self, run_dir: Path, echo: Callable[[str], None] | None, *, active: bool = True, tensorboard: bool = False):
        self.run_dir = run_dir
        self.echo = echo if active else None
        self.active = active
        self.writer = None
        if active and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but a trimmed install may lack it
                self.line("TensorBoard logging is off: the tensorboard package is not installed (pip install tensorboard)")
            else:
                self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def line(self, text: str) -> None:
        if not self.active:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"[{stamp}] {text}\n")
        if self.echo:
            self.echo(text)

    def stats(self, record: dict) -> None:
        if not self.active:
            return
        with open(self.run_dir / "stats.jsonl", "a", encoding="utf-8") as f:
            f.write(json_text(record, indent=None) + "\n")  # one writer: NaN or inf is null, never bare NaN
        if self.writer is not None:
            for k, v in record.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"train/{k}", v, record["step"])
            self.writer.flush()

    def image(self, tag: str, picture: np.ndarray, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, picture, step, dataformats="HWC")
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def epoch_indices(n: int, batch_size: int, seed: int, epoch: int, rank: int, world_size: int) -> list[int]:
    """This process's dataset indices for an epoch: a (seed, epoch)-seeded permutation cut into global batches.

    Each step's global batch holds ``batch_size * world_size`` items; process ``rank`` takes
    its contiguous ``batch_size`` share. The remainder that does not fill a global batch is
    dropped, so every process runs the same number of steps.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
    per_step = batch_size * world_size
    steps = n // per_step
    return [order[s * per_step + rank * batch_size + j] for s in range(steps) for j in range(batch_size)]


@dataclass
class _Position:
    """Where a run stands; saved in every checkpoint and restored on resume."""

    epoch: int = 0
    """Epochs finished when the run (re)started."""
    step: int = 0
    """Optimizer steps taken so far (the loop counts them)."""
    best: float = -math.inf
    """Best validation score so far (recipes with ``validate``)."""


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
        recipe: networks, optimizers, update phases and the runtime they run on.
        dataset: a dataset with ``set_epoch(epoch)``; its items are dicts of tensors.
        run_dir: the run folder (it must already hold the resolved config).
        cfg: schedule and bookkeeping.
        resume: continue from the newest complete checkpoint in ``run_dir``.
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar with losses and ETA.
    """
    run_dir = Path(run_dir)
    rt = recipe.runtime
    check_loop_config(cfg)
    total_epochs = cfg.epochs + cfg.decay_epochs
    if len(dataset) < 1:
        raise CimgenError("the dataset is empty")
    progress = progress and rt.is_main
    if echo is not None and progress:
        echo = _above_progress_bar(echo)
    batch_size = min(cfg.batch_size, len(dataset) // rt.world_size)
    if batch_size < 1:
        raise CimgenError(f"{len(dataset)} items cannot feed {rt.world_size} processes; use fewer processes or more data")
    log = RunLog(run_dir, echo, active=rt.is_main, tensorboard=cfg.tensorboard)
    log.line(f"precision: {rt.precision} ({rt.precision_reason})")
    at = _Position()
    if resume:
        at = _resume(recipe, run_dir, log)
        if at.epoch >= total_epochs:
            log.line(f"nothing to do: the run already finished its {total_epochs} epochs")
            log.close()
            return _latest(run_dir)

    steps_per_epoch = len(dataset) // (batch_size * rt.world_size)
    if rt.distributed:
        log.line(f"DDP: {rt.world_size} processes, {batch_size} item(s) each per step, {steps_per_epoch} steps per epoch")
    bar = tqdm(
        total=(total_epochs - at.epoch) * steps_per_epoch,
        disable=not progress,
        unit="step",
        dynamic_ncols=True,
        mininterval=2.0,
    )
    phases = recipe.phases()
    last = None
    try:
        for epoch in range(at.epoch, total_epochs):
            lr = _start_epoch(recipe, epoch, cfg, log)
            dataset.set_epoch(epoch)
            loader = DataLoader(
                dataset,
                batch_size=batch_size,
                sampler=epoch_indices(len(dataset), batch_size, cfg.seed, epoch, rt.rank, rt.world_size),
                drop_last=True,
                num_workers=cfg.num_workers,
            )
            t0 = time.perf_counter()
            sums, first_batch = _run_epoch(loader, phases, rt, bar, at, epoch=epoch, total_epochs=total_epochs)
            means = rt.all_reduce_mean({k: v / steps_per_epoch for k, v in sums.items()})
            record = {"epoch": epoch + 1, "step": at.step, "lr": lr, "seconds": round(time.perf_counter() - t0, 3), **means}
            if hasattr(recipe, "validate"):
                _validate(recipe, record, at, run_dir, log, epoch=epoch)
            log.stats(record)
            done = epoch + 1 == total_epochs
            if rt.is_main and ((epoch + 1) % cfg.sample_every == 0 or done):
                _write_samples(recipe, first_batch, run_dir, log, epoch=epoch, step=at.step)
            if (epoch + 1) % cfg.checkpoint_every == 0 or done:
                saved = _write_checkpoint(recipe, run_dir, cfg, at, epoch=epoch)
                if saved is not None:
                    last = saved
                    log.line(
                        f"epoch {epoch + 1}/{total_epochs} lr {lr:.2e} "
                        + " ".join(f"{k} {v:.4f}" for k, v in record.items() if k in means or k.startswith("val_"))
                        + f" -> {last.relative_to(run_dir)}"
                    )
                barrier()  # other ranks may read the checkpoint only once it is complete
    finally:
        bar.close()
        log.close()
    return last or _latest(run_dir)


def _above_progress_bar(echo: Callable[[str], None]) -> Callable[[str], None]:
    """``echo`` printing above the progress bar instead of through it."""

    def echo_above(text: str) -> None:
        with tqdm.external_write_mode():
            echo(text)

    return echo_above


def _resume(recipe: Recipe, run_dir: Path, log: RunLog) -> _Position:
    """Load networks, optimizers, loss scalers, this rank's random and recipe state from the newest checkpoint."""
    rt = recipe.runtime
    ckpt_dir = run_dir / "checkpoints"
    _, tensors = load_checkpoint(run_dir)
    state = load_train_state(run_dir)
    for name, net in recipe.networks.items():
        load_module(net, tensors, name, source=str(ckpt_dir))
    for name, opt in recipe.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    rt.load_scaler_states(recipe.optimizers, state.get("scalers", {}))
    rng = own_rank_state(state, "rng", rt)
    if rng is not None:
        set_rng_state(rng, rt.device)
    extra = own_rank_state(state, "extra", rt)
    if hasattr(recipe, "load_extra_state") and extra is not None:
        recipe.load_extra_state(extra)
    at = _Position(int(state["epoch"]), int(state["step"]), float(state.get("best", -math.inf)))
    if rt.is_main:
        _keep_stats_until(run_dir / "stats.jsonl", at.epoch)
    log.line(f"resumed from epoch {at.epoch} (step {at.step})")
    return at


def _start_epoch(recipe: Recipe, epoch: int, cfg: LoopConfig, log: RunLog) -> float:
    """Set the epoch's learning rate on every optimizer (times a group's ``lr_scale``) and run the recipe's epoch hook."""
    lr = learning_rate(recipe.base_lr, epoch, cfg)
    for opt in recipe.optimizers.values():
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
    if hasattr(recipe, "on_epoch_start"):
        note = recipe.on_epoch_start(epoch)
        if note:
            log.line(note)
    return lr


def _run_epoch(loader, phases, rt: Runtime, bar, at: _Position, *, epoch: int, total_epochs: int) -> tuple[dict[str, float], dict | None]:
    """Run every phase on every batch, counting steps in ``at``; returns the summed losses and the first batch."""
    sums: dict[str, float] = {}
    first_batch = None
    for batch in loader:
        first_batch = first_batch or batch
        losses: dict[str, float] = {}
        for phase in phases:
            losses.update(phase(batch))
        _check_finite(losses, rt, epoch=epoch, step=at.step)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        at.step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
        bar.set_description(f"epoch {epoch + 1}/{total_epochs}", refresh=False)
    return sums, first_batch


def _check_finite(losses: dict[str, float], rt: Runtime, *, epoch: int, step: int) -> None:
    """Stop the run in one sentence when a loss (here or, under DDP, on any process) is not finite."""
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if rt.distributed:  # every process must stop together, or the others wait forever
        bad = bad or (["on another process"] if rt.all_reduce_mean({"bad": float(bool(bad))})["bad"] > 0 else [])
    if bad:
        value = losses.get(bad[0], float("nan"))
        raise CimgenError(f"loss {bad[0]} became {value} at epoch {epoch + 1}, step {step + 1}; the last good checkpoint is kept")


def _validate(recipe: Recipe, record: dict, at: _Position, run_dir: Path, log: RunLog, *, epoch: int) -> None:
    """Add the recipe's held-out metrics to ``record``; keep the networks in ``best/`` when they beat ``at.best``."""
    # Every process validates the same (identical) weights, so none waits at the next collective.
    record.update({f"val_{k}": v for k, v in recipe.validate().items()})
    score = record.get(f"val_{recipe.best_key}", -math.inf)
    if score > at.best:
        at.best = score
        if recipe.runtime.is_main:
            best_cfg = {**checkpoint_config(recipe), "epoch": epoch + 1, "step": at.step, "best": {recipe.best_key: score}}
            save_checkpoint(run_dir / "best", best_cfg, tensors_of(recipe))
            log.line(f"epoch {epoch + 1}: best validation {recipe.best_key} so far ({score:.4f}) -> best/")


def _write_samples(recipe: Recipe, batch: dict, run_dir: Path, log: RunLog, *, epoch: int, step: int) -> None:
    """The recipe's picture of a batch, as ``samples/epoch-NNNN.png`` and in TensorBoard."""
    grid = recipe.sample_grid(batch)
    write_image(run_dir / "samples" / f"epoch-{epoch + 1:04d}.png", grid)
    log.image("samples", grid, step)


def _write_checkpoint(recipe: Recipe, run_dir: Path, cfg: LoopConfig, at: _Position, *, epoch: int) -> Path | None:
    """Save the networks and everything exact resume needs (every rank's random and recipe state); rank 0 only writes.

    Every rank must call it (it gathers state from all); returns the checkpoint folder on rank 0, None elsewhere.
    """
    rt = recipe.runtime
    rngs = gather_ranks(rng_state(rt.device), rt)
    extras = gather_ranks(recipe.extra_state(), rt) if hasattr(recipe, "extra_state") else None
    if not rt.is_main:
        return None
    state = {
        "epoch": epoch + 1,
        "step": at.step,
        "optimizers": {k: o.state_dict() for k, o in recipe.optimizers.items()},
        "scalers": rt.scaler_states(recipe.optimizers),
        "rng": rngs[0],
        "rng_ranks": rngs,
        "best": at.best,
    }
    if extras is not None:
        state["extra"] = extras[0]
        state["extra_ranks"] = extras
    cfg_json = {**checkpoint_config(recipe), "epoch": epoch + 1, "step": at.step}
    saved = save_checkpoint(run_dir / "checkpoints" / f"epoch-{epoch + 1:04d}", cfg_json, tensors_of(recipe), state)
    _prune(run_dir, cfg.keep_checkpoints)
    return saved


def resume_point(run_dir: str | Path, resume: bool) -> bool:
    """Whether a run really resumes: it was asked to and holds a complete checkpoint.

    A run stopped before its first checkpoint (killed, out of memory) has nothing to resume
    from; its partial log and config are removed and it starts over, which, being seeded,
    ends where the uninterrupted run would have.
    """
    run_dir = Path(run_dir)
    if not resume or has_checkpoint(run_dir):
        return resume
    if not (run_dir / "config.yaml").is_file():
        raise CimgenError(f"{run_dir} has no checkpoints to resume from (no run was started there); start it without --resume")
    barrier()  # every process has looked before rank 0 clears the folder
    if is_main_process():
        for name in ("config.yaml", "log.txt", "stats.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
        for name in ("checkpoints", "samples", "tensorboard"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
        print(f"{run_dir} stopped before its first checkpoint; starting it over", flush=True)
    barrier()
    return False


def _keep_stats_until(path: Path, epoch: int) -> None:
    """Drop the stats of epochs after the checkpoint a run resumes from (they are run again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
        if int(record.get("epoch", 0)) <= epoch:
            kept.append(line)
    write_text(path, "".join(f"{line}\n" for line in kept))


def _latest(run_dir: Path) -> Path:
    return resolve_checkpoint(run_dir)


def _prune(run_dir: Path, keep: int) -> None:
    ckpts = sorted((run_dir / "checkpoints").glob("epoch-*"))
    for old in ckpts[: max(0, len(ckpts) - max(1, keep))]:
        shutil.rmtree(old, ignore_errors=True)
