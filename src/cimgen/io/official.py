"""Import and export of the official pix2pixHD and junyanz CycleGAN/pix2pix generator files (``latest_net_G.pth``),
and of pix2pixHD's multi-scale discriminator files (``latest_net_D.pth``).

The official projects save a generator as ``torch.save(net.state_dict(), path)``: a plain dict of
tensors with the module's own names (NVIDIA/pix2pixHD and junyanz/pytorch-CycleGAN-and-pix2pix,
``models/base_model.py``). cimgen's modules use the same names, so importing is: read without
unpickling code, unwrap, drop what the official loaders also drop, infer the architecture from
tensor shapes, and load strictly. Exporting writes the state dict back in that format.

What is dropped: a ``module.`` prefix (files saved from a ``DataParallel`` wrapper by third-party
code), a ``state_dict`` wrapper, and instance-norm ``running_mean`` / ``running_var`` /
``num_batches_tracked``, which files written with PyTorch before 0.4 carry although instance norm
has no statistics (the junyanz loader removes them the same way, ``__patch_instance_norm_state_dict``).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import state_dict_mismatch
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
from cimgen.models.pix2pixhd import (
    GlobalGenerator,
    GlobalGeneratorConfig,
    LocalEnhancer,
    LocalEnhancerConfig,
    MultiscaleDiscriminator,
    MultiscaleDiscriminatorConfig,
)

PIX2PIXHD_GLOBAL = "pix2pixhd-global"
PIX2PIXHD_LOCAL = "pix2pixhd-local"
CYCLEGAN_RESNET = "junyanz-resnet"
CYCLEGAN_UNET = "junyanz-unet"
KINDS = (PIX2PIXHD_GLOBAL, PIX2PIXHD_LOCAL, CYCLEGAN_RESNET, CYCLEGAN_UNET)
_STATS = (".running_mean", ".running_var", ".num_batches_tracked")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an official ``.pth`` file, loaded with ``weights_only=True`` and unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"checkpoint file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is the file's problem
        from cimgen.io.checkpoints import torch_load_failure

        raise CimgenError(f"{path} cannot be loaded: {torch_load_failure(e)}") from None
    for wrapper in ("state_dict", "model", "netG", "generator", "netD", "discriminator"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CimgenError(f"{path} does not hold a dictionary of tensors (a network's state dict)")
    return {k.removeprefix("module."): v for k, v in obj.items() if k != "_metadata"}


def _indices(keys, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in keys if (m := rx.fullmatch(k))})


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
        return CYCLEGAN_UNET
    if "model.1.weight" in keys and any(".conv_block." in k for k in keys):
        blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
        downs = (blocks[0] - 4) // 3
        in_ch = sd["model.1.weight"].shape[1]
        return CYCLEGAN_RESNET if downs == 2 and in_ch == 3 else PIX2PIXHD_GLOBAL
    raise CimgenError("the state dict is not a pix2pixHD (global or local) or junyanz ResNet / U-Net generator")


def infer_config(sd: dict[str, torch.Tensor], kind: str):
    """The cimgen config that reproduces the file's tensors (checked afterwards by a strict load)."""
    keys = set(sd)
    if kind in (PIX2PIXHD_GLOBAL, CYCLEGAN_RESNET):
        w = sd["model.1.weight"]
        blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
        if not blocks:
            raise CimgenError("the generator has no residual blocks (model.N.conv_block.*), which cimgen's import expects")
        downs = (blocks[0] - 4) // 3
        conv_idx = 5 if any(".conv_block.5." in k for k in keys) else (6 if any(".conv_block.6." in k for k in keys) else 3)
        padding = "reflect" if conv_idx in (5, 6) else "zero"
        last = max(_indices(keys, r"model\.(\d+)\.weight"))
        out_ch = sd[f"model.{last}.weight"].shape[0]
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
    if kind == PIX2PIXHD_LOCAL:
        n = max(_indices(keys, r"model(\d+)_1\.1\.weight"))
        front = sd[f"model{n}_1.1.weight"]
        blocks = _indices(keys, r"model\.(\d+)\.conv_block\.\d+\.weight")
        local_blocks = _indices(keys, rf"model{n}_2\.(\d+)\.conv_block\.\d+\.weight")
        last = max(_indices(keys, rf"model{n}_2\.(\d+)\.weight"))
        return LocalEnhancerConfig(
            in_channels=front.shape[1], out_channels=sd[f"model{n}_2.{last}.weight"].shape[0], base_channels=front.shape[0],
            num_downsamplings_global=(blocks[0] - 4) // 3, num_blocks_global=len(blocks), num_local_enhancers=n,
            num_blocks_local=len(local_blocks), norm=_norm_of(sd, f"model{n}_1.2", f"model{n}_1.1"),
        )  # fmt: skip
    if kind == CYCLEGAN_UNET:
        # Level 2 sits at model.model.1, each deeper level at .model.3 of its parent, and every level's
        # down-convolution at .model.1 of its own block: the innermost down-conv's key gives the depth.
        downconvs = [k for k in keys if k.startswith("model.model.1.") and k.endswith(".model.1.weight")]
        num_downs = 2 + max(k.count(".model.3") for k in downconvs)
        first = sd["model.model.0.weight"]
        # The outermost block's transposed conv is the last layer of model.model: (inner*2, out, 4, 4).
        up = max(_indices(keys, r"model\.model\.(\d+)\.weight"))
        has_bn = any(k.endswith("running_mean") for k in keys)
        norm = "batch" if has_bn else ("instance" if "model.model.1.model.1.bias" in keys else "none")
        # The U-Net's dropout layers come last in their blocks and hold no tensors, so a file cannot
        # show whether it was trained with them; they only matter when training further.
        return UnetGeneratorConfig(
            in_channels=first.shape[1], out_channels=sd[f"model.model.{up}.weight"].shape[1], num_downs=num_downs,
            base_channels=first.shape[0], norm=norm, dropout=False,
        )  # fmt: skip
    raise CimgenError(f"unknown generator kind '{kind}'; choose one of {', '.join(KINDS)}")


def build(kind: str, config) -> nn.Module:
    """The cimgen module for ``kind`` and its config."""
    return {
        PIX2PIXHD_GLOBAL: GlobalGenerator,
        PIX2PIXHD_LOCAL: LocalEnhancer,
        CYCLEGAN_RESNET: ResnetGenerator,
        CYCLEGAN_UNET: UnetGenerator,
    }[kind](config)


def config_class(kind: str):
    """The config dataclass of ``kind``."""
    return {
        PIX2PIXHD_GLOBAL: GlobalGeneratorConfig, PIX2PIXHD_LOCAL: LocalEnhancerConfig,
        CYCLEGAN_RESNET: ResnetGeneratorConfig, CYCLEGAN_UNET: UnetGeneratorConfig,
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
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in given.items()}, strict=True)
    return dropped


def import_generator(path: str | Path, *, kind: str | None = None) -> tuple[nn.Module, str, object, list[str]]:
    """An official generator file as a cimgen module: (module, kind, config, dropped keys)."""
    sd = read_state_dict(path)
    kind = kind or detect_kind(sd)
    if kind not in KINDS:
        raise CimgenError(f"unknown generator kind '{kind}'; choose one of {', '.join(KINDS)}")
    try:
        config = infer_config(sd, kind)
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{path} does not have the layout of a {kind} generator") from None
    module = build(kind, config)
    dropped = strict_load(module, sd, source=str(path))
    return module.eval(), kind, config, dropped


def export_generator(module: nn.Module, path: str | Path) -> Path:
    """Write ``module``'s state dict as an official-format ``.pth`` (plain dict of tensors, official names)."""
    return save_state_dict(module.state_dict(), path)


def save_state_dict(sd: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write a plain dict of tensors as a ``.pth`` file, atomically: the official projects' checkpoint format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({k: v.detach().cpu().contiguous() for k, v in sd.items()}, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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


def _d_config(sd: dict[str, torch.Tensor]) -> MultiscaleDiscriminatorConfig:
    inter = [m.groups() for k in sd if (m := _D_INTERM.fullmatch(k))]
    flat = [m.groups() for k in sd if (m := _D_FLAT.fullmatch(k))]
    if not inter and not flat:
        raise CimgenError("the state dict is not a pix2pixHD multi-scale discriminator (no scale{s}_layer{j}.* or layer{s}.model.* keys)")
    scales = sorted({int(g[0]) for g in (inter or flat)})
    if scales != list(range(len(scales))):
        raise CimgenError(f"the discriminator's scales are numbered {scales}, not 0 to {len(scales) - 1}")
    if inter:
        first = sd["scale0_layer0.0.weight"]
        num_layers = len({int(g[1]) for g in inter if g[0] == "0"}) - 2
        norm_key = "scale0_layer1.1"
    else:
        first = sd["layer0.model.0.weight"]
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


def import_discriminator(path: str | Path) -> tuple[MultiscaleDiscriminator, MultiscaleDiscriminatorConfig, list[str]]:
    """An official pix2pixHD ``latest_net_D.pth`` as a cimgen ``MultiscaleDiscriminator``: (module, config, dropped keys)."""
    sd = read_state_dict(path)
    try:
        config, mapped = discriminator_from_official(sd)
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{path} does not have the layout of a pix2pixHD multi-scale discriminator") from None
    module = MultiscaleDiscriminator(config)
    dropped = strict_load(module, mapped, source=str(path))
    return module.eval(), config, dropped


def export_discriminator(module: MultiscaleDiscriminator, path: str | Path) -> Path:
    """Write a cimgen ``MultiscaleDiscriminator`` as an official pix2pixHD ``latest_net_D.pth`` (feature-matching layout)."""
    num_d = module.config.num_discriminators
    rx = re.compile(r"discriminators\.(\d+)\.blocks\.(\d+)\.(\d+)\.(.+)")
    sd = {}
    for k, v in module.state_dict().items():
        i, j, idx, rest = rx.fullmatch(k).groups()
        sd[f"scale{num_d - 1 - int(i)}_layer{j}.{idx}.{rest}"] = v
    return save_state_dict(sd, path)


# ----------------------------------------------------------------------------- junyanz discriminators
#
# junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``: ``NLayerDiscriminator`` (netD basic /
# n_layers) is one nn.Sequential ``model`` and ``PixelDiscriminator`` one ``net``; cimgen's modules use
# the same names, so their files load as they are once the architecture is inferred.

JUNYANZ_PATCHGAN = "n_layers"
JUNYANZ_PIXEL = "pixel"


def import_patchgan(path: str | Path) -> tuple[nn.Module, str, object, list[str]]:
    """A junyanz discriminator file (``latest_net_D.pth``, ``latest_net_D_A.pth``) as a cimgen module.

    Returns (module, registry name ``n_layers`` or ``pixel``, config, dropped keys).
    """
    sd = read_state_dict(path)
    try:
        if "model.0.weight" in sd and sd["model.0.weight"].ndim == 4:
            convs = [i for i in _indices(sd, r"model\.(\d+)\.weight") if sd[f"model.{i}.weight"].ndim == 4]
            w = sd["model.0.weight"]
            norm = _norm_of(sd, f"model.{convs[1] + 1}", f"model.{convs[1]}")
            config = NLayerDiscriminatorConfig(in_channels=w.shape[1], base_channels=w.shape[0], num_layers=len(convs) - 2, norm=norm)
            module, name = NLayerDiscriminator(config), JUNYANZ_PATCHGAN
        elif "net.0.weight" in sd:
            w = sd["net.0.weight"]
            config = PixelDiscriminatorConfig(in_channels=w.shape[1], base_channels=w.shape[0], norm=_norm_of(sd, "net.3", "net.2"))
            module, name = PixelDiscriminator(config), JUNYANZ_PIXEL
        else:
            raise CimgenError(f"{path} is not a junyanz PatchGAN (model.N.*) or pixel (net.N.*) discriminator")
    except (KeyError, ValueError, IndexError):
        raise CimgenError(f"{path} does not have the layout of a junyanz discriminator") from None
    dropped = strict_load(module, sd, source=str(path))
    return module.eval(), name, config, dropped


# ----------------------------------------------------------------------------- junyanz CycleGAN, all four networks
#
# junyanz ``models/cycle_gan_model.py`` names its networks G_A (A -> B), G_B (B -> A), D_A (judges B
# images) and D_B (judges A images), and ``base_model.save_networks`` writes each as
# ``{epoch}_net_{name}.pth`` in the run's checkpoint folder (``latest`` for the newest). The published
# CycleGAN models are single generators, one file per direction (e.g. map2sat and sat2map).

CYCLEGAN_NETS = ("G_A", "G_B", "D_A", "D_B")
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


def cyclegan_files(folder: str | Path, epoch: str = "latest") -> dict[str, Path | None]:
    """The ``{epoch}_net_{G_A,G_B,D_A,D_B}.pth`` files of a junyanz CycleGAN checkpoint folder; both generators must be
    there, the discriminators may be missing (fine-tuning then starts them from scratch)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CimgenError(f"{folder} is not a folder")
    files: dict[str, Path | None] = {n: folder / f"{epoch}_net_{n}.pth" for n in CYCLEGAN_NETS}
    missing = [p.name for n, p in files.items() if n.startswith("G") and not p.is_file()]
    if missing:
        found = sorted(p.name for p in folder.glob("*_net_*.pth"))[:6]
        raise CimgenError(
            f"{folder} is not a junyanz CycleGAN checkpoint folder for epoch '{epoch}': {' and '.join(missing)} missing"
            + (f" (it holds {', '.join(found)}; choose the epoch with --epoch)" if found else "")
        )
    return {n: (p if p.is_file() else None) for n, p in files.items()}


def import_cyclegan(files: dict[str, Path | None]) -> tuple[dict, dict[str, torch.Tensor], list[str]]:
    """A whole junyanz CycleGAN (two generators, and two discriminators or none) as a cimgen ``cyclegan`` checkpoint.

    Args:
        files: the ``.pth`` file of each of G_A, G_B, D_A, D_B (None for a discriminator left out).

    Returns:
        (checkpoint config, tensors under G_A./G_B./D_A./D_B., dropped stale keys). The config is the one
        cimgen's CycleGAN recipe writes, so ``finetune --from``, ``translate`` and ``export-official`` take it.
    """
    gens = {n: import_generator(files[n]) for n in ("G_A", "G_B")}
    (_, kind, cfg_a, dropped), (_, kind_b, cfg_b, dropped_b) = gens["G_A"], gens["G_B"]
    if kind not in (CYCLEGAN_RESNET, CYCLEGAN_UNET):
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
    dropped = dropped + dropped_b
    d_files = {n: files.get(n) for n in ("D_A", "D_B")}
    d_spec: dict = {"name": "basic", "options": {}}
    if any(d_files.values()):
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
        d_spec = {"name": name, "options": options}
        for n, (m, _, _, d_dropped) in ds.items():
            tensors.update({f"{n}.{k}": v for k, v in m.state_dict().items()})
            dropped = dropped + d_dropped
    config = {
        "model": "cyclegan",
        "generator": spec,
        "discriminator": d_spec,
        "directions": {"AtoB": "G_A", "BtoA": "G_B"},
        "imported": True,
        "source": {n: str(p) for n, p in files.items() if p is not None},
    }
    return config, tensors, dropped


def export_cyclegan(tensors: dict[str, torch.Tensor], folder: str | Path, epoch: str = "latest") -> list[Path]:
    """Write a cimgen CycleGAN checkpoint's networks as junyanz files ``{epoch}_net_{G_A,G_B,D_A,D_B}.pth``: the module
    names are the official ones, so each state dict goes out as stored."""
    written = []
    for n in CYCLEGAN_NETS:
        sd = {k.removeprefix(f"{n}."): v for k, v in tensors.items() if k.startswith(f"{n}.")}
        if sd:
            written.append(save_state_dict(sd, Path(folder) / f"{epoch}_net_{n}.pth"))
    return written
