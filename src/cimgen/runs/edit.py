"""Map-only edits from files (``cimgen edit``): edited map, mask of the change and its area, no generator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cimgen.edit.mask import edit_mask, mask_area
from cimgen.edit.ops import apply_edits_traced
from cimgen.errors import CimgenError
from cimgen.io.checkpoints import read_config
from cimgen.io.folders import new_folder
from cimgen.io.images import read_id_map, write_image, write_label_map, write_text
from cimgen.io.vector import write_geojson
from cimgen.models.limits import check_checkpoint_config
from cimgen.palette import SNAP_TOLERANCE, Palette, labels_to_colors, palette_from_option
from cimgen.runs.geodata import edited_layer, read_vector_inputs, truth_layer
from cimgen.runs.manipulate import OUT_HINT, describe_edit, load_edits, read_map_any
from cimgen.runs.options import COLOR_TOLERANCE_RANGE, DEFAULT_RADIUS, RADIUS_RANGE, check_range
from cimgen.textfiles import json_text


def palette_of(palette: str = "", checkpoint: str | Path | None = None) -> Palette:
    """The classes named by a palette option or stored in a generator checkpoint (its config alone is read)."""
    if checkpoint is not None:
        config = read_config(checkpoint)
        check_checkpoint_config(config, str(checkpoint))  # untrusted: a damaged config is refused, not half-used
        return stored_palette(config, checkpoint)
    return palette_from_option(palette)


def stored_palette(config: dict, checkpoint: str | Path) -> Palette:
    """The palette in a checkpoint's config."""
    if "palette" not in config:
        raise CimgenError(f"checkpoint {checkpoint} stores no palette; name the classes with --palette")
    return Palette.from_dict(config["palette"])


def run_map_edit(
    map_path: str | Path | None,
    out: str | Path,
    *,
    image: str | Path | None = None,
    vector: str | Path | None = None,
    classes: str | Path | None = None,
    vector_crs: str = "",
    palette: str = "",
    checkpoint: str | Path | None = None,
    spec: str | Path | None = None,
    edits_raw: list | None = None,
    edited_map: str | Path | None = None,
    instances: str | Path | None = None,
    radius: int = DEFAULT_RADIUS,
    color_tolerance: float = SNAP_TOLERANCE,
    echo: Callable[[str], None] | None = print,
) -> Path:
    """Apply edits (a spec, option edits, or a map edited elsewhere) to a map and write the results.

    Writes ``edited_labels.png`` (label ids), ``edited_map.png`` (palette colours),
    ``mask.png`` (changed pixels dilated by ``radius``, 0/255) and ``edit.json`` (the edits,
    changed pixels, the mask's area, snapping counts). Returns ``edit.json``'s path.

    With ``vector`` (and ``classes``, and ``image`` for the grid) the map is the layer drawn on the
    GeoTIFF's grid instead of ``map_path``; the folder then also holds ``map.png`` (the drawn map),
    ``truth.geojson`` (the mask as polygons) and ``edited.geojson`` (the layer as edited).
    """
    check_range(radius, RADIUS_RANGE, "radius")
    check_range(color_tolerance, COLOR_TOLERANCE_RANGE, "color_tolerance")
    pal = palette_of(palette, checkpoint)
    vin = None
    if vector is not None:
        if map_path is not None or image is None or classes is None:
            raise CimgenError("--vector draws the map on --image's grid with --classes; give those three, and no --map")
        if edited_map is not None:
            raise CimgenError("--vector edits the map drawn from the layer; give edits with --spec or the edit options, not --edited-map")
        vin = read_vector_inputs(Path(image), Path(vector), Path(classes), pal, vector_crs=vector_crs)
        labels, snap = vin.drawn.labels, {}
    else:
        if image is not None or classes is not None or vector_crs:
            raise CimgenError("--image, --classes and --vector-crs go with --vector")
        labels, snap = read_map_any(Path(map_path), pal, color_tolerance)
    inst = read_id_map(instances) if instances else None
    owners, edits = None, None
    if edited_map is not None:
        edited, edited_snap = read_map_any(Path(edited_map), pal, color_tolerance)
        if edited.shape != labels.shape:
            raise CimgenError(
                f"the edited map is {edited.shape[1]}x{edited.shape[0]} but the original is {labels.shape[1]}x{labels.shape[0]}"
            )
        described: list | str = f"edited map {edited_map}"
    else:
        edits = load_edits(spec, edits_raw, pal, color_tolerance, geo=vin.context if vin is not None else None)
        edited, owners = apply_edits_traced(labels, edits, num_classes=pal.num_classes, instances=inst)
        described, edited_snap = [describe_edit(e) for e in edits], {}
    mask = edit_mask(labels, edited, radius=radius)  # an edit that changes nothing fails here
    changed = labels != edited
    by_class = {pal.names[int(c)]: int(n) for c, n in zip(*np.unique(edited[changed], return_counts=True))}
    report = {
        "map": str(map_path) if vin is None else f"{vector} drawn with {classes}",
        "edits": described,
        "changed_pixels": int(changed.sum()),
        "changed_to": by_class,
        "radius": radius,
        "mask": mask_area(mask),
        "colours_snapped": {"map": snap, "edited_map": edited_snap},
    }
    out = Path(out)
    with new_folder(out, OUT_HINT) as tmp:
        write_label_map(tmp / "edited_labels.png", edited)
        write_image(tmp / "edited_map.png", labels_to_colors(edited, pal))
        write_image(tmp / "mask.png", mask.astype(np.uint8) * 255)
        if vin is not None:
            write_label_map(tmp / "labels.png", labels)
            write_image(tmp / "map.png", labels_to_colors(labels, pal))
            layer, report["edited_vector"] = edited_layer(vin, labels, edited, owners, edits, pal)
            write_geojson(tmp / "edited.geojson", layer)
            truth = truth_layer(mask, owners, vin.grid, described if isinstance(described, list) else [])
            write_geojson(tmp / "truth.geojson", truth)
            report["vector"] = vin.notes
        write_text(tmp / "edit.json", json_text(report))
    path = out / "edit.json"
    if echo:
        echo(
            f"{report['changed_pixels']} labels changed; mask: {report['mask']['pixels']} pixels ({100 * report['mask']['fraction']:.2f}%) in {report['mask']['regions']} region(s)"
        )
        echo(
            f"edited map: {out / 'edited_labels.png'} (ids) and {out / 'edited_map.png'} (colours); mask: {out / 'mask.png'}; summary: {path}"
        )
    return path
