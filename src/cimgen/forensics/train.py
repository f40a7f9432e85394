"""The detector recipe: plain, BaRT, PGD adversarial (AT) and BaRT+AT training of patch classifiers on the generic loop.

The CIMGEN paper trains a ResNet-50 on 64x64 pristine / pix2pixHD-generated patches, then
re-trains it two ways against post-processing: adversarially (PGD on every mini-batch, L-inf
bound one pixel level) and with BaRT (Raff et al. 2019: with probability 0.5, one random
post-processing per sample). It proposes their combination without running it; ``bart+at``
here applies BaRT first and then attacks the post-processed batch, so the network learns
from adversarial versions of post-processed patches. Adam; validation AUC and accuracy after
every epoch; the epoch with the best validation AUC is kept in the run's ``best/`` folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cimgen.config import from_dict, mapping, section, to_dict
from cimgen.errors import CimgenError
from cimgen.forensics.evaluate import ACCURACY, AUC, patch_metrics, predict_patches, to_unit
from cimgen.forensics.patches import PatchDataset, read_dataset_info
from cimgen.forensics.pgd import AttackConfig, check_attack, pgd
from cimgen.forensics.postprocess import BartConfig, bart, check_bart_config
from cimgen.io.checkpoints import load_checkpoint, load_module, resolve_checkpoint
from cimgen.models.detectors import DetectorConfig, build_detector, load_torchvision_weights
from cimgen.models.limits import check_checkpoint_config
from cimgen.train.batchnorm import sync_batch_norm
from cimgen.train.cyclegan import prepare_run
from cimgen.train.limits import check_training_numbers
from cimgen.train.loop import LoopConfig, check_loop_config, make_runtime, resume_point, train
from cimgen.train.runtime import Runtime

MODEL_NAME = "detector"
# Code (paper): plain (the detector), bart (BaRT re-training), at (adversarial training), bart+at (proposed, not run in the paper).
MODES = ("plain", "bart", "at", "bart+at")


@dataclass(frozen=True)
class DetectorOptimConfig:
    """Adam settings."""

    lr: float = 1e-4
    """Learning rate."""
    beta1: float = 0.9
    """Adam beta1."""
    beta2: float = 0.999
    """Adam beta2."""
    weight_decay: float = 0.0
    """L2 weight decay."""


def _detector_loop() -> LoopConfig:
    return LoopConfig(epochs=10, decay_epochs=0, batch_size=64, schedule="constant", checkpoint_every=1, sample_every=1)


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Everything a detector training run needs; saved as ``config.yaml`` in the run folder."""

    data: str = ""
    """A patch dataset folder (``cimgen detect dataset``)."""
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    """The network (see ``cimgen.models.detectors.DETECTORS``)."""
    mode: str = "plain"
    """plain, bart, at (PGD adversarial training) or bart+at."""
    bart: BartConfig = field(default_factory=BartConfig)
    """BaRT's probability, operations and strength ranges (modes bart and bart+at)."""
    attack: AttackConfig = field(default_factory=AttackConfig)
    """PGD's bound, steps and step size (modes at and bart+at)."""
    optim: DetectorOptimConfig = field(default_factory=DetectorOptimConfig)
    """Adam."""
    init_weights: str = ""
    """A torchvision ResNet weights file (e.g. ImageNet resnet50) to start a ResNet from; its fc layer is replaced."""
    val_batch_size: int = 256
    """Patches per batch when validating."""
    sync_batchnorm: bool = True
    """Under DDP on GPUs, batch norm uses statistics over all processes (SyncBatchNorm); on CPUs it stays per process."""
    loop: LoopConfig = field(default_factory=_detector_loop)
    """Schedule and bookkeeping (10 epochs at a constant rate, batch 64, a checkpoint every epoch)."""


def resolve_config(raw: dict) -> DetectorTrainConfig:
    """The typed config from a nested dict, every option checked."""
    raw = json.loads(json.dumps(mapping(raw)))
    base = to_dict(_detector_loop())
    raw["loop"] = {**base, **section(raw, "loop")}
    cfg = from_dict(DetectorTrainConfig, raw)
    if cfg.mode not in MODES:
        raise CimgenError(f"mode must be one of {', '.join(MODES)}, got '{cfg.mode}'")
    if not cfg.data:
        raise CimgenError("name the patch dataset to train on (data: or --data)")
    check_training_numbers(cfg, (("detector", 1),))  # sizes bounded before the detector is built
    build_detector(cfg.detector)  # unknown architecture or sizes fail here
    check_bart_config(cfg.bart)
    check_attack(cfg.attack)
    check_loop_config(cfg.loop)
    if cfg.optim.lr <= 0:
        raise CimgenError(f"optim.lr must be positive, got {cfg.optim.lr}")
    return cfg


class DetectorRecipe:
    """One network, one Adam optimiser, one update phase that post-processes and/or attacks the batch first."""

    best_key = AUC

    def __init__(self, cfg: DetectorTrainConfig, runtime: Runtime, val: PatchDataset | None):
        self.cfg = cfg
        self.runtime = rt = runtime
        torch.manual_seed(cfg.loop.seed)
        net = build_detector(cfg.detector)
        if cfg.init_weights:
            load_torchvision_weights(net, cfg.init_weights)
        nets, self._batch_norm_note = sync_batch_norm({"detector": net}, rt, enabled=cfg.sync_batchnorm)
        self.networks: dict[str, nn.Module] = {"detector": rt.prepare(nets["detector"])}
        self.detector = self.networks["detector"]
        self.train_net = rt.wrap(self.detector)
        self.base_lr = cfg.optim.lr
        self.optimizers = {
            "detector": rt.adam(
                self.detector.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2), weight_decay=cfg.optim.weight_decay
            )
        }
        # BaRT draws and PGD starts come from their own generator (seeded per process), saved for exact resume.
        self.generator = torch.Generator(device=rt.device).manual_seed(cfg.loop.seed * 7919 + rt.rank + 1)
        self.val = val
        self._shown: torch.Tensor | None = None

    def prepare_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch as the network trains on it: [0, 1] patches after BaRT and/or PGD, and the labels."""
        rt, mode = self.runtime, self.cfg.mode
        x = to_unit(batch["patch"], rt.device)
        y = batch["label"].to(rt.device).float()
        if mode in ("bart", "bart+at"):
            x = bart(x, self.cfg.bart, self.generator)
        if mode in ("at", "bart+at"):
            # The attack sees the network as validation does (batch-norm statistics frozen), as in Madry et al.'s code.
            was = self.detector.training
            self.detector.eval()
            try:
                pick = self._attacked(len(x))
                x = x.clone()
                x[pick] = pgd(self.detector, x[pick], y[pick], self.cfg.attack, generator=self.generator, autocast=rt.autocast)
            finally:
                self.detector.train(was)
        return x, y

    def _attacked(self, n: int) -> torch.Tensor:
        """Indices of the samples PGD replaces: all of them, or a random ``attack.fraction`` of the batch."""
        fraction = self.cfg.attack.fraction
        if fraction >= 1.0:
            return torch.arange(n, device=self.runtime.device)
        k = max(1, round(fraction * n))
        return torch.randperm(n, generator=self.generator, device=self.runtime.device)[:k]

    def step(self, batch: dict) -> dict[str, float]:
        rt = self.runtime
        x, y = self.prepare_batch(batch)
        self.detector.train()
        with rt.autocast():
            logits = self.train_net(rt.input(x * 2 - 1))
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        rt.step(loss, self.optimizers["detector"])
        self._shown = x[:16].detach()
        acc = ((logits.detach().float() >= 0) == (y >= 0.5)).float().mean()
        return {"loss": loss.item(), "acc": acc.item()}

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        return [self.step]

    def on_epoch_start(self, epoch: int) -> str | None:
        """How batch norm runs under DDP, once per process start (the loop writes it to the run's log)."""
        note, self._batch_norm_note = self._batch_norm_note, None
        return note

    def validate(self) -> dict[str, float]:
        """AUC, accuracy and loss on the validation split (clean patches)."""
        if self.val is None:
            return {}
        with self.runtime.autocast():
            probs = predict_patches(self.detector, self.val.patches, batch_size=self.cfg.val_batch_size, device=self.runtime.device)
        m = patch_metrics(probs, self.val.labels)
        return {AUC: m[AUC], ACCURACY: m[ACCURACY], "loss": m["loss"]}

    @torch.no_grad()
    def sample_grid(self, batch: dict) -> np.ndarray:
        """The first patches of the epoch's last batch as the network saw them (after BaRT/PGD), framed by their label: green pristine, red generated."""
        x = self._shown if self._shown is not None else to_unit(batch["patch"][:16])
        y = batch["label"][: len(x)]
        tiles = []
        for i in range(len(x)):
            t = (x[i].float().cpu().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            colour = (200, 40, 40) if y[i] >= 0.5 else (40, 170, 60)
            tiles.append(np.pad(t, ((3, 3), (3, 3), (0, 0)), constant_values=0) + 0)
            tiles[-1][:3], tiles[-1][-3:], tiles[-1][:, :3], tiles[-1][:, -3:] = colour, colour, colour, colour
        while len(tiles) % 8:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.concatenate(tiles[r : r + 8], 1) for r in range(0, len(tiles), 8)]
        return np.concatenate(rows, 0)

    def checkpoint_config(self) -> dict:
        return {"model": MODEL_NAME, "detector": to_dict(self.cfg.detector), "mode": self.cfg.mode}

    def extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def run_detector(
    cfg: DetectorTrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> Path:
    """Train a detector; returns the last checkpoint folder (the best one is ``run_dir/best``).

    Args:
        cfg: the run's options.
        run_dir: the run folder.
        resume: continue the run in ``run_dir`` from its newest checkpoint.
        init_from: a detector checkpoint to start from (e.g. a plain detector re-trained with BaRT, as in the paper).
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar.
    """

    cfg = resolve_config(to_dict(cfg))
    info = read_dataset_info(cfg.data)
    if int(info["patch_size"]) != cfg.detector.patch_size:
        raise CimgenError(f"the dataset's patches are {info['patch_size']} px but the detector takes {cfg.detector.patch_size} px")
    train_set, val_set = PatchDataset(cfg.data, "train"), PatchDataset(cfg.data, "val")
    runtime = make_runtime(cfg.loop)
    resume = resume_point(run_dir, resume)  # after the runtime: under DDP its barriers need the process group
    recipe = DetectorRecipe(cfg, runtime, val_set)
    if init_from is not None and not resume:
        ckpt_cfg, tensors = load_checkpoint(init_from)
        check_detector_config(ckpt_cfg, str(init_from))
        check_checkpoint_config(ckpt_cfg, str(init_from))
        if ckpt_cfg["detector"] != to_dict(cfg.detector):
            raise CimgenError(f"{init_from} holds another detector architecture than the options give; start from a matching one")
        load_module(recipe.detector, tensors, "detector", source=str(init_from))
    identity = {"detector": to_dict(cfg.detector), "mode": cfg.mode}
    extra = {"init_from": str(init_from)} if init_from is not None else None
    run_dir = prepare_run(cfg, run_dir, resume=resume, model=MODEL_NAME, identity=identity, extra=extra)
    if echo and runtime.is_main:
        echo(
            f"training a {cfg.detector.arch} detector ({cfg.mode}) on {len(train_set)} patches, validating on {len(val_set)}, "
            f"on {runtime.device} -> {run_dir}"
        )
    return train(recipe, train_set, run_dir, cfg.loop, resume=resume, echo=echo, progress=progress)


def check_detector_config(ckpt_cfg: dict, source: str) -> None:
    """One sentence when a checkpoint holds something other than a detector."""
    model = ckpt_cfg.get("model")
    if model != MODEL_NAME:
        raise CimgenError(f"{source} holds a '{model}' model, not a detector; train one with 'cimgen detect train'")
    if not isinstance(ckpt_cfg.get("detector"), dict):
        raise CimgenError(f'{source} is a detector checkpoint without its architecture (no "detector" entry in config.json)')


def detector_checkpoint(path: str | Path) -> Path:
    """The checkpoint a path names: a checkpoint folder, or a run's ``best/`` (else its newest checkpoint)."""
    path = Path(path)
    if (path / "best" / "config.json").is_file():
        return path / "best"
    return resolve_checkpoint(path)


def load_detector(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """A trained detector in eval mode and its checkpoint config; a run folder gives its best epoch."""
    folder = detector_checkpoint(path)
    ckpt_cfg, tensors = load_checkpoint(folder)
    check_detector_config(ckpt_cfg, str(folder))
    check_checkpoint_config(ckpt_cfg, str(folder))
    dcfg = from_dict(DetectorConfig, ckpt_cfg["detector"], where=f"{folder}/config.json detector")
    net = build_detector(dcfg)
    load_module(net, tensors, "detector", source=str(folder))
    return net.to(device).eval(), ckpt_cfg
