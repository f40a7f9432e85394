"""Patch datasets for detectors: non-overlapping patches of pristine and generated images, balanced, split by source image.

A dataset is a folder that training reads without decoding a single image::

    dataset.json              sources (name, split, files, patch counts), patch size, seed, how it was made
    train/patches.npy         N x P x P x 3 uint8, contiguous, memory-mapped when read
    train/labels.npy          N uint8: 0 pristine, 1 generated
    train/sources.npy         N int32: index into dataset.json's sources
    val/...                   the same for the validation split

A *source* is one scene: a pristine image and the generated image(s) made from its map. All
of a source's patches land in the same split, so no scene is seen in training and validation
(the paper's detector is validated on held-out patches; splitting by scene keeps neighbouring
patches of one image from inflating the validation score). ``.npy`` files are read with
``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cimgen.errors import CimgenError
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.images import list_images, read_image
from cimgen.textfiles import json_text, read_json

PRISTINE, GENERATED = 0, 1
LABEL_NAMES = ("pristine", "generated")
SPLITS = ("train", "val")
DATASET_FILE = "dataset.json"
FORMAT = "cimgen-patches"


@dataclass(frozen=True)
class Source:
    """One scene: its pristine image and the generated image(s) made from its map."""

    name: str
    """Scene name (the files' stem)."""
    pristine: tuple[str, ...]
    """Pristine image files."""
    generated: tuple[str, ...]
    """Generated image files."""


@dataclass(frozen=True)
class PatchDatasetConfig:
    """How a patch dataset is cut."""

    patch_size: int = 64
    """Side of the square patches (the paper's 64)."""
    val_fraction: float = 0.1
    """Share of the sources held out for validation (the paper: 6,016 of 60,160 patches)."""
    max_patches_per_image: int = 0
    """Keep at most this many patches of each image (a random choice); 0 keeps all."""
    seed: int = 0
    """Seed of the split and of the balancing."""


def grid_patches(image: np.ndarray, patch: int) -> np.ndarray:
    """The non-overlapping ``patch``-square patches of an image (row-major, the remainder at the right and bottom dropped)."""
    h, w = image.shape[:2]
    rows, cols = h // patch, w // patch
    if rows == 0 or cols == 0:
        return np.zeros((0, patch, patch, 3), np.uint8)
    cut = image[: rows * patch, : cols * patch]
    return np.ascontiguousarray(cut.reshape(rows, patch, cols, patch, 3).transpose(0, 2, 1, 3, 4).reshape(-1, patch, patch, 3))


def strided_patches(image: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """The ``patch``-square patches whose top-left corners lie on a ``stride`` grid from (0, 0), row-major; they overlap when
    ``stride < patch`` (``grid_patches`` is ``stride == patch``). A remainder at the right and bottom is dropped."""
    if patch < 1 or stride < 1:
        raise CimgenError(f"patch size and stride must be positive, got {patch} and {stride}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CimgenError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < patch:
        return np.zeros((0, patch, patch, 3), np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(image, (patch, patch, 3))[::stride, ::stride, 0]
    return np.ascontiguousarray(windows.reshape(-1, patch, patch, 3))


def sources_from_folders(pristine: str | Path, generated: str | Path) -> list[Source]:
    """Pair a folder of pristine images with a folder of generated ones by file stem.

    ``generated`` may also hold several versions of a scene named ``<stem>_<anything>``; each
    pristine stem without any generated file (and the reverse) is still a source of its own.
    """
    p_files, g_files = list_images(pristine), list_images(generated)
    if not p_files:
        raise CimgenError(f"{pristine} holds no images")
    if not g_files:
        raise CimgenError(f"{generated} holds no images")
    by_name: dict[str, dict[str, list[str]]] = {}
    stems = {f.stem for f in p_files}
    for f in p_files:
        by_name.setdefault(f.stem, {"p": [], "g": []})["p"].append(str(f))
    for f in g_files:
        stem = f.stem if f.stem in stems else next((s for s in stems if f.stem.startswith(s + "_")), f.stem)
        by_name.setdefault(stem, {"p": [], "g": []})["g"].append(str(f))
    return [Source(name, tuple(v["p"]), tuple(v["g"])) for name, v in sorted(by_name.items())]


def sources_from_runs(runs: list[str | Path]) -> list[Source]:
    """One source per manipulation run folder: its ``original.png`` (pristine) and ``generated.png`` (the generator's whole output).

    The generator's output over the whole map is what the paper trains on (pristine vs
    pix2pixHD-generated images); the blended ``result.png`` and ``mask_raw.png`` of a run are
    for localisation tests (``cimgen detect evaluate --forgeries``).
    """
    out = []
    for run in runs:
        run = Path(run)
        p, g = run / "original.png", run / "generated.png"
        if not (p.is_file() and g.is_file()):
            raise CimgenError(f"{run} is not a manipulation run folder (it needs original.png and generated.png)")
        out.append(Source(run.name, (str(p),), (str(g),)))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise CimgenError("two run folders have the same name; sources must be distinguishable")
    return out


def split_sources(sources: list[Source], val_fraction: float, seed: int) -> dict[str, list[int]]:
    """Source indices per split: a seeded shuffle, at least one source on each side."""
    if not 0.0 < val_fraction < 1.0:
        raise CimgenError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if len(sources) < 2:
        raise CimgenError(f"splitting by image needs at least 2 source images, got {len(sources)}")
    order = np.random.default_rng(seed).permutation(len(sources)).tolist()
    n_val = min(len(sources) - 1, max(1, round(val_fraction * len(sources))))
    return {"train": sorted(order[n_val:]), "val": sorted(order[:n_val])}


def build_patch_dataset(
    sources: list[Source], out: str | Path, cfg: PatchDatasetConfig = PatchDatasetConfig(), *, made_from: str = "", progress=None
) -> Path:
    """Cut, balance, split and store a patch dataset; the folder appears only when complete.

    Args:
        sources: the scenes (see ``sources_from_folders`` / ``sources_from_runs``).
        out: the dataset folder to create (it must not exist or be empty).
        cfg: patch size, split and balancing.
        made_from: a line recorded in ``dataset.json`` saying where the images came from.
        progress: optional callable(done, total) called per source.
    """
    out = Path(out)
    check_fresh(out, hint="choose another folder")  # checked again when writing; here so no image is read in vain
    if cfg.patch_size < 8:
        raise CimgenError(f"the patch size must be at least 8, got {cfg.patch_size}")
    splits = split_sources(sources, cfg.val_fraction, cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    per_source: list[dict] = []
    collected: dict[str, dict[int, list[np.ndarray]]] = {s: {PRISTINE: [], GENERATED: []} for s in SPLITS}
    owners: dict[str, dict[int, list[np.ndarray]]] = {s: {PRISTINE: [], GENERATED: []} for s in SPLITS}
    split_of = {i: s for s, idx in splits.items() for i in idx}
    for i, src in enumerate(sources):
        counts = {}
        for label, files in ((PRISTINE, src.pristine), (GENERATED, src.generated)):
            n = 0
            for f in files:
                img = read_image(f)
                if min(img.shape[:2]) < cfg.patch_size:
                    raise CimgenError(f"{f} is {img.shape[1]}x{img.shape[0]}, smaller than one {cfg.patch_size}x{cfg.patch_size} patch")
                p = grid_patches(img, cfg.patch_size)
                if cfg.max_patches_per_image and len(p) > cfg.max_patches_per_image:
                    p = p[np.sort(rng.choice(len(p), cfg.max_patches_per_image, replace=False))]
                collected[split_of[i]][label].append(p)
                owners[split_of[i]][label].append(np.full(len(p), i, np.int32))
                n += len(p)
            counts[f"{LABEL_NAMES[label]}_patches"] = n
        per_source.append(
            {"name": src.name, "split": split_of[i], "pristine": list(src.pristine), "generated": list(src.generated), **counts}
        )
        if progress is not None:
            progress(i + 1, len(sources))
    arrays, summary = {}, {}
    for split in SPLITS:
        parts, labels, owner = [], [], []
        avail = {lab: sum(len(a) for a in collected[split][lab]) for lab in (PRISTINE, GENERATED)}
        n = min(avail.values())
        if n == 0:
            what = "pristine" if avail[PRISTINE] == 0 else "generated"
            raise CimgenError(f"the {split} split has no {what} patches; give more images (or a smaller --val-fraction)")
        for lab in (PRISTINE, GENERATED):
            allp = np.concatenate(collected[split][lab])
            allo = np.concatenate(owners[split][lab])
            keep = np.sort(rng.choice(len(allp), n, replace=False)) if len(allp) > n else np.arange(len(allp))
            parts.append(allp[keep])
            owner.append(allo[keep])
            labels.append(np.full(n, lab, np.uint8))
        arrays[split] = (np.concatenate(parts), np.concatenate(labels), np.concatenate(owner))
        summary[split] = {
            "patches": 2 * n,
            "per_class": n,
            "sources": len(splits[split]),
            "dropped_to_balance": {LABEL_NAMES[lab]: avail[lab] - n for lab in (PRISTINE, GENERATED)},
        }
    how = {"val_fraction": cfg.val_fraction, "max_patches_per_image": cfg.max_patches_per_image, "seed": cfg.seed, "made_from": made_from}
    return write_patch_dataset(out, arrays, patch_size=cfg.patch_size, sources=per_source, about={**how, "splits": summary})


def write_patch_dataset(
    out: str | Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    patch_size: int,
    sources: list[dict],
    about: dict | None = None,
) -> Path:
    """Store patches already cut and split as a patch dataset folder (it appears only when complete).

    ``build_patch_dataset`` splits by scene; a caller with another split (e.g. two column bands of one
    image, for a detector of a single scene) cuts the patches itself and stores them here.

    Args:
        out: the dataset folder to create (it must not exist or be empty).
        splits: for "train" and "val", (patches N x P x P x 3 uint8, labels N of PRISTINE / GENERATED, sources N int32).
        patch_size: P.
        sources: one record per scene (at least its "name"); the sources arrays index this list.
        about: more keys for ``dataset.json`` (how the patches were cut and split); a per-split
            "splits" summary is made when it has none.
    """
    about = dict(about or {})
    if set(splits) != set(SPLITS):
        raise CimgenError(f"a patch dataset needs the splits {', '.join(SPLITS)}, got {', '.join(sorted(splits))}")
    for split, (patches, labels, owners) in splits.items():
        if patches.ndim != 4 or patches.shape[1:] != (patch_size, patch_size, 3) or patches.dtype != np.uint8:
            raise CimgenError(f"the {split} patches must be N x {patch_size} x {patch_size} x 3 uint8, got {patches.dtype} {patches.shape}")
        if not len(patches) == len(labels) == len(owners):
            raise CimgenError(f"the {split} split has {len(patches)} patches, {len(labels)} labels and {len(owners)} sources")
        if not np.isin(labels, (PRISTINE, GENERATED)).all() or (
            len(owners) and not 0 <= int(owners.min()) <= int(owners.max()) < len(sources)
        ):
            raise CimgenError(f"the {split} split's labels must be 0 or 1 and its sources index the {len(sources)} source records")
    summary = {
        split: {"patches": len(labels), **{f"{LABEL_NAMES[lab]}_patches": int((labels == lab).sum()) for lab in (PRISTINE, GENERATED)}}
        for split, (_, labels, _) in splits.items()
    }
    with new_folder(out) as tmp:
        for split, (patches, labels, owners) in splits.items():
            (tmp / split).mkdir()
            np.save(tmp / split / "patches.npy", np.ascontiguousarray(patches))
            np.save(tmp / split / "labels.npy", np.asarray(labels, np.uint8))
            np.save(tmp / split / "sources.npy", np.asarray(owners, np.int32))
        meta = {
            "format": FORMAT,
            "patch_size": patch_size,
            **{k: v for k, v in about.items() if k != "splits"},
            "labels": {str(PRISTINE): "pristine", str(GENERATED): "generated"},
            "splits": about.get("splits", summary),
            "sources": sources,
        }
        (tmp / DATASET_FILE).write_text(json_text(meta))
    return Path(out)


def read_dataset_info(root: str | Path) -> dict:
    """``dataset.json`` of a patch dataset, checked."""
    root = Path(root)
    f = root / DATASET_FILE
    if not f.is_file():
        raise CimgenError(f"{root} is not a patch dataset (no {DATASET_FILE}); make one with 'cimgen detect dataset'")
    meta = read_json(f, "patch dataset file")  # untrusted data: bounded, strict, one sentence
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CimgenError(f'{f} is not a cimgen patch dataset (no "format": "{FORMAT}")')
    return meta


def load_split(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patches N x P x P x 3 uint8 memory-mapped, labels N, sources N) of one split."""
    if split not in SPLITS:
        raise CimgenError(f"unknown split '{split}'; choose train or val")
    meta = read_dataset_info(root)
    folder = Path(root) / split
    try:
        patches = np.load(folder / "patches.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        owners = np.load(folder / "sources.npy", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CimgenError(f"the {split} split of {root} cannot be read ({str(e).splitlines()[0][:80]})") from None
    p = int(meta["patch_size"])
    if patches.ndim != 4 or patches.shape[1:] != (p, p, 3) or patches.dtype != np.uint8 or not (len(patches) == len(labels) == len(owners)):
        raise CimgenError(f"the {split} split of {root} is damaged (patches {patches.shape} {patches.dtype}, {len(labels)} labels)")
    return patches, labels, owners


class PatchDataset(Dataset):
    """One split of a patch dataset as items ``{"patch": 3xPxP uint8, "label": float}`` for the training loop."""

    def __init__(self, root: str | Path, split: str):
        self.root = Path(root)
        self.patches, self.labels, self.sources = load_split(root, split)
        self.patch_size = int(self.patches.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Patches need no per-epoch state: random post-processing happens on the batch, seeded by the recipe."""

    def __getitem__(self, i: int) -> dict:
        return {"patch": torch.from_numpy(np.array(self.patches[i])).permute(2, 0, 1), "label": torch.tensor(float(self.labels[i]))}
