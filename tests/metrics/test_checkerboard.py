"""The checkerboard score finds stride-2 lattice patterns and ignores contrast."""

from __future__ import annotations

import numpy as np

from cimgen.metrics.checkerboard import checkerboard_report, lattice_energy


def _texture(seed: int = 0, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.normal(size=(size, size)))
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    smooth = np.real(np.fft.ifft2(spectrum / (1e-3 + np.hypot(fy, fx)) ** 1.5))
    smooth -= smooth.mean()
    return np.clip(128 + 40 * smooth / smooth.std(), 0, 255)


def test_an_image_against_itself_scores_one_and_a_checkerboard_raises_it():
    img = _texture()
    assert checkerboard_report(img, img)["ratio"] == 1.0
    yy, xx = np.mgrid[:128, :128]
    for period in (2, 4, 8):
        pattern = np.where(((yy // (period // 2)) + (xx // (period // 2))) % 2, 4.0, -4.0)
        report = checkerboard_report(img + pattern, img)
        assert report["ratio"] > 3, (period, report)


def test_the_score_ignores_contrast_and_brightness():
    img = _texture(1)
    assert abs(lattice_energy(img) - lattice_energy(0.5 * img + 30)) < 1e-9


def test_a_flat_image_has_no_lattice_energy_and_no_ratio():
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert lattice_energy(flat) == 0.0
    assert checkerboard_report(_texture(2, 64), flat)["ratio"] is None


def test_blur_does_not_move_the_score_but_hides_nothing_from_it():
    """A blurred copy changes the content, not the lattice: the peak score stays near 1 where the share of power
    at the lattice falls to a third; a blurred copy with a faint checkerboard is caught by the peaks and passed by the share."""
    from scipy import ndimage

    img = _texture(3, 256)
    blurred = ndimage.gaussian_filter(img, 1.2)
    report = checkerboard_report(blurred, img)
    assert 0.7 < report["ratio"] < 1.4 and report["share_ratio"] < 0.6, report
    yy, xx = np.mgrid[:256, :256]
    faint = np.where((yy + xx) % 2, 0.5, -0.5) + np.where((yy // 2 + xx // 2) % 2, 0.5, -0.5)
    report = checkerboard_report(blurred + faint, img)
    assert report["ratio"] > 3 and report["share_ratio"] < 1.1, report
