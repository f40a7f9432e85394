"""Image-to-image datasets in junyanz's layouts: unaligned domains A and B (CycleGAN) and aligned A/B pairs (pix2pix).

Facts from junyanz/pytorch-CycleGAN-and-pix2pix ``data/``: the unaligned layout is
``<root>/<phase>A`` and ``<root>/<phase>B`` (``unaligned_dataset.py``); an item pairs A image
``index % len(A)`` with a random B image, or B image ``index % len(B)`` under ``serial_batches``,
and the length is the larger domain's size. The aligned layout is ``<root>/<phase>`` of images
holding A on the left half and B on the right (``aligned_dataset.py``), or, before
``combine_A_and_B.py`` joins them, two folders of files with matching names. Preprocessing
``resize_and_crop`` resizes to a square ``load_size`` (bicubic), takes a random ``crop_size``
crop and flips half the images (``base_dataset.py``; defaults 286 and 256). Unaligned A and B are
cropped and flipped independently; an aligned pair shares one crop and flip.

Randomness comes from a generator seeded by (seed, epoch, index), as in ``PairedDataset``, so an
item is the same whatever the order, the worker or a resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cimgen.errors import CimgenError
from cimgen.io.images import image_to_tensor, list_images, read_image

_CACHE_LIMIT = 2048  # decoded images kept in memory per dataset


@dataclass(frozen=True)
class UnalignedDataConfig:
    """Where the two unpaired domains are and how their images are resized, cropped and flipped."""

    root: str = ""
    """Dataset folder, holding <phase>A and <phase>B (junyanz's dataroot)."""
    phase: str = "train"
    """Sub-folder prefix: images are read from <root>/<phase>A and <root>/<phase>B."""
    load_size: int = 286
    """Images are first resized to load_size x load_size (bicubic); 0 keeps their size."""
    crop_size: int = 256
    """Then a random crop_size x crop_size crop is taken; 0 keeps the whole image."""
    flip: bool = True
    """Random horizontal flips (junyanz: not no_flip)."""
    serial_batches: bool = False
    """Pair A image i with B image i % len(B) instead of a random B image."""


@dataclass(frozen=True)
class AlignedDataConfig:
    """Where the aligned A/B pairs are and how both halves are resized, cropped and flipped together."""

    root: str = ""
    """Dataset folder."""
    format: str = "ab"
    """``ab``: images with A on the left half and B on the right, in <root>/<phase>; ``folders``: <root>/<a_dir> and <root>/<b_dir>."""
    phase: str = "train"
    """For ``ab``: the sub-folder of root holding the images; empty reads root itself."""
    a_dir: str = "A"
    """For ``folders``: sub-folder of A images, matched to B images by file name (without suffix)."""
    b_dir: str = "B"
    """For ``folders``: sub-folder of B images."""
    load_size: int = 286
    """Both images are resized to load_size x load_size (bicubic); 0 keeps their size."""
    crop_size: int = 256
    """Then one random crop_size x crop_size crop is taken from both; 0 keeps the whole image."""
    flip: bool = True
    """Random horizontal flips, the same for A and B."""


def check_sizes(load_size: int, crop_size: int, where: str = "data") -> None:
    """Fail in one sentence on resize and crop sizes that cannot work together."""
    if load_size < 0 or crop_size < 0:
        raise CimgenError(f"{where}.load_size and {where}.crop_size must be 0 or more")
    if load_size and crop_size > load_size:
        raise CimgenError(f"{where}.crop_size ({crop_size}) is larger than {where}.load_size ({load_size})")


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if not size or image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC), dtype=np.uint8)


def _crop_and_flip(images: list[np.ndarray], rng: np.random.Generator, crop: int, flip: bool, name: str) -> list[np.ndarray]:
    """One random crop position and flip decision applied to every image of the list (all of one size)."""
    h, w = images[0].shape[:2]
    if crop:
        if crop > h or crop > w:
            raise CimgenError(f"crop_size {crop} is larger than image {name} ({w}x{h})")
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        images = [im[y : y + crop, x : x + crop] for im in images]
    if flip and rng.random() < 0.5:
        images = [im[:, ::-1] for im in images]
    return images


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return image_to_tensor(np.ascontiguousarray(image))


def _check_multiple(shape: tuple[int, ...], crop: int, multiple: int, name: str) -> None:
    h, w = (crop, crop) if crop else shape[:2]
    if h % multiple or w % multiple:
        raise CimgenError(f"{name} is {w}x{h} after resizing and cropping, which is not a multiple of {multiple} as the generator needs")


class UnalignedDataset(Dataset):
    """Two unpaired image domains; items are dicts with ``A`` and ``B`` (3 x H x W float in [-1, 1]) and ``index``.

    Args:
        cfg: where and how.
        training: apply the random crop and flip (otherwise only the resize, and B is index % len(B)).
        seed: seed of the B choice and the augmentation.
    """

    def __init__(self, cfg: UnalignedDataConfig, *, training: bool = True, seed: int = 0):
        check_sizes(cfg.load_size, cfg.crop_size)
        root = Path(cfg.root)
        if not cfg.root or not root.is_dir():
            raise CimgenError(f"dataset folder '{cfg.root}' does not exist")
        self.cfg = cfg
        self.training = training
        self.seed = seed
        self.epoch = 0
        self.paths_a = self._domain(root / f"{cfg.phase}A")
        self.paths_b = self._domain(root / f"{cfg.phase}B")
        self._cache: dict[Path, np.ndarray] = {}

    @staticmethod
    def _domain(folder: Path) -> list[Path]:
        if not folder.is_dir():
            raise CimgenError(f"{folder} does not exist; an unaligned dataset holds <phase>A and <phase>B folders")
        paths = list_images(folder)
        if not paths:
            raise CimgenError(f"{folder} holds no images")
        return paths

    def __len__(self) -> int:
        return max(len(self.paths_a), len(self.paths_b))

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation and B-choice stream of an epoch (for exact resume)."""
        self.epoch = epoch

    def load(self, path: Path) -> np.ndarray:
        """An image resized to load_size, as HxWx3 uint8, before cropping and flipping."""
        if path in self._cache:
            return self._cache[path]
        image = _resize(read_image(path), self.cfg.load_size)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[path] = image
        return image

    def check_all(self, *, size_multiple: int = 1) -> None:
        """Read every image once, so that unreadable or too small files fail before training starts.

        Args:
            size_multiple: the height and width the generator needs multiples of, after cropping.
        """
        for path in self.paths_a + self.paths_b:
            image = self.load(path)
            h, w = image.shape[:2]
            if self.cfg.crop_size > min(h, w):
                raise CimgenError(f"crop_size {self.cfg.crop_size} is larger than image {path.name} ({w}x{h})")
            _check_multiple(image.shape, self.cfg.crop_size, size_multiple, f"image {path.name}")

    def __getitem__(self, index: int) -> dict:
        cfg = self.cfg
        rng = np.random.default_rng([self.seed, self.epoch, index])
        path_a = self.paths_a[index % len(self.paths_a)]
        if cfg.serial_batches or not self.training:
            index_b = index % len(self.paths_b)
        else:
            index_b = int(rng.integers(0, len(self.paths_b)))
        path_b = self.paths_b[index_b]
        image_a, image_b = self.load(path_a), self.load(path_b)
        if self.training:
            # Independent crops and flips: nothing ties an A image to its B partner.
            (image_a,) = _crop_and_flip([image_a], rng, cfg.crop_size, cfg.flip, path_a.name)
            (image_b,) = _crop_and_flip([image_b], rng, cfg.crop_size, cfg.flip, path_b.name)
        return {"A": _to_tensor(image_a), "B": _to_tensor(image_b), "index": index}


class AlignedDataset(Dataset):
    """Aligned A/B image pairs; items are dicts with ``A`` and ``B`` (3 x H x W float in [-1, 1]) and ``index``.

    Which side is the input is the recipe's choice (pix2pix ``direction``); the dataset keeps the files' A and B.

    Args:
        cfg: where and how.
        training: apply the random crop and flip (otherwise only the resize).
        seed: seed of the augmentation.
    """

    def __init__(self, cfg: AlignedDataConfig, *, training: bool = True, seed: int = 0):
        check_sizes(cfg.load_size, cfg.crop_size)
        root = Path(cfg.root)
        if not cfg.root or not root.is_dir():
            raise CimgenError(f"dataset folder '{cfg.root}' does not exist")
        self.cfg = cfg
        self.training = training
        self.seed = seed
        self.epoch = 0
        if cfg.format == "ab":
            folder = root / cfg.phase if cfg.phase else root
            if not folder.is_dir():
                raise CimgenError(f"{folder} does not exist; AB images are read from <root>/<phase>")
            self.pairs = [(p, p) for p in list_images(folder)]
            if not self.pairs:
                raise CimgenError(f"{folder} holds no images")
        elif cfg.format == "folders":
            self.pairs = _match_folders(root / cfg.a_dir, root / cfg.b_dir)
        else:
            raise CimgenError(f"unknown aligned dataset format '{cfg.format}'; choose ab or folders")
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream of an epoch (for exact resume)."""
        self.epoch = epoch

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The (A, B) pair resized to load_size, as HxWx3 uint8 arrays, before cropping and flipping."""
        if index in self._cache:
            return self._cache[index]
        path_a, path_b = self.pairs[index]
        if self.cfg.format == "ab":
            both = read_image(path_a)
            if both.shape[1] % 2:
                raise CimgenError(f"{path_a} has odd width {both.shape[1]}; an AB image is two equal halves side by side")
            half = both.shape[1] // 2
            image_a, image_b = both[:, :half], both[:, half:]
        else:
            image_a, image_b = read_image(path_a), read_image(path_b)
            if image_a.shape != image_b.shape:
                raise CimgenError(
                    f"{path_a.name} is {image_a.shape[1]}x{image_a.shape[0]} in A but {image_b.shape[1]}x{image_b.shape[0]} in B"
                )
        pair = (_resize(image_a, self.cfg.load_size), _resize(image_b, self.cfg.load_size))
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[index] = pair
        return pair

    def check_all(self, *, size_multiple: int = 1) -> None:
        """Read every pair once, so that bad files fail before training starts.

        Args:
            size_multiple: the height and width the generator needs multiples of, after cropping.
        """
        for i in range(len(self)):
            image_a, _ = self.load(i)
            h, w = image_a.shape[:2]
            name = self.pairs[i][0].name
            if self.cfg.crop_size > min(h, w):
                raise CimgenError(f"crop_size {self.cfg.crop_size} is larger than image {name} ({w}x{h})")
            _check_multiple(image_a.shape, self.cfg.crop_size, size_multiple, f"image {name}")

    def __getitem__(self, index: int) -> dict:
        image_a, image_b = self.load(index)
        if self.training:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image_a, image_b = _crop_and_flip([image_a, image_b], rng, self.cfg.crop_size, self.cfg.flip, self.pairs[index][0].name)
        return {"A": _to_tensor(image_a), "B": _to_tensor(image_b), "index": index}


def _match_folders(dir_a: Path, dir_b: Path) -> list[tuple[Path, Path]]:
    a = {p.stem: p for p in list_images(dir_a)}
    b = {p.stem: p for p in list_images(dir_b)}
    if not a:
        raise CimgenError(f"{dir_a} holds no images")
    unpaired = sorted(set(a) ^ set(b))
    if unpaired:
        side = dir_b if unpaired[0] in a else dir_a
        raise CimgenError(f"'{unpaired[0]}' has no image of that name in {side}; {len(unpaired)} file(s) are unpaired")
    return [(a[k], b[k]) for k in sorted(a)]
