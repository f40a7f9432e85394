"""Checkpoint folders: atomic replacement, no pickles, clear errors."""

from __future__ import annotations

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.io import checkpoints
from cimgen.io.checkpoints import load_checkpoint, load_train_state, resolve_checkpoint, save_checkpoint


def test_round_trip_and_run_folder_resolution(tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoints" / "epoch-0001", {"model": "m"}, {"a.w": torch.ones(2)}, {"epoch": 1})
    save_checkpoint(tmp_path / "run" / "checkpoints" / "epoch-0002", {"model": "m"}, {"a.w": torch.full((2,), 2.0)}, {"epoch": 2})
    assert resolve_checkpoint(tmp_path / "run").name == "epoch-0002"
    cfg, tensors = load_checkpoint(tmp_path / "run")
    assert cfg["model"] == "m" and torch.equal(tensors["a.w"], torch.full((2,), 2.0))
    assert load_train_state(tmp_path / "run")["epoch"] == 2


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    save_checkpoint(folder, {"model": "m"}, {"w": torch.ones(3)})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(folder, {"model": "m"}, {"w": torch.zeros(3)})
    monkeypatch.undo()
    _, tensors = load_checkpoint(folder)
    assert torch.equal(tensors["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary folder left


def test_train_state_with_a_pickled_object_is_refused(tmp_path):
    folder = tmp_path / "ck"
    save_checkpoint(folder, {"model": "m"}, {"w": torch.ones(1)})

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"epoch": 1, "x": Payload()}, folder / "train_state.pt")
    with pytest.raises(CimgenError, match="cannot be loaded safely"):
        load_train_state(folder)


def test_foreign_or_incomplete_folders(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text('{"model": "m"}')
    with pytest.raises(CimgenError, match="not a cimgen checkpoint"):
        load_checkpoint(tmp_path / "x")
    (tmp_path / "x" / "config.json").write_text("{nope")
    with pytest.raises(CimgenError, match="config.json is not valid JSON"):
        load_checkpoint(tmp_path / "x")
    with pytest.raises(CimgenError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "y").mkdir()
    with pytest.raises(CimgenError, match="neither a checkpoint folder"):
        load_checkpoint(tmp_path / "y")


def test_checkpoints_with_the_old_block_names_still_load(tmp_path):
    """cimgen 0.1.0 saved residual blocks as ``.block.``; they load into today's ``.conv_block.`` names."""
    from cimgen.io.checkpoints import load_module
    from cimgen.models.pix2pixhd import GlobalGenerator, GlobalGeneratorConfig

    g = GlobalGenerator(GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=1, num_blocks=1))
    old = {f"generator.{k.replace('.conv_block.', '.block.')}": v + 1 for k, v in g.state_dict().items()}
    assert any(".block." in k for k in old)
    fresh = GlobalGenerator(GlobalGeneratorConfig(in_channels=6, base_channels=4, num_downsamplings=1, num_blocks=1))
    load_module(fresh, old, "generator", source="old")
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, g.state_dict()[k] + 1)
