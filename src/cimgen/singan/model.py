"""A trained (or partly trained) SinGAN pyramid: generation at any size and from any scale, and saving as data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cimgen.config import from_dict, to_dict
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import load_checkpoint, load_module, save_checkpoint
from cimgen.io.images import image_to_tensor, tensor_to_image
from cimgen.models.limits import check_checkpoint_config
from cimgen.nn.devices import check_device
from cimgen.singan.config import SinGANConfig, check_config
from cimgen.singan.networks import ScaleDiscriminator, ScaleGenerator
from cimgen.singan.pyramid import resize

MODEL_NAME = "singan"
MODEL_DIR = "model"  # a run folder's checkpoint
MODES = ("random", "reconstruction")


class SinGAN:
    """The generators of a pyramid with their fixed reconstruction noise and noise amplitudes.

    Attributes:
        cfg: the settings it was trained with.
        sizes: (height, width) of every scale, coarsest first.
        generators: one ``ScaleGenerator`` per trained scale (fewer than ``sizes`` while training).
        amps: the noise amplitude of each trained scale.
        z_opt: the fixed noise of the reconstruction path per trained scale (random at scale 0, zero above).
        reals: the training image at every scale, 1 x 3 x h x w in [-1, 1].
        meta: provenance kept with the model (source image, its size and digest, timings).
    """

    def __init__(self, cfg: SinGANConfig, sizes: list[tuple[int, int]], reals: list[torch.Tensor], meta: dict | None = None) -> None:
        self.cfg = cfg
        self.sizes = [tuple(s) for s in sizes]
        self.reals = reals
        self.generators: list[ScaleGenerator] = []
        self.amps: list[float] = []
        self.z_opt: list[torch.Tensor] = []
        self.meta = dict(meta or {})

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    @property
    def trained(self) -> int:
        return len(self.generators)

    @property
    def device(self) -> torch.device:
        return self.reals[0].device

    def new_generator(self, scale: int) -> ScaleGenerator:
        return ScaleGenerator(self.cfg.channels(scale), self.cfg.num_layer, self.cfg.kernel)

    def new_discriminator(self, scale: int) -> ScaleDiscriminator:
        return ScaleDiscriminator(self.cfg.channels(scale), self.cfg.num_layer, self.cfg.kernel)

    def to(self, device: torch.device) -> SinGAN:
        self.reals = [r.to(device) for r in self.reals]
        self.z_opt = [z.to(device) for z in self.z_opt]
        for g in self.generators:
            g.to(device)
        return self

    # ------------------------------------------------------------------ generation

    def noise(self, scale: int, size: tuple[int, int], generator: torch.Generator | None) -> torch.Tensor:
        """Gaussian noise for a scale: one channel repeated over RGB at the coarsest scale (as SinGAN), three above."""
        if scale == 0:
            z = torch.randn((1, 1, *size), generator=generator).expand(1, 3, *size)
        else:
            z = torch.randn((1, 3, *size), generator=generator)
        return z.to(self.device)

    def step(self, scale: int, lower: torch.Tensor | None, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """One scale: upsample the coarser output ``lower`` (zeros at scale 0), add amplitude-weighted noise, run G."""
        prev = torch.zeros((1, 3, *size), device=self.device) if lower is None else resize(lower, size)
        return self.generators[scale](self.amps[scale] * z + prev, prev)

    def sizes_for(self, height: int | None = None, width: int | None = None) -> list[tuple[int, int]]:
        """Every scale's size for an output of ``height`` x ``width`` (default: the training size), scaled alike."""
        H, W = self.sizes[-1]
        sv, sh = (height or H) / H, (width or W) / W
        return [(max(1, round(h * sv)), max(1, round(w * sh))) for h, w in self.sizes]

    def generate(
        self,
        *,
        start: int = 0,
        stop: int | None = None,
        inject: torch.Tensor | None = None,
        mode: str = "random",
        height: int | None = None,
        width: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Run the pyramid from scale ``start`` to ``stop`` (default: the finest trained) and return 1 x 3 x h x w.

        Args:
            start: the first scale run with noise. Below it the input comes from ``inject`` when given
                (downsampled to scale ``start - 1``, as SinGAN's editing and harmonization do), otherwise from
                the reconstruction path (SinGAN's ``gen_start_scale``).
            stop: the last scale run.
            inject: 1 x 3 x H x W image in [-1, 1] to inject; needs ``start`` of at least 1.
            mode: ``random`` draws new noise at every scale run; ``reconstruction`` uses the fixed noise,
                which at the training size gives back the training image.
            height, width: output size; each scale is resized by the same ratios (random mode).
            generator: source of the random noise.
        """
        if mode not in MODES:
            raise CimgenError(f"unknown generation mode '{mode}'; choose one of: {', '.join(MODES)}")
        stop = self.trained - 1 if stop is None else stop
        if not 0 <= start <= stop < self.trained:
            raise CimgenError(f"the start scale must lie between 0 and {self.trained - 1} (the finest trained scale), got {start}")
        sizes = self.sizes_for(height, width)
        if mode == "reconstruction" and sizes != self.sizes:
            raise CimgenError("the reconstruction path exists only at the training size")
        if inject is not None and start < 1:
            raise CimgenError(f"an image can be injected at scales 1 to {self.trained - 1}, not at scale 0, which starts from noise alone")
        with torch.no_grad():
            if start == 0:
                x = None
            elif inject is not None:
                x = resize(inject.to(self.device), sizes[start - 1])
            else:
                x = resize(self.generate(stop=start - 1, mode="reconstruction"), sizes[start - 1])
            for n in range(start, stop + 1):
                z = self.z_opt[n] if mode == "reconstruction" else self.noise(n, sizes[n], generator)
                x = self.step(n, x, z, sizes[n])
        return x

    def reconstruction_error(self) -> list[float]:
        """RMSE (on [-1, 1]) between the reconstruction path and the training image, at every trained scale."""
        out, x = [], None
        with torch.no_grad():
            for n in range(self.trained):
                x = self.step(n, x, self.z_opt[n], self.sizes[n])
                out.append(float(torch.sqrt(torch.mean((x - self.reals[n]) ** 2))))
        return out

    # ------------------------------------------------------------------ data

    def tensors(self) -> dict[str, torch.Tensor]:
        t = {}
        for n, g in enumerate(self.generators):
            t.update({f"G.{n}.{k}": v for k, v in g.state_dict().items()})
            t[f"z_opt.{n}"] = self.z_opt[n][:, :1] if n == 0 else self.z_opt[n]
        for n, r in enumerate(self.reals):
            t[f"real.{n}"] = r
        return t

    def config(self) -> dict:
        return {
            "model": MODEL_NAME,
            "singan": to_dict(self.cfg),
            "sizes": [list(s) for s in self.sizes],
            "channels": [self.cfg.channels(n) for n in range(self.num_scales)],
            "noise_amps": list(self.amps),
            "trained_scales": self.trained,
            **self.meta,
        }

    def save(self, folder: str | Path, *, extra: dict[str, torch.Tensor] | None = None, train_state: dict | None = None) -> Path:
        """Write config.json and weights.safetensors (every generator, the fixed noise, the image pyramid) atomically."""
        return save_checkpoint(folder, self.config(), {**self.tensors(), **(extra or {})}, train_state)


def load_singan(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[SinGAN, dict[str, torch.Tensor]]:
    """Load a SinGAN saved by ``SinGAN.save`` (no pickle) from a run folder or its ``model/``; also returns the extra tensors."""
    path = Path(path)
    if (path / MODEL_DIR).is_dir():
        path = path / MODEL_DIR
    config, tensors = load_checkpoint(path)
    if config.get("model") != MODEL_NAME:
        raise CimgenError(f"{path} holds a '{config.get('model')}' model, not a SinGAN; train one with 'cimgen singan train'")
    check_checkpoint_config(config, str(path))  # sizes and widths bounded before any network is built
    try:
        cfg = from_dict(SinGANConfig, config["singan"], where="singan")
        check_config(cfg)
        sizes = [tuple(int(v) for v in s) for s in config["sizes"]]
        amps = [float(a) for a in config["noise_amps"]]
        trained = int(config["trained_scales"])
        reals = [tensors[f"real.{n}"] for n in range(len(sizes))]
    except (KeyError, TypeError, ValueError) as e:
        raise CimgenError(f"{path} is a damaged SinGAN checkpoint (missing or malformed {e})") from None
    if not 1 <= trained <= len(sizes) or len(amps) != trained:
        raise CimgenError(f"{path} is a damaged SinGAN checkpoint ({trained} trained scales, {len(amps)} noise amplitudes)")
    meta = {k: v for k, v in config.items() if k not in ("format", "model", "singan", "sizes", "channels", "noise_amps", "trained_scales")}
    model = SinGAN(cfg, sizes, reals, meta)
    model.amps = amps
    for n in range(trained):
        g = model.new_generator(n)
        load_module(g, tensors, f"G.{n}", source=str(path))
        g.eval().requires_grad_(False)
        model.generators.append(g)
        z = tensors.get(f"z_opt.{n}")
        if z is None:
            raise CimgenError(f"{path} is a damaged SinGAN checkpoint (no z_opt.{n})")
        model.z_opt.append(z.expand(1, 3, *z.shape[-2:]) if n == 0 else z)
    return model.to(torch.device(check_device(device))), tensors


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 1 x 3 x H x W in [-1, 1]."""
    return image_to_tensor(image)[None]


def to_image(x: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W in [-1, 1] -> HxWx3 uint8."""
    return tensor_to_image(x)
