"""pix2pixHD's global generator, local enhancer and multi-scale PatchGAN discriminator (Wang et al., CVPR 2018).

Defaults follow the official NVIDIA/pix2pixHD options: ngf=64, n_downsample_global=4,
n_blocks_global=9, instance norm, reflect padding; ndf=64, n_layers_D=3, num_D=2;
for the local enhancer ngf=32, n_local_enhancers=1, n_blocks_local=3.
Code names map to the official option names as: base_channels (ngf / ndf),
num_downsamplings and num_downsamplings_global (n_downsample_global), num_blocks and
num_blocks_global (n_blocks_global), num_local_enhancers (n_local_enhancers),
num_blocks_local (n_blocks_local), num_layers (n_layers_D), num_discriminators (num_D).
Paper names: G1 is the global generator, G2 the local enhancer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cimgen.config import from_dict
from cimgen.errors import CimgenError
from cimgen.kinds import PIX2PIXHD, PIX2PIXHD_GLOBAL, PIX2PIXHD_LOCAL
from cimgen.nn.blocks import ResnetBlock, check_input, make_norm


@dataclass(frozen=True)
class GlobalGeneratorConfig:
    """Options of the global generator."""

    in_channels: int = 35
    """Input channels: label classes (one-hot), plus 1 when an instance edge map is given."""
    out_channels: int = 3
    """Output image channels."""
    base_channels: int = 64
    """Channels after the first convolution; doubled at each downsampling (ngf)."""
    num_downsamplings: int = 4
    """Stride-2 convolutions in the front end (n_downsample_global)."""
    num_blocks: int = 9
    """Residual blocks at the lowest resolution (n_blocks_global)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none."""
    padding: str = "reflect"
    """Padding mode of the residual blocks: reflect, replicate or zeros."""
    upsample: str = "transpose"
    """Back-end upsampling: ``transpose`` (pix2pixHD's 3x3 stride-2 transposed convolution, the layout of
    official weights), ``resize`` (nearest-neighbour x2, then a 3x3 convolution: no checkerboard
    artefacts, Odena et al., Distill 2016) or ``bilinear`` (bilinear x2, then a 3x3 convolution: the
    interpolation itself has no response at the lattice frequency, where nearest-neighbour's stair steps
    leave a 2-pixel ripple that memorising fine-tuning on a real photo sharpens)."""
    position_frequencies: int = 0
    """Sinusoidal position channels added to the input inside the generator: sin and cos of x and y at
    this many octaves (4 channels each), over the whole input. 0: none (a plain pix2pixHD). They let
    a generator fine-tuned on one whole image memorise what its map does not explain."""
    position_dropout: float = 0.5
    """While training, the chance that the position code is withheld (zeroed) in a random box of
    each input, so that the generator also learns to draw from the map alone; at generation the
    code is withheld inside the edited region (``withheld``), so memorisation does not paint a
    removed object back."""
    context: bool = False
    """Context conditioning (Hong et al., NeurIPS 2018; SESAME, Ntavelis et al., ECCV 2020): 4 more input
    channels carry the original image with the region to regenerate blanked out, and that region's
    mask. While training the region is random boxes (``random_regions``); at generation it is the
    edit's mask (``withheld``); without an image the whole input is the region, so the generator
    draws from the map alone. The position code, when there is one, is withheld in the same region."""
    detail_channels: int = 0
    """A learnable code for one image: this many channels at 1/``detail_scale`` of its size, fed beside the
    back end's features to the last convolution, so it carries fine detail past the bottleneck that
    neither the map nor the position code explains (what memorising fine-tuning learns into it). It is
    withheld (zeroed) where the position code is. 0: none."""
    detail_scale: int = 2
    """The detail code's resolution, as a divisor of the image's."""
    detail_smooth: bool = False
    """Low-pass the detail code, at the image's resolution, with the binomial filter [1 2 1] x [1 2 1] / 16 before it is
    used. The filter has no response at the 2-pixel period, so a code at full resolution (``detail_scale`` 1) cannot
    carry the checkerboard that a per-pixel parameter learns from a strided discriminator's gradients (on the
    Building2Sat pair, an unsmoothed full-resolution code put 26 times the photo's peak at (1/2, 1/2) cycle; docs/benchmarks.md)."""
    detail_height: int = 0
    """The (padded) height of the one image the detail code belongs to; the generator takes inputs of that size only."""
    detail_width: int = 0
    """The (padded) width of that image."""

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2**self.num_downsamplings

    @property
    def position_channels(self) -> int:
        """Channels the position code adds to the first convolution's input."""
        return 4 * self.position_frequencies

    @property
    def detail_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the detail code's tensor."""
        d = self.detail_scale
        return self.detail_channels, -(-self.detail_height // d), -(-self.detail_width // d)

    @property
    def context_channels(self) -> int:
        """Channels the context (blanked image and mask) adds to the first convolution's input."""
        return 4 if self.context else 0


UPSAMPLES = ("transpose", "resize", "bilinear")
RESIZE_MODES = {"resize": "nearest", "bilinear": "bilinear"}
"""The interpolation before the convolution of each resize-then-convolve back end."""


class ResizeConv(nn.Module):
    """x2 upsampling (nearest-neighbour for the ``resize`` back end, bilinear for ``bilinear``), reflect padding and a
    3x3 convolution. Both modes hold the same tensors (``conv.weight``, ``conv.bias``)."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "nearest"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        else:
            x = nn.functional.interpolate(x, scale_factor=2, mode=self.mode, align_corners=False)
        return self.conv(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))


def position_code(height: int, width: int, frequencies: int, *, like: torch.Tensor) -> torch.Tensor:
    """1 x 4F x H x W: sin and cos of y and x at F octaves; coordinates run over (-1, 1) across the input.

    Octave k has a period of 2/2**k in those units: the whole input at k = 0, size/2**k pixels after.
    """
    ys = (torch.arange(height, device=like.device, dtype=like.dtype) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=like.device, dtype=like.dtype) + 0.5) / width * 2 - 1
    chans = []
    for k in range(frequencies):
        f = math.pi * 2**k
        for fn in (torch.sin, torch.cos):
            chans.append(fn(f * ys)[:, None].expand(height, width))
            chans.append(fn(f * xs)[None, :].expand(height, width))
    return torch.stack(chans)[None]


class GlobalGenerator(nn.Module):
    """Conv front end, stride-2 downsamplings, residual blocks, upsampling back end (transposed or resize convs), tanh."""

    def __init__(self, config: GlobalGeneratorConfig):
        super().__init__()
        c = config
        if c.num_downsamplings < 0 or c.num_blocks < 0 or c.base_channels < 1:
            raise CimgenError("generator sizes must be non-negative and base_channels at least 1")
        if c.upsample not in UPSAMPLES:
            raise CimgenError(f"unknown upsample '{c.upsample}'; choose {', '.join(UPSAMPLES)}")
        if not 0 <= c.position_frequencies <= 16:
            raise CimgenError(f"position_frequencies is {c.position_frequencies}; choose 0 to 16")
        if not 0 <= c.position_dropout <= 1:
            raise CimgenError(f"position_dropout is {c.position_dropout}; choose 0 to 1")
        self.config = c
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.in_channels + c.position_channels + c.context_channels, c.base_channels, kernel_size=7),
            make_norm(c.norm, c.base_channels),
            nn.ReLU(True),
        ]
        ch = c.base_channels
        for _ in range(c.num_downsamplings):
            layers += [nn.Conv2d(ch, ch * 2, kernel_size=3, stride=2, padding=1), make_norm(c.norm, ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm=c.norm, padding=c.padding) for _ in range(c.num_blocks)]
        for _ in range(c.num_downsamplings):
            up = (
                ResizeConv(ch, ch // 2, RESIZE_MODES[c.upsample])
                if c.upsample in RESIZE_MODES
                else nn.ConvTranspose2d(ch, ch // 2, kernel_size=3, stride=2, padding=1, output_padding=1)
            )
            layers += [up, make_norm(c.norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch + c.detail_channels, c.out_channels, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        if c.detail_channels:
            if not (c.detail_height >= 1 and c.detail_width >= 1 and c.detail_scale >= 1):
                raise CimgenError("a detail code needs the image's detail_height, detail_width and a detail_scale of at least 1")
            self.detail = nn.Parameter(torch.zeros(1, *c.detail_shape))

    def forward(
        self,
        x: torch.Tensor,
        withheld: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        code_from: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The image of the input maps.

        Args:
            x: N x in_channels x H x W maps (one-hot labels, edges).
            withheld: N x 1 x H x W or H x W, 1 = the region to draw from the map alone: the position code
                is zeroed there and, for a context generator, the image is blanked there.
            image: N x 3 x H x W in [-1, 1], the original image a context generator sees outside the
                region; ignored by other generators. A context generator without it draws everything from the map.
        """
        check_input(x, self.config.in_channels, self.config.size_multiple, "generator")
        c = self.config
        if not (c.position_frequencies or c.context or c.detail_channels):
            return self.model(x)
        n, _, h, w = x.shape
        if c.detail_channels and (h, w) != (c.detail_height, c.detail_width):
            raise CimgenError(
                f"this generator memorised one {c.detail_width}x{c.detail_height} image in its detail code; it renders maps of that size only, got {w}x{h}"
            )
        region = torch.zeros(n, 1, h, w, dtype=x.dtype, device=x.device)
        if withheld is not None:
            region = withheld.to(x.dtype).reshape(-1, 1, h, w).expand(n, 1, h, w)
        if c.context and image is None:
            region = torch.ones_like(region)  # nothing to see: the whole input is drawn from the map
        elif c.context and self.training:
            region = torch.maximum(region, random_regions(n, h, w, like=x))
        keep = 1 - region
        if self.training and c.position_dropout > 0 and (c.position_frequencies or c.detail_channels):
            keep = keep * random_keep_boxes(n, h, w, c.position_dropout, like=x)
        if code_from is not None and code_from.shape != (h, w):
            raise CimgenError(f"the code sources are {tuple(code_from.shape)} but the maps are {h}x{w}")
        parts = [x]
        if c.position_frequencies:
            parts.append(moved(position_code(h, w, c.position_frequencies, like=x), code_from).expand(n, -1, -1, -1) * keep)
        if c.context:
            if image is None:
                image = x.new_zeros(n, 3, h, w)
            check_input(image, 3, 1, "generator context image")
            if image.shape[2:] != x.shape[2:]:
                raise CimgenError(f"the context image is {image.shape[3]}x{image.shape[2]} but the maps are {w}x{h}")
            parts += [image.to(x.dtype) * (1 - region), region]
        x = torch.cat(parts, 1) if len(parts) > 1 else x
        if not c.detail_channels:
            return self.model(x)
        features = self.model[:-3](x)
        detail = nn.functional.interpolate(self.detail.to(features.dtype), size=(h, w), mode="bilinear", align_corners=False)
        if c.detail_smooth:
            detail = binomial_blur(detail)
        detail = moved(detail, code_from)
        return self.model[-3:](torch.cat([features, detail.expand(n, -1, -1, -1) * keep], 1))


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W through the 3x3 binomial filter [1 2 1] x [1 2 1] / 16, channel by channel, reflect-padded.

    kornia's ``filter2d_separable`` gives the same (to 2e-7) but importing it here would add 0.22 s to every generator
    load, so the one depthwise convolution is written out."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


def moved(code: torch.Tensor, code_from: torch.Tensor | None) -> torch.Tensor:
    """1 x C x H x W ``code`` read at ``code_from``'s flat indices (H x W); unchanged without them."""
    if code_from is None:
        return code
    _, ch, h, w = code.shape
    return code.reshape(1, ch, h * w)[:, :, code_from.reshape(-1).to(code.device)].reshape(1, ch, h, w)


def random_regions(n: int, height: int, width: int, *, like: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W regions a context generator learns to fill: 1 to 3 boxes of 5-40% of each side,
    and, one time in ten, the whole input (so that it also learns to draw from the map alone)."""
    region = torch.zeros(n, 1, height, width, dtype=like.dtype, device=like.device)
    draws = torch.rand(n, 14).tolist()
    for i, d in enumerate(draws):
        if d[0] < 0.1:
            region[i] = 1
            continue
        for b in range(1 + int(d[1] * 3)):
            sy, sx, py, px = d[2 + 4 * b : 6 + 4 * b]
            bh, bw = max(1, int(height * (0.05 + 0.35 * sy))), max(1, int(width * (0.05 + 0.35 * sx)))
            y, x = int((height - bh) * py), int((width - bw) * px)
            region[i, :, y : y + bh, x : x + bw] = 1
    return region


def random_keep_boxes(n: int, height: int, width: int, chance: float, *, like: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W of ones with, with probability ``chance`` per item, a zero box of 10-50% of each side."""
    keep = torch.ones(n, 1, height, width, dtype=like.dtype, device=like.device)
    draws = torch.rand(n, 5).tolist()
    for i, (p, sy, sx, py, px) in enumerate(draws):
        if p >= chance:
            continue
        bh, bw = max(1, int(height * (0.1 + 0.4 * sy))), max(1, int(width * (0.1 + 0.4 * sx)))
        y, x = int((height - bh) * py), int((width - bw) * px)
        keep[i, :, y : y + bh, x : x + bw] = 0
    return keep


DETAIL_INIT = 0.1
"""Standard deviation of a new detail code's values (its weights start at zero, so the output does not change)."""
DETAIL_LR_SCALE = 50.0
"""The detail code's learning rate, as a multiple of the generator's (Adam moves each value by about the learning
rate per step; the code's values are of order 0.1 and must change within a few hundred steps)."""


def converted_generator_tensors(
    tensors: dict[str, torch.Tensor], old: GlobalGeneratorConfig, new: GlobalGeneratorConfig
) -> dict[str, torch.Tensor]:
    """A global generator's tensors carried over to a config with position channels, context input, a detail code
    and/or resize upsampling.

    Position and context channels enter the first convolution, and a detail code the last, through new,
    zero-initialised input weights, so the converted generator computes exactly what the old one did until
    training moves them. A
    transposed convolution becomes a resize convolution whose kernel is the transposed kernel's
    sum over its 3x3 taps / 4, at the centre: on a locally constant input the transposed
    convolution gives four output phases (the checkerboard) and this gives their mean, so the
    converted generator starts as a de-checkered copy and training sharpens it.
    Every other tensor is copied as it is.

    Args:
        tensors: ``model.<i>...`` tensors of a generator built with ``old``.
        old: its config.
        new: the target config; it may differ from ``old`` only in ``position_frequencies`` (growing), ``context``
            (turned on), the ``detail_*`` fields (a code added where there was none) and ``upsample``.
    """
    free = (
        "position_frequencies",
        "position_dropout",
        "upsample",
        "context",
        "detail_channels",
        "detail_scale",
        "detail_smooth",
        "detail_height",
        "detail_width",
    )
    same = {k: v for k, v in vars(old).items() if k not in free}
    if same != {k: v for k, v in vars(new).items() if k not in free}:
        raise CimgenError("a generator converts only to another position code, context input or upsampling, not to other sizes")
    if new.position_frequencies < old.position_frequencies:
        raise CimgenError("a generator's position channels can be added, not removed")
    if old.context and not new.context:
        raise CimgenError("a context generator cannot become a map-only one")
    if old.upsample in RESIZE_MODES and new.upsample == "transpose":
        raise CimgenError("a resize-convolution generator cannot become a transposed-convolution one")
    detail_of = lambda c: (c.detail_channels, c.detail_scale, c.detail_smooth, c.detail_height, c.detail_width)
    if old.detail_channels and detail_of(old) != detail_of(new):
        raise CimgenError("a generator's detail code belongs to one image; it cannot be changed, only added")
    out = dict(tensors)
    start = 4 + 3 * new.num_downsamplings + new.num_blocks  # index of the first upsampling layer
    if new.detail_channels and not old.detail_channels:
        # the code starts as small noise and enters through zero weights: the output is unchanged, and both
        # the weights (gradient: the code) and the code (gradient: the weights, once they move) can learn
        last = start + 3 * new.num_downsamplings + 1  # the last convolution (after its reflection padding)
        w = out[f"model.{last}.weight"]
        out[f"model.{last}.weight"] = torch.cat([w, w.new_zeros(w.shape[0], new.detail_channels, *w.shape[2:])], 1)
        seeded = torch.Generator().manual_seed(0)
        out["detail"] = torch.randn(1, *new.detail_shape, generator=seeded).to(w.dtype) * DETAIL_INIT
    first = out["model.1.weight"]
    # the first convolution's inputs, in order: maps, position code, context (blanked image and mask)
    maps, pos = old.in_channels + old.position_channels, new.position_channels - old.position_channels
    zeros = lambda k: first.new_zeros(first.shape[0], k, *first.shape[2:])
    ctx = first[:, maps:] if old.context else zeros(new.context_channels)
    if pos or new.context != old.context:
        out["model.1.weight"] = torch.cat([first[:, :maps], zeros(pos), ctx], 1)
    if old.upsample == "transpose" and new.upsample in RESIZE_MODES:  # resize <-> bilinear: the same tensors
        for i in range(new.num_downsamplings):
            k = start + 3 * i
            w = out.pop(f"model.{k}.weight").transpose(0, 1)  # out x in x 3 x 3
            centre = torch.zeros_like(w)
            centre[:, :, 1, 1] = w.sum((2, 3)) / 4
            out[f"model.{k}.conv.weight"] = centre
            out[f"model.{k}.conv.bias"] = out.pop(f"model.{k}.bias")
    return out


@dataclass(frozen=True)
class LocalEnhancerConfig:
    """Options of the local enhancer generator (G2 wrapped around a global generator G1)."""

    in_channels: int = 35
    """Input channels: label classes (one-hot), plus 1 when an instance edge map is given."""
    out_channels: int = 3
    """Output image channels."""
    base_channels: int = 32
    """Channels of the finest enhancer's first convolution (ngf); the global part uses base_channels * 2**num_local_enhancers."""
    num_downsamplings_global: int = 4
    """Stride-2 convolutions in the global part (n_downsample_global)."""
    num_blocks_global: int = 9
    """Residual blocks of the global part (n_blocks_global)."""
    num_local_enhancers: int = 1
    """Enhancers stacked around the global part, each doubling the resolution (n_local_enhancers)."""
    num_blocks_local: int = 3
    """Residual blocks of each enhancer (n_blocks_local)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none."""
    padding: str = "reflect"
    """Padding mode of the residual blocks: reflect, replicate or zeros."""

    @property
    def global_config(self) -> GlobalGeneratorConfig:
        """The configuration of the global generator whose layers (all but the last three) form the global part."""
        return GlobalGeneratorConfig(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            base_channels=self.base_channels * 2**self.num_local_enhancers,
            num_downsamplings=self.num_downsamplings_global,
            num_blocks=self.num_blocks_global,
            norm=self.norm,
            padding=self.padding,
        )

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this."""
        return 2 ** (self.num_downsamplings_global + self.num_local_enhancers)


class LocalEnhancer(nn.Module):
    """pix2pixHD's coarse-to-fine generator: a global generator on a downsampled input, refined by enhancers.

    The input is average-pooled ``num_local_enhancers`` times. The global part runs on the
    coarsest copy; enhancer ``n`` (1 = coarsest) encodes its own copy of the input with a
    stride-2 front end, adds the previous output (same size and channels), and decodes the
    sum with residual blocks and a transposed convolution; the finest one ends in a 7x7
    convolution and tanh.

    State-dict keys are exactly those of the official ``LocalEnhancer`` (NVIDIA/pix2pixHD,
    models/networks.py), so an official ``--netG local`` checkpoint loads as is:

    - ``model.<i>``: layer ``i`` of a global generator with ``base_channels * 2**N`` channels,
      without its last three layers (pad, 7x7 conv, tanh). With 4 downsamplings and 9 blocks the
      global generator has layers 0-39 and ``model`` keeps 0-36 (convs at 1, 4, 7, 10, 13,
      blocks at 16-24, transposed convs at 25, 28, 31, 34), so ``model.38`` does not exist.
      A ``GlobalGenerator``'s ``model.<i>`` key is the same key here for every ``i`` that is kept.
    - ``model<n>_1.1`` (7x7 conv, in_channels -> c) and ``model<n>_1.4`` (3x3 stride-2 conv,
      c -> 2c), with c = base_channels * 2**(N - n).
    - ``model<n>_2.<j>.conv_block.1`` and ``.conv_block.5`` for residual block j < num_blocks_local,
      ``model<n>_2.<B>`` the transposed conv (2c -> c, B = num_blocks_local) and, for n = N only,
      ``model<N>_2.<B + 4>`` the final 7x7 conv (c -> out_channels).

    Norm layers carry no tensors with instance norm (affine=False, no running statistics).
    """

    def __init__(self, config: LocalEnhancerConfig):
        super().__init__()
        c = config
        if c.num_local_enhancers < 1 or c.num_blocks_local < 0:
            raise CimgenError("the local enhancer needs at least one enhancer and a non-negative number of local blocks")
        self.config = c
        # Slicing keeps the original child names, so the keys stay model.0 ... model.<len - 4>.
        self.model = GlobalGenerator(c.global_config).model[:-3]
        n_enh = c.num_local_enhancers
        for n in range(1, n_enh + 1):
            ch = c.base_channels * 2 ** (n_enh - n)
            front = nn.Sequential(
                nn.ReflectionPad2d(3),
                nn.Conv2d(c.in_channels, ch, kernel_size=7),
                make_norm(c.norm, ch),
                nn.ReLU(True),
                nn.Conv2d(ch, ch * 2, kernel_size=3, stride=2, padding=1),
                make_norm(c.norm, ch * 2),
                nn.ReLU(True),
            )
            back: list[nn.Module] = [ResnetBlock(ch * 2, norm=c.norm, padding=c.padding) for _ in range(c.num_blocks_local)]
            back += [
                nn.ConvTranspose2d(ch * 2, ch, kernel_size=3, stride=2, padding=1, output_padding=1),
                make_norm(c.norm, ch),
                nn.ReLU(True),
            ]
            if n == n_enh:
                back += [nn.ReflectionPad2d(3), nn.Conv2d(ch, c.out_channels, kernel_size=7), nn.Tanh()]
            # Official attribute names (model<n>_1 / model<n>_2) so that checkpoint keys match.
            setattr(self, f"model{n}_1", front)
            setattr(self, f"model{n}_2", nn.Sequential(*back))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def enhancer(self, n: int) -> tuple[nn.Sequential, nn.Sequential]:
        """Front end and back end of enhancer ``n`` (1 = coarsest, ``num_local_enhancers`` = finest)."""
        if not 1 <= n <= self.config.num_local_enhancers:
            raise CimgenError(f"enhancer {n} does not exist; choose 1 to {self.config.num_local_enhancers}")
        return getattr(self, f"model{n}_1"), getattr(self, f"model{n}_2")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.config.in_channels, self.config.size_multiple, "local enhancer")
        pyramid = [x]  # finest first
        for _ in range(self.config.num_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.config.num_local_enhancers + 1):
            front, back = self.enhancer(n)
            out = back(front(pyramid[-1 - n]) + out)
        return out

    def load_global_generator(self, generator: GlobalGenerator) -> None:
        """Copy a trained global generator into the global part (pix2pixHD's "train G1, then G1 and G2 jointly").

        The generator must have this enhancer's ``global_config``: the same input, output,
        depth and norm options and ``base_channels * 2**num_local_enhancers`` channels (64 for
        the official 32-channel enhancer). Its last three layers (pad, 7x7 conv, tanh) are not
        used; every other ``model.<i>`` tensor is copied to the same key here.

        Args:
            generator: the trained global generator; it is not modified.
        """
        want = self.config.global_config
        if generator.config != want:
            raise CimgenError(f"the global generator's config {generator.config} does not match the enhancer's global part {want}")
        kept = {k: v for k, v in generator.model.state_dict().items() if int(k.split(".", 1)[0]) < len(self.model)}
        self.model.load_state_dict(kept, strict=True)

    def global_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the finest enhancer: the global part and any coarser enhancers.

        This is the set the official ``--niter_fix_global`` leaves out of the optimiser (it trains
        only parameters named ``model<N>_*``); with one enhancer it is exactly the global part.
        """
        finest = f"model{self.config.num_local_enhancers}_"
        return [p for name, p in self.named_parameters() if not name.startswith(finest)]

    def set_global_trainable(self, trainable: bool) -> None:
        """Freeze (``False``) or unfreeze (``True``) ``global_parameters()``, for the first epochs of joint training.

        Frozen parameters get no gradients, so an optimiser built over all parameters leaves them unchanged.
        """
        for p in self.global_parameters():
            p.requires_grad_(trainable)


@dataclass(frozen=True)
class MultiscaleDiscriminatorConfig:
    """Options of the multi-scale PatchGAN discriminator."""

    in_channels: int = 38
    """Input channels: the generator's input channels plus the image channels (conditional D)."""
    base_channels: int = 64
    """Channels of the first layer, doubled per layer up to 512 (ndf)."""
    num_layers: int = 3
    """Stride-2 layers of each PatchGAN (n_layers_D)."""
    num_discriminators: int = 2
    """Number of scales; each one sees the input average-pooled once more (num_D)."""
    norm: str = "instance"
    """Normalisation layer: instance, batch or none."""


class NLayerDiscriminator(nn.Module):
    """A PatchGAN that returns the output of every layer, for feature matching."""

    def __init__(self, in_channels: int, base_channels: int, num_layers: int, norm: str):
        super().__init__()
        k, pad = 4, math.ceil((4 - 1) / 2)
        blocks: list[nn.Sequential] = [nn.Sequential(nn.Conv2d(in_channels, base_channels, k, 2, pad), nn.LeakyReLU(0.2, True))]
        ch = base_channels
        for _ in range(1, num_layers):
            nxt = min(ch * 2, 512)
            blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, k, 2, pad), make_norm(norm, nxt), nn.LeakyReLU(0.2, True)))
            ch = nxt
        nxt = min(ch * 2, 512)
        blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, k, 1, pad), make_norm(norm, nxt), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Sequential(nn.Conv2d(nxt, 1, k, 1, pad)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_discriminators`` PatchGANs on successively 2x average-pooled copies of the input."""

    def __init__(self, config: MultiscaleDiscriminatorConfig):
        super().__init__()
        c = config
        self.config = c
        self.discriminators = nn.ModuleList(
            NLayerDiscriminator(c.in_channels, c.base_channels, c.num_layers, c.norm) for _ in range(c.num_discriminators)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale (finest first), the list of layer outputs; the last one is the patch score map."""
        check_input(x, self.config.in_channels, 1, "discriminator")
        outs = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = self.downsample(x)
            outs.append(d(x))
        return outs


# ----------------------------------------------------------------------------------------------
# Building a generator from a checkpoint's config

GENERATOR_TYPES = ("global", "local")
IMPORTED_GENERATOR_TYPES = {PIX2PIXHD_GLOBAL: "global", PIX2PIXHD_LOCAL: "local"}
"""The official kinds ``cimgen import-official`` writes, and the generator type each one is."""


def build_generator(generator_type: str, config: GlobalGeneratorConfig | LocalEnhancerConfig) -> GlobalGenerator | LocalEnhancer:
    """A freshly initialised global generator or local enhancer."""
    return LocalEnhancer(config) if generator_type == "local" else GlobalGenerator(config)


def generator_from_config(config: dict, source: str) -> GlobalGenerator | LocalEnhancer:
    """The (untrained) generator a pix2pixHD checkpoint config describes, or one sentence saying why it cannot be built.

    Args:
        config: a checkpoint's ``config.json`` with ``"model": "pix2pixhd"``, its ``generator_type`` and ``generator``.
        source: the checkpoint's name for messages.
    """
    model = config.get("model")
    if model != PIX2PIXHD:
        raise CimgenError(f"checkpoint {source} holds a '{model}' model, not {PIX2PIXHD}")
    gtype = config.get("generator_type", "global")
    if gtype not in GENERATOR_TYPES:
        raise CimgenError(f"checkpoint {source} names an unknown generator_type '{gtype}'")
    try:
        cls = LocalEnhancerConfig if gtype == "local" else GlobalGeneratorConfig
        gcfg = from_dict(cls, config["generator"], where="checkpoint generator config")
    except KeyError:
        raise CimgenError(f"checkpoint {source} has no generator config") from None
    return build_generator(gtype, gcfg)
