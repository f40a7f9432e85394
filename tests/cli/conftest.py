"""Fixtures of the command-line tests: a tiny trained pix2pixHD checkpoint."""

from __future__ import annotations

import pytest

from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
from tests.conftest import tiny_train_config


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_world, tmp_path_factory):
    """A one-epoch pix2pixHD run on the tiny world; its newest checkpoint."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    return run_pix2pixhd(resolve_config(tiny_train_config(tiny_world, epochs=1, decay_epochs=0)), out, echo=None, progress=False)
