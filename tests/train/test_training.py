"""Training: the files a run writes, exact resume, fine-tuning, schedules, and checkpoint errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from cimgen.config import merge
from cimgen.errors import CimgenError
from cimgen.generators import generate, load_label_generator
from cimgen.io.checkpoints import load_checkpoint, save_checkpoint
from cimgen.train.loop import LoopConfig, learning_rate
from cimgen.train.pix2pixhd import finetune_config, resolve_config, run_pix2pixhd
from tests.conftest import tiny_train_config


def _run(cfg_dict, out, **kw):
    return run_pix2pixhd(resolve_config(cfg_dict), out, echo=None, progress=False, **kw)


def test_tiny_run_writes_its_folder(tiny_world, tmp_path):
    last = _run(tiny_train_config(tiny_world), tmp_path / "run")
    run = tmp_path / "run"
    assert last == run / "checkpoints" / "epoch-0002"
    assert {p.name for p in last.iterdir()} == {"config.json", "weights.safetensors", "train_state.pt"}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["generator"]["in_channels"] == 6 and cfg["discriminator"]["in_channels"] == 9
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2] and {"d_real", "d_fake", "g_gan", "g_feat", "lr"} <= set(stats[0])
    assert (run / "log.txt").read_text().count("epoch") >= 2
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    tensors = load_file(str(last / "weights.safetensors"))
    assert any(k.startswith("generator.") for k in tensors) and any(k.startswith("discriminator.") for k in tensors)
    state = torch.load(last / "train_state.pt", weights_only=True)
    assert state["epoch"] == 2 and set(state["optimizers"]) == {"generator", "discriminator"}


def test_resume_equals_an_uninterrupted_run(tiny_world, tmp_path):
    full = _run(tiny_train_config(tiny_world, epochs=2, decay_epochs=1), tmp_path / "full")
    first = tiny_train_config(tiny_world, epochs=2, decay_epochs=1)
    # Stop after the first epoch by running a shorter schedule's first checkpoint, then resume the full schedule.
    part_dir = tmp_path / "part"
    _run(merge(first, {"loop": {"epochs": 1, "decay_epochs": 0}}), part_dir)
    # The resumed run uses the full schedule; epoch 1 had lr 2e-4 in both.
    resumed = run_pix2pixhd(resolve_config(first), part_dir, resume=True, echo=None, progress=False)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    stats = [json.loads(line) for line in (part_dir / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2, 3]


def test_resume_without_checkpoints_and_overwriting_a_run_are_refused(tiny_world, tmp_path):
    with pytest.raises(CimgenError, match="no checkpoints to resume"):
        _run(tiny_train_config(tiny_world), tmp_path / "none", resume=True)
    _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "r")
    with pytest.raises(CimgenError, match="already holds a run"):
        _run(tiny_train_config(tiny_world), tmp_path / "r")


def test_finetune_starts_from_the_checkpoint(tiny_world, tmp_path):
    pre = _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "pre")
    ckpt_cfg, _ = load_checkpoint(pre)
    cfg = finetune_config(
        ckpt_cfg, {"data": {"root": str(tiny_world), "crop_size": 0}, "loop": {"epochs": 0, "decay_epochs": 1, "batch_size": 4}}
    )
    assert cfg.generator.base_channels == 4
    last = run_pix2pixhd(cfg, tmp_path / "ft", init_from=pre, echo=None, progress=False)
    gen_pre, _ = load_label_generator(pre)
    gen_ft, meta = load_label_generator(last)
    assert meta["label_nc"] == 6 and meta["palette"]["names"][2] == "building"
    changed = [not torch.equal(p, q) for p, q in zip(gen_pre.parameters(), gen_ft.parameters())]
    assert any(changed)
    with pytest.raises(CimgenError, match="keeps the checkpoint's generator"):
        finetune_config(ckpt_cfg, {"generator": {"base_channels": 8}})
    with pytest.raises(CimgenError, match="checkpoint has 6 classes but data.label_nc is 7"):
        finetune_config(ckpt_cfg, {"data": {"label_nc": 7}})


def test_generate_renders_any_size(tiny_world, tmp_path):
    last = _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "r")
    gen, _ = load_label_generator(last)
    out = generate(gen, np.random.default_rng(0).integers(0, 6, (30, 21)), 6)
    assert out.shape == (30, 21, 3) and out.dtype == np.uint8


def test_checkpoint_that_does_not_match_the_model(tiny_world, tmp_path):
    last = _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "r")
    cfg, tensors = load_checkpoint(last)
    cfg["generator"]["num_blocks"] = 2
    save_checkpoint(tmp_path / "bad", cfg, tensors)
    with pytest.raises(CimgenError, match="does not match the model: it lacks 'generator.model"):
        load_label_generator(tmp_path / "bad")
    cfg["generator"]["num_blocks"] = 1
    cfg["generator"]["base_channels"] = 8
    save_checkpoint(tmp_path / "bad2", cfg, tensors)
    with pytest.raises(CimgenError, match="has shape .* the model expects"):
        load_label_generator(tmp_path / "bad2")
    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "config.json").write_text(json.dumps({"format": "cimgen-checkpoint", "model": "pix2pixhd"}))
    (tmp_path / "trunc" / "weights.safetensors").write_bytes((last / "weights.safetensors").read_bytes()[:100])
    with pytest.raises(CimgenError, match=r"weights.safetensors cannot be read: it is damaged \(truncated or corrupt\)$"):
        load_label_generator(tmp_path / "trunc")


def test_unknown_or_mistyped_options_are_rejected(tiny_world):
    with pytest.raises(CimgenError, match="unknown key 'epoch'"):
        resolve_config(merge(tiny_train_config(tiny_world), {"loop": {"epoch": 3}}))
    with pytest.raises(CimgenError, match="loop.batch_size must be an integer"):
        resolve_config(merge(tiny_train_config(tiny_world), {"loop": {"batch_size": "two"}}))
    with pytest.raises(CimgenError, match="crop_size must be a multiple of 4"):
        resolve_config(merge(tiny_train_config(tiny_world), {"data": {"crop_size": 30}}))


def test_linear_decay_schedule_follows_pix2pixhd():
    cfg = LoopConfig(epochs=3, decay_epochs=4)
    lrs = [learning_rate(1.0, e, cfg) for e in range(7)]
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]


def test_nan_loss_stops_with_the_step_named(tiny_world, tmp_path, monkeypatch):
    from cimgen.train import pix2pixhd

    def nan_step(self, batch):
        return {"g_gan": float("nan")}

    monkeypatch.setattr(pix2pixhd.Pix2PixHDRecipe, "g_step", nan_step)
    with pytest.raises(CimgenError, match="loss g_gan became nan at epoch 1, step 1"):
        _run(tiny_train_config(tiny_world), tmp_path / "nan")


def test_optional_l1_term_is_logged_and_off_by_default(tiny_world, tmp_path):
    _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), tmp_path / "plain")
    assert "g_l1" not in json.loads((tmp_path / "plain" / "stats.jsonl").read_text().splitlines()[0])
    _run(merge(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), {"loss": {"lambda_l1": 100.0}}), tmp_path / "l1")
    record = json.loads((tmp_path / "l1" / "stats.jsonl").read_text().splitlines()[0])
    assert record["g_l1"] > 0


def test_resume_records_changed_options_and_refuses_another_architecture(tiny_world, tmp_path):
    base = tiny_train_config(tiny_world, epochs=1, decay_epochs=0)
    _run(base, tmp_path / "r")
    longer = merge(base, {"loop": {"epochs": 2}})
    _run(longer, tmp_path / "r", resume=True)
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["loop"]["epochs"] == 2
    before = (tmp_path / "r" / "config.yaml").read_text()
    wider = merge(longer, {"generator": {"base_channels": 8}, "loop": {"epochs": 3}})
    with pytest.raises(CimgenError, match="hold another generator"):
        _run(wider, tmp_path / "r", resume=True)
    assert (tmp_path / "r" / "config.yaml").read_text() == before


def test_reconstruction_first_leaves_the_discriminator_out_until_its_epoch(tiny_world, tmp_path):
    cfg = tiny_train_config(tiny_world, epochs=2, decay_epochs=1)
    cfg["loss"] = {"lambda_l1": 10.0, "adversarial_from_epoch": 1}
    start = tmp_path / "start"
    _run(tiny_train_config(tiny_world, epochs=1, decay_epochs=0), start)
    first = max((start / "checkpoints").iterdir())
    one = merge(cfg, {"loop": {"epochs": 1, "decay_epochs": 0}})
    last = _run(one, tmp_path / "l1", init_from=first)
    before, after = load_file(str(first / "weights.safetensors")), load_file(str(last / "weights.safetensors"))
    d_keys = [k for k in before if k.startswith("discriminator.")]
    assert d_keys and all(torch.equal(before[k], after[k]) for k in d_keys)  # no discriminator update in epoch 1
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("generator."))
    stats = [json.loads(line) for line in (tmp_path / "l1" / "stats.jsonl").read_text().splitlines()]
    assert "g_l1" in stats[0] and "d_real" not in stats[0] and "g_gan" not in stats[0]
    _run(cfg, tmp_path / "both")  # from epoch 2 (index 1) on, the adversarial terms are back
    stats = [json.loads(line) for line in (tmp_path / "both" / "stats.jsonl").read_text().splitlines()]
    assert "d_real" not in stats[0] and {"d_real", "g_gan", "g_feat", "g_l1"} <= set(stats[1])
    with pytest.raises(CimgenError, match="give loss.lambda_l1 above 0"):
        resolve_config(merge(cfg, {"loss": {"lambda_l1": 0.0}}))
    with pytest.raises(CimgenError, match="adversarial_from_epoch must be non-negative"):
        resolve_config(merge(cfg, {"loss": {"adversarial_from_epoch": -1}}))


def test_stats_lines_are_json_that_every_reader_takes(tmp_path):
    """stats.jsonl goes through the one JSON writer (textfiles.json_text): a NaN or infinite figure is null, not bare NaN."""
    from cimgen.train.loop import RunLog

    log = RunLog(tmp_path, None)
    log.stats({"epoch": 1, "step": 2, "g_gan": float("nan"), "grad": float("inf"), "d_real": np.float32(0.5)})
    line = (tmp_path / "stats.jsonl").read_text()
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"epoch": 1, "step": 2, "g_gan": None, "grad": None, "d_real": 0.5}
