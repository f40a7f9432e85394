"""The command line shows the library's defaults: written again where importing them would load torch at start-up, and checked here."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from cimgen.cli import detect, evaluate, singan
from cimgen.forensics.patches import PatchDatasetConfig
from cimgen.metrics.protocol import ProtocolConfig
from cimgen.runs import detect as run_detect
from cimgen.runs import singan as run_singan
from cimgen.runs.evaluate import FeatureOptions
from cimgen.singan.inpaint import DEFAULT_DILATION, DEFAULT_NOISE


def _default(command, name: str):
    return inspect.signature(command).parameters[name].default.default


CASES = [
    (detect.dataset_cmd, "patch_size", PatchDatasetConfig.patch_size),
    (detect.dataset_cmd, "val_fraction", PatchDatasetConfig.val_fraction),
    (detect.dataset_cmd, "max_per_image", PatchDatasetConfig.max_patches_per_image),
    (detect.dataset_cmd, "seed", PatchDatasetConfig.seed),
    *((cmd, "device", run_detect.DEFAULT_DEVICE) for cmd in (detect.evaluate_cmd, detect.robustness_cmd, detect.heatmap_cmd)),
    *((cmd, "batch_size", run_detect.DEFAULT_BATCH_SIZE) for cmd in (detect.evaluate_cmd, detect.robustness_cmd, detect.heatmap_cmd)),
    *((evaluate.evaluate_cmd, name, getattr(ProtocolConfig, name)) for name in ("patch_size", "stride", "dilation", "kid_subsets")),
    (evaluate.evaluate_cmd, "kid_subset_size", ProtocolConfig.kid_subset_size),
    (evaluate.evaluate_cmd, "fid_method", ProtocolConfig.fid_method),
    (evaluate.evaluate_cmd, "resize", FeatureOptions.resize),
    (evaluate.evaluate_cmd, "batch_size", FeatureOptions.batch_size),
    (evaluate.evaluate_cmd, "device", FeatureOptions.device),
    (singan.train_cmd, "checkpoint_minutes", run_singan.DEFAULT_CHECKPOINT_MINUTES),
    *((cmd, "device", run_singan.DEFAULT_DEVICE) for cmd in (singan.train_cmd, singan.sample_cmd, singan.inpaint_cmd, singan.edit_cmd)),
    (singan.inpaint_cmd, "dilation", DEFAULT_DILATION["inpaint"]),
    (singan.inpaint_cmd, "noise", DEFAULT_NOISE),
]


@pytest.mark.parametrize(("command", "name", "expected"), CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_cli_default_is_the_library_default(command, name, expected):
    assert _default(command, name) == expected


def test_these_commands_load_no_torch_at_start_up():
    code = (
        "import sys; import cimgen.cli.detect, cimgen.cli.evaluate, cimgen.cli.inpainting, cimgen.cli.singan; print('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_the_fine_tuning_precisions_are_the_engines():
    from cimgen.runs.options import FINETUNE_PRECISIONS
    from cimgen.train.runtime import PRECISIONS

    assert FINETUNE_PRECISIONS == PRECISIONS
