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
    return items


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
