"""SinGAN settings, and the two schedules: ``original`` (SinGAN's own defaults) and ``fast`` (ConSinGAN's ideas)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cimgen.config import from_dict
from cimgen.errors import CimgenError

PLACEMENTS = ("geometric", "consingan")
PRECISIONS = ("auto", "fp32", "bf16")
RANGES: dict[str, tuple] = {
    "max_size": (1, 8192), "min_size": (1, 8192), "num_scales": (0, 100), "scale_factor": (0.0, 1.0),
    "nfc": (1, 4096), "max_nfc": (1, 4096), "double_every": (1, 1000), "num_layer": (3, 32), "kernel": (1, 15),
    "iters": (1, 1_000_000), "lr_g": (0.0, 1.0), "lr_d": (0.0, 1.0), "beta1": (0.0, 0.999), "gamma": (0.0, 1.0),
    "milestone": (0.0, 1.0), "d_steps": (1, 100), "g_steps": (1, 100), "lambda_grad": (0.0, 10_000.0),
    "alpha": (0.0, 1_000_000.0), "noise_amp": (0.0, 100.0), "train_depth": (1, 100), "lr_scale": (0.0, 1.0),
    "seed": (0, 2**32 - 1),
}  # fmt: skip
"""Every number of ``SinGANConfig`` with its allowed range (inclusive; the sizes and widths as a checkpoint's,
``cimgen.models.limits.SINGAN_BOUNDS``; seeds as NumPy and PyTorch take them). Shown by ``cimgen singan train --help``."""


@dataclass
class SinGANConfig:
    """Every setting of a SinGAN run; the defaults are the original's (tamarott/SinGAN ``config.py``).

    Attributes:
        schedule: the preset the settings came from (``original`` or ``fast``), kept for the record.
        max_size: the longer side of the finest scale; larger images are scaled down to it.
        min_size: the shorter side of the coarsest scale.
        scale_factor: the wanted ratio between neighbouring scales; recomputed so the pyramid ends
            exactly at ``min_size`` (SinGAN's ``adjust_scales2image``). Unused when ``num_scales`` is set.
        num_scales: 0 derives the count from ``scale_factor``; a positive count fixes it (ConSinGAN's ``train_stages``).
        placement: ``geometric`` (equal ratios, SinGAN) or ``consingan`` (ConSinGAN's ``create_reals_pyramid``:
            more scales at low resolution, where the global layout is learnt).
        nfc: channels of the coarsest scale's convolutions; doubled every ``double_every`` scales up to ``max_nfc``.
        num_layer: convolutions per generator and per discriminator (head, body, tail).
        kernel: convolution kernel size.
        iters: iterations per scale.
        lr_g, lr_d, beta1: Adam settings of G and D.
        gamma, milestone: the step decay, the learning rates times ``gamma`` after ``milestone`` of the iterations
            (SinGAN: 1600 of 2000).
        d_steps, g_steps: discriminator and generator updates per iteration.
        lambda_grad: weight of the WGAN-GP gradient penalty.
        alpha: weight of the reconstruction loss.
        noise_amp: a scale's noise amplitude is this times the RMSE of the upsampled coarser reconstruction.
        train_depth: scales trained at once; 1 is SinGAN, 3 is ConSinGAN (the newest scale and the two below it).
        lr_scale: the learning rate of a scale k steps below the newest is multiplied by ``lr_scale**k``.
        reuse_fake: the generator update reuses the fake of the last discriminator step and takes one
            backward pass (ConSinGAN); otherwise each of the ``g_steps`` recomputes it (SinGAN).
        precision: ``auto`` (bf16 autocast where the CPU or GPU computes bf16 natively, else fp32), ``fp32``, or ``bf16`` autocast.
        mask_reconstruction: when training is given a mask (the damaged region), the reconstruction loss
            leaves the masked pixels out, so the pyramid is not asked to reproduce the damage.
        seed: seeds the weights, the fixed noise and every random draw of training.
    """

    schedule: str = "original"
    max_size: int = 250
    min_size: int = 25
    scale_factor: float = 0.75
    num_scales: int = 0
    placement: str = "geometric"
    nfc: int = 32
    max_nfc: int = 128
    double_every: int = 4
    num_layer: int = 5
    kernel: int = 3
    iters: int = 2000
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    gamma: float = 0.1
    milestone: float = 0.8
    d_steps: int = 3
    g_steps: int = 3
    lambda_grad: float = 0.1
    alpha: float = 10.0
    noise_amp: float = 0.1
    train_depth: int = 1
    lr_scale: float = 0.1
    reuse_fake: bool = False
    precision: str = "auto"
    mask_reconstruction: bool = True
    seed: int = 0

    @property
    def pad(self) -> int:
        """Zero padding around a generator's input so its output has the input's size (SinGAN: 5)."""
        return self.num_layer * (self.kernel - 1) // 2

    def channels(self, scale: int) -> int:
        """Convolution channels at a scale: ``nfc`` doubled every ``double_every`` scales, at most ``max_nfc``."""
        return min(self.nfc * 2 ** (scale // self.double_every), self.max_nfc)


# The fast schedule: ConSinGAN's choices (tohinz/ConSinGAN config.py and main_train.py: 6 stages, 3 trained
# at once, learning rates 0.1x per stage below the newest, the generator updated once from the last
# discriminator step's fake) on SinGAN's per-scale networks, with fewer iterations per scale and precision
# auto: bf16 autocast where the CPU computes bf16 natively (1.35-1.4x faster per iteration on the AVX-512 BF16
# development CPU, benchmarks/singan.py), fp32 elsewhere (bf16 is emulated, and far slower, without it).
FAST = {
    "schedule": "fast",
    "num_scales": 6,
    "placement": "consingan",
    "iters": 1000,
    "train_depth": 3,
    "lr_scale": 0.1,
    "reuse_fake": True,
    "g_steps": 1,
    "precision": "auto",
}
SCHEDULES = {"original": {"schedule": "original"}, "fast": FAST}
DEFAULT_SCHEDULE = "fast"


def schedule_config(name: str, overrides: dict | None = None) -> SinGANConfig:
    """The config of a named schedule with ``overrides`` (field -> value) applied, checked."""
    if name not in SCHEDULES:
        raise CimgenError(f"unknown SinGAN schedule '{name}'; choose one of: {', '.join(SCHEDULES)}")
    cfg = from_dict(SinGANConfig, {**SCHEDULES[name], **(overrides or {})}, where="singan")
    check_config(cfg)
    return cfg


def check_config(cfg: SinGANConfig) -> None:
    """Raise one sentence for a setting SinGAN cannot train with."""
    if cfg.placement not in PLACEMENTS:
        raise CimgenError(f"unknown scale placement '{cfg.placement}'; choose one of: {', '.join(PLACEMENTS)}")
    if cfg.precision not in PRECISIONS:
        raise CimgenError(f"unknown precision '{cfg.precision}'; choose one of: {', '.join(PRECISIONS)}")
    if cfg.num_layer < 3:
        raise CimgenError(f"num_layer must be at least 3 (head, body, tail), got {cfg.num_layer}")
    if cfg.kernel < 1 or cfg.kernel % 2 == 0:
        raise CimgenError(f"the kernel size must be odd and positive, got {cfg.kernel}")
    if cfg.min_size <= 2 * cfg.pad:
        raise CimgenError(f"min_size must exceed {2 * cfg.pad} pixels, the discriminator's reach, got {cfg.min_size}")
    if cfg.max_size < cfg.min_size:
        raise CimgenError(f"max_size ({cfg.max_size}) must be at least min_size ({cfg.min_size})")
    if not 0 < cfg.scale_factor < 1:
        raise CimgenError(f"scale_factor must lie between 0 and 1, got {cfg.scale_factor}")
    if cfg.num_scales < 0 or cfg.num_scales == 1:
        raise CimgenError(f"num_scales must be 0 (derived) or at least 2, got {cfg.num_scales}")
    for name in ("iters", "d_steps", "g_steps", "train_depth", "nfc", "max_nfc", "double_every"):
        if getattr(cfg, name) < 1:
            raise CimgenError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("lr_g", "lr_d", "lr_scale", "alpha"):  # alpha weighs the reconstruction loss, which the log divides by it
        if not getattr(cfg, name) > 0:
            raise CimgenError(f"{name} must be positive, got {getattr(cfg, name)}")
    if not 0 < cfg.milestone <= 1:
        raise CimgenError(f"milestone must lie in (0, 1], got {cfg.milestone}")
    for name, (lo, hi) in RANGES.items():  # NaN, infinities and absurd sizes: one sentence before anything is built
        value = getattr(cfg, name)
        if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
            raise CimgenError(f"{name} is {value}; it must lie between {lo} and {hi}")


def ranges_text() -> str:
    """The allowed range of every number, as ``--help`` shows it: ``iters 1..1000000, lr_g 0.0..1.0, ...``."""
    return ", ".join(f"{name} {lo}..{hi}" for name, (lo, hi) in RANGES.items())
