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
    """``torchrun -m cimgen detect train``: two CPU processes share each batch, rank 0 writes, BaRT+AT and validation work.

    The replicas' weights are compared, not only the log: every parameter is equal on both processes.
    Batch norm's running statistics are not: PyTorch's SyncBatchNorm runs only on GPUs, so on CPUs each
    process normalises its own share of the batch and keeps its own statistics (the log says so; rank 0's
    are the ones saved).
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    from cimgen.forensics.evaluate import AUC, patch_metrics, predict_patches
    from cimgen.forensics.patches import PatchDataset

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "src")])}
    run = tmp_path / "ddp"
    args = ["detect", "train", "--data", str(patch_dataset), "--arch", "resnet_small", "--set", "detector.width=4"]
    args += ["--mode", "bart+at", "--epochs", "2", "--set", "loop.batch_size=4", "--set", "loop.tensorboard=false"]
    args += ["--set", "loop.precision=fp32", "--set", "attack.steps=2", "--out", str(run), "--quiet"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(repo / "tests" / "train" / "ddp_worker.py"), str(patch_dataset), str(tmp_path), json.dumps(args), "cli"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done; best checkpoint") == 1  # one process speaks
    log = (run / "log.txt").read_text()
    assert "DDP: 2 processes, 4 item(s) each per step" in log
    assert log.count("sync_batchnorm: PyTorch's SyncBatchNorm runs only on GPUs, so on cpu the batch norm of detector") == 1
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    statistics = {k for k in r0 if k.endswith(("running_mean", "running_var"))}
    assert r0.keys() == r1.keys() and len(statistics) > 0
    for k in r0.keys() - statistics:
        assert torch.equal(r0[k], r1[k]), k
    assert all(not torch.equal(r0[k], r1[k]) for k in statistics)  # per-process batch norm on CPUs
    _, saved = load_checkpoint(run / "checkpoints" / "epoch-0002")
    assert saved.keys() == r0.keys() and all(torch.equal(saved[k], r0[k]) for k in r0)
    # The logged validation AUC is rank 0's replica's on the validation split.
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2]
    model, cfg = load_detector(run / "checkpoints" / "epoch-0002")
    val = PatchDataset(patch_dataset, "val")
    auc = patch_metrics(predict_patches(model, val.patches, batch_size=256, device="cpu"), val.labels)[AUC]
    assert stats[1]["val_auc"] == pytest.approx(auc, abs=1e-6)
    assert cfg["mode"] == "bart+at" and not model.training
