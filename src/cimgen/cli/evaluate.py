"""``cimgen evaluate``: the paper's FID / KID / SSIM table on patches outside the manipulated region."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.cli.bounds import BATCH, PIXELS, device_option


def evaluate_cmd(
    sources: list[Path] = typer.Argument(
        None, help="Rows of the table: manipulation run folders, folders with real/ fake/ [mask/], or folders of runs."
    ),
    real: Path = typer.Option(None, "--real", help="A single pair: the pristine image."),
    fake: Path = typer.Option(None, "--fake", help="A single pair: the image generated from the manipulated map."),
    mask: Path = typer.Option(None, "--mask", help="A single pair: the manipulated region (non-zero = inside); none = whole image."),
    names: list[str] = typer.Option([], "--name", help="Row name, one per source in order (default: the folder name)."),
    out: Path = typer.Option(Path("runs/evaluate"), "--out", help="Folder for table.md, table.csv and table.json."),
    patch_size: int = typer.Option(64, "--patch-size", min=8, max=4096, help="Patch side in pixels."),
    stride: int = typer.Option(32, "--stride", min=1, max=4096, help="Step between patches (smaller than --patch-size: overlapping)."),
    dilation: int = typer.Option(0, "--dilation", **PIXELS, help="Grow the manipulated region by this many pixels before dropping patches."),
    resize: str = typer.Option("tf1-bilinear", "--resize", help="Resize policy to 299x299: tf1-bilinear (default) or clean."),
    kid_subsets: int = typer.Option(100, "--kid-subsets", min=1, max=100_000, help="KID subsets."),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size", min=2, max=10_000_000, help="KID subset size (lowered to the patch count when fewer)."),
    fid_method: str = typer.Option("eigh", "--fid-method", help="eigh (fast, default) or sqrtm (pytorch-fid's scipy sqrtm)."),
    weights: Path = typer.Option(None, "--inception-weights", help="FID Inception-v3 weights (TorchScript or .pth); default: search."),
    batch_size: int = typer.Option(32, "--batch-size", **BATCH, help="Patches per Inception forward pass."),
    device: str = typer.Option(None, "--device", callback=device_option, help="cpu or cuda (default: cuda when available)."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache folder (default ~/.cache/cimgen/features)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write cached features."),
    paper: bool = typer.Option(False, "--paper", help="Add the paper's published rows under the table in table.md."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score generated images against pristine ones with FID, KID and SSIM on patches outside the edit.

    Example: cimgen evaluate runs/edit-1 runs/edit-2 --out runs/eval   (or --real a.png --fake b.png --mask m.png)
    """
    from cimgen.metrics.protocol import KEY_WARNINGS, ProtocolConfig
    from cimgen.runs.evaluate import FeatureOptions, run_evaluate

    protocol = ProtocolConfig(
        patch_size=patch_size,
        stride=stride,
        dilation=dilation,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        fid_method=fid_method,
    )
    features = FeatureOptions(weights=weights, resize=resize, batch_size=batch_size, device=device, cache=cache, use_cache=not no_cache)
    bars: list = []
    try:
        result = run_evaluate(
            list(sources or []),
            out,
            real=real,
            fake=fake,
            mask=mask,
            names=names,
            protocol=protocol,
            features=features,
            paper=paper,
            progress_factory=None if quiet else _progress_factory(bars),
        )
    finally:
        for b in bars:
            b.close()
    typer.echo(result.markdown, nl=False)
    for r in result.rows:
        for w in r[KEY_WARNINGS]:
            typer.echo(f"note ({r['name']}): {w}")
    typer.echo(
        f"resize {result.policy}, {protocol.patch_size}px patches every {protocol.stride}px, weights {result.weights} "
        f"on {result.device}; table: {result.table} (also table.csv, table.json)"
    )


def _progress_factory(bars: list):
    """A progress bar per row of the table, each kept in ``bars`` so that it can be closed if the run fails."""
    from tqdm.auto import tqdm

    def factory(total: int, name: str):
        bar = tqdm(total=total, unit="patch", desc=name, mininterval=1.0)
        bars.append(bar)

        def update(k: int) -> None:
            bar.update(k)
            if bar.n >= total:
                bar.close()  # features done; the scores follow quickly

        return update

    return factory
