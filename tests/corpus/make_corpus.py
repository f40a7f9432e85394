"""Generate the bad-input corpus: files that users really feed cimgen, broken in the ways files really break.

Usage: python tests/corpus/make_corpus.py OUT

Every item is made by code here (nothing is hand-collected), so the corpus is the same on
every machine. Each item has a kind (the slot it goes into: image, map, mask, spec, config,
checkpoint, official, palette) and says whether it is legitimate (cimgen must handle it, e.g.
an RGBA image or an EXIF-rotated photo) or bad (cimgen must refuse it with one sentence).
The good image size is 80x64 (width x height; a detector's 64x64 patch fits); good maps, masks and references match it.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 80, 64
MARKER_NAME = "PWNED"
"""The file a pickle payload in the corpus would create if it ever ran."""


@dataclass(frozen=True)
class Item:
    """One corpus file (or folder)."""

    name: str
    kind: str
    legit: bool
    what: str
    path: Path


def _rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


def good_image() -> np.ndarray:
    """An 80x64 RGB picture with some structure (SinGAN and the detectors see texture)."""
    rng = _rng()
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.float64)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def good_labels() -> np.ndarray:
    """An 80x64 synthetic-world label map: ground with a road, a building and water."""
    labels = np.zeros((H, W), np.uint8)
    labels[20:26, :] = 1
    labels[4:16, 8:24] = 2
    labels[30:44, 36:60] = 3
    return labels


def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG") if mode else Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but holds a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


class PickleBomb:
    """Unpickling this calls ``open(marker, 'w')``: proof that a loader ran code from a file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def make_corpus(out: str | Path) -> list[Item]:
    """Write every corpus item under ``out`` and return them."""
    import torch
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    marker = out / MARKER_NAME

    def add(name: str, kind: str, legit: bool, what: str, data: bytes | None = None) -> Path:
        p = out / name
        if data is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        items.append(Item(name, kind, legit, what, p))
        return p

    img = good_image()
    png = _png_bytes(img)
    jpg = io.BytesIO()
    Image.fromarray(img).save(jpg, format="JPEG", quality=90)
    tif = io.BytesIO()
    Image.fromarray(img).save(tif, format="TIFF")

    # -- images ---------------------------------------------------------------------------
    add("image_truncated.png", "image", False, "PNG cut off halfway", png[: len(png) // 2])
    add("image_truncated.jpg", "image", False, "JPEG cut off halfway", jpg.getvalue()[: len(jpg.getvalue()) // 2])
    add("image_truncated.tif", "image", False, "TIFF cut off halfway", tif.getvalue()[: len(tif.getvalue()) // 2])
    add("image_zero_bytes.png", "image", False, "an empty file", b"")
    add("image_text.png", "image", False, "a text file named .png", b"this is not an image\n" * 20)
    add("image_html.jpg", "image", False, "an HTML page named .jpg", b"<!doctype html><html><body>404</body></html>")
    add("image_bomb.png", "image", False, "a PNG declaring 60000x60000 pixels (decompression bomb)", _bomb_png(60000, 60000))
    gray = img.mean(-1).astype(np.uint8)
    add("image_gray.png", "image", True, "8-bit grayscale", _png_bytes(gray))
    rgba = np.dstack([img, np.full((H, W), 200, np.uint8)])
    add("image_rgba.png", "image", True, "RGBA with partial transparency", _png_bytes(rgba))
    pal = Image.fromarray(img).quantize(colors=16)
    buf = io.BytesIO()
    pal.save(buf, format="PNG")
    add("image_palette.png", "image", True, "palette (indexed) PNG", buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(img).convert("CMYK").save(buf, format="JPEG", quality=90)
    add("image_cmyk.jpg", "image", True, "CMYK JPEG", buf.getvalue())
    # stored 64 wide and 80 high, with EXIF orientation 6 (rotate 90 clockwise to view): shown 80x64
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(img, 1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=90, exif=exif)
    add("image_exif_rotated.jpg", "image", True, "JPEG stored portrait with EXIF orientation 6", buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray((gray.astype(np.uint16) * 257), mode="I;16").save(buf, format="TIFF")
    add("image_gray16.tif", "image", True, "16-bit grayscale TIFF", buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(gray.astype(np.float32) / 255.0, mode="F").save(buf, format="TIFF")
    add("image_float.tif", "image", True, "32-bit float TIFF in [0, 1]", buf.getvalue())
    add("image_other_size.png", "image", False, "a 40x40 image: another size and aspect than its map", _png_bytes(img[:40, :40].copy()))

    # -- maps -----------------------------------------------------------------------------
    labels = good_labels()
    add(
        "map_unknown_labels.png",
        "map",
        False,
        "label ids up to 200 (the palette has 6 classes)",
        _png_bytes(np.where(labels == 2, 200, labels).astype(np.uint8)),
    )
    noise = _rng().integers(0, 255, (H, W, 3), dtype=np.uint8)
    add("map_unknown_colours.png", "map", False, "a colour map of random colours", _png_bytes(noise))
    add("map_other_size.png", "map", False, "a map of another size than the image (40x30)", _png_bytes(labels[:30, :40].copy()))
    add("map_truncated.png", "map", False, "map PNG cut off halfway", _png_bytes(labels)[:60])

    # -- masks ----------------------------------------------------------------------------
    add("mask_empty.png", "mask", False, "a mask with no pixel set", _png_bytes(np.zeros((H, W), np.uint8)))
    add("mask_full.png", "mask", False, "a mask covering everything", _png_bytes(np.full((H, W), 255, np.uint8)))
    add("mask_other_size.png", "mask", False, "a mask of another size (40x30)", _png_bytes(np.full((30, 40), 255, np.uint8)))

    # -- edit specs -----------------------------------------------------------------------
    add("spec_typo_op.yaml", "spec", False, "operation 'remvoe'", b"edits:\n  - {op: remvoe, at: [5, 5]}\n")
    add("spec_typo_key.yaml", "spec", False, "key 'boxx'", b"edits:\n  - {op: insert, class: water, boxx: [1, 1, 9, 9]}\n")
    add("spec_wrong_type.yaml", "spec", False, "box given as a string", b"edits:\n  - {op: insert, class: water, box: 'ten by ten'}\n")
    add("spec_unknown_class.yaml", "spec", False, "class 'lava'", b"edits:\n  - {op: insert, class: lava, box: [1, 1, 9, 9]}\n")
    add("spec_not_yaml.yaml", "spec", False, "unbalanced YAML", b"edits: [ {op: insert, class: water\n")
    add("spec_binary.json", "spec", False, "binary bytes named .json", bytes(range(256)))
    add(
        "spec_python_tag.yaml",
        "spec",
        False,
        "a YAML python/object tag (unsafe loaders would run it)",
        b"!!python/object/apply:os.system ['touch PWNED']\n",
    )

    # -- configs --------------------------------------------------------------------------
    add("config_unknown_key.yaml", "config", False, "key 'lopo' (for 'loop')", b"lopo: {epochs: 1}\n")
    add("config_wrong_type.yaml", "config", False, "epochs: 'many'", b"loop: {epochs: many}\n")
    add("config_not_yaml.yaml", "config", False, "unbalanced YAML", b"loop: {epochs: 1\n")
    add("config_python_tag.yaml", "config", False, "a YAML python/object tag", b"loop: !!python/object/apply:os.system ['touch PWNED']\n")

    # -- checkpoints ----------------------------------------------------------------------
    from cimgen.generators import shipped_checkpoint

    good_ckpt = shipped_checkpoint()
    ck = out / "ckpt_truncated"
    ck.mkdir(exist_ok=True)
    (ck / "config.json").write_bytes((good_ckpt / "config.json").read_bytes())
    (ck / "weights.safetensors").write_bytes((good_ckpt / "weights.safetensors").read_bytes()[:4096])
    add("ckpt_truncated", "checkpoint", False, "weights.safetensors cut off at 4 KB")
    ck = out / "ckpt_wrong_model"
    ck.mkdir(exist_ok=True)
    cfg = json.loads((good_ckpt / "config.json").read_text())
    cfg["generator"]["num_blocks"] = int(cfg["generator"].get("num_blocks", 9)) + 2
    (ck / "config.json").write_text(json.dumps(cfg))
    (ck / "weights.safetensors").write_bytes((good_ckpt / "weights.safetensors").read_bytes())
    add("ckpt_wrong_model", "checkpoint", False, "weights of another architecture than config.json says")
    ck = out / "ckpt_pickle_weights"
    ck.mkdir(exist_ok=True)
    (ck / "config.json").write_bytes((good_ckpt / "config.json").read_bytes())
    torch.save({"payload": PickleBomb(marker)}, ck / "weights.safetensors")
    add("ckpt_pickle_weights", "checkpoint", False, "a pickle payload saved as weights.safetensors")
    ck = out / "ckpt_bad_json"
    ck.mkdir(exist_ok=True)
    (ck / "config.json").write_text("{ not json")
    save_file({"x": torch.zeros(2)}, str(ck / "weights.safetensors"))
    add("ckpt_bad_json", "checkpoint", False, "config.json that is not JSON")
    ck = out / "ckpt_detector"
    from tests.app.conftest import untrained_detector

    untrained_detector(ck)
    add("ckpt_detector", "checkpoint", False, "a detector where a generator is expected")
    add("ckpt_missing", "checkpoint", False, "a path that does not exist")

    # -- official .pth files --------------------------------------------------------------
    buf = io.BytesIO()
    torch.save({"model.1.weight": PickleBomb(marker)}, buf)
    add("official_pickle.pth", "official", False, "a .pth whose unpickling would create a file", buf.getvalue())
    buf = io.BytesIO()
    torch.save({"model.1.weight": torch.zeros(8, 3, 7, 7)}, buf)
    add("official_truncated.pth", "official", False, "a .pth cut off halfway", buf.getvalue()[: len(buf.getvalue()) // 2])
    add("official_unknown.pth", "official", False, "a .pth of an unknown architecture", _torch_bytes({"encoder.weight": torch.zeros(4, 4)}))
    add("official_text.pth", "official", False, "a text file named .pth", b"weights go here\n")

    # -- palettes -------------------------------------------------------------------------
    add("palette_not_json.json", "palette", False, "a palette that is not JSON", b"[[0, 0, 0], ")
    add(
        "palette_bad_colour.json",
        "palette",
        False,
        "a colour with 2 channels",
        json.dumps({"names": ["a", "b"], "colors": [[0, 0], [1, 2, 3]]}).encode(),
    )
    add(
        "palette_duplicate.json",
        "palette",
        False,
        "two classes with one colour",
        json.dumps({"names": ["a", "b"], "colors": [[1, 2, 3], [1, 2, 3]]}).encode(),
    )

    # -- added for issue 28: input classes the first corpus missed ----------------------------
    # images the generator cannot take, non-finite pixels, sizes declared far beyond the data
    add("image_1x1.png", "image", False, "a 1x1 image", _png_bytes(img[:1, :1].copy()))
    add("image_8x8.png", "image", False, "an 8x8 image, smaller than the generator's minimum", _png_bytes(img[:8, :8].copy()))
    add("image_strip_1000x1.png", "image", False, "a 1000x1 strip, one row high", _png_bytes(np.resize(img, (1, 1000, 3))))
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = gray.astype(np.float32) / 255.0
        bad[10:20, 10:20] = value
        buf = io.BytesIO()
        Image.fromarray(bad, mode="F").save(buf, format="TIFF")
        add(f"image_float_{name}.tif", "image", False, f"a 32-bit float TIFF with {name} pixels", buf.getvalue())
    add(
        "image_bomb_warning.png",
        "image",
        False,
        "a PNG declaring 9500x9500 pixels (Pillow warns, then the data runs out)",
        _bomb_png(9500, 9500),
    )
    add("image_bomb.tif", "image", False, "a TIFF declaring 100000x100000 pixels in a few bytes", _huge_tiff(100000, 100000, geo=False))
    add("image_sparse_geotiff.tif", "image", False, "a sparse GeoTIFF declaring 200000x200000 pixels", _huge_tiff(200000, 200000, geo=True))
    add("image_zero_width.png", "image", False, "a PNG whose header declares 0x64 pixels", _bomb_png(0, 64))

    # specs, configs and palettes as data: nesting, aliases, duplicate keys, encodings, values of the wrong kind
    deep_yaml = b"edits: " + b"[" * 400 + b"]" * 400 + b"\n"
    add("spec_deep.yaml", "spec", False, "lists nested 400 deep", deep_yaml)
    add("spec_deep.json", "spec", False, "JSON lists nested 100000 deep", b"[" * 100000 + b"]" * 100000)
    add("spec_alias_bomb.yaml", "spec", False, "a YAML alias bomb (10**9 values)", _alias_bomb(b"edits"))
    add(
        "spec_duplicate_key.yaml",
        "spec",
        False,
        "'class' given twice in one edit",
        b"edits:\n  - {op: insert, class: water, class: road, box: [2, 30, 20, 44]}\n",
    )
    add(
        "spec_duplicate_key.json",
        "spec",
        False,
        "'box' given twice in one JSON edit",
        b'{"edits": [{"op": "insert", "class": "water", "box": [2, 30, 20, 44], "box": [0, 0, 5, 5]}]}',
    )
    good_spec = '{"edits": [{"op": "insert", "class": "water", "box": [2, 30, 20, 44]}]}'
    add("spec_bom.json", "spec", True, "a valid JSON spec saved with a UTF-8 byte-order mark", b"\xef\xbb\xbf" + good_spec.encode())
    add("spec_bom.yaml", "spec", True, "a valid YAML spec saved with a UTF-8 byte-order mark", b"\xef\xbb\xbf" + good_spec.encode())
    add(
        "spec_latin1.yaml",
        "spec",
        False,
        "Latin-1 text (a comment with an e-acute)",
        "# r\u00e9gion\n".encode("latin-1") + good_spec.encode(),
    )
    add("spec_utf16.json", "spec", False, "a JSON spec saved as UTF-16", good_spec.encode("utf-16"))
    add(
        "spec_op_list.yaml",
        "spec",
        False,
        "an operation given as a list",
        b"edits:\n  - {op: [insert], class: water, box: [2, 30, 20, 44]}\n",
    )
    add("spec_op_mapping.json", "spec", False, "an operation given as a mapping", b'[{"op": {"insert": 1}, "class": "water"}]')
    add(
        "spec_class_superscript.yaml",
        "spec",
        False,
        "class '\u00b2' (a Unicode digit)",
        "edits:\n  - {op: insert, class: \u00b2, box: [2, 30, 20, 44]}\n".encode(),
    )
    add(
        "spec_class_list.yaml",
        "spec",
        False,
        "a class given as a list",
        b"edits:\n  - {op: insert, class: [water], box: [2, 30, 20, 44]}\n",
    )
    add("spec_class_bool.yaml", "spec", False, "a class given as true", b"edits:\n  - {op: insert, class: true, box: [2, 30, 20, 44]}\n")
    add("spec_nan.json", "spec", False, "a JSON spec with NaN in a point", b'[{"op": "remove", "at": [NaN, 3]}]')
    add(
        "spec_negative_seed.yaml",
        "spec",
        False,
        "a random pick with seed -1",
        b"edits:\n  - {op: remove, class: building, choose: random, seed: -1}\n",
    )
    add("spec_fill_list.yaml", "spec", False, "a fill mode given as a list", b"edits:\n  - {op: remove, at: [12, 8], fill: [nearest]}\n")
    add(
        "config_deep.yaml",
        "config",
        False,
        "mappings nested 300 deep",
        b"".join(b"  " * i + b"k:\n" for i in range(300)) + b"  " * 300 + b"1\n",
    )
    add("config_alias_bomb.yaml", "config", False, "a YAML alias bomb (10**9 values)", _alias_bomb(b"notes"))
    add("config_duplicate_key.yaml", "config", False, "'loop' given twice", b"loop: {epochs: 1}\nloop: {epochs: 2}\n")
    add("config_bom.yaml", "config", True, "a valid config saved with a UTF-8 byte-order mark", b"\xef\xbb\xbfloop: {epochs: 1}\n")
    add(
        "config_latin1.yaml",
        "config",
        False,
        "Latin-1 text (a comment with an e-acute)",
        "# r\u00e9glage\nloop: {epochs: 1}\n".encode("latin-1"),
    )
    synth = {"names": ["ground", "road", "building", "water", "vegetation", "tree"]}
    colours = [[242, 239, 233], [255, 255, 255], [217, 208, 201], [170, 211, 223], [200, 230, 180], [163, 204, 150]]
    add(
        "palette_bom.json",
        "palette",
        True,
        "the synth palette saved with a UTF-8 byte-order mark",
        b"\xef\xbb\xbf" + json.dumps({**synth, "colors": colours}).encode(),
    )
    add(
        "palette_bool_colours.json",
        "palette",
        False,
        "colours given as true/false",
        json.dumps({**synth, "colors": [[True, False, True]] * 6}).encode(),
    )
    add(
        "palette_float_colours.json",
        "palette",
        False,
        "a colour with a fraction",
        json.dumps({**synth, "colors": [[0.5, 1, 2]] + colours[1:]}).encode(),
    )
    add(
        "palette_names_string.json",
        "palette",
        False,
        "names given as one string",
        json.dumps({"names": "abcdef", "colors": colours}).encode(),
    )
    add(
        "palette_duplicate_key.json",
        "palette",
        False,
        "'colors' given twice",
        ('{"names": %s, "colors": %s, "colors": %s}' % (json.dumps(synth["names"]), json.dumps(colours), json.dumps(colours))).encode(),
    )
    add("palette_deep.json", "palette", False, "a palette nested 100000 deep", b'{"names": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    add(
        "palette_latin1.json",
        "palette",
        False,
        "Latin-1 text (a class named with an e-acute)",
        json.dumps({"names": ["pr\u00e9"] + synth["names"][1:], "colors": colours}, ensure_ascii=False).encode("latin-1"),
    )
    for name, what, edit in (
        (
            "ckpt_latin1_config",
            "config.json in Latin-1 (an e-acute in a note)",
            lambda t: t.replace('"format"', '"note": "caf\u00e9", "format"', 1).encode("latin-1"),
        ),
        (
            "ckpt_config_duplicate_key",
            "config.json giving 'model' twice",
            lambda t: t.replace('"format"', '"model": "cyclegan", "format"', 1).encode(),
        ),
        (
            "ckpt_config_deep",
            "config.json nested 100000 deep",
            lambda t: t.replace('"format"', '"note": ' + "[" * 100000 + "]" * 100000 + ', "format"', 1).encode(),
        ),
    ):
        ck = out / name
        ck.mkdir(exist_ok=True)
        (ck / "config.json").write_bytes(edit((good_ckpt / "config.json").read_text()))
        (ck / "weights.safetensors").write_bytes((good_ckpt / "weights.safetensors").read_bytes())
        add(name, "checkpoint", False, what)
    _add_untrusted_model_items(out, add)
    return items


def _alias_bomb(key: bytes) -> bytes:
    """YAML in which nine levels of ten aliases each stand for 10**9 values (a billion laughs)."""
    lines = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(b"a%d: &a%d [" % (level, level) + b", ".join([b"*a%d" % (level - 1)] * 10) + b"]")
    lines.append(key + b": [" + b", ".join([b"*a8"] * 10) + b"]")
    return b"\n".join(lines) + b"\n"


def _huge_tiff(width: int, height: int, *, geo: bool) -> bytes:
    """A little-endian TIFF whose header declares width x height RGB pixels but holds no pixel data (a sparse file).

    With ``geo`` it carries a pixel scale, a tie point and a WGS 84 key directory, so GDAL reads it as a GeoTIFF.
    """
    SHORT, LONG, DOUBLE = 3, 4, 12
    entries = [
        (256, LONG, [width]), (257, LONG, [height]), (258, SHORT, [8, 8, 8]), (259, SHORT, [1]), (262, SHORT, [2]),
        (273, LONG, [0]), (277, SHORT, [3]), (278, LONG, [height]), (279, LONG, [0]), (284, SHORT, [1]),
    ]  # fmt: skip
    if geo:
        entries += [
            (33550, DOUBLE, [0.001, 0.001, 0.0]),
            (33922, DOUBLE, [0.0, 0.0, 0.0, 10.0, 50.0, 0.0]),
            (34735, SHORT, [1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326]),
        ]
    fmt = {SHORT: "H", LONG: "I", DOUBLE: "d"}
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd, extra = struct.pack("<H", len(entries)), b""
    for tag, kind, values in entries:
        data = struct.pack("<%d%s" % (len(values), fmt[kind]), *values)
        if len(data) <= 4:
            ifd += struct.pack("<HHI", tag, kind, len(values)) + data.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, len(values), extra_at + len(extra))
            extra += data
    return b"II*\0" + struct.pack("<I", ifd_at) + ifd + struct.pack("<I", 0) + extra


def _add_untrusted_model_items(out: Path, add) -> None:
    """Checkpoint configs outside their schema, official files of impossible shapes, configs with numbers no run can use.

    Each checkpoint item changes one thing in the shipped generator's config (or weights); the ones that change
    the config alone carry a tiny weights file, since the config must be refused before any tensor is looked at.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from cimgen.generators import shipped_checkpoint

    good = shipped_checkpoint()
    base = json.loads((good / "config.json").read_text())

    def checkpoint(name: str, what: str, config: dict, tensors: dict | None = None) -> None:
        ck = out / name
        ck.mkdir(exist_ok=True)
        (ck / "config.json").write_text(json.dumps(config))
        save_file(tensors if tensors is not None else {"generator.x": torch.zeros(2)}, str(ck / "weights.safetensors"))
        add(name, "checkpoint", False, what)

    def changed(**generator) -> dict:
        return {**base, "generator": {**base["generator"], **generator}}

    checkpoint("ckpt_no_palette", "config.json without its palette", {k: v for k, v in base.items() if k != "palette"})
    checkpoint("ckpt_no_label_nc", "config.json without label_nc", {k: v for k, v in base.items() if k != "label_nc"})
    checkpoint("ckpt_label_nc_text", "label_nc: 'six'", {**base, "label_nc": "six"})
    checkpoint("ckpt_100000_blocks", "a generator of 100,000 residual blocks", changed(num_blocks=100000))
    checkpoint("ckpt_40_downsamplings", "a generator of 40 downsamplings", changed(num_downsamplings=40))
    checkpoint(
        "ckpt_too_wide", "a generator within every field's range whose size is 8 PB", changed(base_channels=4096, num_downsamplings=10)
    )
    checkpoint("ckpt_blocks_bool", "num_blocks: true", changed(num_blocks=True))
    checkpoint("ckpt_generator_list", "the generator config given as a list", {**base, "generator": [1, 2, 3]})
    checkpoint(
        "ckpt_detector_too_wide",
        "a ResNet-50 detector of width 4096 (1e11 weights)",
        {"format": "cimgen-checkpoint", "model": "detector", "detector": {"arch": "resnet50", "width": 4096}, "mode": "plain"},
    )
    checkpoint(
        "ckpt_singan_too_wide",
        "a SinGAN of 1024-channel 15x15 convolutions, 32 layers a scale",
        {
            "format": "cimgen-checkpoint", "model": "singan",
            "singan": {"nfc": 1024, "max_nfc": 1024, "kernel": 15, "num_layer": 32, "min_size": 25, "max_size": 250},
            "sizes": [[25, 25], [250, 250]], "noise_amps": [1.0, 0.1], "trained_scales": 2,
        },
    )  # fmt: skip
    checkpoint(
        "ckpt_cyclegan_bad_option",
        "a CycleGAN generator with an option its network does not take",
        {"format": "cimgen-checkpoint", "model": "cyclegan", "generator": {"name": "resnet_9blocks", "options": {"num_downs": 8}},
         "discriminator": {"name": "basic", "options": {}}},
    )  # fmt: skip
    tensors = load_file(str(good / "weights.safetensors"))
    first = sorted(k for k in tensors if k.startswith("generator.") and k.endswith(".weight"))[0]
    tensors[first] = tensors[first].clone()
    tensors[first].view(-1)[0] = float("nan")
    checkpoint("ckpt_nan_weights", "the shipped generator with one weight set to NaN", base, tensors)

    # -- official .pth files of impossible shapes ---------------------------------------------------
    conv = torch.zeros(4, 4, 3, 3)
    resnet = {"model.1.weight": torch.zeros(4, 3, 7, 7), "model.10.conv_block.1.weight": conv, "model.10.conv_block.5.weight": conv}
    add(
        "official_scalar.pth",
        "official",
        False,
        "a scalar where the first convolution's weight is",
        _torch_bytes({**resnet, "model.1.weight": torch.tensor(1.0)}),
    )
    add(
        "official_1d.pth",
        "official",
        False,
        "a 1-D tensor where the first convolution's weight is",
        _torch_bytes({**resnet, "model.1.weight": torch.zeros(7)}),
    )
    add("official_int_keys.pth", "official", False, "tensors named by integers", _torch_bytes({1: torch.zeros(4, 3, 7, 7), 2: conv}))
    add(
        "official_2d_block.pth",
        "official",
        False,
        "a 2-D matrix inside a residual block",
        _torch_bytes({**resnet, "model.10.conv_block.5.weight": torch.zeros(4, 36)}),
    )
    downs30 = {"model.1.weight": torch.zeros(4, 36, 7, 7), "model.94.conv_block.1.weight": conv, "model.94.conv_block.5.weight": conv,
               "model.200.weight": torch.zeros(3, 4, 7, 7)}  # fmt: skip
    add("official_30_downsamplings.pth", "official", False, "a pix2pixHD layout with 30 downsamplings", _torch_bytes(downs30))
    from cimgen.models.cyclegan import ResnetGenerator, ResnetGeneratorConfig

    sd = ResnetGenerator(ResnetGeneratorConfig(base_channels=4, num_blocks=1)).state_dict()
    sd["model.1.weight"] = sd["model.1.weight"].clone()
    sd["model.1.weight"][0, 0, 0, 0] = float("inf")
    add("official_inf_weights.pth", "official", False, "a junyanz ResNet generator with an infinite weight", _torch_bytes(sd))

    # -- training configs with numbers no run can use --------------------------------------------------
    for name, what, text in (
        ("config_lr_nan.yaml", "optim.lr: .nan", b"optim: {lr: .nan}\n"),
        ("config_lr_negative.yaml", "optim.lr: -0.0002", b"optim: {lr: -0.0002}\n"),
        ("config_beta_one.yaml", "optim.beta1: 1.5", b"optim: {beta1: 1.5}\n"),
        ("config_seed_negative.yaml", "loop.seed: -1", b"loop: {seed: -1}\n"),
        ("config_step_gamma_inf.yaml", "loop.step_gamma: .inf", b"loop: {step_gamma: .inf}\n"),
        ("config_lambda_negative.yaml", "loss.lambda_feat: -10", b"loss: {lambda_feat: -10}\n"),
        ("config_100000_blocks.yaml", "generator.num_blocks: 100000", b"generator: {num_blocks: 100000}\n"),
        (
            "config_too_wide.yaml",
            "a generator of 8 PB within every field's range",
            b"generator: {base_channels: 4096, num_downsamplings: 10}\n",
        ),
        ("config_device_unknown.yaml", "loop.device: gpu0", b"loop: {device: gpu0}\n"),
        ("config_workers_huge.yaml", "loop.num_workers: 100000", b"loop: {num_workers: 100000}\n"),
    ):
        add(name, "config", False, what, text)


def _torch_bytes(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[2])
    made = make_corpus(sys.argv[1])
    print(f"{len(made)} corpus items in {sys.argv[1]}")
