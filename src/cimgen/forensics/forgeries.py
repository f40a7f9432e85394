"""Forgery sets for training and testing detectors: pristine images, the generator's renders of their maps, and manipulations with true masks.

A forgery set is a folder::

    pristine/<name>.png           the real (or synthetic-world) image
    generated/<name>.png          the generator's output for the image's whole map (the paper's "generated" class)
    forgeries/images/<name>.png   the image with one edit generated and blended in
    forgeries/masks/<name>.png    where it was blended (white)
    maps/<name>.png               the label map (ids)
    forgeries.json                what was edited, how, with which generator

``cimgen detect dataset --pristine <set>/pristine --generated <set>/generated`` cuts the first
two into patches; ``--forgeries <set>/forgeries`` scores localisation on the third.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from cimgen.data.synth import BUILDING, SynthConfig, make_tile
from cimgen.edit.mask import busiest_box
from cimgen.edit.ops import InsertShape, RemoveClass
from cimgen.edit.pipeline import manipulate
from cimgen.errors import CimgenError
from cimgen.generators import label_renderer, load_label_generator, shipped_checkpoint
from cimgen.io.folders import new_folder
from cimgen.io.images import write_image, write_label_map
from cimgen.textfiles import json_text


def default_edit(labels: np.ndarray, cls: int, seed: int):
    """Remove every object of class ``cls`` in the square (40% of the short side) that holds most of them, or, when the map has none, insert a rectangle of it.

    Large edits, like the paper's, leave patches wholly inside the generated region, which a
    64-pixel patch detector needs to localise them.
    """

    h, w = labels.shape
    side = max(16, int(0.4 * min(h, w)))
    if (labels == cls).any():
        return RemoveClass(cls=cls, box=busiest_box(labels == cls, side))
    rng = np.random.default_rng(seed)
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return InsertShape(cls=cls, shape="rectangle", box=(x0, y0, x0 + side, y0 + side))


def write_forgery_set(
    out: str | Path,
    scenes: Iterable[tuple[str, np.ndarray, np.ndarray]],
    render: Callable[[np.ndarray], np.ndarray],
    *,
    num_classes: int,
    edit_for: Callable[[np.ndarray, int], object],
    about: dict,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a forgery set from (name, image, labels) scenes; the folder appears only when complete.

    Args:
        out: the folder to create (must not exist, or be empty).
        scenes: name, HxWx3 uint8 image and HxW labels of each scene.
        render: labels -> HxWx3 uint8 (the generator).
        num_classes: classes of the labels.
        edit_for: (labels, index) -> an edit operation of ``cimgen.edit.ops``.
        about: recorded in ``forgeries.json`` (generator, source of the scenes).
        total: number of scenes, for progress.
        progress: callable(done, total).
    """

    records = []
    with new_folder(out) as tmp:
        for i, (name, image, labels) in enumerate(scenes):
            generated = render(labels)
            edit = edit_for(labels, i)
            m = manipulate(image, labels, [edit], render, num_classes=num_classes)
            write_image(tmp / "pristine" / f"{name}.png", image)
            write_image(tmp / "generated" / f"{name}.png", generated)
            write_image(tmp / "forgeries" / "images" / f"{name}.png", m.result)
            write_image(tmp / "forgeries" / "masks" / f"{name}.png", m.mask.astype(np.uint8) * 255)
            write_label_map(tmp / "maps" / f"{name}.png", labels)
            records.append({"name": name, "edit": type(edit).__name__, "mask_pixels": int(m.mask.sum())})
            if progress is not None:
                progress(i + 1, total or i + 1)
        if not records:
            raise CimgenError("no scenes were given")
        (tmp / "forgeries.json").write_text(json_text({**about, "count": len(records), "scenes": records}))
    return Path(out)


def synthetic_forgeries(
    out: str | Path,
    *,
    count: int,
    size: int = 256,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """A forgery set from the synthetic world rendered by a pix2pixHD generator (the shipped one by default)."""

    if count < 2:
        raise CimgenError(f"a forgery set needs at least 2 scenes (they are split by scene), got {count}")
    ckpt = Path(checkpoint) if checkpoint else shipped_checkpoint()
    gen, gcfg = load_label_generator(ckpt, device)
    nc = int(gcfg["label_nc"])
    if nc != 6:
        raise CimgenError(f"the synthetic world has 6 classes but {ckpt} takes {nc}")
    cfg = SynthConfig(height=size, width=size, seed=seed)

    def scenes():
        for i in range(count):
            tile = make_tile(cfg, i)
            yield f"tile_{i:05d}", tile.image, tile.labels

    about = {"source": "cimgen synthetic world", "world": {"size": size, "seed": seed}, "generator": str(ckpt)}
    return write_forgery_set(
        out,
        scenes(),
        label_renderer(gen, nc, device),
        num_classes=nc,
        edit_for=lambda labels, i: default_edit(labels, BUILDING, seed * 100003 + i),
        about=about,
        total=count,
        progress=progress,
    )
