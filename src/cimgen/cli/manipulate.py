"""``cimgen edit`` and ``cimgen manipulate``: edit a map; render the edit with a generator and blend it into the image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cimgen.cli.bounds import device_option
from cimgen.edit.spec import parse_box, parse_ints, parse_polygon
from cimgen.errors import CimgenError
from cimgen.runs.options import (
    COLOR_TOLERANCE_RANGE,
    FEATHER_RANGE,
    FINETUNE_DETAIL,
    FINETUNE_STEPS_RANGE,
    MEMORISE_MAX_STEPS,
    MEMORISE_STEPS,
    OVERLAP_RANGE,
    RADIUS_RANGE,
    SEAM_CUT_RANGE,
    TILE_SIZE_RANGE,
    WINDOW_LIMIT_RANGE,
    WINDOWS_STEPS,
    ManipulateConfig,
)

DEFAULTS = ManipulateConfig(checkpoint="", out="")
"""Every default of ``cimgen manipulate`` and ``cimgen edit``, as the run's config dataclass states it."""


def inline_edits(remove, remove_at, insert, shape, replace, box, polygon, region) -> list[dict] | None:
    """The edit given by options, as a one-item spec list (None when no edit option was given)."""
    chosen = [
        o
        for o in ("--remove", "--remove-at", "--insert", "--replace")
        if {"--remove": remove, "--remove-at": remove_at, "--insert": insert, "--replace": replace}[o] is not None
    ]
    if not chosen:
        if box or polygon or region:
            raise CimgenError("--box, --polygon and --region say where an edit goes; add --remove, --insert or --replace")
        return None
    if len(chosen) > 1:
        raise CimgenError(f"give one edit option ({' or '.join(chosen)}), or list several edits in a --spec file")
    where: dict = {}
    if box:
        where["box"] = list(parse_box(box))
    if polygon:
        where["polygon"] = parse_polygon(polygon)
    if remove_at is not None:
        if where or region:
            raise CimgenError("--remove-at removes the object under a point; it takes no --box, --polygon or --region")
        return [{"op": "remove", "at": parse_ints(remove_at, 2, "point")}]
    if remove is not None:
        if region or len(where) != 1:
            raise CimgenError("--remove needs exactly one of --box or --polygon")
        return [{"op": "remove", "class": remove, **where}]
    if insert is not None:
        if region or len(where) != 1:
            raise CimgenError("--insert needs exactly one of --box (rectangle or ellipse) or --polygon")
        return [{"op": "insert", "class": insert, "shape": "polygon" if polygon else shape, **where}]
    if ":" not in replace:
        raise CimgenError(f"--replace '{replace}' must look like SRC:DST, e.g. building:vegetation")
    src, dst = replace.split(":", 1)
    if region:
        where["mask"] = str(Path(region).resolve())
    if len(where) != 1:
        raise CimgenError("--replace needs exactly one of --box, --polygon or --region")
    return [{"op": "replace", "from": src, "to": dst, **where}]


# The edit options both commands take, declared once.
SpecOpt = Annotated[Path | None, typer.Option("--spec", help="Edit spec, YAML or JSON, listing edits (see docs/manipulation.md).")]
EditedMapOpt = Annotated[
    Path | None, typer.Option("--edited-map", help="A map edited elsewhere (GIMP, Photoshop); the edit is its difference.")
]
RemoveOpt = Annotated[
    str | None, typer.Option("--remove", help="Remove the objects of this class (name or id) touching --box or --polygon.")
]
RemoveAtOpt = Annotated[str | None, typer.Option("--remove-at", help="Remove the object under the pixel X,Y.")]
InsertOpt = Annotated[str | None, typer.Option("--insert", help="Insert a shape of this class at --box (see --shape) or --polygon.")]
ShapeOpt = Annotated[str, typer.Option("--shape", help="Shape of --insert with --box: rectangle or ellipse.")]
ReplaceOpt = Annotated[str | None, typer.Option("--replace", help="SRC:DST, relabel class SRC as DST inside --box, --polygon or --region.")]
BoxOpt = Annotated[str | None, typer.Option("--box", help="Region x0,y0,x1,y1 in pixels (x1, y1 exclusive).")]
PolygonOpt = Annotated[str | None, typer.Option("--polygon", help="Region as points 'x,y x,y x,y ...'.")]
RegionOpt = Annotated[Path | None, typer.Option("--region", help="Region of --replace as a mask image (non-zero = inside).")]
InstancesOpt = Annotated[
    Path | None, typer.Option("--instances", help="Instance-id map, so --remove-at removes the instance under the point.")
]
VectorOpt = Annotated[
    Path | None,
    typer.Option(
        "--vector", help="Vector layer (GeoJSON, GeoPackage, Shapefile) drawn on the GeoTIFF's grid as its map (see docs/geodata.md)."
    ),
]
ClassesOpt = Annotated[
    Path | None, typer.Option("--classes", help="YAML mapping of the --vector layer's attributes to classes, e.g. building=* -> building.")
]
VectorCrsOpt = Annotated[
    str,
    typer.Option(
        "--vector-crs", help="CRS of the --vector coordinates when the file states none or a wrong one: image, or e.g. EPSG:4326."
    ),
]


def radius_option(help: str) -> type:
    """``--radius`` as both commands take it (the run's default and range); only the help differs."""
    return Annotated[int, typer.Option("--radius", min=RADIUS_RANGE[0], max=RADIUS_RANGE[1], help=help)]


def color_tolerance_option(help: str) -> type:
    """``--color-tolerance`` as both commands take it (the run's default and range); only the help differs."""
    return Annotated[float, typer.Option("--color-tolerance", min=COLOR_TOLERANCE_RANGE[0], max=COLOR_TOLERANCE_RANGE[1], help=help)]


def check_one_edit(edits: list[dict] | None, spec: Path | None, edited_map: Path | None) -> None:
    """One sentence unless exactly one of inline edit options, ``--spec`` or ``--edited-map`` says what to edit."""
    if sum(x is not None for x in (edits, spec, edited_map)) != 1:
        raise CimgenError(
            "say what to edit with exactly one of an edit option (--remove, --remove-at, --insert, --replace), --spec or --edited-map"
        )


ManipulateRadiusOpt = radius_option("Dilation of the changed labels, in pixels.")
EditRadiusOpt = radius_option("Dilation of the changed labels for mask.png, in pixels.")
ManipulateColorToleranceOpt = color_tolerance_option("RGB distance within which map colours (and blends of two) snap to the palette.")
EditColorToleranceOpt = color_tolerance_option("RGB distance within which map colours snap to the palette.")

# the options of cimgen manipulate alone (their defaults are in the signature, from ManipulateConfig)
BandsOpt = Annotated[str, typer.Option("--bands", help="GeoTIFF bands shown to the generator as R,G,B (e.g. 4,3,2) or one grey band.")]
StretchOpt = Annotated[
    str, typer.Option("--stretch", help="Percentiles LOW,HIGH of each band mapped to 0 and 255 (default 2,98; 8-bit shown as is).")
]
MaskOpt = Annotated[
    Path | None, typer.Option("--mask", help="Blend region given by you (non-zero = inside) instead of the dilated changes.")
]
BlendOpt = Annotated[str, typer.Option("--blend", help="Blend mode: hard, feather, laplacian, poisson, poisson-mixed.")]
FeatherOpt = Annotated[
    float,
    typer.Option(
        "--feather", min=FEATHER_RANGE[0], max=FEATHER_RANGE[1], help="Soft-edge width inside the mask (feather, laplacian), in pixels."
    ),
]
SeamCutOpt = Annotated[
    int,
    typer.Option(
        "--seam-cut",
        min=SEAM_CUT_RANGE[0],
        max=SEAM_CUT_RANGE[1],
        help="Pixels a mask made from the changed labels may give up at its border (at most --radius; 0: none), so that "
        "the blend's border runs where the generated image and the original look alike. A --mask is blended as drawn.",
    ),
]
FinetuneOpt = Annotated[bool, typer.Option("--finetune", help="Fine-tune the generator on this image and map around the edit first.")]
FinetuneStepsOpt = Annotated[
    int | None,
    typer.Option(
        "--finetune-steps",
        min=FINETUNE_STEPS_RANGE[0],
        max=FINETUNE_STEPS_RANGE[1],
        help=f"Fine-tuning iterations (default: the recipe's, {MEMORISE_STEPS}-{MEMORISE_MAX_STEPS} whole-image steps to memorise by the image's size, {WINDOWS_STEPS} crops for windows).",
        show_default=False,
    ),
]
FinetuneRecipeOpt = Annotated[
    str,
    typer.Option(
        "--finetune-recipe",
        help="memorise: the whole image every step with a position code (images up to 1024 px a side); windows: random crops around the edit.",
    ),
]
FinetunePositionOpt = Annotated[
    int, typer.Option("--finetune-position", min=0, max=16, help="Octaves of the position code when memorising (0: none).")
]
FinetuneContextOpt = Annotated[
    bool,
    typer.Option(
        "--finetune-context", help="When memorising, also feed the generator the image outside the region it draws (context conditioning)."
    ),
]
FinetunePrecisionOpt = Annotated[
    str,
    typer.Option(
        "--finetune-precision",
        help="Arithmetic of the fine-tuning: auto (bf16 only where the CPU or GPU computes it natively), fp32, bf16 or fp16.",
    ),
]
FinetuneDetailOpt = Annotated[
    int | None,
    typer.Option(
        "--finetune-detail",
        min=0,
        max=64,
        help=f"When memorising, channels of a learnable detail code for this one image (0: none; default {FINETUNE_DETAIL}).",
        show_default=False,
    ),
]
CodeInsideOpt = Annotated[
    str,
    typer.Option(
        "--code-inside",
        help="What a memorising generator reads inside the edit: resample (its codes copied from matching places of the "
        "image: real texture) or withhold (the map alone: flat).",
    ),
]
DetailInsideOpt = Annotated[
    str,
    typer.Option(
        "--detail-inside",
        help="Where codes are resampled, whose fine detail the edit shows: source (the photo's at each pixel's code "
        "source; sharp) or generated (the generator's own; softer).",
    ),
]
ShadowsOpt = Annotated[
    str,
    typer.Option(
        "--shadows",
        help="Whether the mask also takes in the shadows of removed objects: auto (below the objects for street-view "
        "palettes, any way for maps seen from above), any, down or off. Not with --mask.",
    ),
]
MatchJpegOpt = Annotated[
    bool,
    typer.Option(
        "--match-jpeg/--no-match-jpeg",
        help="When the image is a JPEG, compress the edit's pixels as the file was (its tables, on its 8x8 grid), so the edit "
        "carries the same compression traces as the rest; outside the mask nothing changes.",
    ),
]
ScoreInsideOpt = Annotated[
    bool,
    typer.Option(
        "--score-inside",
        help="Also score the inside of the edit in metrics.json (faithful, painted back, each beside what it is read against; 5-30 s).",
    ),
]
TileSizeOpt = Annotated[
    int,
    typer.Option(
        "--tile-size",
        min=TILE_SIZE_RANGE[0],
        max=TILE_SIZE_RANGE[1],
        help="Generate in tiles of this size (-1: automatic above 2048 px a side; 0: never).",
    ),
]
OverlapOpt = Annotated[int, typer.Option("--overlap", min=OVERLAP_RANGE[0], max=OVERLAP_RANGE[1], help="Tile overlap in pixels.")]
WindowedOpt = Annotated[
    bool, typer.Option("--windowed", help="Read, edit, render and write a GeoTIFF scene window by window (scenes larger than memory).")
]
CogOpt = Annotated[
    bool,
    typer.Option(
        "--cog/--no-cog",
        help="--windowed: result.tif as a Cloud-Optimized GeoTIFF with overviews, or (--no-cog, --output gtiff) a plain tiled GeoTIFF.",
    ),
]
OutputOpt = Annotated[
    str,
    typer.Option(
        "--output",
        help="--windowed: cog (result.tif with overviews; the default), gtiff (result.tif, plain tiled) or patch (patch.tif, the edited "
        "windows only, and result.vrt laying them over the scene, which it names by path: time follows the tiles touched).",
        show_default=False,
    ),
]
WindowLimitOpt = Annotated[
    int,
    typer.Option(
        "--window-limit",
        min=WINDOW_LIMIT_RANGE[0],
        max=WINDOW_LIMIT_RANGE[1],
        help="--windowed: the largest window side, in pixels, the objects an edit changes may need.",
    ),
]


def manipulate_cmd(
    checkpoint: Path = typer.Option(
        None,
        "--checkpoint",
        help="Generator: pix2pixHD (label maps), or CycleGAN/pix2pix (colour maps; needs --palette); default: the shipped one "
        "('shipped'), with --finetune its twin pretrained with resize-convolution upsampling ('shipped-resize').",
    ),
    image: Path = typer.Option(..., "--image", help="The image (PNG, JPEG, GeoTIFF), or a folder of images for a batch."),
    out: Path = typer.Option(..., "--out", help="Results folder (a batch writes one sub-folder per image and manifest.csv/json)."),
    map_path: Path = typer.Option(
        None, "--map", help="Its semantic map: label ids or palette colours (snapped); for a batch, a folder of maps."
    ),
    map_from: Path = typer.Option(None, "--map-from", help="No map: make it from the image with this CycleGAN/pix2pix checkpoint."),
    map_from_direction: str = typer.Option(
        DEFAULTS.map_from_direction, "--map-from-direction", help="The image -> map direction of --map-from."
    ),
    direction: str = typer.Option("", "--direction", help="CycleGAN/pix2pix --checkpoint: its map -> image direction (default BtoA)."),
    palette: str = typer.Option("", "--palette", help="Classes: palette JSON or synth|cityscapes|buildings (default: the checkpoint's)."),
    spec: SpecOpt = None,
    edited_map: EditedMapOpt = None,
    remove: RemoveOpt = None,
    remove_at: RemoveAtOpt = None,
    insert: InsertOpt = None,
    shape: ShapeOpt = "rectangle",
    replace: ReplaceOpt = None,
    box: BoxOpt = None,
    polygon: PolygonOpt = None,
    region: RegionOpt = None,
    instances: InstancesOpt = None,
    vector: VectorOpt = None,
    classes: ClassesOpt = None,
    vector_crs: VectorCrsOpt = "",
    bands: BandsOpt = "",
    stretch: StretchOpt = "",
    mask: MaskOpt = None,
    radius: ManipulateRadiusOpt = DEFAULTS.radius,
    shadows: ShadowsOpt = DEFAULTS.shadows,
    blend_mode: BlendOpt = DEFAULTS.blend,
    feather: FeatherOpt = DEFAULTS.feather,
    seam_cut: SeamCutOpt = DEFAULTS.seam_cut,
    color_tolerance: ManipulateColorToleranceOpt = DEFAULTS.color_tolerance,
    finetune: FinetuneOpt = False,
    finetune_steps: FinetuneStepsOpt = None,
    finetune_recipe: FinetuneRecipeOpt = DEFAULTS.finetune_recipe,
    finetune_position: FinetunePositionOpt = DEFAULTS.finetune_position,
    finetune_context: FinetuneContextOpt = DEFAULTS.finetune_context,
    finetune_precision: FinetunePrecisionOpt = DEFAULTS.finetune_precision,
    finetune_detail: FinetuneDetailOpt = None,
    code_inside: CodeInsideOpt = DEFAULTS.code_inside,
    detail_inside: DetailInsideOpt = DEFAULTS.detail_inside,
    match_jpeg: MatchJpegOpt = DEFAULTS.match_jpeg,
    score_inside: ScoreInsideOpt = DEFAULTS.score_inside,
    tile_size: TileSizeOpt = -1,
    overlap: OverlapOpt = DEFAULTS.overlap,
    device: str = typer.Option(DEFAULTS.device, "--device", callback=device_option, help="Where the generators run: cpu or cuda."),
    windowed: WindowedOpt = False,
    cog: CogOpt = True,
    output: OutputOpt = "",
    window_limit: WindowLimitOpt = DEFAULTS.window_limit,
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Edit an image's semantic map, render the edited map with a generator and blend it into the image.

    Outside the mask every pixel of the result is the original pixel. With a folder as --image,
    every image gets the same edits (a spec) and a manifest records what was done to each. With a
    GeoTIFF, --vector and --classes draw the map from a vector layer, and the folder also gets
    truth.geojson (the manipulated region) and edited.geojson (the layer as edited).

    Example: cimgen manipulate --checkpoint runs/demo/finetune --image img.png --map map.png --remove building --box 40,40,140,140 --out runs/edit

    Example: cimgen manipulate --image scene.tif --vector buildings.geojson --classes classes.yaml --spec remove.yaml --out runs/geo

    Example (a scene larger than memory): cimgen manipulate --image scene.tif --map labels.tif --spec edits.yaml --windowed --out runs/big

    Example (only the edited windows written, with a VRT over the scene): cimgen manipulate --image scene.tif --map labels.tif --spec edits.yaml --windowed --output patch --out runs/big
    """
    from cimgen.runs.manipulate import run_batch, run_manipulation
    from cimgen.runs.windowed import run_windowed

    edits = inline_edits(remove, remove_at, insert, shape, replace, box, polygon, region)
    check_one_edit(edits, spec, edited_map)
    if map_path is not None and map_from is not None:
        raise CimgenError("give the map with --map or make it with --map-from, not both")
    cfg = ManipulateConfig(
        checkpoint=str(checkpoint) if checkpoint else "",
        out=str(out),
        image=str(image),
        map=str(map_path) if map_path else "",
        map_from=str(map_from) if map_from else "",
        map_from_direction=map_from_direction,
        direction=direction,
        palette=palette,
        spec=str(spec) if spec else "",
        edited_map=str(edited_map) if edited_map else "",
        instances=str(instances) if instances else "",
        mask=str(mask) if mask else "",
        radius=radius,
        shadows=shadows,
        blend=blend_mode,
        feather=feather,
        seam_cut=seam_cut,
        color_tolerance=color_tolerance,
        finetune=finetune,
        finetune_steps=finetune_steps,
        finetune_recipe=finetune_recipe,
        finetune_position=finetune_position,
        finetune_context=finetune_context,
        finetune_detail=finetune_detail,
        finetune_precision=finetune_precision,
        code_inside=code_inside,
        detail_inside=detail_inside,
        match_jpeg=match_jpeg,
        score_inside=score_inside,
        tile_size=None if tile_size < 0 else tile_size,
        overlap=overlap,
        device=device,
        vector=str(vector) if vector else "",
        classes=str(classes) if classes else "",
        vector_crs=vector_crs,
        bands=bands,
        stretch=stretch,
        windowed=windowed,
        output=windowed_output(cog, output),
        window_limit=window_limit,
    )
    if not windowed and not cog:
        raise CimgenError("--no-cog chooses the format of a --windowed run's result.tif; the in-memory path writes a plain GeoTIFF")
    if not windowed and output:
        raise CimgenError("--output chooses what a --windowed run writes; the in-memory path writes result.tif, a plain GeoTIFF")
    run = run_batch if image.is_dir() else run_windowed if windowed else run_manipulation
    run(cfg, edits, echo=typer.echo, progress=not quiet)


def windowed_output(cog: bool, output: str) -> str:
    """The ``ManipulateConfig.output`` of ``--cog/--no-cog`` and ``--output`` (``--no-cog`` is ``--output gtiff``)."""
    if not cog and output not in ("", "gtiff"):
        raise CimgenError(f"--no-cog is --output gtiff; give it or --output {output}, not both")
    return output or ("cog" if cog else "gtiff")


def edit_cmd(
    map_path: Path = typer.Option(None, "--map", help="The semantic map: label ids, or palette colours (snapped)."),
    out: Path = typer.Option(..., "--out", help="Folder for edited_labels.png, edited_map.png, mask.png and edit.json."),
    palette: str = typer.Option("", "--palette", help="Classes: palette JSON or synth|cityscapes|buildings."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Take the classes from this generator checkpoint instead of --palette."),
    spec: SpecOpt = None,
    edited_map: EditedMapOpt = None,
    remove: RemoveOpt = None,
    remove_at: RemoveAtOpt = None,
    insert: InsertOpt = None,
    shape: ShapeOpt = "rectangle",
    replace: ReplaceOpt = None,
    box: BoxOpt = None,
    polygon: PolygonOpt = None,
    region: RegionOpt = None,
    instances: InstancesOpt = None,
    image: Path = typer.Option(
        None, "--image", help="With --vector: the GeoTIFF whose grid the layer is drawn on (only its header is read)."
    ),
    vector: VectorOpt = None,
    classes: ClassesOpt = None,
    vector_crs: VectorCrsOpt = "",
    radius: EditRadiusOpt = DEFAULTS.radius,
    color_tolerance: EditColorToleranceOpt = DEFAULTS.color_tolerance,
) -> None:
    """Edit a semantic map (no generator): write the edited map, the mask of what changed and its area.

    With --vector, --classes and --image (a GeoTIFF), the map is the layer drawn on the image's grid,
    and the folder also gets truth.geojson and edited.geojson.

    Example: cimgen edit --map map.png --palette synth --remove-at 120,80 --out runs/map-edit

    Example: cimgen edit --image scene.tif --vector buildings.geojson --classes classes.yaml --palette synth --spec remove.yaml --out runs/geo-edit
    """
    from cimgen.runs.edit import run_map_edit

    edits = inline_edits(remove, remove_at, insert, shape, replace, box, polygon, region)
    check_one_edit(edits, spec, edited_map)
    if (palette == "") == (checkpoint is None):
        raise CimgenError("name the classes with exactly one of --palette or --checkpoint")
    if (map_path is None) == (vector is None):
        raise CimgenError("give the map with exactly one of --map or --vector (with --classes and --image)")
    run_map_edit(
        map_path,
        out,
        image=image,
        vector=vector,
        classes=classes,
        vector_crs=vector_crs,
        palette=palette,
        checkpoint=checkpoint,
        spec=spec,
        edits_raw=edits,
        edited_map=edited_map,
        instances=instances,
        radius=radius,
        color_tolerance=color_tolerance,
        echo=typer.echo,
    )
