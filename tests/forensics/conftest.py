"""Fixtures of the forensics tests: a small synthetic forgery set and its patch dataset."""

from __future__ import annotations

import pytest

from cimgen.forensics.forgeries import synthetic_forgeries
from cimgen.forensics.patches import PatchDatasetConfig, build_patch_dataset, sources_from_folders

# The smallest detector that still has every part of a ResNet (stem, four stages, downsampling shortcuts).
TINY_DETECTOR = {"arch": "resnet_small", "width": 4}


@pytest.fixture(scope="session")
def forgery_set(tmp_path_factory):
    """Six 128x128 scenes of the synthetic world, rendered by the shipped generator, each with one manipulation."""
    return synthetic_forgeries(tmp_path_factory.mktemp("forgeries") / "set", count=6, size=128, seed=2)


@pytest.fixture(scope="session")
def patch_dataset(forgery_set, tmp_path_factory):
    """Its 64x64 patches: 4 per image, two scenes held out."""
    sources = sources_from_folders(forgery_set / "pristine", forgery_set / "generated")
    out = tmp_path_factory.mktemp("patches") / "ds"
    return build_patch_dataset(sources, out, PatchDatasetConfig(patch_size=64, val_fraction=0.34, seed=0))


def tiny_detector_config(data, mode: str = "plain", **loop) -> dict:
    """A seconds-long detector run."""
    return {
        "data": str(data),
        "detector": dict(TINY_DETECTOR),
        "mode": mode,
        "attack": {"steps": 2},
        "loop": {"epochs": 2, "batch_size": 8, "seed": 1, "tensorboard": False, **loop},
    }
