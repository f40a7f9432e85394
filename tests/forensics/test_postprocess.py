"""Post-processings and BaRT: identities, shapes, ranges, exact definitions, gradients, per-sample strengths, determinism and errors."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError
from cimgen.forensics.postprocess import (
    BART_DEFAULT,
    OPERATIONS,
    Bart,
    BartConfig,
    apply_bart_plan,
    apply_operation,
    bart,
    check_bart_config,
    draw_bart_plan,
    gamma,
    gaussian_blur,
    gaussian_noise,
    jpeg,
    rescale,
    rotate,
)

DIFFERENTIABLE = ["gamma", "noise", "blur", "rotate", "rescale", "upscale", "updown"]


def images(n: int = 4, h: int = 32, w: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def photo_like(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Textured luminance under slowly varying colour, as in photographs (JPEG's 4:2:0 chroma keeps such colour)."""
    g = torch.Generator().manual_seed(seed)
    lum = F.interpolate(torch.rand(n, 1, size // 4, size // 4, generator=g), size=(size, size), mode="bicubic", align_corners=False)
    tint = F.interpolate(0.6 + 0.4 * torch.rand(n, 3, 2, 2, generator=g), size=(size, size), mode="bilinear", align_corners=False)
    return (lum * tint).clamp(0, 1)


@pytest.mark.parametrize("name", [k for k, op in OPERATIONS.items() if op.identity is not None])
def test_identity_strength_returns_the_input(name):
    x = images()
    torch.testing.assert_close(apply_operation(name, x, OPERATIONS[name].identity), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_registry_entries_are_consistent(name):
    op = OPERATIONS[name]
    assert op.name == name
    low, high = op.bart_range
    assert low <= high
    assert op.identity is None or op.identity in op.sweep
    assert getattr(BART_DEFAULT, f"{name}_range") == op.bart_range


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_every_sweep_strength_keeps_the_size_and_the_range(name):
    x = images(2)
    for strength in OPERATIONS[name].sweep:
        y = apply_operation(name, x, strength, generator=torch.Generator().manual_seed(0), keep_size=True)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert y.min() >= 0 and y.max() <= 1


def test_rescale_changes_the_size_unless_kept():
    x = images(2, 32, 40)
    assert rescale(x, 0.5).shape == (2, 3, 16, 20)
    assert rescale(x, 1.5).shape == (2, 3, 48, 60)
    assert rescale(x, 0.3, keep_size=True).shape == x.shape  # reflect padding folded more than once
    assert rescale(x, 2.0, keep_size=True).shape == x.shape
    with pytest.raises(CimgenError, match="keep_size"):
        rescale(x, torch.tensor([0.5, 2.0]))


def test_rescale_keep_size_centre_crops_the_enlarged_image():
    x = images(1, 32, 32)
    torch.testing.assert_close(rescale(x, 2.0, keep_size=True), rescale(x, 2.0)[..., 16:48, 16:48])


def test_gamma_is_the_power():
    x = images()
    for g in (0.5, 1.7, 2.0):
        torch.testing.assert_close(gamma(x, g), x**g, atol=0, rtol=1e-6)


def test_noise_has_the_asked_deviation_and_is_reproducible():
    x = torch.full((4, 3, 128, 128), 0.5)
    y = gaussian_noise(x, 4.0, generator=torch.Generator().manual_seed(3))
    assert abs((y - x).std().item() - 4 / 255) < 0.02 * 4 / 255
    assert abs((y - x).mean().item()) < 1e-4
    torch.testing.assert_close(gaussian_noise(x, 4.0, generator=torch.Generator().manual_seed(3)), y, atol=0, rtol=0)
    assert not torch.equal(gaussian_noise(x, 4.0, generator=torch.Generator().manual_seed(4)), y)


def test_noise_per_sample_sigma_scales_the_same_draw():
    x = torch.full((3, 3, 16, 16), 0.5)
    sigma = torch.tensor([0.0, 2.0, 8.0])
    y = gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(1))
    unit = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y, (x + unit * sigma.view(-1, 1, 1, 1) / 255).clamp(0, 1))


def test_blur_of_a_constant_image_is_constant():
    x = torch.full((2, 3, 20, 24), 0.3)
    torch.testing.assert_close(gaussian_blur(x, 3.0), x)
    torch.testing.assert_close(gaussian_blur(x, 50.0), x)  # kernel capped by the image size


def test_blur_lowers_the_variance_monotonically():
    x = images(1, 64, 64)
    variances = [gaussian_blur(x, r).var().item() for r in OPERATIONS["blur"].sweep]
    assert all(a > b for a, b in pairwise(variances))


def test_rotation_by_90_degrees_is_rot90_counter_clockwise():
    x = images(2, 33, 33)
    torch.testing.assert_close(rotate(x, 90.0)[..., 2:-2, 2:-2], torch.rot90(x, 1, dims=(2, 3))[..., 2:-2, 2:-2], atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(x, -90.0)[..., 2:-2, 2:-2], torch.rot90(x, -1, dims=(2, 3))[..., 2:-2, 2:-2], atol=1e-5, rtol=0)


def test_rotation_reflects_the_border_instead_of_blackening_corners():
    x = torch.full((1, 3, 32, 32), 0.8)
    torch.testing.assert_close(rotate(x, 30.0), x)


@pytest.mark.parametrize(
    ("name", "strengths"),
    [
        ("gamma", [0.5, 1.0, 2.0, 0.7]),
        ("blur", [0.0, 0.4, 1.3, 5.0]),
        ("rotate", [-30.0, 0.0, 12.5, 90.0]),
        ("rescale", [0.3, 0.77, 1.0, 2.0]),
        ("upscale", [1.0, 1.1, 1.5, 3.0]),
        ("updown", [1.0, 1.3, 2.0, 4.0]),
        ("jpeg", [100.0, 90.0, 50.0, 10.0]),
    ],
)
def test_per_sample_strengths_equal_one_sample_at_a_time(name, strengths):
    x = images(4, 32, 40)
    batched = apply_operation(name, x, torch.tensor(strengths), keep_size=True)
    alone = torch.cat([apply_operation(name, x[i : i + 1], s, keep_size=True) for i, s in enumerate(strengths)])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradients_reach_the_input(name):
    x = (images(2, 24, 24) * 0.9 + 0.05).requires_grad_()
    strength = {"gamma": 1.3, "noise": 3.0, "blur": 1.5, "rotate": 20.0, "rescale": 0.7, "upscale": 1.5, "updown": 2.0}[name]
    y = apply_operation(name, x, strength, generator=torch.Generator().manual_seed(0), keep_size=True)
    (y * torch.linspace(0, 1, y.numel()).view_as(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert OPERATIONS[name].differentiable


def test_jpeg_quality_orders_the_error():
    x = photo_like()
    error = {q: (jpeg(x, q) - x).abs().mean().item() * 255 for q in (100, 90, 10)}
    assert error[100] < 2
    assert error[100] < error[90] < error[10] and error[10] > 5
    assert not OPERATIONS["jpeg"].differentiable


@pytest.mark.parametrize(
    ("name", "strength", "match"),
    [
        ("gamma", 0.0, "> 0"),
        ("gamma", -1.0, "> 0"),
        ("noise", -1.0, ">= 0"),
        ("blur", -0.5, ">= 0"),
        ("rotate", float("nan"), "finite"),
        ("rescale", 0.0, "> 0"),
        ("upscale", 0.5, ">= 1"),
        ("updown", 0.9, ">= 1"),
        ("jpeg", 0.0, "1 to 100"),
        ("jpeg", 101.0, "1 to 100"),
        ("jpeg", 80.5, "whole"),
        ("blur", torch.tensor([1.0, 2.0, 3.0]), "shape"),
        ("blur", "strong", "number"),
    ],
)
def test_bad_strengths_raise(name, strength, match):
    with pytest.raises(CimgenError, match=match):
        apply_operation(name, images(2), strength)


def test_bad_names_and_images_raise():
    with pytest.raises(CimgenError, match="choose from gamma, noise"):
        apply_operation("sharpen", images(), 1.0)
    with pytest.raises(CimgenError, match=r"\[0, 1\]"):
        gamma(images() * 2 - 1, 1.0)
    with pytest.raises(CimgenError, match="N x C x H x W"):
        gamma(images()[0], 1.0)
    with pytest.raises(CimgenError, match="3-channel"):
        jpeg(images()[:, :1], 90)


# ----------------------------------------------------------------------------- BaRT


def changed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).flatten(1).abs().amax(dim=1) > 0


def test_bart_with_probability_0_is_the_identity():
    x = images(16)
    assert torch.equal(bart(x, BartConfig(probability=0.0), torch.Generator().manual_seed(0)), x)


def test_bart_with_probability_1_changes_every_sample():
    x = images(48, 32, 32)
    # Radii below ~0.2 px change no float32 pixel; the range starts above them so every draw must show.
    cfg = BartConfig(probability=1.0, blur_range=(0.5, 5.0))
    y = bart(x, cfg, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert changed(x, y).all()
    assert y.min() >= 0 and y.max() <= 1


def test_bart_changes_about_half_the_samples():
    x = images(400, 16, 16)
    y = bart(x, BartConfig(blur_range=(0.5, 5.0)), torch.Generator().manual_seed(1))
    assert abs(changed(x, y).float().mean().item() - 0.5) < 0.08


def test_bart_is_deterministic_given_the_seed():
    x = images(32)
    a = bart(x, BART_DEFAULT, torch.Generator().manual_seed(5))
    b = bart(x, BART_DEFAULT, torch.Generator().manual_seed(5))
    c = bart(x, BART_DEFAULT, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bart_plan_draws_ops_and_strengths_in_their_ranges():
    cfg = BartConfig(probability=0.7, operations=("gamma", "rotate", "jpeg"))
    plan = draw_bart_plan(2000, cfg, torch.Generator().manual_seed(2))
    chosen = plan.operation >= 0
    assert abs(chosen.float().mean().item() - 0.7) < 0.04
    assert plan.operation.max() == 2 and (plan.strength[~chosen] == 0).all()
    for k, name in enumerate(cfg.operations):
        s = plan.strength[plan.operation == k]
        low, high = getattr(cfg, f"{name}_range")
        assert low <= s.min() and s.max() <= high
        assert abs(len(s) / chosen.sum().item() - 1 / 3) < 0.05
    assert (plan.strength[plan.operation == 2] % 1 == 0).all()  # JPEG qualities are whole


def test_bart_applies_its_plan_sample_by_sample():
    x = images(12, 24, 24)
    cfg = BartConfig(probability=0.8, operations=("gamma", "blur", "updown", "jpeg"))
    plan = draw_bart_plan(12, cfg, torch.Generator().manual_seed(3))
    y = apply_bart_plan(x, plan, cfg)
    for i in range(12):
        k = plan.operation[i].item()
        expected = x[i : i + 1] if k < 0 else apply_operation(cfg.operations[k], x[i : i + 1], plan.strength[i].item(), keep_size=True)
        torch.testing.assert_close(y[i : i + 1], expected, atol=1e-5, rtol=0)


def test_bart_is_differentiable_and_the_module_only_acts_in_training():
    x = images(16, 24, 24).requires_grad_()
    bart(x, BartConfig(probability=1.0), torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    layer = Bart(BartConfig(probability=1.0), torch.Generator().manual_seed(0))
    assert not torch.equal(layer(x.detach()), x.detach())
    assert torch.equal(layer.eval()(x.detach()), x.detach())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"probability": 1.5}, "bart.probability"),
        ({"probability": -0.1}, "bart.probability"),
        ({"operations": ()}, "bart.operations"),
        ({"operations": ("gamma", "sharpen")}, "unknown post-processing 'sharpen'"),
        ({"gamma_range": (1.5, 0.7)}, "bart.gamma_range has low"),
        ({"gamma_range": (0.0, 1.5)}, "bart.gamma_range must lie"),
        ({"noise_range": (-1.0, 2.0)}, "bart.noise_range"),
        ({"upscale_range": (0.5, 2.0)}, "bart.upscale_range"),
        ({"jpeg_range": (50.0, 120.0)}, "bart.jpeg_range"),
        ({"blur_range": (1.0,)}, "bart.blur_range must be two"),
    ],
)
def test_check_bart_config_names_the_field(changes, match):
    with pytest.raises(CimgenError, match=match):
        check_bart_config(dataclasses.replace(BART_DEFAULT, **changes))


def test_default_bart_is_the_papers():
    check_bart_config(BART_DEFAULT)
    assert BART_DEFAULT.probability == 0.5
    assert set(BART_DEFAULT.operations) == {"gamma", "noise", "blur", "upscale", "updown", "rotate"}
    assert BART_DEFAULT.blur_range == (0.1, 5.0)
