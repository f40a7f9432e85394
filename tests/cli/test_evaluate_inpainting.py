"""``evaluate-inpainting``: the table it prints, the files it writes, and one clear sentence for bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from cimgen.cli.inpainting import evaluate_inpainting_cmd
from cimgen.errors import CimgenError
from cimgen.io.images import read_image, write_image
from cimgen.metrics.inpainting import inpainting_scores, opencv_inpaint
from cimgen.metrics.saliency import DEFAULT_SALIENCY
from tests.conftest import shared


def _invoke(argv: list[str]):
    app = typer.Typer()
    app.command()(evaluate_inpainting_cmd)
    return CliRunner().invoke(app, argv)


@pytest.fixture()
def scene(tmp_path):
    """Clean gradient, its damaged copy with a white hole, the hole mask and a rough fill, as PNG files."""
    y, x = np.mgrid[:48, :64]
    clean = np.stack([x * 3 + 20, y * 4 + 10, (x + y) * 2], axis=2).astype(np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[14:30, 20:40] = True
    damaged = clean.copy()
    damaged[mask] = 255
    rough = clean.copy()
    rough[mask] = 128
    paths = {name: tmp_path / f"{name}.png" for name in ("clean", "damaged", "mask", "rough")}
    for name, image in (("clean", clean), ("damaged", damaged), ("rough", rough)):
        write_image(paths[name], image)
    write_image(paths["mask"], mask.astype(np.uint8) * 255)
    return paths


def _args(scene, **over):
    args = {"--reference": scene["clean"], "--mask": scene["mask"], "--result": scene["rough"], "--damaged": scene["damaged"]}
    args.update(over)
    return [str(x) for k, v in args.items() if v is not None for x in (k, v)]


def test_writes_scores_for_results_damaged_input_and_the_opencv_baseline(scene, tmp_path):
    out = tmp_path / "scores"
    run = _invoke([*_args(scene, **{"--out": out, "--saliency": "spectral-residual"}), "--opencv"])
    assert run.exit_code == 0, run.output
    assert "| image | SSIM | SSIM filled | ASVS (spectral-residual) |" in run.output
    assert run.output.strip().splitlines()[-1] == f"scores written to {out / 'scores.json'}, {out / 'scores.csv'} and {out / 'scores.md'}"

    record = json.loads((out / "scores.json").read_text())
    names = [row["name"] for row in record["rows"]]
    assert names == [str(scene["rough"]), "damaged input (unfilled)", "OpenCV Telea (radius 3)"]
    clean, damaged = read_image(scene["clean"]), read_image(scene["damaged"])
    mask = read_image(scene["mask"]).max(axis=2) > 0
    expected = inpainting_scores(opencv_inpaint(damaged, mask), clean, mask, saliency="spectral-residual")
    assert {k: record["rows"][2][k] for k in expected} == expected
    assert record["opencv_baseline"] == {"method": "telea", "radius": 3.0}

    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names and float(rows[0]["ssim"]) == pytest.approx(record["rows"][0]["ssim"])
    assert "ASVS (spectral-residual)" in (out / "scores.md").read_text()


def test_without_out_nothing_is_written_and_the_default_saliency_is_used(scene, tmp_path):
    run = _invoke(_args(scene, **{"--damaged": None}))
    assert run.exit_code == 0, run.output
    assert f"ASVS ({DEFAULT_SALIENCY})" in run.output
    assert run.output.strip().splitlines()[-1] == "filled region: 320 pixels; nothing written (no --out)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.png", "damaged.png", "mask.png", "rough.png"]


@pytest.mark.parametrize(
    ("over", "flags", "message"),
    [
        ({"--damaged": None}, ["--opencv"], "--opencv needs --damaged PATH"),
        ({"--result": None, "--damaged": None}, [], "give at least one --result image"),
        ({"--saliency": "itti"}, [], "unknown saliency model 'itti'; choose one of: spectral-residual, fine-grained"),
        ({"--mask": "missing.png"}, [], "missing.png does not exist"),
        ({"--mask": "blank"}, [], "the mask is empty; there is no filled region to score"),
        ({"--mask": "small"}, [], "is 20x10 but reference"),
        ({"--result": "small"}, [], "is 20x10 but reference"),
    ],
)
def test_bad_input_raises_one_clear_sentence(scene, tmp_path, over, flags, message):
    write_image(tmp_path / "blank.png", np.zeros((48, 64), np.uint8))
    write_image(tmp_path / "small.png", np.full((10, 20, 3), 255, np.uint8))
    over = {k: (str(tmp_path / f"{v}.png") if v in ("blank", "small") else v) for k, v in over.items()}
    run = _invoke([*_args(scene, **over), *flags])
    assert isinstance(run.exception, CimgenError), run.output
    assert message in str(run.exception) and "\n" not in str(run.exception)


def test_refuses_to_overwrite_earlier_scores(scene, tmp_path):
    out = tmp_path / "scores"
    assert _invoke(_args(scene, **{"--out": out})).exit_code == 0
    run = _invoke(_args(scene, **{"--out": out}))
    assert isinstance(run.exception, CimgenError) and "already holds scores.json" in str(run.exception)


def test_real_set_opencv_baseline_beats_the_unfilled_hole(tmp_path):
    folder = "singan-inpainting-fork/Inpainting"
    args = ["--reference", shared(f"{folder}/0278_gth.png"), "--mask", shared(f"{folder}/0278_inp_mask.png")]
    args += ["--damaged", shared(f"{folder}/0278_inp.png"), "--opencv", "--out", tmp_path / "s"]
    run = _invoke([str(a) for a in args])
    assert run.exit_code == 0, run.output
    damaged, baseline = json.loads((tmp_path / "s" / "scores.json").read_text())["rows"]
    assert baseline["ssim"] > damaged["ssim"] and baseline["ssim_filled"] > damaged["ssim_filled"]
