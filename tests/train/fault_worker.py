"""``cimgen`` with a planted fault: SIGKILL in the middle of the Nth checkpoint file write (CIMGEN_FAULT_KILL_AT_WRITE=N).

Checkpoint files are written by ``safetensors.torch.save_file`` (weights) and ``torch.save``
(train state). The Nth such write of this process stops halfway: the file is cut to half its
size and the process kills itself, as a power cut or the OOM killer would.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    import torch

    import cimgen.io.checkpoints as ck

    kill_at = int(os.environ.get("CIMGEN_FAULT_KILL_AT_WRITE", "0"))
    count = 0
    real_save_file, real_torch_save = ck.save_file, torch.save

    def maybe_die(path) -> None:
        nonlocal count
        count += 1
        if count == kill_at:
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    def save_file(tensors, filename, *args, **kwargs):
        real_save_file(tensors, filename, *args, **kwargs)
        maybe_die(filename)

    def torch_save(obj, f, *args, **kwargs):
        real_torch_save(obj, f, *args, **kwargs)
        if isinstance(f, (str, os.PathLike)):
            maybe_die(f)

    ck.save_file = save_file
    ck.torch.save = torch_save
    from cimgen.cli.main import main as cli

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
