"""Image and label-map files, and the conversions between uint8 arrays and model tensors."""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from cimgen.errors import CimgenError
from cimgen.palette import SNAP_TOLERANCE, Palette, check_labels, colors_to_labels, snap_colors, snap_rendered_map

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
"""Most pixels an image file may declare (178,956,970, about 13,377 x 13,377: Pillow's own bomb limit); checked from the header."""


def _open(path: str | Path) -> Image.Image:
    """A decoded image, its declared size checked before any pixel is decoded; the file is closed either way."""
    path = Path(path)
    if not path.exists():
        raise CimgenError(f"{path} does not exist")
    if not path.is_file():
        raise CimgenError(f"{path} is not a file")
    try:
        # Pillow's bomb warning would be a second line beside cimgen's sentence; the size is checked here instead.
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(f)
            _check_declared_size(path, img.width, img.height)
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise CimgenError(f"{path} cannot be read as an image ({e.__class__.__name__})") from None
    except Image.DecompressionBombError:
        raise CimgenError(
            f"{path} declares more than {MAX_PIXELS:,} pixels, more than cimgen decodes; it may be a decompression bomb"
        ) from None
    return img


def _check_declared_size(path: Path, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise CimgenError(f"{path} declares an empty {width}x{height} image")
    if width * height > MAX_PIXELS:
        raise CimgenError(
            f"{path} declares {width}x{height} pixels, more than the {MAX_PIXELS:,} cimgen decodes; it may be a decompression bomb"
        )


def _finite(path: str | Path, arr: np.ndarray) -> np.ndarray:
    """``arr`` when every value is a finite number; a float file holding NaN or inf gets one sentence."""
    bad = ~np.isfinite(arr)
    if bad.any():
        y, x = (int(v) for v in np.argwhere(bad)[0][:2])
        raise CimgenError(f"{path} holds {arr[y, x]} at pixel (x={x}, y={y}); an image's pixels must be finite numbers")
    return arr


JPEG_START = b"\xff\xd8\xff"
"""The first bytes of every JPEG file (the start-of-image marker and the next marker's lead byte)."""


@dataclass(frozen=True)
class JpegCompression:
    """How a JPEG file was compressed: its quantisation tables (Pillow's ``quantization``: table id -> 64
    values in zigzag order) and its chroma subsampling (Pillow's 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0)."""

    tables: tuple[tuple[int, ...], ...]
    subsampling: int

    def summary(self) -> dict:
        """For metrics.json: the subsampling and each table's first (DC) step, which says the quality at a glance."""
        names = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
        return {"subsampling": names.get(self.subsampling, str(self.subsampling)), "dc_steps": [t[0] for t in self.tables]}


def read_jpeg_compression(path: str | Path) -> JpegCompression | None:
    """The compression of a colour JPEG file whose pixels ``read_image`` returns on the file's own 8x8 grid; None for
    any other file (another format, a grey JPEG, or EXIF orientation that turns the grid)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(3) != JPEG_START:  # only a JPEG is opened: a large GeoTIFF would trip Pillow's size guard
                return None
        with warnings.catch_warnings(), Image.open(path) as img:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _compression(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _compression(img: Image.Image) -> JpegCompression | None:
    """The compression of an opened colour JPEG on its own grid (see ``read_jpeg_compression``); None otherwise."""
    try:
        if img.format != "JPEG" or img.mode != "RGB":
            return None
        orientation = img.getexif().get(0x0112, 1)
        if orientation not in (0, 1):
            return None
        tables = tuple(tuple(int(v) for v in img.quantization[k]) for k in sorted(img.quantization))
        sampling = JpegImagePlugin.get_sampling(img)
    except (OSError, SyntaxError, ValueError, KeyError, AttributeError):
        return None
    if not tables or sampling not in (0, 1, 2):
        return None
    return JpegCompression(tables, int(sampling))


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array, honouring EXIF orientation."""
    return _rgb8(path, _open(path))


def read_image_and_compression(path: str | Path) -> tuple[np.ndarray, JpegCompression | None]:
    """``read_image``'s pixels and ``read_jpeg_compression``'s answer from one opening of the file."""
    img = _open(path)
    return _rgb8(path, img), _compression(img)


def _rgb8(path: str | Path, img: Image.Image) -> np.ndarray:
    """A decoded image as HxWx3 uint8 RGB, turned by its EXIF orientation."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr / (65535.0 if arr.max() > 255 else 255.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = _finite(path, np.asarray(img, dtype=np.float64))
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        arr = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on black so transparent pixels do not carry stale colour.
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def recompress_jpeg(image: np.ndarray, compression: JpegCompression) -> np.ndarray:
    """``image`` (HxWx3 uint8, on the grid of the file ``compression`` came from) JPEG-encoded with that file's tables and
    chroma subsampling and decoded again (Pillow's libjpeg)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CimgenError(f"only HxWx3 uint8 images are JPEG-compressed, got {image.dtype} {image.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, "JPEG", qtables=[list(t) for t in compression.tables], subsampling=compression.subsampling
    )
    buf.seek(0)
    with Image.open(buf) as again:
        return np.ascontiguousarray(np.asarray(again.convert("RGB"), dtype=np.uint8))


def read_label_map(path: str | Path, *, palette: Palette | None = None, color_tolerance: float = 0.0, rendered: bool = False) -> np.ndarray:
    """Read a semantic map file as an integer HxW label array.

    Single-channel files (8- or 16-bit) and palette-indexed PNGs hold label ids directly (for an
    indexed PNG the index is the label, as in VOC-style label files, whatever colours its own
    palette shows). RGB files are colour maps, mapped to labels through ``palette``.

    Args:
        path: the map file.
        palette: classes and colours, needed for colour maps.
        color_tolerance: largest RGB distance to a palette colour accepted for colour maps.
        rendered: snap colour maps as rendered maps (JPEG screenshots, web-map tiles) with ``snap_rendered_map``
            instead: nearest colour in CIELAB, no colour refused, edge pixels cleaned up (``color_tolerance`` unused).
    """
    img = _open(path)
    if img.mode in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img).astype(np.int64)
    if palette is None:
        raise CimgenError(f"{path} is a colour map ({img.mode}); name a palette to turn its colours into labels")
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    if rendered:
        return snap_rendered_map(rgb, palette, source=str(path))[0]
    return colors_to_labels(rgb, palette, tolerance=color_tolerance, source=str(path))


def read_edited_map(path: str | Path, palette: Palette, *, tolerance: float = SNAP_TOLERANCE) -> tuple[np.ndarray, dict]:
    """Read a map that a person drew or edited (GIMP, Photoshop): label ids, or colours snapped to the palette.

    Single-channel and indexed files hold label ids, checked against the palette's classes.
    RGB files go through ``snap_colors``: near and anti-aliased colours become classes, any
    other colour is refused with its value and a pixel where it occurs.

    Returns:
        (HxW labels as uint8, or int32 for more than 256 classes; counts of exact / near /
        blended / junction pixels, empty for label files).
    """
    # The smallest integer type that holds the classes: an 8192x8192 map is 64 MiB as uint8, 512 MiB as int64.
    dtype = np.uint8 if palette.num_classes <= 256 else np.int32
    img = _open(path)
    if img.mode in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
        labels = np.asarray(img)
        check_labels(labels, palette.num_classes, source=str(path))
        return labels.astype(dtype), {}
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    labels, counts = snap_colors(rgb, palette, tolerance=tolerance, source=str(path))
    return labels.astype(dtype), counts


def read_rendered_map(path: str | Path, palette: Palette) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Read a rendered map (a JPEG screenshot, a web-map tile): its labels, snapped with ``snap_rendered_map``, and its colours.

    Single-channel and indexed files hold label ids, checked against the palette's classes, and have no colours.

    Returns:
        (HxW labels as uint8, or int32 for more than 256 classes; the HxWx3 uint8 colour map or None; the snapping's counts).
    """
    dtype = np.uint8 if palette.num_classes <= 256 else np.int32
    img = _open(path)
    if img.mode in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
        labels = np.asarray(img)
        check_labels(labels, palette.num_classes, source=str(path))
        return labels.astype(dtype), None, {}
    rgb = read_image(path)
    labels, counts = snap_rendered_map(rgb, palette, source=str(path))
    return labels.astype(dtype), rgb, counts


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask image as HxW bool: any non-zero value (in any channel) is inside."""
    img = _open(path)
    if img.mode in ("1", "L", "P", "I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img) != 0
    return read_image(path).max(axis=2) > 0


def read_id_map(path: str | Path) -> np.ndarray:
    """Read a single-channel file of integer ids (an instance map, a mask) losslessly.

    The values are kept in the file's own integer type: 8-bit and palette-indexed files give
    uint8, 16-bit files (Cityscapes ``*_instanceIds.png``) uint16, 32-bit files int32; a
    1-bit file gives 0/1 uint8. Nothing is scaled.
    """
    img = _open(path)
    if img.mode not in ("1", "L", "P", "I;16", "I;16B", "I;16L", "I"):
        raise CimgenError(f"{path} has {img.mode} pixels; an id map must be a single-channel 8-, 16- or 32-bit file")
    arr = np.asarray(img)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def image_size(path: str | Path) -> tuple[int, int]:
    """The (height, width) of an image file, read from its header without decoding the pixels."""
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"{path} does not exist")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(f)
            _check_declared_size(path, img.width, img.height)
            return img.height, img.width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise CimgenError(f"{path} cannot be read as an image ({e.__class__.__name__})") from None
    except Image.DecompressionBombError:
        raise CimgenError(
            f"{path} declares more than {MAX_PIXELS:,} pixels, more than cimgen decodes; it may be a decompression bomb"
        ) from None


def atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an HxWx3 (or HxW) uint8 array atomically; the format follows the suffix."""
    path = Path(path)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise CimgenError(f"write_image needs a uint8 HxW or HxWx3 array, got {image.dtype} {image.shape}")
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), "PNG")
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format=fmt))
    return path


def write_label_map(path: str | Path, labels: np.ndarray) -> Path:
    """Write an integer label map as an 8-bit (or 16-bit when needed) single-channel PNG, atomically."""
    path = Path(path)
    if labels.ndim != 2 or labels.min(initial=0) < 0:
        raise CimgenError("a label map must be a non-negative integer HxW array")
    arr = labels.astype(np.uint8 if labels.max(initial=0) < 256 else np.uint16)
    atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    path = Path(path)

    def _w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, _w)
    return path


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 array -> 3xHxW float tensor in [-1, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3:
        raise CimgenError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """3xHxW (or 1x3xHxW) float tensor in [-1, 1] -> HxWx3 uint8 array, rounded."""
    t = tensor.detach().float().cpu()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise CimgenError(f"tensor_to_image takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    arr = ((t.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CimgenError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
