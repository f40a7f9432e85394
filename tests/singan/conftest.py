"""Tiny SinGAN pyramids: a 40x48 procedural image, 16-pixel coarsest scale, narrow networks, a few iterations."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.singan.config import schedule_config


def pattern(height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    """Stripes, a disc and mild noise: structure at several scales for a tiny pyramid to learn."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), np.float32)
    img[..., 0] = 120 + 80 * np.sin(x / 3.0)
    img[..., 1] = 90 + 60 * np.cos(y / 5.0)
    img[..., 2] = 60 + 150 * (((x - width * 0.6) ** 2 + (y - height * 0.4) ** 2) < (min(height, width) * 0.25) ** 2)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


TINY = {"max_size": 48, "min_size": 16, "nfc": 8, "max_nfc": 16, "double_every": 2, "iters": 3}


def tiny_config(schedule: str = "original", **over):
    return schedule_config(schedule, {**TINY, **over})


@pytest.fixture(scope="session")
def tiny_image() -> np.ndarray:
    return pattern()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_image):
    """A 3-scale pyramid trained with the original schedule (3 iterations per scale), saved under a run folder."""
    from cimgen.singan.train import train_singan

    out = tmp_path_factory.mktemp("singan") / "run"
    model = train_singan(tiny_image, tiny_config(num_scales=3), out, source="pattern")
    return out, model
