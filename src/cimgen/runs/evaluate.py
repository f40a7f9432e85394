"""What ``cimgen evaluate`` does: read the image pairs, score them with FID, KID and SSIM on patches outside the edit, write the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cimgen.errors import CimgenError
from cimgen.io.folders import check_fresh, new_folder
from cimgen.io.images import write_text
from cimgen.metrics.features import FeatureCache, default_cache_dir, load_extractor
from cimgen.metrics.protocol import (
    EvalPair,
    ProtocolConfig,
    evaluate_pairs,
    pair_from_files,
    pairs_from_source,
    table_csv,
    table_json,
    table_markdown,
)
from cimgen.metrics.resize import DEFAULT_POLICY

ProgressFactory = Callable[[int, str], Callable[[int], None] | None]
"""(patch count, row name) -> a callable told how many patches each batch did, or None for no progress."""


@dataclass(frozen=True)
class FeatureOptions:
    """How ``cimgen evaluate`` gets the Inception features; the patch protocol itself is ``ProtocolConfig``."""

    weights: Path | None = None
    """FID Inception-v3 weights (TorchScript or .pth); None: search the usual places."""
    resize: str = DEFAULT_POLICY
    """Resize policy to 299x299: tf1-bilinear or clean."""
    batch_size: int = 32
    """Patches per Inception forward pass."""
    device: str | None = None
    """cpu or cuda; None: cuda when available."""
    cache: Path | None = None
    """Feature cache folder; None: ``default_cache_dir()``."""
    use_cache: bool = True
    """Read and write cached features."""


@dataclass
class Evaluation:
    """The table ``run_evaluate`` wrote, and how its features were made."""

    rows: list[dict]
    """One dict per row (``cimgen.metrics.protocol`` keys), warnings included."""
    markdown: str
    """The table as written to ``table.md``."""
    table: Path
    """``table.md`` in the output folder (``table.csv`` and ``table.json`` beside it)."""
    policy: str
    """The resize policy used."""
    weights: str
    """The Inception weights file used."""
    device: str
    """The device type the features were computed on."""


def read_groups(
    sources: list[Path],
    *,
    real: Path | None = None,
    fake: Path | None = None,
    mask: Path | None = None,
    names: list[str] | None = None,
) -> list[tuple[str, list[EvalPair]]]:
    """The rows to score, each (name, pairs): one per source folder, or one single pair from ``real``/``fake``/``mask``."""
    names = list(names or [])
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
    if single:
        return [(names[0] if names else fake.stem, [pair_from_files(real, fake, mask)])]
    return [(names[i] if names else src.name, pairs_from_source(src)) for i, src in enumerate(sources)]


def write_table(out: Path, rows: list[dict], *, paper: bool = False) -> str:
    """``table.md``, ``table.csv`` and ``table.json`` in the new folder ``out``; returns the Markdown."""
    md = table_markdown(rows, paper=paper)
    with new_folder(out) as tmp:
        write_text(tmp / "table.md", md)
        write_text(tmp / "table.csv", table_csv(rows))
        write_text(tmp / "table.json", table_json(rows))
    return md


def run_evaluate(
    sources: list[Path],
    out: Path,
    *,
    real: Path | None = None,
    fake: Path | None = None,
    mask: Path | None = None,
    names: list[str] | None = None,
    protocol: ProtocolConfig | None = None,
    features: FeatureOptions | None = None,
    paper: bool = False,
    progress_factory: ProgressFactory | None = None,
) -> Evaluation:
    """Score each source (or the single pair) into one row of the table, written into the new folder ``out``.

    Args:
        sources: manipulation run folders, folders with real/ fake/ [mask/], or folders of runs; or empty with ``real`` and ``fake``.
        out: the folder to create with table.md, table.csv and table.json.
        real, fake, mask: a single pair instead of ``sources`` (no mask: the whole image counts).
        names: row names, one per source in order (default: the folder names, or the fake image's name).
        protocol: patch size, stride, dilation, KID and FID settings (None: the defaults).
        features: Inception weights, resize policy, batch size, device and feature cache (None: the defaults).
        paper: add the paper's published rows under the Markdown table.
        progress_factory: makes a progress callback per row, see ``ProgressFactory``.
    """
    # Read every input before the network is loaded, so bad input fails fast and writes nothing.
    groups = read_groups(sources, real=real, fake=fake, mask=mask, names=names)
    protocol, features = protocol or ProtocolConfig(), features or FeatureOptions()
    check_fresh(out)
    extractor = load_extractor(features.weights, policy=features.resize, batch_size=features.batch_size, device=features.device)
    cache = FeatureCache((features.cache or default_cache_dir()) if features.use_cache else None)
    rows = [evaluate_pairs(name, pairs, extractor, cfg=protocol, cache=cache, progress_factory=progress_factory) for name, pairs in groups]
    md = write_table(out, rows, paper=paper)
    return Evaluation(
        rows=rows,
        markdown=md,
        table=out / "table.md",
        policy=extractor.policy,
        weights=str(extractor.weights.path),
        device=extractor.device.type,
    )
