"""The pix2pixHD recipe: conditional multi-scale LSGAN with feature matching, pretraining and fine-tuning.

Losses follow NVIDIA/pix2pixHD (``models/pix2pixHD_model.py``): D sees (label, image) pairs;
D loss = 0.5 * (fake + real); G loss = GAN + lambda_feat * feature matching (lambda_feat 10);
Adam with lr 2e-4 and beta1 0.5. The VGG perceptual term comes with the model-zoo work; until
then an optional L1 reconstruction term (``loss.lambda_l1``, pix2pix's) can stand in for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml

from cimgen.config import from_dict, to_dict
from cimgen.data.paired import DataConfig, PairedDataset, one_hot
from cimgen.data.palette import Palette
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_module
from cimgen.io.images import tensor_to_image, write_text
from cimgen.losses.adversarial import GAN_LOSSES, gan_loss
from cimgen.losses.feature_matching import feature_matching_loss
from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig, MultiscaleDiscriminator, MultiscaleDiscriminatorConfig
from cimgen.train.loop import LoopConfig, resolve_device, train

MODEL_NAME = "pix2pixhd"


@dataclass(frozen=True)
class OptimConfig:
    """Adam settings (pix2pixHD: lr 2e-4, beta1 0.5)."""

    lr: float = 2e-4
    """Initial learning rate of G and D."""
    beta1: float = 0.5
    """Adam beta1."""
    beta2: float = 0.999
    """Adam beta2."""


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights."""

    gan: str = "lsgan"
    """Adversarial loss: lsgan (pix2pixHD default) or vanilla."""
    lambda_feat: float = 10.0
    """Weight of discriminator feature matching."""
    lambda_l1: float = 0.0
    """Weight of an L1 reconstruction term (pix2pix uses 100); 0 keeps pix2pixHD's objective."""


@dataclass(frozen=True)
class Pix2PixHDConfig:
    """Everything a pix2pixHD training run needs; saved as ``config.yaml`` in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    """The paired dataset."""
    generator: GlobalGeneratorConfig = field(default_factory=GlobalGeneratorConfig)
    """Generator sizes; in_channels is set from data.label_nc."""
    discriminator: MultiscaleDiscriminatorConfig = field(default_factory=MultiscaleDiscriminatorConfig)
    """Discriminator sizes; in_channels is set from data.label_nc and the image channels."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss terms."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Schedule and bookkeeping."""


def resolve_config(raw: dict) -> Pix2PixHDConfig:
    """Build the typed config from a nested dict and derive the network input channels."""
    raw = json.loads(json.dumps(raw))  # deep copy
    label_nc = raw.get("data", {}).get("label_nc", DataConfig().label_nc)
    for key, want in (("generator", label_nc), ("discriminator", label_nc + 3)):
        given = raw.get(key, {}).get("in_channels")
        if given is not None and given != want:
            raise CimgenError(f"{key}.in_channels is derived from data.label_nc ({want}); remove it or set it to {want}")
        raw.setdefault(key, {})["in_channels"] = want
    cfg = from_dict(Pix2PixHDConfig, raw)
    if cfg.loss.gan not in GAN_LOSSES:
        raise CimgenError(f"loss.gan must be one of {', '.join(GAN_LOSSES)}, got '{cfg.loss.gan}'")
    m = cfg.generator.size_multiple
    if cfg.data.crop_size and cfg.data.crop_size % m:
        raise CimgenError(f"data.crop_size must be a multiple of {m} for this generator, got {cfg.data.crop_size}")
    if cfg.data.label_nc < 1:
        raise CimgenError("data.label_nc must be at least 1")
    return cfg


class Pix2PixHDRecipe:
    """Networks, optimizers and the D and G update phases of pix2pixHD."""

    def __init__(self, cfg: Pix2PixHDConfig, palette: Palette, device: torch.device):
        self.cfg = cfg
        self.palette = palette
        self.device = device
        torch.manual_seed(cfg.loop.seed)
        self.generator = GlobalGenerator(cfg.generator).to(device)
        self.discriminator = MultiscaleDiscriminator(cfg.discriminator).to(device)
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.base_lr = cfg.optim.lr
        self.optimizers = {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=cfg.optim.lr, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=cfg.optim.lr, betas=betas),
        }
        self._step_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        label = one_hot(batch["label"].to(self.device), self.cfg.data.label_nc)
        return label, batch["image"].to(self.device)

    def d_step(self, batch: dict) -> dict[str, float]:
        label, real = self._inputs(batch)
        # One generator forward serves both steps: D trains on it detached, G backpropagates through it.
        fake = self.generator(label)
        self._step_cache = (label, real, fake)
        mode = self.cfg.loss.gan
        pred_fake = self.discriminator(torch.cat([label, fake.detach()], 1))
        pred_real = self.discriminator(torch.cat([label, real], 1))
        loss_fake, loss_real = gan_loss(pred_fake, False, mode=mode), gan_loss(pred_real, True, mode=mode)
        loss = 0.5 * (loss_fake + loss_real)
        opt = self.optimizers["discriminator"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"d_real": loss_real.item(), "d_fake": loss_fake.item()}

    def g_step(self, batch: dict) -> dict[str, float]:
        if self._step_cache is None:
            raise RuntimeError("g_step runs after d_step on the same batch")
        label, real, fake = self._step_cache
        self._step_cache = None
        self.discriminator.requires_grad_(False)  # G's loss needs no gradients for D's weights
        try:
            pred_fake = self.discriminator(torch.cat([label, fake], 1))
            with torch.no_grad():
                pred_real = self.discriminator(torch.cat([label, real], 1))
            loss_gan = gan_loss(pred_fake, True, mode=self.cfg.loss.gan)
            loss_feat = feature_matching_loss(pred_fake, pred_real) * self.cfg.loss.lambda_feat
            loss = loss_gan + loss_feat
            losses = {"g_gan": loss_gan.item(), "g_feat": loss_feat.item()}
            if self.cfg.loss.lambda_l1:
                loss_l1 = torch.nn.functional.l1_loss(fake, real) * self.cfg.loss.lambda_l1
                loss = loss + loss_l1
                losses["g_l1"] = loss_l1.item()
            opt = self.optimizers["generator"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        finally:
            self.discriminator.requires_grad_(True)
        return losses

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        return [self.d_step, self.g_step]

    @torch.no_grad()
    def sample_grid(self, batch: dict) -> np.ndarray:
        """Rows of (colour map | generated | real) for up to four images of the batch."""
        self.generator.eval()
        label, real = self._inputs(batch)
        fake = self.generator(label)
        self.generator.train()
        lut = np.asarray(self.palette.colors, np.uint8)
        rows = []
        for i in range(min(4, label.shape[0])):
            cmap = lut[np.clip(batch["label"][i].numpy(), 0, len(lut) - 1)]
            rows.append(np.concatenate([cmap, tensor_to_image(fake[i]), tensor_to_image(real[i])], 1))
        return np.concatenate(rows, 0)

    def checkpoint_config(self) -> dict:
        return {
            "model": MODEL_NAME,
            "label_nc": self.cfg.data.label_nc,
            "palette": self.palette.to_dict(),
            "generator": to_dict(self.cfg.generator),
            "discriminator": to_dict(self.cfg.discriminator),
        }


def prepare_run(cfg: Pix2PixHDConfig, run_dir: str | Path, *, resume: bool, extra: dict | None = None) -> Path:
    """Check the run folder and write the resolved config into it.

    When resuming, the run's newest checkpoint must hold the same networks; the config is then
    rewritten, so that options changed on resume (for example more epochs) are on record.
    """
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / "checkpoints").is_dir():
            raise CimgenError(f"{run_dir} has no checkpoints to resume from")
        saved, _ = load_checkpoint(run_dir)
        check_compatible(saved, cfg, str(run_dir))
        for key, ours in (("generator", cfg.generator), ("discriminator", cfg.discriminator)):
            if saved.get(key) != to_dict(ours):
                raise CimgenError(f"the checkpoints in {run_dir} hold another {key} than the options given; resume with the run's own settings")
    elif (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise CimgenError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if extra:
        text += yaml.safe_dump(extra, sort_keys=False)
    write_text(run_dir / "config.yaml", text)
    return run_dir


def run_pix2pixhd(
    cfg: Pix2PixHDConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
) -> Path:
    """Train (or fine-tune, with ``init_from``) a pix2pixHD model; returns the last checkpoint folder."""
    device = resolve_device(cfg.loop.device)
    if cfg.loop.threads:
        torch.set_num_threads(cfg.loop.threads)
    dataset = PairedDataset(cfg.data, training=True, seed=cfg.loop.seed)
    dataset.check_all()  # bad pairs fail here, before any output is written
    init = None
    if init_from is not None and not resume:
        init = load_checkpoint(init_from)
        check_compatible(init[0], cfg, str(init_from))
    recipe = Pix2PixHDRecipe(cfg, dataset.palette, device)
    if init is not None:
        for name, net in recipe.networks.items():
            load_module(net, init[1], name, source=str(init_from))
    extra = {"init_from": str(init_from)} if init_from is not None else None
    run_dir = prepare_run(cfg, run_dir, resume=resume, extra=extra)
    if echo:
        echo(f"training pix2pixHD on {len(dataset)} pairs from {cfg.data.root} on {device} -> {run_dir}")
    return train(recipe, dataset, run_dir, cfg.loop, resume=resume, echo=echo, progress=progress)


def check_compatible(ckpt_cfg: dict, cfg: Pix2PixHDConfig, source: str) -> None:
    """Fail in one sentence when a checkpoint was made for another model or class count."""
    if ckpt_cfg.get("model") != MODEL_NAME:
        raise CimgenError(f"checkpoint {source} holds a '{ckpt_cfg.get('model')}' model, not {MODEL_NAME}")
    if ckpt_cfg.get("label_nc") != cfg.data.label_nc:
        raise CimgenError(f"checkpoint {source} was trained with {ckpt_cfg.get('label_nc')} classes but data.label_nc is {cfg.data.label_nc}")


def finetune_config(ckpt_cfg: dict, overrides: dict) -> Pix2PixHDConfig:
    """A fine-tuning config: the checkpoint's architecture and classes, the rest from ``overrides``."""
    for key in ("generator", "discriminator"):
        if key in overrides:
            raise CimgenError(f"fine-tuning keeps the checkpoint's {key}; remove '{key}' from the options")
    raw = dict(overrides)
    raw["generator"] = {k: v for k, v in ckpt_cfg["generator"].items() if k != "in_channels"}
    raw["discriminator"] = {k: v for k, v in ckpt_cfg["discriminator"].items() if k != "in_channels"}
    data = dict(raw.get("data", {}))
    given_nc = data.get("label_nc")
    if given_nc is not None and given_nc != ckpt_cfg["label_nc"]:
        raise CimgenError(f"the checkpoint has {ckpt_cfg['label_nc']} classes but data.label_nc is {given_nc}")
    data["label_nc"] = ckpt_cfg["label_nc"]
    raw["data"] = data
    return resolve_config(raw)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[GlobalGenerator, dict]:
    """A generator ready for inference, and its checkpoint config (which holds label_nc and the palette)."""
    config, tensors = load_checkpoint(path)
    if config.get("model") != MODEL_NAME:
        raise CimgenError(f"checkpoint {path} holds a '{config.get('model')}' model, not {MODEL_NAME}")
    try:
        gcfg = from_dict(GlobalGeneratorConfig, config["generator"], where="checkpoint generator config")
    except KeyError:
        raise CimgenError(f"checkpoint {path} has no generator config") from None
    gen = GlobalGenerator(gcfg)
    load_module(gen, tensors, "generator", source=str(path))
    return gen.to(device).eval(), config


@torch.no_grad()
def generate(generator: GlobalGenerator, labels: np.ndarray, label_nc: int, device: str | torch.device = "cpu") -> np.ndarray:
    """Render an HxW label map to an HxWx3 uint8 image, padding to the generator's size multiple."""
    from cimgen.data.palette import check_labels

    check_labels(labels, label_nc)
    m = generator.config.size_multiple
    h, w = labels.shape
    ph, pw = (-h) % m, (-w) % m
    lab = np.pad(labels, ((0, ph), (0, pw)), mode="reflect") if (ph or pw) else labels
    x = one_hot(torch.from_numpy(np.ascontiguousarray(lab)).long()[None].to(device), label_nc)
    out = generator(x)[..., :h, :w]
    return tensor_to_image(out)


def renderer(generator: GlobalGenerator, label_nc: int, device: str | torch.device = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """A labels -> image callable for ``cimgen.edit.pipeline.manipulate``."""
    return lambda labels: generate(generator, labels, label_nc, device)
