"""Output folders that appear only when complete: built under a temporary name, renamed into place."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cimgen.errors import CimgenError


def check_fresh(out: str | Path, hint: str = "choose another folder") -> None:
    """Fail in one sentence when ``out`` exists and is a file or a folder that is not empty (nothing a user made is replaced)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CimgenError(f"{out} already exists and is not empty; {hint}")


@contextlib.contextmanager
def new_folder(out: str | Path, hint: str = "choose another folder") -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; when the block succeeds it becomes ``out``, when it fails it is removed.

    ``out`` must not exist or must be empty, so nothing a user made is ever replaced.
    """
    out = Path(out)
    check_fresh(out, hint)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
