"""The WGAN-GP penalty against closed forms: linear and quadratic critics whose input gradients are known exactly."""

from __future__ import annotations

import pytest
import torch

from cimgen.errors import CimgenError
from cimgen.losses.gradient_penalty import gradient_penalty


def test_linear_critic_penalty_and_its_weight_gradient():
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)

    def critic(x):  # D(x) = <w, x> per sample: grad_x D = w everywhere, whatever the interpolation
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.randn(5, 3, 4, 4, dtype=torch.float64), torch.randn(5, 3, 4, 4, dtype=torch.float64)
    for constant, lam in ((1.0, 10.0), (2.5, 3.0)):
        penalty = gradient_penalty(critic, real, fake, constant=constant, lambda_gp=lam)
        norm = w.detach().norm()
        assert penalty.item() == pytest.approx(lam * (norm.item() - constant) ** 2, rel=1e-9)
        # create_graph=True: the penalty trains D. d/dw lam (|w| - c)^2 = 2 lam (|w| - c) w / |w|.
        (grad_w,) = torch.autograd.grad(penalty, w)
        want = 2 * lam * (norm - constant) * w.detach() / norm
        assert torch.allclose(grad_w.double(), want, rtol=1e-6, atol=1e-9)


def test_quadratic_critic_sees_the_interpolation_junyanz_draws():
    def critic(x):  # D(x) = |x|^2 / 2 per sample: grad_x D = x, so the penalty depends on where x is
        return 0.5 * (x**2).sum(dim=(1, 2, 3))

    real = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    fake = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    for kind, x in (("real", real), ("fake", fake)):
        got = gradient_penalty(critic, real, fake, kind=kind, constant=1.0, lambda_gp=2.0)
        want = 2.0 * ((x.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
        assert got.item() == pytest.approx(want.item(), rel=1e-9)
    # mixed: one uniform weight per sample, from the generator given.
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(7)).double()
    x = alpha * real + (1 - alpha) * fake
    got = gradient_penalty(critic, real, fake, lambda_gp=1.0, generator=torch.Generator().manual_seed(7))
    assert got.item() == pytest.approx(((x.flatten(1).norm(dim=1) - 1.0) ** 2).mean().item(), rel=1e-6)


def test_multiscale_critic_and_inputs_left_untouched():
    w = torch.tensor(0.5, requires_grad=True)

    def critic(x):  # two scales, pix2pixHD style: the gradients of both score maps add up
        return [[x * 9.0, x * w], [x.mean(dim=(2, 3), keepdim=True) * 0.0]]

    real = torch.randn(2, 1, 3, 3, requires_grad=True)
    fake = torch.randn(2, 1, 3, 3)
    # grad of sum(x * w) is w per element: norm = 0.5 * sqrt(9) = 1.5; penalty = (1.5 - 1)^2 = 0.25.
    assert gradient_penalty(critic, real, fake, lambda_gp=1.0).item() == pytest.approx(0.25, rel=1e-5)
    assert real.grad is None


def test_options_and_errors():
    real = torch.randn(2, 3, 4, 4)
    assert gradient_penalty(lambda x: x, real, real, lambda_gp=0.0).item() == 0.0
    with pytest.raises(CimgenError, match="unknown gradient penalty kind 'both'"):
        gradient_penalty(lambda x: x, real, real, kind="both")
    with pytest.raises(CimgenError, match="one shape"):
        gradient_penalty(lambda x: x, real, real[:1])
