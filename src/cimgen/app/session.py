"""The web editor's work, as plain library calls: scenes to edit, an edit list kept as an edit spec, and runs.

Nothing here imports gradio. A browser session holds an ``EditSession``; every change to the
map is an item of the same edit spec that ``cimgen manipulate --spec`` reads (painted strokes
become ``paint`` edits with a mask file each), and a run saves that spec with the image and
its map and calls ``cimgen.runs.manipulate.run_manipulation``, the function behind
``cimgen manipulate``. So whatever the browser made, the command line can replay. The run
hands back its arrays and metrics in memory, so the page shows them without reading its own
output files again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from cimgen.data.synth import SynthConfig, make_tile
from cimgen.edit.ops import apply_edits
from cimgen.edit.spec import parse_edits
from cimgen.errors import CimgenError
from cimgen.generators import Renderer, map_from_image
from cimgen.io.images import image_size, read_id_map, write_image, write_label_map, write_text
from cimgen.palette import SNAP_TOLERANCE, Palette
from cimgen.runs.manipulate import ManipulationRun, read_image_any, read_map_any, run_manipulation
from cimgen.runs.options import DEFAULT_BLEND, DEFAULT_FEATHER, DEFAULT_RADIUS, DEFAULT_SHADOWS, ManipulateConfig

EXAMPLE_COUNT = 8
"""Bundled examples: tiles 0..7 of the synthetic world the shipped generator was pretrained on (seed 0)."""
EXAMPLE_SIZE = 256
"""Side of the bundled examples, in pixels."""
PAINT_ALPHA = 128
"""Layer pixels at least this opaque count as painted (the brush draws opaque; soft edges are cut here)."""


@dataclass(frozen=True)
class Limits:
    """What the editor accepts from uploads."""

    max_upload_mb: float = 25.0
    """Largest upload, in megabytes."""
    max_side: int = 4096
    """Longest image side, in pixels, read from the file header before decoding."""


@dataclass(frozen=True)
class Scene:
    """An image and its label map, ready to edit."""

    image: np.ndarray
    """HxWx3 uint8."""
    labels: np.ndarray
    """HxW integer label map."""
    name: str
    """How the scene is named in messages and file names."""
    instances: np.ndarray | None = None
    """HxW instance ids (Cityscapes style), so "remove the object under a click" removes an instance."""


def example_names() -> list[str]:
    """Names of the bundled synthetic examples."""
    return [f"synthetic world, tile {i}" for i in range(EXAMPLE_COUNT)]


def example_scene(index: int) -> Scene:
    """Bundled example ``index``: a tile of the procedural synthetic world (no data files needed)."""
    if not 0 <= index < EXAMPLE_COUNT:
        raise CimgenError(f"there are {EXAMPLE_COUNT} examples, 0..{EXAMPLE_COUNT - 1}; got {index}")
    tile = make_tile(SynthConfig(height=EXAMPLE_SIZE, width=EXAMPLE_SIZE, seed=0), index)
    return Scene(image=tile.image, labels=tile.labels, name=f"synthetic-{index}")


def check_upload(path: str | Path, what: str, limits: Limits) -> Path:
    """An uploaded file that may be read: it exists, is within the size limit and is an image within the side limit."""
    path = Path(path)
    if not path.is_file():
        raise CimgenError(f"the {what} upload did not arrive; upload it again")
    mb = path.stat().st_size / 1e6
    if mb > limits.max_upload_mb:
        raise CimgenError(f"the {what} is {mb:.1f} MB; this editor takes files up to {limits.max_upload_mb:g} MB")
    try:
        h, w = image_size(path)
    except CimgenError:
        raise CimgenError(f"the {what} ({path.name}) is not an image cimgen can read; upload a PNG, JPEG or TIFF") from None
    if max(h, w) > limits.max_side:
        raise CimgenError(f"the {what} is {w}x{h} pixels; this editor takes images up to {limits.max_side} pixels a side")
    return path


def upload_scene(
    image_path: str | Path,
    map_path: str | Path | None,
    palette: Palette,
    *,
    limits: Limits = Limits(),
    instances_path: str | Path | None = None,
    image_to_map: Callable[[np.ndarray], np.ndarray] | None = None,
    tolerance: float = SNAP_TOLERANCE,
) -> Scene:
    """A scene from uploaded files: the image and its map (label ids or palette colours), or a map made from the image.

    Args:
        image_path: the image.
        map_path: its map; None makes it with ``image_to_map`` (a CycleGAN's image -> map direction).
        palette: the classes of the generator that will render the edit.
        limits: upload limits.
        instances_path: an optional instance-id map.
        image_to_map: image -> colour map, used when no map is given.
        tolerance: RGB distance within which map colours snap to the palette.
    """
    image_path = check_upload(image_path, "image", limits)
    image, _ = read_image_any(image_path)
    if map_path is not None:
        map_path = check_upload(map_path, "map", limits)
        try:
            labels, _ = read_map_any(map_path, palette, tolerance)
        except CimgenError as e:
            raise CimgenError(f"the map cannot be used with this generator's classes: {e}") from None
    elif image_to_map is not None:
        labels = map_from_image(image, image_to_map, palette)
    else:
        raise CimgenError("upload the image's map too, or pick a CycleGAN generator, which can make the map from the image")
    if labels.shape != image.shape[:2]:
        raise CimgenError(f"the map is {labels.shape[1]}x{labels.shape[0]} pixels but the image is {image.shape[1]}x{image.shape[0]}")
    instances = None
    if instances_path is not None:
        instances = read_id_map(check_upload(instances_path, "instance map", limits))
        if instances.shape != labels.shape:
            raise CimgenError(
                f"the instance map is {instances.shape[1]}x{instances.shape[0]} pixels but the image is {image.shape[1]}x{image.shape[0]}"
            )
    return Scene(image=image, labels=labels, name=Path(image_path).stem, instances=instances)


@dataclass
class EditSession:
    """One scene and the edits made to its map so far, as edit-spec items."""

    scene: Scene
    """What is being edited."""
    palette: Palette
    """The classes (the generator's)."""
    edits: list[dict] = field(default_factory=list)
    """Edit-spec items, in order (``paint`` items name a file in ``masks``)."""
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    """Painted regions by the file name their ``paint`` item gives."""
    _edited: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    # Every callback shows the edited map two or three times (canvas, click picture, checks), and
    # re-applying every edit is slow on large maps; a session never changes, each edit makes a new one.

    def operations(self) -> list:
        """The edits parsed by the edit-spec parser, exactly as ``cimgen manipulate --spec`` would."""

        def mask(path: Path) -> np.ndarray:
            if path.name not in self.masks:
                raise CimgenError(f"no painted mask named {path.name}")
            return self.masks[path.name]

        return parse_edits(self.edits, self.palette, source="the edits", read_mask=mask)

    def edited_labels(self) -> np.ndarray:
        """The map after all edits (the original map when there are none)."""
        if not self.edits:
            return self.scene.labels
        if self._edited is None:
            self._edited = apply_edits(
                self.scene.labels, self.operations(), num_classes=self.palette.num_classes, instances=self.scene.instances
            )
        return self._edited

    def with_edit(self, item: dict, masks: dict[str, np.ndarray] | None = None) -> EditSession:
        """A session with one more edit, checked by applying it (an edit that fails or changes nothing is refused)."""
        new = replace(self, edits=[*self.edits, item], masks={**self.masks, **(masks or {})})
        before = self.edited_labels()
        after = new.edited_labels()
        if np.array_equal(before, after):
            raise CimgenError(f"that {item['op']} changed nothing in the map")
        return new

    def with_paint(self, layers: list[np.ndarray]) -> EditSession:
        """A session with the painted layers (HxWx4 RGBA, brush colours from the palette) added as ``paint`` edits.

        Each painted pixel takes the class of the nearest palette colour; one ``paint`` edit per
        class painted. Layers painted over nothing new add nothing.
        """
        shape = self.scene.labels.shape
        painted = np.zeros(shape, bool)
        colour = np.zeros((*shape, 3), np.uint8)
        for layer in layers:
            if layer is None:
                continue
            layer = np.asarray(layer)
            if layer.ndim != 3 or layer.shape[2] != 4 or layer.shape[:2] != shape:
                raise CimgenError(
                    f"the painted layer is {layer.shape[1]}x{layer.shape[0]} but the map is {shape[1]}x{shape[0]}; reload the scene"
                )
            on = layer[..., 3] >= PAINT_ALPHA
            colour[on] = layer[..., :3][on]
            painted |= on
        if not painted.any():
            return self
        pal = np.asarray(self.palette.colors, np.int32)
        dist = ((colour[painted][:, None, :].astype(np.int32) - pal[None]) ** 2).sum(-1)
        classes = np.zeros(shape, np.int32)
        classes[painted] = dist.argmin(1)
        session = self
        for cls in np.unique(classes[painted]):
            name = self.palette.names[int(cls)]
            region = painted & (classes == cls)
            file = f"paint_{len(session.edits) + 1:02d}_{_safe(name)}.png"
            try:
                session = session.with_edit({"op": "paint", "class": name, "mask": file}, {file: region})
            except CimgenError:  # painted a class over itself: nothing to record
                continue
        return session

    def undo(self) -> EditSession:
        """A session without the last edit."""
        if not self.edits:
            raise CimgenError("there is no edit to undo")
        last = self.edits[-1]
        masks = {k: v for k, v in self.masks.items() if k != last.get("mask")}
        return replace(self, edits=self.edits[:-1], masks=masks)

    def spec_text(self) -> str:
        """The edits as the YAML edit spec that ``cimgen manipulate --spec`` reads."""
        return yaml.safe_dump({"edits": self.edits}, sort_keys=False, default_flow_style=None)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write image.png, map.png (label ids), instances.png, edit.yaml and the paint masks into ``folder``."""
        folder = Path(folder)
        files = {
            "image": write_image(folder / "image.png", self.scene.image),
            "map": write_label_map(folder / "map.png", self.scene.labels),
        }
        if self.scene.instances is not None:
            files["instances"] = write_label_map(folder / "instances.png", self.scene.instances)
        for name, region in self.masks.items():
            write_image(folder / name, region.astype(np.uint8) * 255)
        files["spec"] = write_text(folder / "edit.yaml", self.spec_text())
        return files


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "class"


@dataclass(frozen=True)
class RunOptions:
    """How the browser asked for the edit to be rendered and blended (the options of ``cimgen manipulate``)."""

    checkpoint: str
    """The generator checkpoint."""
    blend: str = DEFAULT_BLEND
    """Blend mode."""
    radius: int = DEFAULT_RADIUS
    """Dilation of the changed labels, in pixels."""
    feather: float = DEFAULT_FEATHER
    """Soft-edge width for feather and laplacian."""
    shadows: str = DEFAULT_SHADOWS
    """Whether the mask takes in the removed objects' shadows (``SHADOW_CHOICES``)."""
    finetune: bool = False
    """Fine-tune the generator on the scene first (pix2pixHD)."""
    finetune_steps: int | None = None
    """Fine-tuning iterations; None: the recipe's (``cimgen manipulate``'s default)."""
    direction: str = ""
    """map -> image direction of a CycleGAN/pix2pix generator."""
    palette: str = ""
    """Palette option for CycleGAN/pix2pix generators."""
    device: str = "cpu"
    """Where the generator runs."""


_job_counter = itertools.count()


def new_job_folder(root: str | Path) -> Path:
    """A fresh folder for one run under ``root`` (timestamped; unique across concurrent sessions)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{stamp}-{os.getpid()}-{next(_job_counter)}-", dir=root))


def replay_command(files: dict[str, Path], options: RunOptions, out: str | Path) -> str:
    """The ``cimgen manipulate`` command that redoes a saved run."""
    args = ["cimgen", "manipulate", "--checkpoint", options.checkpoint, "--image", str(files["image"]), "--map", str(files["map"])]
    if "instances" in files:
        args += ["--instances", str(files["instances"])]
    args += ["--spec", str(files["spec"]), "--blend", options.blend, "--radius", str(options.radius), "--feather", f"{options.feather:g}"]
    args += ["--shadows", options.shadows]
    if options.direction:
        args += ["--direction", options.direction]
    if options.palette:
        args += ["--palette", options.palette]
    if options.finetune:
        args += ["--finetune"] + (["--finetune-steps", str(options.finetune_steps)] if options.finetune_steps else [])
    if options.device != "cpu":
        args += ["--device", options.device]
    args += ["--out", str(out)]
    return " ".join(shlex.quote(a) for a in args)


def run_edit(
    session: EditSession,
    options: RunOptions,
    job: str | Path,
    *,
    renderer: Renderer | None = None,
    echo: Callable[[str], None] | None = None,
) -> ManipulationRun:
    """Save the session into ``job/input`` and manipulate it into ``job/result`` through ``run_manipulation``.

    The inputs are saved because ``job/input/replay.txt``, the command line that redoes the run,
    names them, and the page offers them for download; the run itself writes ``job/result``.

    Args:
        session: the scene and its edits (at least one).
        options: how to render and blend.
        job: the run's folder (``new_job_folder``).
        renderer: the generator of ``options.checkpoint`` already loaded (the page keeps one); default: load it.
        echo: where progress lines go.

    Returns:
        The run: its folder (``job/result``), the manipulation's arrays and its metrics in memory,
        and the renderer that drew it (a fresh fine-tuned one with ``options.finetune``).
    """
    if not session.edits:
        raise CimgenError("paint on the map or apply an edit first; the map is unchanged")
    job = Path(job)
    files = session.save(job / "input")
    cfg = ManipulateConfig(
        checkpoint=options.checkpoint,
        out=str(job / "result"),
        image=str(files["image"]),
        map=str(files["map"]),
        instances=str(files.get("instances", "")),
        spec=str(files["spec"]),
        blend=options.blend,
        radius=options.radius,
        feather=options.feather,
        shadows=options.shadows,
        finetune=options.finetune,
        finetune_steps=options.finetune_steps,
        direction=options.direction,
        palette=options.palette,
        device=options.device,
    )
    write_text(job / "input" / "replay.txt", replay_command(files, options, job / "replay") + "\n")
    with run_threads():
        return run_manipulation(cfg, renderer=renderer, echo=echo, progress=False)


RUN_THREADS = torch.get_num_threads()
"""torch's intra-op thread count every run computes under: the process's default, as a fresh ``cimgen manipulate`` has it."""


@contextlib.contextmanager
def run_threads(count: int = RUN_THREADS) -> Iterator[None]:
    """Hold torch's intra-op thread count at ``count`` in the calling thread for a run, and put its old count back after.

    With OpenMP (torch's CPU builds) the count belongs to each thread, and a thread that has not set
    one takes the last count set anywhere in the process, so a run in one of the server's worker
    threads could compute with another count than the next run or than its replay; float sums
    split over another number of threads can round differently in the last bit (docs/app.md).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
