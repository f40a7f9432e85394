"""``cimgen app``: the local web editor."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.cli.bounds import device_option
from cimgen.errors import CimgenError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def app_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; the default serves this machine only."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to serve on."),
    workdir: Path = typer.Option(Path("runs/app"), "--workdir", help="Folder for runs, saved edit specs and study answers."),
    checkpoint: list[Path] = typer.Option(
        [], "--checkpoint", help="A generator checkpoint to offer (repeatable); the bundled one is always offered."
    ),
    detector: list[Path] = typer.Option(
        [], "--detector", help="A detector checkpoint for heatmaps (repeatable); two classical baselines are always offered."
    ),
    study: list[Path] = typer.Option(
        [], "--study", help="A 'spot the fake' folder: pristine/ + manipulated/ (or a 'cimgen detect forgeries' set); repeatable."
    ),
    palette: str = typer.Option(
        "", "--palette", help="Classes of CycleGAN/pix2pix generators: palette JSON or synth|cityscapes|buildings."
    ),
    direction: str = typer.Option("", "--direction", help="map -> image direction of CycleGAN/pix2pix generators (default BtoA)."),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", min=0.01, max=100_000.0, help="Largest upload accepted, in MB."),
    max_side: int = typer.Option(4096, "--max-side", min=16, max=65536, help="Longest image side accepted, in pixels."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, max=64, help="Runs computed at once; more requests wait in the queue."),
    device: str = typer.Option("cpu", "--device", callback=device_option, help="Where generators and detectors run: cpu or cuda."),
) -> None:
    """Start the web editor: paint a semantic map, run the manipulation, see a detector's heatmap, or run a "spot the fake" study.

    It serves on 127.0.0.1 (this machine only) unless --host says otherwise. Every run is saved
    with its edit spec, which `cimgen manipulate --spec` replays.

    Example: cimgen app --checkpoint runs/demo/finetune --detector runs/detector/best --study runs/forgeries
    """
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise CimgenError("the web editor needs gradio; install it with: pip install 'cimgen[app]'") from None
    from cimgen.app.session import Limits
    from cimgen.app.ui import AppConfig, launch
    from cimgen.io.checkpoints import load_checkpoint
    from cimgen.models.limits import check_checkpoint_config

    if not 0 < port < 65536:
        raise CimgenError(f"--port must be between 1 and 65535, got {port}")
    if max_upload_mb <= 0 or max_side < 16 or concurrency < 1:
        raise CimgenError("--max-upload-mb must be positive, --max-side at least 16 and --concurrency at least 1")
    for c in [*checkpoint, *detector]:
        check_checkpoint_config(load_checkpoint(c)[0], str(c))  # a missing or damaged checkpoint fails now, with its own sentence
    for s in study:
        from cimgen.forensics.study import study_items

        study_items(s)
    if host not in LOCAL_HOSTS:
        typer.echo(f"warning: serving on {host}: anyone who can reach this address can use the editor and run models", err=True)
    cfg = AppConfig(
        workdir=str(workdir),
        checkpoints=tuple(str(c) for c in checkpoint),
        detectors=tuple(str(d) for d in detector),
        studies=tuple(str(s) for s in study),
        palette=palette,
        direction=direction,
        limits=Limits(max_upload_mb=max_upload_mb, max_side=max_side),
        device=device,
        concurrency=concurrency,
    )
    launch(cfg, host=host, port=port, echo=typer.echo)
