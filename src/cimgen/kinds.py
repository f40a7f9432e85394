"""The kinds of model checkpoint cimgen writes and reads: one literal table that every command consults.

A checkpoint's ``config.json`` names its kind as ``"model"``. Checkpoints trained by cimgen name
their recipe; those written by ``cimgen import-official`` name the official file's layout. Each
kind says what its generator takes (a one-hot label map, or an RGB image such as a colour map),
which training recipe fine-tunes it, and which directions it can translate. Loading a kind for
inference is ``cimgen.generators``; training it is ``cimgen.train.recipes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cimgen.errors import CimgenError

PIX2PIXHD = "pix2pixhd"
PIX2PIX = "pix2pix"
CYCLEGAN = "cyclegan"
PIX2PIXHD_GLOBAL = "pix2pixhd-global"
PIX2PIXHD_LOCAL = "pix2pixhd-local"
JUNYANZ_RESNET = "junyanz-resnet"
JUNYANZ_UNET = "junyanz-unet"

LABELS = "labels"
"""The generator takes a label map (one-hot classes, optionally instance edges): pix2pixHD. A pix2pixHD checkpoint whose
config says ``label_nc: 0`` (official ``--label_nc 0``) takes the map's RGB colours instead, ``COLOR_MAP_CHANNELS`` of them:
still this kind, with the same recipe and modules, so the table has no row of its own for it; ``generators.load_renderer``
draws labels in the palette's colours for it."""
COLOR_MAP_CHANNELS = 3
"""Input channels of a colour map, a pix2pixHD generator's map input when its ``label_nc`` is 0."""
IMAGE = "image"
"""The generator takes an RGB image (a colour map when drawing from a map): the junyanz networks."""

DIRECTIONS = ("AtoB", "BtoA")


@dataclass(frozen=True)
class CheckpointKind:
    """What a checkpoint of one kind holds and how cimgen uses it."""

    name: str
    """The ``"model"`` entry of its ``config.json``."""
    takes: str
    """``labels`` (pix2pixHD) or ``image`` (CycleGAN, pix2pix and single junyanz generators)."""
    recipe: str
    """The training recipe (``cimgen.train.recipes``) that fine-tunes it."""
    directions: tuple[str, ...]
    """Directions it can translate; empty for label-map generators. A single generator's direction is
    the one it was trained (or imported) for, named in its config, AtoB when none is."""
    imported: bool
    """Written by ``cimgen import-official`` from an official file rather than trained by cimgen."""
    summary: str
    """One line for help texts and errors."""


KINDS: dict[str, CheckpointKind] = {
    PIX2PIXHD: CheckpointKind(PIX2PIXHD, LABELS, PIX2PIXHD, (), False, "pix2pixHD trained by cimgen (global or local enhancer)"),
    PIX2PIXHD_GLOBAL: CheckpointKind(PIX2PIXHD_GLOBAL, LABELS, PIX2PIXHD, (), True, "official pix2pixHD global generator"),
    PIX2PIXHD_LOCAL: CheckpointKind(PIX2PIXHD_LOCAL, LABELS, PIX2PIXHD, (), True, "official pix2pixHD local enhancer"),
    CYCLEGAN: CheckpointKind(CYCLEGAN, IMAGE, CYCLEGAN, DIRECTIONS, False, "CycleGAN trained by cimgen (G_A, G_B, D_A, D_B)"),
    PIX2PIX: CheckpointKind(PIX2PIX, IMAGE, PIX2PIX, ("AtoB",), False, "pix2pix trained by cimgen (one generator, one direction)"),
    JUNYANZ_RESNET: CheckpointKind(JUNYANZ_RESNET, IMAGE, PIX2PIX, ("AtoB",), True, "official junyanz ResNet generator"),
    JUNYANZ_UNET: CheckpointKind(JUNYANZ_UNET, IMAGE, PIX2PIX, ("AtoB",), True, "official junyanz U-Net generator"),
}  # fmt: skip

IMPORTED_GENERATOR_KINDS = tuple(name for name, kind in KINDS.items() if kind.imported)
"""The kinds ``cimgen import-official`` writes for a single generator file, in the order its --kind help lists them."""


def checkpoint_kind(config: dict, source: str) -> CheckpointKind:
    """The kind of a checkpoint from its config, or one sentence naming the kinds there are."""
    name = config.get("model") if isinstance(config, dict) else None
    if not isinstance(name, str) or name not in KINDS:
        raise CimgenError(f"checkpoint {source} holds a '{name}' model; cimgen knows {', '.join(KINDS)}")
    return KINDS[name]
