"""The CycleGAN recipe: two generators and two PatchGAN discriminators learn a translation from unpaired images.

Facts from junyanz/pytorch-CycleGAN-and-pix2pix (``models/cycle_gan_model.py``, ``models/networks.py``,
``options/train_options.py``): G_A maps domain A to B and G_B maps B to A; D_A judges B-domain
images and D_B judges A-domain images. Each step updates both generators first (D's gradients
switched off), then both discriminators on fakes drawn through a 50-image pool. G's loss is
GAN(D_A(G_A(a))) + GAN(D_B(G_B(b))) + lambda_A |G_B(G_A(a)) - a| + lambda_B |G_A(G_B(b)) - b| +
lambda_identity (lambda_B |G_A(b) - b| + lambda_A |G_B(a) - a|), with lambda_A = lambda_B = 10
and lambda_identity = 0.5; D's loss is 0.5 * (real + fake) per discriminator. One Adam
(lr 2e-4, beta1 0.5) holds both generators, another both discriminators. Default networks are
resnet_9blocks and the 70x70 PatchGAN with instance norm; weights start from N(0, 0.02).
The adversarial loss is LSGAN by default; vanilla, wgangp and hinge are options. junyanz defines
the WGAN-GP penalty (``cal_gradient_penalty``) but its CycleGAN model never calls it; here
``wgangp`` adds it to each discriminator's loss, since WGAN without it has no Lipschitz constraint.

The same file holds what the junyanz-family recipes share (network options by registry name,
the run folder, loading a trained generator and translating an image); ``train/pix2pix.py``
imports them.
"""

from __future__ import annotations

import inspect
import itertools
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from cimgen.config import from_dict, mapping, to_dict
from cimgen.data.unaligned import UnalignedDataConfig, UnalignedDataset, check_sizes
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, read_config
from cimgen.io.images import tensor_to_image, write_text
from cimgen.losses.adversarial import GAN_MODES, discriminator_loss, generator_loss
from cimgen.losses.gradient_penalty import gradient_penalty
from cimgen.losses.reconstruction import cycle_loss, identity_loss
from cimgen.models.cyclegan import DISCRIMINATORS, GENERATORS, NetworkConfig, build_network, size_multiple
from cimgen.models.limits import check_checkpoint_config
from cimgen.train.image_pool import ImagePool
from cimgen.train.limits import check_training_numbers
from cimgen.train.loop import LoopConfig, OptimConfig, check_loop_config, load_networks, make_runtime, resume_point, train
from cimgen.train.memory import MemoryReport, measure_training_memory
from cimgen.train.runtime import Runtime, barrier, eval_mode, is_main_process

MODEL_NAME = "cyclegan"
DIRECTIONS = ("AtoB", "BtoA")
IMAGE_CHANNELS = 3
"""Both domains are RGB images (a map to translate is a colour map)."""

# Recipe defaults for the registry constructors' options; junyanz's CycleGAN uses instance norm and no dropout.
GENERATOR_DEFAULTS = {"norm": "instance", "dropout": False}
DISCRIMINATOR_DEFAULTS = {"norm": "instance"}


# ----------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class CycleGANLossConfig:
    """Loss terms and weights (junyanz names in brackets)."""

    gan: str = "lsgan"
    """Adversarial loss: lsgan (CycleGAN default), vanilla, wgangp (with gradient penalty) or hinge (gan_mode)."""
    lambda_cycle_a: float = 10.0
    """Weight of the A -> B -> A cycle loss (lambda_A)."""
    lambda_cycle_b: float = 10.0
    """Weight of the B -> A -> B cycle loss (lambda_B)."""
    lambda_identity: float = 0.5
    """Identity loss weight relative to the cycle weights; 0 turns it off (lambda_identity)."""
    lambda_gp: float = 10.0
    """Weight of the gradient penalty, used only with gan wgangp."""


@dataclass(frozen=True)
class CycleGANConfig:
    """Everything a CycleGAN training run needs; saved as ``config.yaml`` in the run folder."""

    data: UnalignedDataConfig = field(default_factory=UnalignedDataConfig)
    """The two unpaired image domains."""
    generator: NetworkConfig = field(default_factory=lambda: NetworkConfig(name="resnet_9blocks"))
    """G_A and G_B (G_B has in and out channels swapped)."""
    discriminator: NetworkConfig = field(default_factory=lambda: NetworkConfig(name="basic"))
    """D_A and D_B."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimisers."""
    loss: CycleGANLossConfig = field(default_factory=CycleGANLossConfig)
    """Loss terms."""
    pool_size: int = 50
    """Generated images kept per domain for the discriminators; 0 turns the pools off (pool_size)."""
    init_gain: float = 0.02
    """Standard deviation of the N(0, gain) weight initialisation (init_type normal, init_gain); 0 keeps PyTorch's default."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Schedule and bookkeeping."""


def _check_option_type(value: object, hint: object, where: str) -> None:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(hint, True)
    if not ok:
        raise CimgenError(f"{where} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def resolve_network(kind: str, raw: object, *, default_name: str, defaults: dict, fixed: dict[str, tuple[int, str]]) -> dict:
    """A network spec with its name checked against the registry and every constructor option filled in.

    Args:
        kind: ``generator`` or ``discriminator`` (which registry, and the key in error messages).
        raw: the user's ``{"name": ..., "options": {...}}`` mapping (either key may be left out), or just the name.
        default_name: the recipe's network when no name is given.
        defaults: the recipe's option defaults, used where the constructor accepts them.
        fixed: options the recipe derives, as option -> (value, reason); giving another value is an error.

    Returns:
        ``{"name": name, "options": {every option: value}}``.
    """
    registry = GENERATORS if kind == "generator" else DISCRIMINATORS
    raw = {} if raw is None else raw
    if isinstance(raw, str):  # ``generator: unet_256`` is short for ``generator: {name: unet_256}``
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise CimgenError(f"{kind} must be a mapping with 'name' and 'options', got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"name", "options"})
    if unknown:
        raise CimgenError(f"{kind} has unknown key '{unknown[0]}'; known keys are: name, options")
    name = raw.get("name") or default_name
    if not isinstance(name, str) or name not in registry:
        raise CimgenError(f"unknown {kind} '{name}'; choose one of {', '.join(registry)}")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise CimgenError(f"{kind}.options must be a mapping of {name}'s options, got {type(options).__name__}")
    builder = registry[name]
    params = inspect.signature(builder).parameters
    hints = typing.get_type_hints(builder)
    for key, value in options.items():
        if key not in params:
            raise CimgenError(f"{kind}.options has unknown key '{key}' for {name}; known keys are: {', '.join(params)}")
        _check_option_type(value, hints.get(key), f"{kind}.options.{key}")
    for key, (want, why) in fixed.items():
        if key in options and options[key] != want:
            raise CimgenError(f"{kind}.options.{key} must be {want} ({why}); remove it or set it to {want}, got {options[key]}")
    full = {k: p.default for k, p in params.items()}
    full.update({k: v for k, v in defaults.items() if k in params})
    full.update(options)
    full.update({k: want for k, (want, _) in fixed.items()})
    return {"name": name, "options": full}


def check_network_sizes(generator: NetworkConfig, discriminator: NetworkConfig, load_size: int, crop_size: int) -> int:
    """Build both networks without memory (meta device), so bad options fail now; returns G's size multiple.

    Training images are crop_size (or load_size when there is no crop) on each side, which must be a
    multiple of what G needs.
    """
    with torch.device("meta"):
        g = build_network("generator", generator)
        build_network("discriminator", discriminator)
    multiple = size_multiple(g)
    side = crop_size or load_size
    if side and side % multiple:
        which = "crop_size" if crop_size else "load_size"
        raise CimgenError(f"data.{which} must be a multiple of {multiple} for {generator.name}, got {side}")
    return multiple


def check_loss_options(gan: str, weights: dict[str, float]) -> None:
    """Fail in one sentence on an unknown adversarial loss or a negative loss weight."""
    if gan not in GAN_MODES:
        raise CimgenError(f"loss.gan must be one of {', '.join(GAN_MODES)}, got '{gan}'")
    for key, value in weights.items():
        if value < 0:
            raise CimgenError(f"loss.{key} must be 0 or more, got {value}")


def resolve_config(raw: dict) -> CycleGANConfig:
    """Build the typed config from a nested dict: names checked against the registries, channels derived, options filled in."""
    raw = json.loads(json.dumps(mapping(raw)))  # deep copy
    rgb = (IMAGE_CHANNELS, "CycleGAN translates RGB images")
    raw["generator"] = resolve_network(
        "generator",
        raw.get("generator"),
        default_name="resnet_9blocks",
        defaults=GENERATOR_DEFAULTS,
        fixed={"in_channels": rgb, "out_channels": rgb},
    )
    raw["discriminator"] = resolve_network(
        "discriminator", raw.get("discriminator"), default_name="basic", defaults=DISCRIMINATOR_DEFAULTS, fixed={"in_channels": rgb}
    )
    cfg = from_dict(CycleGANConfig, raw)
    loss = cfg.loss
    check_loss_options(loss.gan, {k: getattr(loss, k) for k in ("lambda_cycle_a", "lambda_cycle_b", "lambda_identity", "lambda_gp")})
    check_common_options(cfg)
    return cfg


def check_common_options(cfg: CycleGANConfig | typing.Any) -> None:
    """The checks every junyanz-family recipe shares (pool, initialisation, sizes, loop); pix2pix calls it too."""
    if cfg.pool_size < 0:
        raise CimgenError(f"pool_size must be 0 or more, got {cfg.pool_size}")
    if cfg.init_gain < 0:
        raise CimgenError(f"init_gain must be 0 or more, got {cfg.init_gain}")
    copies = 2 if isinstance(cfg, CycleGANConfig) else 1  # CycleGAN trains two generators and two discriminators
    check_sizes(cfg.data.load_size, cfg.data.crop_size)
    check_loop_config(cfg.loop)  # the recipes' own checks first, with their sentences; then the bounds
    check_training_numbers(cfg, (("generator", copies), ("discriminator", copies)))
    check_network_sizes(cfg.generator, cfg.discriminator, cfg.data.load_size, cfg.data.crop_size)


def finetune_config(ckpt_cfg: dict, overrides: dict) -> CycleGANConfig:
    """A fine-tuning config: the checkpoint's networks, everything else from ``overrides``."""
    for key in ("generator", "discriminator"):
        if key in overrides:
            raise CimgenError(f"fine-tuning keeps the checkpoint's {key}; remove '{key}' from the options")
    check_model(ckpt_cfg, MODEL_NAME, "to fine-tune")
    return resolve_config({**overrides, "generator": ckpt_cfg["generator"], "discriminator": ckpt_cfg["discriminator"]})


# ----------------------------------------------------------------------------------------------
# The recipe


def init_normal_(module: nn.Module, gain: float = 0.02) -> None:
    """junyanz's ``init_weights(init_type='normal')``: conv and linear weights ~ N(0, gain), batch-norm weights ~ N(1, gain), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def pool_seed(seed: int, rank: int, which: int) -> int:
    """A seed for one image pool of one process, independent of the others."""
    return int(np.random.SeedSequence([seed, rank, which]).generate_state(1)[0])


def discriminator_step_loss(
    discriminator: Callable, real: torch.Tensor, fake: torch.Tensor, *, mode: str, lambda_gp: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """0.5 * (D loss on real + D loss on fake), plus the gradient penalty under wgangp; and the parts."""
    loss_real = discriminator_loss(discriminator(real), True, mode=mode)
    loss_fake = discriminator_loss(discriminator(fake.detach()), False, mode=mode)
    loss = 0.5 * (loss_real + loss_fake)
    parts = {"real": loss_real, "fake": loss_fake}
    if mode == "wgangp" and lambda_gp > 0:
        penalty = gradient_penalty(discriminator, real, fake, lambda_gp=lambda_gp)
        loss = loss + penalty
        parts["gp"] = penalty
    return loss, parts


class CycleGANRecipe:
    """Networks, optimizers, image pools and the G and D update phases of CycleGAN."""

    def __init__(self, cfg: CycleGANConfig, runtime: Runtime):
        self.cfg = cfg
        self.runtime = rt = runtime
        torch.manual_seed(cfg.loop.seed)
        swapped = NetworkConfig(
            name=cfg.generator.name,
            options={
                **cfg.generator.options,
                "in_channels": cfg.generator.options["out_channels"],
                "out_channels": cfg.generator.options["in_channels"],
            },
        )
        # Code (paper): G_A (G), G_B (F), D_A (D_Y), D_B (D_X). G_A: A -> B, G_B: B -> A; D_A judges B images, D_B judges A images.
        nets = {
            "G_A": build_network("generator", cfg.generator),
            "G_B": build_network("generator", swapped),
            "D_A": build_network("discriminator", cfg.discriminator),
            "D_B": build_network("discriminator", cfg.discriminator),
        }
        if cfg.init_gain > 0:
            for net in nets.values():
                init_normal_(net, cfg.init_gain)
        self.networks: dict[str, nn.Module] = {k: rt.prepare(v) for k, v in nets.items()}
        self.trained = {k: rt.wrap(v) for k, v in self.networks.items()}
        # G's loss needs no gradients for D's weights: it calls D without DDP (the replicas are identical anyway).
        self.frozen = {k: rt.wrap(self.networks[k], ddp=False) for k in ("D_A", "D_B")}
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.base_lr = cfg.optim.lr
        g_params = itertools.chain(self.networks["G_A"].parameters(), self.networks["G_B"].parameters())
        d_params = itertools.chain(self.networks["D_A"].parameters(), self.networks["D_B"].parameters())
        self.optimizers = {
            "generator": rt.adam(g_params, lr=cfg.optim.lr, betas=betas),
            "discriminator": rt.adam(d_params, lr=cfg.optim.lr, betas=betas),
        }
        self.pools = {
            "fake_A": ImagePool(cfg.pool_size, seed=pool_seed(cfg.loop.seed, rt.rank, 0)),
            "fake_B": ImagePool(cfg.pool_size, seed=pool_seed(cfg.loop.seed, rt.rank, 1)),
        }
        g = cfg.generator.options
        # junyanz asserts equal channels for the identity loss; cimgen skips the term instead, since G(b) cannot equal b otherwise.
        self.use_identity = cfg.loss.lambda_identity > 0 and g["in_channels"] == g["out_channels"]
        self._cache: tuple[torch.Tensor, ...] | None = None

    def _set_discriminators_trainable(self, trainable: bool) -> None:
        for k in ("D_A", "D_B"):
            self.networks[k].requires_grad_(trainable)

    def g_step(self, batch: dict) -> dict[str, float]:
        rt, c = self.runtime, self.cfg.loss
        real_a, real_b = rt.input(batch["A"]), rt.input(batch["B"])
        g_a, g_b = self.trained["G_A"], self.trained["G_B"]
        self._set_discriminators_trainable(False)
        try:
            with rt.autocast():
                fake_b = g_a(real_a)
                rec_a = g_b(fake_b)
                fake_a = g_b(real_b)
                rec_b = g_a(fake_a)
                losses = {}
                if self.use_identity:
                    # G_A should leave a B image alone (weighted by B's cycle weight), G_B an A image.
                    losses["idt_a"] = identity_loss(g_a(real_b), real_b) * (c.lambda_cycle_b * c.lambda_identity)
                    losses["idt_b"] = identity_loss(g_b(real_a), real_a) * (c.lambda_cycle_a * c.lambda_identity)
                losses["g_a"] = generator_loss(self.frozen["D_A"](fake_b), mode=c.gan)
                losses["g_b"] = generator_loss(self.frozen["D_B"](fake_a), mode=c.gan)
                losses["cycle_a"] = cycle_loss(rec_a, real_a) * c.lambda_cycle_a
                losses["cycle_b"] = cycle_loss(rec_b, real_b) * c.lambda_cycle_b
                loss = sum(losses.values())
            rt.step(loss, self.optimizers["generator"])
        finally:
            self._set_discriminators_trainable(True)
        self._cache = (real_a, real_b, fake_a.detach(), fake_b.detach())
        return {k: v.item() for k, v in losses.items()}

    def d_step(self, batch: dict) -> dict[str, float]:
        if self._cache is None:
            raise RuntimeError("d_step runs after g_step on the same batch")
        real_a, real_b, fake_a, fake_b = self._cache
        self._cache = None
        rt, c = self.runtime, self.cfg.loss
        # D_A sees B-domain fakes and D_B A-domain fakes, each through its own history pool.
        fake_b = self.pools["fake_B"].query(fake_b)
        fake_a = self.pools["fake_A"].query(fake_a)
        with rt.autocast():
            loss_a, parts_a = discriminator_step_loss(self.trained["D_A"], real_b, fake_b, mode=c.gan, lambda_gp=c.lambda_gp)
            loss_b, parts_b = discriminator_step_loss(self.trained["D_B"], real_a, fake_a, mode=c.gan, lambda_gp=c.lambda_gp)
        rt.step(loss_a + loss_b, self.optimizers["discriminator"])
        out = {"d_a": loss_a.item(), "d_b": loss_b.item()}
        if "gp" in parts_a:
            out.update(gp_a=parts_a["gp"].item(), gp_b=parts_b["gp"].item())
        return out

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        # junyanz's optimize_parameters: generators first, then discriminators on the same forward pass.
        return [self.g_step, self.d_step]

    @torch.no_grad()
    def sample_grid(self, batch: dict) -> np.ndarray:
        """Rows of (A | G_A(A) | G_B(G_A(A)) | B | G_B(B) | G_A(G_B(B))) for up to four items of the batch."""
        rt = self.runtime
        real_a, real_b = rt.input(batch["A"]), rt.input(batch["B"])
        g_a, g_b = self.networks["G_A"], self.networks["G_B"]
        with eval_mode(g_a, g_b), rt.autocast():
            fake_b = g_a(real_a)
            rec_a = g_b(fake_b)
            fake_a = g_b(real_b)
            rec_b = g_a(fake_a)
        rows = []
        for i in range(min(4, real_a.shape[0])):
            tiles = [real_a[i], fake_b[i], rec_a[i], real_b[i], fake_a[i], rec_b[i]]
            rows.append(np.concatenate([tensor_to_image(t.float()) for t in tiles], 1))
        return np.concatenate(rows, 0)

    def checkpoint_config(self) -> dict:
        return {
            "model": MODEL_NAME,
            "generator": to_dict(self.cfg.generator),
            "discriminator": to_dict(self.cfg.discriminator),
            "directions": {"AtoB": "G_A", "BtoA": "G_B"},
        }

    def extra_state(self) -> dict:
        """The image pools (stored fakes and random state), which exact resume needs."""
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_extra_state(self, state: dict) -> None:
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k])


# ----------------------------------------------------------------------------------------------
# Runs


def check_model(ckpt_cfg: dict, model: str, source: str) -> None:
    """Fail in one sentence when a checkpoint holds another kind of model."""
    if ckpt_cfg.get("model") != model:
        raise CimgenError(f"checkpoint {source} holds a '{ckpt_cfg.get('model')}' model, not {model}")


def prepare_run(cfg: object, run_dir: str | Path, *, resume: bool, model: str, identity: dict, extra: dict | None = None) -> Path:
    """Check the run folder and write the resolved config into it (rank 0 only under DDP).

    Args:
        cfg: the resolved config dataclass, written as ``config.yaml`` after a ``model`` line.
        run_dir: the run folder.
        resume: continue a run: its newest checkpoint must hold ``model`` with the same ``identity``.
        model: the checkpoints' model name.
        identity: checkpoint-config entries that must not change on resume (the networks).
        extra: more entries for ``config.yaml`` (e.g. init_from).
    """
    run_dir = Path(run_dir)
    if resume:  # resume_point has made sure there is a checkpoint
        saved = read_config(run_dir)
        check_model(saved, model, str(run_dir))
        for key, value in identity.items():
            if saved.get(key) != value:
                raise CimgenError(
                    f"the checkpoints in {run_dir} hold another {key} than the options given; resume with the run's own settings"
                )
    elif (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise CimgenError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out folder")
    barrier()  # every process has looked at the folder before rank 0 writes into it
    if is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        # The model name leads, so that the folder alone says which recipe ran (the CLI reads it back as a run note).
        text = yaml.safe_dump({"model": model, **to_dict(cfg)}, sort_keys=False)
        if extra:
            text += yaml.safe_dump(extra, sort_keys=False)
        write_text(run_dir / "config.yaml", text)
    barrier()
    return run_dir


def load_init(init_from: str | Path, model: str, networks: dict[str, nn.Module], *, imported: tuple[str, ...] = (), echo=None) -> None:
    """Load every network from another checkpoint of the same model (or of one of the ``imported`` official kinds)."""
    ckpt_cfg, tensors = load_checkpoint(init_from)
    check_checkpoint_config(ckpt_cfg, str(init_from))
    if ckpt_cfg.get("model") not in imported:
        check_model(ckpt_cfg, model, str(init_from))
    load_networks(networks, ckpt_cfg, tensors, str(init_from), echo=echo)


def run_cyclegan(
    cfg: CycleGANConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
    measure_memory: bool = False,
) -> Path | MemoryReport:
    """Train (or fine-tune, with ``init_from``) a CycleGAN; returns the last checkpoint folder.

    Args:
        cfg: the run's options (resolved again here, so every network option is on record).
        run_dir: the run folder.
        resume: continue the run in ``run_dir`` from its newest checkpoint.
        init_from: a CycleGAN checkpoint (or run folder) to start all four networks from.
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar.
        measure_memory: measure two training steps' peak memory instead (``cimgen train --memory``); nothing is written.
    """
    cfg = resolve_config(to_dict(cfg))
    runtime = make_runtime(cfg.loop)
    resume = resume_point(run_dir, resume)  # after the runtime: under DDP its barriers need the process group
    dataset = UnalignedDataset(cfg.data, training=True, seed=cfg.loop.seed)
    multiple = check_network_sizes(cfg.generator, cfg.discriminator, cfg.data.load_size, cfg.data.crop_size)
    dataset.check_all(size_multiple=multiple)  # bad images fail here, before any output is written
    recipe = CycleGANRecipe(cfg, runtime)
    if init_from is not None and not resume:
        load_init(init_from, MODEL_NAME, recipe.networks, echo=echo if runtime.is_main else None)
    if measure_memory:
        return measure_training_memory(recipe, dataset, cfg.loop.batch_size, epoch=cfg.loop.epochs + cfg.loop.decay_epochs - 1)
    identity = {"generator": to_dict(cfg.generator), "discriminator": to_dict(cfg.discriminator)}
    extra = {"init_from": str(init_from)} if init_from is not None else None
    run_dir = prepare_run(cfg, run_dir, resume=resume, model=MODEL_NAME, identity=identity, extra=extra)
    if echo and runtime.is_main:
        echo(
            f"training CycleGAN on {len(dataset.paths_a)} A and {len(dataset.paths_b)} B images from {cfg.data.root} "
            f"on {runtime.device} ({runtime.precision}) -> {run_dir}"
        )
    return train(recipe, dataset, run_dir, cfg.loop, resume=resume, echo=echo, progress=progress)
