"""Classical, learning-free localisation baselines (noise inconsistency, error level analysis) that score pixels like the detectors' heatmaps.

Each baseline takes an H x W x 3 uint8 RGB image and returns an H x W float32 map in [0, 1], high
where the image is more likely manipulated, so it is scored against true masks exactly as a
detector's heatmap is. Both maps are normalised by their own maximum: they rank pixels within an
image and are not calibrated probabilities.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np
import pywt

from cimgen.errors import CimgenError

MAD_TO_SIGMA = 0.6745
"""median(|n|) / sigma for zero-mean Gaussian n: Donoho's robust noise estimator divides by it."""
JPEG_BLOCK = 8
"""Side of a JPEG block, in pixels."""
NEGLIGIBLE = 1e-6
"""Largest raw score (8-bit levels) taken as rounding error: a map that never exceeds it is all zeros, not amplified noise."""


def _check_image(image: np.ndarray, what: str, min_side: int, unit: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"a {image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise CimgenError(f"{what} needs an H x W x 3 uint8 RGB image, got {got}")
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise CimgenError(f"{what} needs an image at least 2 {unit} ({min_side} pixels) on each side, got {w}x{h}")


def _normalised(score: np.ndarray) -> np.ndarray:
    top = float(score.max())
    if top <= NEGLIGIBLE:  # a perfectly consistent image (a flat one, say): nothing stands out
        return np.zeros(score.shape, np.float32)
    return (score / top).astype(np.float32)


# ----------------------------------------------------------------------------- noise inconsistency


def noise_inconsistency(image: np.ndarray, *, block: int = 16, wavelet: str = "db8") -> np.ndarray:
    """Noise-level inconsistency after Mahdian and Saic, "Using noise inconsistencies for blind image forensics" (2009).

    The grey image's one-level wavelet decomposition gives the diagonal detail subband HH1, which
    holds mostly noise. Each block's noise level is the robust median estimate
    ``median(|HH1|) / 0.6745``; a block scores by how far its level is from the median over all
    blocks (the image's dominant level), so both noisier and smoother pastes stand out. The paper
    then merges homogeneous blocks; this baseline stops at the block map.

    Blocks tile the image from the top-left corner; the last block of each row and column also
    takes the remainder, so every pixel belongs to a block of at least ``block`` pixels. The map is
    upsampled by nearest neighbour (each pixel takes its block's score), keeping block edges sharp.

    Args:
        image: H x W x 3 uint8 RGB, each side at least ``2 * block``.
        block: block side in pixels, an even number >= 4 (``block / 2`` wavelet coefficients).
        wavelet: a discrete PyWavelets wavelet. The paper used a Daubechies wavelet; ``db8`` (16 taps)
            leaves little image structure in HH1 while its support still fits small blocks.

    Returns:
        H x W float32 scores in [0, 1].
    """
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 4 or block % 2:
        raise CimgenError(f"block must be an even whole number of pixels >= 4, got {block!r}")
    if wavelet not in pywt.wavelist(kind="discrete"):
        raise CimgenError(f"'{wavelet}' is not a discrete PyWavelets wavelet (try db8, db4, sym8 or haar)")
    _check_image(image, "noise_inconsistency", 2 * block, f"blocks of {block}")
    h, w = image.shape[:2]
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    _, (_, _, diagonal) = pywt.dwt2(grey, wavelet, mode="symmetric")
    # Symmetric mode adds (taps - 2) / 2 boundary coefficients; skipping taps // 4 of them leaves
    # coefficient k over image pixels 2k and 2k + 1 (within a pixel), so blocks map back to pixels.
    start = pywt.Wavelet(wavelet).dec_len // 4
    hh = np.abs(diagonal[start : start + math.ceil(h / 2), start : start + math.ceil(w / 2)])
    side = block // 2
    rows = _block_edges(hh.shape[0], side)
    cols = _block_edges(hh.shape[1], side)
    sigma = np.array([[np.median(hh[r0:r1, c0:c1]) for c0, c1 in pairwise(cols)] for r0, r1 in pairwise(rows)]) / MAD_TO_SIGMA
    score = np.abs(sigma - np.median(sigma))
    by = np.minimum(np.arange(h) // 2 // side, len(rows) - 2)
    bx = np.minimum(np.arange(w) // 2 // side, len(cols) - 2)
    return _normalised(score)[by[:, None], bx[None, :]]


def _block_edges(n: int, side: int) -> list[int]:
    count = max(1, n // side)
    return [i * side for i in range(count)] + [n]


# ----------------------------------------------------------------------------- error level analysis


def error_level_analysis(image: np.ndarray, *, quality: int = 90, smoothing: float = 2.0) -> np.ndarray:
    """Error level analysis (Krawetz, "A Picture's Worth", 2007): how much each pixel changes when re-saved as JPEG.

    A region already JPEG-compressed at about ``quality`` barely changes when compressed again, while
    a region pasted from elsewhere (uncompressed, compressed differently, or off the 8x8 grid) changes
    more. The difference is averaged over the channels, optionally smoothed, and normalised.

    Args:
        image: H x W x 3 uint8 RGB, each side at least two JPEG blocks (16 pixels).
        quality: JPEG quality of the re-save (OpenCV), a whole number from 1 to 100.
        smoothing: standard deviation, in pixels, of a Gaussian that smooths the per-pixel error
            (which is as speckled as the image's texture); 0 keeps the raw error. The default spreads
            it over about one JPEG block.

    Returns:
        H x W float32 scores in [0, 1].
    """
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 1 <= quality <= 100:
        raise CimgenError(f"quality must be a whole number from 1 to 100, got {quality!r}")
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not math.isfinite(smoothing) or smoothing < 0:
        raise CimgenError(f"smoothing must be a finite number of pixels >= 0, got {smoothing!r}")
    _check_image(image, "error_level_analysis", 2 * JPEG_BLOCK, "JPEG blocks")
    bgr = np.ascontiguousarray(image[..., ::-1])
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CimgenError(f"OpenCV could not JPEG-encode a {image.shape[1]}x{image.shape[0]} image")
    again = cv2.imdecode(data, cv2.IMREAD_COLOR)
    error = np.abs(bgr.astype(np.float32) - again.astype(np.float32)).mean(axis=2)
    if smoothing > 0:
        error = cv2.GaussianBlur(error, (0, 0), sigmaX=float(smoothing), borderType=cv2.BORDER_REFLECT_101)
    return _normalised(error)


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Baseline:
    """A registered baseline: its function and what it looks for."""

    description: str
    """What it scores, in one line."""
    function: Callable[..., np.ndarray] = field(repr=False)
    """(image, **options) -> H x W float32 scores in [0, 1]."""


BASELINES: dict[str, Baseline] = {
    "noise": Baseline("blocks whose wavelet noise level departs from the image's (Mahdian and Saic 2009)", noise_inconsistency),
    "ela": Baseline("error level analysis: change on a JPEG re-save (Krawetz 2007)", error_level_analysis),
}


def baseline_scores(name: str, image: np.ndarray, **options) -> np.ndarray:
    """Score map of ``image`` by the baseline registered as ``name``.

    Args:
        name: a key of ``BASELINES``.
        image: H x W x 3 uint8 RGB.
        **options: the baseline's keyword options (``block`` and ``wavelet`` for noise; ``quality``
            and ``smoothing`` for ela).

    Returns:
        H x W float32 scores in [0, 1], high where manipulation is more likely.
    """
    if name not in BASELINES:
        raise CimgenError(f"unknown baseline '{name}'; choose from {', '.join(BASELINES)}")
    function = BASELINES[name].function
    known = [p.name for p in inspect.signature(function).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for option in options:
        if option not in known:
            raise CimgenError(f"baseline '{name}' has no option '{option}'; its options are {', '.join(known)}")
    return function(image, **options)
