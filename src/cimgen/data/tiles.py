"""Large scenes (aerial GeoTIFFs or PNGs) and their masks, cut into square tiles on the fly.

The tile grid is computed up front from the scene sizes, which are read from the file headers.
Each tile then reads only its own window: GeoTIFFs through rasterio's windowed reads when
rasterio is installed, other files (and GeoTIFFs without rasterio) by decoding the scene with
Pillow, keeping at most one decoded scene (its image and its mask) in memory. PNG has no random
access, so for scenes of thousands of pixels visited in random order GeoTIFF is the fast format.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimgen.data.layouts import index_folder
from cimgen.errors import CimgenError
from cimgen.io.images import image_size, read_id_map, read_image

try:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    from rasterio.windows import Window
except ImportError:  # rasterio is a dependency, but the Pillow path reads every format on its own
    rasterio = None

TILE_EDGES = ("skip", "pad", "shift")
GEOTIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Scene:
    """One large image and its mask."""

    name: str
    """The sample name both files were matched on."""
    image: Path
    """The RGB (or grey) scene image."""
    label: Path
    """The single-channel mask or label map, the same size as the image."""
    height: int
    """Rows of the scene."""
    width: int
    """Columns of the scene."""


@dataclass(frozen=True)
class Tile:
    """A square window of a scene; it may reach past the scene's right or bottom border (``pad``)."""

    scene: int
    """Index of the scene in the scene list."""
    y: int
    """Top row of the window."""
    x: int
    """Left column of the window."""


def tile_starts(length: int, tile_size: int, stride: int, edge: str) -> list[int]:
    """Start offsets of the tiles along one axis of a scene.

    Tiles start at 0, stride, 2 * stride, ... until one reaches the end. A last tile that would
    run past the end is dropped (``skip``), kept and later padded (``pad``), or moved back to end
    at the border (``shift``, overlapping its neighbour more than the stride says).

    Args:
        length: pixels along the axis.
        tile_size: side of a tile.
        stride: step between tile starts.
        edge: ``skip``, ``pad`` or ``shift``.

    Raises:
        CimgenError: for a bad edge mode or sizes below 1.
    """
    if edge not in TILE_EDGES:
        raise CimgenError(f"tile_edge must be one of {', '.join(TILE_EDGES)}, got '{edge}'")
    if tile_size < 1 or stride < 1 or length < 1:
        raise CimgenError(f"tile size, stride and length must be at least 1, got {tile_size}, {stride} and {length}")
    starts = [0]
    while starts[-1] + tile_size < length:
        starts.append(starts[-1] + stride)
    if starts[-1] + tile_size > length:
        if edge == "skip":
            starts.pop()
        elif edge == "shift":
            starts[-1] = max(length - tile_size, 0)
    return starts


def tile_grid(scenes: list[Scene], tile_size: int, stride: int, edge: str) -> list[Tile]:
    """All tiles of all scenes, scene by scene and row by row.

    Raises:
        CimgenError: if a scene is smaller than a tile and ``edge`` is not ``pad``.
    """
    tiles: list[Tile] = []
    for i, scene in enumerate(scenes):
        if edge != "pad" and (tile_size > scene.height or tile_size > scene.width):
            raise CimgenError(
                f"tile_size {tile_size} is larger than scene {scene.image.name} ({scene.width}x{scene.height}); "
                "use smaller tiles or tile_edge: pad"
            )
        for y in tile_starts(scene.height, tile_size, stride, edge):
            for x in tile_starts(scene.width, tile_size, stride, edge):
                tiles.append(Tile(i, y, x))
    return tiles


def list_scenes(
    root: Path,
    *,
    image_dir: str,
    label_dir: str,
    image_pattern: str = "{name}",
    label_pattern: str = "{name}",
) -> list[Scene]:
    """Scenes and their masks matched by name, with sizes from the file headers.

    Args:
        root: the dataset folder.
        image_dir: sub-folder of scene images (Inria: ``images``, SpaceNet samples: ``3band``).
        label_dir: sub-folder of masks (Inria: ``gt``); may equal ``image_dir`` when the patterns differ.
        image_pattern: stem of an image built from the scene name, e.g. ``image{name}``.
        label_pattern: stem of a mask built from the scene name, e.g. ``mask{name}``.

    Raises:
        CimgenError: for unpaired files, or an image and mask of different sizes.
    """
    if label_dir == image_dir and label_pattern == image_pattern:
        raise CimgenError(
            f"scenes and masks are both in '{image_dir}' with the same name pattern; "
            "set label_pattern and image_pattern (e.g. mask{name} and image{name}) to tell them apart"
        )
    images = index_folder(root / image_dir, image_pattern, what="image", option="image_pattern")
    labels = index_folder(root / label_dir, label_pattern, what="mask", option="label_pattern")
    if not images:
        raise CimgenError(f"{root / image_dir} holds no scene images")
    unpaired = sorted(set(images) ^ set(labels))
    if unpaired:
        side = "mask" if unpaired[0] in images else "image"
        raise CimgenError(f"scene '{unpaired[0]}' has no matching {side} in {root / image_dir} and {root / label_dir}")
    scenes = []
    for name in sorted(images):
        height, width = scene_size(images[name])
        mask_size = scene_size(labels[name])
        if mask_size != (height, width):
            raise CimgenError(
                f"scene {images[name].name} is {width}x{height} but its mask {labels[name].name} is {mask_size[1]}x{mask_size[0]}"
            )
        scenes.append(Scene(name, images[name], labels[name], height, width))
    return scenes


def scene_size(path: Path) -> tuple[int, int]:
    """The (height, width) of a scene file, from its header."""
    if rasterio is not None and path.suffix.lower() in GEOTIFF_SUFFIXES:
        with _open_raster(path) as ds:
            return ds.height, ds.width
    return image_size(path)


class SceneReader:
    """Reads windows of scene images and masks, holding at most one decoded scene.

    Args:
        use_rasterio: read GeoTIFF windows with rasterio; None uses it when it is installed.
    """

    def __init__(self, *, use_rasterio: bool | None = None):
        if use_rasterio and rasterio is None:
            raise CimgenError("windowed GeoTIFF reads need rasterio; install it with pip install rasterio")
        self.use_rasterio = rasterio is not None if use_rasterio is None else use_rasterio
        # kind ("image" or "mask") -> (path, decoded array): one scene's image and mask at most.
        self._decoded: dict[str, tuple[Path, np.ndarray]] = {}
        # Whole-file decodes so far (the Pillow path; windowed reads do not count): in-order reading decodes each scene once.
        self.decodes = 0

    def read(self, path: Path, kind: str, y: int, x: int, height: int, width: int) -> np.ndarray:
        """The part of a window that lies inside the scene.

        Args:
            path: the scene image or mask file.
            kind: ``image`` (returns HxWx3 uint8) or ``mask`` (returns HxW integer ids, unscaled).
            y, x: top-left corner of the window.
            height, width: window size; rows and columns past the scene are not returned.
        """
        if kind not in ("image", "mask"):
            raise CimgenError(f"kind must be image or mask, got '{kind}'")
        if self.use_rasterio and path.suffix.lower() in GEOTIFF_SUFFIXES:
            return _read_raster_window(path, kind, y, x, height, width)
        cached = self._decoded.get(kind)
        if cached is None or cached[0] != path:
            self._decoded.pop(kind, None)  # free the previous scene before decoding the next
            array = read_image(path) if kind == "image" else read_id_map(path)
            self._decoded[kind] = (path, array)
            self.decodes += 1
        # A copy, so that nobody can change the kept scene through a tile.
        return self._decoded[kind][1][y : y + height, x : x + width].copy()


def pad_to(array: np.ndarray, size: int, value: int) -> np.ndarray:
    """Pad an HxW or HxWxC array at the bottom and right to ``size`` x ``size`` with ``value``."""
    pad_h, pad_w = size - array.shape[0], size - array.shape[1]
    if pad_h < 0 or pad_w < 0:
        raise CimgenError(f"cannot pad a {array.shape[1]}x{array.shape[0]} window down to {size}x{size}")
    if not (pad_h or pad_w):
        return array
    widths = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, widths, mode="constant", constant_values=value)


def _open_raster(path: Path):
    try:
        with warnings.catch_warnings():
            # Tiles need pixels only; a plain TIFF without map coordinates is as good as a GeoTIFF here.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as e:
        raise CimgenError(f"{path} cannot be read as a GeoTIFF ({e})") from None


def _read_raster_window(path: Path, kind: str, y: int, x: int, height: int, width: int) -> np.ndarray:
    with _open_raster(path) as ds:
        height, width = min(height, ds.height - y), min(width, ds.width - x)
        if height <= 0 or width <= 0:
            raise CimgenError(f"window at (x={x}, y={y}) lies outside {path.name} ({ds.width}x{ds.height})")
        window = Window(x, y, width, height)
        if kind == "mask":
            if ds.count != 1:
                raise CimgenError(f"mask {path} has {ds.count} bands; a mask must be a single band of class values")
            if not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
                raise CimgenError(f"mask {path} holds {ds.dtypes[0]} values; a mask must hold integer class values")
            return ds.read(1, window=window)
        if ds.dtypes[0] != "uint8":
            raise CimgenError(f"scene {path} has {ds.dtypes[0]} pixels; tiles are cut from 8-bit images, so convert it to 8-bit first")
        if ds.count >= 3:
            # The first three bands are the visible ones in RGB and RGBN/RGBA files.
            return np.ascontiguousarray(ds.read((1, 2, 3), window=window).transpose(1, 2, 0))
        if ds.count == 1:
            band = ds.read(1, window=window)
            if ds.colorinterp[0] == ColorInterp.palette:
                colours = ds.colormap(1)
                lut = np.array([colours.get(i, (0, 0, 0, 255))[:3] for i in range(256)], dtype=np.uint8)
                return lut[band]
            return np.repeat(band[..., None], 3, axis=2)
        raise CimgenError(f"scene {path} has {ds.count} bands; tiles are cut from RGB or grey images")
