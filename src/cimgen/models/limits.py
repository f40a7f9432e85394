"""Bounds on the network configs of checkpoints, official files and training configs, and the size they imply, before any build.

A checkpoint's ``config.json`` is untrusted input: a hand edit, a damaged file or a hostile one can
name a count that is not a number, leave out a key the loaders need, or ask for 100,000 residual
blocks or 40 downsamplings, which would take gigabytes before any weight is compared. Every kind
of checkpoint cimgen reads has its schema here: the type and range of each field of the config
dataclasses in ``cimgen.models`` (and of SinGAN's sizes), and a count of the weights those fields
imply (parameters and normalisation statistics, from the config alone), refused above
``MAX_WEIGHTS``. The bounds are wide: every published pix2pixHD, CycleGAN, pix2pix, ResNet and
SinGAN configuration lies well inside them.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from cimgen.config import from_dict
from cimgen.errors import CimgenError
from cimgen.kinds import (
    COLOR_MAP_CHANNELS,
    CYCLEGAN,
    DIRECTIONS,
    JUNYANZ_RESNET,
    JUNYANZ_UNET,
    PIX2PIX,
    PIX2PIXHD,
    PIX2PIXHD_GLOBAL,
    PIX2PIXHD_LOCAL,
)
from cimgen.models.cyclegan import (
    DISCRIMINATORS,
    GENERATORS,
    RESNET_PADDINGS,
    NLayerDiscriminatorConfig,
    PixelDiscriminatorConfig,
    ResnetGeneratorConfig,
    UnetGeneratorConfig,
)
from cimgen.models.detectors import DETECTORS, DetectorConfig, _patchnet_head_kernel
from cimgen.models.pix2pixhd import UPSAMPLES, GlobalGeneratorConfig, LocalEnhancerConfig, MultiscaleDiscriminatorConfig
from cimgen.nn.blocks import NORMS
from cimgen.palette import Palette

MAX_WEIGHTS = 1 << 30
"""The most weights (parameters and normalisation statistics) the networks of one checkpoint or run may hold: 4 GiB
as float32. pix2pixHD's 1024p local enhancer, the largest published network cimgen imports, holds about 0.18e9."""

DETECTOR = "detector"
SINGAN = "singan"
"""The ``"model"`` entries of detector and SinGAN checkpoints (``cimgen.forensics.train``, ``cimgen.singan.model``)."""

IO_CHANNELS = (1, 4096)
"""Input and output channels: label classes (plus an edge channel) or image channels."""
WIDTH = (1, 4096)
"""Base channel counts (ngf, ndf, detector and SinGAN widths)."""
BLOCKS = (0, 100)
"""Residual blocks of one stage (official: 9 at most)."""
NORM_NAMES = tuple(NORMS)
PIX2PIXHD_PADDINGS = ("reflect", "replicate", "zeros")

BOUNDS: dict[type, dict[str, tuple]] = {
    GlobalGeneratorConfig: {
        "in_channels": IO_CHANNELS, "out_channels": IO_CHANNELS, "base_channels": WIDTH, "num_downsamplings": (0, 10),
        "num_blocks": BLOCKS, "norm": NORM_NAMES, "padding": PIX2PIXHD_PADDINGS, "upsample": UPSAMPLES,
        "position_frequencies": (0, 16), "position_dropout": (0.0, 1.0),
        "detail_channels": (0, 64), "detail_scale": (1, 64), "detail_height": (0, 16384), "detail_width": (0, 16384),
    },
    LocalEnhancerConfig: {
        "in_channels": IO_CHANNELS, "out_channels": IO_CHANNELS, "base_channels": WIDTH, "num_downsamplings_global": (0, 10),
        "num_blocks_global": BLOCKS, "num_local_enhancers": (1, 4), "num_blocks_local": BLOCKS, "norm": NORM_NAMES,
        "padding": PIX2PIXHD_PADDINGS,
    },
    MultiscaleDiscriminatorConfig: {
        "in_channels": IO_CHANNELS, "base_channels": WIDTH, "num_layers": (1, 10), "num_discriminators": (1, 8), "norm": NORM_NAMES,
    },
    ResnetGeneratorConfig: {
        "in_channels": IO_CHANNELS, "out_channels": IO_CHANNELS, "base_channels": WIDTH, "num_blocks": BLOCKS, "norm": NORM_NAMES,
        "padding": RESNET_PADDINGS,
    },
    UnetGeneratorConfig: {
        "in_channels": IO_CHANNELS, "out_channels": IO_CHANNELS, "num_downs": (5, 12), "base_channels": WIDTH, "norm": NORM_NAMES,
    },
    NLayerDiscriminatorConfig: {"in_channels": IO_CHANNELS, "base_channels": WIDTH, "num_layers": (1, 10), "norm": NORM_NAMES},
    PixelDiscriminatorConfig: {"in_channels": IO_CHANNELS, "base_channels": WIDTH, "norm": NORM_NAMES},
    DetectorConfig: {
        "arch": tuple(DETECTORS), "patch_size": (1, 1024), "width": (0, 4096), "stage1_channels": WIDTH, "stage2_channels": WIDTH,
        "stage3_channels": WIDTH, "hidden_channels": WIDTH,
    },
}  # fmt: skip
"""Per config dataclass, the allowed range (lowest, highest) of each number and the choices of each name."""

SINGAN_BOUNDS: dict[str, tuple] = {
    "nfc": WIDTH, "max_nfc": WIDTH, "num_layer": (3, 32), "kernel": (1, 15), "double_every": (1, 1000),
    "max_size": (1, 8192), "min_size": (1, 8192),
}  # fmt: skip
"""The SinGAN settings (``cimgen.singan.config.SinGANConfig``) that size its networks and pyramid; the rest are checked there."""
SINGAN_SIDE = (1, 16384)
"""Height and width of one scale of a SinGAN pyramid."""
SINGAN_SCALES = (1, 100)

REGISTRY_CONFIGS: dict[str, tuple[type, dict]] = {
    "resnet_9blocks": (ResnetGeneratorConfig, {"num_blocks": 9}),
    "resnet_6blocks": (ResnetGeneratorConfig, {"num_blocks": 6}),
    "unet_256": (UnetGeneratorConfig, {"num_downs": 8}),
    "unet_128": (UnetGeneratorConfig, {"num_downs": 7}),
    "basic": (NLayerDiscriminatorConfig, {"num_layers": 3}),
    "n_layers": (NLayerDiscriminatorConfig, {}),
    "pixel": (PixelDiscriminatorConfig, {}),
}
"""The config each ``cimgen.models.cyclegan`` registry name builds, with the fields its name fixes."""


# ----------------------------------------------------------------------------------------------
# Values and dataclasses


def check_value(value: Any, rule: tuple, where: str) -> None:
    """One sentence unless ``value`` lies in ``rule``: (lowest, highest) for a number, the choices for a name.

    Args:
        value: the value as given (already of the field's type).
        rule: ``(lo, hi)`` of numbers (inclusive; NaN never fits), or a tuple of allowed strings.
        where: the field's name for the message, e.g. ``checkpoint runs/x: generator.num_blocks``.
    """
    if rule and isinstance(rule[0], str):
        if value not in rule:
            key = where.rsplit(".", 1)[-1]  # "unknown norm 'group'", as the constructors say it
            raise CimgenError(f"{where} is {value!r}; choose one of {', '.join(rule)} (unknown {key} {value!r})")
        return
    lo, hi = rule
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CimgenError(f"{where} must be a number from {lo} to {hi}, got {value!r}")
    if not lo <= value <= hi:  # NaN fails both comparisons
        raise CimgenError(f"{where} is {value}; it must lie between {lo} and {hi}")


def check_dataclass(obj: Any, where: str, bounds: dict[str, tuple] | None = None, *, sep: str = ".") -> None:
    """Check every bounded field of a config dataclass instance (``BOUNDS`` of its type unless ``bounds`` is given).

    Args:
        obj: the config.
        where: its name for messages; a field is named ``where + sep + field``.
        bounds: the rules to apply instead of its type's.
        sep: between ``where`` and a field's name.
    """
    for name, rule in (BOUNDS.get(type(obj), {}) if bounds is None else bounds).items():
        check_value(getattr(obj, name), rule, f"{where}{sep}{name}")


def config_from(cls: type, raw: Any, where: str) -> Any:
    """A config dataclass from an untrusted mapping: unknown keys, wrong types and values out of ``BOUNDS`` refused."""
    if not isinstance(raw, dict):
        raise CimgenError(f"{where} must be a mapping of options, got {type(raw).__name__}")
    obj = from_dict(cls, raw, where=where)
    check_dataclass(obj, where)
    return obj


def registry_config(spec: Any, kind: str, where: str) -> tuple[str, Any]:
    """The registry name and config dataclass of a ``{"name": ..., "options": {...}}`` network spec (CycleGAN, pix2pix).

    Args:
        spec: the spec as read.
        kind: ``generator`` or ``discriminator``.
        where: the spec's name for messages.
    """
    table = GENERATORS if kind == "generator" else DISCRIMINATORS
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("options", {}), dict):
        raise CimgenError(f"{where} must be a mapping with a network 'name' and its 'options'")
    unknown = sorted(map(str, set(spec) - {"name", "options"}))
    if unknown:
        raise CimgenError(f"{where} has unknown key '{unknown[0]}'; it takes 'name' and 'options'")
    name, options = spec["name"], spec.get("options", {})
    if name not in table:
        raise CimgenError(f"{where}.name is '{name}'; choose one of {', '.join(table)}")
    allowed = set(inspect.signature(table[name]).parameters)
    extra = sorted(map(str, set(options) - allowed))
    if extra:
        raise CimgenError(f"{where}.options has unknown key '{extra[0]}'; {name} takes {', '.join(sorted(allowed))}")
    cls, fixed = REGISTRY_CONFIGS[name]
    return name, config_from(cls, {**options, **fixed}, f"{where}.options")


# ----------------------------------------------------------------------------------------------
# Weights a config implies (state-dict elements: parameters and normalisation statistics)


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cout * cin * k * k + (cout if bias else 0)  # a transposed conv holds as many


def _norm(norm: str, c: int) -> int:
    return 4 * c + 1 if norm == "batch" else 0  # weight, bias, running mean and variance, the batch count


def _global_generator(c: GlobalGeneratorConfig) -> int:
    n, ch = (
        _conv(c.in_channels + c.position_channels + c.context_channels, c.base_channels, 7) + _norm(c.norm, c.base_channels),
        c.base_channels,
    )
    for _ in range(c.num_downsamplings):
        n, ch = n + _conv(ch, ch * 2, 3) + _norm(c.norm, ch * 2), ch * 2
    n += c.num_blocks * 2 * (_conv(ch, ch, 3) + _norm(c.norm, ch))
    for _ in range(c.num_downsamplings):
        n, ch = n + _conv(ch, ch // 2, 3) + _norm(c.norm, ch // 2), ch // 2
    k, dh, dw = c.detail_shape
    return n + _conv(ch + c.detail_channels, c.out_channels, 7) + k * dh * dw


def _local_enhancer(c: LocalEnhancerConfig) -> int:
    g = c.global_config
    n = _global_generator(g) - _conv(g.base_channels, c.out_channels, 7)  # the global part drops its last conv
    for e in range(1, c.num_local_enhancers + 1):
        ch = c.base_channels * 2 ** (c.num_local_enhancers - e)
        n += _conv(c.in_channels, ch, 7) + _norm(c.norm, ch) + _conv(ch, 2 * ch, 3) + _norm(c.norm, 2 * ch)
        n += c.num_blocks_local * 2 * (_conv(2 * ch, 2 * ch, 3) + _norm(c.norm, 2 * ch)) + _conv(2 * ch, ch, 3) + _norm(c.norm, ch)
        if e == c.num_local_enhancers:
            n += _conv(ch, c.out_channels, 7)
    return n


def _multiscale_discriminator(c: MultiscaleDiscriminatorConfig) -> int:
    n, ch = _conv(c.in_channels, c.base_channels, 4), c.base_channels
    for _ in range(1, c.num_layers):
        nxt = min(ch * 2, 512)
        n, ch = n + _conv(ch, nxt, 4) + _norm(c.norm, nxt), nxt
    nxt = min(ch * 2, 512)
    return c.num_discriminators * (n + _conv(ch, nxt, 4) + _norm(c.norm, nxt) + _conv(nxt, 1, 4))


def _resnet_generator(c: ResnetGeneratorConfig) -> int:
    bias = c.norm == "instance"
    n, ch = _conv(c.in_channels, c.base_channels, 7, bias) + _norm(c.norm, c.base_channels), c.base_channels
    for _ in range(2):
        n, ch = n + _conv(ch, ch * 2, 3, bias) + _norm(c.norm, ch * 2), ch * 2
    n += c.num_blocks * 2 * (_conv(ch, ch, 3, bias) + _norm(c.norm, ch))
    for _ in range(2):
        n, ch = n + _conv(ch, ch // 2, 3, bias) + _norm(c.norm, ch // 2), ch // 2
    return n + _conv(ch, c.out_channels, 7)


def _unet_generator(c: UnetGeneratorConfig) -> int:
    b, bias = c.base_channels, c.norm == "instance"
    n = 2 * _conv(8 * b, 8 * b, 4, bias) + _norm(c.norm, 8 * b)  # innermost
    n += (c.num_downs - 5) * (_conv(8 * b, 8 * b, 4, bias) + _conv(16 * b, 8 * b, 4, bias) + 2 * _norm(c.norm, 8 * b))
    for outer, inner in ((4 * b, 8 * b), (2 * b, 4 * b), (b, 2 * b)):
        n += _conv(outer, inner, 4, bias) + _norm(c.norm, inner) + _conv(2 * inner, outer, 4, bias) + _norm(c.norm, outer)
    return n + _conv(c.in_channels, b, 4, bias) + _conv(2 * b, c.out_channels, 4)


def _nlayer_discriminator(c: NLayerDiscriminatorConfig) -> int:
    bias = c.norm == "instance"
    n, ch = _conv(c.in_channels, c.base_channels, 4), c.base_channels
    for k in range(1, c.num_layers + 1):
        nxt = c.base_channels * min(2**k, 8)
        n, ch = n + _conv(ch, nxt, 4, bias) + _norm(c.norm, nxt), nxt
    return n + _conv(ch, 1, 4)


def _pixel_discriminator(c: PixelDiscriminatorConfig) -> int:
    b, bias = c.base_channels, c.norm == "instance"
    return _conv(c.in_channels, b, 1) + _conv(b, 2 * b, 1, bias) + _norm(c.norm, 2 * b) + _conv(2 * b, 1, 1, bias)


RESNET_PRESETS = {
    "resnet50": ("bottleneck", (3, 4, 6, 3), 64),
    "resnet18": ("basic", (2, 2, 2, 2), 64),
    "resnet_small": ("basic", (1, 1, 1, 1), 16),
}
"""The ResNet detectors of ``cimgen.models.detectors``: block, blocks per stage, default width."""
PATCHNET_PLAN = (1, 1, 0, 2, 2, 0, 3, 3, 3, 3)
"""PatchNet's layers (``cimgen.models.detectors._PATCHNET_PLAN``): the stage of each 3x3 conv, 0 for a pooling."""


def _detector(c: DetectorConfig) -> int:
    if c.arch == "patchnet":
        head = _patchnet_head_kernel(c.patch_size) or 1  # a patch size it cannot take is refused by its constructor
        widths = {1: c.stage1_channels, 2: c.stage2_channels, 3: c.stage3_channels}
        n, ch = 0, 3
        for stage in PATCHNET_PLAN:
            if stage:
                n, ch = n + _conv(ch, widths[stage], 3, False) + _norm("batch", widths[stage]), widths[stage]
        return n + _conv(ch, c.hidden_channels, head, False) + _norm("batch", c.hidden_channels) + _conv(c.hidden_channels, 1, 1)
    block, layers, default_width = RESNET_PRESETS[c.arch]
    w = c.width or default_width
    expansion = 4 if block == "bottleneck" else 1
    n, cin = _conv(3, w, 7, False) + _norm("batch", w), w

    def unit(cin: int, ch: int) -> int:
        if block == "basic":
            return _conv(cin, ch, 3, False) + _conv(ch, ch, 3, False) + 2 * _norm("batch", ch)
        return (
            _conv(cin, ch, 1, False)
            + _conv(ch, ch, 3, False)
            + _conv(ch, 4 * ch, 1, False)
            + 2 * _norm("batch", ch)
            + _norm("batch", 4 * ch)
        )

    for i, count in enumerate(layers):
        ch = w * 2**i
        out = ch * expansion
        if i or cin != out:
            n += _conv(cin, out, 1, False) + _norm("batch", out)
        n += unit(cin, ch) + (count - 1) * unit(out, ch)
        cin = out
    return n + cin + 1  # fc to one logit


COUNTS = {
    GlobalGeneratorConfig: _global_generator,
    LocalEnhancerConfig: _local_enhancer,
    MultiscaleDiscriminatorConfig: _multiscale_discriminator,
    ResnetGeneratorConfig: _resnet_generator,
    UnetGeneratorConfig: _unet_generator,
    NLayerDiscriminatorConfig: _nlayer_discriminator,
    PixelDiscriminatorConfig: _pixel_discriminator,
    DetectorConfig: _detector,
}


def weight_count(config: Any) -> int:
    """The weights (state-dict elements: parameters and normalisation statistics) of the network a config describes,
    computed from the config alone; its fields must already lie within ``BOUNDS``."""
    return COUNTS[type(config)](config)


def check_size(weights: int, what: str, advice: str = "make them smaller") -> None:
    """One sentence when networks of ``weights`` elements exceed ``MAX_WEIGHTS``.

    Args:
        weights: their count (``weight_count``).
        what: the subject of the sentence, e.g. ``checkpoint runs/x`` or ``the config``.
        advice: what the user can do, ending the sentence.
    """
    if weights > MAX_WEIGHTS:
        gib = weights * 4 / 2**30
        raise CimgenError(
            f"{what} describes networks of {weights:.3g} weights ({gib:,.0f} GiB as float32), more than cimgen builds "
            f"(at most {MAX_WEIGHTS:,}, {MAX_WEIGHTS * 4 / 2**30:.0f} GiB); {advice}"
        )


def check_network(config: Any, where: str, advice: str = "make them smaller", *, sep: str = ".", subject: str | None = None) -> int:
    """Check a config dataclass instance against ``BOUNDS`` and ``MAX_WEIGHTS`` before its network is built; returns its weights.

    Args:
        config: an instance of one of the ``BOUNDS`` dataclasses (e.g. a config inferred from an official file).
        where: its name for messages about a field (``where + sep + field``).
        advice: what the user can do when it is too large.
        sep: between ``where`` and a field's name.
        subject: its name for the message about its size (default ``where``).
    """
    check_dataclass(config, where, sep=sep)
    weights = weight_count(config)
    check_size(weights, subject or where, advice)
    return weights


# ----------------------------------------------------------------------------------------------
# Checkpoint configs, by kind


DAMAGED = "its config.json is damaged or was not written by cimgen"


def _required(config: dict, key: str, where: str) -> Any:
    if key not in config:
        raise CimgenError(f"{where} lacks its '{key}' entry in config.json; {DAMAGED}")
    return config[key]


def _int(config: dict, key: str, rule: tuple, where: str, default: int | None = None) -> int:
    value = config.get(key, default) if default is not None else _required(config, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CimgenError(f"{where}: {key} must be an integer, got {value!r}")
    check_value(value, rule, f"{where}: {key}")
    return value


def _labels(config: dict, gen: Any, where: str, *, required: bool) -> None:
    """label_nc, edge_channels and palette of a label-map generator, and their fit to its input channels."""
    if not required and "label_nc" not in config and "palette" not in config:
        return  # an import without --label-nc: exportable, and the loaders that need classes say so
    # official --label_nc 0: the map's RGB colours are the input (type() so that False is not taken for 0)
    colour_input = type(config.get("label_nc")) is int and config["label_nc"] == 0
    label_nc = 0 if colour_input else _int(config, "label_nc", IO_CHANNELS, where)
    edges = _int(config, "edge_channels", (0, 1), where, default=0)
    if colour_input and "palette" not in config:
        palette = None  # colours that are not classes: renders colour maps; edits need a palette named at load time
    else:
        try:
            palette = Palette.from_dict(_required(config, "palette", where))
        except CimgenError as e:
            raise CimgenError(f"{where}: config.json palette: {e}") from None
    if palette is not None and not colour_input and palette.num_classes != label_nc:
        raise CimgenError(f"{where}: its palette has {palette.num_classes} classes but label_nc is {label_nc}")
    if gen.in_channels != (label_nc or COLOR_MAP_CHANNELS) + edges:
        raise CimgenError(
            f"{where}: its generator takes {gen.in_channels} input channels, which does not fit "
            + ("colour maps (3 channels, label_nc 0)" if colour_input else f"{label_nc} classes")
            + (" and an edge channel" if edges else "")
        )


def _pix2pixhd(config: dict, where: str) -> int:
    kind = config["model"]
    gtype = config.get("generator_type", "global") if kind == PIX2PIXHD else ("local" if kind == PIX2PIXHD_LOCAL else "global")
    if gtype not in ("global", "local"):
        raise CimgenError(f"{where}: generator_type is {gtype!r}; choose global or local")
    cls = LocalEnhancerConfig if gtype == "local" else GlobalGeneratorConfig
    gen = config_from(cls, _required(config, "generator", where), f"{where}: generator")
    _labels(config, gen, where, required=kind == PIX2PIXHD)
    weights = weight_count(gen)
    disc = _required(config, "discriminator", where) if kind == PIX2PIXHD else config.get("discriminator")
    if disc:  # an imported generator may come without one (fine-tuning then starts it from scratch)
        if isinstance(disc, dict) and "name" in disc:
            raise CimgenError(f"{where}: discriminator is a junyanz network spec; a pix2pixHD checkpoint holds a multi-scale one")
        d = config_from(MultiscaleDiscriminatorConfig, disc, f"{where}: discriminator")
        if d.in_channels != gen.in_channels + gen.out_channels:
            raise CimgenError(
                f"{where}: its discriminator takes {d.in_channels} input channels, not the generator's {gen.in_channels} "
                f"plus {gen.out_channels} image channels"
            )
        weights += weight_count(d)
    return weights


def _junyanz(config: dict, where: str) -> int:
    cls = UnetGeneratorConfig if config["model"] == JUNYANZ_UNET else ResnetGeneratorConfig
    weights = weight_count(config_from(cls, _required(config, "generator", where), f"{where}: generator"))
    if config.get("discriminator"):
        weights += weight_count(registry_config(config["discriminator"], "discriminator", f"{where}: discriminator")[1])
    return weights


def _image_to_image(config: dict, where: str) -> int:
    """CycleGAN (G_A, G_B, D_A, D_B) and pix2pix (one G, one D), whose networks are registry specs."""
    _, gen = registry_config(_required(config, "generator", where), "generator", f"{where}: generator")
    copies = 2 if config["model"] == CYCLEGAN else 1
    weights = copies * weight_count(gen)
    if config["model"] == PIX2PIX and config.get("direction", "AtoB") not in DIRECTIONS:
        raise CimgenError(f"{where}: direction is {config.get('direction')!r}; choose AtoB or BtoA")
    if config.get("discriminator") is not None:
        _, disc = registry_config(config["discriminator"], "discriminator", f"{where}: discriminator")
        weights += copies * weight_count(disc)
    return weights


def _detector_checkpoint(config: dict, where: str) -> int:
    return weight_count(config_from(DetectorConfig, _required(config, DETECTOR, where), f"{where}: detector"))


def _singan(config: dict, where: str) -> int:
    raw = _required(config, SINGAN, where)
    if not isinstance(raw, dict):
        raise CimgenError(f"{where}: singan must be a mapping of settings, got {type(raw).__name__}")
    settings = {}
    for key, rule in SINGAN_BOUNDS.items():
        if key in raw:
            settings[key] = _int(raw, key, rule, f"{where}: singan")
    sizes = _required(config, "sizes", where)
    if not isinstance(sizes, list) or not SINGAN_SCALES[0] <= len(sizes) <= SINGAN_SCALES[1]:
        raise CimgenError(f"{where}: sizes must list {SINGAN_SCALES[0]} to {SINGAN_SCALES[1]} scales as [height, width]")
    for i, size in enumerate(sizes):
        if not isinstance(size, list) or len(size) != 2:
            raise CimgenError(f"{where}: sizes[{i}] must be [height, width], got {size!r}")
        for value in size:
            if isinstance(value, bool) or not isinstance(value, int):
                raise CimgenError(f"{where}: sizes[{i}] must hold two integers, got {size!r}")
            check_value(value, SINGAN_SIDE, f"{where}: sizes[{i}]")
    trained = _int(config, "trained_scales", (1, len(sizes)), where)
    amps = _required(config, "noise_amps", where)
    if not isinstance(amps, list) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in amps):
        raise CimgenError(f"{where}: noise_amps must be a list of finite numbers")
    return singan_weights(
        trained,
        nfc=settings.get("nfc", 32),
        max_nfc=settings.get("max_nfc", 128),
        num_layer=settings.get("num_layer", 5),
        kernel=settings.get("kernel", 3),
        double_every=settings.get("double_every", 4),
    )


def singan_weights(scales: int, *, nfc: int, max_nfc: int, num_layer: int, kernel: int, double_every: int) -> int:
    """Weights of ``scales`` SinGAN generators (a discriminator of a scale has as many), from the settings alone."""
    weights = 0
    for scale in range(scales):
        c = min(nfc * 2 ** (scale // double_every), max_nfc)
        weights += _conv(3, c, kernel) + (num_layer - 2) * _conv(c, c, kernel) + (num_layer - 1) * _norm("batch", c) + _conv(c, 3, kernel)
    return weights


CHECKS = {
    PIX2PIXHD: _pix2pixhd,
    PIX2PIXHD_GLOBAL: _pix2pixhd,
    PIX2PIXHD_LOCAL: _pix2pixhd,
    JUNYANZ_RESNET: _junyanz,
    JUNYANZ_UNET: _junyanz,
    CYCLEGAN: _image_to_image,
    PIX2PIX: _image_to_image,
    DETECTOR: _detector_checkpoint,
    SINGAN: _singan,
}
"""Every kind of checkpoint cimgen writes, and the check of its config."""


def check_checkpoint_config(config: dict, source: str) -> int:
    """Check a checkpoint's ``config.json`` (untrusted) against its kind's schema and size, before any network is built.

    Kinds not in ``CHECKS`` pass: the loader that reads them names the kinds it takes.

    Args:
        config: the config as read (``cimgen.io.checkpoints.read_config`` / ``load_checkpoint``).
        source: the checkpoint's name for messages.

    Returns:
        The weights its networks hold (0 for an unknown kind).
    """
    if not isinstance(config, dict):
        raise CimgenError(f"checkpoint {source}: its config.json must hold a mapping, got {type(config).__name__}")
    check = CHECKS.get(config.get("model")) if isinstance(config.get("model"), str) else None
    if check is None:
        return 0
    where = f"checkpoint {source}"
    weights = check(config, where)
    check_size(weights, where, DAMAGED)
    return weights
