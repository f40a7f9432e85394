"""Paired (semantic map, image) datasets: two matched folders, or pix2pix-style side-by-side AB images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cimgen.data.palette import SYNTH_PALETTE, Palette, check_labels, colors_to_labels
from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor, list_images, read_image, read_label_map


@dataclass(frozen=True)
class DataConfig:
    """Where the pairs are and how they are read and augmented."""

    root: str = ""
    """Dataset folder."""
    format: str = "folders"
    """``folders``: matching file names in ``label_dir`` and ``image_dir``; ``ab``: side-by-side images in ``root``."""
    label_dir: str = "labels"
    """Sub-folder of label maps (single-channel ids, or colour maps read through the palette)."""
    image_dir: str = "images"
    """Sub-folder of images."""
    map_side: str = "left"
    """For ``ab``: which half holds the map (pix2pix's maps set has the photo on the left)."""
    label_nc: int = 6
    """Number of label classes; labels must lie in 0..label_nc-1."""
    palette: str = ""
    """Palette JSON for colour maps; empty means ``root/palette.json`` if present, else the synthetic palette."""
    color_tolerance: float = 0.0
    """Largest RGB distance from a palette colour accepted in colour maps."""
    crop_size: int = 0
    """Random square crop for training; 0 keeps the whole image."""
    flip: bool = True
    """Random horizontal flips for training."""


def resolve_palette(cfg: DataConfig) -> Palette:
    """The palette named by the config, or the dataset's own, or the synthetic one."""
    if cfg.palette:
        return Palette.load(cfg.palette)
    own = Path(cfg.root) / "palette.json"
    return Palette.load(own) if own.is_file() else SYNTH_PALETTE


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """N x H x W integer labels -> N x num_classes x H x W float one-hot."""
    if labels.ndim != 3:
        raise CimgenError(f"one_hot expects N x H x W labels, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise CimgenError(f"labels range {int(labels.min())}..{int(labels.max())} is outside 0..{num_classes - 1}")
    out = torch.zeros(labels.shape[0], num_classes, *labels.shape[1:], dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.long().unsqueeze(1), 1.0)


class PairedDataset(Dataset):
    """Label maps and images in memory-light form; items are augmented deterministically per (seed, epoch, index).

    Items are dicts with ``label`` (H x W int64), ``image`` (3 x H x W float in [-1, 1]) and ``index``.
    """

    def __init__(self, cfg: DataConfig, *, training: bool = True, seed: int = 0):
        self.cfg = cfg
        self.training = training
        self.seed = seed
        self.epoch = 0
        self.palette = resolve_palette(cfg)
        root = Path(cfg.root)
        if not cfg.root or not root.is_dir():
            raise CimgenError(f"dataset folder '{cfg.root}' does not exist")
        if cfg.format == "folders":
            self.pairs = _match_folders(root / cfg.label_dir, root / cfg.image_dir)
        elif cfg.format == "ab":
            if cfg.map_side not in ("left", "right"):
                raise CimgenError(f"map_side must be left or right, got '{cfg.map_side}'")
            self.pairs = [(p, p) for p in list_images(root)]
            if not self.pairs:
                raise CimgenError(f"{root} holds no images")
        else:
            raise CimgenError(f"unknown dataset format '{cfg.format}'; choose folders or ab")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream of an epoch (for exact resume)."""
        self.epoch = epoch

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The checked (labels HxW int64, image HxWx3 uint8) pair, before augmentation."""
        if index in self._cache:
            return self._cache[index]
        lab_path, img_path = self.pairs[index]
        if self.cfg.format == "ab":
            both = read_image(img_path)
            half = both.shape[1] // 2
            if both.shape[1] % 2:
                raise CimgenError(f"{img_path} has odd width {both.shape[1]}; an AB image is two equal halves side by side")
            left, right = both[:, :half], both[:, half:]
            map_rgb, image = (left, right) if self.cfg.map_side == "left" else (right, left)
            labels = colors_to_labels(map_rgb, self.palette, tolerance=self.cfg.color_tolerance, source=f"map half of {img_path}")
        else:
            labels = read_label_map(lab_path, palette=self.palette, color_tolerance=self.cfg.color_tolerance)
            image = read_image(img_path)
        if labels.shape != image.shape[:2]:
            raise CimgenError(
                f"image {img_path.name} is {image.shape[1]}x{image.shape[0]} but its map is {labels.shape[1]}x{labels.shape[0]}"
            )
        check_labels(labels, self.cfg.label_nc, source=f"map {lab_path}")
        if len(self._cache) < 2048:
            self._cache[index] = (labels, image)
        return labels, image

    def check_all(self) -> None:
        """Read every pair once so bad files fail before training starts."""
        for i in range(len(self)):
            self.load(i)

    def __getitem__(self, index: int) -> dict:
        labels, image = self.load(index)
        if self.training:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            c = self.cfg.crop_size
            if c:
                h, w = labels.shape
                if c > h or c > w:
                    raise CimgenError(f"crop_size {c} is larger than image {self.pairs[index][1].name} ({w}x{h})")
                y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
                labels, image = labels[y : y + c, x : x + c], image[y : y + c, x : x + c]
            if self.cfg.flip and rng.random() < 0.5:
                labels, image = labels[:, ::-1], image[:, ::-1]
        return {
            "label": torch.from_numpy(np.ascontiguousarray(labels)).long(),
            "image": image_to_tensor(np.ascontiguousarray(image)),
            "index": index,
        }


def _match_folders(label_dir: Path, image_dir: Path) -> list[tuple[Path, Path]]:
    labels = {p.stem: p for p in list_images(label_dir)}
    images = {p.stem: p for p in list_images(image_dir)}
    if not labels:
        raise CimgenError(f"{label_dir} holds no label maps")
    missing = sorted(set(labels) ^ set(images))
    if missing:
        side = "image" if missing[0] in labels else "label map"
        raise CimgenError(f"'{missing[0]}' has no matching {side}; {len(missing)} file(s) in {label_dir} and {image_dir} are unpaired")
    return [(labels[k], images[k]) for k in sorted(labels)]
