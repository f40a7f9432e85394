"""One training iteration (D and G update) of each recipe at 256x256, plain fp32 eager against cimgen's faster settings.

Usage:  .venv/bin/python benchmarks/train_step.py [--size 256] [--steps 3] [--models all] [--device cpu|cuda]
        .venv/bin/python benchmarks/train_step.py --memory [--device cuda]   # peak memory of the 1024x512 local-enhancer step

Every model has its official size: pix2pixHD global (ngf 64, 4 downsamplings, 9 blocks, 36
input channels = 35 Cityscapes classes + instance edges, 2 D scales, VGG loss), the 1024p local
enhancer (ngf 32, 3 D scales, VGG loss), CycleGAN resnet_9blocks (two G, two PatchGAN D) and
pix2pix unet_256 (PatchGAN D). The VGG19 in the loss has random weights: its cost does not
depend on the values, and no weights are downloaded. Each setting builds its recipe afresh,
runs warm-up iterations (two, or four with torch.compile, whose first steps compile), then
times ``--steps`` iterations; the median is reported. Batch size 1, as the official recipes.
Prints a Markdown table; paste it into docs/benchmarks.md with the command.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from cimgen.palette import CITYSCAPES_PALETTE
from cimgen.train.runtime import Runtime, cpu_summary

SETTINGS = {
    "fp32 eager (plain)": dict(precision="fp32"),
    "fp32 channels_last": dict(precision="fp32", channels_last=True),
    "bf16": dict(precision="bf16"),
    "bf16 channels_last": dict(precision="bf16", channels_last=True),
    "bf16 + torch.compile": dict(precision="bf16", compile=True),
    "bf16 channels_last + torch.compile": dict(precision="bf16", channels_last=True, compile=True),
    "bf16 + fused Adam": dict(precision="bf16", fused_optimizer=True),
    "bf16 channels_last + fused Adam": dict(precision="bf16", channels_last=True, fused_optimizer=True),
    "bf16 + torch.compile + fused Adam": dict(precision="bf16", compile=True, fused_optimizer=True),
}
GPU_SETTINGS = {  # every faster setting also lets cuDNN pick its fastest algorithms (loop.cudnn_benchmark)
    "fp32 eager (plain)": dict(precision="fp32"),
    "fp32 + cuDNN benchmark": dict(precision="fp32", cudnn_benchmark=True),
    "fp16 channels_last": dict(precision="fp16", channels_last=True, cudnn_benchmark=True),
    "bf16 channels_last": dict(precision="bf16", channels_last=True, cudnn_benchmark=True),
    "fp16 channels_last + torch.compile": dict(precision="fp16", channels_last=True, compile=True, cudnn_benchmark=True),
    "fp16 channels_last + fused Adam": dict(precision="fp16", channels_last=True, fused_optimizer=True, cudnn_benchmark=True),
    "fp16 channels_last + torch.compile + fused Adam": dict(
        precision="fp16", channels_last=True, compile=True, fused_optimizer=True, cudnn_benchmark=True
    ),
}


def pix2pixhd_recipe(runtime: Runtime, size: tuple[int, int], local: bool):
    from cimgen.losses.perceptual import PerceptualLoss
    from cimgen.models.vgg import VGG19
    from cimgen.train.pix2pixhd import Pix2PixHDRecipe, resolve_config

    raw = {
        "data": {"root": "unused", "label_nc": 35, "format": "cityscapes"},
        "generator_type": "local" if local else "global",
        "discriminator": {"num_discriminators": 3 if local else 2},
    }
    cfg = resolve_config(raw)
    recipe = Pix2PixHDRecipe(cfg, CITYSCAPES_PALETTE, runtime, vgg=PerceptualLoss(VGG19().eval().requires_grad_(False)))
    g = torch.Generator().manual_seed(0)
    h, w = size
    batch = {"label": torch.randint(0, 35, (1, h, w), generator=g), "edge": (torch.rand(1, 1, h, w, generator=g) < 0.05).float()}
    batch["image"] = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    return recipe, batch


def junyanz_recipe(runtime: Runtime, size: tuple[int, int], module: str, recipe_class: str):
    """A CycleGAN or pix2pix recipe with its default (official) networks, and an (A, B) batch."""
    import importlib

    recipe_module = importlib.import_module(f"cimgen.train.{module}")
    cfg = recipe_module.resolve_config({"data": {"root": "unused"}})
    recipe = getattr(recipe_module, recipe_class)(cfg, runtime)
    g = torch.Generator().manual_seed(0)
    return recipe, {
        "A": torch.rand(1, 3, *size, generator=g) * 2 - 1,
        "B": torch.rand(1, 3, *size, generator=g) * 2 - 1,
        "index": torch.tensor([0]),
    }


MODELS = {
    "pix2pixHD global": lambda rt, s: pix2pixhd_recipe(rt, s, local=False),
    "pix2pixHD local enhancer": lambda rt, s: pix2pixhd_recipe(rt, s, local=True),
    "CycleGAN resnet_9blocks": lambda rt, s: junyanz_recipe(rt, s, "cyclegan", "CycleGANRecipe"),
    "pix2pix unet_256": lambda rt, s: junyanz_recipe(rt, s, "pix2pix", "Pix2PixRecipe"),
}


def step_seconds(make, device: torch.device, size: tuple[int, int], setting: dict, steps: int) -> float:
    torch.manual_seed(0)
    recipe, batch = make(Runtime(device, **setting), size)
    phases = recipe.phases()

    def one() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for phase in phases:
            phase(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    for _ in range(4 if setting.get("compile") else 2):
        one()
    times = [one() for _ in range(steps)]
    del recipe
    gc.collect()
    return statistics.median(times)


def speed_table(args) -> None:
    device = torch.device(args.device)
    settings = GPU_SETTINGS if device.type == "cuda" else SETTINGS
    if args.settings:
        wanted = [w.strip() for w in args.settings.split(",")]
        settings = {k: v for k, v in settings.items() if k == "fp32 eager (plain)" or k in wanted}
    models = list(MODELS) if args.models == "all" else [m for m in MODELS if m.startswith(tuple(args.models.split(",")))]
    size = (args.size, args.size)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, device {device}; {cpu_summary()}", flush=True)
    print(f"one iteration (D and G updates) at {args.size}x{args.size}, batch 1, median of {args.steps} steps\n", flush=True)
    header = "| model | " + " | ".join(settings) + " | fastest vs plain |"
    rows = []
    for name in models:
        secs = {}
        for label, setting in settings.items():
            secs[label] = step_seconds(MODELS[name], device, size, setting, args.steps)
            print(f"  {name:28s} {label:36s} {secs[label]:.3f} s", flush=True)
        plain = secs["fp32 eager (plain)"]
        best = min(secs, key=secs.get)
        cells = " | ".join(f"{v:.2f} s" for v in secs.values())
        rows.append(f"| {name} | {cells} | {plain / secs[best]:.2f}x ({best}) |")
    print("\n" + header)
    print("|---|" + "---:|" * (len(settings) + 1))
    print("\n".join(rows))


MEMORY_SETTINGS = {
    "fp32 (plain)": dict(precision="fp32"),
    "bf16 + fused Adam, channels_last (the 8 GB preset)": dict(precision="bf16", fused_optimizer=True, channels_last=True),
}
GPU_MEMORY_SETTINGS = {
    **MEMORY_SETTINGS,
    "fp16 + fused Adam, channels_last": dict(precision="fp16", fused_optimizer=True, channels_last=True),
}


def memory_child(setting: str, height: int, width: int, device: str) -> None:
    """Build the 1024p local-enhancer recipe, run two training steps at height x width and print its memory (GiB).

    Prints: tensors after building, the steps' peak (``cimgen.train.memory.steps_peak``: live
    tensors on the CPU, ``max_memory_allocated`` on a GPU), and a third figure: on the CPU the
    process's peak resident memory above its start (``ru_maxrss``), on a GPU what the caching
    allocator reserved at most; on a GPU, a fourth, the card's memory in use at the end (CUDA
    context included).
    """
    from cimgen.train.memory import recipe_tensors, steps_peak

    dev = torch.device(device)
    rt = Runtime(dev, **GPU_MEMORY_SETTINGS[setting])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    recipe, batch = pix2pixhd_recipe(rt, (height, width), local=True)
    batch = {k: v.to(dev) for k, v in batch.items()}
    built = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in recipe_tensors(recipe)}.values())
    peak, reserved = steps_peak(recipe, batch, 2)  # the second step has Adam's moment buffers allocated
    if dev.type == "cuda":
        free, total = torch.cuda.mem_get_info(dev)
        extra = f"{reserved / 2**30:.2f} {(total - free) / 2**30:.2f}"
    else:
        extra = f"{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 2**20:.2f}"
    print(f"{built / 2**30:.2f} {peak / 2**30:.2f} {extra}")


def memory_table(args) -> None:
    """Each setting in a fresh process, so the peaks do not mix (ru_maxrss only grows)."""
    cuda = args.device.startswith("cuda")
    sizes = [(args.height, args.width)] if args.height != 512 or args.width != 1024 else [(512, 1024), (512, 512)]
    print(f"torch {torch.__version__}, device {args.device}, {cpu_summary()}; the 1024p local enhancer, 3 D scales, VGG19 loss, batch 1, two steps\n")
    if cuda:
        print(
            "| input | setting | after building, GiB | peak allocated (CUDA), GiB | peak reserved (CUDA), GiB | card memory in use, GiB |"
        )
        print("|---|---|---:|---:|---:|---:|")
    else:
        print("| input | setting | after building, GiB | peak of live tensors, GiB | peak resident memory above start, GiB |")
        print("|---|---|---:|---:|---:|")
    for height, width in sizes:
        for setting in GPU_MEMORY_SETTINGS if cuda else MEMORY_SETTINGS:
            argv = [
                sys.executable,
                __file__,
                "--memory-child",
                setting,
                "--height",
                str(height),
                "--width",
                str(width),
                "--device",
                args.device,
            ]
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
            print(f"| {width}x{height} | {setting} | " + " | ".join(out) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--models", default="all", help="all, or comma-separated name prefixes (e.g. 'pix2pixHD global,CycleGAN')")
    ap.add_argument("--settings", default="", help="comma-separated setting names to time besides the plain one (default: all)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--memory", action="store_true", help="measure the 1024x512 local-enhancer step's peak memory instead")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=1024)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.height, args.width, args.device)
    elif args.memory:
        memory_table(args)
    else:
        speed_table(args)


if __name__ == "__main__":
    main()
