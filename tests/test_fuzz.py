"""Fuzzing the loaders of untrusted input with hypothesis: the only failure allowed is the documented one-sentence error.

Targets: images, label maps, palettes, edit specs, YAML configs, checkpoints, official .pth
files. Inputs are random bytes, and valid files mutated byte by byte (flips, cuts, splices),
which reach far deeper into the decoders than random bytes do. Each target tries
``CIMGEN_FUZZ_EXAMPLES`` inputs (default 150), so the whole file stays within seconds in CI;
set it higher for a longer campaign.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save_file

from cimgen.errors import CimgenError
from cimgen.palette import SYNTH_PALETTE

EXAMPLES = int(os.environ.get("CIMGEN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
TRIED: dict[str, int] = {}


def _count(name: str) -> None:
    TRIED[name] = TRIED.get(name, 0) + 1


def _seed_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tif"), ("BMP", "bmp"), ("WEBP", "webp")):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt)
        out[ext] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((rng.integers(0, 6, (24, 32))).astype(np.uint8)).save(buf, format="PNG")
    out["map"] = buf.getvalue()
    return out


SEEDS = _seed_files()


@st.composite
def mutated(draw, seed: bytes):
    """A valid file with a few random edits: byte flips, a cut, an insertion."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            data[at : at + 8] = b"\0" * 8
    return bytes(data)


def file_bytes(*seeds: str):
    return st.one_of(st.binary(max_size=512), *(mutated(SEEDS[s]) for s in seeds))


# -- images and maps ---------------------------------------------------------------------------


@FUZZ
@given(data=file_bytes("png", "jpg", "tif", "bmp", "webp"), ext=st.sampled_from(["png", "jpg", "tif", "bmp", "webp"]))
def test_images(tmp_path, data, ext):
    from cimgen.io.images import read_image

    _count("images")
    p = tmp_path / f"fuzz.{ext}"
    p.write_bytes(data)
    try:
        img = read_image(p)
    except CimgenError:
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


@FUZZ
@given(data=file_bytes("map", "png"))
def test_label_maps(tmp_path, data):
    from cimgen.io.images import read_edited_map

    _count("label maps")
    p = tmp_path / "map.png"
    p.write_bytes(data)
    try:
        labels, _ = read_edited_map(p, SYNTH_PALETTE)
    except CimgenError:
        return
    assert labels.ndim == 2 and labels.min() >= 0 and labels.max() < SYNTH_PALETTE.num_classes


# -- palettes, specs, configs ------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


@FUZZ
@given(value=JSONISH, names=st.lists(st.text(max_size=8), max_size=4))
def test_palettes(tmp_path, value, names):
    from cimgen.palette import palette_from_option

    _count("palettes")
    p = tmp_path / "palette.json"
    raw = {"names": names, "colors": value} if isinstance(value, list) else value
    p.write_text(json.dumps(raw, allow_nan=True))
    try:
        pal = palette_from_option(p)
    except CimgenError:
        return
    assert pal.num_classes == len(pal.colors) == len(pal.names) > 0


OPS = st.sampled_from(["remove", "insert", "replace", "paint", "move", "copy", "paste", "remvoe"])
KEYS = st.sampled_from(["at", "class", "box", "polygon", "choose", "seed", "fill", "shape", "from", "to", "by", "mask", "source"])
EDIT = st.dictionaries(KEYS, JSONISH, max_size=4).flatmap(lambda d: OPS.map(lambda op: {"op": op, **d}))


@FUZZ
@given(spec=st.one_of(st.lists(EDIT, max_size=4).map(lambda e: {"edits": e}), JSONISH))
def test_edit_specs(tmp_path, spec):
    from cimgen.edit.ops import apply_edits
    from cimgen.edit.spec import parse_edits
    from cimgen.io.images import read_mask

    _count("edit specs")
    labels = np.zeros((16, 16), np.int64)
    labels[4:9, 4:9] = 2
    try:
        edits = parse_edits(spec, SYNTH_PALETTE, base_dir=tmp_path, read_mask=read_mask, read_map=lambda p: np.zeros((4, 4), np.int64))
        apply_edits(labels, edits, num_classes=6)
    except CimgenError:
        return


@FUZZ
@given(text=st.one_of(st.text(max_size=300), mutated(b"edits:\n  - {op: insert, class: water, box: [1, 1, 9, 9]}\n")))
def test_spec_files(tmp_path, text):
    from cimgen.edit.spec import read_spec

    _count("spec files")
    p = tmp_path / "spec.yaml"
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        read_spec(p, SYNTH_PALETTE)
    except CimgenError:
        return


CONFIG_SEED = b"data: {root: x, label_nc: 6}\ngenerator: {base_channels: 4}\nloop: {epochs: 1, batch_size: 2, precision: bf16}\n"


@FUZZ
@given(
    recipe=st.sampled_from(["pix2pixhd", "pix2pix", "cyclegan", "detector"]),
    raw=st.one_of(
        st.dictionaries(
            st.sampled_from(["data", "generator", "discriminator", "detector", "loop", "loss", "optim", "mode", "lopo"]),
            JSONISH,
            max_size=4,
        ),
        mutated(CONFIG_SEED),
        JSONISH,
    ),
)
def test_training_configs(tmp_path, recipe, raw):
    from cimgen.config import load_yaml
    from cimgen.forensics.train import resolve_config as detector_config
    from cimgen.train.recipes import get_recipe

    _count("configs")
    resolve = detector_config if recipe == "detector" else get_recipe(recipe).resolve_config
    try:
        if isinstance(raw, bytes):
            p = tmp_path / "c.yaml"
            p.write_bytes(raw)
            raw = load_yaml(p)
        resolve(raw)
    except CimgenError:
        return


# -- checkpoints -------------------------------------------------------------------------------


def _safetensors_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        save_file({"generator.w": torch.zeros(3, 4), "discriminator.b": torch.ones(2)}, f"{d}/w.safetensors")
        return Path(f"{d}/w.safetensors").read_bytes()


def _pth_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"model.1.weight": torch.zeros(4, 3, 7, 7)}, buf)
    return buf.getvalue()


SAFETENSORS = _safetensors_bytes()
PTH = _pth_bytes()


@FUZZ
@given(weights=st.one_of(st.binary(max_size=256), mutated(SAFETENSORS)), config=st.one_of(JSONISH.map(json.dumps), st.text(max_size=40)))
def test_checkpoints(tmp_path, weights, config):
    from cimgen.io.checkpoints import load_checkpoint

    _count("checkpoints")
    (tmp_path / "config.json").write_text(config)
    (tmp_path / "weights.safetensors").write_bytes(weights)
    try:
        load_checkpoint(tmp_path)
    except CimgenError:
        return


@FUZZ
@given(data=st.one_of(st.binary(max_size=256), mutated(PTH)))
def test_official_files(tmp_path, data):
    from cimgen.io.official import read_state_dict

    _count("official .pth")
    p = tmp_path / "latest_net_G.pth"
    p.write_bytes(data)
    try:
        read_state_dict(p)
    except CimgenError:
        return


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nfuzz inputs tried:", dict(TRIED), "total", sum(TRIED.values()))
