"""The CIMGEN paper's protocol: FID, KID and SSIM between pristine and generated images on patches outside the edit.

For every pair (pristine image, image generated from the manipulated map, manipulated region),
overlapping ``patch_size`` patches are taken every ``stride`` pixels from both images at the same
places, keeping only patches that touch no pixel of the region (grown by ``dilation``). FID and
KID compare the two sets of patch features (all pairs of a row pooled); SSIM is the mean over
corresponding patch pairs. Every result carries the patch count and the settings that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from skimage.metrics import structural_similarity

from cimgen.errors import CimgenError
from cimgen.io.images import list_images, read_image
from cimgen.metrics.features import FeatureCache, FeatureExtractor
from cimgen.metrics.fid import FID_METHODS, KEY_FID, fid_from_features
from cimgen.metrics.kid import KEY_KID_NOTE, kid_from_features
from cimgen.metrics.patches import dilate_mask, patch_positions, positions_outside
from cimgen.metrics.ssim import SSIM_SETTINGS
from cimgen.textfiles import json_text

KEY_NAME = "name"
KEY_SSIM = "ssim"
KEY_PATCHES = "patches"
KEY_PAIRS = "pairs"
KEY_WARNINGS = "warnings"
KEY_SETTINGS = "settings"
KEY_CACHED = "features_from_cache"

# Published (FID / KID / SSIM) of Table 2 of the CIMGEN paper (arXiv 2401.13006), for comparison rows.
PAPER_ROWS = {
    "Map2Sat-Urban (paper)": (40.77, 0.027, 0.65),
    "Building2Sat (paper)": (81.17, 0.062, 0.18),
    "Cityscapes (paper)": (21.44, 0.006, 0.73),
}


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of the patch protocol; all of them are written into every result."""

    patch_size: int = 64
    """Side of the square patches, in pixels (the paper's 64)."""
    stride: int = 32
    """Step between patches; smaller than patch_size gives overlapping patches."""
    dilation: int = 0
    """Extra pixels by which the manipulated region is grown before patches touching it are dropped."""
    kid_subsets: int = 100
    """Number of random subsets KID is averaged over."""
    kid_subset_size: int = 1000
    """Features per side in each KID subset (lowered to the patch count when fewer, with a note)."""
    seed: int = 0
    """Seed of the KID subsets."""
    fid_method: str = "eigh"
    """Trace of the covariance product's square root: eigh (symmetric eigendecomposition, fast) or sqrtm (pytorch-fid's)."""
    min_patches_for_fid: int = 2048
    """Below this many patches (the feature dimension) FID's covariance is rank-deficient: a warning is added."""

    def __post_init__(self):

        if self.fid_method not in FID_METHODS:
            raise CimgenError(f"unknown FID method '{self.fid_method}'; choose one of {', '.join(FID_METHODS)}")
        for name in ("patch_size", "stride", "kid_subsets", "kid_subset_size"):
            if getattr(self, name) < 1:
                raise CimgenError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.dilation < 0:
            raise CimgenError(f"dilation must be 0 or more, got {self.dilation}")


@dataclass
class EvalPair:
    """One pristine image, the image generated from the manipulated map, and the manipulated region."""

    name: str
    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray

    def __post_init__(self):
        if self.real.shape != self.fake.shape:
            raise CimgenError(
                f"{self.name}: the pristine image is {self.real.shape[1]}x{self.real.shape[0]} but the generated one is "
                f"{self.fake.shape[1]}x{self.fake.shape[0]}; they must have the same size"
            )
        if self.mask.shape != self.real.shape[:2]:
            raise CimgenError(
                f"{self.name}: the mask is {self.mask.shape[1]}x{self.mask.shape[0]}, the images {self.real.shape[1]}x{self.real.shape[0]}"
            )


def read_mask(path: str | Path) -> np.ndarray:
    """A mask image as bool H x W: any non-zero channel is inside."""
    return read_image(path).max(axis=2) > 0


def pair_from_files(real: str | Path, fake: str | Path, mask: str | Path | None = None, *, name: str | None = None) -> EvalPair:
    """An :class:`EvalPair` from image files; no mask means the whole image counts as outside the edit."""
    r, f = read_image(real), read_image(fake)
    m = read_mask(mask) if mask is not None else np.zeros(r.shape[:2], dtype=bool)
    return EvalPair(name=name or Path(fake).stem, real=r, fake=f, mask=m)


RUN_FILES = ("original.png", "generated.png", "mask_raw.png")


def is_run_folder(path: Path) -> bool:
    """A ``cimgen manipulate`` output folder."""
    return all((path / n).is_file() for n in RUN_FILES)


def pairs_from_source(path: str | Path) -> list[EvalPair]:
    """The pairs a source stands for.

    * a manipulation run folder (``original.png``, ``generated.png``, ``mask_raw.png``): one pair;
    * a folder with ``real/`` and ``fake/`` (and optionally ``mask/``) holding files of the same names: one pair per name;
    * a folder whose sub-folders are manipulation runs: one pair per run.
    """
    path = Path(path)
    if not path.is_dir():
        raise CimgenError(f"{path} is not a folder (give --real/--fake/--mask for a single pair)")
    if is_run_folder(path):
        return [pair_from_files(path / "original.png", path / "generated.png", path / "mask_raw.png", name=path.name)]
    if (path / "real").is_dir() and (path / "fake").is_dir():
        reals = {p.stem: p for p in list_images(path / "real")}
        fakes = {p.stem: p for p in list_images(path / "fake")}
        masks = {p.stem: p for p in list_images(path / "mask")} if (path / "mask").is_dir() else {}
        if set(reals) != set(fakes):
            odd = sorted(set(reals) ^ set(fakes))
            raise CimgenError(f"{path}: real/ and fake/ must hold the same image names; unmatched: {', '.join(odd[:5])}")
        if not reals:
            raise CimgenError(f"{path}/real holds no images")
        return [pair_from_files(reals[k], fakes[k], masks.get(k), name=k) for k in sorted(reals)]
    runs = sorted(p for p in path.iterdir() if p.is_dir() and is_run_folder(p))
    if runs:
        return [pair_from_files(r / "original.png", r / "generated.png", r / "mask_raw.png", name=r.name) for r in runs]
    raise CimgenError(
        f"{path} is neither a manipulation run folder ({', '.join(RUN_FILES)}), a folder with real/ and fake/, nor a folder of runs"
    )


def patch_ssim(real: np.ndarray, fake: np.ndarray, positions: np.ndarray, *, size: int) -> np.ndarray:
    """SSIM (scikit-image, Wang et al. settings) of each pair of corresponding patches."""
    return np.array(
        [
            structural_similarity(real[y : y + size, x : x + size], fake[y : y + size, x : x + size], channel_axis=2, **SSIM_SETTINGS)
            for y, x in positions
        ]
    )


def kept_positions(pair: EvalPair, cfg: ProtocolConfig) -> np.ndarray:
    """Patch corners of ``pair`` that stay clear of its (dilated) region."""
    h, w = pair.real.shape[:2]
    grid = patch_positions(h, w, size=cfg.patch_size, stride=cfg.stride)
    return positions_outside(grid, dilate_mask(pair.mask, cfg.dilation), size=cfg.patch_size)


def evaluate_pairs(
    name: str,
    pairs: list[EvalPair],
    extractor: FeatureExtractor,
    *,
    cfg: ProtocolConfig = ProtocolConfig(),
    cache: FeatureCache = FeatureCache(None),
    progress_factory: Callable[[int, str], Callable[[int], None]] | None = None,
) -> dict:
    """One row of the table: FID, KID and SSIM over the patches of all ``pairs`` pooled, with counts and settings."""
    if not pairs:
        raise CimgenError(f"{name}: no image pairs to evaluate")
    kept = [kept_positions(p, cfg) for p in pairs]
    for p, k in zip(pairs, kept):
        if len(k) == 0:
            raise CimgenError(
                f"{p.name}: no {cfg.patch_size}x{cfg.patch_size} patch lies outside the manipulated region "
                f"(grown by {cfg.dilation} px); nothing is left to compare"
            )
    total = 2 * sum(len(k) for k in kept)
    progress = progress_factory(total, name) if progress_factory else None
    real_f, fake_f, ssims, cached = [], [], [], 0
    for p, k in zip(pairs, kept):
        fr, hr = cache.features(extractor, p.real, k, size=cfg.patch_size, progress=progress)
        ff, hf = cache.features(extractor, p.fake, k, size=cfg.patch_size, progress=progress)
        real_f.append(fr)
        fake_f.append(ff)
        cached += hr + hf
        ssims.append(patch_ssim(p.real, p.fake, k, size=cfg.patch_size))
    real_f, fake_f = np.concatenate(real_f), np.concatenate(fake_f)
    n = len(real_f)
    warnings = []
    if n < 2:
        raise CimgenError(f"{name}: only {n} patch lies outside the manipulated region; FID needs at least 2")
    if n < cfg.min_patches_for_fid:
        warnings.append(
            f"FID from {n} patches (< {cfg.min_patches_for_fid}, the feature dimension) has a rank-deficient covariance and "
            "an upward bias; compare it only with scores computed from the same number of patches"
        )
    kid = kid_from_features(real_f, fake_f, subsets=cfg.kid_subsets, subset_size=cfg.kid_subset_size, seed=cfg.seed)
    if KEY_KID_NOTE in kid:
        warnings.append("KID " + kid[KEY_KID_NOTE])
    return {
        KEY_NAME: name,
        KEY_FID: fid_from_features(real_f, fake_f, method=cfg.fid_method),
        **{k: v for k, v in kid.items() if k != KEY_KID_NOTE},
        KEY_SSIM: float(np.concatenate(ssims).mean()),
        KEY_PATCHES: n,
        KEY_PAIRS: len(pairs),
        KEY_CACHED: cached,
        KEY_WARNINGS: warnings,
        KEY_SETTINGS: {
            **asdict(cfg),
            "resize": extractor.policy,
            "inception_weights": extractor.weights.path,
            "inception_weights_kind": extractor.weights.kind,
            "inception_weights_sha256_16": extractor.weights_digest,
            "ssim": {k: v for k, v in SSIM_SETTINGS.items()},
        },
    }


# --- The table ---------------------------------------------------------------------------------

COLUMNS = ("name", "fid", "kid_mean", "kid_std", "ssim", "patches", "pairs")


def table_markdown(rows: list[dict], *, paper: bool = False) -> str:
    """The paper's table (rows: datasets or runs) as Markdown, optionally with the published rows under it."""
    lines = ["| | FID | KID (std) | SSIM | patches | pairs |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r[KEY_NAME]} | {r[KEY_FID]:.2f} | {r['kid_mean']:.4f} ({r['kid_std']:.4f}) | {r[KEY_SSIM]:.3f} | {r[KEY_PATCHES]} | {r[KEY_PAIRS]} |"
        )
    if paper:
        for n, (fid, kid, ssim) in PAPER_ROWS.items():
            lines.append(f"| {n} | {fid:.2f} | {kid:.3f} | {ssim:.2f} | | |")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict]) -> str:
    """The rows as CSV with a header; the settings are in the JSON."""
    out = [",".join(COLUMNS + ("resize", "patch_size", "stride", "dilation"))]
    for r in rows:
        s = r[KEY_SETTINGS]
        name = '"' + r[KEY_NAME].replace('"', '""') + '"'
        vals = [name] + [repr(r[c]) for c in COLUMNS[1:]] + [s["resize"], str(s["patch_size"]), str(s["stride"]), str(s["dilation"])]
        out.append(",".join(vals))
    return "\n".join(out) + "\n"


def table_json(rows: list[dict]) -> str:
    """The rows with every setting, as JSON."""
    return json_text({"rows": rows})
