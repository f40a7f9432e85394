"""The pix2pixHD recipe: conditional multi-scale GAN with feature matching and VGG loss; global or local generator.

Losses follow NVIDIA/pix2pixHD (``models/pix2pixHD_model.py``): D sees (label, image) pairs;
D loss = 0.5 * (fake + real); G loss = GAN + lambda_feat * feature matching + lambda_feat *
VGG (both weights 10 in the official options); Adam with lr 2e-4 and beta1 0.5. The generator
input is the one-hot label map, plus the instance-boundary edge map when the data has
instance maps (35 + 1 = 36 channels for Cityscapes); with ``data.label_nc: 0`` (the official
``--label_nc 0``) it is the map's RGB colours in [-1, 1] instead, 3 channels. The local enhancer is trained as in the
paper: a global generator first, then both jointly, with the global part frozen for the first
``fix_global_epochs`` epochs (the official ``--niter_fix_global``). VGG19 weights are not
shipped: they are read from a file the user names (or the standard cache places); without
them the VGG term is off, which the run says once and records in its ``config.yaml``. An
optional L1 term (``loss.lambda_l1``, pix2pix's) can stand in for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from cimgen.config import from_dict, mapping, section, to_dict
from cimgen.data.paired import DataConfig, PairedDataset, edge_channels, map_channels, one_hot
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_module, read_config
from cimgen.io.images import tensor_to_image, write_text
from cimgen.losses.adversarial import discriminator_loss, generator_loss
from cimgen.losses.feature_matching import feature_matching_loss
from cimgen.losses.perceptual import PerceptualLoss
from cimgen.models.limits import check_checkpoint_config
from cimgen.models.pix2pixhd import (
    DETAIL_LR_SCALE,
    GENERATOR_TYPES,
    IMPORTED_GENERATOR_TYPES,
    GlobalGenerator,
    GlobalGeneratorConfig,
    LocalEnhancer,
    LocalEnhancerConfig,
    MultiscaleDiscriminator,
    MultiscaleDiscriminatorConfig,
    build_generator,
    converted_generator_tensors,
    generator_from_config,
)
from cimgen.models.vgg import find_vgg19_weights, load_vgg19
from cimgen.palette import Palette
from cimgen.train.limits import check_training_numbers
from cimgen.train.loop import LoopConfig, OptimConfig, check_loop_config, load_networks, make_runtime, resume_point, train
from cimgen.train.memory import MemoryReport, measure_training_memory
from cimgen.train.runtime import Runtime, barrier, eval_mode, is_main_process

MODEL_NAME = "pix2pixhd"


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights."""

    gan: str = "lsgan"
    """Adversarial loss: lsgan (pix2pixHD default), vanilla (its --no_lsgan) or hinge."""
    lambda_feat: float = 10.0
    """Weight of discriminator feature matching."""
    lambda_vgg: float = 10.0
    """Weight of the VGG19 perceptual loss (pix2pixHD uses lambda_feat, 10); 0 turns it off."""
    vgg_weights: str = ""
    """torchvision VGG19 weights file (vgg19-dcbb9e9d.pth); empty searches $CIMGEN_VGG19_WEIGHTS and the torch/cimgen caches."""
    lambda_l1: float = 0.0
    """Weight of an L1 reconstruction term (pix2pix uses 100); 0 keeps pix2pixHD's objective."""
    adversarial_from_epoch: int = 0
    """Epochs trained on the reconstruction terms (L1, VGG) alone before the discriminator and its
    terms come in; 0 trains adversarially from the start (pix2pixHD). Memorising one image uses it:
    a step without the discriminator costs a fraction of one with it."""


@dataclass(frozen=True)
class Pix2PixHDConfig:
    """Everything a pix2pixHD training run needs; saved as ``config.yaml`` in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    """The paired dataset."""
    generator_type: str = "global"
    """global (G1 alone) or local (the local enhancer G2 around a global part)."""
    generator: GlobalGeneratorConfig = field(default_factory=GlobalGeneratorConfig)
    """Global generator sizes (generator_type global); in_channels is derived from the data."""
    local_enhancer: LocalEnhancerConfig = field(default_factory=LocalEnhancerConfig)
    """Local enhancer sizes (generator_type local); in_channels is derived from the data."""
    init_global: str = ""
    """For generator_type local: a global-generator checkpoint (or run) copied into the global part before training."""
    fix_global_epochs: int = 0
    """For generator_type local: epochs at the start with the global part frozen (niter_fix_global)."""
    discriminator: MultiscaleDiscriminatorConfig = field(default_factory=MultiscaleDiscriminatorConfig)
    """Discriminator sizes; in_channels is the generator's plus the image channels."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimiser."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Loss terms."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Schedule and bookkeeping."""


PIX2PIXHD_GAN_LOSSES = ("lsgan", "vanilla", "hinge")


def resolve_config(raw: dict) -> Pix2PixHDConfig:
    """Build the typed config from a nested dict and derive the network input channels."""
    raw = json.loads(json.dumps(mapping(raw)))  # deep copy
    data = from_dict(DataConfig, section(raw, "data"), where="config.data")
    in_ch = map_channels(data) + edge_channels(data)
    for key, want in (("generator", in_ch), ("local_enhancer", in_ch), ("discriminator", in_ch + 3)):
        given = section(raw, key).get("in_channels")
        if given is not None and given != want:
            raise CimgenError(
                f"{key}.in_channels is derived from the data (label_nc, or 3 for colour maps with label_nc 0, plus an edge channel "
                f"when there are instance maps: {want}); "
                f"remove it or set it to {want}"
            )
        raw[key] = {**section(raw, key), "in_channels": want}
    cfg = from_dict(Pix2PixHDConfig, raw)
    if cfg.loss.gan not in PIX2PIXHD_GAN_LOSSES:
        raise CimgenError(f"loss.gan must be one of {', '.join(PIX2PIXHD_GAN_LOSSES)}, got '{cfg.loss.gan}'")
    if cfg.generator_type not in GENERATOR_TYPES:
        raise CimgenError(f"generator_type must be global or local, got '{cfg.generator_type}'")
    if cfg.fix_global_epochs < 0:
        raise CimgenError("fix_global_epochs must be non-negative")
    if cfg.loss.adversarial_from_epoch < 0:
        raise CimgenError("loss.adversarial_from_epoch must be non-negative")
    if cfg.loss.adversarial_from_epoch and cfg.loss.lambda_l1 <= 0:
        raise CimgenError("loss.adversarial_from_epoch trains on the L1 term alone first; give loss.lambda_l1 above 0")
    if cfg.generator_type == "global" and (cfg.init_global or cfg.fix_global_epochs):
        raise CimgenError("init_global and fix_global_epochs apply to generator_type local only")
    m = generator_config(cfg).size_multiple
    if cfg.data.crop_size and cfg.data.crop_size % m:
        raise CimgenError(f"data.crop_size must be a multiple of {m} for this generator, got {cfg.data.crop_size}")
    check_loop_config(cfg.loop)
    check_training_numbers(cfg, (("local_enhancer" if cfg.generator_type == "local" else "generator", 1), ("discriminator", 1)))
    return cfg


def generator_config(cfg: Pix2PixHDConfig) -> GlobalGeneratorConfig | LocalEnhancerConfig:
    """The config of the generator the run trains."""
    return cfg.local_enhancer if cfg.generator_type == "local" else cfg.generator


def build_vgg_loss(cfg: LossConfig) -> tuple[torch.nn.Module | None, str]:
    """The VGG19 loss module when its weights can be found, else None; and a sentence for the log and config."""
    if cfg.lambda_vgg == 0:
        return None, "off (loss.lambda_vgg is 0)"
    found = find_vgg19_weights(cfg.vgg_weights or None)  # an explicitly named file that is missing is an error
    if found is None:
        return None, (
            "off: no VGG19 weights found (name torchvision's vgg19-dcbb9e9d.pth with loss.vgg_weights or "
            "$CIMGEN_VGG19_WEIGHTS, or put it in $TORCH_HOME/hub/checkpoints); the VGG term is left out"
        )
    return PerceptualLoss(load_vgg19(found)), f"on, weights {found}"


def generator_groups(generator: torch.nn.Module) -> list[dict]:
    """The generator's Adam parameter groups: a detail code learns at ``DETAIL_LR_SCALE`` times the rate (``lr_scale``)."""
    detail = getattr(generator, "detail", None)
    rest = [p for name, p in generator.named_parameters() if name != "detail"]
    return [{"params": rest}] + ([{"params": [detail], "lr_scale": DETAIL_LR_SCALE}] if detail is not None else [])


class Pix2PixHDRecipe:
    """Networks, optimizers and the D and G update phases of pix2pixHD."""

    def __init__(self, cfg: Pix2PixHDConfig, palette: Palette | None, runtime: Runtime, *, vgg: torch.nn.Module | None = None):
        self.cfg = cfg
        self.palette = palette
        self.runtime = rt = runtime
        self.device = rt.device
        torch.manual_seed(cfg.loop.seed)
        self.generator = rt.prepare(build_generator(cfg.generator_type, generator_config(cfg)))
        self.discriminator = rt.prepare(MultiscaleDiscriminator(cfg.discriminator))
        self.vgg = rt.prepare(vgg) if vgg is not None else None
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.base_lr = cfg.optim.lr
        # Frozen (global-part) parameters get no gradients, so Adam leaves them alone until they are unfrozen.
        self.optimizers = {
            "generator": rt.adam(generator_groups(self.generator), lr=cfg.optim.lr, betas=betas),
            "discriminator": rt.adam(self.discriminator.parameters(), lr=cfg.optim.lr, betas=betas),
        }
        self._wrap_generator(global_frozen=cfg.generator_type == "local" and cfg.fix_global_epochs > 0)
        self.d_train = rt.wrap(self.discriminator)
        # G's loss needs no gradients for D's weights: it calls D without DDP (its replicas are identical anyway).
        self.d_frozen = rt.wrap(self.discriminator, ddp=False)
        self._step_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.adversarial = cfg.loss.adversarial_from_epoch <= 0
        # a context generator sees the real image outside random regions and learns to fill them
        self.context = bool(getattr(generator_config(cfg), "context", False))

    def _wrap_generator(self, *, global_frozen: bool) -> None:
        """Freeze or unfreeze the local enhancer's global part, and wrap G for the update steps.

        DDP registers the parameters that need gradients when it wraps, so every change of the
        frozen part needs a new wrapper.
        """
        if self.cfg.generator_type == "local":
            self.generator.set_global_trainable(not global_frozen)
        self.global_frozen = global_frozen
        self.g_train = self.runtime.wrap(self.generator)

    def on_epoch_start(self, epoch: int) -> str | None:
        self.adversarial = epoch >= self.cfg.loss.adversarial_from_epoch
        frozen = self.cfg.generator_type == "local" and epoch < self.cfg.fix_global_epochs
        if frozen == self.global_frozen:
            return None
        self._wrap_generator(global_frozen=frozen)
        return f"epoch {epoch + 1}: the global generator is now trained jointly with the local enhancer"

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        rt = self.runtime
        if self.cfg.data.label_nc == 0:  # colour maps are the input as they are (official --label_nc 0)
            label = batch["colors"].to(self.device)
        else:
            label = one_hot(batch["label"].to(self.device), self.cfg.data.label_nc)
        if "edge" in batch:
            label = torch.cat([label, batch["edge"].to(self.device, label.dtype)], 1)
        return rt.input(label), rt.input(batch["image"])

    def d_step(self, batch: dict) -> dict[str, float]:
        rt = self.runtime
        label, real = self._inputs(batch)
        mode = self.cfg.loss.gan
        with rt.autocast():
            # One generator forward serves both steps: D trains on it detached, G backpropagates through it.
            fake = self.g_train(label, image=real) if self.context else self.g_train(label)
            self._step_cache = (label, real, fake)
            if not self.adversarial:  # reconstruction terms only, for now: no discriminator update
                return {}
            pred_fake = self.d_train(torch.cat([label, fake.detach()], 1))
            pred_real = self.d_train(torch.cat([label, real], 1))
        loss_fake = discriminator_loss(pred_fake, False, mode=mode)
        loss_real = discriminator_loss(pred_real, True, mode=mode)
        rt.step(0.5 * (loss_fake + loss_real), self.optimizers["discriminator"])
        return {"d_real": loss_real.item(), "d_fake": loss_fake.item()}

    def g_step(self, batch: dict) -> dict[str, float]:
        rt = self.runtime
        if self._step_cache is None:
            raise RuntimeError("g_step runs after d_step on the same batch")
        label, real, fake = self._step_cache
        self._step_cache = None
        loss_cfg = self.cfg.loss
        self.discriminator.requires_grad_(False)
        try:
            with rt.autocast():
                loss, losses = fake.new_zeros(()), {}
                if self.adversarial:
                    pred_fake = self.d_frozen(torch.cat([label, fake], 1))
                    with torch.no_grad():
                        pred_real = self.d_frozen(torch.cat([label, real], 1))
                    loss_gan = generator_loss(pred_fake, mode=loss_cfg.gan)
                    loss_feat = feature_matching_loss(pred_fake, pred_real) * loss_cfg.lambda_feat
                    loss = loss_gan + loss_feat
                    losses = {"g_gan": loss_gan.item(), "g_feat": loss_feat.item()}
                if self.vgg is not None:
                    loss_vgg = self.vgg(fake, real) * loss_cfg.lambda_vgg
                    loss = loss + loss_vgg
                    losses["g_vgg"] = loss_vgg.item()
                if loss_cfg.lambda_l1:
                    loss_l1 = torch.nn.functional.l1_loss(fake.float(), real.float()) * loss_cfg.lambda_l1
                    loss = loss + loss_l1
                    losses["g_l1"] = loss_l1.item()
            rt.step(loss, self.optimizers["generator"])
        finally:
            self.discriminator.requires_grad_(True)
        return losses

    def phases(self) -> list[Callable[[dict], dict[str, float]]]:
        return [self.d_step, self.g_step]

    @torch.no_grad()
    def sample_grid(self, batch: dict) -> np.ndarray:
        """Rows of (colour map | generated | real) for up to four images of the batch."""
        label, real = self._inputs(batch)
        with eval_mode(self.generator), self.runtime.autocast():
            fake = (self.generator(label, image=real) if self.context else self.generator(label)).float()
        lut = np.asarray(self.palette.colors, np.uint8) if self.palette is not None else None
        rows = []
        for i in range(min(4, label.shape[0])):
            if "colors" in batch:
                cmap = tensor_to_image(batch["colors"][i])
            else:
                cmap = lut[np.clip(batch["label"][i].numpy(), 0, len(lut) - 1)]
            rows.append(np.concatenate([cmap, tensor_to_image(fake[i]), tensor_to_image(real[i].float())], 1))
        return np.concatenate(rows, 0)

    def checkpoint_config(self) -> dict:
        return {
            "model": MODEL_NAME,
            "label_nc": self.cfg.data.label_nc,
            "edge_channels": edge_channels(self.cfg.data),
            **({"palette": self.palette.to_dict()} if self.palette is not None else {}),
            "generator_type": self.cfg.generator_type,
            "generator": to_dict(generator_config(self.cfg)),
            "discriminator": to_dict(self.cfg.discriminator),
        }


def prepare_run(cfg: Pix2PixHDConfig, run_dir: str | Path, *, resume: bool, extra: dict | None = None) -> Path:
    """Check the run folder and write the resolved config into it (rank 0 only under DDP).

    When resuming, the run's newest checkpoint must hold the same networks; the config is then
    rewritten, so that options changed on resume (for example more epochs) are on record.
    """
    run_dir = Path(run_dir)
    if resume:  # resume_point has made sure there is a checkpoint
        saved = read_config(run_dir)
        check_compatible(saved, cfg, str(run_dir))
        ours = {
            "generator_type": cfg.generator_type,
            "generator": to_dict(generator_config(cfg)),
            "discriminator": to_dict(cfg.discriminator),
        }
        for key, value in ours.items():
            if saved.get(key, "global" if key == "generator_type" else None) != value:
                raise CimgenError(
                    f"the checkpoints in {run_dir} hold another {key} than the options given; resume with the run's own settings"
                )
    elif (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists():
        raise CimgenError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out folder")
    barrier()  # under DDP every process checks the folder before rank 0 writes into it
    if is_main_process():
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
    init_checkpoint: tuple[dict, dict] | None = None,
    dataset: PairedDataset | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool = True,
    measure_memory: bool = False,
) -> Path | MemoryReport:
    """Train (or fine-tune, with ``init_from``) a pix2pixHD model; returns the last checkpoint folder.

    Under ``torchrun`` every process calls this; rank 0 writes the run folder.

    Args:
        cfg: the run's options.
        run_dir: the run folder.
        resume: continue the run in ``run_dir`` from its newest checkpoint.
        init_from: a checkpoint (or run folder) to start from.
        init_checkpoint: ``init_from`` already read, as (config, tensors), so it is not read again.
        dataset: the training pairs already in memory (``PairedDataset.from_arrays``); default: read ``cfg.data``.
        echo: where log lines go besides ``log.txt``.
        progress: show a progress bar.
        measure_memory: measure two training steps' peak memory instead; nothing is written.
    """
    runtime = make_runtime(cfg.loop)
    resume = resume_point(run_dir, resume)  # after the runtime: under DDP its barriers need the process group
    if dataset is None:
        dataset = PairedDataset(cfg.data, training=True, seed=cfg.loop.seed)
    if cfg.data.label_nc and dataset.palette.num_classes != cfg.data.label_nc:
        raise CimgenError(
            f"the palette has {dataset.palette.num_classes} classes but data.label_nc is {cfg.data.label_nc}; name a palette with one colour per class"
        )
    dataset.check_all()  # bad pairs fail here, before any output is written
    init = None
    if init_from is not None and not resume:
        init = init_checkpoint if init_checkpoint is not None else load_checkpoint(init_from)
        check_checkpoint_config(init[0], str(init_from))
        check_compatible(init[0], cfg, str(init_from))
    global_init = None
    if cfg.init_global and not resume and init is None:
        if measure_memory:
            if echo:
                echo(f"init_global {cfg.init_global} is not loaded for the measurement: its values do not change the memory")
        else:
            global_init = load_trained_generator(cfg.init_global)
            if not isinstance(global_init, GlobalGenerator):
                raise CimgenError(f"init_global {cfg.init_global} holds a local enhancer; name a global-generator checkpoint")
    vgg, vgg_note = build_vgg_loss(cfg.loss)
    recipe = Pix2PixHDRecipe(cfg, dataset.palette, runtime, vgg=vgg)
    if init is not None:
        load_networks(recipe.networks, init[0], init[1], str(init_from), echo=echo if runtime.is_main else None)
    if global_init is not None:
        recipe.generator.load_global_generator(global_init)
    if measure_memory:
        if echo:
            echo(f"VGG loss: {vgg_note}")
        return measure_training_memory(recipe, dataset, cfg.loop.batch_size, epoch=cfg.loop.epochs + cfg.loop.decay_epochs - 1)
    extra: dict = {"vgg_loss": vgg_note}
    if init_from is not None:
        extra["init_from"] = str(init_from)
    run_dir = prepare_run(cfg, run_dir, resume=resume, extra=extra)
    if echo and runtime.is_main:
        what = "pix2pixHD (local enhancer)" if cfg.generator_type == "local" else "pix2pixHD"
        echo(f"training {what} on {len(dataset)} pairs from {cfg.data.root} on {runtime.device} ({runtime.precision}) -> {run_dir}")
        echo(f"VGG loss: {vgg_note}")
    return train(recipe, dataset, run_dir, cfg.loop, resume=resume, echo=echo, progress=progress)


def load_trained_generator(path: str | Path) -> GlobalGenerator | LocalEnhancer:
    """The generator of a pix2pixHD checkpoint (cimgen's or imported), to start training from; inference loads it in ``cimgen.generators``."""
    config, tensors = load_checkpoint(path)
    check_checkpoint_config(config, str(path))
    generator = generator_from_config(as_pix2pixhd_config(config, str(path)), str(path))
    load_module(generator, tensors, "generator", source=str(path))
    return generator


def as_pix2pixhd_config(ckpt_cfg: dict, source: str) -> dict:
    """A checkpoint config written by ``cimgen import-official`` seen as a pix2pixHD one: its generator type, and the
    imported discriminator's config or pix2pixHD's default one (which then starts from scratch); others unchanged."""
    model = ckpt_cfg.get("model")
    if model not in IMPORTED_GENERATOR_TYPES:
        return ckpt_cfg
    if "label_nc" not in ckpt_cfg:
        raise CimgenError(f"checkpoint {source} was imported without --label-nc; import it again with the number of classes")
    return {
        **ckpt_cfg,
        "model": MODEL_NAME,
        "generator_type": IMPORTED_GENERATOR_TYPES[model],
        "discriminator": ckpt_cfg.get("discriminator", {}),
    }


def check_compatible(ckpt_cfg: dict, cfg: Pix2PixHDConfig, source: str) -> None:
    """Fail in one sentence when a checkpoint was made for another model, class count or input."""
    ckpt_cfg = as_pix2pixhd_config(ckpt_cfg, source)
    if ckpt_cfg.get("model") != MODEL_NAME:
        raise CimgenError(f"checkpoint {source} holds a '{ckpt_cfg.get('model')}' model, not {MODEL_NAME}")
    if ckpt_cfg.get("label_nc") != cfg.data.label_nc:
        raise CimgenError(
            f"checkpoint {source} was trained with {ckpt_cfg.get('label_nc')} classes but data.label_nc is {cfg.data.label_nc}"
        )
    if ckpt_cfg.get("edge_channels", 0) != edge_channels(cfg.data):
        has = "with" if ckpt_cfg.get("edge_channels", 0) else "without"
        raise CimgenError(f"checkpoint {source} was trained {has} instance edge maps; give the data the same way")


def finetune_config(ckpt_cfg: dict, overrides: dict) -> Pix2PixHDConfig:
    """A fine-tuning config: the checkpoint's architecture and classes, the rest from ``overrides``."""
    for key in ("generator", "local_enhancer", "discriminator", "generator_type"):
        if key in overrides:
            raise CimgenError(f"fine-tuning keeps the checkpoint's {key}; remove '{key}' from the options")
    ckpt_cfg = as_pix2pixhd_config(ckpt_cfg, "to fine-tune")
    raw = dict(overrides)
    gtype = ckpt_cfg.get("generator_type", "global")
    raw["generator_type"] = gtype
    raw["local_enhancer" if gtype == "local" else "generator"] = {k: v for k, v in ckpt_cfg["generator"].items() if k != "in_channels"}
    raw["discriminator"] = {k: v for k, v in ckpt_cfg["discriminator"].items() if k != "in_channels"}
    data = dict(raw.get("data", {}))
    given_nc = data.get("label_nc")
    if given_nc is not None and given_nc != ckpt_cfg["label_nc"]:
        raise CimgenError(f"the checkpoint has {ckpt_cfg['label_nc']} classes but data.label_nc is {given_nc}")
    data["label_nc"] = ckpt_cfg["label_nc"]
    raw["data"] = data
    return resolve_config(raw)


def converted_checkpoint(
    checkpoint: tuple[dict, dict],
    *,
    position_frequencies: int | None = None,
    upsample: str | None = None,
    context: bool | None = None,
    detail: tuple[int, int, int] | None = None,
    detail_scale: int | None = None,
    detail_smooth: bool | None = None,
) -> tuple[dict, dict]:
    """A global-generator pix2pixHD checkpoint (config, tensors) with position channels, context input, a detail code
    and/or resize upsampling.

    The generator's tensors are carried over by ``models.pix2pixhd.converted_generator_tensors``
    (new inputs enter through zero weights); the discriminator's are kept. None keeps a setting.
    ``detail`` is (channels, height, width): a detail code for one image of that (padded) size, at 1/``detail_scale``
    of it and low-passed or not (``detail_smooth``; ``GlobalGeneratorConfig``); None keeps the checkpoint's.
    """
    config, tensors = checkpoint
    config = as_pix2pixhd_config(config, "to convert")
    if config.get("generator_type", "global") != "global":
        raise CimgenError("position channels, context input and resize upsampling apply to global generators, not to a local enhancer")
    old = from_dict(GlobalGeneratorConfig, config["generator"], where="checkpoint generator config")
    asked = (("position_frequencies", position_frequencies), ("upsample", upsample), ("context", context))
    changes = {k: v for k, v in asked if v is not None}
    if detail is not None and detail[0]:
        changes.update(detail_channels=detail[0], detail_height=detail[1], detail_width=detail[2])
        changes.update({k: v for k, v in (("detail_scale", detail_scale), ("detail_smooth", detail_smooth)) if v is not None})
    new = replace(old, **changes)
    if new == old:
        return config, tensors
    gen = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    converted = converted_generator_tensors(gen, old, new)
    out = {k: v for k, v in tensors.items() if not k.startswith("generator.")}
    out.update({f"generator.{k}": v for k, v in converted.items()})
    return {**config, "generator": {**config["generator"], **changes}}, out


def relabelled_checkpoint(checkpoint: tuple[dict, dict], palette: Palette, classes: list[int]) -> tuple[dict, dict]:
    """A global pix2pixHD checkpoint made to take another label set: new class ``c`` enters the generator's and the
    discriminators' first convolutions with the weights of the checkpoint's class ``classes[c]``.

    So a generator pretrained on few classes starts on a map of many as it would draw the map collapsed onto its own
    classes (e.g. Cityscapes' car and person drawn as ground at first), and fine-tuning separates them. Other input
    channels (instance edges, the image the discriminator sees) keep their weights.
    """
    config, tensors = checkpoint
    config = as_pix2pixhd_config(config, "to relabel")
    if config.get("generator_type", "global") != "global":
        raise CimgenError("relabelling applies to global generators, not to a local enhancer")
    gen = config["generator"]
    if gen.get("position_frequencies") or gen.get("context") or gen.get("detail_channels"):
        raise CimgenError("relabel a checkpoint before it gets a position code, context or a detail code")
    old_nc = int(config["label_nc"])
    if len(classes) != palette.num_classes:
        raise CimgenError(f"the palette has {palette.num_classes} classes but {len(classes)} were mapped")
    bad = [c for c in classes if not 0 <= int(c) < old_nc]
    if bad:
        raise CimgenError(f"class {bad[0]} is not one of the checkpoint's {old_nc} classes")
    index = torch.tensor([int(c) for c in classes])
    delta = len(classes) - old_nc

    def widened(w: torch.Tensor) -> torch.Tensor:
        return torch.cat([w[:, index], w[:, old_nc:]], 1)

    out = dict(tensors)
    first = [k for k in tensors if k == "generator.model.1.weight" or (k.startswith("discriminator.") and k.endswith(".blocks.0.0.weight"))]
    if "generator.model.1.weight" not in first:
        raise CimgenError("this checkpoint's generator has no first convolution where a global generator's is")
    for k in first:
        out[k] = widened(tensors[k])
    new = {
        **config,
        "label_nc": len(classes),
        "palette": palette.to_dict(),
        "generator": {**gen, "in_channels": int(gen["in_channels"]) + delta},
    }
    if "discriminator" in config:
        new["discriminator"] = {**config["discriminator"], "in_channels": int(config["discriminator"]["in_channels"]) + delta}
    return new, out
