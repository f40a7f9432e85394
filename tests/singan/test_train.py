"""Training tiny pyramids: shapes, saving as data and reloading, reconstruction improving, exact resume, concurrency."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import torch

from cimgen.train.runtime import native_cpu_bf16

from cimgen.errors import CimgenError
from cimgen.singan.model import load_singan
from cimgen.singan.train import MODEL_DIR, PARTIAL_DIR, SAMPLES_DIR, train_singan
from tests.singan.conftest import tiny_config


def test_run_folder_and_shapes(tiny_run, tiny_image):
    out, model = tiny_run
    assert model.trained == model.num_scales == 3
    assert model.sizes[-1] == tiny_image.shape[:2]
    assert (out / MODEL_DIR / "weights.safetensors").is_file() and (out / MODEL_DIR / "config.json").is_file()
    assert not list((out / MODEL_DIR).glob("*.pt*")) or (out / MODEL_DIR / "train_state.pt").is_file()
    assert sorted(p.name for p in (out / SAMPLES_DIR).iterdir()) == [
        "random_0.png",
        "random_1.png",
        "random_2.png",
        "random_3.png",
        "real.png",
        "reconstruction.png",
    ]
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [x["scale"] for x in lines] == [0, 1, 2]
    # each scale's seconds as the saved model records them, rounded to milliseconds; a tiny scale takes well under a minute
    assert [x["seconds"] for x in lines] == load_singan(out)[0].meta["seconds"]
    assert all(isinstance(x["seconds"], float) and x["seconds"] == round(x["seconds"], 3) and 0 < x["seconds"] < 60 for x in lines)
    assert model.amps[0] == 1.0 and all(a > 0 for a in model.amps[1:])
    gen = torch.Generator().manual_seed(0)
    assert model.generate(generator=gen).shape == (1, 3, 40, 48)
    assert model.generate(height=30, width=80, generator=gen).shape == (1, 3, 30, 80)  # any size and aspect
    assert model.generate(start=2, generator=gen).shape == (1, 3, 40, 48)  # from a chosen scale
    assert model.generate(stop=1, generator=gen).shape == (1, 3, *model.sizes[1])


def test_saved_model_reloads_equal(tiny_run):
    out, model = tiny_run
    again, tensors = load_singan(out)
    assert again.sizes == model.sizes and again.amps == pytest.approx(model.amps)
    assert torch.equal(again.generate(mode="reconstruction"), model.generate(mode="reconstruction"))
    a = again.generate(generator=torch.Generator().manual_seed(5))
    b = model.generate(generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert any(k.startswith("D.") for k in tensors)  # the last discriminator is kept for resuming
    # Only safetensors and JSON are read: the weights file is plain data.
    assert (out / MODEL_DIR / "weights.safetensors").read_bytes()[:8] != b"\x80\x04\x95"


def test_reconstruction_gets_better_with_training(tmp_path, tiny_image):
    short = train_singan(tiny_image, tiny_config(num_scales=2, iters=1), tmp_path / "a", write_samples=False)
    long = train_singan(tiny_image, tiny_config(num_scales=2, iters=60), tmp_path / "b", write_samples=False)
    assert long.reconstruction_error()[-1] < 0.7 * short.reconstruction_error()[-1]


class Stop(Exception):
    pass


def test_resume_after_an_interrupted_scale_gives_the_same_weights(tmp_path, tiny_image):
    cfg = tiny_config(num_scales=3, iters=4)
    straight = train_singan(tiny_image, cfg, tmp_path / "straight", write_samples=False)

    def crash(n, it, iters, stats):
        if n == 2 and it == 2:
            raise Stop

    with pytest.raises(Stop):
        train_singan(tiny_image, cfg, tmp_path / "resumed", progress=crash, write_samples=False)
    assert load_singan(tmp_path / "resumed" / MODEL_DIR)[0].trained == 2  # the finished scales were kept
    resumed = train_singan(tiny_image, cfg, tmp_path / "resumed", resume=True, write_samples=False)
    for g1, g2 in zip(straight.generators, resumed.generators):
        for (k, v1), v2 in zip(g1.state_dict().items(), g2.state_dict().values()):
            assert torch.equal(v1, v2), k


@pytest.mark.parametrize("schedule", ["original", "fast"])
def test_resume_mid_scale_gives_the_same_weights(tmp_path, tiny_image, schedule):
    """A crash in the middle of a scale loses only the work since its last mid-scale checkpoint; the resumed run
    continues from that iteration (networks, optimizers, schedulers, random state) and ends on the same weights."""
    over = {"num_scales": 3, "iters": 6} if schedule == "original" else {"iters": 6, "train_depth": 2}
    cfg = tiny_config(schedule, **over)
    straight = train_singan(tiny_image, cfg, tmp_path / "straight", write_samples=False, checkpoint_every=0)
    seen = []

    def crash(n, it, iters, stats):
        seen.append((n, it))
        if n == 1 and it == 5:
            raise Stop

    out = tmp_path / "resumed"
    start = time.perf_counter()
    with pytest.raises(Stop):
        train_singan(tiny_image, cfg, out, progress=crash, write_samples=False, checkpoint_every=1e-9)
    elapsed = time.perf_counter() - start
    partial = json.loads((out / PARTIAL_DIR / "config.json").read_text())
    assert (partial["scale"], partial["iteration"]) == (1, 4)  # iteration 5 was lost
    # scale 1's seconds up to its checkpoint, rounded to milliseconds: some work, less than the whole interrupted run
    assert partial["seconds"] == round(partial["seconds"], 3) and 0 < partial["seconds"] < elapsed
    assert load_singan(out / MODEL_DIR)[0].trained == 1
    seen.clear()
    resumed = train_singan(tiny_image, cfg, out, resume=True, progress=crash_free(seen), write_samples=False)
    assert seen[0] == (1, 5)  # it went on from the checkpoint, not from the start of the scale
    assert not (out / PARTIAL_DIR).exists()  # removed once the scale was saved
    assert resumed.amps == pytest.approx(straight.amps)
    for n, (g1, g2) in enumerate(zip(straight.generators, resumed.generators)):
        for (k, v1), v2 in zip(g1.state_dict().items(), g2.state_dict().values()):
            assert torch.equal(v1, v2), f"G.{n}.{k}"
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [x["scale"] for x in lines] == list(range(resumed.num_scales))
    # Scale 1's time is the checkpointed seconds plus the resumed segment's, not the lost iteration's.
    assert resumed.meta["seconds"][1] >= partial["seconds"]


def crash_free(seen):
    return lambda n, it, iters, stats: seen.append((n, it))


def test_mid_scale_checkpoint_during_the_first_scale_and_stale_or_foreign_ones(tmp_path, tiny_image):
    cfg = tiny_config(num_scales=2, iters=4)
    straight = train_singan(tiny_image, cfg, tmp_path / "straight", write_samples=False)

    crash = _stop_at(0, 3)
    out = tmp_path / "first"
    with pytest.raises(Stop):
        train_singan(tiny_image, cfg, out, progress=crash, write_samples=False, checkpoint_every=1e-9)
    assert not (out / MODEL_DIR).exists() and (out / PARTIAL_DIR).is_dir()  # no scale finished: only the partial one
    with pytest.raises(CimgenError, match="not empty; pass --resume"):
        train_singan(tiny_image, cfg, out)
    with pytest.raises(CimgenError, match="other settings"):
        train_singan(tiny_image, tiny_config(num_scales=2, iters=5), out, resume=True)
    resumed = train_singan(tiny_image, cfg, out, resume=True, write_samples=False)
    for g1, g2 in zip(straight.generators, resumed.generators):
        assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    # A crash between saving a scale and removing its partial checkpoint leaves a stale one: it is ignored and removed.
    stale = tmp_path / "stale"
    with pytest.raises(Stop):
        train_singan(tiny_image, cfg, stale, progress=crash, write_samples=False, checkpoint_every=1e-9)
    shutil.copytree(stale / PARTIAL_DIR, tmp_path / "kept")
    with pytest.raises(Stop):  # scale 0 finishes (its partial checkpoint is removed), then a crash in scale 1
        train_singan(tiny_image, cfg, stale, resume=True, write_samples=False, progress=_stop_at(1, 1), checkpoint_every=0)
    assert load_singan(stale / MODEL_DIR)[0].trained == 1 and not (stale / PARTIAL_DIR).exists()
    shutil.rmtree(stale / PARTIAL_DIR, ignore_errors=True)
    shutil.copytree(tmp_path / "kept", stale / PARTIAL_DIR)
    again = train_singan(tiny_image, cfg, stale, resume=True, write_samples=False)
    assert not (stale / PARTIAL_DIR).exists()
    for g1, g2 in zip(straight.generators, again.generators):
        assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    # A damaged one is named, with what to do.
    with pytest.raises(Stop):
        train_singan(tiny_image, cfg, tmp_path / "bad", progress=crash, write_samples=False, checkpoint_every=1e-9)
    conf = tmp_path / "bad" / PARTIAL_DIR / "config.json"
    conf.write_text(conf.read_text().replace('"iteration"', '"iterations"'))
    with pytest.raises(CimgenError, match="damaged mid-scale checkpoint.*delete it"):
        train_singan(tiny_image, cfg, tmp_path / "bad", resume=True)


def _stop_at(scale: int, iteration: int):
    def stop(n, it, iters, stats):
        if (n, it) == (scale, iteration):
            raise Stop

    return stop


def test_resume_checks(tmp_path, tiny_image, tiny_run):
    out, _ = tiny_run
    with pytest.raises(CimgenError, match="not empty; pass --resume"):
        train_singan(tiny_image, tiny_config(num_scales=3), out)
    with pytest.raises(CimgenError, match="finished all 3 scales"):
        train_singan(tiny_image, tiny_config(num_scales=3), out, resume=True)
    with pytest.raises(CimgenError, match="another image"):
        train_singan(tiny_image[::-1].copy(), tiny_config(num_scales=3), out, resume=True)
    with pytest.raises(CimgenError, match="no SinGAN run to resume"):
        train_singan(tiny_image, tiny_config(num_scales=3), tmp_path / "none", resume=True)


@pytest.mark.parametrize("depth, older_change", [(1, False), (2, True)])
def test_concurrent_training_updates_the_older_scales(tmp_path, tiny_image, depth, older_change):
    snap = {}

    def keep(n, it, iters, stats):
        if n == 0 and it == iters:
            snap["g0"] = {k: v.clone() for k, v in model_ref[0].generators[0].state_dict().items()}

    model_ref = []
    import cimgen.singan.train as tr

    real_trainer = tr.ScaleTrainer

    class Spy(real_trainer):
        def __init__(self, model, *a, **k):
            model_ref[:] = [model]
            super().__init__(model, *a, **k)
            if model.trained == 2 and depth > 1:
                lrs = sorted(g["lr"] for g in self.optG.param_groups)
                assert lrs == pytest.approx([model.cfg.lr_g * model.cfg.lr_scale, model.cfg.lr_g])

    tr.ScaleTrainer = Spy
    try:
        cfg = tiny_config("fast", num_scales=2, iters=3, train_depth=depth, precision="fp32")
        model = train_singan(tiny_image, cfg, tmp_path / "run", progress=keep, write_samples=False)
    finally:
        tr.ScaleTrainer = real_trainer
    after = model.generators[0].state_dict()
    changed = any(not torch.equal(after[k], v) for k, v in snap["g0"].items() if "num_batches" not in k)
    assert changed == older_change


def test_reused_fake_with_several_generator_steps(tmp_path, tiny_image):
    cfg = tiny_config("fast", num_scales=2, iters=2, g_steps=3, precision="fp32")
    model = train_singan(tiny_image, cfg, tmp_path / "g3", write_samples=False)
    assert np.isfinite(model.reconstruction_error()).all()


def test_fast_schedule_trains_in_bf16(tmp_path, tiny_image):
    """The fast schedule asks for precision auto (issue 28): bf16 where the CPU computes it natively, else fp32;
    bf16 asked for explicitly still trains on any CPU."""
    model = train_singan(tiny_image, tiny_config("fast", num_scales=3, iters=2), tmp_path / "fast", write_samples=False)
    want = "bf16" if native_cpu_bf16() else "fp32"
    assert model.cfg.precision == "auto" and model.cfg.train_depth == 3 and model.meta["precision"]["used"] == want
    assert np.isfinite(model.reconstruction_error()).all()
    forced = train_singan(tiny_image, tiny_config("fast", num_scales=3, iters=2, precision="bf16"), tmp_path / "b", write_samples=False)
    assert forced.meta["precision"] == {"used": "bf16", "why": "asked for in the config"}
    assert np.isfinite(forced.reconstruction_error()).all()


def test_masked_training_leaves_the_mask_out_of_the_reconstruction(tmp_path, tiny_image):
    mask = np.zeros(tiny_image.shape[:2], bool)
    mask[10:20, 10:30] = True
    model = train_singan(tiny_image, tiny_config(num_scales=2, iters=2), tmp_path / "m", mask=mask, write_samples=False)
    _, tensors = load_singan(tmp_path / "m" / MODEL_DIR)
    assert model.meta["masked"] and torch.equal(tensors["mask"].bool(), torch.from_numpy(mask))
