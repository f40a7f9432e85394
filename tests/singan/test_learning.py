"""Learning test of SinGAN's adversarial objective: random samples take on the image's colours, and a flipped objective does not.

``tests/singan/test_train.py`` checks that the reconstruction improves, which the weighted MSE term
drives whatever the adversarial term does: it still passes with the generator's adversarial loss
negated. Here the reconstruction weight ``alpha`` is 1e-6 (practically off), so only WGAN-GP can move the generators;
a two-scale tiny pyramid (the conftest's 40x48 pattern, original schedule) trains end to end with
``train_singan`` and quality is the sliced Wasserstein distance between the colours of random
samples and of the image at the finest scale, as a fraction of the untrained pyramid's.

Broken objective: ``g_sign``, the generator's adversarial loss ``-D(fake).mean()`` negated (the
discriminator seen through a negation while ``ScaleTrainer._g_loss`` runs, so D's own update is
unchanged). No ``no_detach`` variant: the original schedule draws the discriminator's fakes under
``torch.no_grad()``, so a missing ``.detach()`` there cannot change anything.

Measured on the 2-core development CPU with
``.venv/bin/python -m pytest tests/singan/test_learning.py -q -p no:cacheprovider -s``:

| run | colour distance, fraction of untrained |
|---|---:|
| good | FILL |
| g_sign | FILL |
"""

from __future__ import annotations

import pytest
import torch

import cimgen.singan.train as singan_train
from cimgen.singan.model import SinGAN
from cimgen.singan.train import train_singan
from tests.singan.conftest import tiny_config
from tests.train.test_learning import colour_distance

ITERS = 80
SAMPLES = 4
THRESHOLD = 0.6
# Reconstruction weight: practically off (0 itself divides by zero in ScaleTrainer._g_loss's stats, src/cimgen/singan/train.py).
ALPHA = 1e-6


def samples_distance(model: SinGAN, real: torch.Tensor) -> float:
    """Mean colour distance of a few seeded random samples to the image at the finest trained scale."""
    with torch.no_grad():
        return sum(colour_distance(model.generate(generator=torch.Generator().manual_seed(s)), real) for s in range(SAMPLES)) / SAMPLES


class _Negated(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.net(x)


def learns(image, out, monkeypatch: pytest.MonkeyPatch, broken: str | None = None, *, iters: int = ITERS) -> SinGAN:
    """Train a tiny two-scale pyramid without the reconstruction term; returns the model.

    Args:
        image: the training image.
        out: the run folder.
        monkeypatch: where a broken objective is installed (undone after the test).
        broken: None or ``g_sign``.
        iters: iterations per scale (1 stands for an untrained pyramid).
    """
    cfg = tiny_config(num_scales=2, iters=iters, alpha=ALPHA, precision="fp32")
    if broken == "g_sign":
        real_g_loss = singan_train.ScaleTrainer._g_loss

        def flipped(self, fake):
            netD = self.netD
            self.netD = _Negated(netD)
            try:
                return real_g_loss(self, fake)
            finally:
                self.netD = netD

        monkeypatch.setattr(singan_train.ScaleTrainer, "_g_loss", flipped)
    elif broken is not None:
        raise ValueError(broken)
    return train_singan(image, cfg, out, write_samples=False, checkpoint_every=0)


def quality(model: SinGAN, image, tmp_path, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """(distance of the trained samples, distance of a pyramid trained one iteration per scale) to the image at the finest scale."""
    monkeypatch.undo()  # the baseline is always trained with the real objective
    untrained = learns(image, tmp_path / "untrained", monkeypatch, iters=1)
    real = model.reals[-1]
    return samples_distance(model, real), samples_distance(untrained, real)


def test_samples_take_on_the_image_colours(tmp_path, tiny_image, monkeypatch):
    model = learns(tiny_image, tmp_path / "good", monkeypatch)
    after, before = quality(model, tiny_image, tmp_path, monkeypatch)
    print(f"singan good: {after / before:.3f} of untrained ({before:.3f} -> {after:.3f})")
    assert after < THRESHOLD * before, (before, after)


def test_flipped_generator_objective_does_not_learn(tmp_path, tiny_image, monkeypatch):
    model = learns(tiny_image, tmp_path / "g_sign", monkeypatch, "g_sign")
    after, before = quality(model, tiny_image, tmp_path, monkeypatch)
    print(f"singan g_sign: {after / before:.3f} of untrained ({before:.3f} -> {after:.3f})")
    assert not after < THRESHOLD * before, (before, after)
