"""Run by tests/train/test_engine.py under torchrun: a tiny pix2pixHD run, then each rank saves its networks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from cimgen.train import pix2pixhd
from cimgen.train.loop import tensors_of

world, out, options = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
captured = {}
original = pix2pixhd.Pix2PixHDRecipe.__init__


def keep(self, *args, **kw):  # keep a handle on the recipe so its replica's weights can be saved
    original(self, *args, **kw)
    captured["recipe"] = self


pix2pixhd.Pix2PixHDRecipe.__init__ = keep
pix2pixhd.run_pix2pixhd(pix2pixhd.resolve_config(options), out / "run", echo=None, progress=False)
save_file({k: v.contiguous() for k, v in tensors_of(captured["recipe"]).items()}, str(out / f"rank{dist.get_rank()}.safetensors"))
dist.destroy_process_group()
