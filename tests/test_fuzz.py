"""Fuzzing the loaders of untrusted input with hypothesis: the only failure allowed is the documented one-sentence error.

Targets: images, label maps, palettes, edit specs, YAML configs, checkpoints, official .pth
files. Inputs are random bytes, and valid files mutated byte by byte (flips, cuts, splices),
which reach far deeper into the decoders than random bytes do. Each target tries
``CIMGEN_FUZZ_EXAMPLES`` inputs (default 150), so the whole file stays within seconds in CI;
set it higher for a longer campaign. An input a loader accepts must give what the loader
promises (shape, dtype, range, class count, types); the unmutated seeds must load to their
exact content, so the accepted branch is known to be reachable and right.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
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
ACCEPTED: dict[str, int] = {}


def _count(name: str) -> None:
    TRIED[name] = TRIED.get(name, 0) + 1


def _accepted(name: str) -> None:
    ACCEPTED[name] = ACCEPTED.get(name, 0) + 1


def _seed_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The picture and the label map the seed files hold."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return img, rng.integers(0, 6, (24, 32)).astype(np.uint8)


def _seed_files() -> dict[str, bytes]:
    img, labels = _seed_arrays()
    out = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tif"), ("BMP", "bmp"), ("WEBP", "webp")):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt)
        out[ext] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(labels).save(buf, format="PNG")
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
    _accepted("images")
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
    _accepted("label maps")
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
    _accepted("palettes")
    assert pal.num_classes == len(pal.colors) == len(pal.names) > 0


OPS = st.sampled_from(["remove", "insert", "replace", "paint", "move", "copy", "paste", "remvoe"])
KEYS = st.sampled_from(["at", "class", "box", "polygon", "choose", "seed", "fill", "shape", "from", "to", "by", "mask", "source"])
_CLASS = st.sampled_from(SYNTH_PALETTE.names)
_POINT = st.lists(st.integers(0, 15), min_size=2, max_size=2)
_BOX = st.lists(st.integers(-2, 18), min_size=4, max_size=4)
# Well-formed edits with drawn values, so that the accepted branch is fuzzed too.
VALID_EDIT = st.one_of(
    st.fixed_dictionaries(
        {"op": st.just("insert"), "class": _CLASS, "box": _BOX}, optional={"shape": st.sampled_from(["rectangle", "ellipse"])}
    ),
    st.fixed_dictionaries({"op": st.just("remove"), "class": _CLASS, "box": _BOX}),
    st.fixed_dictionaries({"op": st.just("remove"), "at": _POINT}),
    st.fixed_dictionaries({"op": st.just("replace"), "from": _CLASS, "to": _CLASS, "box": _BOX}),
    st.fixed_dictionaries({"op": st.sampled_from(["move", "copy"]), "at": _POINT, "by": _POINT}),
)
EDIT = st.one_of(st.dictionaries(KEYS, JSONISH, max_size=4).flatmap(lambda d: OPS.map(lambda op: {"op": op, **d})), VALID_EDIT)


def _check_edits(edits: list, raw) -> None:
    """What an accepted spec must give: one operation per listed edit, each of the type its ``op`` names."""
    from cimgen.edit.ops import InsertShape, MoveObject, PaintRegion, PasteObject, RemoveClass, RemoveObject, ReplaceClass

    types = {
        "remove": (RemoveObject, RemoveClass),
        "insert": (InsertShape,),
        "replace": (ReplaceClass,),
        "paint": (PaintRegion,),
        "move": (MoveObject,),
        "copy": (MoveObject,),
        "paste": (PasteObject,),
    }
    listed = raw["edits"] if isinstance(raw, dict) else raw
    assert isinstance(listed, list) and len(edits) == len(listed) > 0
    for edit, item in zip(edits, listed, strict=True):
        assert isinstance(edit, types[item["op"]]), (item, edit)
        if item["op"] in ("move", "copy"):
            assert edit.copy == (item["op"] == "copy")


@FUZZ
@given(spec=st.one_of(st.lists(EDIT, max_size=4).map(lambda e: {"edits": e}), JSONISH))
def test_edit_specs(tmp_path, spec):
    from cimgen.edit.ops import apply_edits
    from cimgen.edit.spec import parse_edits
    from cimgen.io.images import read_mask

    _count("edit specs")
    labels = np.zeros((16, 16), np.int64)
    labels[4:9, 4:9] = 2
    before = labels.copy()
    try:
        edits = parse_edits(spec, SYNTH_PALETTE, base_dir=tmp_path, read_mask=read_mask, read_map=lambda p: np.zeros((4, 4), np.int64))
        out = apply_edits(labels, edits, num_classes=6)
    except CimgenError:
        return
    _accepted("edit specs")
    _check_edits(edits, spec)
    # an edited map of the same size and type, every class known, something changed, the input untouched
    assert out.shape == labels.shape and out.dtype == labels.dtype
    assert out.min() >= 0 and out.max() < SYNTH_PALETTE.num_classes and not np.array_equal(out, labels)
    assert np.array_equal(labels, before)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), mutated(b"edits:\n  - {op: insert, class: water, box: [1, 1, 9, 9]}\n")))
def test_spec_files(tmp_path, text):
    from cimgen.edit.spec import read_spec

    _count("spec files")
    p = tmp_path / "spec.yaml"
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        edits = read_spec(p, SYNTH_PALETTE)
    except CimgenError:
        return
    _accepted("spec files")
    _check_edits(edits, yaml.safe_load(p.read_bytes().decode("utf-8-sig")))


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
    from cimgen.config import load_yaml, to_dict
    from cimgen.forensics.train import DetectorTrainConfig
    from cimgen.forensics.train import resolve_config as detector_config
    from cimgen.train.cyclegan import CycleGANConfig
    from cimgen.train.pix2pix import Pix2PixConfig
    from cimgen.train.pix2pixhd import Pix2PixHDConfig
    from cimgen.train.recipes import get_recipe

    _count("configs")
    resolve = detector_config if recipe == "detector" else get_recipe(recipe).resolve_config
    try:
        if isinstance(raw, bytes):
            p = tmp_path / "c.yaml"
            p.write_bytes(raw)
            raw = load_yaml(p)
        cfg = resolve(raw)
    except CimgenError:
        return
    _accepted("configs")
    kind = {"pix2pixhd": Pix2PixHDConfig, "pix2pix": Pix2PixConfig, "cyclegan": CycleGANConfig, "detector": DetectorTrainConfig}
    assert type(cfg) is kind[recipe]
    assert cfg.loop.batch_size >= 1 and cfg.loop.epochs >= 0 and cfg.loop.epochs + cfg.loop.decay_epochs >= 1
    # The config a run saves resolves to the same run: resolving is idempotent (and so no NaN got through).
    assert resolve(to_dict(cfg)) == cfg


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
# a config.json the loader takes, so that mutated weights reach the tensor reader
CHECKPOINT_CONFIG = json.dumps({"format": "cimgen-checkpoint", "model": "pix2pixhd", "label_nc": 6})


@FUZZ
@given(
    weights=st.one_of(st.binary(max_size=256), mutated(SAFETENSORS)),
    config=st.one_of(JSONISH.map(json.dumps), st.text(max_size=40), st.just(CHECKPOINT_CONFIG)),
)
def test_checkpoints(tmp_path, weights, config):
    from cimgen.io.checkpoints import FORMAT, load_checkpoint

    _count("checkpoints")
    (tmp_path / "config.json").write_text(config)
    (tmp_path / "weights.safetensors").write_bytes(weights)
    try:
        cfg, tensors = load_checkpoint(tmp_path)
    except CimgenError:
        return
    _accepted("checkpoints")
    assert cfg == json.loads(config) and cfg["format"] == FORMAT
    assert isinstance(tensors, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items())
    assert all(v.device.type == "cpu" for v in tensors.values())


@FUZZ
@given(data=st.one_of(st.binary(max_size=256), mutated(PTH)))
def test_official_files(tmp_path, data):
    from cimgen.io.official import read_state_dict

    _count("official .pth")
    p = tmp_path / "latest_net_G.pth"
    p.write_bytes(data)
    try:
        sd = read_state_dict(p)
    except CimgenError:
        return
    _accepted("official .pth")
    # a non-empty name -> CPU tensor dict, unwrapped, without DataParallel prefixes or metadata entries
    assert isinstance(sd, dict) and sd
    assert all(isinstance(k, str) and isinstance(v, torch.Tensor) and v.device.type == "cpu" for k, v in sd.items())
    assert not any(k.startswith("module.") or k == "_metadata" for k in sd)


# -- the seeds themselves: the accepted branch of every target is reachable and right ----------


def test_unmutated_seeds_load_to_their_exact_content(tmp_path):
    from cimgen.edit.spec import read_spec
    from cimgen.io.checkpoints import load_checkpoint
    from cimgen.io.images import read_edited_map, read_image
    from cimgen.io.official import read_state_dict

    img, labels = _seed_arrays()
    for ext in ("png", "tif", "bmp", "jpg", "webp"):
        p = tmp_path / f"seed.{ext}"
        p.write_bytes(SEEDS[ext])
        got = read_image(p)
        assert got.shape == img.shape and got.dtype == np.uint8, ext
        if ext in ("png", "tif", "bmp"):  # lossless
            assert np.array_equal(got, img), ext
        else:  # lossy (noise suffers most), but the same picture: its pixels follow the seed's
            assert np.corrcoef(got.ravel(), img.ravel())[0, 1] > 0.4, ext  # 0.59 and 0.61 measured; unrelated noise: 0
    p = tmp_path / "map.png"
    p.write_bytes(SEEDS["map"])
    assert np.array_equal(read_edited_map(p, SYNTH_PALETTE)[0], labels)
    p = tmp_path / "spec.yaml"
    p.write_bytes(b"edits:\n  - {op: insert, class: water, box: [1, 1, 9, 9]}\n")
    (edit,) = read_spec(p, SYNTH_PALETTE)
    assert (edit.cls, edit.shape, edit.box) == (SYNTH_PALETTE.class_id("water"), "rectangle", (1, 1, 9, 9))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(CHECKPOINT_CONFIG)
    (tmp_path / "ckpt" / "weights.safetensors").write_bytes(SAFETENSORS)
    cfg, tensors = load_checkpoint(tmp_path / "ckpt")
    assert cfg["label_nc"] == 6 and set(tensors) == {"generator.w", "discriminator.b"}
    assert torch.equal(tensors["generator.w"], torch.zeros(3, 4)) and torch.equal(tensors["discriminator.b"], torch.ones(2))
    p = tmp_path / "latest_net_G.pth"
    p.write_bytes(PTH)
    sd = read_state_dict(p)
    assert list(sd) == ["model.1.weight"] and torch.equal(sd["model.1.weight"], torch.zeros(4, 3, 7, 7))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nfuzz inputs tried:", dict(TRIED), "total", sum(TRIED.values()), "accepted:", dict(ACCEPTED))
