"""Checkerboard score: spectral energy of an image at the lattice frequencies of stride-2 upsampling.

A generator that upsamples with stride-2 transposed convolutions leaves a periodic pattern at
periods 2, 4, 8 ... pixels (Odena, Dumoulin and Olah, "Deconvolution and checkerboard
artifacts", Distill 2016). In the Fourier domain that pattern is energy at the frequencies
(u, v) with u, v in {0, 1/2, 1/4, 1/8 ...} cycles per pixel, (0, 0) excepted. The score of a
generated image is that energy divided by the same energy of the original image: 1 means the
generated image has no more lattice energy than the photograph it stands in for.

The energy is the power spectrum's share (power at the lattice bins / total power, DC removed),
so the score does not move with contrast. The image is the mean of its channels, a Hann
window removes the border's discontinuity, and each lattice point sums the bins within one of it.
"""

from __future__ import annotations

import numpy as np

DEFAULT_PERIODS = (2, 4, 8)
"""Periods in pixels of three stride-2 upsamplings (the shipped generator has three)."""


def lattice_energy(image: np.ndarray, periods: tuple[int, ...] = DEFAULT_PERIODS) -> float:
    """The share of an image's (windowed, DC-free) spectral power at the upsampling lattice frequencies.

    Args:
        image: HxW or HxWxC, any numeric dtype.
        periods: the lattice periods in pixels (2 for one stride-2 upsampling, 4 for two, ...).
    """
    g = np.asarray(image, np.float64)
    if g.ndim == 3:
        g = g.mean(axis=2)
    h, w = g.shape
    if min(h, w) < 2 * max(periods):
        return 0.0
    g = (g - g.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(g)) ** 2
    total = power.sum()
    if total <= 0:
        return 0.0
    freqs = {0.0} | {k / p for p in periods for k in range(p)}
    fy = sorted({round(f * h) % h for f in freqs})
    fx = sorted({round(f * w) % w for f in freqs})
    hit = np.zeros_like(power, dtype=bool)
    for y in fy:
        for x in fx:
            if y == 0 and x == 0:
                continue
            ys = [(y + d) % h for d in (-1, 0, 1)]
            xs = [(x + d) % w for d in (-1, 0, 1)]
            hit[np.ix_(ys, xs)] = True
    hit[np.ix_([-1, 0, 1], [-1, 0, 1])] = False  # DC and its neighbours belong to no lattice point (small images)
    return float(power[hit].sum() / total)


def checkerboard_report(generated: np.ndarray, original: np.ndarray, periods: tuple[int, ...] = DEFAULT_PERIODS) -> dict:
    """The lattice energy of ``generated`` and of ``original`` and their ratio (the checkerboard score)."""
    eg, eo = lattice_energy(generated, periods), lattice_energy(original, periods)
    return {
        "generated": eg,
        "original": eo,
        "ratio": (eg / eo) if eo > 0 else None,
        "periods": list(periods),
    }
