"""Checkerboard score: spectral peaks of an image at the lattice frequencies of stride-2 upsampling.

A generator that upsamples with stride-2 transposed convolutions leaves a periodic pattern at
periods 2, 4, 8 ... pixels (Odena, Dumoulin and Olah, "Deconvolution and checkerboard
artifacts", Distill 2016). In the Fourier domain that pattern is a set of sharp peaks at the
frequencies (u, v) with u, v in {0, 1/2, 1/4, 1/8 ...} cycles per pixel, (0, 0) excepted; GAN
forensics finds generated images by the same peaks (Zhang, Karaman and Chang, "Detecting and
simulating artifacts in GAN fake images", WIFS 2019).

The score measures peaks, not power: at each lattice point, the power in the bins within one of it
is divided by the level of the spectrum around it (the median bin within ``REACH`` bins, the point's
own bins left out), and the image's peak level is the mean of those ratios. The score of a
generated image is its peak level divided by the original's: 1 means the generated image has no
more lattice peaks than the photograph it stands in for. The image is the mean of its channels and
a Hann window removes the border's discontinuity; ratios of power do not move with contrast.

An earlier definition (kept as ``share_ratio``, ``lattice_energy``) took the lattice bins' share of
all power. That share moves with the content: natural images have much of their power near the
lattice points at 1/8 and 1/4 cycle, so a blurred copy of a photo scores 0.3-0.45 and a generator
that blurs hides its lattice (measured on the Map2Sat, Building2Sat and Cityscapes pairs: a
generated image with share ratio 0.97 had 16 times the photo's peaks; docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np

DEFAULT_PERIODS = (2, 4, 8)
"""Periods in pixels of three stride-2 upsamplings (the shipped generator has three)."""
REACH = 4
"""Bins on each side of a lattice point whose median is the spectrum's level there."""


def _power(image: np.ndarray) -> np.ndarray:
    """The windowed, mean-free power spectrum of an image's channel mean."""
    g = np.asarray(image, np.float64)
    if g.ndim == 3:
        g = g.mean(axis=2)
    h, w = g.shape
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w))
    return np.abs(np.fft.fft2(g)) ** 2


def _power_for(image: np.ndarray, periods: tuple[int, ...]) -> np.ndarray | None:
    """``_power`` of an image large enough for the lattice of ``periods`` and not flat; None otherwise."""
    h, w = np.shape(image)[:2]
    if min(h, w) < 2 * max(periods):
        return None
    power = _power(image)
    return power if power.sum() > 0 else None


def _lattice(h: int, w: int, periods: tuple[int, ...]) -> list[tuple[int, int]]:
    """The lattice points (bin row, bin column) of an HxW spectrum, DC left out."""
    freqs = {0.0} | {k / p for p in periods for k in range(p)}
    fy = sorted({round(f * h) % h for f in freqs})
    fx = sorted({round(f * w) % w for f in freqs})
    return [(y, x) for y in fy for x in fx if (y, x) != (0, 0)]


def lattice_energy(image: np.ndarray, periods: tuple[int, ...] = DEFAULT_PERIODS) -> float:
    """The share of an image's (windowed, DC-free) spectral power at the upsampling lattice frequencies
    (the earlier definition, which moves with the content; see the module's docstring).

    Args:
        image: HxW or HxWxC, any numeric dtype.
        periods: the lattice periods in pixels (2 for one stride-2 upsampling, 4 for two, ...).
    """
    return _share(_power_for(image, periods), periods)


def _share(power: np.ndarray | None, periods: tuple[int, ...]) -> float:
    """``lattice_energy`` of a spectrum from ``_power_for``."""
    if power is None:
        return 0.0
    h, w = power.shape
    total = power.sum()
    hit = np.zeros_like(power, dtype=bool)
    for y, x in _lattice(h, w, periods):
        hit[np.ix_([(y + d) % h for d in (-1, 0, 1)], [(x + d) % w for d in (-1, 0, 1)])] = True
    hit[np.ix_([-1, 0, 1], [-1, 0, 1])] = False  # DC and its neighbours belong to no lattice point (small images)
    return float(power[hit].sum() / total)


def lattice_peaks(image: np.ndarray, periods: tuple[int, ...] = DEFAULT_PERIODS, reach: int = REACH) -> float:
    """The mean, over the upsampling lattice points, of the power within one bin of the point divided by the
    spectrum's level around it (nine times the median bin within ``reach`` bins, the point's own nine left out).

    Lattice points whose surroundings reach the DC bin are left out (the spectrum there is the image's
    overall shape, not a texture). Returns 0.0 for an image without power or too small for any point.

    Args:
        image: HxW or HxWxC, any numeric dtype.
        periods: the lattice periods in pixels (2 for one stride-2 upsampling, 4 for two, ...).
        reach: bins on each side of a point that give the spectrum's level there.
    """
    return _peaks(_power_for(image, periods), periods, reach)


def _peaks(power: np.ndarray | None, periods: tuple[int, ...], reach: int = REACH) -> float:
    """``lattice_peaks`` of a spectrum from ``_power_for``."""
    if power is None:
        return 0.0
    h, w = power.shape
    floor = 1e-12 * power.sum()  # a level for bins without power (drawn images), so every ratio is finite
    side = 2 * reach + 1
    own = np.zeros((side, side), bool)
    own[reach - 1 : reach + 2, reach - 1 : reach + 2] = True
    ratios = []
    for y, x in _lattice(h, w, periods):
        if min(y, h - y) <= reach + 1 and min(x, w - x) <= reach + 1:
            continue
        block = power[np.ix_([(y + d) % h for d in range(-reach, reach + 1)], [(x + d) % w for d in range(-reach, reach + 1)])]
        level = 9 * max(float(np.median(block[~own])), floor)
        ratios.append(float(block[own].sum()) / level)
    return float(np.mean(ratios)) if ratios else 0.0


def checkerboard_report(generated: np.ndarray, original: np.ndarray, periods: tuple[int, ...] = DEFAULT_PERIODS) -> dict:
    """The lattice peak levels of ``generated`` and of ``original`` and their ratio (the checkerboard score), with the
    ratio of the earlier definition, the lattice's share of the power (``share_ratio``)."""
    power_g, power_o = _power_for(generated, periods), _power_for(original, periods)  # each spectrum once, for both scores
    pg, po = _peaks(power_g, periods), _peaks(power_o, periods)
    eg, eo = _share(power_g, periods), _share(power_o, periods)
    return {
        "generated": pg,
        "original": po,
        "ratio": (pg / po) if po > 0 else None,
        "share_ratio": (eg / eo) if eo > 0 else None,
        "periods": list(periods),
    }
