"""``cimgen evaluate``: the paper's FID / KID / SSIM table on patches outside the manipulated region."""

from __future__ import annotations

from pathlib import Path

import typer

from cimgen.errors import CimgenError


def evaluate_cmd(
    sources: list[Path] = typer.Argument(
        None, help="Rows of the table: manipulation run folders, folders with real/ fake/ [mask/], or folders of runs."
    ),
    real: Path = typer.Option(None, "--real", help="A single pair: the pristine image."),
    fake: Path = typer.Option(None, "--fake", help="A single pair: the image generated from the manipulated map."),
    mask: Path = typer.Option(None, "--mask", help="A single pair: the manipulated region (non-zero = inside); none = whole image."),
    names: list[str] = typer.Option([], "--name", help="Row name, one per source in order (default: the folder name)."),
    out: Path = typer.Option(Path("runs/evaluate"), "--out", help="Folder for table.md, table.csv and table.json."),
    patch_size: int = typer.Option(64, "--patch-size", help="Patch side in pixels."),
    stride: int = typer.Option(32, "--stride", help="Step between patches (smaller than --patch-size: overlapping)."),
    dilation: int = typer.Option(0, "--dilation", help="Grow the manipulated region by this many pixels before dropping patches."),
    resize: str = typer.Option("tf1-bilinear", "--resize", help="Resize policy to 299x299: tf1-bilinear (default) or clean."),
    kid_subsets: int = typer.Option(100, "--kid-subsets", help="KID subsets."),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size", help="KID subset size (lowered to the patch count when fewer)."),
    fid_method: str = typer.Option("eigh", "--fid-method", help="eigh (fast, default) or sqrtm (pytorch-fid's scipy sqrtm)."),
    weights: Path = typer.Option(None, "--inception-weights", help="FID Inception-v3 weights (TorchScript or .pth); default: search."),
    batch_size: int = typer.Option(32, "--batch-size", help="Patches per Inception forward pass."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache folder (default ~/.cache/cimgen/features)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write cached features."),
    paper: bool = typer.Option(False, "--paper", help="Add the paper's published rows under the table in table.md."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score generated images against pristine ones with FID, KID and SSIM on patches outside the edit.

    Example: cimgen evaluate runs/edit-1 runs/edit-2 --out runs/eval   (or --real a.png --fake b.png --mask m.png)
    """
    from tqdm.auto import tqdm

    from cimgen.io.images import write_text
    from cimgen.metrics.features import FeatureCache, default_cache_dir, load_extractor
    from cimgen.metrics.protocol import (
        KEY_WARNINGS,
        ProtocolConfig,
        evaluate_pairs,
        pair_from_files,
        pairs_from_source,
        table_csv,
        table_json,
        table_markdown,
    )

    sources = list(sources or [])
    single = real is not None or fake is not None
    if single and (real is None or fake is None):
        raise CimgenError("a single pair needs both --real and --fake")
    if single and sources:
        raise CimgenError("give either folders or --real/--fake, not both")
    if not single and not sources:
        raise CimgenError("nothing to evaluate: give run or pair folders, or --real and --fake")
    if mask is not None and not single:
        raise CimgenError("--mask goes with --real/--fake; folders carry their own masks")
    if names and len(names) != max(len(sources), 1):
        raise CimgenError(f"{len(names)} --name given for {max(len(sources), 1)} rows")
    cfg = ProtocolConfig(
        patch_size=patch_size,
        stride=stride,
        dilation=dilation,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        fid_method=fid_method,
    )

    # Read every input before the network is loaded, so bad input fails fast and writes nothing.
    if single:
        groups = [(names[0] if names else fake.stem, [pair_from_files(real, fake, mask)])]
    else:
        groups = [(names[i] if names else src.name, pairs_from_source(src)) for i, src in enumerate(sources)]
    extractor = load_extractor(weights, policy=resize, batch_size=batch_size, device=device)
    feature_cache = FeatureCache(None if no_cache else (cache or default_cache_dir()))

    bars = []

    def progress_factory(total: int, name: str):
        if quiet:
            return None
        bar = tqdm(total=total, unit="patch", desc=name, mininterval=1.0)
        bars.append(bar)

        def update(k: int) -> None:
            bar.update(k)
            if bar.n >= total:
                bar.close()  # features done; the scores follow quickly

        return update

    rows = []
    try:
        for name, pairs in groups:
            rows.append(evaluate_pairs(name, pairs, extractor, cfg=cfg, cache=feature_cache, progress_factory=progress_factory))
    finally:
        for b in bars:
            b.close()
    md = table_markdown(rows, paper=paper)
    write_text(out / "table.md", md)
    write_text(out / "table.csv", table_csv(rows))
    write_text(out / "table.json", table_json(rows))
    typer.echo(md, nl=False)
    for r in rows:
        for w in r[KEY_WARNINGS]:
            typer.echo(f"note ({r['name']}): {w}")
    typer.echo(
        f"resize {extractor.policy}, {cfg.patch_size}px patches every {cfg.stride}px, weights {extractor.weights.path} "
        f"on {extractor.device.type}; table: {out / 'table.md'} (also table.csv, table.json)"
    )
