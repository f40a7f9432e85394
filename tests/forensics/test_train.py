"""The detector recipe on the generic loop: every mode trains, validates, keeps its best epoch and resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.forensics.train import DetectorRecipe, load_detector, resolve_config, run_detector
from cimgen.io.checkpoints import load_checkpoint
from cimgen.train.loop import make_runtime
from tests.forensics.conftest import tiny_detector_config


def _first_batch(patch_dataset, n: int = 8) -> dict:
    """The first ``n`` training items, collated as the loop's DataLoader would."""
    from cimgen.forensics.patches import PatchDataset

    ds = PatchDataset(patch_dataset, "train")
    return {"patch": torch.stack([ds[i]["patch"] for i in range(n)]), "label": torch.stack([ds[i]["label"] for i in range(n)])}


@pytest.mark.parametrize("mode", ["plain", "bart", "at", "bart+at"])
def test_every_mode_trains_validates_and_keeps_the_best(patch_dataset, tmp_path, mode):
    run = tmp_path / mode
    last = run_detector(resolve_config(tiny_detector_config(patch_dataset, mode)), run, echo=None, progress=False)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 2 and all({"loss", "acc", "val_auc", "val_accuracy", "val_loss"} <= set(s) for s in stats)
    best_cfg, _ = load_checkpoint(run / "best")
    assert best_cfg["model"] == "detector" and best_cfg["mode"] == mode
    assert best_cfg["best"]["auc"] == max(s["val_auc"] for s in stats)
    assert last.name == "epoch-0002" and (run / "samples" / "epoch-0002.png").is_file()
    model, cfg = load_detector(run)  # a run folder gives its best epoch
    assert cfg["epoch"] == best_cfg["epoch"] and not model.training


def test_hardened_batches_differ_from_clean_ones(patch_dataset):
    batch = _first_batch(patch_dataset)
    clean = batch["patch"].float() / 255
    for mode in ("plain", "at", "bart", "bart+at"):
        raw = tiny_detector_config(patch_dataset, mode)
        raw["bart"] = {"probability": 1.0}
        cfg = resolve_config(raw)
        recipe = DetectorRecipe(cfg, make_runtime(cfg.loop), None)
        x, _ = recipe.prepare_batch(batch)
        diff = (x - clean).abs().flatten(1).amax(1)
        if mode == "plain":
            assert torch.equal(x, clean)
        elif mode == "at":
            assert (diff <= 1 / 255 + 1e-6).all() and (diff > 0).all()
        else:
            assert (diff > 0).all()


def test_resume_continues_exactly(patch_dataset, tmp_path):
    cfg = resolve_config(tiny_detector_config(patch_dataset, "bart+at"))
    straight = run_detector(cfg, tmp_path / "straight", echo=None, progress=False)
    half = resolve_config(tiny_detector_config(patch_dataset, "bart+at", epochs=1))
    run_detector(half, tmp_path / "split", echo=None, progress=False)
    resumed = run_detector(cfg, tmp_path / "split", resume=True, echo=None, progress=False)
    _, a = load_checkpoint(straight)
    _, b = load_checkpoint(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_options_and_checkpoints(patch_dataset, tmp_path, tiny_world):
    for change, msg in (
        ({"mode": "fgsm"}, "mode must be one of"),
        ({"detector": {"arch": "vgg"}}, "vgg"),
        ({"bart": {"operations": ["sharpen"]}}, "sharpen"),
        ({"attack": {"epsilon": -1}}, "epsilon"),
        ({"data": ""}, "patch dataset"),
    ):
        raw = {**tiny_detector_config(patch_dataset), **change}
        with pytest.raises(CimgenError, match=msg):
            resolve_config(raw)
    from cimgen.generators import shipped_checkpoint

    with pytest.raises(CimgenError, match="not a detector"):
        load_detector(shipped_checkpoint())


def test_attack_fraction_replaces_part_of_the_batch(patch_dataset):
    batch = _first_batch(patch_dataset)
    raw = tiny_detector_config(patch_dataset, "at")
    raw["attack"]["fraction"] = 0.5
    cfg = resolve_config(raw)
    x, _ = DetectorRecipe(cfg, make_runtime(cfg.loop), None).prepare_batch(batch)
    changed = ((x - batch["patch"].float() / 255).abs().flatten(1).amax(1) > 0).sum()
    assert changed == 4
    raw["attack"]["fraction"] = 0.0
    with pytest.raises(CimgenError, match="fraction"):
        resolve_config(raw)


@pytest.mark.slow
def test_ddp_detector_training_with_two_gloo_processes(patch_dataset, tmp_path):
    """``torchrun -m cimgen detect train``: two CPU processes share each batch, rank 0 writes, BaRT+AT and validation work."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "src")])}
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "cimgen", "detect", "train"]
    cmd += ["--data", str(patch_dataset), "--arch", "resnet_small", "--set", "detector.width=4", "--mode", "bart+at", "--epochs", "2"]
    cmd += ["--set", "loop.batch_size=4", "--set", "loop.tensorboard=false", "--set", "attack.steps=2", "--out", str(run), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done; best checkpoint") == 1  # one process speaks
    log = (run / "log.txt").read_text()
    assert "DDP: 2 processes, 4 item(s) each per step" in log
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 2 and all(0.0 <= s["val_auc"] <= 1.0 for s in stats)
    model, cfg = load_detector(run)
    assert cfg["mode"] == "bart+at" and not model.training and (run / "checkpoints" / "epoch-0002").is_dir()
