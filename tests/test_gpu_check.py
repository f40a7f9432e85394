"""benchmarks/gpu_check.py --device cpu --quick: every check runs on a CPU and the Markdown report says what each gave."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
RECIPES = ("pix2pixHD", "pix2pix", "CycleGAN", "detector", "SinGAN")
PRECISIONS = ("fp32", "fp16 + GradScaler", "bf16", "torch.compile")


def _table(text: str, title: str) -> list[list[str]]:
    """The rows (cells) of the table under a ``## title`` heading."""
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # the header goes
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


@pytest.mark.slow
def test_quick_cpu_check_runs_every_check_and_reports_each(tmp_path):
    out = tmp_path / "report.md"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--out", str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    assert "no check failed" in text and "FAILED" not in text
    assert f"- torch {torch.__version__}," in text
    caps = sorted(k for k, v in torch.cpu.get_capabilities().items() if v is True)
    assert f"- CPU instruction sets (torch.cpu.get_capabilities()): {', '.join(caps)}" in text
    steps = _table(text, "Training steps")
    assert [(r[0], r[1]) for r in steps] == [(recipe, p) for recipe in RECIPES for p in PRECISIONS]
    for recipe, precision, result, seconds in steps:
        float(seconds)
        if recipe == "SinGAN" and precision == "torch.compile":
            assert result == "not supported: SinGAN's trainer has no torch.compile option"
        elif precision.startswith("fp16") and result.startswith("refused: "):
            continue  # the one refusal a CPU may give: fp16 (SinGAN has no fp16 at all)
        else:
            assert result.startswith("ok: 2 "), (recipe, precision, result)
            assert "finite" in result
        if precision.startswith("fp16") and result.startswith("ok"):
            assert "loss scale" in result, recipe  # the GradScaler ran and its scale is reported
    assert [r[1].split(";")[0] for r in _table(text, "Resume exactness")] == [
        "ok: 4 steps straight == 2 + resume + 2, all 126 tensors bit-identical"
    ] * 2
    (ddp,) = _table(text, "DDP")
    assert ddp[0] == "detector, 2 processes (gloo)" and ddp[1].startswith("ok: 2 processes over gloo: ")
    assert "weight tensors identical on both replicas; batch-norm statistics per process" in ddp[1]
    (memory,) = _table(text, "Memory of the 8 GB preset")
    assert memory[0] == "pix2pixhd_1024x512_local_8gb.yaml" and memory[1].startswith("ok: precision ")
    assert re.search(r"peak over two training steps on 1x3x64x64 images \(cpu\): [0-9.]+ MiB", memory[1])
    (fidelity,) = _table(text, "Fidelity benchmark")
    assert fidelity[0] == "GPU preset"
    if (SHARED_DATA / "pix2pix-tf-samples" / "docs" / "maps.jpg").is_file():
        preset = "memorise-full-detail-bilinear"  # benchmarks/fidelity.py's GPU_PRESET: the default recipe
        assert f'GPU_PRESET = {{"variants": "{preset}"' in (REPO / "benchmarks" / "fidelity.py").read_text()
        assert re.match(rf"ok: {preset}, 2 steps on 192x192 \(cpu\): [0-9.]+ s; whole-image SSIM [0-9.]+, checkerboard", fidelity[1])
    else:
        assert fidelity[1].startswith("not available: the fidelity benchmark's Map2Sat pair is not in ")


def test_a_device_the_machine_lacks_is_one_sentence_and_no_report(tmp_path, capsys):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(SCRIPT.parent))
    out = tmp_path / "report.md"
    assert gpu_check.main(["--device", "gpu0", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "gpu_check: error: --device must be cuda, cuda:N or cpu, got 'gpu0'\n"
    if not torch.cuda.is_available():
        assert gpu_check.main(["--device", "cuda", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err == "gpu_check: error: --device cuda was asked for but CUDA is not available; use --device cpu\n"
    assert not out.exists()
