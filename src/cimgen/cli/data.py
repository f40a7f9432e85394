"""``cimgen data``: dataset tools."""

from __future__ import annotations

from pathlib import Path

import typer
from tqdm.auto import tqdm

from cimgen.cli.bounds import COUNT, SEED
from cimgen.data.synth import SynthConfig, write_world

app = typer.Typer(
    help="Dataset tools.\n\nExample: cimgen data synth --out data/synth --count 300 --size 256 --seed 0",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("synth")
def synth_cmd(
    out: Path = typer.Option(..., "--out", help="Folder to write labels/, maps/, images/, palette.json and world.json into."),
    count: int = typer.Option(300, "--count", **COUNT, help="Number of tiles."),
    size: int = typer.Option(256, "--size", min=8, max=16384, help="Tile side in pixels (sets height and width)."),
    height: int = typer.Option(0, "--height", min=0, max=16384, help="Tile height, overriding --size."),
    width: int = typer.Option(0, "--width", min=0, max=16384, help="Tile width, overriding --size."),
    seed: int = typer.Option(0, "--seed", **SEED, help="World seed; the same seed gives the same tiles."),
    noise: float = typer.Option(2.5, "--noise", min=0.0, max=255.0, help="Sensor noise standard deviation in 8-bit levels."),
) -> None:
    """Generate synthetic city tiles: label maps, street-map colourings and satellite-like images.

    Example: cimgen data synth --out data/synth --count 300 --size 256 --seed 0
    """
    cfg = SynthConfig(height=height or size, width=width or size, seed=seed, noise_sigma=noise)
    bars: list[tqdm] = []  # made on the first tile, so a rejected command prints only its error

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="tile", mininterval=1.0))
        bars[0].update(1)

    try:
        write_world(out, count, cfg, progress=progress)
    finally:
        for bar in bars:
            bar.close()
    typer.echo(f"wrote {count} tiles of {cfg.width}x{cfg.height} to {out}")
