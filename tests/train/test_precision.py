"""precision: auto chooses by the machine; fp16 trains on a CPU with its loss scaler, skips steps on inf and resumes exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import cimgen.train.runtime as runtime
from cimgen.cli.main import main
from cimgen.config import merge
from cimgen.errors import CimgenError
from cimgen.generators import shipped_checkpoint
from cimgen.io.checkpoints import load_train_state
from cimgen.singan.config import schedule_config
from cimgen.train.loop import LoopConfig, make_runtime
from cimgen.train.pix2pixhd import resolve_config, run_pix2pixhd
from cimgen.train.runtime import Runtime, choose_precision, cpu_summary, native_cpu_bf16
from tests.conftest import tiny_train_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
AVX2_ONLY = {"cpu_name": "AMD EPYC", "avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_tile": False, "amx_bf16": False}
SAPPHIRE_RAPIDS = {**AVX2_ONLY, "cpu_name": "Intel Xeon", "avx512_f": True, "avx512_bf16": True, "amx_tile": True, "amx_bf16": True}
AVX512_NO_BF16 = {**AVX2_ONLY, "avx512_f": True, "avx512_vnni": True}


def test_auto_takes_bf16_on_a_cpu_only_where_it_is_native():
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, caps=AVX2_ONLY)[0] == "fp32"
    assert choose_precision("auto", cpu, caps=AVX512_NO_BF16)[0] == "fp32"  # AVX-512 alone emulates bf16
    used, why = choose_precision("auto", cpu, caps=SAPPHIRE_RAPIDS)
    assert used == "bf16" and "AVX-512 BF16, AMX BF16" in why
    assert choose_precision("auto", cpu, caps={"avx512_bf16": True})[0] == "bf16"
    assert "no native bf16" in choose_precision("auto", cpu, caps=AVX2_ONLY)[1]
    # an explicit precision wins, whatever the machine
    for asked in ("fp32", "bf16", "fp16"):
        assert choose_precision(asked, cpu, caps=AVX2_ONLY) == (asked, "asked for in the config")
    with pytest.raises(CimgenError, match="precision must be one of auto, fp32, bf16, fp16, got 'fp8'"):
        choose_precision("fp8", cpu)


def test_cpu_summary_names_what_decides_bf16():
    line = cpu_summary(AVX2_ONLY)
    assert line.startswith("AMD EPYC: AVX2;") and "no AVX-512 BF16" in line and "no AMX BF16" in line
    assert "AVX-512 BF16, AMX, AMX BF16" in cpu_summary(SAPPHIRE_RAPIDS)
    assert cpu_summary({}).startswith("CPU instruction sets unknown")
    assert native_cpu_bf16(SAPPHIRE_RAPIDS) and not native_cpu_bf16(AVX512_NO_BF16)


def test_the_default_is_auto_everywhere_and_resolves_on_this_machine():
    assert LoopConfig().precision == "auto"
    assert schedule_config("fast").precision == "auto" and schedule_config("original").precision == "auto"
    rt = make_runtime(LoopConfig(device="cpu"))
    assert rt.precision == ("bf16" if native_cpu_bf16() else "fp32") and rt.precision_reason.startswith("auto: the CPU")


PINNED_FP32 = {"synth_pretrain_resize.yaml", "synth_pretrain_bilinear.yaml"}
"""Presets that pin fp32: the pretraining of a shipped generator, whose weights must not depend on the CPU."""


def _dry_run(path: Path, data: Path, out: Path) -> list[str]:
    """The command that resolves a preset without running it: train, finetune (from the shipped checkpoint) or detect train."""
    raw = yaml.safe_load(path.read_text())
    common = ["--config", str(path), "--data", str(data), "--out", str(out), "--dry-run", "--set", "loop.device=cpu"]
    if raw.get("model") == "detector":
        return ["detect", "train", *common]
    if "finetune" in path.name:
        return ["finetune", "--from", str(shipped_checkpoint()), *common]
    return ["train", *common]


@pytest.mark.parametrize("caps,want", [(AVX2_ONLY, "fp32"), (SAPPHIRE_RAPIDS, "bf16")], ids=["avx2-only", "native-bf16"])
def test_every_preset_dry_run_says_what_it_resolves_to(caps, want, monkeypatch, capsys, tmp_path):
    """On a CPU without native bf16 no preset resolves to bf16; on one with it the presets keep their bf16."""
    monkeypatch.setattr(runtime, "cpu_capabilities", lambda: dict(caps))
    (tmp_path / "train_inst").mkdir()  # pix2pixHD's layout with instance maps, which the Cityscapes presets name
    for path in CONFIGS:
        assert main(_dry_run(path, tmp_path, tmp_path / "run")) == 0, (path.name, capsys.readouterr().err)
        out = capsys.readouterr().out
        if path.name in PINNED_FP32:  # a pretraining recipe pinned to fp32: the same weights on every CPU
            assert yaml.safe_load(out)["loop"]["precision"] == "fp32", path.name
            assert "# precision on this machine: fp32 (asked for in the config)" in out, path.name
        else:
            assert yaml.safe_load(out)["loop"]["precision"] == "auto", path.name
            assert f"# precision on this machine: {want} (auto: the CPU" in out, path.name
        assert not (tmp_path / "run").exists()
    assert len(CONFIGS) == 14 and PINNED_FP32 <= {p.name for p in CONFIGS}


def test_fp16_scaler_skips_a_step_whose_gradients_are_not_finite():
    rt = Runtime(torch.device("cpu"), precision="fp16")
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with rt.autocast():
        loss = net(torch.tensor([[float("inf"), 1.0]])).float().sum()
    rt.step(loss, opt)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # the step was skipped
    assert rt._scaler(opt).get_scale() == 65536.0 / 2  # and the scale backed off
    with rt.autocast():
        loss = net(torch.tensor([[1.0, 1.0]])).float().sum()
    rt.step(loss, opt)
    assert not torch.equal(before["weight"], net.state_dict()["weight"])  # a finite step goes through


def test_fp16_on_a_cpu_resumes_exactly_with_its_scaler_state(tiny_world, tmp_path):
    base = merge(tiny_train_config(tiny_world, epochs=2, decay_epochs=0, precision="fp16"), {"loop": {"tensorboard": False}})
    full = run_pix2pixhd(resolve_config(base), tmp_path / "full", echo=None, progress=False)
    part = merge(base, {"loop": {"epochs": 1}})
    run_pix2pixhd(resolve_config(part), tmp_path / "part", echo=None, progress=False)
    resumed = run_pix2pixhd(resolve_config(base), tmp_path / "part", resume=True, echo=None, progress=False)
    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    scalers = load_train_state(full)["scalers"]
    # one scaler per optimiser; fp16 overflows only halve the scale from 2**16, it never grows within 2000 steps
    assert set(scalers) == {"generator", "discriminator"} and all(s["scale"] in {2.0**k for k in range(17)} for s in scalers.values())
    assert load_train_state(resumed)["scalers"] == scalers
    config = json.loads((full / "config.json").read_text())
    assert config["precision"] == {"used": "fp16", "why": "asked for in the config"}
    assert "precision: fp16 (asked for in the config)" in (tmp_path / "full" / "log.txt").read_text()
