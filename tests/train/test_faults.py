"""Fault injection: training killed at random moments (in the middle of checkpoint writes too), a full disk, NaN losses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_train_state, resolve_checkpoint
from tests.conftest import tiny_train_config

WORKER = Path(__file__).with_name("fault_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _config(tiny_world, tmp_path) -> Path:
    cfg = tiny_train_config(tiny_world, epochs=9, decay_epochs=3, tensorboard=False, sample_every=100, keep_checkpoints=100)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model": "pix2pixhd", **cfg}))
    return path


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(resolve_checkpoint(run))[1]


def _every_checkpoint_is_whole(run: Path) -> int:
    folders = sorted((run / "checkpoints").glob("epoch-*")) if (run / "checkpoints").is_dir() else []
    for f in folders:
        load_checkpoint(f)
        load_train_state(f)
    return len(folders)


def _launch(argv: list[str], kill_at_write: int = 0) -> subprocess.Popen:
    env = {**os.environ, "CIMGEN_FAULT_KILL_AT_WRITE": str(kill_at_write), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)


@pytest.mark.slow
def test_killed_runs_resume_from_the_last_whole_checkpoint_and_end_on_the_same_weights(tiny_world, tmp_path):

    config = _config(tiny_world, tmp_path)
    # the reference run is a child process too: the test process's torch may have been set to
    # another thread count by earlier tests, which changes float sums
    p = _launch(["train", "--config", str(config), "--out", str(tmp_path / "straight"), "--quiet"])
    assert p.wait(300) == 0, p.stderr.read().decode()
    straight = _weights(tmp_path / "straight")
    run = tmp_path / "killed"
    # (kind, when): the Nth checkpoint file write of that process (odd: weights, even: train state), or seconds
    # after the start; the write kills come first, so each is sure to happen
    faults = [("write", 1), ("write", 4), ("write", 3), ("write", 6), ("write", 2), ("write", 5), ("time", 2.5)]
    kills, history = 0, []
    for kind, when in faults:
        argv = ["train", "--out", str(run), "--quiet"]
        argv += ["--resume"] if (run / "config.yaml").is_file() else ["--config", str(config)]
        p = _launch(argv, kill_at_write=when if kind == "write" else 0)
        if kind == "time":
            try:
                p.wait(when)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
        rc = p.wait(300)
        err = p.stderr.read().decode()
        assert rc in (0, -signal.SIGKILL), err
        kills += rc == -signal.SIGKILL
        history.append((kind, when, rc, _every_checkpoint_is_whole(run)))  # never a half-written checkpoint under its real name
        if rc == 0:
            break
    assert kills >= 6, history
    assert [h[3] for h in history[:6]] == [0, 1, 2, 4, 4, 6], history  # whole checkpoints after each write kill
    print("fault history (kind, when, exit status, whole checkpoints):", history)
    p = _launch(["train", "--out", str(run), "--resume", "--quiet"])
    assert p.wait(300) == 0, p.stderr.read().decode()
    assert _every_checkpoint_is_whole(run) == 12
    final = _weights(run)
    assert final.keys() == straight.keys()
    assert all(torch.equal(final[k], straight[k]) for k in straight)
    assert not list((run / "checkpoints").glob(".*")), "temporary folders were left behind"


def test_a_full_disk_is_one_sentence_and_keeps_the_previous_checkpoint(tiny_world, tmp_path, monkeypatch, capsys):
    import errno

    import cimgen.io.checkpoints as ck
    from cimgen.cli.main import main

    config = _config(tiny_world, tmp_path)
    run = tmp_path / "run"
    real = ck.save_file
    calls = {"n": 0}

    def fill_up(tensors, filename, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint finds the disk full halfway
            Path(filename).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(ck, "save_file", fill_up)
    rc = main(["train", "--config", str(config), "--out", str(run), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("cimgen: error: the disk is full: checkpoint") and err.count("\n") == 1, err
    assert "previous checkpoints are kept" in err and "--resume" in err
    assert _every_checkpoint_is_whole(run) == 2
    assert not list((run / "checkpoints").glob(".*"))
    # with space again, the run resumes and ends where an uninterrupted one ends
    monkeypatch.setattr(ck, "save_file", real)
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    a, b = _weights(run), _weights(tmp_path / "straight")
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_other_writes_on_a_full_disk_are_one_sentence(tmp_path, monkeypatch, capsys):
    import errno

    from cimgen.cli.main import main
    from cimgen.io import images

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x.png"))

    monkeypatch.setattr(images, "atomic_write", full)
    rc = main(["data", "synth", "--out", str(tmp_path / "out"), "--count", "1", "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("cimgen: error: the disk is full while writing") and err.count("\n") == 1, err


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tiny_world, tmp_path, monkeypatch):
    from cimgen.train import pix2pixhd
    from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd

    cfg = resolve_config(tiny_train_config(tiny_world, epochs=3, decay_epochs=0, tensorboard=False))
    real_phases = pix2pixhd.Pix2PixHDRecipe.phases
    steps = {"n": 0}

    def phases(self):
        inner = real_phases(self)

        def poisoned(batch, first=inner[0]):
            steps["n"] += 1
            out = first(batch)
            if steps["n"] == 5:  # epoch 3, step 1 (2 steps per epoch)
                out = {k: float("nan") for k in out}
            return out

        return [poisoned, *inner[1:]]

    monkeypatch.setattr(pix2pixhd.Pix2PixHDRecipe, "phases", phases)
    run = tmp_path / "run"
    with pytest.raises(CimgenError, match=r"^loss d_real became nan at epoch 3, step 5; the last good checkpoint is kept$"):
        run_pix2pixhd(cfg, run, echo=None, progress=False)
    assert resolve_checkpoint(run).name == "epoch-0002"
    assert _every_checkpoint_is_whole(run) == 2
