"""Training a SinGAN pyramid coarse to fine, one scale (or, with ``train_depth`` > 1, the newest few) at a time.

A run folder holds ``model/`` (the finished scales, rewritten atomically after every scale),
``partial/`` while a scale is in progress (its networks, optimizers, schedulers, random state, iteration
and seconds so far, rewritten atomically every ``checkpoint_every`` seconds, so an interrupted run loses
at most that much work and ``resume`` continues mid-scale exactly where the checkpoint was taken),
``samples/`` (the reconstruction and random samples) and ``log.jsonl`` (one line per scale).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cimgen.config import to_dict
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import CONFIG_NAME, load_checkpoint, load_module, load_train_state, save_checkpoint
from cimgen.io.folders import check_fresh
from cimgen.io.images import write_image
from cimgen.models.limits import check_size, singan_weights
from cimgen.nn.devices import check_device
from cimgen.singan.config import SinGANConfig
from cimgen.singan.model import MODEL_DIR, SinGAN, image_tensor, load_singan, to_image
from cimgen.singan.networks import gradient_penalty, init_weights
from cimgen.singan.pyramid import image_pyramid, mask_pyramid, pyramid_sizes, resize
from cimgen.textfiles import json_text
from cimgen.train.runtime import choose_precision

SAMPLES_DIR = "samples"
PARTIAL_DIR = "partial"
PARTIAL_MODEL = "singan-partial"
_TRAINER_STATE = ("optD", "optG", "schedD", "schedG")  # ScaleTrainer's optimizers and schedulers, kept in a mid-scale checkpoint
LOG_NAME = "log.jsonl"
SAMPLE_COUNT = 4


def image_digest(image: np.ndarray) -> str:
    """SHA-256 of the pixels, so a resumed run can check it is given the same image."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()[:16]


def _masked_mse(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return torch.mean((x - y) ** 2)
    return torch.sum((x - y) ** 2 * weight) / (weight.sum() * x.shape[1]).clamp_min(1.0)


def _autocast(precision: str, device: torch.device):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ScaleTrainer:
    """Trains scale ``n`` of ``model`` (and the ``train_depth - 1`` scales below it) for ``cfg.iters`` iterations."""

    def __init__(
        self, model: SinGAN, n: int, netD: nn.Module, weights: list[torch.Tensor | None], gen: torch.Generator, device: torch.device
    ):
        cfg = model.cfg
        self.model, self.n, self.netD, self.weights, self.gen, self.device, self.cfg = model, n, netD, weights, gen, device, cfg
        # Resolved once by train_singan (precision auto chooses by machine); resolved here for a trainer built elsewhere.
        self.precision = model.meta.get("precision", {}).get("used") or choose_precision(cfg.precision, device)[0]
        self.low = max(0, n - cfg.train_depth + 1)
        for k, g in enumerate(model.generators):
            trainable = k >= self.low
            g.train(trainable).requires_grad_(trainable)
        groups = [{"params": model.generators[k].parameters(), "lr": cfg.lr_g * cfg.lr_scale ** (n - k)} for k in range(self.low, n + 1)]
        betas = (cfg.beta1, 0.999)
        self.optD = torch.optim.Adam(netD.parameters(), lr=cfg.lr_d, betas=betas)
        self.optG = torch.optim.Adam(groups, lr=cfg.lr_g, betas=betas)
        milestone = [max(1, round(cfg.milestone * cfg.iters))]
        self.schedD = torch.optim.lr_scheduler.MultiStepLR(self.optD, milestones=milestone, gamma=cfg.gamma)
        self.schedG = torch.optim.lr_scheduler.MultiStepLR(self.optG, milestones=milestone, gamma=cfg.gamma)
        # Below the trained scales everything is frozen, so the reconstruction path's input there is fixed.
        self.rec_base = model.generate(stop=self.low - 1, mode="reconstruction") if self.low else None

    def _random_base(self) -> torch.Tensor | None:
        return self.model.generate(stop=self.low - 1, generator=self.gen) if self.low else None

    def _through(self, base: torch.Tensor | None, zs: list[torch.Tensor]) -> torch.Tensor:
        x = base
        for k, z in zip(range(self.low, self.n + 1), zs):
            x = self.model.step(k, x, z, self.model.sizes[k])
        return x

    def _draw(self) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
        return self._random_base(), [self.model.noise(k, self.model.sizes[k], self.gen) for k in range(self.low, self.n + 1)]

    def _d_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict:
        self.netD.zero_grad(set_to_none=True)
        with _autocast(self.precision, self.device):
            err_real = -self.netD(real).mean()
            err_fake = self.netD(fake.detach()).mean()
        gp = gradient_penalty(self.netD, real, fake, self.cfg.lambda_grad, self.gen)
        (err_real + err_fake + gp).backward()
        self.optD.step()
        return {"d_real": -err_real.item(), "d_fake": err_fake.item(), "gp": gp.item()}

    def _g_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, dict]:
        cfg, n = self.cfg, self.n
        with _autocast(self.precision, self.device):
            err_g = -self.netD(fake).mean()
            rec = self._through(self.rec_base, self.model.z_opt[self.low : n + 1])
        rec_loss = cfg.alpha * _masked_mse(rec, self.model.reals[n], self.weights[n])
        return err_g + rec_loss, {"g_adv": err_g.item(), "rec": rec_loss.item() / cfg.alpha}

    def iteration(self) -> dict:
        cfg, real = self.cfg, self.model.reals[self.n]
        stats: dict = {}
        if cfg.reuse_fake:
            # ConSinGAN: one draw per iteration; G does not change during the D steps, so its fake is made once.
            base, zs = self._draw()
            with _autocast(self.precision, self.device):
                fake = self._through(base, zs)
            for _ in range(cfg.d_steps):
                stats.update(self._d_step(real, fake))
            for j in range(cfg.g_steps):
                if j > 0:  # the first update changed G, so a further one needs a fake made by the new weights
                    with _autocast(self.precision, self.device):
                        fake = self._through(base, zs)
                self.optG.zero_grad(set_to_none=True)
                loss, s = self._g_loss(fake)
                loss.backward()
                self.optG.step()
                stats.update(s)
        else:
            # SinGAN: a new random input for every D step; each G step recomputes the fake from the last one.
            for _ in range(cfg.d_steps):
                base, zs = self._draw()
                with torch.no_grad(), _autocast(self.precision, self.device):
                    fake = self._through(base, zs)
                stats.update(self._d_step(real, fake))
            for _ in range(cfg.g_steps):
                self.optG.zero_grad(set_to_none=True)
                with _autocast(self.precision, self.device):
                    fake = self._through(base, zs)
                loss, s = self._g_loss(fake)
                loss.backward()
                self.optG.step()
                stats.update(s)
        self.schedD.step()
        self.schedG.step()
        return stats


def _noise_amp(model: SinGAN, n: int, weights: list[torch.Tensor | None]) -> float:
    if n == 0:
        return 1.0
    up = resize(model.generate(stop=n - 1, mode="reconstruction"), model.sizes[n])
    return model.cfg.noise_amp * float(torch.sqrt(_masked_mse(up, model.reals[n], weights[n])))


def _check_out(out: Path, resume: bool) -> None:
    has_model = (out / MODEL_DIR / CONFIG_NAME).is_file() or (out / PARTIAL_DIR / CONFIG_NAME).is_file()
    if resume and not has_model:
        raise CimgenError(f"{out} holds no SinGAN run to resume ({MODEL_DIR}/{CONFIG_NAME} is missing)")
    if not resume:
        check_fresh(out, hint="pass --resume to continue it" if has_model else "choose an empty or new folder")


def train_singan(
    image: np.ndarray,
    cfg: SinGANConfig,
    out: str | Path,
    *,
    mask: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    resume: bool = False,
    source: str = "",
    progress: Callable[[int, int, int, dict], None] | None = None,
    write_samples: bool = True,
    checkpoint_every: float = 600.0,
) -> SinGAN:
    """Train a SinGAN on one image and return it; the run is saved under ``out`` as it goes.

    Args:
        image: HxWx3 uint8 training image.
        cfg: the settings (see ``schedule_config``).
        out: the run folder; it must be new or empty unless ``resume``.
        mask: optional bool HxW damaged region (inpainting): with ``cfg.mask_reconstruction`` the
            reconstruction loss and the noise amplitudes leave it out.
        device: where to train.
        resume: continue the run in ``out`` at the first scale it has not finished, from that scale's
            last mid-scale checkpoint if it has one.
        source: the image's name, kept in the model's config.
        progress: called as ``progress(scale, iteration, iters, stats)`` after every iteration.
        write_samples: write the reconstruction and random samples to ``out/samples`` at the end.
        checkpoint_every: seconds between mid-scale checkpoints in ``out/partial`` (0: none). They do
            not change the result: a run resumed from one ends on the same weights as a run straight through.
    """
    out, device = Path(out), torch.device(check_device(device))
    _check_out(out, resume)
    h, w = image.shape[:2]
    sizes = pyramid_sizes(h, w, cfg)
    # a generator per scale, and a discriminator as large as each at most, counted before any is built
    count = singan_weights(
        len(sizes), nfc=cfg.nfc, max_nfc=cfg.max_nfc, num_layer=cfg.num_layer, kernel=cfg.kernel, double_every=cfg.double_every
    )
    check_size(2 * count, "this SinGAN config", "lower nfc, max_nfc, num_layer or kernel")
    reals = image_pyramid(image_tensor(image).to(device), sizes)
    digest = image_digest(image)
    weights: list[torch.Tensor | None] = [None] * len(sizes)
    if mask is not None and cfg.mask_reconstruction:
        weights = [1.0 - m for m in mask_pyramid(torch.from_numpy(mask.astype(np.float32))[None, None].to(device), sizes)]
    gen = torch.Generator().manual_seed(cfg.seed)
    model = SinGAN(
        cfg, sizes, reals, {"source": source, "image_size": [h, w], "image_digest": digest, "masked": mask is not None, "seconds": []}
    )
    netD, partial = None, None
    if resume:
        model, netD, gen, partial = _resume(out, model, device)
    used, why = choose_precision(cfg.precision, device)
    model.meta["precision"] = {"used": used, "why": why}
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        _train_scales(model, netD, gen, partial, weights, out, mask, device, progress, checkpoint_every)
    except BaseException:
        # A run that stops before it has saved anything (a scale finished or a mid-scale checkpoint) leaves no folder behind.
        if created and not any((out / d / CONFIG_NAME).is_file() for d in (MODEL_DIR, PARTIAL_DIR)):
            shutil.rmtree(out, ignore_errors=True)
        raise
    if write_samples:
        _write_samples(model, out / SAMPLES_DIR, cfg.seed)
    return model


def _train_scales(
    model: SinGAN,
    netD: nn.Module | None,
    gen: torch.Generator,
    partial: dict | None,
    weights: list[torch.Tensor | None],
    out: Path,
    mask: np.ndarray | None,
    device: torch.device,
    progress: Callable[[int, int, int, dict], None] | None,
    checkpoint_every: float,
) -> None:
    """Train the scales ``model`` has not finished, saving each into ``out`` (the body of ``train_singan``)."""
    cfg, sizes, log = model.cfg, model.sizes, out / LOG_NAME
    for n in range(model.trained, model.num_scales):
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 1000 + n)
        g, d = model.new_generator(n), model.new_discriminator(n)
        g.apply(init_weights)
        d.apply(init_weights)
        if n > 0 and cfg.channels(n) == cfg.channels(n - 1):  # SinGAN starts a scale from the one below when widths agree
            g.load_state_dict(model.generators[n - 1].state_dict())
            d.load_state_dict(netD.state_dict())
        model.generators.append(g.to(device))
        model.z_opt.append(model.noise(0, sizes[0], gen) if n == 0 else torch.zeros((1, 3, *sizes[n]), device=device))
        model.amps.append(1.0)
        model.amps[n] = _noise_amp(model, n, weights)
        netD = d.to(device).train()
        trainer = ScaleTrainer(model, n, netD, weights, gen, device)
        start, earlier = 0, 0.0
        if partial is not None:
            start, earlier = _restore_partial(partial, trainer)
            partial, t0 = None, time.perf_counter()  # the set-up above was counted in the earlier segment
        stats: dict = {}
        saved = time.perf_counter()
        for it in range(start, cfg.iters):
            stats = trainer.iteration()
            if progress is not None:
                progress(n, it + 1, cfg.iters, stats)
            if checkpoint_every > 0 and it + 1 < cfg.iters and time.perf_counter() - saved >= checkpoint_every:
                _save_partial(out / PARTIAL_DIR, trainer, it + 1, earlier + time.perf_counter() - t0)
                saved = time.perf_counter()
        for k in range(model.trained):
            model.generators[k].eval().requires_grad_(False)
        seconds = earlier + time.perf_counter() - t0
        model.meta["seconds"] = [*model.meta["seconds"], round(seconds, 3)]
        rec_error = model.reconstruction_error()[-1]
        extra = {f"D.{k}": v for k, v in netD.state_dict().items()}
        if weights[0] is not None:
            extra["mask"] = torch.from_numpy(mask.astype(np.uint8))
        model.save(out / MODEL_DIR, extra=extra, train_state={"generator": gen.get_state(), "scale": n})
        shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
        with open(log, "a") as f:
            f.write(
                json_text(
                    {
                        "scale": n,
                        "size": list(sizes[n]),
                        "seconds": round(seconds, 3),
                        "noise_amp": model.amps[n],
                        "reconstruction_rmse": rec_error,
                        **{k: round(v, 5) for k, v in stats.items()},
                    },
                    indent=None,
                )
                + "\n"
            )


def _resume(out: Path, fresh: SinGAN, device: torch.device) -> tuple[SinGAN, nn.Module | None, torch.Generator, dict | None]:
    """The finished scales (or none), the last discriminator, the random state, and a mid-scale checkpoint of the next scale."""
    model, netD, gen = fresh, None, torch.Generator().manual_seed(fresh.cfg.seed)
    if (out / MODEL_DIR / CONFIG_NAME).is_file():
        model, tensors = load_singan(out / MODEL_DIR, device=device)
        _check_same_run(out, model.meta.get("image_digest"), to_dict(model.cfg), fresh)
        if model.trained == model.num_scales:
            raise CimgenError(f"{out} has finished all {model.num_scales} scales; there is nothing to resume")
        state = load_train_state(out / MODEL_DIR)
        gen.set_state(state["generator"])
        netD = model.new_discriminator(model.trained - 1)
        load_module(netD, tensors, "D", source=str(out / MODEL_DIR))
        netD = netD.to(device)
    return model, netD, gen, _load_partial(out / PARTIAL_DIR, model, fresh)


def _check_same_run(out: Path, digest: str | None, cfg: dict, fresh: SinGAN) -> None:
    if digest != fresh.meta["image_digest"]:
        raise CimgenError(f"{out} was trained on another image than the one given; resume it with the same image")
    if cfg != to_dict(fresh.cfg):
        raise CimgenError(f"{out} was trained with other settings than the ones given; resume it with the same schedule and options")


def _save_partial(folder: Path, trainer: ScaleTrainer, iteration: int, seconds: float) -> None:
    """Checkpoint the scale in progress: every network it trains, both optimizers and schedulers, the random state."""
    model, n = trainer.model, trainer.n
    tensors = {f"G.{k}.{name}": v for k in range(trainer.low, n + 1) for name, v in model.generators[k].state_dict().items()}
    tensors.update({f"D.{name}": v for name, v in trainer.netD.state_dict().items()})
    tensors[f"z_opt.{n}"] = model.z_opt[n]
    config = {
        "model": PARTIAL_MODEL,
        "scale": n,
        "iteration": iteration,
        "seconds": round(seconds, 3),
        "noise_amp": model.amps[n],
        "image_digest": model.meta["image_digest"],
        "singan": to_dict(model.cfg),
    }
    state = {name: getattr(trainer, name).state_dict() for name in _TRAINER_STATE}
    save_checkpoint(folder, config, tensors, {"generator": trainer.gen.get_state(), **state})


def _load_partial(folder: Path, model: SinGAN, fresh: SinGAN) -> dict | None:
    """A mid-scale checkpoint of the first unfinished scale; one of an earlier scale (left by a crash just after that
    scale was saved) is stale and removed."""
    if not (folder / CONFIG_NAME).is_file():
        return None
    config, tensors = load_checkpoint(folder)
    try:
        if config.get("model") != PARTIAL_MODEL:
            raise KeyError("model")
        scale, iteration, seconds, amp = (
            int(config["scale"]),
            int(config["iteration"]),
            float(config["seconds"]),
            float(config["noise_amp"]),
        )
        _check_same_run(folder.parent, config.get("image_digest"), config["singan"], fresh)
    except (KeyError, TypeError, ValueError) as e:
        raise CimgenError(
            f"{folder} is a damaged mid-scale checkpoint (missing or malformed {e}); delete it to resume from the last finished scale"
        ) from None
    if scale < model.trained:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    if scale != model.trained or not 0 < iteration < model.cfg.iters:
        raise CimgenError(
            f"{folder} checkpoints scale {scale} at iteration {iteration}, but the run has {model.trained} finished scales "
            f"of {model.cfg.iters} iterations; delete it to resume from the last finished scale"
        )
    return {
        "folder": folder,
        "iteration": iteration,
        "seconds": seconds,
        "noise_amp": amp,
        "tensors": tensors,
        "state": load_train_state(folder),
    }


def _restore_partial(partial: dict, trainer: ScaleTrainer) -> tuple[int, float]:
    """Put a mid-scale checkpoint back into a freshly set-up trainer; returns the iteration and seconds it had reached."""
    model, n, tensors, state, source = trainer.model, trainer.n, partial["tensors"], partial["state"], str(partial["folder"])
    for k in range(trainer.low, n + 1):
        load_module(model.generators[k], tensors, f"G.{k}", source=source)
    load_module(trainer.netD, tensors, "D", source=source)
    z = tensors.get(f"z_opt.{n}")
    if z is None or z.shape != model.z_opt[n].shape:
        raise CimgenError(f"{source} is a damaged mid-scale checkpoint (no z_opt.{n} of the right shape)")
    model.z_opt[n] = z.to(model.z_opt[n].device)
    model.amps[n] = partial["noise_amp"]
    for name in _TRAINER_STATE:
        getattr(trainer, name).load_state_dict(state[name])
    trainer.gen.set_state(state["generator"])
    return partial["iteration"], partial["seconds"]


def _write_samples(model: SinGAN, folder: Path, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "real.png", to_image(model.reals[-1]))
    write_image(folder / "reconstruction.png", to_image(model.generate(mode="reconstruction")))
    gen = torch.Generator().manual_seed(seed + 1)
    for i in range(SAMPLE_COUNT):
        write_image(folder / f"random_{i}.png", to_image(model.generate(generator=gen)))
