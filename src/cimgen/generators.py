"""Generators at inference: any checkpoint kind loaded once, label maps rendered, images translated, maps made from images.

Every command and the web editor that runs a generator goes through here: ``cimgen manipulate``,
``cimgen translate``, ``cimgen demo``, the forgery sets of ``cimgen detect`` and ``cimgen app``.
What a checkpoint holds is looked up in the one table of kinds, ``cimgen.kinds.KINDS``: label-map
generators (pix2pixHD, cimgen's or imported) take one-hot maps, or with ``label_nc`` 0 in their config
(official ``--label_nc 0``) the map's RGB colours, so labels are drawn in the palette's colours first; image generators (CycleGAN,
pix2pix, single imported junyanz generators) take RGB images, so a label map is drawn in its
palette's colours first. A checkpoint file is read once per load (``load_checkpoint`` returns its
config and tensors together, and a CycleGAN's two directions are built from the same read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cimgen.config import from_dict
from cimgen.data.paired import colour_keys, instance_edges, one_hot
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_module
from cimgen.io.images import image_to_tensor, tensor_to_image
from cimgen.kinds import COLOR_MAP_CHANNELS, CYCLEGAN, DIRECTIONS, IMAGE, KINDS, LABELS
from cimgen.models.cyclegan import NetworkConfig, UnetGenerator, build_network, size_multiple
from cimgen.models.limits import check_checkpoint_config
from cimgen.models.official import build, config_class
from cimgen.models.pix2pixhd import GlobalGenerator, LocalEnhancer, generator_from_config
from cimgen.palette import Palette, check_labels, colors_to_labels, labels_to_colors, palette_from_option
from cimgen.train.pix2pixhd import as_pix2pixhd_config
from cimgen.train.runtime import eval_mode

SHIPPED_NAME = "synth-pix2pixhd-small"
"""The small pix2pixHD generator shipped in the package, pretrained on the synthetic world (seed 0)."""
SHIPPED_NAMES = {"transpose": SHIPPED_NAME, "resize": "synth-pix2pixhd-small-resize"}
"""The shipped generators' folders by their upsampling."""

IMAGE_CHANNELS = 3
"""Image generators translate RGB images (a map to translate is a colour map)."""

Checkpoint = tuple[dict, dict[str, torch.Tensor]]
"""A checkpoint as read once by ``cimgen.io.checkpoints.load_checkpoint``: (config, tensors)."""


def shipped_checkpoint(upsample: str = "transpose") -> Path:
    """A small pretrained synthetic-world generator shipped with the package: the one with transposed-convolution
    upsampling (the default), or its twin pretrained with resize-then-convolve upsampling (``upsample="resize"``,
    ``configs/synth_pretrain_resize.yaml``)."""
    if upsample not in SHIPPED_NAMES:
        raise CimgenError(f"no shipped generator upsamples by '{upsample}'; choose {', '.join(SHIPPED_NAMES)}")
    return Path(str(resources.files("cimgen") / "assets" / "pretrained" / SHIPPED_NAMES[upsample]))


SHIPPED_ALIASES = {"shipped": "transpose", "shipped-resize": "resize"}
"""Names that options taking a checkpoint folder accept for the shipped generators."""


def named_checkpoint(value: str | Path) -> Path:
    """A checkpoint folder given by path, or a shipped generator by its name in ``SHIPPED_ALIASES``."""
    return shipped_checkpoint(SHIPPED_ALIASES[str(value)]) if str(value) in SHIPPED_ALIASES else Path(value)


def read_checkpoint(source: str | Path | Checkpoint) -> tuple[Checkpoint, str]:
    """(config, tensors) of a checkpoint folder or run folder (or a shipped generator's name, ``named_checkpoint``), or of a
    checkpoint already read; and its name for messages."""
    if isinstance(source, tuple):
        read, name = source, str(source[0].get("source", "in memory"))
    else:
        read, name = load_checkpoint(named_checkpoint(source)), str(source)
    check_checkpoint_config(read[0], name)  # untrusted: its schema and size before any network is built
    return read, name


# ----------------------------------------------------------------------------------------------
# Label-map generators (pix2pixHD)


def load_label_generator(
    source: str | Path | Checkpoint, device: str | torch.device = "cpu"
) -> tuple[GlobalGenerator | LocalEnhancer, dict]:
    """A pix2pixHD generator ready for inference, and its checkpoint config (which holds label_nc and the palette).

    Args:
        source: a checkpoint or run folder (cimgen's or written by ``cimgen import-official``), or (config, tensors) already read.
        device: where the generator goes.
    """
    (config, tensors), name = read_checkpoint(source)
    return label_generator_from(config, tensors, name, device)


def label_generator_from(
    config: dict, tensors: dict[str, torch.Tensor], name: str, device: str | torch.device = "cpu"
) -> tuple[GlobalGenerator | LocalEnhancer, dict]:
    """The pix2pixHD generator of a read checkpoint, in eval mode on ``device``, and its config seen as pix2pixHD's."""
    config = as_pix2pixhd_config(config, name)  # written by `cimgen import-official`
    generator = generator_from_config(config, name)
    load_module(generator, tensors, "generator", source=name)
    return generator.to(device).eval(), config


@torch.no_grad()
def check_input_size(generator: nn.Module, height: int, width: int, what: str = "the image") -> None:
    """Refuse an input with a side too small for ``generator`` (not padded up: a 1-pixel strip carries no picture to translate).

    Inputs are padded to the generator's size multiple ``m``; instance normalisation and reflection
    padding at its coarsest level need two pixels a side there, so a side needs more than ``m``
    pixels. A U-Net has no normalisation at its 1x1 innermost level and takes any size.
    """
    least = 1 if isinstance(generator, UnetGenerator) else size_multiple(generator) + 1
    if min(height, width) < least:
        raise CimgenError(f"{what} is {width}x{height} pixels; this generator needs at least {least} pixels a side")


def generate(
    generator: GlobalGenerator | LocalEnhancer,
    labels: np.ndarray,
    label_nc: int,
    device: str | torch.device = "cpu",
    *,
    instances: np.ndarray | None = None,
    withheld: np.ndarray | None = None,
    image: np.ndarray | None = None,
    code_from: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Render an HxW label map (or a colour map, for ``label_nc`` 0) to an HxWx3 uint8 image, padding to the generator's size multiple.

    Args:
        generator: a global generator or local enhancer.
        labels: HxW class ids in 0..label_nc-1; for a colour-map generator (``label_nc`` 0, official ``--label_nc 0``)
            the HxWx3 uint8 colour map itself.
        label_nc: the number of classes the generator was trained with, 0 for colour maps.
        device: where to run.
        instances: HxW instance ids, for a generator trained with instance edge maps; without
            them (and for such a generator) the label map itself stands in, so class
            boundaries become the edges.
        withheld: HxW bool, where a position-coded, context or detail-coded generator draws from the map
            alone (the edited region); ignored by other generators.
        image: HxWx3 uint8, the original image a context generator sees outside ``withheld``; without it
            a context generator draws the whole image from the map. Ignored by other generators.
        code_from: (rows, cols), HxW ints: the place each pixel of a position- or detail-coded generator reads
            its codes from (``cimgen.edit.resample``); ignored by other generators.
    """
    colour_input = label_nc == 0
    if colour_input:
        if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.ndim != 3 or labels.shape[2] != 3:
            raise CimgenError(
                f"this generator takes colour maps (label_nc 0): give an HxWx3 uint8 colour map, got "
                f"{getattr(labels, 'dtype', type(labels).__name__)} {getattr(labels, 'shape', '')}"
            )
    else:
        check_labels(labels, label_nc)
    want_edges = generator.config.in_channels - (label_nc or COLOR_MAP_CHANNELS)
    if want_edges not in (0, 1):
        what = "colour maps (3 channels)" if colour_input else f"{label_nc} classes"
        raise CimgenError(f"the generator takes {generator.config.in_channels} input channels, which does not fit {what}")
    if instances is not None and instances.shape != labels.shape[:2]:
        raise CimgenError(
            f"the instance map is {instances.shape[1]}x{instances.shape[0]} but the label map is {labels.shape[1]}x{labels.shape[0]}"
        )
    m = generator.config.size_multiple
    h, w = labels.shape[:2]
    check_input_size(generator, h, w, "the label map")
    ph, pw = (-h) % m, (-w) % m

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, ((0, ph), (0, pw)) + ((0, 0),) * (a.ndim - 2), mode="reflect") if (ph or pw) else a

    if colour_input:
        x = image_to_tensor(np.ascontiguousarray(pad(labels)))[None].to(device)
    else:
        x = one_hot(torch.from_numpy(np.ascontiguousarray(pad(labels))).long()[None].to(device), label_nc)
    if want_edges:  # without an instance map, the regions of the map stand in: its classes, or its colours
        edges = instance_edges(pad(instances if instances is not None else colour_keys(labels) if colour_input else labels))
        x = torch.cat([x, torch.from_numpy(edges.astype(np.float32))[None, None].to(device)], 1)
    position, context = getattr(generator.config, "position_frequencies", 0), getattr(generator.config, "context", False)
    detail = getattr(generator.config, "detail_channels", 0)
    kwargs = {}
    if withheld is not None and (position or context or detail):
        if withheld.shape != labels.shape[:2]:
            raise CimgenError(f"the withheld region is {withheld.shape[1]}x{withheld.shape[0]} but the label map is {w}x{h}")
        kwargs["withheld"] = torch.from_numpy(np.ascontiguousarray(pad(withheld.astype(np.uint8)))).to(device)[None, None]
    if image is not None and context:
        if image.shape[:2] != labels.shape[:2] or image.ndim != 3 or image.shape[2] != 3:
            raise CimgenError(f"the context image is {image.shape[1]}x{image.shape[0]} but the label map is {w}x{h}")
        padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if (ph or pw) else image
        kwargs["image"] = image_to_tensor(np.ascontiguousarray(padded))[None].to(device)
    if code_from is not None and (position or detail):
        rows, cols = code_from
        if rows.shape != labels.shape[:2] or cols.shape != labels.shape[:2]:
            raise CimgenError(f"the code sources are {rows.shape[1]}x{rows.shape[0]} but the label map is {w}x{h}")
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
            raise CimgenError("a code source lies outside the label map")
        grid_rows, grid_cols = np.indices((h + ph, w + pw))
        grid_rows[:h, :w], grid_cols[:h, :w] = rows, cols
        kwargs["code_from"] = torch.from_numpy((grid_rows * (w + pw) + grid_cols).astype(np.int64)).to(device)
    out = generator(x, **kwargs)[..., :h, :w]
    return tensor_to_image(out)


def label_renderer(
    generator: GlobalGenerator | LocalEnhancer, label_nc: int, device: str | torch.device = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """A labels -> image callable for ``cimgen.edit.pipeline.manipulate``."""
    return lambda labels: generate(generator, labels, label_nc, device)


# ----------------------------------------------------------------------------------------------
# Image generators (CycleGAN, pix2pix, single junyanz generators)


def image_generator_from(
    config: dict, tensors: dict[str, torch.Tensor], direction: str | None, name: str, *, model: str | None = None
) -> nn.Module:
    """The generator of one direction of a read CycleGAN, pix2pix or imported junyanz checkpoint, in eval mode on the CPU.

    Args:
        config: the checkpoint's config.
        tensors: its tensors.
        direction: ``AtoB`` (CycleGAN's G_A) or ``BtoA`` (G_B); None means AtoB for CycleGAN and the trained
            direction for a single generator. An imported junyanz generator records no direction; it is the
            one network it was published as, whichever direction is asked.
        name: the checkpoint's name for messages.
        model: require this model (``cyclegan`` or ``pix2pix``); None accepts any image generator.
    """
    if direction is not None and direction not in DIRECTIONS:
        raise CimgenError(f"direction must be AtoB or BtoA, got '{direction}'")
    kind = KINDS.get(config.get("model"))
    if model is not None and (kind is None or kind.name != model):
        raise CimgenError(f"checkpoint {name} holds a '{config.get('model')}' model, not {model}")
    if kind is None or kind.takes != IMAGE:
        raise CimgenError(f"checkpoint {name} holds a '{config.get('model')}' model, not cyclegan or pix2pix")
    if kind.imported:  # a single official generator, built from the configuration its tensors were imported with
        try:
            generator = build(kind.name, from_dict(config_class(kind.name), config["generator"], where="checkpoint generator config"))
        except (KeyError, TypeError):
            raise CimgenError(f"checkpoint {name} has no generator config") from None
        load_module(generator, tensors, "generator", source=name)
        return generator.eval()
    spec = config.get("generator")
    if not isinstance(spec, dict) or not isinstance(spec.get("options"), dict) or not isinstance(spec.get("name"), str):
        raise CimgenError(f"checkpoint {name} has no generator config")
    if kind.name == CYCLEGAN:
        direction = direction or "AtoB"
        prefix = "G_A" if direction == "AtoB" else "G_B"
        options = dict(spec["options"])
        if direction == "BtoA" and "in_channels" in options:
            options["in_channels"], options["out_channels"] = options["out_channels"], options["in_channels"]
    else:
        trained = config.get("direction", "AtoB")
        if direction is not None and direction != trained:
            raise CimgenError(f"checkpoint {name} is a pix2pix model trained {trained}; it has no {direction} generator")
        prefix, options = "generator", spec["options"]
    generator = build_network("generator", NetworkConfig(name=spec["name"], options=options))
    load_module(generator, tensors, prefix, source=name)
    return generator.eval()


def load_image_generator(
    source: str | Path | Checkpoint, direction: str | None = None, device: str | torch.device = "cpu", *, model: str | None = None
) -> nn.Module:
    """A trained CycleGAN, pix2pix or imported junyanz generator, in eval mode on ``device``.

    Args:
        source: a checkpoint folder, a run folder (its newest checkpoint), or (config, tensors) already read.
        direction: see ``image_generator_from``.
        device: where the generator goes.
        model: require this model (``cyclegan`` or ``pix2pix``); None accepts any image generator.

    Returns:
        The generator, ready for ``translate``. Eval mode turns dropout off and makes batch norm use
        its running statistics; junyanz's ``test.py`` keeps train mode unless ``--eval`` is given,
        so pix2pix outputs there (dropout on, batch statistics) differ from these.
    """
    if direction is not None and direction not in DIRECTIONS:
        raise CimgenError(f"direction must be AtoB or BtoA, got '{direction}'")
    (config, tensors), name = read_checkpoint(source)
    return image_generator_from(config, tensors, direction, name, model=model).to(device)


@torch.no_grad()
def translate(generator: nn.Module, image: np.ndarray) -> np.ndarray:
    """Translate one RGB image, padding it (reflect) to the generator's size multiple and cropping the result back.

    Args:
        generator: a CycleGAN or pix2pix generator with 3 input channels; it runs in eval mode
            on its own device (its mode is restored afterwards).
        image: HxWx3 uint8.

    Returns:
        HxWx3 uint8, the same size as ``image``.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CimgenError(
            f"translate needs an HxWx3 uint8 image, got {getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        )
    in_channels = getattr(getattr(generator, "config", None), "in_channels", IMAGE_CHANNELS)
    if in_channels != IMAGE_CHANNELS:
        raise CimgenError(f"translate needs a generator of RGB images, but this one takes {in_channels} channels")
    m = size_multiple(generator)
    h, w = image.shape[:2]
    check_input_size(generator, h, w)
    ph, pw = (-h) % m, (-w) % m
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if (ph or pw) else image
    device = next(generator.parameters()).device
    with eval_mode(generator):
        out = generator(image_to_tensor(padded)[None].to(device))
    return tensor_to_image(out[..., :h, :w].float())


def translator(generator: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """An image -> image callable (e.g. photo -> colour map) for the manipulation pipeline."""
    return lambda image: translate(generator, image)


def map_from_image(image: np.ndarray, to_map: Callable[[np.ndarray], np.ndarray], palette: Palette) -> np.ndarray:
    """Labels of an image made by an image -> colour map generator: each pixel takes the nearest palette colour."""
    return colors_to_labels(to_map(image), palette, tolerance=float("inf"), source="the generated map")


# ----------------------------------------------------------------------------------------------
# The renderer a manipulation calls


@dataclass
class Renderer:
    """A generator as the pipeline uses it: labels -> image, with its classes."""

    render: Callable[[np.ndarray], np.ndarray]
    """HxW labels -> HxWx3 uint8."""
    palette: Palette
    """The classes (names and colours) of the maps it takes."""
    kind: str
    """The checkpoint's kind (``cimgen.kinds``): pix2pixhd, cyclegan, pix2pix, or an imported one."""
    takes: str
    """``labels`` (pix2pixHD: fine-tunable in ``cimgen manipulate --finetune``) or ``image`` (colour maps)."""
    image_to_map: Callable[[np.ndarray], np.ndarray] | None = None
    """A CycleGAN's other direction (image -> colour map), when there is one."""
    config: dict | None = None
    """The checkpoint's config, as read."""
    generator: nn.Module | None = None
    """The map -> image network."""
    checkpoint: Checkpoint | None = None
    """Label-map generators: the checkpoint as read (config, tensors, the discriminator's too), so fine-tuning
    starts from it without reading the file again."""
    render_withheld: Callable[..., np.ndarray] | None = None
    """Position-coded and context label generators: (labels, region, image, code_from) -> image, drawn from the map
    alone in the region (the codes withheld there; a context generator sees ``image`` outside it), the codes read
    at ``code_from`` (rows, cols) elsewhere."""
    render_colors: Callable[[np.ndarray], np.ndarray] | None = None
    """Colour-map pix2pixHD generators (``label_nc`` 0): HxWx3 colour map -> image. ``render`` draws labels in the
    palette's colours and calls it; ``render_edit`` can keep the original colour map outside the edit."""

    @property
    def position_coded(self) -> bool:
        """Whether the generator carries a position code or context for one whole image (it then renders whole maps only)."""
        return self.render_withheld is not None

    @property
    def codes_movable(self) -> bool:
        """Whether the generator's position or detail codes can be read elsewhere inside an edit (``code_from``):
        a position- or detail-coded generator without context (a context generator's region also blanks its image)."""
        c = getattr(self.generator, "config", None)
        coded = bool(getattr(c, "position_frequencies", 0) or getattr(c, "detail_channels", 0))
        return self.render_withheld is not None and coded and not getattr(c, "context", False)

    @property
    def takes_colors(self) -> bool:
        """Whether the generator takes colour maps (pix2pixHD with ``label_nc`` 0) rather than one-hot labels."""
        return self.render_colors is not None

    def render_edit(
        self,
        region: np.ndarray,
        image: np.ndarray | None = None,
        code_from: tuple[np.ndarray, np.ndarray] | None = None,
        colors: np.ndarray | None = None,
    ) -> Callable[[np.ndarray], np.ndarray]:
        """labels -> image for an edit whose mask is ``region``: a position-coded generator draws there from the map
        alone, or reads its codes at ``code_from`` (rows, cols; ``cimgen.edit.resample``) where given; a context
        generator also sees ``image`` (the original) outside the region. A colour-map generator given ``colors``
        (the original HxWx3 colour map the labels were snapped from) keeps those colours outside the region and
        draws the palette's colours inside it, so it sees the map it was trained on wherever nothing changed."""
        if self.render_colors is not None and colors is not None:
            if colors.shape != (*region.shape, 3) or colors.dtype != np.uint8:
                raise CimgenError(
                    f"the colour map is {colors.shape[1]}x{colors.shape[0]} but the edit's region is {region.shape[1]}x{region.shape[0]}"
                )
            draw = self.render_colors
            return lambda labels: draw(np.where(region[..., None], labels_to_colors(labels, self.palette), colors))
        if self.render_withheld is None:
            return self.render
        return lambda labels: self.render_withheld(labels, region, image, code_from)


def load_renderer(
    source: str | Path | Checkpoint, *, palette: str = "", direction: str = "", device: str | torch.device = "cpu"
) -> Renderer:
    """The generator of a checkpoint as a labels -> image callable, the checkpoint read once.

    Label-map (pix2pixHD) checkpoints use their own palette unless ``palette`` names another with as
    many classes. Image generators (CycleGAN, pix2pix, imported junyanz) take colour maps, so they
    need ``palette`` to draw the labels with; a CycleGAN's other direction becomes ``image_to_map``.
    """
    (config, tensors), name = read_checkpoint(source)
    kind = KINDS.get(config.get("model"))
    if kind is None:
        raise CimgenError(
            f"checkpoint {name} holds a '{config.get('model')}' model; manipulate takes pix2pixHD, CycleGAN or pix2pix generators"
        )
    if kind.takes == LABELS:
        if direction:
            raise CimgenError("--direction applies to CycleGAN and pix2pix generators; this checkpoint is pix2pixHD")
        gen, gcfg = label_generator_from(config, tensors, name, device)
        nc = int(gcfg["label_nc"])
        if nc == 0:
            return colour_map_renderer(gen, gcfg, (config, tensors), kind.name, palette, name, device)
        pal = palette_from_option(palette) if palette else Palette.from_dict(gcfg["palette"])
        if pal.num_classes != nc:
            raise CimgenError(f"the palette has {pal.num_classes} classes but the generator takes {nc}")
        withheld = None
        if any(getattr(gen.config, k, 0) for k in ("position_frequencies", "context", "detail_channels")):
            withheld = lambda labels, region, image=None, code_from=None: generate(
                gen, labels, nc, device, withheld=region, image=image, code_from=code_from
            )
        return Renderer(
            label_renderer(gen, nc, device), pal, kind.name, LABELS, config=gcfg, generator=gen, checkpoint=(config, tensors),
            render_withheld=withheld,
        )  # fmt: skip
    if not palette:
        raise CimgenError(f"a {kind.name} generator draws from colour maps; name the classes and colours with --palette")
    pal = palette_from_option(palette)
    to_image = direction or ("BtoA" if kind.name == CYCLEGAN else "")
    gen = image_generator_from(config, tensors, to_image or None, name).to(device)
    other = None
    if kind.name == CYCLEGAN:
        back = image_generator_from(config, tensors, "AtoB" if to_image == "BtoA" else "BtoA", name).to(device)
        other = translator(back)
    render = lambda labels: translate(gen, labels_to_colors(labels, pal))  # noqa: E731
    return Renderer(render, pal, kind.name, IMAGE, image_to_map=other, config=config, generator=gen)


def colour_map_renderer(
    gen: GlobalGenerator | LocalEnhancer, gcfg: dict, checkpoint: Checkpoint, kind: str, palette: str, name: str, device: str | torch.device
) -> Renderer:
    """The Renderer of a pix2pixHD generator that takes colour maps (``label_nc`` 0, official ``--label_nc 0``).

    Edits work on labels, so it needs a palette: ``palette`` (a built-in name such as ``google-maps``, or a JSON file),
    else the one its checkpoint was trained with. Labels are drawn in the palette's colours before generation;
    ``Renderer.render_edit`` keeps the original colours outside an edit.
    """
    if palette:
        pal = palette_from_option(palette)
    elif "palette" in gcfg:
        pal = Palette.from_dict(gcfg["palette"])
    else:
        raise CimgenError(
            f"checkpoint {name} takes colour maps (label_nc 0) and records no palette; name the classes its maps are "
            "snapped to and drawn back in with --palette (e.g. google-maps, or a palette JSON file)"
        )
    colors = lambda rgb: generate(gen, rgb, 0, device)
    withheld = None
    if any(getattr(gen.config, k, 0) for k in ("position_frequencies", "context", "detail_channels")):
        withheld = lambda labels, region, image=None: generate(gen, labels_to_colors(labels, pal), 0, device, withheld=region, image=image)
    return Renderer(
        lambda labels: colors(labels_to_colors(labels, pal)), pal, kind, LABELS, config=gcfg, generator=gen, checkpoint=checkpoint,
        render_withheld=withheld, render_colors=colors,
    )  # fmt: skip
