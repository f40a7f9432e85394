"""File layouts of paired datasets: finding each sample's label map, instance map and image by name.

Three layouts are listed here: two plain folders (``folders``), pix2pixHD's ``<phase>_label`` /
``<phase>_inst`` / ``<phase>_img`` folders (``pix2pixhd``) and the official Cityscapes tree
(``cityscapes``). Files of one sample are matched on their name stem after removing one known
suffix, because Cityscapes names each kind of file differently
(``aachen_000000_000019_gtFine_labelIds.png`` beside ``aachen_000000_000019_leftImg8bit.png``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cimgen.errors import CimgenError
from cimgen.io.images import list_images

# Longest first, so that "_gtFine_labelIds" is removed whole and not just a generic "_label"-like tail.
KNOWN_SUFFIXES = (
    "_gtFine_labelTrainIds",
    "_gtFine_instanceIds",
    "_gtFine_labelIds",
    "_gtFine_color",
    "_leftImg8bit",
    "_label",
    "_inst",
    "_img",
)

CITYSCAPES_LABEL_SUFFIX = "_gtFine_labelIds"
CITYSCAPES_INSTANCE_SUFFIX = "_gtFine_instanceIds"
CITYSCAPES_IMAGE_SUFFIX = "_leftImg8bit"


@dataclass(frozen=True)
class Sample:
    """Where the files of one sample are."""

    name: str
    """The key the files were matched on: the name stem without its known suffix (``city/stem`` for Cityscapes)."""
    label: Path
    """The label map (single-channel ids, or a colour map)."""
    image: Path | None
    """The photo; None when the listing was asked for labels only."""
    instance: Path | None
    """The instance map; None when the dataset has none or they are not used."""


def sample_key(stem: str) -> str:
    """A file stem without the first known per-folder suffix (``x_gtFine_labelIds`` -> ``x``, ``x_img`` -> ``x``)."""
    for suffix in KNOWN_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def name_pattern(pattern: str, *, option: str = "pattern") -> re.Pattern:
    """Compile a file-name pattern such as ``mask{name}`` into a regex whose group ``name`` is the sample name.

    Raises:
        CimgenError: if the pattern does not hold ``{name}`` exactly once.
    """
    if pattern.count("{name}") != 1:
        raise CimgenError(f"{option} must contain '{{name}}' exactly once, got '{pattern}'")
    before, after = pattern.split("{name}")
    return re.compile(re.escape(before) + "(?P<name>.+)" + re.escape(after))


def index_folder(folder: Path, pattern: str = "{name}", *, what: str = "file", option: str = "pattern") -> dict[str, Path]:
    """The image files of a folder by sample key; files whose stem does not fit ``pattern`` are left out.

    Args:
        folder: the folder to list (not recursive).
        pattern: how a stem is built from the sample name, e.g. ``{name}`` or ``mask{name}``.
        what: what the files are, for error messages.
        option: the config option that holds ``pattern``, for error messages.

    Raises:
        CimgenError: if the folder does not exist, or two files give the same key.
    """
    regex = name_pattern(pattern, option=option)
    out: dict[str, Path] = {}
    for path in list_images(folder):
        match = regex.fullmatch(path.stem)
        if match is None:
            continue
        key = sample_key(match["name"])
        if key in out:
            raise CimgenError(f"{out[key].name} and {path.name} in {folder} are both the {what} of sample '{key}'")
        out[key] = path
    return out


def match_samples(
    labels: dict[str, Path],
    images: dict[str, Path] | None,
    instances: dict[str, Path] | None,
    *,
    label_dir: Path,
    image_dir: Path | None = None,
    instance_dir: Path | None = None,
) -> list[Sample]:
    """Pair label maps with their images and instance maps by key, sorted by key.

    Every label map needs an image (when ``images`` is given) and every image a label map;
    every label map needs an instance map when ``instances`` is given (extra instance maps are
    left alone).

    Raises:
        CimgenError: naming the first unpaired sample.
    """
    if not labels:
        raise CimgenError(f"{label_dir} holds no label maps")
    if images is not None:
        unpaired = sorted(set(labels) ^ set(images))
        if unpaired:
            side = "image" if unpaired[0] in labels else "label map"
            raise CimgenError(
                f"'{unpaired[0]}' has no matching {side}; {len(unpaired)} file(s) in {label_dir} and {image_dir} are unpaired"
            )
    if instances is not None:
        lacking = sorted(set(labels) - set(instances))
        if lacking:
            raise CimgenError(f"label map '{lacking[0]}' has no instance map in {instance_dir}; {len(lacking)} label map(s) lack one")
    return [
        Sample(
            name=key,
            label=labels[key],
            image=images[key] if images is not None else None,
            instance=instances[key] if instances is not None else None,
        )
        for key in sorted(labels)
    ]


def list_folders(
    root: Path,
    *,
    label_dir: str,
    image_dir: str | None,
    instance_dir: str | None,
    label_pattern: str = "{name}",
    image_pattern: str = "{name}",
) -> list[Sample]:
    """Samples from ``root/label_dir`` and ``root/image_dir`` (and ``root/instance_dir``), matched by name.

    Args:
        root: the dataset folder.
        label_dir: sub-folder of label maps.
        image_dir: sub-folder of images; None lists labels only.
        instance_dir: sub-folder of instance maps; None when there are none.
        label_pattern: stem of a label file built from the sample name (``{name}``, ``mask{name}``).
        image_pattern: stem of an image file built from the sample name.
    """
    if image_dir is not None and label_dir == image_dir and label_pattern == image_pattern:
        raise CimgenError(
            f"labels and images are both in '{label_dir}' with the same name pattern; "
            "set label_pattern and image_pattern (e.g. mask{name} and image{name}) to tell them apart"
        )
    labels = index_folder(root / label_dir, label_pattern, what="label map", option="label_pattern")
    images = index_folder(root / image_dir, image_pattern, what="image", option="image_pattern") if image_dir is not None else None
    instances = index_folder(root / instance_dir, what="instance map") if instance_dir is not None else None
    return match_samples(
        labels,
        images,
        instances,
        label_dir=root / label_dir,
        image_dir=root / image_dir if image_dir is not None else None,
        instance_dir=root / instance_dir if instance_dir is not None else None,
    )


def pix2pixhd_folders(root: Path, phase: str) -> tuple[Path, Path, Path]:
    """The (label, instance, image) folders of a pix2pixHD dataset phase: ``<phase>_label``, ``<phase>_inst``, ``<phase>_img``."""
    return root / f"{phase}_label", root / f"{phase}_inst", root / f"{phase}_img"


def list_pix2pixhd(root: Path, phase: str, *, images: bool, instances: bool) -> list[Sample]:
    """Samples of a pix2pixHD-style dataset phase (NVIDIA/pix2pixHD ``datasets/cityscapes``).

    pix2pixHD pairs the sorted file lists of the folders by position; here files are matched by
    name so a missing file fails instead of shifting every later pair.

    Args:
        root: the dataset folder.
        phase: folder prefix, e.g. ``train`` or ``test``.
        images: list ``<phase>_img`` too; False reads labels (and instances) only, for inference.
        instances: list ``<phase>_inst`` too.
    """
    label_dir, inst_dir, img_dir = pix2pixhd_folders(root, phase)
    if not label_dir.is_dir():
        raise CimgenError(f"{root} has no {label_dir.name} folder (phase '{phase}' of a pix2pixHD-style dataset)")
    return match_samples(
        index_folder(label_dir, what="label map"),
        index_folder(img_dir, what="image") if images else None,
        index_folder(inst_dir, what="instance map") if instances else None,
        label_dir=label_dir,
        image_dir=img_dir,
        instance_dir=inst_dir,
    )


def list_cityscapes(root: Path, split: str, *, images: bool, instances: bool) -> list[Sample]:
    """Samples of the official Cityscapes tree for one split.

    Labels are ``gtFine/<split>/<city>/*_gtFine_labelIds.png``, instance maps the
    ``*_gtFine_instanceIds.png`` beside them and photos
    ``leftImg8bit/<split>/<city>/*_leftImg8bit.png``. Sample names are ``<city>/<frame>``.

    Args:
        root: the folder holding ``gtFine`` and ``leftImg8bit``.
        split: ``train``, ``val`` or ``test``.
        images: list the photos too; False reads labels (and instances) only.
        instances: list the instance maps too.
    """
    gt = root / "gtFine" / split
    if not gt.is_dir():
        raise CimgenError(f"{root} has no gtFine/{split} folder; the cityscapes format reads the official gtFine and leftImg8bit tree")
    photo_root = root / "leftImg8bit" / split
    if images and not photo_root.is_dir():
        raise CimgenError(f"{root} has no leftImg8bit/{split} folder with the photos of gtFine/{split}")
    samples: list[Sample] = []
    for city in sorted(p for p in gt.iterdir() if p.is_dir()):
        labels = _by_suffix(city, CITYSCAPES_LABEL_SUFFIX)
        city_images = _by_suffix(photo_root / city.name, CITYSCAPES_IMAGE_SUFFIX) if images else None
        city_instances = _by_suffix(city, CITYSCAPES_INSTANCE_SUFFIX) if instances else None
        if not labels:
            continue
        found = match_samples(
            labels,
            city_images,
            city_instances,
            label_dir=city,
            image_dir=photo_root / city.name,
            instance_dir=city,
        )
        samples += [Sample(f"{city.name}/{s.name}", s.label, s.image, s.instance) for s in found]
    if not samples:
        raise CimgenError(f"{gt} holds no *{CITYSCAPES_LABEL_SUFFIX}.png label maps")
    return samples


def _by_suffix(folder: Path, suffix: str) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.name[: -len(suffix) - 4]: p for p in sorted(folder.glob(f"*{suffix}.png"))}
