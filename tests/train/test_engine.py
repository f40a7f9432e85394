"""The training engine: schedules, data sharding, precision and memory format, TensorBoard, torch.compile and DDP with gloo."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cimgen.config import merge
from cimgen.errors import CimgenError
from cimgen.train.loop import LoopConfig, epoch_indices, learning_rate
from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
from cimgen.train.runtime import Runtime
from tests.conftest import tiny_train_config

REPO = Path(__file__).resolve().parents[2]


def _run(cfg_dict, out, **kw):
    return run_pix2pixhd(resolve_config(cfg_dict), out, echo=None, progress=False, **kw)


def test_schedules():
    lin = LoopConfig(epochs=2, decay_epochs=4)
    assert [learning_rate(1.0, e, lin) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    cos = LoopConfig(epochs=1, decay_epochs=2, schedule="cosine")
    assert [round(learning_rate(1.0, e, cos), 6) for e in range(3)] == [1.0, 1.0, 0.5]
    step = LoopConfig(schedule="step", step_every=2, step_gamma=0.5)
    assert [learning_rate(1.0, e, step) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert learning_rate(3.0, 99, LoopConfig(schedule="constant")) == 3.0


def test_bad_loop_options_fail_before_anything_is_written(tiny_world, tmp_path):
    for loop, words in (({"schedule": "exp"}, "loop.schedule"), ({"batch_size": 0}, "batch_size"), ({"precision": "fp8"}, "precision")):
        with pytest.raises(CimgenError, match=words):
            _run(merge(tiny_train_config(tiny_world), {"loop": loop}), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_fp16_runs_on_a_cpu_with_its_loss_scaler():
    """The refusal "fp16 needs a GPU" went (issue 28): torch.amp.GradScaler("cpu") scales the loss on a CPU."""
    rt = Runtime(torch.device("cpu"), precision="fp16")
    net = torch.nn.Linear(3, 1)
    with torch.no_grad():  # small values, so the scaled fp16 gradients stay finite and the step is taken
        net.weight.fill_(0.1)
        net.bias.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with rt.autocast():
        loss = net(torch.ones(2, 3)).float().pow(2).mean()
    rt.step(loss, opt)
    assert rt._scaler(opt).get_scale() == 65536.0 and set(rt.scaler_states({"o": opt})) == {"o"}
    assert torch.allclose(net.weight, torch.full((1, 3), 0.1 - 0.1 * 2 * 0.3), atol=1e-3)  # d(0.3^2)/dw = 0.6


def test_cudnn_benchmark_is_on_by_default_and_leaves_cpu_runs_alone(monkeypatch):
    from cimgen.train.loop import LoopConfig, make_runtime

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert LoopConfig().cudnn_benchmark is True  # junyanz's default for fixed-size inputs
    rt = make_runtime(LoopConfig(device="cpu"))
    assert rt.cudnn_benchmark is True and torch.backends.cudnn.benchmark is False  # a process-wide switch only GPU runs set
    assert make_runtime(LoopConfig(device="cpu", cudnn_benchmark=False)).cudnn_benchmark is False


def test_sharding_splits_each_global_batch_between_processes():
    single = epoch_indices(10, 4, seed=1, epoch=3, rank=0, world_size=1)
    r0 = epoch_indices(10, 2, seed=1, epoch=3, rank=0, world_size=2)
    r1 = epoch_indices(10, 2, seed=1, epoch=3, rank=1, world_size=2)
    assert len(single) == 8 and len(r0) == len(r1) == 4 and not set(r0) & set(r1)
    # Step s of the single process (4 items) is the union of both ranks' step s (2 items each).
    for s in range(2):
        assert single[4 * s : 4 * s + 4] == r0[2 * s : 2 * s + 2] + r1[2 * s : 2 * s + 2]
    assert epoch_indices(10, 4, seed=1, epoch=4, rank=0, world_size=1) != single


def test_bf16_and_channels_last_train_and_log_to_tensorboard(tiny_world, tmp_path):
    run = tmp_path / "bf16"
    _run(tiny_train_config(tiny_world, precision="bf16", channels_last=True), run)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for s in stats for v in s.values())
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert {"train/d_real", "train/g_gan", "train/lr"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("train/g_gan")] == [s["step"] for s in stats]
    assert acc.Tags()["images"] == ["samples"]


def _same_generator_outputs(run_a, run_b, world, atol=1e-3):
    """Both runs' generators render the world's maps alike.

    Weights are not compared: a bias right before an instance norm gets a gradient that is
    zero up to rounding, so Adam turns rounding differences into +-lr steps that change nothing.
    """
    from cimgen.generators import load_label_generator
    from cimgen.io.images import read_label_map

    ga, meta = load_label_generator(run_a)
    gb, _ = load_label_generator(run_b)
    labels = torch.from_numpy(read_label_map(sorted((world / "labels").iterdir())[0])).long()[None]
    x = torch.nn.functional.one_hot(labels[..., :48, :48], meta["label_nc"]).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        torch.testing.assert_close(ga(x), gb(x), rtol=0, atol=atol)


def test_channels_last_gives_the_same_training_as_contiguous(tiny_world, tmp_path):
    a = _run(tiny_train_config(tiny_world), tmp_path / "a")
    b = _run(tiny_train_config(tiny_world, channels_last=True), tmp_path / "b")
    _same_generator_outputs(a, b, tiny_world)


def test_tensorboard_can_be_turned_off(tiny_world, tmp_path):
    _run(tiny_train_config(tiny_world, tensorboard=False, epochs=1, decay_epochs=0), tmp_path / "r")
    assert not (tmp_path / "r" / "tensorboard").exists()


@pytest.mark.slow
def test_compiled_training_matches_eager(tiny_world, tmp_path):
    cfg = tiny_train_config(tiny_world, epochs=1, decay_epochs=0, tensorboard=False)
    a = _run(cfg, tmp_path / "eager")
    b = _run(merge(cfg, {"loop": {"compile": True}}), tmp_path / "compiled")
    _same_generator_outputs(a, b, tiny_world)


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_keeps_replicas_identical(tiny_world, tmp_path):
    """torchrun, 2 CPU processes x 1 image: replicas equal each other and a single process with 2 images per step."""
    options = tiny_train_config(tiny_world, batch_size=1, threads=1, tensorboard=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(REPO / "tests" / "train" / "ddp_worker.py"), str(tiny_world), str(tmp_path), json.dumps(options)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    saved = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0002" / "weights.safetensors"))
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "DDP: 2 processes, 1 item(s) each per step, 2 steps per epoch" in log
    # Gradients averaged over two 1-image processes are those of one 2-image batch (per-sample norms, mean losses).
    single = _run(merge(options, {"loop": {"batch_size": 2}}), tmp_path / "single")
    _same_generator_outputs(tmp_path / "run", single, tiny_world)


def _torchrun(script: str, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(REPO / "tests" / "train" / script)]
    done = subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_ddp_resume_restores_every_rank_random_state(tmp_path):
    """Two gloo processes, pix2pix with dropout and an image pool: 1 epoch + resume equals 2 epochs straight.

    Each rank draws its own dropout masks and keeps its own pool, so a resumed run must give every
    rank back its own random state and pool, not rank 0's.
    """
    from tests.train.test_pix2pix import unet, write_pairs

    root = tmp_path / "pairs"
    write_pairs(root / "train", 4, 128)
    base = unet(root, threads=1)
    _torchrun("ddp_resume_worker.py", str(tmp_path / "full"), json.dumps(base), "fresh")
    part = merge(base, {"loop": {"decay_epochs": 0}})
    _torchrun("ddp_resume_worker.py", str(tmp_path / "part"), json.dumps(part), "fresh")
    _torchrun("ddp_resume_worker.py", str(tmp_path / "part"), json.dumps(base), "resume")
    a = load_file(str(tmp_path / "full" / "checkpoints" / "epoch-0002" / "weights.safetensors"))
    b = load_file(str(tmp_path / "part" / "checkpoints" / "epoch-0002" / "weights.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_fused_adam_runs_and_resumes_exactly(tiny_world, tmp_path):
    """loop.fused_optimizer builds Adam with its fused kernel; N epochs straight equal N/2 + resume + N/2 with it too."""
    rt = Runtime(torch.device("cpu"), fused_optimizer=True)
    opt = rt.adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3, betas=(0.5, 0.999))
    assert opt.param_groups[0]["fused"] is True
    assert Runtime(torch.device("cpu")).adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3, betas=(0.5, 0.999)).param_groups[0][
        "fused"
    ] in (None, False)
    base = tiny_train_config(tiny_world, threads=1, tensorboard=False, fused_optimizer=True)
    full = run_pix2pixhd(resolve_config(base), tmp_path / "full", echo=None, progress=False)
    part = merge(base, {"loop": {"decay_epochs": 0}})
    run_pix2pixhd(resolve_config(part), tmp_path / "part", echo=None, progress=False)
    resumed = run_pix2pixhd(resolve_config(base), tmp_path / "part", resume=True, echo=None, progress=False)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cyclegan_ddp_with_two_gloo_processes_equals_one_process_with_the_whole_batch(tmp_path):
    """torchrun, 2 CPU processes x 1 image pair: the four networks' replicas end identical and equal a 2-image single process.

    G_A and G_B are called twice each before one backward (translation and cycle), D_A and D_B are called
    through DDP in D's step and without it inside G's loss. The image pools are off for the comparison:
    each process keeps its own pool, so with pools on the processes' fakes are not those of one batch.
    """
    import numpy as np

    from cimgen.io.images import write_image
    from cimgen.train.cyclegan import resolve_config as cyclegan_config
    from cimgen.train.cyclegan import run_cyclegan
    from tests.train.test_cyclegan import tiny

    root = tmp_path / "data"
    rng = np.random.default_rng(4)
    for domain, n in (("trainA", 4), ("trainB", 4)):
        for i in range(n):
            write_image(root / domain / f"{i}.png", rng.integers(0, 255, (36, 36, 3), dtype=np.uint8))
    options = merge(tiny(root, threads=1, decay_epochs=0, precision="fp32"), {"pool_size": 0})  # fp32 on every CPU
    _torchrun("ddp_worker.py", str(root), str(tmp_path), json.dumps(options), "cyclegan")
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert {k.split(".")[0] for k in r0} == {"G_A", "G_B", "D_A", "D_B"} and r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    saved = load_file(str(tmp_path / "run" / "checkpoints" / "epoch-0001" / "weights.safetensors"))
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    assert "DDP: 2 processes, 1 item(s) each per step, 2 steps per epoch" in (tmp_path / "run" / "log.txt").read_text()
    single = run_cyclegan(cyclegan_config(merge(options, {"loop": {"batch_size": 2}})), tmp_path / "single", echo=None, progress=False)
    one = load_file(str(single / "weights.safetensors"))
    start = _fresh_cyclegan_tensors(options)
    # Every network moved from its initial weights, and the two runs agree a thousand times closer than that.
    # Outputs, not weights, are compared: see _same_generator_outputs.
    x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    for name in ("G_A", "G_B", "D_A", "D_B"):
        ddp_out, single_out, start_out = (_cyclegan_net(options, name, t)(x) for t in (r0, one, start))
        moved = (ddp_out - start_out).abs().max().item()
        assert moved > 1e-3, name
        torch.testing.assert_close(ddp_out, single_out, rtol=0, atol=1e-4)  # measured: about 1e-6 apart, having moved 0.04-0.1


def _cyclegan_net(options: dict, name: str, tensors: dict) -> torch.nn.Module:
    """One of CycleGAN's four networks, built from ``options`` and loaded with ``tensors`` (in eval mode, no gradients)."""
    from cimgen.models.cyclegan import NetworkConfig, build_network
    from cimgen.train.cyclegan import resolve_config as cyclegan_config

    cfg = cyclegan_config(options)
    kind, spec = ("generator", cfg.generator) if name.startswith("G") else ("discriminator", cfg.discriminator)
    net = build_network(kind, NetworkConfig(name=spec.name, options=spec.options))
    net.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")})
    return net.eval().requires_grad_(False)


def _fresh_cyclegan_tensors(options: dict) -> dict:
    """The four networks' weights before any step, as the recipe initialises them."""
    from cimgen.train.cyclegan import CycleGANRecipe
    from cimgen.train.cyclegan import resolve_config as cyclegan_config

    cfg = cyclegan_config(options)
    recipe = CycleGANRecipe(cfg, Runtime(torch.device("cpu")))
    return {f"{n}.{k}": v.clone() for n, net in recipe.networks.items() for k, v in net.state_dict().items()}
