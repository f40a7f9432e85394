"""Fréchet Inception Distance from features: statistics, then the distance between two Gaussians."""

from __future__ import annotations

import numpy as np
from scipy import linalg

from cimgen.errors import CimgenError

KEY_FID = "fid"
# Heusel et al. (2017) and pytorch-fid: retry with eps * I added to both covariances when the
# product's square root is not finite, and accept imaginary parts of the diagonal up to 1e-3.
DEFAULT_EPS = 1e-6
IMAGINARY_TOLERANCE = 1e-3


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, rows are samples) of N x D features, in float64."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise CimgenError(f"FID needs at least 2 feature vectors, got an array of shape {features.shape}")
    f = features.astype(np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


METHOD_EIGH = "eigh"
METHOD_SQRTM = "sqrtm"
FID_METHODS = (METHOD_EIGH, METHOD_SQRTM)


def trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^(1/2)) through symmetric eigendecompositions.

    S1 S2 is similar to the symmetric positive semi-definite S1^(1/2) S2 S1^(1/2), so the trace of
    its square root is the sum of the square roots of that matrix's eigenvalues. Round-off can only
    make tiny eigenvalues negative (clipped to 0); no complex numbers arise. About 7x faster than
    ``scipy.linalg.sqrtm`` at 2048 dimensions (1.8 s against 13.6 s on 2 CPU cores), equal to it to
    about 1e-6 relative.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ sigma2 @ root1
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())


def trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, *, eps: float = DEFAULT_EPS) -> float:
    """Tr((S1 S2)^(1/2)) as pytorch-fid computes it: ``scipy.linalg.sqrtm`` with the eps retry and the imaginary check."""
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if worst > IMAGINARY_TOLERANCE:
            raise CimgenError(
                f"the covariance product's square root has an imaginary part of {worst:.3g} on its diagonal; "
                "the features are too few or degenerate for FID"
            )
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *, method: str = METHOD_EIGH, eps: float = DEFAULT_EPS
) -> float:
    """d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians (``method``: eigh or sqrtm)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise CimgenError(f"statistics of different dimensions: {mu1.shape} and {mu2.shape}")
    if method == METHOD_EIGH:
        tr = trace_sqrt_product_eigh(sigma1, sigma2)
    elif method == METHOD_SQRTM:
        tr = trace_sqrt_product_sqrtm(sigma1, sigma2, eps=eps)
    else:
        raise CimgenError(f"unknown FID method '{method}'; choose one of {', '.join(FID_METHODS)}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray, *, method: str = METHOD_EIGH) -> float:
    """FID between two sets of features (N x D and M x D)."""
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b), method=method)
