"""FID against closed forms for Gaussians, KID against a straightforward independent implementation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cimgen.errors import CimgenError
from cimgen.metrics.fid import fid_from_features, frechet_distance, gaussian_statistics
from cimgen.metrics.kid import kid_from_features, mmd2_unbiased


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_closed_form_for_diagonal_gaussians(method):
    # Commuting covariances: d^2 = |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the standard deviations.
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2), method=method) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_closed_form_for_general_gaussians(method):
    # Same covariance: only the means count; scaled covariance S and c^2 S: Tr(S)(1 - c)^2.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 8))
    s = a @ a.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    assert frechet_distance(mu1, s, mu2, s, method=method) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-7, abs=1e-7)
    assert frechet_distance(mu1, s, mu1, 9 * s, method=method) == pytest.approx(np.trace(s) * 4, rel=1e-7)


def test_fid_methods_agree_on_rank_deficient_covariances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 64)), rng.normal(size=(40, 64)) + 0.3
    (m1, s1), (m2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    assert frechet_distance(m1, s1, m2, s2, method="eigh") == pytest.approx(frechet_distance(m1, s1, m2, s2, method="sqrtm"), rel=1e-6)


def test_fid_from_samples_approaches_closed_form():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, size=(20000, 3))
    b = rng.normal(1, 2, size=(20000, 3))
    assert fid_from_features(a, b) == pytest.approx(3 * 1 + 3 * (2 - 1) ** 2, rel=0.03)
    assert fid_from_features(a, a) == pytest.approx(0, abs=1e-6)


def test_fid_errors():
    with pytest.raises(CimgenError, match="at least 2"):
        gaussian_statistics(np.zeros((1, 4)))
    with pytest.raises(CimgenError, match="unknown FID method"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


def _mmd_by_hand(x, y):
    """Unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, one pair at a time."""
    d = x.shape[1]
    k = lambda u, v: (float(np.dot(u, v)) / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_matches_pairwise_definition():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(9, 5)), rng.normal(0.5, 1, size=(11, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd_by_hand(x, y), rel=1e-10)


def test_kid_subsets_match_straightforward_loop():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 4)), rng.normal(0.3, 1, size=(25, 4))
    out = kid_from_features(x, y, subsets=5, subset_size=10, seed=7)
    draw = np.random.RandomState(7)
    by_hand = []
    for _ in range(5):
        ia, ib = draw.choice(30, 10, replace=False), draw.choice(25, 10, replace=False)
        by_hand.append(_mmd_by_hand(x[ia], y[ib]))
    assert out["kid_mean"] == pytest.approx(np.mean(by_hand), rel=1e-9)
    assert out["kid_std"] == pytest.approx(np.std(by_hand), rel=1e-9)
    assert out["kid_subset_size"] == 10 and "kid_note" not in out


def test_kid_subset_size_adapts_and_says_so():
    rng = np.random.default_rng(6)
    out = kid_from_features(rng.normal(size=(12, 4)), rng.normal(size=(15, 4)), subsets=3, subset_size=1000)
    assert out["kid_subset_size"] == 12
    assert "lowered from 1000 to 12" in out["kid_note"]
    with pytest.raises(CimgenError, match="at least 2 features"):
        kid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
