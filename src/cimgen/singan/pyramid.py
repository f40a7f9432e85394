"""The image pyramid: the size of every scale (SinGAN's and ConSinGAN's rules) and the resampling between scales."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cimgen.errors import CimgenError
from cimgen.singan.config import SinGANConfig


def finest_size(height: int, width: int, cfg: SinGANConfig) -> tuple[int, int]:
    """The finest scale's size: the image scaled down so its longer side is at most ``max_size`` (never up)."""
    s = min(cfg.max_size / max(height, width), 1.0)
    return (max(1, math.ceil(height * s - 1e-9)), max(1, math.ceil(width * s - 1e-9)))


def pyramid_sizes(height: int, width: int, cfg: SinGANConfig) -> list[tuple[int, int]]:
    """(height, width) of every scale, coarsest first, for an image of ``height`` x ``width``.

    The finest scale is the image at most ``max_size`` on its longer side and the coarsest has
    ``min_size`` on its shorter side. With ``num_scales`` 0 the count follows SinGAN's
    ``adjust_scales2image`` (from ``scale_factor`` on the image as given, then the factor recomputed to
    end exactly at ``min_size``); otherwise it is ``num_scales``. ``placement`` spaces them equally
    (``geometric``) or as ConSinGAN's ``create_reals_pyramid`` does (``consingan``).
    """
    H, W = finest_size(height, width, cfg)
    if min(H, W) < cfg.min_size:
        raise CimgenError(
            f"the image is {width}x{height}, smaller than the coarsest scale ({cfg.min_size} pixels on the shorter side); "
            "use a larger image or a smaller min_size"
        )
    if cfg.num_scales:
        stop = cfg.num_scales - 1
    else:
        count = math.ceil(math.log(cfg.min_size / min(height, width)) / math.log(cfg.scale_factor)) + 1
        to_stop = math.ceil(math.log(min(cfg.max_size, max(height, width)) / max(height, width)) / math.log(cfg.scale_factor))
        stop = max(1, count - to_stop)
    factor = (cfg.min_size / min(H, W)) ** (1.0 / stop)
    if cfg.placement == "consingan" and stop > 1:
        exponents = [(stop - 1) / math.log(stop) * math.log(stop - i) + 1 for i in range(stop)] + [0.0]
    else:
        exponents = [float(stop - i) for i in range(stop + 1)]
    sizes = [(max(1, math.ceil(H * factor**e - 1e-9)), max(1, math.ceil(W * factor**e - 1e-9))) for e in exponents]
    sizes[-1] = (H, W)
    return sizes


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resampling of an N x C x H x W tensor to ``size``, antialiased when shrinking, clamped to [-1, 1]."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False, antialias=shrink).clamp(-1, 1)


def image_pyramid(image: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """The image (1 x 3 x H x W in [-1, 1]) resampled to every size, each from the full image."""
    return [resize(image, s) for s in sizes]


def mask_pyramid(mask: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """A 1 x 1 x H x W {0, 1} mask at every size: a pixel is masked when any of the area it covers is."""
    out = []
    for s in sizes:
        m = F.adaptive_max_pool2d(mask, s) if (s[0] <= mask.shape[-2] and s[1] <= mask.shape[-1]) else F.interpolate(mask, size=s)
        out.append((m > 0).float())
    return out
