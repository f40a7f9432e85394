"""The patch protocol: patches outside the edit, pooled FID/KID/SSIM, caching, settings and counts in every result."""

from __future__ import annotations

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.io.images import write_image
from cimgen.metrics.features import FeatureCache, load_extractor
from cimgen.metrics.protocol import EvalPair, ProtocolConfig, evaluate_pairs, kept_positions, pairs_from_source, table_csv, table_markdown


@pytest.fixture(scope="module")
def extractor(inception_weights):
    return load_extractor(inception_weights, batch_size=8)


def _images(seed=0, size=96):
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(128, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    other = np.clip(base.astype(int) + rng.integers(-60, 60, base.shape), 0, 255).astype(np.uint8)
    return base, other


CFG = ProtocolConfig(patch_size=64, stride=32, kid_subsets=5)


def test_identical_images_score_perfectly(extractor):
    real, _ = _images()
    row = evaluate_pairs("same", [EvalPair("a", real, real.copy(), np.zeros(real.shape[:2], bool))], extractor, cfg=CFG)
    assert row["fid"] == pytest.approx(0, abs=1e-3)
    assert row["ssim"] == pytest.approx(1.0)
    assert row["patches"] == 4 and row["pairs"] == 1
    s = row["settings"]
    assert s["resize"] == "tf1-bilinear" and s["patch_size"] == 64 and s["stride"] == 32 and s["fid_method"] == "eigh"
    assert s["inception_weights_kind"] == "torchscript" and s["ssim"]["sigma"] == 1.5
    assert any("rank-deficient" in w for w in row["warnings"]) and any("KID subset size lowered" in w for w in row["warnings"])


def test_different_images_score_worse_and_mask_drops_patches(extractor):
    real, fake = _images()
    mask = np.zeros(real.shape[:2], bool)
    mask[40:50, 40:50] = True  # touches every 64x64 patch on a 96 grid with stride 32
    with pytest.raises(CimgenError, match="no 64x64 patch lies outside the manipulated region"):
        evaluate_pairs("x", [EvalPair("p", real, fake, mask)], extractor, cfg=CFG)
    mask[:] = False
    mask[0:8, 0:8] = True  # only the top-left patch touches it
    pair = EvalPair("p", real, fake, mask)
    assert len(kept_positions(pair, CFG)) == 3
    row = evaluate_pairs("x", [pair], extractor, cfg=CFG)
    assert row["patches"] == 3 and row["fid"] > 1 and row["ssim"] < 0.9
    # Growing the region by 30 px reaches patches that start at 32: only the bottom-right one is left.
    grown = ProtocolConfig(patch_size=64, stride=32, dilation=30, kid_subsets=5)
    assert len(kept_positions(pair, grown)) == 1


def test_pooled_rows_and_cache(tmp_path, extractor):
    r1, f1 = _images(1)
    r2, f2 = _images(2)
    pairs = [EvalPair("a", r1, f1, np.zeros(r1.shape[:2], bool)), EvalPair("b", r2, f2, np.zeros(r2.shape[:2], bool))]
    cache = FeatureCache(tmp_path / "cache")
    first = evaluate_pairs("pooled", pairs, extractor, cfg=CFG, cache=cache)
    again = evaluate_pairs("pooled", pairs, extractor, cfg=CFG, cache=cache)
    nocache = evaluate_pairs("pooled", pairs, extractor, cfg=CFG)
    assert first["patches"] == 8 and first["features_from_cache"] == 0
    assert again["features_from_cache"] == 16
    assert again["fid"] == pytest.approx(first["fid"]) and nocache["fid"] == pytest.approx(first["fid"], rel=1e-5)
    # A corrupt cache entry is recomputed, not trusted.
    for f in (tmp_path / "cache").iterdir():
        f.write_bytes(b"garbage")
    assert evaluate_pairs("pooled", pairs, extractor, cfg=CFG, cache=cache)["fid"] == pytest.approx(first["fid"], rel=1e-5)
    md, csv = table_markdown([first], paper=True), table_csv([first])
    assert "| pooled |" in md and "Cityscapes (paper) | 21.44" in md
    assert csv.splitlines()[0].startswith("name,fid,kid_mean") and csv.splitlines()[1].startswith('"pooled",')


def test_sources(tmp_path):
    real, fake = _images()
    run = tmp_path / "run"
    write_image(run / "original.png", real)
    write_image(run / "generated.png", fake)
    write_image(run / "mask_raw.png", np.zeros(real.shape, np.uint8))
    assert [p.name for p in pairs_from_source(run)] == ["run"]
    assert [p.name for p in pairs_from_source(tmp_path)] == ["run"]  # a folder of runs
    pairs = tmp_path / "pairs"
    for n in ("x", "y"):
        write_image(pairs / "real" / f"{n}.png", real)
        write_image(pairs / "fake" / f"{n}.png", fake)
    assert [p.name for p in pairs_from_source(pairs)] == ["x", "y"]
    write_image(pairs / "fake" / "z.png", fake)
    with pytest.raises(CimgenError, match="unmatched: z"):
        pairs_from_source(pairs)
    with pytest.raises(CimgenError, match="neither a manipulation run folder"):
        pairs_from_source(pairs / "real")
    with pytest.raises(CimgenError, match="same size"):
        EvalPair("q", real, fake[:80], np.zeros(real.shape[:2], bool))
    with pytest.raises(CimgenError, match="unknown FID method"):
        ProtocolConfig(fid_method="svd")
