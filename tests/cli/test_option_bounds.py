"""Numeric options bounded where they are parsed (ranges in --help) and --device checked, so no library sees a value it cannot take."""

from __future__ import annotations

import re

import pytest

from cimgen.cli.main import main
from cimgen.errors import CimgenError
from cimgen.runs.options import ManipulateConfig, check_manipulate_config


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["edit", "--map", "m.png", "--palette", "synth", "--remove-at", "1,1", "--radius", "100000", "--out", "o"], "--radius"),
        (["manipulate", "--checkpoint", "c", "--image", "i", "--out", "o", "--feather", "1e12"], "--feather"),
        (["manipulate", "--checkpoint", "c", "--image", "i", "--out", "o", "--feather", "nan"], "--feather"),
        (["manipulate", "--checkpoint", "c", "--image", "i", "--out", "o", "--tile-size", "-5"], "--tile-size"),
        (["singan", "sample", "m", "--seed", "-1", "--out", "o"], "--seed"),
        (["detect", "heatmap", "--image", "i", "--detector", "d", "--batch-size", "0", "--out", "o"], "--batch-size"),
        (["evaluate", "r", "--stride", "0", "--out", "o"], "--stride"),
        (["train", "--epochs", "-1", "--out", "o"], "--epochs"),
    ],
)
def test_an_option_out_of_range_is_refused_with_status_2_and_no_output(argv, option, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, err = _run(capsys, argv)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"cimgen: error: Invalid value for '{option}': "), err
    assert not (tmp_path / "o").exists()


def test_the_sentence_names_the_bound(capsys):
    rc, err = _run(capsys, ["edit", "--map", "m.png", "--palette", "synth", "--remove-at", "1,1", "--radius", "100000", "--out", "o"])
    assert rc == 2 and err == "cimgen: error: Invalid value for '--radius': it must be at most 1000\n"
    rc, err = _run(capsys, ["singan", "sample", "m", "--seed", "-1", "--out", "o"])
    assert rc == 2 and err == "cimgen: error: Invalid value for '--seed': it must be at least 0\n"


def test_the_ranges_are_shown_in_help(capsys):
    rc = main(["manipulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert rc == 0
    for shown in ("0<=x<=1000]", "0.0<=x<=1000.0]", "-1<=x<=65536]", "0.0<=x<=442.0]", "1<=x<=100000]"):
        assert shown in text, shown
    rc = main(["singan", "sample", "--help"])
    assert rc == 0 and "0<=x<=4294967295" in capsys.readouterr().out


@pytest.mark.parametrize("device", ["gpu0", "cuda:7"])
def test_a_device_the_machine_lacks_is_one_sentence(device, capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for argv in (
        ["translate", "--checkpoint", "c", "--images", "i", "--out", str(tmp_path / "o"), "--device", device],
        ["singan", "sample", "m", "--out", str(tmp_path / "o"), "--device", device],
        ["manipulate", "--checkpoint", "c", "--image", "i", "--remove-at", "1,1", "--out", str(tmp_path / "o"), "--device", device],
    ):
        rc, err = _run(capsys, argv)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and re.match(r"cimgen: error: (unknown device|device 'cuda:7' was asked for)", lines[0]), err
    assert not (tmp_path / "o").exists()


def test_the_manipulation_run_checks_its_numbers_for_every_caller():
    """The web editor builds the config itself: the run checks it too."""
    good = ManipulateConfig(checkpoint="c", out="o")
    check_manipulate_config(good)
    for change, words in (
        ({"feather": 1e12}, "feather is 1000000000000.0; it must lie between 0.0 and 1000.0"),
        ({"radius": -1}, "radius is -1"),
        ({"tile_size": -5}, "tile_size is -5"),
        ({"color_tolerance": float("nan")}, "color_tolerance is nan"),
        ({"finetune_steps": 0}, "finetune_steps is 0"),
    ):
        with pytest.raises(CimgenError, match=re.escape(words)):
            check_manipulate_config(ManipulateConfig(**{"checkpoint": "c", "out": "o", **change}))
