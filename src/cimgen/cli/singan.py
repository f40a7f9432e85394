"""``cimgen singan``: train a SinGAN on one image, draw samples, inpaint with a reference, edit and harmonize."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.cli.bounds import LEVEL, SCALE, SEED, SIDE, device_option
from cimgen.singan.config import DEFAULT_SCHEDULE, ranges_text

app = typer.Typer(
    help="SinGAN: train a pyramid of GANs on one image; random samples; reference-guided inpainting, editing and harmonization."
    "\n\nExample: cimgen singan train balloons.png --out runs/balloons",
    no_args_is_help=True,
    rich_markup_mode=None,
)
SET_HELP = (
    "Override one setting, e.g. --set iters=500 or --set max_size=128 (repeatable). Allowed ranges: "
    f"{ranges_text()} (the learning rates, lr_scale, alpha, milestone and scale_factor above 0)."
)


def _bar(quiet: bool, iters: int):
    from tqdm.auto import tqdm

    state = {"bar": None, "scale": -1}

    def progress(n: int, it: int, total: int, stats: dict) -> None:
        if quiet:
            return
        if state["scale"] != n:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=total, desc=f"scale {n}", unit="it", leave=True)
            state["scale"] = n
        bar = state["bar"]
        bar.update(it - bar.n)
        if it % 25 == 0 or it == total:
            bar.set_postfix(rec=f"{stats.get('rec', 0):.4f}", d=f"{stats.get('d_real', 0) - stats.get('d_fake', 0):.3f}")
        if it == total:
            bar.close()
            state["bar"] = None

    return progress


def _say_fill(out: Path, record: dict) -> None:
    scores = record.get("scores")
    if scores:
        typer.echo(f"SSIM {scores['ssim']:.4f} (in the region {scores['ssim_filled']:.4f}), ASVS {scores['asvs']:.4f}")
    typer.echo(f"result: {out / 'result.png'}  record: {out / 'fill.json'}")


@app.command("train")
def train_cmd(
    image: Path = typer.Argument(..., help="The training image (any size; it is scaled down to max_size)."),
    out: Path = typer.Option(..., "--out", help="Run folder to create: model/ (safetensors + config.json), samples/, log.jsonl."),
    schedule: str = typer.Option(
        DEFAULT_SCHEDULE, "--schedule", help="fast (ConSinGAN-style, the default) or original (SinGAN's own settings)."
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help=SET_HELP,
    ),
    mask: Path = typer.Option(None, "--mask", help="Damaged region to leave out of the reconstruction loss (inpainting)."),
    threshold: int = typer.Option(
        None, "--threshold", **LEVEL, help="Or find the damaged region as pixels whose RGB all reach this level."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out at the first scale it has not finished, from its last mid-scale checkpoint."
    ),
    checkpoint_minutes: float = typer.Option(
        10.0, "--checkpoint-minutes", min=0.0, max=100_000.0, help="Minutes between mid-scale checkpoints (0: only after each scale)."
    ),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu, cuda or cuda:N."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the settings and the pyramid, and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train a SinGAN on one image, coarse to fine; the model is saved after every scale, and the scale in progress every few minutes.

    Example: cimgen singan train balloons.png --out runs/balloons
    """
    import yaml

    from cimgen.config import to_dict
    from cimgen.runs.singan import plan_training, run_training
    from cimgen.singan.train import MODEL_DIR, SAMPLES_DIR

    plan = plan_training(image, schedule=schedule, sets=sets, mask=mask, threshold=threshold)
    if dry_run:
        typer.echo(yaml.safe_dump(to_dict(plan.cfg), sort_keys=False).rstrip())
        typer.echo(f"pyramid ({len(plan.sizes)} scales, height x width): " + ", ".join(f"{h}x{w}" for h, w in plan.sizes))
        typer.echo(plan.precision_note(device))
        return
    model = run_training(
        plan,
        out,
        resume=resume,
        checkpoint_minutes=checkpoint_minutes,
        device=device,
        progress=_bar(quiet, plan.cfg.iters),
        echo=None if quiet else typer.echo,
    )
    typer.echo(
        f"trained {model.trained} scales in {sum(model.meta['seconds']):.0f} s; reconstruction RMSE {model.reconstruction_error()[-1]:.4f}"
    )
    typer.echo(f"model: {out / MODEL_DIR}  samples: {out / SAMPLES_DIR}  log: {out / 'log.jsonl'}")


@app.command("sample")
def sample_cmd(
    model_path: Path = typer.Argument(..., help="A SinGAN run folder or its model/ folder."),
    out: Path = typer.Option(..., "--out", help="Folder to create with sample_000.png, ..."),
    count: int = typer.Option(8, "--count", min=1, max=10_000, help="Number of samples."),
    height: int = typer.Option(None, "--height", **SIDE, help="Output height in pixels (default: the training size)."),
    width: int = typer.Option(None, "--width", **SIDE, help="Output width in pixels (default: the training size)."),
    start_scale: int = typer.Option(
        0, "--start-scale", **SCALE, help="First scale drawn with new noise; the coarser ones follow the reconstruction."
    ),
    seed: int = typer.Option(0, "--seed", **SEED, help="Random seed."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Draw random samples, at the training size or any other size and aspect ratio, from any start scale.

    Example: cimgen singan sample runs/balloons --count 4 --height 120 --width 320 --out runs/balloons-wide
    """
    from cimgen.runs.singan import run_sample

    h, w = run_sample(model_path, out, count=count, height=height, width=width, start_scale=start_scale, seed=seed, device=device)
    typer.echo(f"{count} samples of {w}x{h} from scale {start_scale}: {out}")


@app.command("inpaint")
def inpaint_cmd(
    image: Path = typer.Argument(..., help="The damaged image."),
    out: Path = typer.Option(..., "--out", help="Folder to create: result.png, region.png, generated.png, fill.json."),
    mask: Path = typer.Option(None, "--mask", help="The damaged region (non-zero pixels)."),
    threshold: int = typer.Option(
        None, "--threshold", **LEVEL, help="Or find it as the pixels whose RGB all reach this level (240 suits white subtitles)."
    ),
    min_area: int = typer.Option(
        0, "--min-area", min=0, max=1 << 30, help="With --threshold: ignore white regions smaller than this many pixels."
    ),
    method: str = typer.Option("singan", "--method", help="singan, telea or ns (OpenCV's fast marching or Navier-Stokes)."),
    model_path: Path = typer.Option(None, "--model", help="SinGAN run trained on the damaged image (method singan)."),
    reference: Path = typer.Option(None, "--reference", help="Clean image of the same view, e.g. an adjacent frame (method singan)."),
    scale: int = typer.Option(None, "--scale", **SCALE, help="Scale to inject the reference at (default: two below the finest)."),
    dilation: int = typer.Option(
        3, "--dilation", min=0, max=1000, help="Pixels the region grows by; SinGAN's output is feathered over them."
    ),
    noise: str = typer.Option(
        "reconstruction", "--noise", help="reconstruction (no new noise above the injection scale) or random (SinGAN's editing)."
    ),
    clean: Path = typer.Option(None, "--clean", help="The undamaged image, to score SSIM and ASVS against."),
    seed: int = typer.Option(0, "--seed", **SEED, help="Random seed of the noise."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Fill the damaged region: SinGAN with an injected reference, or OpenCV; pixels outside the dilated region are unchanged.

    Example: cimgen singan inpaint damaged.png --mask mask.png --model runs/damaged --reference frame_02.png --out runs/fill
    """
    from cimgen.runs.singan import run_inpaint

    record = run_inpaint(
        image,
        out,
        mask=mask,
        threshold=threshold,
        min_area=min_area,
        method=method,
        model_path=model_path,
        reference=reference,
        scale=scale,
        dilation=dilation,
        noise=noise,
        clean=clean,
        seed=seed,
        device=device,
    )
    _say_fill(out, record)


@app.command("edit")
def edit_cmd(
    model_path: Path = typer.Argument(..., help="SinGAN run trained on the background image."),
    naive: Path = typer.Argument(..., help="The background with a naive paste or edit."),
    mask: Path = typer.Option(..., "--mask", help="The pasted or edited region (non-zero pixels)."),
    out: Path = typer.Option(..., "--out", help="Folder to create: result.png, region.png, generated.png, fill.json."),
    kind: str = typer.Option("edit", "--kind", help="edit (mask dilated by 20 px, as SinGAN) or harmonize (7 px)."),
    scale: int = typer.Option(None, "--scale", **SCALE, help="Scale to inject the naive image at (default: two below the finest)."),
    dilation: int = typer.Option(None, "--dilation", min=0, max=1000, help="Override the kind's dilation in pixels."),
    noise: str = typer.Option("random", "--noise", help="random, or reconstruction."),
    seed: int = typer.Option(0, "--seed", **SEED, help="Random seed of the noise."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu, cuda or cuda:N."),
) -> None:
    """SinGAN editing and harmonization: inject the naive image at a scale, blend the output into the dilated, feathered mask.

    Example: cimgen singan edit runs/background naive_paste.png --mask paste_mask.png --kind harmonize --out runs/harmonized
    """
    from cimgen.runs.singan import run_edit

    record = run_edit(model_path, naive, out, mask=mask, kind=kind, scale=scale, dilation=dilation, noise=noise, seed=seed, device=device)
    _say_fill(out, record)
