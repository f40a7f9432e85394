"""Run by the DDP tests under torchrun: a tiny run of one recipe, then each rank saves its replica's networks.

Arguments: the data folder (unused: the options name it), the output folder, the options as JSON, and
optionally the recipe (pix2pixhd, the default; cyclegan; detector), or ``cli`` with the options a JSON list
of ``cimgen`` arguments (the command line then runs as ``torchrun -m cimgen`` runs it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from cimgen.cli.main import main
from cimgen.forensics import train as detector
from cimgen.train import cyclegan, pix2pixhd
from cimgen.train.loop import tensors_of

# recipe -> (module, recipe class name, run function name)
RECIPES = {
    "pix2pixhd": (pix2pixhd, "Pix2PixHDRecipe", "run_pix2pixhd"),
    "cyclegan": (cyclegan, "CycleGANRecipe", "run_cyclegan"),
    "detector": (detector, "DetectorRecipe", "run_detector"),
}

world, out, options = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
which = sys.argv[4] if len(sys.argv) > 4 else "pix2pixhd"
captured = {}


def capture(recipe_class: type) -> None:
    original = recipe_class.__init__

    def keep(self, *args, **kw):  # keep a handle on the recipe so its replica's weights can be saved
        original(self, *args, **kw)
        captured["recipe"] = self

    recipe_class.__init__ = keep


status = 0
if which == "cli":  # options: the arguments of `cimgen ...`, run as torchrun -m cimgen would
    for module, class_name, _ in RECIPES.values():
        capture(getattr(module, class_name))
    status = main(options)  # it leaves the process group itself
else:
    module, class_name, run_name = RECIPES[which]
    capture(getattr(module, class_name))
    getattr(module, run_name)(module.resolve_config(options), out / "run", echo=None, progress=False)
    dist.destroy_process_group()
tensors = {k: v.contiguous() for k, v in tensors_of(captured["recipe"]).items()}
save_file(tensors, str(out / f"rank{os.environ['RANK']}.safetensors"))
sys.exit(status)
