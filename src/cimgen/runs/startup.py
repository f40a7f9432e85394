"""A training start that fails before its first checkpoint leaves no run folder behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from cimgen.io.checkpoints import has_checkpoint


class FailedStartCleanup:
    """Removes what a training command wrote into its run folder when it fails before writing any checkpoint.

    Made before the command writes anything (it notes what the folder holds then); used as ``with guard:``
    around the training. A run that has a checkpoint is kept whatever happens later (``--resume`` continues
    it), and so is everything a resumed run's folder held.

    Args:
        out: the run folder.
        resume: the command continues a run; nothing is ever removed then.
    """

    def __init__(self, out: str | Path | None, *, resume: bool = False):
        # no folder (``--memory``, which writes nothing): nothing to clean up
        self.out = Path(out) if out is not None else None
        self.resume = resume or out is None
        self.before = set(self.out.iterdir()) if self.out is not None and self.out.is_dir() else None

    def __enter__(self) -> FailedStartCleanup:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None or self.resume or self.out is None or not self.out.is_dir() or has_checkpoint(self.out):
            return
        if self.before is None:  # the command made the folder
            shutil.rmtree(self.out, ignore_errors=True)
            return
        for entry in set(self.out.iterdir()) - self.before:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)
