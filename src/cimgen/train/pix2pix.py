"""The pix2pix recipe: a conditional GAN with an L1 term translates aligned image pairs (Isola et al. 2017).

Facts from junyanz/pytorch-CycleGAN-and-pix2pix (``models/pix2pix_model.py``, ``options/``): G is
unet_256 with batch norm and dropout; D is the 70x70 PatchGAN with batch norm on the input and
output images stacked (in + out channels); the adversarial loss is vanilla (binary
cross-entropy); lambda_L1 = 100; no image pool (pool_size 0); Adam lr 2e-4, beta1 0.5. Each step
updates D first, on G(a) detached and on the real pair, with 0.5 * (fake + real), then G on
GAN + lambda_L1 * |G(a) - b|. ``direction`` AtoB or BtoA picks which side of the pairs is the
input (``--direction``). Shared pieces (network options, run folder, loading, translating) come
from ``cimgen.train.cyclegan``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cimgen.config import from_dict, mapping, to_dict
from cimgen.data.unaligned import AlignedDataConfig, AlignedDataset
from cimgen.errors import CimgenError
from cimgen.io.images import tensor_to_image
from cimgen.losses.adversarial import generator_loss
from cimgen.models.cyclegan import NetworkConfig, build_network
from cimgen.models.official import RESNET_NAMES, UNET_NAMES, generator_spec
from cimgen.train.cyclegan import (
    DIRECTIONS,
    IMAGE_CHANNELS,
    OptimConfig,
    check_common_options,
    check_loss_options,
    check_model,
    check_network_sizes,
    discriminator_step_loss,
    init_normal_,
    load_init,
    pool_seed,
    prepare_run,
    resolve_network,
)
from cimgen.train.image_pool import ImagePool
from cimgen.train.loop import LoopConfig, make_runtime, resume_point, train
from cimgen.train.memory import MemoryReport, measure_training_memory
from cimgen.train.runtime import Runtime, eval_mode

MODEL_NAME = "pix2pix"

# junyanz's pix2pix sets norm 'batch' for both networks and keeps dropout on (no_dropout is False).
GENERATOR_DEFAULTS = {"norm": "batch", "dropout": True}
DISCRIMINATOR_DEFAULTS = {"norm": "batch"}


@dataclass(frozen=True)
class Pix2PixLossConfig:
    """Loss terms and weights."""

    gan: str = "vanilla"
    """Adversarial loss: vanilla (pix2pix default), lsgan, hinge, or wgangp (adds the gradient penalty; wants a D without batch norm)."""
    lambda_l1: float = 100.0
    """Weight of the L1 distance between G(input) and the target (lambda_L1); 0 leaves it out."""
    lambda_gp: float = 10.0
    """Weight of the gradient penalty, used only with gan wgangp."""


@dataclass(frozen=True)
class Pix2PixConfig:
    """Everything a pix2pix training run needs; saved as ``config.yaml`` in the run folder."""

    data: AlignedDataConfig = field(default_factory=AlignedDataConfig)
    """The aligned image pairs."""
    direction: str = "AtoB"
    """AtoB: translate the pairs' A images into their B images; BtoA: the other way (direction)."""
    generator: NetworkConfig = field(default_factory=lambda: NetworkConfig(name="unet_256"))
    """G, from the CycleGAN/pix2pix registry."""
    discriminator: NetworkConfig = field(default_factory=lambda: NetworkConfig(name="basic"))
    """D; it sees input and output stacked, so its in_channels is 6."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimisers."""
    loss: Pix2PixLossConfig = field(default_factory=Pix2PixLossConfig)
    """Loss terms."""
    pool_size: int = 0
    """Generated pairs kept for D (0 in pix2pix: D sees only the latest)."""
    init_gain: float = 0.02
    """Standard deviation of the N(0, gain) weight initialisation (init_type normal, init_gain); 0 keeps PyTorch's default."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Schedule and bookkeeping."""


def resolve_config(raw: dict) -> Pix2PixConfig:
    """Build the typed config from a nested dict: names checked against the registries, channels derived, options filled in."""
    raw = json.loads(json.dumps(mapping(raw)))  # deep copy
    rgb = (IMAGE_CHANNELS, "pix2pix translates RGB images")
    pair = (2 * IMAGE_CHANNELS, "D sees the input and output images stacked")
    raw["generator"] = resolve_network(
        "generator",
        raw.get("generator"),
        default_name="unet_256",
        defaults=GENERATOR_DEFAULTS,
        fixed={"in_channels": rgb, "out_channels": rgb},
    )
    raw["discriminator"] = resolve_network(
        "discriminator", raw.get("discriminator"), default_name="basic", defaults=DISCRIMINATOR_DEFAULTS, fixed={"in_channels": pair}
    )
    cfg = from_dict(Pix2PixConfig, raw)
    if cfg.direction not in DIRECTIONS:
        raise CimgenError(f"direction must be AtoB or BtoA, got '{cfg.direction}'")
    check_loss_options(cfg.loss.gan, {"lambda_l1": cfg.loss.lambda_l1, "lambda_gp": cfg.loss.lambda_gp})
    check_common_options(cfg)
    return cfg


# Generators written by `cimgen import-official` from junyanz files, which pix2pix fine-tunes.
IMPORTED_KINDS = ("junyanz-unet", "junyanz-resnet")


def as_pix2pix_config(ckpt_cfg: dict, direction: str = "AtoB") -> dict:
    """A checkpoint config written by ``cimgen import-official`` from a junyanz generator (and discriminator), seen as a
    pix2pix one: the registry names and options of its networks, and the direction asked for (the file does not record
    one). Other configs are returned unchanged."""

    if ckpt_cfg.get("model") not in IMPORTED_KINDS:
        return ckpt_cfg
    g = ckpt_cfg["generator"]
    spec = generator_spec(g)
    if spec is None:
        raise CimgenError(
            f"the imported generator ({g}) is none of {', '.join([*UNET_NAMES.values(), *RESNET_NAMES.values()])}; pix2pix cannot fine-tune it"
        )
    d = ckpt_cfg.get("discriminator") or {"name": "basic", "options": {}}
    d = {"name": d["name"], "options": {k: v for k, v in d["options"].items() if k != "in_channels"}}
    if ckpt_cfg.get("discriminator") and ckpt_cfg["discriminator"]["options"].get("in_channels") != 2 * IMAGE_CHANNELS:
        raise CimgenError(
            f"the imported discriminator sees {ckpt_cfg['discriminator']['options'].get('in_channels')} channels; pix2pix's sees the input "
            f"and output images stacked ({2 * IMAGE_CHANNELS}), so it is a CycleGAN D and cannot be fine-tuned here"
        )
    return {**ckpt_cfg, "model": MODEL_NAME, "direction": direction, "generator": spec, "discriminator": d}


def finetune_config(ckpt_cfg: dict, overrides: dict) -> Pix2PixConfig:
    """A fine-tuning config: the checkpoint's networks and direction, everything else from ``overrides``."""
    for key in ("generator", "discriminator"):
        if key in overrides:
            raise CimgenError(f"fine-tuning keeps the checkpoint's {key}; remove '{key}' from the options")
    ckpt_cfg = as_pix2pix_config(ckpt_cfg, overrides.get("direction", "AtoB"))
    check_model(ckpt_cfg, MODEL_NAME, "to fine-tune")
    direction = overrides.get("direction", ckpt_cfg.get("direction", "AtoB"))
    if direction != ckpt_cfg.get("direction", "AtoB"):
        raise CimgenError(
            f"the checkpoint translates {ckpt_cfg.get('direction')}; fine-tuning it {direction} would start from the wrong side"
        )
    raw = {**overrides, "direction": direction, "generator": ckpt_cfg["generator"], "discriminator": ckpt_cfg["discriminator"]}
    return resolve_config(raw)


class Pix2PixRecipe:
    """Networks, optimizers and the D and G update phases of pix2pix."""

    def __init__(self, cfg: Pix2PixConfig, runtime: Runtime):
        self.cfg = cfg
        self.runtime = rt = runtime
        torch.manual_seed(cfg.loop.seed)
        nets = {"generator": build_network("generator", cfg.generator), "discriminator": build_network("discriminator", cfg.discriminator)}
        if cfg.init_gain > 0:
            for net in nets.values():
                init_normal_(net, cfg.init_gain)
        self.networks: dict[str, nn.Module] = {k: rt.prepare(v) for k, v in nets.items()}
        self.generator, self.discriminator = self.networks["generator"], self.networks["discriminator"]
        self.g_train = rt.wrap(self.generator)
        self.d_train = rt.wrap(self.discriminator)
        # G's loss needs no gradients for D's weights: it calls D without DDP (the replicas are identical anyway).
        self.d_frozen = rt.wrap(self.discriminator, ddp=False)
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.base_lr = cfg.optim.lr
        self.optimizers = {
            "generator": rt.adam(self.generator.parameters(), lr=cfg.optim.lr, betas=betas),
            "discriminator": rt.adam(self.discriminator.parameters(), lr=cfg.optim.lr, betas=betas),
        }
        self.pool = ImagePool(cfg.pool_size, seed=pool_seed(cfg.loop.seed, rt.rank, 0))
        self._cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) by direction."""
        a, b = self.runtime.input(batch["A"]), self.runtime.input(batch["B"])
        return (a, b) if self.cfg.direction == "AtoB" else (b, a)

    def d_step(self, batch: dict) -> dict[str, float]:
        rt, c = self.runtime, self.cfg.loss
        source, target = self._inputs(batch)
        with rt.autocast():
            # One generator forward serves both steps: D trains on it detached, G backpropagates through it.
            fake = self.g_train(source)
        self._cache = (source, target, fake)
        fake_pair = self.pool.query(torch.cat([source, fake.detach()], 1))
        with rt.autocast():
            loss, parts = discriminator_step_loss(
                self.d_train, torch.cat([source, target], 1), fake_pair, mode=c.gan, lambda_gp=c.lambda_gp
            )
        rt.step(loss, self.optimizers["discriminator"])
        return {f"d_{k}": v.item() for k, v in parts.items()}

    def g_step(self, batch: dict) -> dict[str, float]:
        if self._cache is None:
            raise RuntimeError("g_step runs after d_step on the same batch")
        source, target, fake = self._cache
        self._cache = None
        rt, c = self.runtime, self.cfg.loss
        self.discriminator.requires_grad_(False)
        try:
            with rt.autocast():
                loss_gan = generator_loss(self.d_frozen(torch.cat([source, fake], 1)), mode=c.gan)
                losses = {"g_gan": loss_gan}
                if c.lambda_l1:
                    losses["g_l1"] = torch.nn.functional.l1_loss(fake.float(), target.float()) * c.lambda_l1
                loss = sum(losses.values())
            rt.step(loss, self.optimizers["generator"])
        finally:
            self.discriminator.requires_grad_(True)
        return {k: v.item() for k, v in losses.items()}

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        # junyanz's optimize_parameters for pix2pix: D first, then G, on one forward pass.
        return [self.d_step, self.g_step]

    @torch.no_grad()
    def sample_grid(self, batch: dict) -> np.ndarray:
        """Rows of (input | generated | target) for up to four items of the batch."""
        source, target = self._inputs(batch)
        with eval_mode(self.generator), self.runtime.autocast():
            fake = self.generator(source)
        rows = []
        for i in range(min(4, source.shape[0])):
            rows.append(np.concatenate([tensor_to_image(t[i].float()) for t in (source, fake, target)], 1))
        return np.concatenate(rows, 0)

    def checkpoint_config(self) -> dict:
        return {
            "model": MODEL_NAME,
            "direction": self.cfg.direction,
            "generator": to_dict(self.cfg.generator),
            "discriminator": to_dict(self.cfg.discriminator),
        }

    def extra_state(self) -> dict:
        """The image pool (empty unless pool_size > 0), which exact resume needs."""
        return {"pool": self.pool.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.pool.load_state_dict(state["pool"])


def run_pix2pix(
    cfg: Pix2PixConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
    measure_memory: bool = False,
) -> Path | MemoryReport:
    """Train (or fine-tune, with ``init_from``) a pix2pix model; returns the last checkpoint folder.

    Args:
        cfg: the run's options (resolved again here, so every network option is on record).
        run_dir: the run folder.
        resume: continue the run in ``run_dir`` from its newest checkpoint.
        init_from: a pix2pix checkpoint (or run folder) to start both networks from.
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar.
        measure_memory: measure two training steps' peak memory instead (``cimgen train --memory``); nothing is written.
    """
    cfg = resolve_config(to_dict(cfg))
    runtime = make_runtime(cfg.loop)
    resume = resume_point(run_dir, resume)  # after the runtime: under DDP its barriers need the process group
    dataset = AlignedDataset(cfg.data, training=True, seed=cfg.loop.seed)
    multiple = check_network_sizes(cfg.generator, cfg.discriminator, cfg.data.load_size, cfg.data.crop_size)
    dataset.check_all(size_multiple=multiple)  # bad pairs fail here, before any output is written
    recipe = Pix2PixRecipe(cfg, runtime)
    if init_from is not None and not resume:
        load_init(init_from, MODEL_NAME, recipe.networks, imported=IMPORTED_KINDS, echo=echo if runtime.is_main else None)
    if measure_memory:
        return measure_training_memory(recipe, dataset, cfg.loop.batch_size, epoch=cfg.loop.epochs + cfg.loop.decay_epochs - 1)
    identity = {"direction": cfg.direction, "generator": to_dict(cfg.generator), "discriminator": to_dict(cfg.discriminator)}
    extra = {"init_from": str(init_from)} if init_from is not None else None
    run_dir = prepare_run(cfg, run_dir, resume=resume, model=MODEL_NAME, identity=identity, extra=extra)
    if echo and runtime.is_main:
        echo(
            f"training pix2pix ({cfg.direction}) on {len(dataset)} pairs from {cfg.data.root} "
            f"on {runtime.device} ({runtime.precision}) -> {run_dir}"
        )
    return train(recipe, dataset, run_dir, cfg.loop, resume=resume, echo=echo, progress=progress)
