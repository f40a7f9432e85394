"""``cimgen batch``: a manifest of scenes on 1 and 2 workers (same pixels), resumed after a re-run, a dead worker and a killed driver."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import cimgen
from cimgen.cli.main import main
from cimgen.errors import CimgenError
from cimgen.generators import shipped_checkpoint
from cimgen.io.images import read_image
from cimgen.runs import batch
from cimgen.runs.batch import run_batch_manifest
from cimgen.runs.manipulate import run_manipulation
from cimgen.runs.options import ManipulateConfig

SPEC = "edits:\n  - {op: remove, class: building, choose: random, seed: 1}\n"
CONTROL = "CIMGEN_TEST_BATCH_CONTROL"
"""A folder through which a test tells the Ray workers' wrapped run_manipulation what to do (see ``_install_faults``)."""
OUTPUTS = ("result.png", "generated.png", "mask_raw.png", "edited_labels.png")


def _name(out: str) -> str:
    """The scene name of the temporary folder run_scene hands to run_manipulation (``.<name>.XXXXXXXX``)."""
    stem = Path(out).name
    return stem[1 : stem.rfind(".")]


def _install_faults() -> None:
    """Ray worker set-up hook: log every manipulation and let a test make the worker process die in one.

    ``CONTROL/calls.log`` gets one line per scene started; a file ``CONTROL/die_once/<name>`` makes the
    worker exit on that scene once (the file is removed first), ``CONTROL/die_always/<name>`` every time.
    """
    real = batch.run_manipulation

    def wrapped(cfg, *args, **kwargs):
        control = Path(os.environ[CONTROL])
        name = _name(cfg.out)
        with open(control / "calls.log", "a") as f:
            f.write(name + "\n")
        once = control / "die_once" / name
        if (control / "die_always" / name).exists() or once.exists():
            once.unlink(missing_ok=True)
            os._exit(1)
        return real(cfg, *args, **kwargs)

    batch.run_manipulation = wrapped


@pytest.fixture(scope="module")
def ray_engine(tmp_path_factory):
    """A local Ray instance of 2 CPUs for the module, its workers wrapped by ``_install_faults``; yields the control folder."""
    try:
        import ray
    except ImportError:
        pytest.fail("the test set-up installs Ray (the 'batch' extra: pip install -e '.[batch]')")
    control = tmp_path_factory.mktemp("control")
    for sub in ("die_once", "die_always"):
        (control / sub).mkdir()
    saved = {k: os.environ.get(k) for k in (CONTROL, "PYTHONPATH")}
    # The workers import this cimgen and this test module (for the hook), whichever cimgen is installed.
    src, root = Path(cimgen.__file__).parents[1], Path(__file__).parents[2]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), str(root), saved["PYTHONPATH"]) if p)
    os.environ[CONTROL] = str(control)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        logging_level="warning",
        runtime_env={"worker_process_setup_hook": _install_faults},
    )
    try:
        yield control
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _reset(control: Path) -> None:
    for p in control.rglob("*"):
        if p.is_file():
            p.unlink()


def _calls(control: Path) -> list[str]:
    log = control / "calls.log"
    return log.read_text().split() if log.exists() else []


def _manifest(tmp_path: Path, world: Path, n: int = 4, *, options: str = '{"radius": 4}', name: str = "m.csv") -> Path:
    """A CSV manifest of ``n`` scenes (tiles of the tiny world, cycled), each removing a random building."""
    (tmp_path / "e.yaml").write_text(SPEC)
    lines = ["image,map,spec,out,options"]
    for i in range(n):
        t = i % 4
        quoted = '"' + options.replace('"', '""') + '"'
        lines.append(f"{world}/images/tile_{t:05d}.png,{world}/labels/tile_{t:05d}.png,e.yaml,s{i},{quoted}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / batch.MANIFEST_OUT).read_text().splitlines()))


def _same_pixels(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert np.array_equal(read_image(a / name), read_image(b / name)), f"{a / name} differs from {b / name}"


def _run(manifest, out, **kw):
    return run_batch_manifest(manifest, out, checkpoint=shipped_checkpoint(), echo=None, **kw)


@pytest.mark.slow
def test_two_ray_workers_make_the_pixels_of_one_worker_and_of_a_single_run(ray_engine, tiny_world, tmp_path):
    _reset(ray_engine)
    manifest = _manifest(tmp_path, tiny_world, 4)
    one = _run(manifest, tmp_path / "one", workers=1)
    two = _run(manifest, tmp_path / "two", workers=2)
    assert [r["status"] for r in one.rows] == [r["status"] for r in two.rows] == ["ok"] * 4
    for i in range(4):
        _same_pixels(tmp_path / "one" / f"s{i}", tmp_path / "two" / f"s{i}")
    # the Ray rows were made in worker processes, each scene once
    assert {r["worker"].split(":")[1] for r in two.rows} - {str(os.getpid())} and sorted(_calls(ray_engine)) == ["s0", "s1", "s2", "s3"]
    # the same scene as one run of cimgen manipulate
    cfg = ManipulateConfig(
        checkpoint=str(shipped_checkpoint()),
        out=str(tmp_path / "single"),
        image=str(tiny_world / "images" / "tile_00002.png"),
        map=str(tiny_world / "labels" / "tile_00002.png"),
        spec=str(tmp_path / "e.yaml"),
        radius=4,
    )
    # with the batch's torch threads (1): PyTorch's CPU kernels may round a level differently with another thread count
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_manipulation(cfg, echo=None, progress=False)
    finally:
        torch.set_num_threads(threads)
    _same_pixels(tmp_path / "single", tmp_path / "two" / "s2")
    rows = _rows(tmp_path / "two")
    assert rows[2]["result"] == str(tmp_path / "two" / "s2" / "result.png") and int(rows[2]["mask_area_pixels"]) > 0
    assert json.loads((tmp_path / "two" / batch.MANIFEST_OUT_JSONL).read_text().splitlines()[1])["out"] == "s1"


@pytest.mark.slow
def test_a_worker_that_dies_is_retried_and_no_finished_scene_is_lost_or_done_twice(ray_engine, tiny_world, tmp_path):
    _reset(ray_engine)
    manifest = _manifest(tmp_path, tiny_world, 5)
    out = tmp_path / "b"
    (ray_engine / "die_once" / "s1").touch()  # its worker process exits mid-scene once: Ray reruns the task
    (ray_engine / "die_always" / "s3").touch()  # exits every time: after the retries the scene is recorded as failed
    result = _run(manifest, out, workers=2, retries=1)
    status = {r["out"]: r["status"] for r in result.rows}
    assert status == {"s0": "ok", "s1": "ok", "s2": "ok", "s3": "failed", "s4": "ok"}
    assert "was lost 2 time(s)" in result.rows[3]["error"] and not (out / "s3").exists()
    calls = _calls(ray_engine)
    assert sorted(calls) == ["s0", "s1", "s1", "s2", "s3", "s3", "s4"]
    assert any(p.name.startswith(".s3.") for p in out.iterdir())  # what the dead worker left half-written
    made = {n: (out / n / batch.SCENE_RECORD).read_text() for n in ("s0", "s1", "s2", "s4")}
    # The re-run makes only s3 (its leftovers removed first); the others are skipped, untouched.
    (ray_engine / "die_always" / "s3").unlink()
    again = _run(manifest, out, workers=2)
    assert [r["status"] for r in again.rows] == ["done", "done", "done", "ok", "done"]
    assert _calls(ray_engine)[len(calls) :] == ["s3"]
    assert all((out / n / batch.SCENE_RECORD).read_text() == text for n, text in made.items())
    assert not [p for p in out.iterdir() if p.name.startswith(".s")]
    assert again.rows[0]["worker"] == result.rows[0]["worker"]  # the row of a skipped scene is the one it was made with


def test_a_rerun_skips_finished_scenes_and_makes_new_and_failed_ones(tiny_world, tmp_path, monkeypatch, capsys):
    calls = []
    real = batch.run_manipulation
    monkeypatch.setattr(batch, "run_manipulation", lambda cfg, *a, **k: calls.append(_name(cfg.out)) or real(cfg, *a, **k))
    manifest = _manifest(tmp_path, tiny_world, 3)
    text = manifest.read_text().replace("tile_00001.png,", "missing.png,", 1)  # s1's image does not exist
    manifest.write_text(text)
    out = tmp_path / "b"
    argv = ["batch", str(manifest), "--checkpoint", str(shipped_checkpoint()), "--out", str(out), "--workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "s1: failed: image" in printed and "does not exist" in printed and "[2/2] s2: ok" in printed
    assert (
        f"3 scenes: 2 made now, 0 done earlier, 1 failed (reasons in the manifest out; a re-run retries them); manifest out: {out}"
        in printed
    )
    assert [r["status"] for r in _rows(out)] == ["ok", "failed", "ok"] and calls == ["s0", "s2"]
    # Fix s1's image and add a scene: only those two run.
    manifest.write_text(
        text.replace("missing.png,", "tile_00001.png,", 1) + manifest.read_text().splitlines()[1].replace(",s0,", ",s9,") + "\n"
    )
    assert main(argv) == 0
    assert "4 scenes: 2 made now, 2 done earlier, 0 failed" in capsys.readouterr().out
    assert [r["status"] for r in _rows(out)] == ["done", "ok", "done", "ok"] and calls == ["s0", "s2", "s1", "s9"]
    # A scene whose row changed since its folder was made is not silently kept.
    manifest.write_text(manifest.read_text().replace('""radius"": 4', '""radius"": 5', 1))
    assert main(argv) == 0
    rows = _rows(out)
    assert rows[0]["status"] == "failed" and "was made from other inputs or options than line 2 gives" in rows[0]["error"]


def _one_scene_metrics(tiny_world, tmp_path, **options: str) -> dict[str, dict]:
    """metrics.json of one scene batched once per named row options (a JSON string each), by name."""
    argv = ["--checkpoint", str(shipped_checkpoint()), "--workers", "1"]
    for name, row_options in options.items():
        manifest = _manifest(tmp_path, tiny_world, 1, options=row_options, name=f"{name}.csv")
        assert main(["batch", str(manifest), "--out", str(tmp_path / name), *argv]) == 0
    return {name: json.loads((tmp_path / name / "s0" / "metrics.json").read_text()) for name in options}


def test_a_row_chooses_its_scenes_shadows(tiny_world, tmp_path):
    """``options: {"shadows": "off"}`` keeps that scene's mask to the changed labels; without it the mask looks for them."""
    runs = _one_scene_metrics(tiny_world, tmp_path, off='{"radius": 4, "shadows": "off"}', auto='{"radius": 4}')
    off, auto = runs["off"], runs["auto"]
    assert off["mask_from"] == "changed labels, dilated" and "shadow" not in off
    assert "shadow" in auto


def test_a_row_chooses_its_scenes_seam_cut(tiny_world, tmp_path):
    """``options: {"seam_cut": 0}`` blends that scene in the whole mask; without it the border may move in."""
    runs = _one_scene_metrics(tiny_world, tmp_path, off='{"radius": 4, "seam_cut": 0}', two='{"radius": 4, "seam_cut": 2}')
    off, two = runs["off"], runs["two"]
    assert "seam_cut" not in off and two["seam_cut"]["pixels"] == 2
    assert two["seam_cut"]["mask_pixels_before"] == off["mask_area_pixels"] >= two["mask_area_pixels"]


@pytest.mark.slow
def test_a_killed_driver_loses_no_finished_scene_and_the_rerun_completes(tiny_world, tmp_path):
    manifest = _manifest(tmp_path, tiny_world, 6, options='{"radius": 4, "finetune": true, "finetune_steps": 2, "finetune_crop": 32}')
    out = tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(cimgen.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    argv = [
        sys.executable,
        "-m",
        "cimgen",
        "batch",
        str(manifest),
        "--checkpoint",
        str(shipped_checkpoint()),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "s1").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed:\n" + proc.stdout.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = {p.name: (p / batch.SCENE_RECORD).read_text() for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert {"s0", "s1"} <= set(before) and len(before) < 6 and not (out / batch.MANIFEST_OUT).exists()
    rerun = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = _rows(out)
    assert [r["out"] for r in rows] == [f"s{i}" for i in range(6)]
    assert all(r["status"] == ("done" if r["out"] in before else "ok") for r in rows)
    assert all((out / n / batch.SCENE_RECORD).read_text() == text for n, text in before.items())
    assert not [p for p in out.iterdir() if p.name.startswith(".s")]


def test_a_scene_being_made_elsewhere_is_waited_for_then_skipped(tiny_world, tmp_path, monkeypatch):
    """A worker of a killed driver may still be finishing a scene when the re-run starts: the re-run waits on its lock."""
    import fcntl
    import threading

    calls = []
    real = batch.run_manipulation
    monkeypatch.setattr(batch, "run_manipulation", lambda cfg, *a, **k: calls.append(_name(cfg.out)) or real(cfg, *a, **k))
    manifest = _manifest(tmp_path, tiny_world, 1)
    out = tmp_path / "b"
    _run(manifest, out, workers=1)
    (out / "s0").rename(tmp_path / "s0_made")  # as if s0 were still being made by that worker
    (out / ".s0.abcd1234").mkdir()  # and its temporary folder
    scene = batch.read_manifest(manifest, ManipulateConfig(checkpoint=str(shipped_checkpoint()), out=str(out)))[0]
    with open(out / batch.SCENE_LOCKS / "s0", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert batch.remove_leftovers(out, {"s0"}) == 0 and (out / ".s0.abcd1234").is_dir()  # not removed under its maker
        rows = []
        waiting = threading.Thread(target=lambda: rows.append(batch.run_scene(scene, 1)))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not rows  # it waits for the lock
        (tmp_path / "s0_made").rename(out / "s0")  # the other worker finishes the scene and lets go
        (out / ".s0.abcd1234").rmdir()
        fcntl.flock(held, fcntl.LOCK_UN)
    waiting.join(30)
    assert rows[0]["status"] == "done" and calls == ["s0"]  # skipped: made once, by the first run


# ----------------------------------------------------------------------------------------------
# Bad manifests: one sentence, status 2, nothing made


def _err(capsys, manifest: Path, out: Path, *extra: str) -> str:
    rc = main(["batch", str(manifest), "--checkpoint", str(shipped_checkpoint()), "--out", str(out), *(extra or ("--workers", "1"))])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("cimgen: error: "), err
    return err[0]


@pytest.mark.parametrize(
    "suffix, text, words",
    [
        (".csv", "image,spec\na.png,e.yaml\n", "lacks the column out"),
        (".csv", "image,out,mpa\na.png,s0,m.png\n", "unknown column 'mpa' (did you mean 'map'?)"),
        (".csv", "image,out,spec\na.png,s0,e.yaml,extra\n", "line 2 has more fields than the header names"),
        (".csv", "image,out,spec\na.png,s0\n", "line 2 has fewer fields than the header names"),
        (".csv", "image,out,spec\na.png,s0,e.yaml\nb.png,S0,e.yaml\n", "the out name 'S0' is on lines 2 and 3"),
        (".csv", "image,out,spec\na.png,../up,e.yaml\n", "out '../up' must be a plain folder name"),
        (".csv", "image,out\na.png,s0\n", "line 2: give the edit with exactly one of spec, edits or edited_map"),
        (".csv", 'image,out,spec,options\na.png,s0,e.yaml,"{""radiu"": 3}"\n', "unknown option 'radiu' (did you mean 'radius'?)"),
        (".csv", 'image,out,spec,options\na.png,s0,e.yaml,"{""radius"": 1e9}"\n', "option radius must be an integer"),
        (".csv", 'image,out,spec,options\na.png,s0,e.yaml,"{""radius"": 5000}"\n', "line 2: radius is 5000"),
        (".csv", 'image,out,spec,options\na.png,s0,e.yaml,"{""blend"": ""soft""}"\n', "unknown blend mode 'soft'"),
        (".csv", 'image,out,spec,options\na.png,s0,e.yaml,"{""shadows"": ""up""}"\n', "shadows is 'up'; choose auto"),
        (".csv", "image,out,edits\na.png,s0,[{op: x}]\n", "line 2: the edits column"),
        (".csv", "", "is empty"),
        (".csv", "image,out,spec\n", "lists no scenes"),
        (".jsonl", '{"image": "a.png", "out": "s0", "spec": "e.yaml"}\n{"image": "b.png", "out": \n', "line 2"),
        (".jsonl", '["a.png", "s0"]\n', "line 1 is not a JSON object"),
        (".jsonl", '{"image": "a.png", "out": "s0", "spec": "e.yaml", "map": 3}\n', "map must be a string"),
        (".txt", "image,out\n", "must be a .csv or a .jsonl file"),
    ],
)
def test_a_bad_manifest_is_one_sentence(suffix, text, words, capsys, tmp_path):
    manifest = tmp_path / f"m{suffix}"
    manifest.write_text(text)
    msg = _err(capsys, manifest, tmp_path / "b")
    assert words in msg, msg
    assert not (tmp_path / "b").exists()


def test_a_folder_that_is_not_this_batch_is_refused(capsys, tiny_world, tmp_path):
    manifest = _manifest(tmp_path, tiny_world, 1)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "notes.txt").write_text("mine")
    assert "already holds files that no cimgen batch wrote" in _err(capsys, manifest, tmp_path / "user")
    # a batch resumes only with the generator it was made with
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / batch.BATCH_RECORD).write_text(json.dumps({"checkpoint": "/elsewhere", "palette": "", "direction": ""}))
    assert "is a batch made with checkpoint '/elsewhere'" in _err(capsys, manifest, tmp_path / "b")


def test_every_scene_failing_is_status_2_with_the_manifest_out_written(capsys, tiny_world, tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"image": "nope.png", "out": "s0", "edits": [{"op": "remove", "at": [1, 1]}]}) + "\n")
    msg = _err(capsys, manifest, tmp_path / "b")
    assert "no scene could be made; the first reason (line 1): image" in msg and "nope.png does not exist" in msg
    assert _rows(tmp_path / "b")[0]["status"] == "failed"


def test_options_the_library_refuses():
    with pytest.raises(CimgenError, match="--workers must be at least 1"):
        run_batch_manifest("m.csv", "o", checkpoint="c", workers=0, echo=None)


def test_an_engine_that_cannot_start_is_one_sentence_and_leaves_no_folder(capsys, tiny_world, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")  # the Ray tests above fail when it is missing; this one needs it importable

    def refuse(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    manifest = _manifest(tmp_path, tiny_world, 2)
    msg = _err(capsys, manifest, tmp_path / "b", "--workers", "2", "--address", "auto")
    assert "could not start or reach the Ray cluster at auto: Could not find any running Ray instance." in msg
    assert not (tmp_path / "b").exists()
