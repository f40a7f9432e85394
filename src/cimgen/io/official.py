"""The files of the official pix2pixHD and junyanz CycleGAN/pix2pix projects (``latest_net_G.pth``, ``latest_net_D.pth``) read and written as state dicts.

The official projects save a network as ``torch.save(net.state_dict(), path)``: a plain dict of
tensors with the module's own names (NVIDIA/pix2pixHD and junyanz/pytorch-CycleGAN-and-pix2pix,
``models/base_model.py``). Reading one is ``cimgen.io.weights.read_tensor_dict``: no unpickling of
code, and the wrappers third-party code adds removed (a ``module.`` prefix from a ``DataParallel``
wrapper, a ``state_dict`` / ``model`` / ``netG`` ... entry). Turning the tensors into cimgen modules
is the job of ``models/official.py``, a layer above this one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cimgen.errors import CimgenError
from cimgen.io.weights import OFFICIAL_WRAPPERS, read_tensor_dict

# junyanz ``models/cycle_gan_model.py`` names its networks G_A (A -> B), G_B (B -> A), D_A (judges B
# images) and D_B (judges A images), and ``base_model.save_networks`` writes each as
# ``{epoch}_net_{name}.pth`` in the run's checkpoint folder (``latest`` for the newest).
CYCLEGAN_NETS = ("G_A", "G_B", "D_A", "D_B")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an official ``.pth`` file, loaded with ``weights_only=True`` and unwrapped."""
    return read_tensor_dict(path, holds="a network's state dict", wrappers=OFFICIAL_WRAPPERS)


def save_state_dict(sd: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write a plain dict of tensors as a ``.pth`` file, atomically: the official projects' checkpoint format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({k: v.detach().cpu().contiguous() for k, v in sd.items()}, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def cyclegan_files(folder: str | Path, epoch: str = "latest") -> dict[str, Path | None]:
    """The ``{epoch}_net_{G_A,G_B,D_A,D_B}.pth`` files of a junyanz CycleGAN checkpoint folder; both generators must be
    there, the discriminators may be missing (fine-tuning then starts them from scratch)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CimgenError(f"{folder} is not a folder")
    files: dict[str, Path | None] = {n: folder / f"{epoch}_net_{n}.pth" for n in CYCLEGAN_NETS}
    missing = [p.name for n, p in files.items() if n.startswith("G") and not p.is_file()]
    if missing:
        found = sorted(p.name for p in folder.glob("*_net_*.pth"))[:6]
        raise CimgenError(
            f"{folder} is not a junyanz CycleGAN checkpoint folder for epoch '{epoch}': {' and '.join(missing)} missing"
            + (f" (it holds {', '.join(found)}; choose the epoch with --epoch)" if found else "")
        )
    return {n: (p if p.is_file() else None) for n, p in files.items()}


def export_cyclegan(tensors: dict[str, torch.Tensor], folder: str | Path, epoch: str = "latest") -> list[Path]:
    """Write a cimgen CycleGAN checkpoint's networks as junyanz files ``{epoch}_net_{G_A,G_B,D_A,D_B}.pth``: the module
    names are the official ones, so each state dict goes out as stored."""
    written = []
    for n in CYCLEGAN_NETS:
        sd = {k.removeprefix(f"{n}."): v for k, v in tensors.items() if k.startswith(f"{n}.")}
        if sd:
            written.append(save_state_dict(sd, Path(folder) / f"{epoch}_net_{n}.pth"))
    return written
