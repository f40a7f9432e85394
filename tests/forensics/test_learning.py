"""Learning test of the detector recipe: a tiny detector separates pristine from generated patches, and a broken loss does not.

The patches are the forensics fixtures' (synthetic-world scenes against the shipped generator's
renders of their maps, 64x64, two scenes held out for validation). The detector recipe's own
update phase (``DetectorRecipe.step``, mode plain) runs on the whole training split as one batch
for a fixed number of steps; quality is the recipe's own validation (``validate()``: AUC and
accuracy on the held-out scenes), against the same network untrained.

Broken objectives, which must not reach the figures: ``labels_flipped`` (the batch's labels
turned round, as a dataset with its classes swapped would give) and ``bce_sign`` (the binary
cross-entropy the recipe minimises, negated).

Measured on the 2-core development CPU (one torch thread, see ``one_thread``) with
``.venv/bin/python -m pytest tests/forensics/test_learning.py -q -p no:cacheprovider -s``:

| run | val AUC | val accuracy |
|---|---:|---:|
| untrained | 0.578 | 0.500 |
| good (threshold: AUC >= 0.9 and accuracy >= 0.75) | 0.969 | 0.812 |
| labels_flipped | 0.000 | 0.125 |
| bce_sign | 0.000 | 0.062 |

The fixture builds in about 14 s (shared with the other forensics tests); each training about 3-6 s.
"""

from __future__ import annotations

import types

import pytest
import torch

import cimgen.forensics.train as detector_train
from cimgen.forensics.evaluate import ACCURACY, AUC
from cimgen.forensics.patches import PatchDataset
from cimgen.forensics.train import DetectorRecipe, resolve_config
from cimgen.train.runtime import Runtime
from tests.forensics.conftest import tiny_detector_config

STEPS = 60
MIN_AUC, MIN_ACCURACY = 0.9, 0.75
BROKEN = ("labels_flipped", "bce_sign")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def learns(patch_dataset, monkeypatch: pytest.MonkeyPatch, broken: str | None = None) -> tuple[dict, dict]:
    """Train a tiny plain detector on the whole training split; returns its validation metrics (after, before).

    Args:
        patch_dataset: the patch dataset folder.
        monkeypatch: where a broken objective is installed (undone after the test).
        broken: None or one of ``BROKEN``.
    """
    raw = tiny_detector_config(patch_dataset, "plain", precision="fp32", device="cpu")
    raw["optim"] = {"lr": 1e-3}
    cfg = resolve_config(raw)
    train = PatchDataset(patch_dataset, "train")
    recipe = DetectorRecipe(cfg, Runtime(torch.device("cpu")), PatchDataset(patch_dataset, "val"))
    batch = {"patch": torch.stack([train[i]["patch"] for i in range(len(train))]), "label": torch.from_numpy(train.labels).float()}
    before = recipe.validate()
    if broken == "labels_flipped":
        prepare = recipe.prepare_batch

        def flipped(batch):
            x, y = prepare(batch)
            return x, 1 - y

        monkeypatch.setattr(recipe, "prepare_batch", flipped)
    elif broken == "bce_sign":
        real_bce = torch.nn.functional.binary_cross_entropy_with_logits
        negated = types.SimpleNamespace(binary_cross_entropy_with_logits=lambda *a, **k: -real_bce(*a, **k))
        monkeypatch.setattr(detector_train, "F", negated)  # the recipe's name for torch.nn.functional
    elif broken is not None:
        raise ValueError(broken)
    for _ in range(STEPS):
        for phase in recipe.phases():
            phase(batch)
    return recipe.validate(), before


def test_detector_learns_to_tell_generated_patches(patch_dataset, monkeypatch):
    after, before = learns(patch_dataset, monkeypatch)
    print(f"detector untrained: auc {before[AUC]:.3f} acc {before[ACCURACY]:.3f}; good: auc {after[AUC]:.3f} acc {after[ACCURACY]:.3f}")
    assert after[AUC] >= MIN_AUC and after[ACCURACY] >= MIN_ACCURACY, (before, after)
    assert after["loss"] < before["loss"]


@pytest.mark.parametrize("broken", BROKEN)
def test_broken_detector_objective_does_not_learn(patch_dataset, monkeypatch, broken):
    after, _ = learns(patch_dataset, monkeypatch, broken)
    print(f"detector {broken}: auc {after[AUC]:.3f} acc {after[ACCURACY]:.3f}")
    assert after[AUC] < MIN_AUC and after[ACCURACY] < MIN_ACCURACY, after
