"""Resizing images to the Inception network's 299x299 input: the policies FID results depend on.

FID changes with the resampling filter (Parmar, Zhang and Zhu, "On Aliased Resizing and Surprising
Subtleties in GAN Evaluation", CVPR 2022), so the policy is a named choice recorded with every result:

* ``tf1-bilinear`` (default): bilinear interpolation as TensorFlow 1.x ``resize_bilinear`` with
  ``align_corners=False`` computes it, which is what the original TF FID code fed its network and
  what torch-fidelity and StyleGAN2-ADA reproduce. Output pixel ``i`` samples the input at
  ``i * in/out`` (no half-pixel offset), so the image is shifted by up to half an input pixel and the
  last rows repeat the edge. No antialiasing.
* ``clean``: the "clean-fid" choice of Parmar et al.: PIL's antialiased bicubic filter applied to
  each channel as float32, then clipped to [0, 255] (kept float, not re-quantised).

Both take uint8 N x H x W x 3 arrays and return float32 N x 3 x 299 x 299 tensors in [0, 255].
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from cimgen.errors import CimgenError

TF1_BILINEAR = "tf1-bilinear"
CLEAN = "clean"
DEFAULT_POLICY = TF1_BILINEAR


def _tf1_weights(in_size: int, out_size: int) -> torch.Tensor:
    """out x in matrix of TF1 bilinear weights (align_corners=False, no half-pixel centres)."""
    scale = in_size / out_size
    src = torch.arange(out_size, dtype=torch.float64) * scale
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=in_size - 1)
    frac = src - lo
    w = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    w[rows, lo] += 1 - frac
    w[rows, hi] += frac
    return w.float()


def resize_tf1_bilinear(images: np.ndarray, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False) of N x H x W x 3 uint8 images to ``size`` x ``size``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x.contiguous()
    wy, wx = _tf1_weights(h, size), _tf1_weights(w, size)
    # Separable: rows then columns, each a small matrix product.
    return torch.matmul(torch.matmul(wy, x), wx.T).contiguous()


def resize_clean(images: np.ndarray, size: int) -> torch.Tensor:
    """Antialiased bicubic (PIL, per channel, float32) of N x H x W x 3 uint8 images to ``size`` x ``size``."""
    out = np.empty((images.shape[0], 3, size, size), dtype=np.float32)
    for n, img in enumerate(images):
        for c in range(3):
            channel = Image.fromarray(img[:, :, c].astype(np.float32))
            out[n, c] = np.asarray(channel.resize((size, size), resample=Image.Resampling.BICUBIC))
    return torch.from_numpy(np.clip(out, 0, 255))


RESIZE_POLICIES = {TF1_BILINEAR: resize_tf1_bilinear, CLEAN: resize_clean}


def resize_for_inception(images: np.ndarray, *, policy: str = DEFAULT_POLICY, size: int = 299) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x size x size float32 in [0, 255], by the named policy."""
    if policy not in RESIZE_POLICIES:
        raise CimgenError(f"unknown resize policy '{policy}'; choose one of {', '.join(RESIZE_POLICIES)}")
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise CimgenError(f"resizing expects N x H x W x 3 uint8 images, got {images.dtype} {images.shape}")
    return RESIZE_POLICIES[policy](images, size)
