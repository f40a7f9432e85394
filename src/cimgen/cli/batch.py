"""``cimgen batch``: a forgery dataset from a manifest of scenes, in parallel on Ray (this machine or a cluster), resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cimgen.cli.bounds import COUNT

THREADS = {"min": 1, "max": 1024}
"""Torch threads of one worker."""
RETRIES = {"min": 0, "max": 100}


def batch_cmd(
    manifest: Annotated[Path, typer.Argument(help="Scenes, one a row: a .csv with a header or a .jsonl file (see docs/batch.md).")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="The generator every scene uses (as cimgen manipulate --checkpoint).")],
    out: Annotated[Path, typer.Option("--out", help="Batch folder: one sub-folder per scene and manifest_out.csv; run again to resume.")],
    workers: Annotated[
        int | None,
        typer.Option("--workers", **COUNT, help="Scenes at once (default: the engine's CPUs / --threads); 1 runs them in this process."),
    ] = None,
    threads: Annotated[int, typer.Option("--threads", **THREADS, help="Torch threads of each worker, also the CPUs each reserves.")] = 1,
    address: Annotated[
        str,
        typer.Option(
            "--address", help="A Ray cluster: auto (the one started on this machine), HOST:PORT or ray://HOST:10001; default: local."
        ),
    ] = "",
    retries: Annotated[
        int, typer.Option("--retries", **RETRIES, help="Reruns of a scene whose worker process died (crash, out of memory, lost node).")
    ] = 2,
    palette: Annotated[
        str, typer.Option("--palette", help="Classes of a CycleGAN/pix2pix generator: palette JSON or synth|cityscapes|buildings.")
    ] = "",
    direction: Annotated[
        str, typer.Option("--direction", help="CycleGAN/pix2pix --checkpoint: its map -> image direction (default BtoA).")
    ] = "",
    device: Annotated[
        str, typer.Option("--device", help="Where each worker runs the generator: cpu or cuda (one GPU per worker).")
    ] = "cpu",
    vector: Annotated[
        Path | None,
        typer.Option(
            "--vector", help="One vector layer for every scene (GeoTIFFs; each draws the features that reach it); needs --classes."
        ),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option("--classes", help="Class mapping (YAML) of --vector, and of every row with a vector column but no classes."),
    ] = None,
    vector_crs: Annotated[
        str,
        typer.Option("--vector-crs", help="CRS of the layers' coordinates (image, or e.g. EPSG:4326) for rows whose options give none."),
    ] = "",
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the first and last lines, not one per scene.")] = False,
) -> None:
    """Manipulate every scene of a manifest into OUT/<out>/, several at once, and write OUT/manifest_out.csv.

    Each row names an image, its map (or none: made from the image), an edit (spec file, inline edits
    or an edited map), an output name and options. Scenes already made are skipped, so running the same
    command again resumes a stopped batch; a scene that fails is recorded with its reason and the rest go on.

    Rows may draw their map from a vector layer (a vector and a classes column, or --classes for all);
    --vector with --classes gives one layer to every scene (see docs/batch.md).

    Example: cimgen batch scenes.csv --checkpoint runs/demo/finetune --out runs/forgeries --workers 2
    """
    from cimgen.runs.batch import run_batch_manifest

    run_batch_manifest(
        manifest,
        out,
        checkpoint=checkpoint,
        palette=palette,
        direction=direction,
        device=device,
        vector=vector or "",
        classes=classes or "",
        vector_crs=vector_crs,
        workers=workers,
        threads=threads,
        address=address,
        retries=retries,
        echo=typer.echo,
        progress=not quiet,
    )
