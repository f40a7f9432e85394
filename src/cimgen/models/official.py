"""The official pix2pixHD and junyanz CycleGAN/pix2pix networks' state dicts as cimgen modules and configs, and back.

The official projects save a network as ``torch.save(net.state_dict(), path)``: a plain dict of
tensors with the module's own names (NVIDIA/pix2pixHD and junyanz/pytorch-CycleGAN-and-pix2pix,
``models/base_model.py``). cimgen's modules use the same names, so importing is: read the file
(``cimgen.io.official``), drop what the official loaders also drop, infer the architecture from
tensor shapes, and load strictly. Exporting gives the state dict back under the official names.

What is dropped here: instance-norm ``running_mean`` / ``running_var`` / ``num_batches_tracked``,
which files written with PyTorch before 0.4 carry although instance norm has no statistics (the
junyanz loader removes them the same way, ``__patch_instance_norm_state_dict``). Wrappers and
``module.`` prefixes are removed when the file is read.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import first_non_finite, state_dict_mismatch
from cimgen.io.official import read_state_dict, save_state_dict
from cimgen.kinds import CYCLEGAN, IMPORTED_GENERATOR_KINDS, JUNYANZ_RESNET, JUNYANZ_UNET, PIX2PIXHD_GLOBAL, PIX2PIXHD_LOCAL
from cimgen.models.cyclegan import (
    NLayerDiscriminator,
    NLayerDiscriminatorConfig,
    PixelDiscriminator,
    PixelDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    UnetGenerator,
    UnetGeneratorConfig,
)
from cimgen.models.limits import check_network
from cimgen.models.pix2pixhd import (
    GlobalGenerator,
    GlobalGeneratorConfig,
    LocalEnhancer,
    LocalEnhancerConfig,
    MultiscaleDiscriminator,
    MultiscaleDiscriminatorConfig,
)

KINDS = IMPORTED_GENERATOR_KINDS
"""The kinds of official generator cimgen imports and exports (``cimgen.kinds``)."""
_STATS = (".running_mean", ".running_var", ".num_batches_tracked")
OFFICIAL_ADVICE = "it is damaged, or not a network cimgen imports"
MAX_TENSORS = 100_000
"""More tensors than any official network holds (pix2pixHD's 1024p generator has about 300); a bound on the work a file can ask for."""


def check_tensor_dict(sd: dict[str, torch.Tensor], source: str) -> None:
    """One sentence unless ``sd`` is a non-empty mapping of text names to tensors, of a size a network can have."""
    if not isinstance(sd, dict) or not sd:
        raise CimgenError(f"{source} holds no tensors")
    if len(sd) > MAX_TENSORS:
        raise CimgenError(f"{source} holds {len(sd):,} tensors, more than any network cimgen imports ({MAX_TENSORS:,})")
    for k, v in sd.items():
        if not isinstance(k, str):
            raise CimgenError(f"{source} names a tensor by {type(k).__name__} {k!r}; a state dict names each one by text")
        if not isinstance(v, torch.Tensor):
            raise CimgenError(f"{source} holds a {type(v).__name__} under '{k}', not a tensor")


def check_ranks(sd: dict[str, torch.Tensor], source: str) -> None:
    """One sentence unless every tensor has a rank a conv network's state dict holds.

    Convolution and norm weights, biases and statistics are 4-D or 1-D, a batch count 0-D; anything else
    (a scalar where a weight should be, a 2-D matrix) cannot be one of the official networks' tensors.
    """
    for k, v in sd.items():
        want = (0, 1) if k.endswith(".num_batches_tracked") else (1, 4)
        if v.ndim not in want:
            raise CimgenError(
                f"{source} holds a {v.ndim}-D tensor '{k}' of shape {tuple(v.shape)}; "
                f"the networks cimgen imports hold {' or '.join(f'{d}-D' for d in want)} tensors there"
            )


def _indices(keys, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys if (m := rx.fullmatch(k))})


def _conv_weight(sd: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """The tensor ``key``, which the layout inference reads as a convolution's weight: it must be 4-D and non-empty."""
    w = sd[key]
    if w.ndim != 4 or w.numel() == 0:
        raise CimgenError(f"'{key}' is a tensor of shape {tuple(w.shape)} where a convolution's 4-D weight is expected")
    return w


def _norm_of(sd: dict[str, torch.Tensor], norm_prefix: str, conv_prefix: str) -> str:
    """batch when the norm layer has affine weights and statistics, instance when the conv has a bias, else none."""
    if f"{norm_prefix}.running_mean" in sd and f"{norm_prefix}.weight" in sd:
        return "batch"
    if f"{conv_prefix}.bias" in sd:
        return "instance"
    return "none"


def detect_kind(sd: dict[str, torch.Tensor]) -> str:
    """Which official generator a state dict is, from its key names and shapes.

    A pix2pixHD global generator with 2 downsamplings and a junyanz ResNet generator have the same
    layout; a 3-channel input then means an image-to-image (CycleGAN/pix2pix) ResNet, more channels a
    one-hot label map (pix2pixHD). Pass ``kind`` explicitly to override.
    """
    keys = set(sd)
    if any(k.startswith("model1_1.") for k in keys):
        return PIX2PIXHD_LOCAL
    if "model.model.0.weight" in keys:
        return JUNYANZ_UNET
    if "model.1.weight" in keys and any(".conv_block." in k for k in keys):
        blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
        downs = (blocks[0] - 4) // 3 if blocks else -1
        in_ch = _conv_weight(sd, "model.1.weight").shape[1]
        return JUNYANZ_RESNET if downs == 2 and in_ch == 3 else PIX2PIXHD_GLOBAL
    raise CimgenError("the state dict is not a pix2pixHD (global or local) or junyanz ResNet / U-Net generator")


def _resnet_config(sd: dict[str, torch.Tensor], kind: str) -> GlobalGeneratorConfig | ResnetGeneratorConfig:
    """A pix2pixHD global generator's or junyanz ResNet generator's config (the two share one layout)."""
    keys = set(sd)
    w = _conv_weight(sd, "model.1.weight")
    blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
    if not blocks:
        raise CimgenError("the generator has no residual blocks (model.N.conv_block.*), which cimgen's import expects")
    downs = (blocks[0] - 4) // 3
    conv_idx = 5 if any(".conv_block.5." in k for k in keys) else (6 if any(".conv_block.6." in k for k in keys) else 3)
    padding = "reflect" if conv_idx in (5, 6) else "zero"
    last = max(i for i in _indices(keys, r"model\.(\d+)\.weight") if sd[f"model.{i}.weight"].ndim == 4)
    out_ch = _conv_weight(sd, f"model.{last}.weight").shape[0]
    if kind == PIX2PIXHD_GLOBAL:
        return GlobalGeneratorConfig(
            in_channels=w.shape[1], out_channels=out_ch, base_channels=w.shape[0], num_downsamplings=downs,
            num_blocks=len(blocks), norm=_norm_of(sd, "model.2", "model.1"), padding="reflect" if padding == "reflect" else "zeros",
        )  # fmt: skip
    if downs != 2:
        raise CimgenError(f"a junyanz ResNet generator has 2 downsamplings, this file has {downs}")
    return ResnetGeneratorConfig(
        in_channels=w.shape[1], out_channels=out_ch, base_channels=w.shape[0], num_blocks=len(blocks),
        norm=_norm_of(sd, "model.2", "model.1"), dropout=conv_idx == 6, padding=padding,
    )  # fmt: skip


def infer_config(sd: dict[str, torch.Tensor], kind: str):
    """The cimgen config that reproduces the file's tensors (checked afterwards by a strict load)."""
    keys = set(sd)
    if kind in (PIX2PIXHD_GLOBAL, JUNYANZ_RESNET):
        return _resnet_config(sd, kind)
    if kind == PIX2PIXHD_LOCAL:
        n = max(_indices(keys, r"model(\d+)_1\.1\.weight"))
        front = _conv_weight(sd, f"model{n}_1.1.weight")
        blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
        local_blocks = _indices(keys, rf"model{n}_2\.(\d+)\.conv_block\.\d+\.weight")
        last = max(i for i in _indices(keys, rf"model{n}_2\.(\d+)\.weight") if sd[f"model{n}_2.{i}.weight"].ndim == 4)
        return LocalEnhancerConfig(
            in_channels=front.shape[1], out_channels=_conv_weight(sd, f"model{n}_2.{last}.weight").shape[0], base_channels=front.shape[0],
            num_downsamplings_global=(blocks[0] - 4) // 3, num_blocks_global=len(blocks), num_local_enhancers=n,
            num_blocks_local=len(local_blocks), norm=_norm_of(sd, f"model{n}_1.2", f"model{n}_1.1"),
        )  # fmt: skip
    if kind == JUNYANZ_UNET:
        # Level 2 sits at model.model.1, each deeper level at .model.3 of its parent, and every level's
        # down-convolution at .model.1 of its own block: the innermost down-conv's key gives the depth.
        downconvs = [k for k in keys if k.startswith("model.model.1.") and k.endswith(".model.1.weight")]
        num_downs = 2 + max(k.count(".model.3") for k in downconvs)
        first = _conv_weight(sd, "model.model.0.weight")
        # The outermost block's transposed conv is the last layer of model.model: (inner*2, out, 4, 4).
        up = max(i for i in _indices(keys, r"model\.model\.(\d+)\.weight") if sd[f"model.model.{i}.weight"].ndim == 4)
        has_bn = any(k.endswith("running_mean") for k in keys)
        norm = "batch" if has_bn else ("instance" if "model.model.1.model.1.bias" in keys else "none")
        # The U-Net's dropout layers come last in their blocks and hold no tensors, so a file cannot
        # show whether it was trained with them; they only matter when training further.
        return UnetGeneratorConfig(
            in_channels=first.shape[1], out_channels=_conv_weight(sd, f"model.model.{up}.weight").shape[1], num_downs=num_downs,
            base_channels=first.shape[0], norm=norm, dropout=False,
        )  # fmt: skip
    raise CimgenError(f"unknown generator kind '{kind}'; choose one of {', '.join(KINDS)}")


def build(kind: str, config) -> nn.Module:
    """The cimgen module for ``kind`` and its config."""
    return {
        PIX2PIXHD_GLOBAL: GlobalGenerator,
        PIX2PIXHD_LOCAL: LocalEnhancer,
        JUNYANZ_RESNET: ResnetGenerator,
        JUNYANZ_UNET: UnetGenerator,
    }[kind](config)


def config_class(kind: str):
    """The config dataclass of ``kind``."""
    return {
        PIX2PIXHD_GLOBAL: GlobalGeneratorConfig, PIX2PIXHD_LOCAL: LocalEnhancerConfig,
        JUNYANZ_RESNET: ResnetGeneratorConfig, JUNYANZ_UNET: UnetGeneratorConfig,
    }[kind]  # fmt: skip


def strict_load(module: nn.Module, sd: dict[str, torch.Tensor], *, source: str) -> list[str]:
    """Load ``sd`` into ``module`` after dropping stale norm statistics; any other difference is one sentence.

    Returns the keys that were dropped.
    """
    own = module.state_dict()
    dropped = sorted(k for k in sd if k not in own and k.endswith(_STATS))
    given = {k: v for k, v in sd.items() if k not in dropped}
    problem = state_dict_mismatch(own, given)
    if problem:
        raise CimgenError(f"{source} does not match the inferred architecture: {problem}")
    bad = first_non_finite(given)
    if bad is not None:
        raise CimgenError(f"{source} holds NaN or infinite values in '{bad}'; it is damaged (or its training diverged)")
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in given.items()}, strict=True)
    return dropped


def generator_from_state_dict(
    sd: dict[str, torch.Tensor], *, kind: str | None = None, source: str
) -> tuple[nn.Module, str, object, list[str]]:
    """An official generator's state dict as a cimgen module: (module, kind, config, dropped keys).

    Args:
        sd: the tensors under the official names (``cimgen.io.official.read_state_dict``).
        kind: one of ``KINDS``; None infers it (``detect_kind``).
        source: where the tensors came from, for the errors.
    """
    check_tensor_dict(sd, source)
    if kind is not None and kind not in KINDS:
        raise CimgenError(f"unknown generator kind '{kind}'; choose one of {', '.join(KINDS)}")
    try:
        kind = kind or detect_kind(sd)
        config = infer_config(sd, kind)
    except CimgenError as e:
        raise CimgenError(f"{source}: {e}") from None
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{source} does not have the layout of a {kind or 'pix2pixHD or junyanz'} generator") from None
    check_ranks(sd, source)
    check_network(config, f"{source}: the {kind} generator's", OFFICIAL_ADVICE, sep=" ", subject=source)  # before building: 30 downsamplings would take all memory
    module = build(kind, config)
    dropped = strict_load(module, sd, source=source)
    return module.eval(), kind, config, dropped


def import_generator(path: str | Path, *, kind: str | None = None) -> tuple[nn.Module, str, object, list[str]]:
    """An official generator file as a cimgen module: (module, kind, config, dropped keys)."""
    return generator_from_state_dict(read_state_dict(path), kind=kind, source=str(path))


def export_generator(module: nn.Module, path: str | Path) -> Path:
    """Write ``module``'s state dict as an official-format ``.pth`` (plain dict of tensors, official names)."""
    return save_state_dict(module.state_dict(), path)


def config_dict(kind: str, config) -> dict:
    """The import's description for a cimgen checkpoint's ``config.json``."""
    return {"model": kind, "generator": asdict(config), "imported": True}


# ----------------------------------------------------------------------------- pix2pixHD discriminator
#
# NVIDIA/pix2pixHD ``models/networks.py``: ``MultiscaleDiscriminator`` keeps num_D ``NLayerDiscriminator``s.
# With feature matching (``getIntermFeat``, the default) their layers are attributes
# ``scale{s}_layer{j}`` (each an nn.Sequential: conv [, norm], LeakyReLU; the last one a conv alone);
# without it each is one flattened nn.Sequential ``layer{s}.model``. ``forward`` gives the full-size
# input to ``scale{num_D-1}`` and the most pooled one to ``scale0``, so the official scale index runs
# opposite to cimgen's ``discriminators.{i}`` (i = 0 sees the full-size input).

_D_INTERM = re.compile(r"scale(\d+)_layer(\d+)\.(\d+)\.(.+)")
_D_FLAT = re.compile(r"layer(\d+)\.model\.(\d+)\.(.+)")
_D_CIMGEN = re.compile(r"discriminators\.(\d+)\.blocks\.(\d+)\.(\d+)\.(.+)")


def _d_config(sd: dict[str, torch.Tensor]) -> MultiscaleDiscriminatorConfig:
    inter = [m.groups() for k in sd if (m := _D_INTERM.fullmatch(k))]
    flat = [m.groups() for k in sd if (m := _D_FLAT.fullmatch(k))]
    if not inter and not flat:
        raise CimgenError("the state dict is not a pix2pixHD multi-scale discriminator (no scale{s}_layer{j}.* or layer{s}.model.* keys)")
    scales = sorted({int(g[0]) for g in (inter or flat)})
    if scales != list(range(len(scales))):
        raise CimgenError(f"the discriminator's scales are numbered {scales}, not 0 to {len(scales) - 1}")
    if inter:
        first = _conv_weight(sd, "scale0_layer0.0.weight")
        num_layers = len({int(g[1]) for g in inter if g[0] == "0"}) - 2
        norm_key = "scale0_layer1.1"
    else:
        first = _conv_weight(sd, "layer0.model.0.weight")
        convs = sorted({int(g[1]) for g in flat if g[0] == "0" and g[2] == "weight" and sd[f"layer0.model.{g[1]}.weight"].ndim == 4})
        num_layers = len(convs) - 2
        norm_key = f"layer0.model.{convs[1] + 1}"
    norm = "batch" if f"{norm_key}.running_mean" in sd and f"{norm_key}.weight" in sd else "instance"
    return MultiscaleDiscriminatorConfig(
        in_channels=first.shape[1], base_channels=first.shape[0], num_layers=num_layers, num_discriminators=len(scales), norm=norm
    )


def _d_slots(module: MultiscaleDiscriminator) -> list[tuple[int, int]]:
    """(layer j, index k) of every module of one scale's PatchGAN, in the order of the official flattened Sequential."""
    return [(j, k) for j, block in enumerate(module.discriminators[0].blocks) for k in range(len(block))]


def discriminator_from_official(sd: dict[str, torch.Tensor]) -> tuple[MultiscaleDiscriminatorConfig, dict[str, torch.Tensor]]:
    """The config of an official pix2pixHD discriminator state dict, and its tensors under cimgen's names."""
    config = _d_config(sd)
    check_ranks(sd, "the discriminator")
    check_network(config, "the discriminator's", OFFICIAL_ADVICE, sep=" ", subject="the discriminator")
    num_d = config.num_discriminators
    slots = _d_slots(MultiscaleDiscriminator(config))
    out = {}
    for k, v in sd.items():
        if m := _D_INTERM.fullmatch(k):
            s, j, idx, rest = m.groups()
            out[f"discriminators.{num_d - 1 - int(s)}.blocks.{j}.{idx}.{rest}"] = v
        elif m := _D_FLAT.fullmatch(k):
            s, flat_idx, rest = m.groups()
            if int(flat_idx) >= len(slots):
                raise CimgenError(f"the discriminator has a layer {k} beyond the {len(slots)} modules its shapes imply")
            j, idx = slots[int(flat_idx)]
            out[f"discriminators.{num_d - 1 - int(s)}.blocks.{j}.{idx}.{rest}"] = v
        else:
            out[k] = v  # left for the strict load to name
    return config, out


def discriminator_to_official(module: MultiscaleDiscriminator) -> dict[str, torch.Tensor]:
    """A cimgen ``MultiscaleDiscriminator``'s tensors under the official pix2pixHD names (feature-matching layout)."""
    num_d = module.config.num_discriminators
    sd = {}
    for k, v in module.state_dict().items():
        i, j, idx, rest = _D_CIMGEN.fullmatch(k).groups()
        sd[f"scale{num_d - 1 - int(i)}_layer{j}.{idx}.{rest}"] = v
    return sd


def discriminator_from_state_dict(
    sd: dict[str, torch.Tensor], *, source: str
) -> tuple[MultiscaleDiscriminator, MultiscaleDiscriminatorConfig, list[str]]:
    """An official pix2pixHD discriminator state dict as a cimgen ``MultiscaleDiscriminator``: (module, config, dropped keys).

    Args:
        sd: the tensors under the official names.
        source: where the tensors came from, for the errors.
    """
    check_tensor_dict(sd, source)
    try:
        config, mapped = discriminator_from_official(sd)
    except CimgenError as e:
        raise CimgenError(f"{source}: {e}") from None
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{source} does not have the layout of a pix2pixHD multi-scale discriminator") from None
    module = MultiscaleDiscriminator(config)
    dropped = strict_load(module, mapped, source=source)
    return module.eval(), config, dropped


def import_discriminator(path: str | Path) -> tuple[MultiscaleDiscriminator, MultiscaleDiscriminatorConfig, list[str]]:
    """An official pix2pixHD ``latest_net_D.pth`` as a cimgen ``MultiscaleDiscriminator``: (module, config, dropped keys)."""
    return discriminator_from_state_dict(read_state_dict(path), source=str(path))


def export_discriminator(module: MultiscaleDiscriminator, path: str | Path) -> Path:
    """Write a cimgen ``MultiscaleDiscriminator`` as an official pix2pixHD ``latest_net_D.pth`` (feature-matching layout)."""
    return save_state_dict(discriminator_to_official(module), path)


# ----------------------------------------------------------------------------- junyanz discriminators
#
# junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``: ``NLayerDiscriminator`` (netD basic /
# n_layers) is one nn.Sequential ``model`` and ``PixelDiscriminator`` one ``net``; cimgen's modules use
# the same names, so their files load as they are once the architecture is inferred.

JUNYANZ_PATCHGAN = "n_layers"
JUNYANZ_PIXEL = "pixel"


def patchgan_from_state_dict(sd: dict[str, torch.Tensor], *, source: str) -> tuple[nn.Module, str, object, list[str]]:
    """A junyanz discriminator's state dict as a cimgen module.

    Args:
        sd: the tensors under the official names.
        source: where the tensors came from, for the errors.

    Returns:
        (module, registry name ``n_layers`` or ``pixel``, config, dropped keys).
    """
    check_tensor_dict(sd, source)
    try:
        if "model.0.weight" in sd and sd["model.0.weight"].ndim == 4:
            convs = [i for i in _indices(sd, r"model\.(\d+)\.weight") if sd[f"model.{i}.weight"].ndim == 4]
            w = _conv_weight(sd, "model.0.weight")
            norm = _norm_of(sd, f"model.{convs[1] + 1}", f"model.{convs[1]}")
            config = NLayerDiscriminatorConfig(in_channels=w.shape[1], base_channels=w.shape[0], num_layers=len(convs) - 2, norm=norm)
            name = JUNYANZ_PATCHGAN
        elif "net.0.weight" in sd:
            w = _conv_weight(sd, "net.0.weight")
            config = PixelDiscriminatorConfig(in_channels=w.shape[1], base_channels=w.shape[0], norm=_norm_of(sd, "net.3", "net.2"))
            name = JUNYANZ_PIXEL
        else:
            raise CimgenError(f"{source} is not a junyanz PatchGAN (model.N.*) or pixel (net.N.*) discriminator")
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{source} does not have the layout of a junyanz discriminator") from None
    check_ranks(sd, source)
    check_network(config, f"{source}: the junyanz {name} discriminator's", OFFICIAL_ADVICE, sep=" ", subject=source)
    module = NLayerDiscriminator(config) if name == JUNYANZ_PATCHGAN else PixelDiscriminator(config)
    dropped = strict_load(module, sd, source=source)
    return module.eval(), name, config, dropped


def import_patchgan(path: str | Path) -> tuple[nn.Module, str, object, list[str]]:
    """A junyanz discriminator file (``latest_net_D.pth``, ``latest_net_D_A.pth``) as a cimgen module.

    Returns (module, registry name ``n_layers`` or ``pixel``, config, dropped keys).
    """
    return patchgan_from_state_dict(read_state_dict(path), source=str(path))


# ----------------------------------------------------------------------------- junyanz CycleGAN, all four networks
#
# junyanz ``models/cycle_gan_model.py`` names its networks G_A (A -> B), G_B (B -> A), D_A (judges B
# images) and D_B (judges A images), and ``base_model.save_networks`` writes each as
# ``{epoch}_net_{name}.pth`` in the run's checkpoint folder (``latest`` for the newest). The published
# CycleGAN models are single generators, one file per direction (e.g. map2sat and sat2map).

UNET_NAMES = {8: "unet_256", 7: "unet_128"}
RESNET_NAMES = {9: "resnet_9blocks", 6: "resnet_6blocks"}
RGB = 3


def generator_spec(g: dict) -> dict | None:
    """The ``cimgen.models.cyclegan`` registry name and options (channels left out) of an imported junyanz generator's
    config, or None when the registry has no such network (another depth or block count, zero padding)."""
    if "num_downs" in g:
        name = UNET_NAMES.get(g["num_downs"])
        # A U-Net's dropout leaves no tensors: the file cannot say, so the recipe's default applies.
        options = {"base_channels": g["base_channels"], "norm": g["norm"]}
    else:
        name = RESNET_NAMES.get(g["num_blocks"]) if g.get("padding", "reflect") == "reflect" else None
        options = {"base_channels": g["base_channels"], "norm": g["norm"], "dropout": g["dropout"]}
    return None if name is None else {"name": name, "options": options}


def _cyclegan_generators(files: dict[str, Path | None]) -> tuple[dict, dict[str, torch.Tensor], list[str]]:
    """G_A and G_B imported and checked to be a pair: (registry spec, tensors under G_A./G_B., dropped keys)."""
    gens = {n: import_generator(files[n]) for n in ("G_A", "G_B")}
    (_, kind, cfg_a, dropped), (_, kind_b, cfg_b, dropped_b) = gens["G_A"], gens["G_B"]
    if kind not in (JUNYANZ_RESNET, JUNYANZ_UNET):
        raise CimgenError(f"{files['G_A']} is a {kind} generator, not a junyanz CycleGAN one")
    a, b = asdict(cfg_a), asdict(cfg_b)
    if (cfg_a.in_channels, cfg_a.out_channels) != (RGB, RGB):
        raise CimgenError(
            f"{files['G_A']} maps {cfg_a.in_channels} channels to {cfg_a.out_channels}; cimgen's CycleGAN translates RGB images"
        )
    if kind_b != kind or {**b, "in_channels": b["out_channels"], "out_channels": b["in_channels"]} != a:
        raise CimgenError(f"the two generators are not a CycleGAN pair: G_A is {kind} {a}, G_B is {kind_b} {b}")
    spec = generator_spec(a)
    if spec is None:
        names = ", ".join([*RESNET_NAMES.values(), *UNET_NAMES.values()])
        raise CimgenError(f"the generators ({kind} {a}) are none of {names}, which cimgen's CycleGAN recipe trains")
    tensors = {f"{n}.{k}": v for n, (m, *_) in gens.items() for k, v in m.state_dict().items()}
    return spec, tensors, dropped + dropped_b


def _cyclegan_discriminators(files: dict[str, Path | None]) -> tuple[dict, dict[str, torch.Tensor], list[str]]:
    """D_A and D_B imported and checked to be alike, or the recipe's default when neither is given: (spec, tensors, dropped)."""
    d_files = {n: files.get(n) for n in ("D_A", "D_B")}
    if not any(d_files.values()):
        return {"name": "basic", "options": {}}, {}, []
    if not all(d_files.values()):
        raise CimgenError("give both discriminators (D_A and D_B) or neither")
    ds = {n: import_patchgan(p) for n, p in d_files.items()}
    (_, name_a, dcfg_a, _), (_, name_b, dcfg_b, _) = ds["D_A"], ds["D_B"]
    if (name_a, dcfg_a) != (name_b, dcfg_b):
        raise CimgenError(f"the two discriminators differ: D_A is {name_a} {asdict(dcfg_a)}, D_B is {name_b} {asdict(dcfg_b)}")
    if dcfg_a.in_channels != RGB:
        raise CimgenError(
            f"the discriminators see {dcfg_a.in_channels} channels; a CycleGAN D sees one RGB image (a pix2pix D sees two stacked)"
        )
    name, options = name_a, {k: v for k, v in asdict(dcfg_a).items() if k != "in_channels"}
    if name == JUNYANZ_PATCHGAN and options["num_layers"] == 3:  # junyanz's netD 'basic' is n_layers 3
        name, options = "basic", {k: v for k, v in options.items() if k != "num_layers"}
    tensors, dropped = {}, []
    for n, (m, _, _, d_dropped) in ds.items():
        tensors.update({f"{n}.{k}": v for k, v in m.state_dict().items()})
        dropped = dropped + d_dropped
    return {"name": name, "options": options}, tensors, dropped


def import_cyclegan(files: dict[str, Path | None]) -> tuple[dict, dict[str, torch.Tensor], list[str]]:
    """A whole junyanz CycleGAN (two generators, and two discriminators or none) as a cimgen ``cyclegan`` checkpoint.

    Args:
        files: the ``.pth`` file of each of G_A, G_B, D_A, D_B (None for a discriminator left out).

    Returns:
        (checkpoint config, tensors under G_A./G_B./D_A./D_B., dropped stale keys). The config is the one
        cimgen's CycleGAN recipe writes, so ``finetune --from``, ``translate`` and ``export-official`` take it.
    """
    spec, tensors, dropped = _cyclegan_generators(files)
    d_spec, d_tensors, d_dropped = _cyclegan_discriminators(files)
    config = {
        "model": CYCLEGAN,
        "generator": spec,
        "discriminator": d_spec,
        "directions": {"AtoB": "G_A", "BtoA": "G_B"},
        "imported": True,
        "source": {n: str(p) for n, p in files.items() if p is not None},
    }
    return config, {**tensors, **d_tensors}, dropped + d_dropped
