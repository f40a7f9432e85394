"""Post-processings that attack a patch detector (the CIMGEN robustness study) and BaRT, a random barrage of them for training.

The CIMGEN paper (arXiv 2401.13006) tests its pristine-vs-generated patch detector against rotation,
scaling, gamma correction, Gaussian blur, additive Gaussian noise and up/down scaling, and hardens it
with BaRT (Raff et al., "Barrage of Random Transforms for Adversarially Robust Defense", CVPR 2019):
with probability 0.5 each training sample gets one random post-processing. JPEG is added because it
is the first thing anyone asks a forensic detector about.

Images are N x C x H x W float tensors in [0, 1] (convert from the models' [-1, 1] with ``(x + 1) / 2``).
Every operation returns values clamped to [0, 1] and takes its strength either as one number for the
whole batch or as an (N,) tensor with one strength per sample. All but JPEG are differentiable with
respect to the image and run on any device; the random one (noise) is reproducible from a
``torch.Generator``, which must live on the images' device.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import filter2d_separable
from kornia.geometry.transform import rotate as kornia_rotate
from torch import Tensor, nn

from cimgen.errors import CimgenError

Strength = float | Tensor
"""One strength for the whole batch, or an (N,) tensor with one per sample."""

BLUR_TRUNCATE = 3.0
"""Gaussian blur kernels reach this many sigmas each side (2 * ceil(3 sigma) + 1 taps); the rest of the mass is 0.3%."""


# ----------------------------------------------------------------------------- checks


def _check_images(x: Tensor, what: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or not x.is_floating_point():
        got = f"a {x.ndim}-d {x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise CimgenError(f"{what} needs an N x C x H x W float tensor, got {got}")
    if x.numel() == 0:
        return
    lo, hi = torch.aminmax(x.detach())
    if not (lo >= 0 and hi <= 1):  # written this way so that NaN fails too
        raise CimgenError(f"{what} needs values in [0, 1] (convert from [-1, 1] with (x + 1) / 2), got {lo.item():.4g} to {hi.item():.4g}")


def _domain_text(op: Operation) -> str:
    if op.whole:
        return f"a whole number from {op.minimum:g} to {op.maximum:g}"
    if op.minimum == -math.inf:
        return "a finite number"
    return f"{'>' if op.minimum_excluded else '>='} {op.minimum:g}"


def _valid(op: Operation, s: Tensor, *, whole: bool = True) -> Tensor:
    ok = torch.isfinite(s) & (s <= op.maximum)
    ok &= s > op.minimum if op.minimum_excluded else s >= op.minimum
    if whole and op.whole:
        ok &= s == s.round()
    return ok


def _strengths(op: Operation, strength: Strength, x: Tensor) -> Tensor:
    """The strength as an (N,) tensor on the images' device and dtype, checked against the operation's domain."""
    n = x.shape[0]
    if isinstance(strength, Tensor):
        s = strength.to(device=x.device, dtype=x.dtype)  # keeps the graph, should a caller learn a strength
        if s.ndim == 0:
            s = s.expand(n)
        elif s.shape != (n,):
            raise CimgenError(f"{op.name}'s strength must be a number or a tensor of shape ({n},), got the shape {tuple(s.shape)}")
    elif isinstance(strength, numbers.Real) and not isinstance(strength, bool):
        s = torch.full((n,), float(strength), device=x.device, dtype=x.dtype)
    else:
        raise CimgenError(f"{op.name}'s strength must be a number or a tensor of shape ({n},), got {type(strength).__name__}")
    bad = ~_valid(op, s.detach())
    if bad.any():
        raise CimgenError(f"{op.name} needs a strength {_domain_text(op)} ({op.strength}), got {s.detach()[bad][0].item():g}")
    return s


def _column(s: Tensor) -> Tensor:
    return s.view(-1, 1, 1, 1)


# ----------------------------------------------------------------------------- photometric


def gamma(x: Tensor, g: Strength) -> Tensor:
    """Gamma correction ``x ** g``: ``g < 1`` brightens, ``g > 1`` darkens, 1 is the identity.

    Args:
        x: N x C x H x W images in [0, 1].
        g: exponent, > 0.

    Returns:
        The corrected images. The gradient at a black pixel is infinite for ``g < 1``, as the curve's slope is.
    """
    _check_images(x, "gamma")
    return (x ** _column(_strengths(OPERATIONS["gamma"], g, x))).clamp(0, 1)


def gaussian_noise(x: Tensor, sigma: Strength, *, generator: torch.Generator | None = None) -> Tensor:
    """Additive white Gaussian noise, ``x + N(0, (sigma / 255)^2)`` per pixel and channel, clamped.

    Args:
        x: N x C x H x W images in [0, 1].
        sigma: standard deviation in 8-bit levels, >= 0.
        generator: source of the noise (on ``x``'s device); the global one when None.

    Returns:
        The noisy images.
    """
    _check_images(x, "gaussian_noise")
    s = _strengths(OPERATIONS["noise"], sigma, x)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + noise * _column(s / 255)).clamp(0, 1)


# ----------------------------------------------------------------------------- blur and rotation


def gaussian_blur(x: Tensor, radius: Strength) -> Tensor:
    """Gaussian blur with PIL's ``GaussianBlur(radius)`` convention: the radius is the standard deviation in pixels.

    The kernel has ``2 * ceil(3 * radius) + 1`` taps, fewer where the image is too small for them
    (a reflected border needs the reach below the side), and the border is reflected. Per-sample
    radii get per-sample kernels, zero-padded to the widest, so a batch blurs each sample exactly as
    it would be blurred alone.

    Args:
        x: N x C x H x W images in [0, 1].
        radius: standard deviation in pixels, >= 0; 0 is the identity.

    Returns:
        The blurred images.
    """
    _check_images(x, "gaussian_blur")
    sigma = _strengths(OPERATIONS["blur"], radius, x)
    h, w = x.shape[-2:]
    reach = torch.ceil(BLUR_TRUNCATE * sigma.detach()).clamp(max=min(h, w) - 1)
    widest = int(reach.max().item()) if x.shape[0] else 0
    if widest == 0:
        return x.clamp(0, 1)
    taps = torch.arange(-widest, widest + 1, device=x.device, dtype=x.dtype)
    # The floor keeps radius 0 finite: its kernel is then the single centre tap.
    kernel = torch.exp(-(taps**2) / (2 * sigma.clamp_min(1e-6)[:, None] ** 2)) * (taps.abs() <= reach[:, None])
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    return filter2d_separable(x, kernel, kernel, border_type="reflect").clamp(0, 1)


def rotate(x: Tensor, degrees: Strength) -> Tensor:
    """Rotation about the image centre, same size, bilinear, with the border reflected so no corner turns black.

    Args:
        x: N x C x H x W images in [0, 1].
        degrees: angle in degrees; positive turns the picture counter-clockwise as displayed (y pointing
            down), so 90 equals ``torch.rot90(x, 1, dims=(2, 3))`` on a square image.

    Returns:
        The rotated images.
    """
    _check_images(x, "rotate")
    angle = _strengths(OPERATIONS["rotate"], degrees, x)
    turned = kornia_rotate(x, angle, mode="bilinear", padding_mode="reflection", align_corners=True).clamp(0, 1)
    # The sampling grid's normalisation round trip moves pixels by ~1e-6 px even at 0 degrees; keep 0 exact.
    return torch.where(_column(angle == 0), x, turned)


# ----------------------------------------------------------------------------- resampling
#
# Scaling, upscaling and up/down scaling are separable linear maps: along each axis, bilinear
# resizing (antialiased when it shrinks), then a centre crop, a reflected padding or a second resize.
# A batch with one factor runs them directly; per-sample factors would need a different intermediate
# size per sample, so each axis's whole chain becomes a small matrix (built once per size by running
# the same chain on unit impulses) and the batch is resampled by one batched matrix product.


def _scaled(n: int, factor: float) -> int:
    return max(1, math.floor(n * factor + 0.5))


def _fit_index(m: int, n: int, device: torch.device | None = None) -> Tensor:
    """Indices of ``n`` positions centred on an axis of length ``m``: a centre crop, or a reflection past both ends."""
    offset = (m - n) // 2 if m >= n else -((n - m) // 2)
    i = torch.arange(n, device=device) + offset
    if m == 1:
        return torch.zeros_like(i)
    # Reflection without repeating the edge (torch's "reflect"), folded as often as the padding needs.
    period = 2 * (m - 1)
    i = i.remainder(period)
    return torch.where(i >= m, period - i, i)


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    shrinks = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinks)


def _resample(x: Tensor, middle: tuple[int, int], out: tuple[int, int], back: bool) -> Tensor:
    """Resize to ``middle``, then resize (``back``) or centre-crop / reflect-pad to ``out``."""
    y = _resize(x, middle)
    if back:
        return _resize(y, out)
    if out == middle:
        return y
    return y.index_select(-2, _fit_index(middle[0], out[0], x.device)).index_select(-1, _fit_index(middle[1], out[1], x.device))


@functools.lru_cache(maxsize=4096)
def _axis_matrix(n: int, middle: int, out: int, back: bool) -> Tensor:
    """out x n float64 matrix of ``_resample`` along one axis of length ``n``."""
    # Column j of the identity is the impulse at j; resampling only the rows gives the matrix itself.
    # (A batch of n x 1 impulse images would be smaller, but antialiased resizing mishandles width-1 images.)
    impulses = torch.eye(n, dtype=torch.float64)[None, None]
    return _resample(impulses, (middle, n), (out, n), back)[0, 0].contiguous()


def _resample_batch(x: Tensor, factor: Tensor, *, back: bool, keep_size: bool, what: str) -> Tensor:
    h, w = x.shape[-2:]
    factors = factor.detach().tolist()
    if len(set(factors)) <= 1:
        f = factors[0] if factors else 1.0
        middle = (_scaled(h, f), _scaled(w, f))
        return _resample(x, middle, (h, w) if keep_size else middle, back).clamp(0, 1)
    if not keep_size:
        raise CimgenError(f"{what} with per-sample factors needs keep_size=True, as the samples' sizes would differ")
    to = {"device": x.device, "dtype": x.dtype}
    rows = torch.stack([_axis_matrix(h, _scaled(h, f), h, back) for f in factors]).to(**to)
    cols = torch.stack([_axis_matrix(w, _scaled(w, f), w, back) for f in factors]).to(**to)
    return torch.einsum("bih,bchw,bjw->bcij", rows, x, cols).clamp(0, 1)


def rescale(x: Tensor, factor: Strength, *, keep_size: bool = False) -> Tensor:
    """Scaling: bilinear resize by ``factor`` (antialiased when shrinking) to ``round(H * factor)`` x ``round(W * factor)``.

    Args:
        x: N x C x H x W images in [0, 1].
        factor: scale factor, > 0; 1 is the identity.
        keep_size: centre-crop (enlarged) or reflect-pad (shrunk) the result back to H x W, so fixed-size
            patches stay fixed-size; per-sample factors need it.

    Returns:
        The scaled images.
    """
    _check_images(x, "rescale")
    s = _strengths(OPERATIONS["rescale"], factor, x)
    return _resample_batch(x, s, back=False, keep_size=keep_size, what="rescale")


def upscale(x: Tensor, factor: Strength) -> Tensor:
    """Upscaling: bilinear resize up by ``factor``, then the centre H x W crop (a patch of an enlarged image).

    Args:
        x: N x C x H x W images in [0, 1].
        factor: scale factor, >= 1; 1 is the identity.

    Returns:
        The upscaled crops, H x W.
    """
    _check_images(x, "upscale")
    s = _strengths(OPERATIONS["upscale"], factor, x)
    return _resample_batch(x, s, back=False, keep_size=True, what="upscale")


def up_down(x: Tensor, factor: Strength) -> Tensor:
    """Up/down scaling: bilinear resize up by ``factor``, then antialiased back to H x W; only the resampling trace is left.

    Args:
        x: N x C x H x W images in [0, 1].
        factor: scale factor of the intermediate image, >= 1; 1 is the identity.

    Returns:
        The resampled images, H x W.
    """
    _check_images(x, "up_down")
    s = _strengths(OPERATIONS["updown"], factor, x)
    return _resample_batch(x, s, back=True, keep_size=True, what="up_down")


# ----------------------------------------------------------------------------- JPEG


def jpeg(x: Tensor, quality: Strength) -> Tensor:
    """JPEG compression and decompression of each image with OpenCV, at 8 bits.

    OpenCV's libjpeg defaults apply, 4:2:0 chroma subsampling included, as in most JPEGs in the
    wild: colour detail finer than two pixels is lost even at quality 100 (a photograph loses
    under a level on average; random colour noise loses tens). Not differentiable: the result is
    computed on uint8 copies and carries no gradient.

    Args:
        x: N x 3 x H x W RGB images in [0, 1].
        quality: JPEG quality, a whole number from 1 to 100 (100 is close to, not equal to, the input).

    Returns:
        The decoded images, on ``x``'s device and dtype.
    """
    _check_images(x, "jpeg")
    if x.shape[1] != 3:
        raise CimgenError(f"jpeg needs 3-channel RGB images, got {x.shape[1]} channels")
    q = _strengths(OPERATIONS["jpeg"], quality, x).detach().tolist()
    pixels = (x.detach() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(pixels)
    for i, (rgb, qi) in enumerate(zip(pixels, q)):
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(qi)])
        if not ok:
            raise CimgenError(f"OpenCV could not JPEG-encode a {rgb.shape[1]}x{rgb.shape[0]} image")
        out[i] = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return torch.from_numpy(out).to(device=x.device).permute(0, 3, 1, 2).to(x.dtype) / 255


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Operation:
    """One post-processing: what it does, what its strength means, and its defaults for BaRT and for sweeps."""

    name: str
    """Registry key."""
    description: str
    """What it does, in one line."""
    strength: str
    """What the strength means, with its unit."""
    identity: float | None
    """The strength that returns the input unchanged; None where none does (JPEG)."""
    bart_range: tuple[float, float]
    """(low, high) BaRT draws the strength from, uniformly, when the operation is chosen."""
    sweep: tuple[float, ...]
    """Strengths of a robustness sweep, from mild to harsh around the identity."""
    minimum: float
    """Smallest valid strength (-inf when unbounded)."""
    minimum_excluded: bool = False
    """Whether ``minimum`` itself is invalid (an exponent or a scale factor of 0)."""
    maximum: float = math.inf
    """Largest valid strength."""
    whole: bool = False
    """Whether the strength must be a whole number."""
    differentiable: bool = True
    """Whether gradients flow from the output back to the input."""
    apply: Callable[[Tensor, Tensor, torch.Generator | None, bool], Tensor] = field(default=None, repr=False, compare=False)
    """(x, strength, generator, keep_size) -> x'; ``apply_operation`` is the checked way to call it."""


OPERATIONS: dict[str, Operation] = {
    "gamma": Operation(
        name="gamma",
        description="gamma correction x ** g",
        strength="the exponent g, unitless",
        identity=1.0,
        bart_range=(0.7, 1.5),
        sweep=(0.5, 0.7, 0.9, 1.0, 1.2, 1.5, 2.0),
        minimum=0.0,
        minimum_excluded=True,
        apply=lambda x, s, generator, keep_size: gamma(x, s),
    ),
    "noise": Operation(
        name="noise",
        description="additive white Gaussian noise",
        strength="standard deviation in 8-bit levels",
        identity=0.0,
        bart_range=(0.5, 5.0),
        sweep=(0.0, 1.0, 2.0, 4.0, 8.0, 16.0),
        minimum=0.0,
        apply=lambda x, s, generator, keep_size: gaussian_noise(x, s, generator=generator),
    ),
    "blur": Operation(
        name="blur",
        description="Gaussian blur, reflected border",
        strength="radius (standard deviation) in pixels",
        identity=0.0,
        bart_range=(0.1, 5.0),  # the CIMGEN paper's BaRT range
        sweep=(0.0, 0.5, 1.0, 2.0, 3.0, 5.0),
        minimum=0.0,
        apply=lambda x, s, generator, keep_size: gaussian_blur(x, s),
    ),
    "rotate": Operation(
        name="rotate",
        description="rotation about the centre, reflected border",
        strength="angle in degrees, positive counter-clockwise",
        identity=0.0,
        bart_range=(-30.0, 30.0),  # "either way"
        sweep=(-45.0, -30.0, -15.0, -5.0, 0.0, 5.0, 15.0, 30.0, 45.0),
        minimum=-math.inf,
        apply=lambda x, s, generator, keep_size: rotate(x, s),
    ),
    "rescale": Operation(
        name="rescale",
        description="bilinear scaling (antialiased down), size changes unless keep_size",
        strength="scale factor",
        identity=1.0,
        bart_range=(0.5, 1.5),  # not among the paper's BaRT operations; used if a config names it
        sweep=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
        minimum=0.0,
        minimum_excluded=True,
        apply=lambda x, s, generator, keep_size: rescale(x, s, keep_size=keep_size),
    ),
    "upscale": Operation(
        name="upscale",
        description="bilinear upscaling, then the centre crop of the original size",
        strength="scale factor",
        identity=1.0,
        bart_range=(1.1, 2.0),
        sweep=(1.0, 1.25, 1.5, 2.0, 3.0),
        minimum=1.0,
        apply=lambda x, s, generator, keep_size: upscale(x, s),
    ),
    "updown": Operation(
        name="updown",
        description="bilinear upscaling, then antialiased downscaling back to the original size",
        strength="scale factor of the intermediate image",
        identity=1.0,
        bart_range=(1.1, 3.0),
        sweep=(1.0, 1.5, 2.0, 3.0, 4.0),
        minimum=1.0,
        apply=lambda x, s, generator, keep_size: up_down(x, s),
    ),
    "jpeg": Operation(
        name="jpeg",
        description="JPEG compression with OpenCV (not differentiable)",
        strength="JPEG quality",
        identity=None,
        bart_range=(50.0, 95.0),  # not among the paper's BaRT operations; drawn qualities are rounded
        sweep=(100.0, 95.0, 90.0, 80.0, 70.0, 50.0),
        minimum=1.0,
        maximum=100.0,
        whole=True,
        differentiable=False,
        apply=lambda x, s, generator, keep_size: jpeg(x, s),
    ),
}


def apply_operation(
    name: str, x: Tensor, strength: Strength, *, generator: torch.Generator | None = None, keep_size: bool = False
) -> Tensor:
    """Apply the post-processing registered as ``name``.

    Args:
        name: a key of ``OPERATIONS``.
        x: N x C x H x W images in [0, 1].
        strength: one number, or an (N,) tensor of per-sample strengths, in the operation's domain.
        generator: source of randomness for random operations (noise), on ``x``'s device.
        keep_size: make ``rescale`` centre-crop or reflect-pad back to H x W; the others keep the size anyway.

    Returns:
        The post-processed images, clamped to [0, 1].
    """
    if name not in OPERATIONS:
        raise CimgenError(f"unknown post-processing '{name}'; choose from {', '.join(OPERATIONS)}")
    return OPERATIONS[name].apply(x, strength, generator, keep_size)


# ----------------------------------------------------------------------------- BaRT


@dataclass(frozen=True)
class BartConfig:
    """BaRT as the CIMGEN paper trains with it: with some probability, one random post-processing per sample."""

    probability: float = 0.5
    """Chance that a sample is post-processed at all (0.5 in the paper)."""
    operations: tuple[str, ...] = ("gamma", "noise", "blur", "upscale", "updown", "rotate")
    """Keys of ``OPERATIONS`` to pick one from, uniformly (a repeated key is picked more often); the paper's six by default."""
    gamma_range: tuple[float, float] = OPERATIONS["gamma"].bart_range
    """(low, high) of the gamma exponent."""
    noise_range: tuple[float, float] = OPERATIONS["noise"].bart_range
    """(low, high) of the noise's standard deviation, 8-bit levels."""
    blur_range: tuple[float, float] = OPERATIONS["blur"].bart_range
    """(low, high) of the blur radius (standard deviation), pixels; the paper's 0.1 to 5.0."""
    rotate_range: tuple[float, float] = OPERATIONS["rotate"].bart_range
    """(low, high) of the rotation, degrees; a range around 0 rotates either way."""
    rescale_range: tuple[float, float] = OPERATIONS["rescale"].bart_range
    """(low, high) of the scale factor (the result is cropped or padded back to the patch size)."""
    upscale_range: tuple[float, float] = OPERATIONS["upscale"].bart_range
    """(low, high) of the upscaling factor before the centre crop."""
    updown_range: tuple[float, float] = OPERATIONS["updown"].bart_range
    """(low, high) of the up/down scaling's intermediate factor."""
    jpeg_range: tuple[float, float] = OPERATIONS["jpeg"].bart_range
    """(low, high) of the JPEG quality (drawn values are rounded)."""


BART_DEFAULT = BartConfig()
"""The CIMGEN paper's BaRT."""


def _range(cfg: BartConfig, name: str) -> tuple[float, float]:
    return getattr(cfg, f"{name}_range")


def check_bart_config(cfg: BartConfig) -> None:
    """Raise ``CimgenError`` naming the field when a BaRT config cannot be used."""
    if not isinstance(cfg, BartConfig):
        raise CimgenError(f"BaRT needs a BartConfig, got {type(cfg).__name__}")
    p = cfg.probability
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise CimgenError(f"bart.probability must be a number from 0 to 1, got {p!r}")
    if isinstance(cfg.operations, str) or not isinstance(cfg.operations, (tuple, list)) or not cfg.operations:
        raise CimgenError(f"bart.operations must be a non-empty list of post-processings from {', '.join(OPERATIONS)}")
    for name in cfg.operations:
        if name not in OPERATIONS:
            raise CimgenError(f"bart.operations names an unknown post-processing '{name}'; choose from {', '.join(OPERATIONS)}")
    for f in fields(BartConfig):
        if not f.name.endswith("_range"):
            continue
        op = OPERATIONS[f.name.removesuffix("_range")]
        r = getattr(cfg, f.name)
        if (
            not isinstance(r, (tuple, list))
            or len(r) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in r)
        ):
            raise CimgenError(f"bart.{f.name} must be two finite numbers (low, high), got {r!r}")
        low, high = r
        if low > high:
            raise CimgenError(f"bart.{f.name} has low {low:g} above high {high:g}")
        # Whole-number strengths are rounded when drawn, so their range only has to lie within the bounds.
        if not bool(_valid(op, torch.tensor([float(low), float(high)], dtype=torch.float64), whole=False).all()):
            raise CimgenError(f"bart.{f.name} must lie in {op.name}'s domain: {_domain_text(op)} ({op.strength}), got ({low:g}, {high:g})")


@dataclass(frozen=True)
class BartPlan:
    """What BaRT does to each sample of a batch, drawn before any pixel is touched (so it can be logged or replayed)."""

    operation: Tensor
    """(N,) long: index into the config's ``operations`` per sample; -1 leaves the sample unchanged."""
    strength: Tensor
    """(N,) float64: the strength of each sample's operation (0 where the sample is unchanged)."""


def draw_bart_plan(n: int, cfg: BartConfig = BART_DEFAULT, generator: torch.Generator | None = None, *, device=None) -> BartPlan:
    """Draw, for ``n`` samples, whether each is post-processed, by which operation and how strongly.

    Args:
        n: number of samples.
        cfg: the BaRT configuration.
        generator: source of the draws (on ``device``); the global one when None.
        device: where the plan's tensors live.

    Returns:
        The plan.
    """
    check_bart_config(cfg)
    chosen = torch.rand(n, generator=generator, device=device) < cfg.probability
    which = torch.randint(len(cfg.operations), (n,), generator=generator, device=device)
    u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    ranges = torch.tensor([_range(cfg, name) for name in cfg.operations], dtype=torch.float64, device=device)
    low, high = ranges[which, 0], ranges[which, 1]
    strength = low + (high - low) * u
    whole = torch.tensor([OPERATIONS[name].whole for name in cfg.operations], device=device)[which]
    strength = torch.where(whole, strength.round(), strength)
    return BartPlan(operation=torch.where(chosen, which, -1), strength=torch.where(chosen, strength, 0.0))


def apply_bart_plan(x: Tensor, plan: BartPlan, cfg: BartConfig = BART_DEFAULT, generator: torch.Generator | None = None) -> Tensor:
    """Apply a drawn plan: each operation runs once, on the samples that drew it, with their strengths.

    Args:
        x: N x C x H x W images in [0, 1].
        plan: from ``draw_bart_plan`` with the same ``cfg`` and N.
        cfg: the BaRT configuration the plan was drawn from.
        generator: source of the random operations' randomness (noise), on ``x``'s device.

    Returns:
        The post-processed images, same shape as ``x``.
    """
    _check_images(x, "BaRT")
    if plan.operation.shape != (x.shape[0],):
        raise CimgenError(f"the BaRT plan covers {plan.operation.shape[0]} samples but the batch has {x.shape[0]}")
    operation = plan.operation.to(x.device)
    out = x
    for k, name in enumerate(cfg.operations):
        index = torch.nonzero(operation == k).flatten()
        if index.numel() == 0:
            continue
        strength = plan.strength.to(x.device)[index].to(x.dtype)
        done = apply_operation(name, x[index], strength, generator=generator, keep_size=True)
        out = out.index_copy(0, index, done.to(x.dtype))
    return out


def bart(x: Tensor, cfg: BartConfig = BART_DEFAULT, generator: torch.Generator | None = None) -> Tensor:
    """BaRT: each sample independently, with probability ``cfg.probability``, gets one random post-processing.

    The operation is uniform over ``cfg.operations`` and its strength uniform in the operation's range.
    Samples are grouped by operation, so each operation runs once per batch.

    Args:
        x: N x C x H x W images in [0, 1].
        cfg: the BaRT configuration.
        generator: source of every draw (on ``x``'s device); the same seed gives the same result.

    Returns:
        The post-processed images, same shape as ``x``; differentiable unless JPEG is among the operations.
    """
    _check_images(x, "BaRT")
    plan = draw_bart_plan(x.shape[0], cfg, generator, device=x.device)
    return apply_bart_plan(x, plan, cfg, generator)


class Bart(nn.Module):
    """BaRT as a layer: post-processes batches in training mode, passes them through in eval mode."""

    def __init__(self, cfg: BartConfig = BART_DEFAULT, generator: torch.Generator | None = None):
        super().__init__()
        check_bart_config(cfg)
        self.cfg = cfg
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return bart(x, self.cfg, self.generator) if self.training else x
