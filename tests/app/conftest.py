"""A running ``cimgen app`` server and a headless Chromium to drive it (Debian's /usr/bin/chromium via Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CIMGEN_CHROMIUM", "/usr/bin/chromium")
# Flags for a root CI machine with no network: no sandbox, no GPU, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def browser_or_skip() -> str:
    """The Chromium binary; without one the browser tests skip, unless CI (CIMGEN_REQUIRE_BROWSER=1) requires it."""
    path = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    reason = None
    if not path:
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (it is in cimgen's [test] extra)"
    if reason:
        if os.environ.get("CIMGEN_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m cimgen app`` in a child process."""

    def __init__(self, workdir: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.workdir = workdir
        cmd = [sys.executable, "-m", "cimgen", "app", "--port", str(self.port), "--workdir", str(workdir.resolve()), *args]
        # The workdir lies outside the server's working folder and its temp folder, which gradio
        # would serve from anyway, so the tests see whether the app serves its runs by itself.
        cwd, tmp = workdir.parent / "server-cwd", workdir.parent / "server-tmp"
        cwd.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp), "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        self.log = workdir.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=cwd)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "cimgen editor on" in self.log.read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"cimgen app did not start:\n{self.log.read_text()}")

    def alive(self) -> bool:
        import urllib.request

        if self.proc.poll() is not None:
            return False
        with urllib.request.urlopen(self.url + "config", timeout=10) as r:
            return r.status == 200

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def untrained_detector(folder: Path, arch: str = "patchnet") -> Path:
    """A detector checkpoint with freshly initialised weights: enough to draw a heatmap through the app."""
    from dataclasses import asdict

    import torch

    from cimgen.forensics.train import MODEL_NAME
    from cimgen.io.checkpoints import save_checkpoint
    from cimgen.models.detectors import DetectorConfig, build_detector

    torch.manual_seed(0)
    cfg = DetectorConfig(arch=arch, stage1_channels=4, stage2_channels=4) if arch == "patchnet" else DetectorConfig(arch=arch, width=4)
    net = build_detector(cfg)
    tensors = {f"detector.{k}": v for k, v in net.state_dict().items()}
    return save_checkpoint(folder, {"format": "cimgen-checkpoint", "model": MODEL_NAME, "detector": asdict(cfg)}, tensors)
