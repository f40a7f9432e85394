"""Inception pool3 features of image patches: batched extraction, on the GPU when there is one, cached per image."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cimgen.errors import CimgenError
from cimgen.metrics.inception import FEATURE_DIM, INPUT_SIZE, FIDInceptionV3, InceptionWeights, build_inception, find_inception_weights
from cimgen.metrics.patches import crop_patches
from cimgen.metrics.resize import DEFAULT_POLICY, RESIZE_POLICIES, resize_for_inception
from cimgen.nn.devices import check_device


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cimgen/features`` (``~/.cache/cimgen/features``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "cimgen" / "features"


def file_digest(path: str | Path, *, length: int = 16) -> str:
    """First ``length`` hex digits of a file's SHA-256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]


@dataclass
class FeatureExtractor:
    """Turns uint8 patches into 2048-d features: resize by ``policy``, scale as TF did, run the network in batches."""

    model: FIDInceptionV3
    weights: InceptionWeights
    weights_digest: str
    policy: str = DEFAULT_POLICY
    batch_size: int = 32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __call__(self, patches: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """N x h x w x 3 uint8 -> N x 2048 float32; ``progress(k)`` is called after each batch of k patches."""
        out = np.empty((len(patches), FEATURE_DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(patches), self.batch_size):
                batch = resize_for_inception(patches[start : start + self.batch_size], policy=self.policy, size=INPUT_SIZE)
                x = ((batch - 128.0) / 128.0).to(self.device, non_blocking=True)
                x = x.contiguous(memory_format=torch.channels_last)
                out[start : start + len(batch)] = self.model(x).float().cpu().numpy()
                if progress is not None:
                    progress(len(batch))
        return out


def load_extractor(
    weights: str | Path | None = None, *, policy: str = DEFAULT_POLICY, batch_size: int = 32, device: str | None = None
) -> FeatureExtractor:
    """The feature extractor with weights found by :func:`find_inception_weights` (GPU when available)."""
    if policy not in RESIZE_POLICIES:  # before the network is loaded
        raise CimgenError(f"unknown resize policy '{policy}'; choose one of {', '.join(RESIZE_POLICIES)}")
    path = find_inception_weights(weights)
    model, info = build_inception(path)
    dev = torch.device(check_device(device))  # None or "" is auto: CUDA when present
    # channels_last: 1.5x the patches per second of the default layout on this project's 2-core CPU
    # (benchmarks/metrics.py), and the layout cuDNN prefers on GPUs.
    model = model.to(dev).to(memory_format=torch.channels_last)
    return FeatureExtractor(model=model, weights=info, weights_digest=file_digest(path), policy=policy, batch_size=batch_size, device=dev)


class FeatureCache:
    """Features of an image's patches on disk, one safetensors file per (image, patch size, policy, weights).

    The key hashes the pixels themselves, so a renamed or copied image hits the cache and an
    overwritten one misses it. Positions already computed are reused; the others are added.
    """

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None

    def _path(self, image: np.ndarray, size: int, extractor: FeatureExtractor) -> Path:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(image).tobytes())
        h.update(f"{image.shape}|{size}|{extractor.policy}|{extractor.weights_digest}".encode())
        return self.folder / f"{h.hexdigest()[:32]}.safetensors"

    def _read(self, path: Path) -> dict[tuple[int, int], np.ndarray]:
        try:
            data = load_file(str(path))
            pos, feat = data["positions"], data["features"]
        except (OSError, SafetensorError, KeyError):
            return {}  # an unreadable cache entry is recomputed, never trusted
        return {(int(y), int(x)): f for (y, x), f in zip(pos, feat)}

    def _write(self, path: Path, known: dict[tuple[int, int], np.ndarray]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        tensors = {"positions": np.array(keys, dtype=np.int64).reshape(-1, 2), "features": np.stack([known[k] for k in keys])}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            save_file(tensors, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def features(
        self,
        extractor: FeatureExtractor,
        image: np.ndarray,
        positions: np.ndarray,
        *,
        size: int,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Features of ``image``'s patches at ``positions`` and how many came from the cache."""
        if self.folder is None:
            return extractor(crop_patches(image, positions, size=size), progress), 0
        path = self._path(image, size, extractor)
        known = self._read(path) if path.is_file() else {}
        missing = [i for i, (y, x) in enumerate(positions) if (int(y), int(x)) not in known]
        if missing:
            new = extractor(crop_patches(image, positions[missing], size=size), progress)
            for i, f in zip(missing, new):
                known[(int(positions[i][0]), int(positions[i][1]))] = f
            self._write(path, known)
        hits = len(positions) - len(missing)
        if progress is not None and hits:
            progress(hits)
        return np.stack([known[(int(y), int(x))] for y, x in positions]) if len(positions) else np.empty((0, FEATURE_DIM), np.float32), hits
