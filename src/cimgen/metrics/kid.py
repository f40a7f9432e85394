"""Kernel Inception Distance: the unbiased squared MMD with a cubic polynomial kernel, over random subsets.

Bińkowski et al., "Demystifying MMD GANs" (ICLR 2018): k(x, y) = (gamma x.y + coef0)^degree with
degree 3, gamma 1/D and coef0 1; the estimate is averaged over subsets drawn with a fixed seed.
"""

from __future__ import annotations

import numpy as np

from cimgen.errors import CimgenError

KEY_KID_MEAN = "kid_mean"
KEY_KID_STD = "kid_std"
KEY_KID_SUBSETS = "kid_subsets"
KEY_KID_SUBSET_SIZE = "kid_subset_size"
KEY_KID_NOTE = "kid_note"


def polynomial_kernel(x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """(gamma x y^T + coef0)^degree, with gamma = 1 / D by default."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, **kernel) -> float:
    """Unbiased estimate of the squared MMD between samples ``x`` (m x D) and ``y`` (n x D); diagonal terms left out."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise CimgenError("the unbiased MMD needs at least 2 samples on each side")
    kxx, kyy, kxy = polynomial_kernel(x, x, **kernel), polynomial_kernel(y, y, **kernel), polynomial_kernel(x, y, **kernel)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.sum() / (m * n))


def kid_from_features(
    features_a: np.ndarray,
    features_b: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> dict:
    """KID mean and standard deviation over ``subsets`` random subsets of ``subset_size`` per side.

    With fewer features than ``subset_size`` on either side, the subset size drops to the smaller
    count and the result says so under ``kid_note``.
    """
    a, b = features_a.astype(np.float64), features_b.astype(np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise CimgenError(f"KID needs at least 2 features on each side, got {len(a)} and {len(b)}")
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        ia = rng.choice(len(a), size, replace=False)
        ib = rng.choice(len(b), size, replace=False)
        values.append(mmd2_unbiased(a[ia], b[ib], degree=degree, gamma=gamma, coef0=coef0))
    out = {KEY_KID_MEAN: float(np.mean(values)), KEY_KID_STD: float(np.std(values)), KEY_KID_SUBSETS: subsets, KEY_KID_SUBSET_SIZE: size}
    if size < subset_size:
        out[KEY_KID_NOTE] = f"subset size lowered from {subset_size} to {size}, the number of features available"
    return out
