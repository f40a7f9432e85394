"""One command that checks cimgen's GPU paths (every recipe in every precision, resume, DDP, the 8 GB preset's memory) and writes a Markdown report.

Usage:  .venv/bin/python benchmarks/gpu_check.py --out gpu_report.md                       # on the GPU: at most 8 minutes
        .venv/bin/python benchmarks/gpu_check.py --device cpu --quick --out cpu_report.md   # tiny versions of it all on a CPU

Checks, each reported with its result and seconds:

1. two training steps of each recipe (pix2pixHD, pix2pix, CycleGAN, a ResNet detector, SinGAN) in
   fp32, fp16 (autocast with the GradScaler), bf16 and fp32 + torch.compile; the losses must be finite and,
   in fp16, every optimiser must have its loss scaler;
2. resume exactness on the device: a pix2pix run (dropout, batch norm, an image pool) of 2 steps, saved
   and resumed for 2 more, against 4 steps straight, in fp32 and fp16, with deterministic algorithms;
3. a 2-process DDP run of the detector (NCCL on GPUs, gloo on a CPU): the replicas' weights must match;
4. the memory of two training steps of ``configs/pix2pixhd_1024x512_local_8gb.yaml`` on synthetic
   1024x512 frames, measured as ``cimgen train --memory`` measures it;
5. the fidelity benchmark's GPU preset (``benchmarks/fidelity.py --preset gpu``: the default fine-tuning recipe on
   the Map2Sat pair of ../shared/data; with ``--quick``, 2 steps on a 192-pixel corner of the pair).

A combination the library refuses (a ``CimgenError``) is reported as "refused: <its sentence>",
not a crash; anything else that goes wrong is "FAILED" and makes the exit status 1. ``--quick``
shrinks every network and image so the whole check runs on a CPU in well under a minute
(``tests/test_gpu_check.py`` runs it). Without ``--quick`` the recipes use their official
networks at moderate sizes; nothing is downloaded (the VGG19 of pix2pixHD's loss has random
weights, which cost the same time and memory as ImageNet's).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import yaml

from cimgen.errors import CimgenError
from cimgen.io.images import write_image
from cimgen.train.loop import LoopConfig, make_runtime
from cimgen.train.runtime import choose_precision

REPO = Path(__file__).resolve().parents[1]
PRESET_8GB = REPO / "configs" / "pix2pixhd_1024x512_local_8gb.yaml"
FIDELITY = REPO / "benchmarks" / "fidelity.py"
RECIPES = ("pix2pixHD", "pix2pix", "CycleGAN", "detector", "SinGAN")
SETTINGS = {
    "fp32": {"precision": "fp32"},
    "fp16 + GradScaler": {"precision": "fp16"},
    "bf16": {"precision": "bf16"},
    "torch.compile": {"precision": "fp32", "compile": True},
}
OK, REFUSED, FAILED, NOT_SUPPORTED, NOT_AVAILABLE, NOT_POSSIBLE = (
    "ok",
    "refused",
    "FAILED",
    "not supported",
    "not available",
    "not possible",
)


class Unavailable(Exception):
    """A check that cannot run here at all: the recipe lacks the option (not supported) or the machine cannot (not possible)."""

    def __init__(self, status: str, sentence: str):
        super().__init__(sentence)
        self.status = status


@dataclasses.dataclass
class Result:
    """One check's outcome: a status word, one sentence of detail, seconds taken."""

    section: str
    name: str
    status: str
    detail: str
    seconds: float

    def cell(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail else self.status


def attempt(section: str, name: str, check: Callable[[], str]) -> Result:
    """Run one check: ok with its detail, refused with the library's sentence, or FAILED with the error's first line."""
    t0 = time.perf_counter()
    try:
        status, detail = OK, check()
    except CimgenError as e:
        status, detail = REFUSED, str(e)
    except Unavailable as e:
        status, detail = e.status, str(e)
    except Exception as e:  # noqa: BLE001  (the report must carry on past any one broken check)
        first = (str(e).strip().splitlines() or [""])[0][:300]
        status, detail = FAILED, f"{type(e).__name__}: {first}"
    finally:
        seconds = time.perf_counter() - t0
    return Result(section, name, status, detail.replace("|", "\\|").replace("\n", " "), seconds)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------
# 1. A training step of each recipe in each precision


def _noise(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=g) * 2 - 1


def pix2pixhd_recipe(rt, quick: bool):
    from cimgen.losses.perceptual import PerceptualLoss
    from cimgen.models.vgg import VGG19
    from cimgen.palette import CITYSCAPES_PALETTE
    from cimgen.train.pix2pixhd import Pix2PixHDRecipe, resolve_config

    raw: dict = {"data": {"root": "unused", "label_nc": 35, "format": "cityscapes"}}
    if quick:
        raw["generator"] = {"base_channels": 4, "num_downsamplings": 2, "num_blocks": 1}
        raw["discriminator"] = {"base_channels": 4, "num_layers": 2, "num_discriminators": 2}
    h, w = (32, 32) if quick else (256, 512)
    vgg = None if quick else PerceptualLoss(VGG19().eval().requires_grad_(False))
    recipe = Pix2PixHDRecipe(resolve_config(raw), CITYSCAPES_PALETTE, rt, vgg=vgg)
    g = torch.Generator().manual_seed(0)
    batch = {"label": torch.randint(0, 35, (1, h, w), generator=g), "edge": (torch.rand(1, 1, h, w, generator=g) < 0.05).float()}
    batch["image"] = _noise(g, 1, 3, h, w)
    return recipe, batch


def junyanz_recipe(rt, quick: bool, which: str):
    from cimgen.train import cyclegan, pix2pix

    module, recipe_class = (cyclegan, cyclegan.CycleGANRecipe) if which == "cyclegan" else (pix2pix, pix2pix.Pix2PixRecipe)
    raw: dict = {"data": {"root": "unused"}}
    if quick:
        raw["generator"] = {"name": "resnet_6blocks", "options": {"base_channels": 4}}
        raw["discriminator"] = {"options": {"base_channels": 4}}
    size = 32 if quick else 256
    recipe = recipe_class(module.resolve_config(raw), rt)
    g = torch.Generator().manual_seed(0)
    return recipe, {"A": _noise(g, 1, 3, size, size), "B": _noise(g, 1, 3, size, size), "index": torch.tensor([0])}


def detector_recipe(rt, quick: bool):
    from cimgen.forensics.train import DetectorRecipe, resolve_config

    detector = {"arch": "resnet_small", "width": 4, "patch_size": 32} if quick else {"arch": "resnet50", "patch_size": 64}
    raw = {"data": "unused", "detector": detector, "mode": "bart+at", "attack": {"steps": 2}}
    recipe = DetectorRecipe(resolve_config(raw), rt, None)
    n, p = (4, 32) if quick else (64, 64)
    g = torch.Generator().manual_seed(0)
    return recipe, {"patch": torch.randint(0, 256, (n, 3, p, p), generator=g, dtype=torch.uint8), "label": (torch.arange(n) % 2).float()}


LOOP_RECIPES = {
    "pix2pixHD": pix2pixhd_recipe,
    "pix2pix": lambda rt, quick: junyanz_recipe(rt, quick, "pix2pix"),
    "CycleGAN": lambda rt, quick: junyanz_recipe(rt, quick, "cyclegan"),
    "detector": detector_recipe,
}


@contextlib.contextmanager
def graph_capture_only(active: bool) -> Iterator[None]:
    """With ``active``, ``torch.compile`` captures graphs (TorchDynamo) but generates no code (the ``eager`` backend).

    Inductor's code generation takes minutes per recipe on a small CPU; ``--quick`` still runs
    every network through the runtime's ``torch.compile`` path and TorchDynamo's tracing.
    """
    if not active:
        yield
        return
    original = torch.compile
    torch.compile = functools.partial(original, backend="eager")
    try:
        yield
    finally:
        torch.compile = original


def loop_recipe_steps(name: str, setting: dict, device: str, quick: bool) -> str:
    """Two training steps of a generic-loop recipe under ``setting``; a sentence on what was checked."""
    rt = make_runtime(LoopConfig(device=device, cudnn_benchmark=True, **setting))
    torch.manual_seed(0)
    losses: dict[str, float] = {}
    with graph_capture_only(quick and rt.compile):
        recipe, batch = LOOP_RECIPES[name](rt, quick)
        for _ in range(2):
            for phase in recipe.phases():
                losses.update(phase(batch))
    sync(rt.device)
    bad = sorted(k for k, v in losses.items() if not math.isfinite(v))
    if bad:
        raise RuntimeError(f"losses not finite after 2 steps: {', '.join(bad)}")
    detail = f"2 steps, {len(losses)} losses finite"
    if rt.compile:
        detail += "; TorchDynamo graphs only (eager backend, --quick)" if quick else "; compiled by Inductor"
    if rt.precision == "fp16":
        scalers = rt.scaler_states(recipe.optimizers)
        if set(scalers) != set(recipe.optimizers):
            raise RuntimeError(f"fp16 without a loss scaler for {sorted(set(recipe.optimizers) - set(scalers))}")
        scales = sorted({float(s["scale"]) for s in scalers.values()})
        detail += f"; loss scale {', '.join(f'{s:g}' for s in scales)}"
    return detail


def singan_steps(setting: dict, device: str, quick: bool, work: Path) -> str:
    """Two iterations per scale of SinGAN's fast schedule on a small image (SinGAN has its own trainer)."""
    from cimgen.singan.config import schedule_config
    from cimgen.singan.train import train_singan

    if setting.get("compile"):
        raise Unavailable(NOT_SUPPORTED, "SinGAN's trainer has no torch.compile option")
    overrides = {"iters": 2, "precision": setting["precision"], "seed": 0}
    overrides.update({"max_size": 32, "min_size": 16, "num_scales": 2, "nfc": 8, "max_nfc": 8} if quick else {"max_size": 128})
    cfg = schedule_config("fast", overrides)
    side = 32 if quick else 128
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = Path(tempfile.mkdtemp(dir=work))
    model = train_singan(image, cfg, out, device=device, write_samples=False, checkpoint_every=0)
    rmse = model.reconstruction_error()
    if not all(math.isfinite(v) for v in rmse):
        raise RuntimeError(f"reconstruction error not finite: {rmse}")
    return f"{model.num_scales} scales x 2 iterations in {model.meta['precision']['used']}; reconstruction finite"


def recipe_checks(device: str, quick: bool, work: Path) -> list[Result]:
    out = []
    for name in RECIPES:
        for label, setting in SETTINGS.items():
            if name == "SinGAN":
                result = attempt("steps", f"{name} | {label}", functools.partial(singan_steps, setting, device, quick, work))
            else:
                result = attempt("steps", f"{name} | {label}", functools.partial(loop_recipe_steps, name, setting, device, quick))
            print(f"  {name:10s} {label:18s} {result.cell()} ({result.seconds:.1f} s)", flush=True)
            out.append(result)
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
    return out


# ----------------------------------------------------------------------------------------------
# 2. Resume exactness on the device


def write_pairs(folder: Path, n: int, size: int) -> None:
    """pix2pix's AB images: a colour map on the left, a noisy photo of it on the right."""
    rng = np.random.default_rng(0)
    for i in range(n):
        labels = (np.add.outer(np.arange(size) // 8, np.arange(size) // (4 + i)) % 3).astype(np.uint8)
        colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], np.uint8)[labels]
        photo = np.clip(colours.astype(int) // 2 + rng.integers(0, 60, colours.shape), 0, 255).astype(np.uint8)
        write_image(folder / f"{i}.png", np.concatenate([colours, photo], 1))


def resume_check(precision: str, device: str, quick: bool, work: Path) -> str:
    """2 steps, a checkpoint, resume for 2 more; against 4 steps straight. Deterministic algorithms on, cuDNN benchmark off."""
    from safetensors.torch import load_file

    from cimgen.config import merge
    from cimgen.train.pix2pix import resolve_config, run_pix2pix

    root = Path(tempfile.mkdtemp(dir=work))
    size = 32 if quick else 128
    write_pairs(root / "data" / "train", 2, size + 4)
    generator = {"name": "resnet_6blocks", "options": {"base_channels": 4 if quick else 32}}
    raw = {
        "data": {"root": str(root / "data"), "load_size": size + 4, "crop_size": size},
        "generator": generator,  # pix2pix's defaults: batch norm and dropout
        "discriminator": {"options": {"base_channels": 4 if quick else 32}},
        "pool_size": 2,
        "loop": {"epochs": 2, "decay_epochs": 0, "batch_size": 1, "seed": 1, "checkpoint_every": 1, "sample_every": 1},
    }
    raw["loop"].update(device=device, precision=precision, tensorboard=False, cudnn_benchmark=False)

    def run(options: dict, out: Path, resume: bool = False) -> Path:
        return run_pix2pix(resolve_config(options), out, echo=None, progress=False, resume=resume)

    was = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        straight = run(raw, root / "straight")
        run(merge(raw, {"loop": {"epochs": 1}}), root / "split")
        resumed = run(raw, root / "split", resume=True)
    finally:
        torch.use_deterministic_algorithms(was)
    a, b = load_file(str(straight / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    if a.keys() != b.keys():
        raise RuntimeError("the resumed checkpoint holds other tensors than the straight one")
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    state = torch.load(resumed / "train_state.pt", weights_only=True)
    scalers = state.get("scalers") or state.get("scaler") or {}
    if worst:
        raise RuntimeError(f"resume is not exact: the weights differ by up to {worst:.3g}")
    note = f"; {len(scalers)} loss scaler state(s) saved" if precision == "fp16" else ""
    return f"4 steps straight == 2 + resume + 2, all {len(a)} tensors bit-identical{note}"


# ----------------------------------------------------------------------------------------------
# 3. DDP with two processes


def write_patch_dataset(out: Path, patch: int) -> Path:
    """A small patch dataset built from random 'pristine' and smoother 'generated' images."""
    from cimgen.forensics.patches import PatchDatasetConfig, build_patch_dataset, sources_from_folders

    rng = np.random.default_rng(0)
    for i in range(4):
        noisy = rng.integers(0, 256, (2 * patch, 2 * patch, 3), dtype=np.uint8)
        write_image(out / "pristine" / f"s{i}.png", noisy)
        write_image(out / "generated" / f"s{i}.png", (noisy // 4 + 96).astype(np.uint8))
    sources = sources_from_folders(out / "pristine", out / "generated")
    return build_patch_dataset(sources, out / "patches", PatchDatasetConfig(patch_size=patch, val_fraction=0.25, seed=0))


def ddp_worker(options_json: str, out: str) -> None:
    """Run under torchrun: a detector run, then each rank saves its replica (its batch norm synchronised on GPUs)."""
    from safetensors.torch import save_file

    from cimgen.forensics.train import DetectorRecipe, resolve_config, run_detector
    from cimgen.train.loop import tensors_of

    captured = {}
    original = DetectorRecipe.__init__

    def keep(self, *args, **kw):
        original(self, *args, **kw)
        captured["recipe"] = self

    DetectorRecipe.__init__ = keep
    run_detector(resolve_config(json.loads(options_json)), Path(out) / "run", echo=None, progress=False)
    import torch.distributed as dist

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors_of(captured["recipe"]).items()}
    save_file(tensors, str(Path(out) / f"rank{dist.get_rank()}.safetensors"))
    dist.destroy_process_group()


def ddp_check(device: str, quick: bool, work: Path) -> str:
    from safetensors.torch import load_file

    cuda = device.startswith("cuda")
    if cuda and torch.cuda.device_count() < 2:
        raise Unavailable(
            NOT_POSSIBLE,
            f"NCCL takes one GPU per process and this machine shows {torch.cuda.device_count()}; cimgen puts rank r on cuda:r",
        )
    root = Path(tempfile.mkdtemp(dir=work))
    patch = 32
    data = write_patch_dataset(root / "data", patch)
    options = {
        "data": str(data),
        "detector": {"arch": "resnet_small", "width": 4 if quick else 16, "patch_size": patch},
        "mode": "plain",
        "loop": {"epochs": 1, "batch_size": 4, "seed": 1, "tensorboard": False, "device": "cuda" if cuda else "cpu", "precision": "fp32"},
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__]
    cmd += ["--ddp-worker", json.dumps(options), str(root)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited with {done.returncode}: {(done.stderr.strip().splitlines() or [''])[-1]}")
    r0, r1 = load_file(str(root / "rank0.safetensors")), load_file(str(root / "rank1.safetensors"))
    statistics = {k for k in r0 if k.endswith(("running_mean", "running_var"))}
    params = [k for k in r0 if k not in statistics]
    differ = [k for k in params if not torch.equal(r0[k], r1[k])]
    if differ:
        raise RuntimeError(f"the replicas' weights differ ({len(differ)} tensors, first {differ[0]})")
    same_stats = all(torch.equal(r0[k], r1[k]) for k in statistics)
    if cuda and not same_stats:
        raise RuntimeError("the replicas' batch-norm statistics differ although SyncBatchNorm should share them")
    log = (root / "run" / "log.txt").read_text()
    backend = "NCCL" if cuda else "gloo"
    bn = "batch-norm statistics equal too (SyncBatchNorm)" if same_stats else "batch-norm statistics per process (no SyncBatchNorm on CPUs)"
    if "sync_batchnorm:" not in log:
        raise RuntimeError("the run's log does not say how batch norm ran under DDP")
    return f"2 processes over {backend}: {len(params)} weight tensors identical on both replicas; {bn}"


# ----------------------------------------------------------------------------------------------
# 4. The 8 GB preset's memory


def write_cityscapes_like(root: Path, height: int, width: int) -> None:
    """One pix2pixHD-layout pair (train_label, train_inst, train_img) of random Cityscapes ids and pixels."""
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 35, (height // 16, width // 16)), np.ones((16, 16), int)).astype(np.uint8)
    from PIL import Image

    for folder in ("train_label", "train_inst"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels).save(root / folder / "f0.png")
    write_image(root / "train_img" / "f0.png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def memory_check(device: str, quick: bool, work: Path) -> str:
    from cimgen.config import merge
    from cimgen.models.vgg import VGG19
    from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd

    raw = yaml.safe_load(PRESET_8GB.read_text())
    raw.pop("model", None)
    root = Path(tempfile.mkdtemp(dir=work))
    height, width = (64, 128) if quick else (512, 1024)
    write_cityscapes_like(root / "data", height, width)
    weights = root / "vgg19-random.pth"  # the loss's cost does not depend on its weights
    torch.save(VGG19().state_dict(), weights)
    changes: dict = {"data": {"root": str(root / "data")}, "loss": {"vgg_weights": str(weights)}, "loop": {"device": device}}
    if quick:  # the preset's layout (local enhancer, 3 D scales, VGG loss) with narrow networks, on a 128x64 frame cropped to 64x64
        changes["data"].update(load_width=width, crop_size=64)
        changes["local_enhancer"] = {"base_channels": 4, "num_blocks_global": 1, "num_blocks_local": 1}
        changes["discriminator"] = {"base_channels": 4}
    cfg = resolve_config(merge(raw, changes))
    loop = cfg.loop
    if loop.compile and device == "cpu":  # as `cimgen train --memory`: the CPU count follows eager operations
        loop = dataclasses.replace(loop, compile=False)
    cfg = dataclasses.replace(cfg, loop=loop)
    used, _ = choose_precision(cfg.loop.precision, torch.device(device))
    report = run_pix2pixhd(cfg, root / "unused", progress=False, measure_memory=True, echo=None)
    lines = report.lines()
    head = f"precision {cfg.loop.precision} ({used} here) on {height}x{width} frames"
    return "; ".join([head, *lines[:2], *(lines[3:4] if report.reserved is not None else [])])


# ----------------------------------------------------------------------------------------------
# 5. The fidelity benchmark's GPU preset


def fidelity_check(device: str, quick: bool, work: Path) -> str:
    """``benchmarks/fidelity.py``'s GPU preset on ``device``: its variant fine-tunes the shipped generator on the Map2Sat pair."""
    shared = Path(os.environ.get("CIMGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (shared / "pix2pix-tf-samples" / "docs" / "maps.jpg").is_file():
        raise Unavailable(NOT_AVAILABLE, f"the fidelity benchmark's Map2Sat pair is not in {shared} (it lives in ../shared/data)")
    sys.path.insert(0, str(FIDELITY.parent))
    try:
        import fidelity
    finally:
        sys.path.remove(str(FIDELITY.parent))
    labels, photo = fidelity.map2sat_pair(shared)
    preset = fidelity.GPU_PRESET
    steps, every = (2, 2) if quick else (preset["steps"], preset["every"])
    if quick:
        labels, photo = labels[:192, :192], np.ascontiguousarray(photo[:192, :192])
    r = fidelity.run_variant(preset["variants"], labels.astype(np.int32), photo, Path(tempfile.mkdtemp(dir=work)), steps, every, device)
    last = r["curve"][-1]
    return (
        f"{preset['variants']}, {steps} steps on {labels.shape[0]}x{labels.shape[1]} ({device}): {r['seconds']:.1f} s; "
        f"whole-image SSIM {last['ssim']:.3f}, checkerboard {last['checkerboard']:.3f}; edit SSIM outside the mask "
        f"{r['edit']['ssim_outside_mask']}"
    )


# ----------------------------------------------------------------------------------------------
# The report


def machine_lines(device: str) -> list[str]:
    from cimgen.train.runtime import cpu_summary

    caps = {}
    try:
        caps = dict(torch.cpu.get_capabilities())
    except (AttributeError, RuntimeError):
        pass
    sets = sorted(k for k, v in caps.items() if v is True)
    lines = [f"- device: {device}" + (f" ({torch.cuda.get_device_name(torch.device(device))})" if device.startswith("cuda") else "")]
    if device.startswith("cuda"):
        cap = torch.cuda.get_device_capability(torch.device(device))
        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        lines.append(f"- GPU: compute capability {cap[0]}.{cap[1]}, {total / 2**30:.1f} GiB, {torch.cuda.device_count()} visible")
        lines.append(
            f"- CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}"
        )
    lines += [
        f"- CPU: {cpu_summary()}",
        f"- CPU instruction sets (torch.cpu.get_capabilities()): {', '.join(sets) or 'not reported'}",
        f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.system()} {platform.machine()}",
    ]
    return lines


def write_report(path: Path, results: list[Result], device: str, quick: bool, seconds: float) -> None:
    failed = [r for r in results if r.status == FAILED]
    text = ["# cimgen GPU check", ""]
    size = "tiny networks and images" if quick else "official networks at moderate sizes"
    verdict = "no check failed" if not failed else f"{len(failed)} check(s) FAILED"
    command = f"python benchmarks/gpu_check.py --device {device}{' --quick' if quick else ''} --out {path.name}"
    text.append(f"Command: `{command}` ({size}; {seconds:.0f} s in all; {verdict}).")
    text += ["", "## Machine", "", *machine_lines(device), ""]
    text += ["## Training steps", "", "| recipe | precision | result | seconds |", "|---|---|---|---:|"]
    for r in results:
        if r.section == "steps":
            recipe, setting = r.name.split(" | ")
            text.append(f"| {recipe} | {setting} | {r.cell()} | {r.seconds:.1f} |")
    for section, title in (
        ("resume", "Resume exactness"),
        ("ddp", "DDP"),
        ("memory", "Memory of the 8 GB preset"),
        ("fidelity", "Fidelity benchmark"),
    ):
        text += ["", f"## {title}", "", "| check | result | seconds |", "|---|---|---:|"]
        for r in results:
            if r.section == section:
                text.append(f"| {r.name} | {r.cell()} | {r.seconds:.1f} |")
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def run_all(device: str, quick: bool, out: Path) -> int:
    t0 = time.perf_counter()
    if quick:  # tiny tensors gain nothing from threads, and on a busy CPU threads wait on each other (a step: 5 s -> 0.3 s)
        torch.set_num_threads(1)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cimgen-gpu-check-") as tmp:
        work = Path(tmp)
        print(f"training steps on {device}:", flush=True)
        results += recipe_checks(device, quick, work)
        for precision in ("fp32", "fp16"):
            results.append(attempt("resume", f"pix2pix {precision}", functools.partial(resume_check, precision, device, quick, work)))
            print(f"  resume {precision}: {results[-1].cell()}", flush=True)
        # On a GPU machine gloo on the CPU runs too, so DDP is checked even where NCCL cannot have two processes.
        for ddp_device in [device, "cpu"] if device.startswith("cuda") else ["cpu"]:
            name = "detector, 2 processes" + (" (NCCL)" if ddp_device.startswith("cuda") else " (gloo)")
            results.append(attempt("ddp", name, functools.partial(ddp_check, ddp_device, quick, work)))
            print(f"  DDP: {results[-1].cell()}", flush=True)
        results.append(attempt("memory", PRESET_8GB.name, functools.partial(memory_check, device, quick, work)))
        print(f"  memory: {results[-1].cell()}", flush=True)
        results.append(attempt("fidelity", "GPU preset", functools.partial(fidelity_check, device, quick, work)))
        print(f"  fidelity: {results[-1].cell()}", flush=True)
    write_report(out, results, device, quick, time.perf_counter() - t0)
    print(f"report: {out}", flush=True)
    return 1 if any(r.status == FAILED for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny networks and images: every check in well under a minute on a CPU")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.md"), help="the Markdown report to write")
    parser.add_argument("--ddp-worker", nargs=2, metavar=("OPTIONS", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_worker:
        ddp_worker(*args.ddp_worker)
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: error: --device {args.device} was asked for but CUDA is not available; use --device cpu", file=sys.stderr)
        return 2
    if args.device != "cpu" and not args.device.startswith("cuda"):
        print(f"gpu_check: error: --device must be cuda, cuda:N or cpu, got '{args.device}'", file=sys.stderr)
        return 2
    return run_all(args.device, args.quick, args.out)


if __name__ == "__main__":
    sys.exit(main())
