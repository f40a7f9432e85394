"""Run by tests/train/test_engine.py under torchrun: a tiny pix2pix run (dropout and an image pool), fresh or resumed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from cimgen.train import pix2pix

out, options, resume = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "resume"
pix2pix.run_pix2pix(pix2pix.resolve_config(options), out, echo=None, progress=False, resume=resume)
dist.destroy_process_group()
