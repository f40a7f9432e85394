"""Paired (semantic map, image) datasets in every supported layout, and label-only datasets for rendering.

Formats: ``folders`` (two folders matched by name), ``ab`` (pix2pix side-by-side images),
``pix2pixhd`` (``<phase>_label`` / ``<phase>_inst`` / ``<phase>_img`` as in NVIDIA/pix2pixHD),
``cityscapes`` (the official ``gtFine`` / ``leftImg8bit`` tree) and ``tiles`` (large aerial
scenes and masks cut into tiles on the fly). Where a format has instance maps, items carry their
boundary map as ``edge``, the extra generator input channel of pix2pixHD.

With ``label_nc: 0`` (the official ``--label_nc 0``) the maps are not classes: items carry the
map's RGB colours as ``colors`` (3 x H x W in [-1, 1]) instead of ``label``, for maps whose
colours are the input themselves (``folders``, ``ab`` and ``pix2pixhd`` formats).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cimgen.data.instances import instance_edges
from cimgen.data.layouts import Sample, list_cityscapes, list_folders, list_pix2pixhd, pix2pixhd_folders
from cimgen.data.tiles import TILE_EDGES, SceneReader, list_scenes, pad_to, tile_grid
from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor, list_images, read_id_map, read_image, read_label_map
from cimgen.kinds import COLOR_MAP_CHANNELS
from cimgen.palette import (
    BUILDINGS_PALETTE,
    CITYSCAPES_PALETTE,
    SYNTH_PALETTE,
    Palette,
    check_labels,
    colors_to_labels,
    palette_from_option,
    snap_rendered_map,
)

FORMATS = ("folders", "ab", "pix2pixhd", "cityscapes", "tiles")
COLOR_FORMATS = ("folders", "ab", "pix2pixhd")
"""Formats whose maps may be colour maps taken as they are (``label_nc: 0``)."""
COLOR_SNAPS = ("exact", "rendered")
"""How colour maps become labels: ``exact`` (palette colours within ``color_tolerance``, else refused) or
``rendered`` (``palette.snap_rendered_map``: nearest colour in CIELAB, JPEG and anti-aliased edges cleaned up)."""


# Building masks of aerial data sets (Inria's gt, the SpaceNet renders) mark buildings 255 and the rest 0.
TILE_LABEL_VALUES = (0, 255)

# Decoded samples kept in memory between epochs. A Cityscapes frame is about 24 MB as arrays, so the
# budget is in bytes, not in items; tiles are never kept (each item reads only its window).
CACHE_BYTES = 1 << 30


@dataclass(frozen=True)
class DataConfig:
    """Where the pairs are and how they are read and augmented."""

    root: str = ""
    """Dataset folder."""
    format: str = "folders"
    """How files are laid out: ``folders``, ``ab``, ``pix2pixhd``, ``cityscapes`` or ``tiles`` (see the module docstring)."""
    label_dir: str = "labels"
    """Sub-folder of label maps (single-channel ids, or colour maps read through the palette); for ``tiles``, of masks."""
    image_dir: str = "images"
    """Sub-folder of images; for ``tiles``, of scene images."""
    map_side: str = "left"
    """For ``ab``: which half holds the map (pix2pix's maps set has the photo on the left)."""
    label_nc: int = 6
    """Number of label classes; labels must lie in 0..label_nc-1 (Cityscapes label ids: 35, as pix2pixHD). 0: the maps'
    RGB colours are the generator's input, 3 channels in [-1, 1], no classes (official pix2pixHD's --label_nc 0)."""
    palette: str = ""
    """Palette JSON for colour maps; empty means ``root/palette.json`` if present, else Cityscapes' for ``cityscapes``, else the synthetic one."""
    color_tolerance: float = 0.0
    """Largest RGB distance from a palette colour accepted in colour maps (``color_snap: exact``)."""
    color_snap: str = "exact"
    """How colour maps become labels: ``exact`` (within color_tolerance of a palette colour, else refused) or
    ``rendered`` (JPEG screenshots and web-map renders: nearest colour in CIELAB, edge pixels cleaned up)."""
    load_width: int = 0
    """Resize each sample to this width first, keeping the aspect ratio (pix2pixHD's scale_width: 1024 for its 512p); 0 keeps the files' size."""
    crop_size: int = 0
    """Random square crop for training; 0 keeps the whole image (or tile)."""
    flip: bool = True
    """Random horizontal flips for training."""
    instance_dir: str = ""
    """For ``folders``: sub-folder of instance maps, matched by name like the images; empty means none."""
    use_instances: bool = True
    """Give items an ``edge`` map where the format has instance maps (``pix2pixhd`` when ``<phase>_inst`` exists, ``cityscapes``)."""
    phase: str = "train"
    """For ``pix2pixhd``: the folder prefix; reads ``<phase>_label``, ``<phase>_inst`` and ``<phase>_img``."""
    split: str = "train"
    """For ``cityscapes``: the split under ``gtFine/`` and ``leftImg8bit/`` (train, val or test)."""
    label_pattern: str = "{name}"
    """For ``folders`` and ``tiles``: stem of a label file made from the sample name, e.g. ``mask{name}``."""
    image_pattern: str = "{name}"
    """For ``folders`` and ``tiles``: stem of an image file made from the sample name, e.g. ``image{name}``."""
    label_values: tuple[int, ...] = ()
    """Values in the label files, in class order ([0, 255]: 0 is class 0, 255 class 1); empty reads values as class ids, except ``tiles``, which reads 0/255 masks."""
    ignore_label: int = 255
    """Value of unlabeled pixels (Cityscapes trainIds, COCO-Stuff), which become ``ignore_to``; negative turns this off."""
    ignore_to: int = 0
    """Class given to ``ignore_label`` pixels and to padding (0 is Cityscapes' unlabeled; SPADE maps COCO-Stuff's 255 to 182 of 183)."""
    tile_size: int = 500
    """For ``tiles``: side of the square tiles cut from each scene."""
    tile_stride: int = 0
    """For ``tiles``: step between tile starts; 0 means tile_size (tiles touch without overlap)."""
    tile_edge: str = "skip"
    """For ``tiles``: a last tile that would run past the scene is dropped (``skip``), padded (``pad``) or moved back inside (``shift``)."""


def label_values(cfg: DataConfig) -> tuple[int, ...]:
    """The label-file values in class order that ``cfg`` asks for; empty means values are class ids."""
    if cfg.label_values:
        return cfg.label_values
    return TILE_LABEL_VALUES if cfg.format == "tiles" else ()


def check_data_config(cfg: DataConfig) -> None:
    """Fail in one sentence on options that cannot work, before any file is read."""
    if cfg.format not in FORMATS:
        raise CimgenError(f"unknown dataset format '{cfg.format}'; choose one of {', '.join(FORMATS)}")
    if cfg.label_nc < 0:
        raise CimgenError(f"label_nc must be 0 (colour maps as input) or a number of classes, got {cfg.label_nc}")
    if cfg.color_snap not in COLOR_SNAPS:
        raise CimgenError(f"color_snap must be one of {', '.join(COLOR_SNAPS)}, got '{cfg.color_snap}'")
    if cfg.label_nc == 0:
        if cfg.format not in COLOR_FORMATS:
            raise CimgenError(
                f"label_nc 0 takes colour maps as input; the {cfg.format} format has label ids, so give its number of classes"
            )
        if cfg.label_values:
            raise CimgenError(
                "label_values name classes in label files; with label_nc 0 the maps' colours are the input, so leave them out"
            )
    if cfg.format == "ab" and cfg.map_side not in ("left", "right"):
        raise CimgenError(f"map_side must be left or right, got '{cfg.map_side}'")
    if cfg.instance_dir and cfg.format != "folders":
        raise CimgenError(f"instance_dir is an option of the folders format; the {cfg.format} format does not use it")
    if cfg.crop_size < 0:
        raise CimgenError(f"crop_size must be 0 (no crop) or positive, got {cfg.crop_size}")
    if cfg.load_width < 0:
        raise CimgenError(f"load_width must be 0 (keep the size) or positive, got {cfg.load_width}")
    values = label_values(cfg)
    if len(set(values)) != len(values) or any(v < 0 for v in values):
        raise CimgenError(f"label_values must be distinct non-negative values, got {list(values)}")
    if values and len(values) > cfg.label_nc:
        raise CimgenError(f"label_values lists {len(values)} classes but label_nc is {cfg.label_nc}")
    if cfg.label_nc and not values and 0 <= cfg.ignore_label < cfg.label_nc:
        raise CimgenError(
            f"ignore_label {cfg.ignore_label} is one of the {cfg.label_nc} classes; set it outside 0..{cfg.label_nc - 1}, or negative to turn it off"
        )
    if cfg.label_nc and not 0 <= cfg.ignore_to < cfg.label_nc:
        raise CimgenError(f"ignore_to {cfg.ignore_to} is outside the {cfg.label_nc} classes (0..{cfg.label_nc - 1})")
    if cfg.format == "tiles":
        if cfg.tile_size < 1 or cfg.tile_stride < 0:
            raise CimgenError(f"tile_size must be positive and tile_stride 0 or positive, got {cfg.tile_size} and {cfg.tile_stride}")
        if cfg.tile_edge not in TILE_EDGES:
            raise CimgenError(f"tile_edge must be one of {', '.join(TILE_EDGES)}, got '{cfg.tile_edge}'")
        if cfg.crop_size > cfg.tile_size:
            raise CimgenError(f"crop_size {cfg.crop_size} is larger than tile_size {cfg.tile_size}")


def map_channels(cfg: DataConfig) -> int:
    """Generator input channels of the map itself: one per class (one-hot), or 3 for colour maps (``label_nc: 0``)."""
    return cfg.label_nc or COLOR_MAP_CHANNELS


def edge_channels(cfg: DataConfig) -> int:
    """1 when the items of this data carry an ``edge`` map (instance maps exist and are used), else 0.

    pix2pixHD's generator takes ``label_nc + edge_channels`` input channels (official label2city:
    35 + 1 = 36). For ``pix2pixhd`` the answer depends on whether ``<phase>_inst`` exists.
    """
    check_data_config(cfg)
    if not cfg.use_instances:
        return 0
    if cfg.format == "folders":
        return int(bool(cfg.instance_dir))
    if cfg.format == "pix2pixhd":
        return int(pix2pixhd_folders(Path(cfg.root), cfg.phase)[1].is_dir())
    return int(cfg.format == "cityscapes")


def remap_labels(
    raw: np.ndarray,
    *,
    num_classes: int,
    values: tuple[int, ...] = (),
    ignore_label: int = 255,
    ignore_to: int = 0,
    source: str = "label map",
) -> np.ndarray:
    """Turn the values read from a label file into checked class ids.

    Args:
        raw: HxW integer values as stored in the file.
        num_classes: classes are 0..num_classes-1.
        values: the stored value of each class in class order; empty means values are class ids.
        ignore_label: stored value of unlabeled pixels, which become ``ignore_to`` (a value
            listed in ``values`` stays its class); negative turns this off.
        ignore_to: class id for unlabeled pixels.
        source: how to name the map in an error message.

    Returns:
        HxW int64 class ids.

    Raises:
        CimgenError: naming the first value that is neither a class nor ``ignore_label``, and a pixel where it occurs.
    """
    if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.integer):
        raise CimgenError(f"{source} must be an integer HxW array, got shape {raw.shape} and dtype {raw.dtype}")
    if not values:
        labels = raw.astype(np.int64)
        if ignore_label >= 0:
            labels[raw == ignore_label] = ignore_to
        check_labels(labels, num_classes, source=source)
        return labels
    labels = np.full(raw.shape, -1, dtype=np.int64)
    for class_id, value in enumerate(values):
        labels[raw == value] = class_id
    unknown = labels < 0
    if ignore_label >= 0:
        ignored = unknown & (raw == ignore_label)
        labels[ignored] = ignore_to
        unknown &= ~ignored
    if unknown.any():
        y, x = np.argwhere(unknown)[0]
        raise CimgenError(f"{source} has value {int(raw[y, x])} at pixel (x={x}, y={y}), which is not one of label_values {list(values)}")
    check_labels(labels, num_classes, source=source)
    return labels


def resolve_palette(cfg: DataConfig) -> Palette | None:
    """The palette named by the config (a built-in name or a JSON file), or the dataset's own ``palette.json``, or a
    default for the class count; for colour maps as input (``label_nc: 0``) only a named or own one, else None.

    Defaults: Cityscapes' for the ``cityscapes`` format and for 35 classes (pix2pixHD's label2city),
    background/building for the ``tiles`` format and 2 classes, the synthetic world's for 6, and
    otherwise distinct generated colours named ``class 0`` .. ``class N-1``.
    """
    if cfg.palette:
        return palette_from_option(cfg.palette)
    own = Path(cfg.root) / "palette.json"
    if own.is_file():
        return Palette.load(own)
    if cfg.label_nc == 0:
        return None
    if cfg.format == "cityscapes" or cfg.label_nc == CITYSCAPES_PALETTE.num_classes:
        return CITYSCAPES_PALETTE
    if cfg.format == "tiles" or cfg.label_nc == 2:
        return BUILDINGS_PALETTE
    if cfg.label_nc == SYNTH_PALETTE.num_classes:
        return SYNTH_PALETTE
    return generated_palette(cfg.label_nc)


def generated_palette(num_classes: int) -> Palette:
    """Distinct colours for classes without a palette file (golden-angle hues at two lightness levels)."""

    colors = []
    for i in range(num_classes):
        r, g, b = colorsys.hls_to_rgb((i * 0.618033988749895) % 1.0, 0.45 if i % 2 else 0.65, 0.8)
        colors.append((round(r * 255), round(g * 255), round(b * 255)))
    return Palette(names=tuple(f"class {i}" for i in range(num_classes)), colors=tuple(colors))


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """N x H x W integer labels -> N x num_classes x H x W float one-hot."""
    if labels.ndim != 3:
        raise CimgenError(f"one_hot expects N x H x W labels, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise CimgenError(f"labels range {int(labels.min())}..{int(labels.max())} is outside 0..{num_classes - 1}")
    out = torch.zeros(labels.shape[0], num_classes, *labels.shape[1:], dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.long().unsqueeze(1), 1.0)


class _Source:
    """The samples of a dataset in any format, and reading one of them as checked arrays."""

    def __init__(self, cfg: DataConfig, *, images: bool):
        check_data_config(cfg)
        root = Path(cfg.root)
        if not cfg.root or not root.is_dir():
            raise CimgenError(f"dataset folder '{cfg.root}' does not exist")
        self.cfg = cfg
        self.palette = resolve_palette(cfg)
        self.values = label_values(cfg)
        self.with_edges = edge_channels(cfg) == 1
        self.samples: list[Sample] = []
        if cfg.format == "tiles":
            self.scenes = list_scenes(
                root, image_dir=cfg.image_dir, label_dir=cfg.label_dir, image_pattern=cfg.image_pattern, label_pattern=cfg.label_pattern
            )
            self.tiles = tile_grid(self.scenes, cfg.tile_size, cfg.tile_stride or cfg.tile_size, cfg.tile_edge)
            self.reader = SceneReader()
        elif cfg.format == "ab":
            self.samples = [Sample(p.stem, p, p, None) for p in list_images(root)]
            if not self.samples:
                raise CimgenError(f"{root} holds no images")
        elif cfg.format == "folders":
            self.samples = list_folders(
                root,
                label_dir=cfg.label_dir,
                image_dir=cfg.image_dir if images else None,
                instance_dir=cfg.instance_dir if self.with_edges else None,
                label_pattern=cfg.label_pattern,
                image_pattern=cfg.image_pattern,
            )
        elif cfg.format == "pix2pixhd":
            self.samples = list_pix2pixhd(root, cfg.phase, images=images, instances=self.with_edges)
        else:
            self.samples = list_cityscapes(root, cfg.split, images=images, instances=self.with_edges)

    def __len__(self) -> int:
        return len(self.tiles) if self.cfg.format == "tiles" else len(self.samples)

    def name(self, index: int) -> str:
        """The sample's name (for tiles: the scene name and the tile's corner)."""
        if self.cfg.format == "tiles":
            tile = self.tiles[index]
            return f"{self.scenes[tile.scene].name}_y{tile.y}_x{tile.x}"
        return self.samples[index].name

    def _snap(self, rgb: np.ndarray, source: str) -> np.ndarray:
        """The labels of a colour map, snapped as ``color_snap`` says."""
        if self.cfg.color_snap == "rendered":
            return snap_rendered_map(rgb, self.palette, source=source)[0]
        return colors_to_labels(rgb, self.palette, tolerance=self.cfg.color_tolerance, source=source)

    def _remap(self, raw: np.ndarray, source: str) -> np.ndarray:
        cfg = self.cfg
        return remap_labels(
            raw, num_classes=cfg.label_nc, values=self.values, ignore_label=cfg.ignore_label, ignore_to=cfg.ignore_to, source=source
        )

    def read(self, index: int, *, image: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(labels HxW int64, or for ``label_nc: 0`` the colour map HxWx3 uint8; image HxWx3 uint8 or None; instance ids
        HxW or None) of one sample."""
        if self.cfg.format == "tiles":
            return self._read_tile(index, image=image)
        sample = self.samples[index]
        photo = None
        if self.cfg.format == "ab":
            both = read_image(sample.image)
            half = both.shape[1] // 2
            if both.shape[1] % 2:
                raise CimgenError(f"{sample.image} has odd width {both.shape[1]}; an AB image is two equal halves side by side")
            left, right = both[:, :half], both[:, half:]
            map_rgb, photo = (left, right) if self.cfg.map_side == "left" else (right, left)
            ids = np.ascontiguousarray(map_rgb) if self.cfg.label_nc == 0 else self._snap(map_rgb, f"map half of {sample.image}")
        else:
            if self.cfg.label_nc == 0:  # the official loader's A.convert("RGB"): a grey or indexed map gives its colours too
                ids = read_image(sample.label)
            else:
                ids = read_label_map(
                    sample.label, palette=self.palette, color_tolerance=self.cfg.color_tolerance, rendered=self.cfg.color_snap == "rendered"
                )
            if image:
                photo = read_image(sample.image)
        if photo is not None and ids.shape[:2] != photo.shape[:2]:
            raise CimgenError(
                f"image {sample.image.name} is {photo.shape[1]}x{photo.shape[0]} but its map is {ids.shape[1]}x{ids.shape[0]}"
            )
        instances = None
        if sample.instance is not None:
            instances = read_id_map(sample.instance)
            if instances.shape != ids.shape[:2]:
                raise CimgenError(
                    f"instance map {sample.instance.name} is {instances.shape[1]}x{instances.shape[0]} "
                    f"but its label map is {ids.shape[1]}x{ids.shape[0]}"
                )
        labels = ids if self.cfg.label_nc == 0 else self._remap(ids, f"map {sample.label}")
        return labels, (photo if image else None), instances

    def _read_tile(self, index: int, *, image: bool) -> tuple[np.ndarray, np.ndarray | None, None]:
        tile, size = self.tiles[index], self.cfg.tile_size
        scene = self.scenes[tile.scene]
        raw = self.reader.read(scene.label, "mask", tile.y, tile.x, size, size)
        labels = self._remap(raw, f"mask {scene.label} in the tile at (x={tile.x}, y={tile.y})")
        # Padding (tile_edge: pad) is black and labelled ignore_to, the class of unlabeled pixels.
        labels = pad_to(labels, size, self.cfg.ignore_to)
        photo = pad_to(self.reader.read(scene.image, "image", tile.y, tile.x, size, size), size, 0) if image else None
        return labels, photo, None


class ArraySource:
    """Pairs already in memory (e.g. windows of one image to fine-tune on), read like files: checked class ids, no copies."""

    def __init__(self, pairs: list[tuple[str, np.ndarray, np.ndarray]], cfg: DataConfig, palette: Palette):
        if not pairs:
            raise CimgenError("there are no pairs to train on")
        self.cfg = cfg
        self.palette = palette
        self.with_edges = False
        self.pairs = pairs
        for name, labels, image in pairs:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or labels.shape[:2] != image.shape[:2]:
                raise CimgenError(f"pair {name} must be a map and an HxWx3 uint8 image of the same size")
            if cfg.label_nc == 0:
                if labels.shape != image.shape or labels.dtype != np.uint8:
                    raise CimgenError(f"pair {name}: with label_nc 0 the map is an HxWx3 uint8 colour map")
            else:
                check_labels(labels, cfg.label_nc, source=f"map {name}")

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        """The pair's name."""
        return self.pairs[index][0]

    def read(self, index: int, *, image: bool) -> tuple[np.ndarray, np.ndarray | None, None]:
        """(labels HxW int64, image HxWx3 uint8 or None, None) of one pair."""
        _, labels, photo = self.pairs[index]
        return (labels if self.cfg.label_nc == 0 else labels.astype(np.int64)), (photo if image else None), None


class PairedDataset(Dataset):
    """(label map, image) pairs, augmented deterministically per (seed, epoch, index).

    Items are dicts with ``label`` (H x W int64), ``image`` (3 x H x W float in [-1, 1]) and
    ``index``; when the data has instance maps (see ``edge_channels``) also ``edge``
    (1 x H x W float32 of 0/1, from ``instance_edges``).

    The edge map is computed from the instance map after cropping and flipping, as pix2pixHD
    does (its ``get_edges`` runs on the transformed batch): a boundary that lies exactly on the
    border of a crop is therefore not marked in the crop's last row or column. Flipping commutes
    with ``instance_edges``, so for flips the order does not matter.
    """

    def __init__(self, cfg: DataConfig, *, training: bool = True, seed: int = 0, source: _Source | ArraySource | None = None):
        self.cfg = cfg
        self.training = training
        self.seed = seed
        self.epoch = 0
        self.source = source if source is not None else _Source(cfg, images=True)
        self.palette = self.source.palette
        self.with_edges = self.source.with_edges
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        self._cache_bytes = 0

    @classmethod
    def from_arrays(
        cls, pairs: list[tuple[str, np.ndarray, np.ndarray]], cfg: DataConfig, palette: Palette, *, training: bool = True, seed: int = 0
    ) -> PairedDataset:
        """A dataset of (name, labels HxW, image HxWx3 uint8) pairs in memory, cropped and flipped as ``cfg`` says.

        No file is written or read: this is how ``cimgen manipulate --finetune`` trains on windows of the target image.
        """
        return cls(cfg, training=training, seed=seed, source=ArraySource(pairs, cfg, palette))

    def __len__(self) -> int:
        return len(self.source)

    def name(self, index: int) -> str:
        """The name of a sample (its matched file name; for tiles, scene and corner)."""
        return self.source.name(index)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream of an epoch (for exact resume)."""
        self.epoch = epoch

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if index in self._cache:
            return self._cache[index]
        labels, image, instances = self.source.read(index, image=True)
        if self.cfg.load_width:
            labels, image, instances = scale_width(labels, image, instances, self.cfg.load_width)
        size = labels.nbytes + image.nbytes + (instances.nbytes if instances is not None else 0)
        if self.cfg.format != "tiles" and self._cache_bytes + size <= CACHE_BYTES:
            self._cache[index] = (labels, image, instances)
            self._cache_bytes += size
        return labels, image, instances

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The checked (labels HxW int64, image HxWx3 uint8) pair, before augmentation."""
        labels, image, _ = self._read(index)
        return labels, image

    def instances(self, index: int) -> np.ndarray | None:
        """The sample's HxW instance ids before augmentation, or None when the data has none."""
        return self._read(index)[2]

    def check_all(self) -> None:
        """Read every pair once so bad files fail before training starts."""
        for i in range(len(self)):
            self._read(i)

    def __getitem__(self, index: int) -> dict:
        labels, image, instances = self._read(index)
        if self.training:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            c = self.cfg.crop_size
            if c:
                h, w = labels.shape
                if c > h or c > w:
                    raise CimgenError(f"crop_size {c} is larger than image {self.name(index)} ({w}x{h})")
                y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
                labels, image = labels[y : y + c, x : x + c], image[y : y + c, x : x + c]
                if instances is not None:
                    instances = instances[y : y + c, x : x + c]
            if self.cfg.flip and rng.random() < 0.5:
                labels, image = labels[:, ::-1], image[:, ::-1]
                if instances is not None:
                    instances = instances[:, ::-1]
        item = {**map_item(labels, self.cfg.label_nc), "image": image_to_tensor(np.ascontiguousarray(image)), "index": index}
        if instances is not None:
            item["edge"] = _edge_tensor(instances)
        return item


class LabelDataset(Dataset):
    """Label maps without photos, for rendering them with a trained generator.

    Reads any format with the same options as ``PairedDataset`` but never opens an image file
    (for ``ab``, the map half of each file), so a phase without photos works: pix2pixHD ships
    Cityscapes ``test_label`` and ``test_inst`` folders but no ``test_img``. Items are dicts with
    ``label`` (H x W int64), ``name`` (the sample name, for naming outputs) and ``index``, and
    ``edge`` (1 x H x W float32 of 0/1) when the data has instance maps. Nothing is augmented.
    """

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg
        self.source = _Source(cfg, images=False)
        self.palette = self.source.palette
        self.with_edges = self.source.with_edges

    def __len__(self) -> int:
        return len(self.source)

    def name(self, index: int) -> str:
        """The name of a sample (its matched file name; for tiles, scene and corner)."""
        return self.source.name(index)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The checked (labels HxW int64, instance ids HxW or None) of a sample."""
        labels, _, instances = self.source.read(index, image=False)
        if self.cfg.load_width:
            labels, _, instances = scale_width(labels, None, instances, self.cfg.load_width)
        return labels, instances

    def __getitem__(self, index: int) -> dict:
        labels, instances = self.load(index)
        item = {**map_item(labels, self.cfg.label_nc), "name": self.name(index), "index": index}
        if instances is not None:
            item["edge"] = _edge_tensor(instances)
        return item


def scale_width(
    labels: np.ndarray, image: np.ndarray | None, instances: np.ndarray | None, width: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Resize a sample to ``width`` keeping its aspect ratio: maps by nearest neighbour, the image bicubic (as pix2pixHD)."""
    h, w = labels.shape
    if w == width:
        return labels, image, instances
    height = max(1, round(h * width / w))

    def nearest(a: np.ndarray) -> np.ndarray:
        # cv2 has no int64 resize; ids fit in int32 (Cityscapes instance ids are below 34,000).
        return cv2.resize(a.astype(np.int32), (width, height), interpolation=cv2.INTER_NEAREST).astype(a.dtype)

    if image is not None:
        image = np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))
    return nearest(labels), image, None if instances is None else nearest(instances)


def map_item(labels: np.ndarray, label_nc: int) -> dict[str, torch.Tensor]:
    """A map as a dataset item holds it: ``label`` (H x W int64), or for colour maps (``label_nc: 0``) ``colors`` (3 x H x W in [-1, 1])."""
    if label_nc == 0:
        return {"colors": image_to_tensor(np.ascontiguousarray(labels))}
    return {"label": torch.from_numpy(np.ascontiguousarray(labels)).long()}


def colour_keys(colors: np.ndarray) -> np.ndarray:
    """HxW int64 ids of an HxWx3 uint8 colour map, one per colour: its regions, where instance edges come from without an instance map."""
    return (colors[..., 0].astype(np.int64) << 16) | (colors[..., 1].astype(np.int64) << 8) | colors[..., 2]


def _edge_tensor(instances: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(instance_edges(instances).astype(np.float32))[None]
