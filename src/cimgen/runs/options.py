"""The options of the runs that commands and the web editor share, written once: each default lives here.

Kept apart from the runs themselves (no torch, no models) so that the command line can take its
defaults from these dataclasses without loading the networks for ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cimgen.edit.blend import DEFAULT_FEATHER, SEAM_CUT
from cimgen.edit.mask import DEFAULT_RADIUS
from cimgen.edit.resample import CODE_INSIDE, DETAIL_INSIDE
from cimgen.edit.shadow import SHADOWS
from cimgen.errors import CimgenError
from cimgen.palette import SNAP_TOLERANCE

MEMORISE_STEPS = 120
"""Fine-tuning iterations of the memorise recipe (``cimgen manipulate --finetune``'s default) for an image of
``MEMORISE_BUDGET_PIXELS`` or more: whole-image steps. benchmarks/fidelity.py measured the Map2Sat pair (600x600)'s SSIM
at 0.945 / 0.948 after 120 steps (two fine-tunes, 388-422 s on 2 AVX2 cores, fp32; the recipe of 2026-12-05). Smaller
images get more steps (``memorise_steps``)."""
MEMORISE_BUDGET_PIXELS = 600 * 600
"""The image size (pixels) that ``MEMORISE_STEPS`` is set for: a smaller image gets the steps that cost about as much
(a step's time grows with the image's pixels), up to ``MEMORISE_MAX_STEPS``."""
MEMORISE_MAX_STEPS = 270
"""The most whole-image steps the memorise recipe gives a small image (Building2Sat's 400x400 tile and Cityscapes' 512x256
frame both get 270). benchmarks/fidelity.py on the Building2Sat pair (2026-12-05; fine-tunes of 330 and 360 steps,
deterministic, read at their checkpoints with that day's edit): the lattice peaks of the generated image of the whole
map were 1.47 / 1.19 / 1.12 / 1.04 / 1.02 / 1.01 / 1.00 times the photo's after 60 / 120 / 240 / 270 / 300 / 330 / 360
steps, the edit's 0.98 / 1.05 / 1.12 / 1.07 / 1.06 / 1.04 / 1.00: 240, the most until 2026-12-05, missed the 1.1 goal.
Not more: with 330 steps (what the size rule gives a Cityscapes frame under a cap of 360) the paper table's
aachen_000003 edit painted the removed car's dark underside back (0.048 against a floor of 0.0067; 0.0021 after 240
steps). The cost: the benchmark's one 270-step Building2Sat fine-tune is further from the photo outside its
edit than the 240-step one (SSIM 0.900 against 0.934), where the paper table's four tiles gained on FID (docs/benchmarks.md)."""


def decay_split(steps: int) -> tuple[int, int]:
    """A fine-tune of ``steps`` as (steps at the initial learning rate, steps with it decaying linearly to zero): the
    recipes' last quarter decays."""
    return steps - steps // 4, steps // 4


def memorise_steps(height: int, width: int) -> int:
    """The memorise recipe's whole-image steps for a ``height`` x ``width`` image: ``MEMORISE_STEPS`` scaled up by
    ``MEMORISE_BUDGET_PIXELS`` over the image's pixels, between ``MEMORISE_STEPS`` and ``MEMORISE_MAX_STEPS``."""
    scaled = round(MEMORISE_STEPS * MEMORISE_BUDGET_PIXELS / max(1, height * width))
    return int(min(MEMORISE_MAX_STEPS, max(MEMORISE_STEPS, scaled)))


WINDOWS_STEPS = 600
"""Fine-tuning iterations of the windows recipe (random crops; also what images over ``MEMORISE_MAX_SIDE`` get)."""
MEMORISE = "memorise"
WINDOWS = "windows"
FINETUNE_RECIPES = (MEMORISE, WINDOWS)
"""``memorise``: the whole image every step, with a position code; ``windows``: random crops of windows around the edit."""
MEMORISE_MAX_SIDE = 1024
"""Images up to this side are memorised whole; larger ones are fine-tuned on windows."""
MEMORISE_L1 = 100.0
"""Weight of the L1 term while memorising (beside the adversarial and feature-matching terms): pix2pix's (Isola et al.,
CVPR 2017) and the shipped generators' pretraining's. It was 10 until 2026-12-04; benchmarks/fidelity.py on a GPU
(benchmarks/recipe_sweep.json) found 100 better on all three real pairs at equal steps: SSIM outside the edit, seam,
lattice peaks and the edit's high-frequency energy (docs/benchmarks.md)."""
FINETUNE_POSITION = 6
"""Octaves of the position code a memorising fine-tune adds to a global generator (4 input channels each)."""
FINETUNE_DETAIL = 8
"""Channels of the detail code a memorising fine-tune adds for its one image (benchmarks/fidelity.py: 8 channels took the
Map2Sat pair's SSIM from 0.55 to 0.9 at equal steps; docs/benchmarks.md)."""
FINETUNE_DETAIL_SCALE = 1
"""Resolution of that detail code, as a divisor of the image's: the image's own since 2026-12-05 (2 before). With
``FINETUNE_DETAIL_SMOOTH`` and ``FINETUNE_UPSAMPLE`` benchmarks/fidelity.py measured a closer copy than at 2 (Building2Sat
SSIM outside the edit 0.885 -> 0.936, FID 85 -> 66, lattice peaks 1.33 -> 1.16; Map2Sat 0.914 -> 0.929; Cityscapes seed 0
0.952 -> 0.964); Cityscapes' faithful over five fine-tunes (240 steps) read 0.843 / 0.837 / 0.771 / 0.768 / 0.817, against
0.834 / 0.825 / 0.823 for three before, the one open cost (docs/benchmarks.md). At 1 without the bilinear back end the Cityscapes edit was less
faithful (0.834 -> 0.776)."""
FINETUNE_DETAIL_SMOOTH = True
"""Whether that code is low-passed by the binomial filter before use (``GlobalGeneratorConfig.detail_smooth``). At half
resolution the code's bilinear upsampling already has no response at the 2-pixel period; at full resolution without it the
code carried a checkerboard (Building2Sat's lattice peaks 1.39 instead of 1.22)."""
FINETUNE_UPSAMPLE = "bilinear"
"""The back end a memorising fine-tune gives a resize-convolution generator (``GlobalGeneratorConfig.upsample``; the same
tensors): bilinear x2 instead of nearest-neighbour x2 before each convolution, whose stair steps leave a ripple on the
upsampling lattice that memorising a real photo sharpens. Transposed convolutions (imported official weights) stay
as they are."""
MEMORISE_LR = 1e-3
"""The memorise recipe's learning rate (5x pix2pixHD's 2e-4; the detail code learns at 50x it)."""
FINETUNE_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""The training engine's precisions (``cimgen.train.runtime.PRECISIONS``), written again so that importing the options
loads no torch; tests/cli/test_defaults.py checks that the two agree."""

# The allowed range of each number, (lowest, highest): the CLI shows them in --help and the runs check them,
# so a value no library call can take (a radius of 100,000 px, a feather of 1e12) gets one sentence.
RADIUS_RANGE = (0, 1000)
FEATHER_RANGE = (0.0, 1000.0)
SEAM_CUT_RANGE = (0, 1000)
COLOR_TOLERANCE_RANGE = (0.0, 442.0)
"""442 is just above the largest RGB distance, sqrt(3) * 255."""
FINETUNE_STEPS_RANGE = (1, 100_000)
FINETUNE_CROP_RANGE = (16, 4096)
TILE_SIZE_RANGE = (-1, 65536)
"""-1 on the command line means automatic (None here), 0 never."""
OVERLAP_RANGE = (0, 4096)
WINDOW_LIMIT = 8192
"""Largest window side a windowed edit may grow to (``cimgen.edit.windowed.MAX_WINDOW``; 8192 x 8192 labels and their components are about 0.5 GiB)."""
WINDOW_LIMIT_RANGE = (64, 32768)
IN_MEMORY_MAX_PIXELS = 2**28
"""Largest scene (16384 x 16384) the in-memory path takes; larger GeoTIFFs go through ``--windowed`` (8192 x 8192 peaks at 1.3 GiB in memory)."""
WINDOWED_OUTPUTS = ("cog", "gtiff", "patch")
"""What a windowed run writes: result.tif as a COG or a plain GeoTIFF (time grows with the scene), or patch.tif + result.vrt (with the edits)."""
SEED_RANGE = (0, 2**32 - 1)
"""NumPy's and PyTorch's seeds alike."""


DEFAULT_BLEND = "feather"
"""The blend ``cimgen manipulate``, the batch and the web editor use unless told. Measured against the multi-band
blend on the three real pairs of benchmarks/fidelity.py (docs/manipulation.md, section 4): ``laplacian`` lowers the
seam ratio (Building2Sat 1.09 -> 1.02) but keeps the *removed* object's low frequencies in a band about 16 pixels
wide inside the mask, and on the Map2Sat removal the share of regenerated pixels seen as the edited class fell
from 0.78-0.84 to 0.75-0.77; a removal should not carry what it removes, so feather stays the default."""


SHADOW_CHOICES = ("auto", *SHADOWS)
"""``ManipulateConfig.shadows``: ``auto`` picks one of ``cimgen.edit.shadow.SHADOWS`` by the palette."""
DEFAULT_SHADOWS = "auto"
"""What ``cimgen manipulate``, the batch and the web editor do about the removed objects' shadows unless told."""


def shadow_mode(choice: str, street_view: bool) -> str:
    """The ``SHADOWS`` mode of a ``shadows`` choice: ``auto`` is ``down`` for a palette of street views
    (``Palette.street_view``: a car's shadow lies under it) and ``any`` otherwise (views from above: the sun's way)."""
    if choice != "auto":
        return choice
    return "down" if street_view else "any"


@dataclass(frozen=True)
class ManipulateConfig:
    """Options of a manipulation run (``cimgen manipulate``)."""

    checkpoint: str
    """Generator: a pix2pixHD checkpoint (label maps in), or a CycleGAN/pix2pix one (colour maps in, needs ``palette``); "" is the shipped one."""
    out: str
    """Results folder (batch: one sub-folder per image, plus the manifest)."""
    image: str = ""
    """The image to manipulate (PNG, JPEG, or GeoTIFF kept georeferenced); or a folder of images for a batch."""
    map: str = ""
    """Its semantic map (label ids, or palette colours, snapped); for a batch, a folder of maps named like the images."""
    map_from: str = ""
    """A CycleGAN/pix2pix checkpoint that turns the image into a colour map, when no map is given."""
    map_from_direction: str = "AtoB"
    """Direction of ``map_from`` that goes image -> map."""
    direction: str = ""
    """Direction of a CycleGAN/pix2pix ``checkpoint`` that goes map -> image (default: BtoA for CycleGAN)."""
    palette: str = ""
    """Palette (JSON file or name: synth, cityscapes, buildings, google-maps); default: the checkpoint's own (a colour-map generator, label_nc 0, without one needs it)."""
    spec: str = ""
    """An edit spec file (YAML or JSON); otherwise the edits come from the command's options."""
    edited_map: str = ""
    """A map edited elsewhere (GIMP, Photoshop) instead of edit operations; single images only."""
    instances: str = ""
    """Instance-id map of the image (Cityscapes style), so 'the object under a point' is an instance."""
    mask: str = ""
    """Blend region given by the user (non-zero = inside); default: changed labels dilated by ``radius``."""
    radius: int = DEFAULT_RADIUS
    """Dilation of the changed labels, in pixels."""
    shadows: str = DEFAULT_SHADOWS
    """Whether the mask made from the changed labels also takes in the shadows the removed objects cast
    (``cimgen.edit.shadow``): ``auto`` (``down`` for palettes of street views, whose removals fill row by row;
    ``any`` for maps seen from above), ``any``, ``down`` or ``off``. A mask given with ``mask`` is used as it is."""
    blend: str = DEFAULT_BLEND
    """Blend mode: hard, feather, laplacian, poisson or poisson-mixed."""
    feather: float = DEFAULT_FEATHER
    """Soft-edge width inside the mask, for feather and laplacian."""
    seam_cut: int = SEAM_CUT
    """Pixels a mask made from the changed labels may give up at its border (at most ``radius``; 0: none), so that
    the blend's border runs where the generated image and the original look alike (``cimgen.edit.blend.seam_cut``).
    A mask given with ``mask`` is blended as drawn."""
    color_tolerance: float = SNAP_TOLERANCE
    """RGB distance within which colour-map colours (and blends of two) snap to the palette."""
    finetune: bool = False
    """Fine-tune the generator on the image and its map around the edit first (pix2pixHD)."""
    finetune_steps: int | None = None
    """Fine-tuning iterations (the last quarter with linear decay); None: the recipe's (``memorise_steps``: 120-270
    whole-image steps by the image's size, or ``WINDOWS_STEPS`` crops)."""
    finetune_crop: int = 128
    """Random crop side during fine-tuning (the ``windows`` recipe)."""
    finetune_recipe: str = MEMORISE
    """``memorise`` (whole image, position code) or ``windows`` (crops around the edit)."""
    finetune_position: int = FINETUNE_POSITION
    """Octaves of the position code when memorising (0: none)."""
    finetune_context: bool = False
    """When memorising, also feed the generator the original image outside the region it draws and that
    region's mask (context conditioning; trained with random regions). See docs/manipulation.md."""
    finetune_detail: int | None = None
    """When memorising, channels of the learnable detail code for this one image (0: none; None: ``FINETUNE_DETAIL``
    when memorising a whole image, none otherwise); see docs/manipulation.md."""
    finetune_precision: str = "auto"
    """Arithmetic of the fine-tuning: ``auto`` (bf16 only where the CPU or GPU computes it natively, as ``cimgen
    train``), ``fp32``, ``bf16`` or ``fp16`` (``FINETUNE_PRECISIONS``)."""
    code_inside: str = "resample"
    """What a memorising (position- or detail-coded) generator reads inside the edit: ``resample`` (its codes copied,
    piece by piece, from places of the same image whose map matches the edited map: real texture of the edited
    class) or ``withhold`` (no codes: drawn from the map alone, flat). See ``cimgen.edit.resample``."""
    detail_inside: str = "source"
    """Where codes are resampled, whose fine detail (the image minus its 1.5-pixel Gaussian blur) the edit shows:
    ``source`` (the original image's at each pixel's code source; the coarse part stays the generator's) or
    ``generated`` (the generator's own, softer than the photo's: docs/manipulation.md)."""
    match_jpeg: bool = True
    """When the image is a JPEG file, compress the edit's pixels as the file was (its quantisation tables and chroma
    subsampling, on its 8x8 grid; ``cimgen.edit.pipeline.match_jpeg``), so the edit carries the same compression
    traces as the rest; pixels outside the mask stay the original's. Other images are left as they are."""
    score_inside: bool = False
    """Also score the inside of the edit (``metrics.json["inside"]``: faithful, painted back; a segmenter fitted
    on the original around the edit, 5-30 s on 2 cores)."""
    tile_size: int | None = None
    """Generate in tiles of this size; None: automatic (tiles above 2048 px a side); 0: never."""
    overlap: int = 128
    """Tile overlap in pixels."""
    device: str = "cpu"
    """Where the generators run (cpu, cuda)."""
    vector: str = ""
    """A vector layer (GeoJSON, GeoPackage, Shapefile) drawn on the GeoTIFF's grid as its map, instead of ``map``."""
    classes: str = ""
    """The class mapping of ``vector``: YAML rules from attribute queries to classes (see docs/geodata.md)."""
    vector_crs: str = ""
    """The CRS of ``vector``'s coordinates when the file states none or a wrong one: 'image' or e.g. EPSG:4326."""
    bands: str = ""
    """GeoTIFF bands shown to the generator as R,G,B (or one band as grey); default 1,2,3 (band 1 with fewer than 3)."""
    stretch: str = ""
    """LOW,HIGH percentiles of each shown band mapped to 0 and 255; default 2,98 (8-bit rasters are shown as they are)."""
    windowed: bool = False
    """Read, edit, generate and write a GeoTIFF scene window by window (scenes larger than memory; see docs/large-images.md)."""
    output: str = "cog"
    """Windowed runs: ``cog`` (result.tif, Cloud-Optimized with overviews), ``gtiff`` (result.tif, plain tiled) or ``patch``
    (patch.tif, the edited windows only, and result.vrt mosaicking it over the source scene)."""
    window_limit: int = WINDOW_LIMIT
    """Windowed runs: the largest window side, in pixels, an edit's objects may need."""


def check_range(value: float, bounds: tuple, name: str) -> None:
    """One sentence unless ``bounds[0] <= value <= bounds[1]`` (NaN never fits).

    Args:
        value: the option's value.
        bounds: (lowest, highest), inclusive.
        name: the option as the user wrote it, e.g. ``--radius``.
    """
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise CimgenError(f"{name} is {value!r}; it must lie between {lo} and {hi}")


def check_manipulate_config(cfg: ManipulateConfig) -> None:
    """One sentence for the first number of ``cfg`` out of its range (the same ranges ``cimgen manipulate --help`` shows)."""
    for value, bounds, name in (
        (cfg.radius, RADIUS_RANGE, "radius"),
        (cfg.feather, FEATHER_RANGE, "feather"),
        (cfg.seam_cut, SEAM_CUT_RANGE, "seam_cut"),
        (cfg.color_tolerance, COLOR_TOLERANCE_RANGE, "color_tolerance"),
        (cfg.finetune_crop, FINETUNE_CROP_RANGE, "finetune_crop"),
        (cfg.finetune_position, (0, 16), "finetune_position"),
        (cfg.overlap, OVERLAP_RANGE, "overlap"),
        (cfg.window_limit, WINDOW_LIMIT_RANGE, "window_limit"),
    ):
        check_range(value, bounds, name)
    if cfg.output not in WINDOWED_OUTPUTS:
        raise CimgenError(f"output is {cfg.output!r}; choose {', '.join(WINDOWED_OUTPUTS)}")
    if cfg.finetune_recipe not in FINETUNE_RECIPES:
        raise CimgenError(f"finetune_recipe is {cfg.finetune_recipe!r}; choose {' or '.join(FINETUNE_RECIPES)}")
    if cfg.finetune_steps is not None:
        check_range(cfg.finetune_steps, FINETUNE_STEPS_RANGE, "finetune_steps")
    if cfg.code_inside not in CODE_INSIDE:
        raise CimgenError(f"code_inside is {cfg.code_inside!r}; choose {' or '.join(CODE_INSIDE)}")
    if cfg.shadows not in SHADOW_CHOICES:
        raise CimgenError(f"shadows is {cfg.shadows!r}; choose {', '.join(SHADOW_CHOICES)}")
    if cfg.detail_inside not in DETAIL_INSIDE:
        raise CimgenError(f"detail_inside is {cfg.detail_inside!r}; choose {' or '.join(DETAIL_INSIDE)}")
    if cfg.finetune_detail is not None:
        check_range(cfg.finetune_detail, (0, 64), "finetune_detail")
    if cfg.finetune_detail and not (cfg.finetune and cfg.finetune_recipe == MEMORISE and not cfg.tile_size):
        raise CimgenError(
            "a detail code is learnt while memorising the whole image: use it with --finetune, the memorise recipe and no --tile-size"
        )
    if cfg.finetune_context and not (cfg.finetune and cfg.finetune_recipe == MEMORISE and not cfg.tile_size):
        raise CimgenError(
            "context conditioning is learnt while memorising the whole image: use it with --finetune, "
            "the memorise recipe and no --tile-size"
        )
    if cfg.finetune_precision not in FINETUNE_PRECISIONS:
        raise CimgenError(f"unknown fine-tuning precision '{cfg.finetune_precision}'; choose one of {', '.join(FINETUNE_PRECISIONS)}")
    if cfg.tile_size is not None:
        check_range(cfg.tile_size, (0, TILE_SIZE_RANGE[1]), "tile_size")
